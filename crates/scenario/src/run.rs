//! Playing a scenario on real services. [`run`] is the list of phases:
//!
//! 1. **services**: Kafka and ClickHouse from the scenario's provider;
//! 2. **storage and topics**: migrations, the pipeline's users, the three topics;
//! 3. **the pipeline under test**: the aggregator [`Engine`] and the [`ingestion`] path, as
//!    child processes, started and waited for until they hold their partitions;
//! 4. **observers**: `read_committed` consumers of the output topics and a ClickHouse poller;
//! 5. **load**: the simulator played into Kafka, keeping the ground truth;
//! 6. **drain**: until every session and signal has arrived, or the drain timeout;
//! 7. **stop**: the pipeline shut down cleanly, the observers' findings collected;
//! 8. **evidence, checks, measures, report**: each check a pure function of the evidence
//!    (`checks/`), the figures from the observed times (`measure.rs`).
//!
//! Latencies and their clocks are described in `measure.rs` and `docs/measurement.md`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use harness::Services;
use pipeline::produce::ProduceOptions;
use simulator::FleetConfig;

use crate::checks::{self, Evidence};
use crate::drain::{self, Drained};
use crate::engine::{Engine, EngineContext, GROUP_ID};
use crate::evidence;
use crate::faults;
use crate::file::Scenario;
use crate::ground_truth::{SessionComparison, compare_sessions};
use crate::ingestion::{self, Running};
use crate::load::{self, LoadProgress, Played};
use crate::measure::{self, Measures};
use crate::observe::{self, SeenDeadLetter, SeenSession, TopicObserver, VisibilityPoller};
use crate::report::{EventCounts, Report, Versions};
use crate::resources::{Sampler, Target};
use crate::storage::{self, Storage, Topics};
use crate::{Error, Result};

/// Where a run finds evbench's own binary and puts the logs of the pipeline's processes.
#[derive(Debug, Clone)]
pub struct RunContext {
    /// The `evbench` executable (`evbench aggregate` and `evbench sink` run as child processes).
    pub evbench: PathBuf,
    /// Where the logs of the aggregator and sink processes go; they are kept.
    pub logs: PathBuf,
    /// Where native servers keep their data; overrides the scenario's `run.services_dir`.
    pub services_dir: Option<PathBuf>,
    /// Also start a Prometheus that scrapes the pipeline's processes each second and loads
    /// `grafana/prometheus/alerts.yml` (`evbench run --keep`); it is handed over in [`Kept`].
    pub prometheus: bool,
}

/// The alert rules Prometheus loads, as shipped in `grafana/prometheus/alerts.yml`.
pub const ALERT_RULES: &str = include_str!("../../../grafana/prometheus/alerts.yml");

/// What a run is doing, for progress displays.
#[derive(Debug, Clone, Default)]
pub struct RunProgress {
    /// The current phase (`starting services`, `running`, `draining`, `checking`, …).
    pub phase: &'static str,
    pub produced: u64,
    pub sessions_seen: u64,
    pub sessions_expected: u64,
    pub stored_signals: u64,
    /// Share of the simulated time played, 0 … 1.
    pub simulated: f64,
    pub elapsed: Duration,
}

/// Reports progress through the caller's callback.
struct Status<'a> {
    now: RunProgress,
    started: Instant,
    show: &'a (dyn Fn(&RunProgress) + Sync),
}

impl Status<'_> {
    fn phase(&mut self, phase: &'static str) {
        self.now.phase = phase;
        self.show();
    }

    fn show(&mut self) {
        self.now.elapsed = self.started.elapsed();
        (self.show)(&self.now);
    }
}

/// Runs `scenario` and returns its report (not yet written anywhere).
pub async fn run(
    scenario: &Scenario,
    context: &RunContext,
    progress: &(dyn Fn(&RunProgress) + Sync),
) -> Result<Report> {
    run_keeping(scenario, context, progress)
        .await
        .map(|(report, _kept)| report)
}

