//! How raw signals and sessions reach ClickHouse during a run: evbench's sink (`evbench sink`
//! as a child process, inserting as the `ingest` user), or the study's Kafka engine tables and
//! materialized views inside ClickHouse.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use harness::Services;
use pipeline::SinkStats;
use serde::Serialize;

use crate::component::{Component, Launch, Readiness};
use crate::file::{Ingestion, SinkSettings};
use crate::storage::Storage;
use crate::{Error, Result};

/// The ingestion path, running.
#[derive(Debug)]
pub(crate) enum Running {
    /// evbench's sink processes.
    Sink(Vec<Component>),
    /// Kafka engine tables: nothing to stop but the tables themselves.
    KafkaEngine,
}

/// What the ingestion said when it stopped.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IngestionOutcome {
    /// Sink instances that exited on their own, with how.
    pub exits: Vec<String>,
    pub stats: Vec<SinkStats>,
    pub logs: Vec<PathBuf>,
}

/// Starts the ingestion the scenario asks for (`run.ingestion`, `[sink]`); a sink instance
/// with a delay proxy in `proxies` reaches ClickHouse through it.
pub(crate) async fn start(
    scenario: &crate::file::Scenario,
    proxies: &std::collections::BTreeMap<String, harness::delay_proxy::DelayProxy>,
    services: &mut Services,
    storage: &Storage,
    evbench: &Path,
    work: &Path,
    logs: &Path,
) -> Result<Running> {
    let settings = &scenario.sink;
    match scenario.run.ingestion {
        Ingestion::Sink => {
            let mut sinks = Vec::with_capacity(settings.instances as usize);
            for instance in 0..settings.instances.max(1) {
                let name = format!("sink-{instance}");
                let state_dir = work.join(&name);
                let placement = services.place(&name)?;
                // A sink whose path a `latency` fault delays reaches ClickHouse through its proxy.
                let clickhouse = match proxies.get(&name) {
                    // TLS passes through it untouched (the certificate names loopback too).
                    Some(proxy) => format!(
                        "{}://{}",
                        if services.clickhouse.tls.is_some() {
                            "https"
                        } else {
                            "http"
                        },
                        proxy.local_addr()
                    ),
                    None => services.clickhouse.url.clone(),
                };
                let launch = sink_launch(
                    services,
                    &clickhouse,
                    storage,
                    settings,
                    evbench,
                    &state_dir,
                )
                .placed(placement)
                .with_metrics()?;
                sinks.push(Component::start(
                    &name,
                    launch,
                    &state_dir,
                    logs,
                    Duration::from_secs(30),
                )?);
            }
            Ok(Running::Sink(sinks))
        }
        Ingestion::KafkaEngine => {
            let config = kafka_engine_config(services);
            // Native servers get the engine's <kafka> settings (read_committed) and a restart,
            // every server of a cluster (each consumes its share of the topics, in one group).
            for server in services.native_clickhouse_servers() {
                schema::kafka_engine::configure_native(server, &storage.schema, &config).await?;
            }
            // The tables and views, ON CLUSTER on a cluster (their views write through the
            // Distributed tables: each row to its charger's shard).
            schema::kafka_engine::apply(&storage.admin, &storage.schema, &config).await?;
            Ok(Running::KafkaEngine)
        }
    }
}

/// The Kafka engine's settings on the run's Kafka: on a secured one it ingests as the sink does,
/// logged in as it (with PLAIN: the SCRAM of the librdkafka ClickHouse 18.16 links fails on
/// Kafka 4).
pub(crate) fn kafka_engine_config(services: &Services) -> schema::kafka_engine::KafkaEngineConfig {
    let mut config = schema::kafka_engine::KafkaEngineConfig::new(&services.kafka.bootstrap);
    config.security = services
        .kafka_security()
        .map(harness::SecuredKafka::plain_security);
    config
}