/// The servers of a finished run, still up with the run's data (`evbench run --keep`): stopped
/// when dropped.
pub struct Kept {
    pub services: Services,
    /// The ClickHouse database the run wrote.
    pub database: String,
    /// The `grafana` user's password (from `EVBENCH_GRAFANA_PASSWORD`, else generated).
    pub grafana_password: endpoints::Secret,
    /// The Prometheus that scraped the pipeline, when [`RunContext::prometheus`] asked for it.
    pub prometheus: Option<harness::prometheus::NativePrometheus>,
}

impl std::fmt::Debug for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kept")
            .field("kafka", &self.services.kafka.bootstrap)
            .field("clickhouse", &self.services.clickhouse.url)
            .field("database", &self.database)
            .finish_non_exhaustive()
    }
}

/// [`run`], handing over the servers with the run's data instead of stopping them.
pub async fn run_keeping(
    scenario: &Scenario,
    context: &RunContext,
    progress: &(dyn Fn(&RunProgress) + Sync),
) -> Result<(Report, Kept)> {
    let fleet = scenario.fleet_config().map_err(|source| Error::Invalid {
        path: scenario.name.clone(),
        source: Box::new(source),
    })?;
    std::fs::create_dir_all(&context.logs)
        .map_err(|e| Error::io(format!("create {}", context.logs.display()), e))?;
    let work = tempfile::Builder::new()
        .prefix("evbench-run-")
        .tempdir()
        .map_err(|e| Error::io("create the run's work directory", e))?;
    let mut status = Status {
        now: RunProgress::default(),
        started: Instant::now(),
        show: progress,
    };

    let started_at_ms = crate::observe::now_ms();
    status.phase("starting services");
    let mut services = start_services(scenario, context).await?;
    let sampler = Sampler::start();
    sampler.watch("evbench", Target::Own, true);

    status.phase("preparing storage");
    let storage = storage::prepare(&mut services).await?;
    let produce_options = produce_options(scenario);
    let topics = storage::prepare_topics(
        &services,
        &produce_options,
        fleet.chargers,
        scenario.aggregator.output_partitions,
    )
    .await?;
    services
        .grant_kafka(&pipeline_names(scenario.aggregator.engine))
        .await?;
    let signals_before = signal_ends(&services.kafka).await;

    let compression = offered_compression(scenario, &fleet).await?;

    status.phase("starting the pipeline");
    let mut pipeline = Pipeline::start(
        scenario,
        &fleet,
        &mut services,
        &storage,
        topics,
        context,
        work.path(),
    )
    .await?;
    let observers = Observers::start(&services, &storage, scenario.load.clickhouse_poll)?;
    let prometheus = if context.prometheus {
        Some(start_prometheus(scenario, context, &pipeline.metrics_targets()).await?)
    } else {
        None
    };
    let lag_targets = pipeline.metrics_targets();
    let lag_processes = lag_targets.len();
    let lag = crate::lag::LagWatcher::start(lag_targets, pipeline.lag_not_measured());
    watch_servers(&sampler, &mut services);
    for (name, pgid) in pipeline.process_groups() {
        sampler.watch(&name, Target::Group(pgid), false);
    }

    status.phase("running");
    let loaded = run_load(
        scenario,
        compression,
        &fleet,
        &produce_options,
        &mut pipeline,
        &mut services,
        &sampler,
        &observers,
        &mut status,
    )
    .await?;
    let played = &loaded.played;

    status.phase("draining");
    status.now.sessions_expected = played.truth.len() as u64;
    status.now.simulated = 1.0;
    let drained = drain(
        scenario,
        &storage,
        played,
        &observers,
        &mut pipeline,
        &mut status,
    )
    .await;
    // The consumers' own account: nothing left to read anywhere (2 s: the processes learn
    // their lag once a second, and are scraped once a second).
    let lag_at_end = if drained.complete {
        drain::confirm_lag(&lag, lag_processes, Duration::from_secs(5)).await
    } else {
        drain::LagAtEnd::NotMeasured
    };
    // Let late duplicates, if any, show up before the books are closed.
    tokio::time::sleep(Duration::from_millis(500)).await;

    status.phase("checking");
    let (engine, ingestion_outcome) = pipeline.stop(&storage).await;
    let resources = sampler.finish();
    let observed = observers.finish().await;
    let signals_in_topic = match (signals_before, signal_ends(&services.kafka).await) {
        (Some(before), Some(after)) => {
            Some(endpoints::kafka_admin::records_appended(&before, &after))
        }
        _ => None,
    };
    let load_started_ms = loaded.started_ms;
    let mut report = conclude(
        scenario,
        &services,
        &storage,
        &fleet,
        loaded,
        (drained, lag_at_end, signals_in_topic),
        observed,
        (engine, ingestion_outcome),
        started_at_ms,
    )
    .await?;
    report.consumer_lag = lag.finish(load_started_ms);
    report.cost_per_signal = crate::report::CostPerSignal::new(
        report.events.produced,
        report.events.produced_bytes,
        &resources,
    );
    report.resources = resources;
    report.offered_load = crate::report::OfferedLoad {
        rate: scenario.load.rate,
        time_compression: compression.to_string(),
    };
    if scenario.load.floors {
        status.phase("measuring floors");
        let measured = crate::floors::measure(
            &mut services,
            scenario,
            &storage,
            &report,
            topics.signal_partitions,
        )
        .await;
        report.floors = Some(crate::report::Floors::new(measured, &report));
    }
    let kept = Kept {
        services,
        database: storage.schema.database().to_owned(),
        grafana_password: storage.grafana_password.clone(),
        prometheus,
    };
    Ok((report, kept))
}

/// The signals topic's partition ends, or `None` (with a warning) when they cannot be read:
/// read before and after the load, they count the records Kafka took in during the run.
async fn signal_ends(kafka: &endpoints::KafkaEndpoint) -> Option<Vec<i64>> {
    let kafka = kafka.clone();
    let read = tokio::task::spawn_blocking(move || {
        endpoints::kafka_admin::partition_ends(
            &kafka,
            events::SIGNALS_TOPIC,
            Duration::from_secs(10),
        )
    })
    .await;
    match read {
        Ok(Ok(ends)) => Some(ends),
        Ok(Err(error)) => {
            tracing::warn!(%error, "could not read the signals topic's ends; the raw-signals check cannot see the producer's retried copies");
            None
        }
        Err(_) => None,
    }
}

/// The topics and groups the pipeline's parts use, which a secured Kafka grants them.
fn pipeline_names(engine: crate::file::EngineKind) -> harness::PipelineNames {
    harness::PipelineNames {
        aggregator_reads_outputs: engine == crate::file::EngineKind::Flink,
        aggregator_internal_topics: engine == crate::file::EngineKind::KafkaStreams,
        signals_topic: events::SIGNALS_TOPIC.into(),
        sessions_topic: events::SESSIONS_TOPIC.into(),
        dead_letter_topic: events::DEAD_LETTER_TOPIC.into(),
        aggregator_group: GROUP_ID.into(),
        sink_group: pipeline::sink::SinkConfig::default().group_id,
        kafka_engine_group_prefix: schema::kafka_engine::KafkaEngineConfig::new("").group,
        observer_group_prefix: pipeline::observe::OBSERVER_GROUP_PREFIX.into(),
    }
}