fn sink_launch(
    services: &Services,
    clickhouse: &str,
    storage: &Storage,
    settings: &SinkSettings,
    evbench: &Path,
    state_dir: &Path,
) -> Launch {
    let flags = vec![
        ("--brokers", services.kafka.bootstrap.clone()),
        ("--clickhouse", clickhouse.to_owned()),
        ("--user", storage.ingest.user.clone()),
        (
            "--batch-period",
            humantime::format_duration(settings.batch_period).to_string(),
        ),
        (
            "--min-insert-interval",
            humantime::format_duration(settings.min_insert_interval).to_string(),
        ),
        (
            "--signals-min-insert-interval",
            humantime::format_duration(settings.signals_min_insert_interval).to_string(),
        ),
        (
            "--ready-file",
            state_dir.join("ready").display().to_string(),
        ),
        (
            "--stats-file",
            state_dir.join("stats.json").display().to_string(),
        ),
    ];
    // The password travels in the environment, never on a command line others can read.
    let mut env = vec![(
        schema::users::INGEST_PASSWORD_ENV.to_owned(),
        storage.ingest.password.expose().to_owned(),
    )];
    if let Some(secured) = services.kafka_security() {
        env.extend(secured.env_for(harness::KafkaUser::Sink));
    }
    // HTTPS to ClickHouse: the CA (and client certificate) the sink trusts and shows.
    if let Some(tls) = &services.clickhouse.tls {
        env.extend(tls.to_env());
    }
    let mut launch = Launch::subcommand(evbench, "sink", flags, env);
    if storage.ingest.administrative {
        launch.args.push("--allow-admin-user".into());
    }
    launch
}

impl Running {
    /// Waits until the sinks hold every partition of both topics (`partitions` in all).
    pub(crate) async fn wait_ready(&mut self, partitions: u32, timeout: Duration) -> Result<()> {
        let Running::Sink(sinks) = self else {
            return Ok(());
        };
        let deadline = Instant::now() + timeout;
        loop {
            if let Some((name, how)) = sinks
                .iter_mut()
                .find_map(|c| c.exited().map(|how| (c.name().to_owned(), how)))
            {
                return Err(Error::Component {
                    component: name,
                    problem: format!("exited while starting: {how}"),
                });
            }
            let held: u64 = sinks
                .iter()
                .map(|c| match c.readiness() {
                    Readiness::Ready(n) => n.unwrap_or(0),
                    Readiness::Starting => 0,
                })
                .sum();
            if held >= u64::from(partitions) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::Component {
                    component: "the sink".into(),
                    problem: format!(
                        "did not hold all {partitions} partitions within {} ({held} held)",
                        humantime::format_duration(timeout)
                    ),
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The sink instance `index`, to kill and restart (faults).
    pub(crate) fn sink_mut(&mut self, index: usize) -> Option<&mut Component> {
        match self {
            Running::Sink(sinks) => sinks.get_mut(index),
            Running::KafkaEngine => None,
        }
    }

    /// Name and process group of each running sink.
    /// Name and metrics address of each sink (the Kafka engine serves none).
    pub(crate) fn metrics_targets(&self) -> Vec<crate::lag::Target> {
        match self {
            Running::Sink(sinks) => sinks
                .iter()
                .filter_map(|c| {
                    Some(crate::lag::Target {
                        name: c.name().to_owned(),
                        addr: c.metrics_addr()?.to_owned(),
                    })
                })
                .collect(),
            Running::KafkaEngine => Vec::new(),
        }
    }

    pub(crate) fn process_groups(&self) -> Vec<(String, u32)> {
        match self {
            Running::Sink(sinks) => sinks
                .iter()
                .filter_map(|c| Some((c.name().to_owned(), c.pgid()?)))
                .collect(),
            Running::KafkaEngine => Vec::new(),
        }
    }

    /// Whether every sink has exited on its own.
    pub(crate) fn all_exited(&mut self) -> bool {
        match self {
            Running::Sink(sinks) => sinks.iter_mut().all(|c| c.exited().is_some()),
            Running::KafkaEngine => false,
        }
    }

    /// Stops the sinks (they write what they hold first) and collects their counters; drops
    /// the Kafka engine tables (a Kafka table whose broker has gone stalls the server's
    /// shutdown).
    pub(crate) async fn stop(self, storage: &Storage) -> IngestionOutcome {
        match self {
            Running::Sink(mut sinks) => {
                let exits = sinks
                    .iter_mut()
                    .filter_map(|c| c.exited().map(|how| format!("{}: {how}", c.name())))
                    .collect();
                tokio::task::spawn_blocking(move || {
                    for sink in &mut sinks {
                        sink.stop();
                    }
                    IngestionOutcome {
                        exits,
                        stats: sinks.iter().filter_map(Component::stats).collect(),
                        logs: sinks.iter().map(|c| c.log_path().to_owned()).collect(),
                    }
                })
                .await
                .unwrap_or_default()
            }
            Running::KafkaEngine => {
                if let Err(e) = schema::kafka_engine::drop(&storage.admin, &storage.schema).await {
                    tracing::warn!(error = %crate::error_chain(&e), "dropping the Kafka engine tables");
                }
                IngestionOutcome::default()
            }
        }
    }
}