/// Starts Kafka and ClickHouse where the run's data is to go (the command line's
/// `--services-dir`, else the scenario's, else `EVBENCH_SERVICES_DIR` or the temporary directory).
async fn start_services(scenario: &Scenario, context: &RunContext) -> Result<Services> {
    let services_dir = context
        .services_dir
        .clone()
        .or_else(|| scenario.run.services_dir.clone())
        .unwrap_or_else(harness::services_dir);
    let services = Services::start_placed(
        scenario.run.provider,
        &services_dir,
        &scenario.services.topology(),
        scenario.services.kafka.version.as_deref(),
        scenario.services.network == crate::file::NetworkPlacement::OwnAddresses,
        scenario.services.security == crate::file::SecurityMode::SaslSsl,
    )
    .await?;
    if let Some(storage) = &services.storage {
        tracing::info!(dir = %services_dir.display(), storage = %storage.summary(), "servers' data");
    }
    Ok(services)
}

/// A delay proxy for each sink instance a `latency` fault names, between it and the ClickHouse
/// server it writes to, listening where the sink reaches it (the machine's end of the run's
/// network, or loopback).
async fn delay_proxies(
    scenario: &Scenario,
    services: &Services,
) -> Result<std::collections::BTreeMap<String, harness::delay_proxy::DelayProxy>> {
    let mut proxies = std::collections::BTreeMap::new();
    for instance in scenario
        .faults
        .iter()
        .filter_map(crate::faults::FaultSpec::delayed_sink)
    {
        let name = format!("sink-{instance}");
        if proxies.contains_key(&name) {
            continue;
        }
        let url = &services.clickhouse.url;
        let target = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
            .map(|rest| rest.split('/').next().unwrap_or(rest))
            .and_then(|authority| {
                std::net::ToSocketAddrs::to_socket_addrs(authority)
                    .ok()?
                    .next()
            })
            .ok_or_else(|| Error::Component {
                component: format!("the delay proxy of {name}"),
                problem: format!(
                    "goes before ClickHouse's HTTP port, and {url} is not an http://host:port address"
                ),
            })?;
        let host = services
            .network()
            .map_or(std::net::Ipv4Addr::LOCALHOST, |n| n.host_address());
        let proxy = harness::delay_proxy::DelayProxy::start((host, 0).into(), target).await?;
        tracing::info!(sink = name, proxy = %proxy.local_addr(), %target, "delay proxy on the sink's path to ClickHouse");
        proxies.insert(name, proxy);
    }
    Ok(proxies)
}

/// Starts Prometheus beside the services, scraping every metrics endpoint of the pipeline.
async fn start_prometheus(
    scenario: &Scenario,
    context: &RunContext,
    targets: &[crate::lag::Target],
) -> Result<harness::prometheus::NativePrometheus> {
    let parent = context
        .services_dir
        .clone()
        .or_else(|| scenario.run.services_dir.clone())
        .unwrap_or_else(harness::services_dir);
    let rules = context.logs.join("alerts.yml");
    std::fs::write(&rules, ALERT_RULES)
        .map_err(|e| Error::io(format!("write {}", rules.display()), e))?;
    let targets: Vec<harness::prometheus::ScrapeTarget> = targets
        .iter()
        .map(|t| harness::prometheus::ScrapeTarget {
            // `aggregator-0` → job `aggregator`.
            job: t
                .name
                .rsplit_once('-')
                .map_or(t.name.as_str(), |(job, _)| job)
                .to_owned(),
            instance: t.name.clone(),
            addr: t.addr.clone(),
        })
        .collect();
    let prometheus = tokio::task::spawn_blocking(move || {
        harness::prometheus::NativePrometheus::start_in(&parent, &targets, &[rules])
    })
    .await
    .map_err(|e| Error::io("start prometheus", std::io::Error::other(e.to_string())))??;
    tracing::info!(url = %prometheus.url(), "prometheus scraping the pipeline");
    Ok(prometheus)
}

/// The time compression to play: derived from `load.rate` when set.
async fn offered_compression(
    scenario: &Scenario,
    fleet: &FleetConfig,
) -> Result<simulator::Compression> {
    Ok(match scenario.load.rate {
        Some(rate) => {
            let compression = load::compression_for_rate(&scenario.name, fleet, rate).await?;
            tracing::info!(rate, %compression, "time compression for the offered load");
            compression
        }
        None => scenario.run.time_compression,
    })
}

/// What the load phase leaves: what was played, the process faults as they happened, and when.
struct Loaded {
    played: Played,
    happened: Vec<faults::drive::Happened>,
    started_ms: i64,
    started: Instant,
    load_ended_ms: i64,
}

/// Plays the load while the scenario's process faults happen at their times.
#[allow(clippy::too_many_arguments)]
async fn run_load(
    scenario: &Scenario,
    compression: simulator::Compression,
    fleet: &FleetConfig,
    produce_options: &ProduceOptions,
    pipeline: &mut Pipeline,
    services: &mut Services,
    sampler: &Sampler,
    observers: &Observers,
    status: &mut Status<'_>,
) -> Result<Loaded> {
    let started_ms = observe::now_ms();
    let started = Instant::now();
    let kafka = services.kafka_for(harness::KafkaUser::Producer);
    let process_faults = scenario.faults.process_faults();
    let mut targets = faults::drive::Targets {
        engine: &mut pipeline.engine,
        ingestion: &mut pipeline.ingestion,
        proxies: &pipeline.proxies,
        services,
        sampler,
    };
    // Process faults happen while the load plays; both end before the drain.
    let (played, happened) = tokio::join!(
        play(
            compression,
            fleet,
            &kafka,
            produce_options,
            observers,
            status
        ),
        faults::drive::drive(
            &process_faults,
            tokio::time::Instant::from_std(started),
            &mut targets,
        ),
    );
    let played = played?;
    let load_ended_ms = started_ms
        + i64::try_from(
            played
                .finished
                .saturating_duration_since(started)
                .as_millis(),
        )
        .unwrap_or(i64::MAX);
    Ok(Loaded {
        played,
        happened,
        started_ms,
        started,
        load_ended_ms,
    })
}

/// The evidence, the figures and the faults' outcomes, checked and assembled into the report.
#[allow(clippy::too_many_arguments)]
async fn conclude(
    scenario: &Scenario,
    services: &Services,
    storage: &Storage,
    fleet: &FleetConfig,
    loaded: Loaded,
    (drained, lag_at_end, signals_in_topic): (Drained, drain::LagAtEnd, Option<u64>),
    observed: Observed,
    (engine, ingestion_outcome): (
        crate::engine::EngineOutcome,
        crate::ingestion::IngestionOutcome,
    ),
    started_at_ms: i64,
) -> Result<Report> {
    let Loaded {
        played,
        happened,
        started_ms,
        started,
        load_ended_ms,
    } = loaded;
    let stored = evidence::stored(storage).await?;
    let truth: Vec<events::Session> = played.truth.iter().map(|t| t.session.clone()).collect();
    let kpis = if scenario.checks.kpis {
        Some(evidence::kpis(storage, fleet, &truth).await)
    } else {
        None
    };
    let measures = measure::measure(&measure::Inputs {
        truth: &played.truth,
        seen: &observed.sessions,
        visible: &observed.visible,
        sent_per_second: &played.per_second,
        started_ms,
        started,
        ended: drained.at.unwrap_or_else(Instant::now),
        signals: played.report.events,
        producer_events_per_s: played.report.events_per_s,
        warmup: scenario.load.warmup,
        poll_gaps: &observed.poll_gaps,
        clickhouse_poll: scenario.load.clickhouse_poll.interval(),
    });
    let evidence = Evidence {
        drain_s: drained
            .at
            .map(|at| at.saturating_duration_since(played.finished).as_secs_f64())
            .unwrap_or(0.0),
        produced: played.report,
        truth,
        drained,
        lag_at_end,
        drain_timeout: scenario.run.drain_timeout,
        stored_sessions: stored.sessions,
        topic_sessions: observed.sessions.into_iter().map(|s| s.session).collect(),
        stored_signals: stored.signals,
        signals_in_topic,
        dead_letters: observed.dead_letters,
        stored_dead_letters: stored.dead_letters,
        ingestion: scenario.run.ingestion,
        kpis,
        engine,
        ingestion_outcome,
        process_faults: happened.len(),
        fault_errors: happened
            .iter()
            .filter_map(|h| h.error.as_ref().map(|e| format!("{}: {e}", h.spec.kind)))
            .collect(),
    };
    let fault_run = faults::recovery::Run {
        timeline: &measures.timeline.seconds(),
        started_ms,
        load_ended_ms,
        injected: &evidence.produced.injected,
    };
    let fault_outcomes = faults::recovery::outcomes(&scenario.faults, &happened, &fault_run);
    let mut report = assemble(scenario, services, evidence, measures, started_at_ms);
    report.faults = fault_outcomes;
    Ok(report)
}

/// Watches the native servers (the external provider's are not on this machine).
fn watch_servers(sampler: &Sampler, services: &mut Services) {
    if services.topology.is_cluster() {
        // Every node by its name (`kafka-2`, `clickhouse-s1r2`, `zookeeper`).
        for (name, pgid) in services.process_groups() {
            sampler.watch(&name, Target::Group(pgid), true);
        }
        return;
    }
    if let Some(pgid) = services.native_kafka().and_then(|k| k.pgid()) {
        sampler.watch("kafka", Target::Group(pgid), true);
    }
    if let Some(pgid) = services.native_clickhouse().and_then(|c| c.pgid()) {
        sampler.watch("clickhouse", Target::Group(pgid), true);
    }
}

/// The producer's settings from the scenario.
fn produce_options(scenario: &Scenario) -> ProduceOptions {
    ProduceOptions {
        max_partitions: scenario.fleet.max_partitions,
        compression: scenario.run.kafka_compression.clone(),
        linger: scenario.run.linger,
        faults: scenario
            .faults
            .produce_options(scenario.seed, scenario.aggregator.reorder_tolerance),
        ..ProduceOptions::default()
    }
}

/// The pipeline under test: the aggregator engine and the ingestion.
struct Pipeline {
    engine: Engine,
    ingestion: Running,
    /// The delay proxies on sink instances' paths to ClickHouse (`latency` faults), by name.
    proxies: std::collections::BTreeMap<String, harness::delay_proxy::DelayProxy>,
}

impl Pipeline {
    /// Starts both and waits until they hold their partitions: producing earlier would count
    /// their group joins as latency.
    async fn start(
        scenario: &Scenario,
        fleet: &FleetConfig,
        services: &mut Services,
        storage: &Storage,
        topics: Topics,
        context: &RunContext,
        work: &std::path::Path,
    ) -> Result<Pipeline> {
        // evbench's own aggregator and `command` engines get addresses of their own on the run's
        // network (the JVM engines stay on the machine's end).
        let mut placements = Vec::new();
        if matches!(
            scenario.aggregator.engine,
            crate::file::EngineKind::Evbench | crate::file::EngineKind::Command
        ) {
            for instance in 0..scenario.aggregator.instances.max(1) {
                if let Some(place) = services.place(&format!("aggregator-{instance}"))? {
                    placements.push(place);
                }
            }
        }
        let engine_context = EngineContext {
            placements,
            bootstrap: services.kafka.bootstrap.clone(),
            kafka_env: services
                .kafka_security()
                .map(|s| s.env_for(harness::KafkaUser::Aggregator))
                .unwrap_or_default(),
            signals_topic: events::SIGNALS_TOPIC.into(),
            sessions_topic: events::SESSIONS_TOPIC.into(),
            dead_letter_topic: events::DEAD_LETTER_TOPIC.into(),
            group_id: GROUP_ID.into(),
            sessionizer: scenario
                .aggregator
                .sessionizer(fleet.profile.overstay_grace),
            commit_interval: scenario.aggregator.commit_interval,
            idle_timeout: scenario.aggregator.idle_timeout,
            exactly_once: scenario.aggregator.exactly_once,
            checkpoint_interval: scenario.aggregator.checkpoint_interval,
            parallelism: scenario.aggregator.parallelism,
            evbench: context.evbench.clone(),
        };
        let mut engine = Engine::start(&scenario.aggregator, &engine_context, work, &context.logs)?;
        let proxies = delay_proxies(scenario, services).await?;
        let mut ingestion = ingestion::start(
            scenario,
            &proxies,
            services,
            storage,
            &context.evbench,
            work,
            &context.logs,
        )
        .await?;
        let timeout = scenario.aggregator.startup_timeout;
        engine.wait_ready(topics.signal_partitions, timeout).await?;
        ingestion
            .wait_ready(
                topics.signal_partitions + topics.session_partitions,
                timeout,
            )
            .await?;
        Ok(Pipeline {
            engine,
            ingestion,
            proxies,
        })
    }

    /// The metrics endpoints of the pipeline's processes.
    fn metrics_targets(&self) -> Vec<crate::lag::Target> {
        let mut targets = self.engine.metrics_targets();
        targets.extend(self.ingestion.metrics_targets());
        targets
    }

    /// The parts whose consumer lag is not measured, and why.
    fn lag_not_measured(&self) -> Vec<String> {
        let mut parts = Vec::new();
        if self.engine.metrics_targets().is_empty() {
            parts.push(format!(
                "aggregator: the {} engine serves no consumer lag",
                self.engine.kind().as_str()
            ));
        }
        if matches!(self.ingestion, Running::KafkaEngine) {
            parts.push("ingestion: ClickHouse's Kafka engine serves no metrics".to_owned());
        }
        parts
    }

    fn process_groups(&self) -> Vec<(String, u32)> {
        let mut groups = self.engine.process_groups();
        groups.extend(self.ingestion.process_groups());
        groups
    }

    /// Whether nothing of the pipeline is running any more (so nothing more can arrive).
    fn gone(&mut self) -> bool {
        self.engine.all_exited() || self.ingestion.all_exited()
    }

    async fn stop(
        self,
        storage: &Storage,
    ) -> (crate::engine::EngineOutcome, ingestion::IngestionOutcome) {
        let engine = self.engine.stop().await;
        let ingestion = self.ingestion.stop(storage).await;
        (engine, ingestion)
    }
}

/// What the runner watches while the pipeline works.
struct Observers {
    sessions: TopicObserver<SeenSession>,
    dead_letters: TopicObserver<SeenDeadLetter>,
    visibility: VisibilityPoller,
}

/// What the observers saw.
struct Observed {
    sessions: Vec<SeenSession>,
    dead_letters: Vec<SeenDeadLetter>,
    visible: std::collections::HashMap<String, i64>,
    poll_gaps: crate::metrics::Latency,
}

impl Observers {
    fn start(
        services: &Services,
        storage: &Storage,
        poll: crate::file::ClickHousePoll,
    ) -> Result<Observers> {
        let kafka = services.kafka_for(harness::KafkaUser::Observer);
        Ok(Observers {
            sessions: observe::sessions(&kafka, events::SESSIONS_TOPIC)?,
            dead_letters: observe::dead_letters(&kafka, events::DEAD_LETTER_TOPIC)?,
            visibility: VisibilityPoller::start(
                storage.reader.clone(),
                storage.schema.clone(),
                poll.interval(),
            ),
        })
    }

    async fn finish(self) -> Observed {
        let (visible, poll_gaps) = self.visibility.finish().await;
        Observed {
            sessions: self.sessions.finish(),
            dead_letters: self.dead_letters.finish(),
            visible,
            poll_gaps,
        }
    }
}

/// Plays the load, showing progress every half second.
async fn play(
    compression: simulator::Compression,
    fleet: &FleetConfig,
    kafka: &endpoints::KafkaEndpoint,
    options: &ProduceOptions,
    observers: &Observers,
    status: &mut Status<'_>,
) -> Result<Played> {
    let progress = Arc::new(LoadProgress::default());
    let load = load::play(kafka, fleet, compression, options, Arc::clone(&progress));
    let mut load = std::pin::pin!(load);
    loop {
        tokio::select! {
            played = &mut load => return played,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {
                status.now.produced = progress.produced.load(Ordering::Relaxed);
                status.now.sessions_seen = observers.sessions.distinct();
                status.now.simulated =
                    progress.simulated_ppm.load(Ordering::Relaxed) as f64 / 1e6;
                status.show();
            }
        }
    }
}

/// Waits for every session and signal, showing progress.
async fn drain(
    scenario: &Scenario,
    storage: &Storage,
    played: &Played,
    observers: &Observers,
    pipeline: &mut Pipeline,
    status: &mut Status<'_>,
) -> Drained {
    status.now.produced = played.report.records;
    let targets = drain::Targets {
        sessions: played.truth.len() as u64,
        signals: played.report.well_formed_records(),
    };
    drain::wait(
        storage,
        &observers.sessions,
        targets,
        scenario.run.drain_timeout,
        &mut || pipeline.gone(),
        &mut |d| {
            status.now.sessions_seen = d.sessions_in_topic;
            status.now.stored_signals = d.stored_signals;
            status.show();
        },
    )
    .await
}

/// The report from the evidence, the figures and the checks.
fn assemble(
    scenario: &Scenario,
    services: &Services,
    evidence: Evidence,
    measures: Measures,
    started_at_ms: i64,
) -> Report {
    let (checks, kpis) = checks::all(scenario, &evidence, &measures);
    let passed = checks.iter().all(|c| c.passed);
    // ClickHouse collapses its own duplicates by key, so duplicates show only upstream.
    let mut sessions: SessionComparison =
        compare_sessions(&evidence.truth, &evidence.stored_sessions);
    sessions.duplicated += compare_sessions(&evidence.truth, &evidence.topic_sessions).duplicated;
    Report {
        scenario: scenario.name.clone(),
        seed: scenario.seed,
        provider: scenario.run.provider.as_str().to_owned(),
        ingestion: scenario.run.ingestion.as_str().to_owned(),
        network: crate::report::NetworkReport::of(services),
        security: crate::report::SecurityReport::of(scenario.services.security),
        versions: Versions {
            kafka: services.kafka.version.clone(),
            clickhouse: services.clickhouse.version.text.clone(),
            evbench: env!("CARGO_PKG_VERSION").to_owned(),
        },
        events: EventCounts {
            produced: evidence.produced.records,
            produced_bytes: evidence.produced.bytes,
            stored: evidence.stored_signals,
            in_topic: evidence.signals_in_topic,
            dead_lettered: evidence.dead_letters.len() as u64,
        },
        sessions,
        kpis,
        throughput: measures.throughput,
        latency_basis: measures.latency_method.basis,
        latency_ms: measures.latency_ms,
        latency_from_sent_ms: measures.latency_from_sent_ms,
        latency_method: measures.latency_method,
        producer_lag_ms: measures.producer_lag_ms,
        offered_load: Default::default(),
        scenario_resolved: scenario.resolved(),
        checks,
        passed,
        wall_s: measures.wall_s,
        timeline: measures.timeline.seconds(),
        latency_tables: measures.latency_tables,
        latency_distribution: measures.latency_distribution,
        aggregator: evidence.engine,
        ingestion_detail: evidence.ingestion_outcome,
        resources: Default::default(),
        // Known once the resources are (`run`).
        cost_per_signal: Default::default(),
        environment: crate::environment::Environment::here(started_at_ms, services.storage.clone()),
        faults: Vec::new(),
        consumer_lag: Default::default(),
        floors: None,
    }
}
