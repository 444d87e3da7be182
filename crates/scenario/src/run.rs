//! Playing a scenario on real services: start them, apply the schema, start the aggregator and
//! the ingestion, run the simulator, wait until the pipeline has drained, then check and measure.
//!
//! Latencies (see `docs/measurement.md`):
//! * signal → `charging-sessions`: from the Kafka timestamp of the signal that closed a visit
//!   (stamped by the producer at send time, carried to the session in the `evbench-signal-ts`
//!   header) to the moment a `read_committed` consumer in this process receives the session;
//! * signal → ClickHouse: from the same timestamp to the first poll of the sessions table
//!   (every 100 ms) that shows the session.
//!
//! Both ends are read from this machine's wall clock (`SystemTime`), so no clocks of different
//! hosts are compared.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aggregator::SessionizerConfig;
use events::Session;
use harness::Services;
use pipeline::SinkConfig;
use pipeline::aggregate::{self, AggregateOptions, AggregateStats, SIGNAL_TS_HEADER};
use pipeline::produce::{self, ProduceOptions};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Headers;
use rdkafka::{Message, Offset, TopicPartitionList};
use schema::kpi::{self, KpiParams, Value};
use schema::{Dialect, Schema};
use simulator::{Pacer, Simulator};

use crate::compare::compare_sessions;
use crate::file::{Ingestion, Scenario};
use crate::metrics::{Latency, Timeline};
use crate::report::{
    Check, EventCounts, KpiRow, KpiSummary, Latencies, LatencyDistributions, LatencyTables, Report,
    Throughput, Versions,
};
use crate::{Error, Result};

/// What a run is doing, for progress displays.
#[derive(Debug, Clone, Default)]
pub struct RunProgress {
    /// The current phase (`starting services`, `running`, `draining`, `checking`).
    pub phase: &'static str,
    pub produced: u64,
    pub sessions_seen: u64,
    pub sessions_expected: u64,
    pub stored_signals: u64,
    /// Share of the simulated time played, 0 … 1.
    pub simulated: f64,
    pub elapsed: Duration,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn run_error(context: &str, e: impl std::fmt::Display) -> Error {
    Error::Run(format!("{context}: {e}"))
}

/// Runs `scenario` and returns its report (not yet written anywhere).
pub async fn run(scenario: &Scenario, progress: &(dyn Fn(&RunProgress) + Sync)) -> Result<Report> {
    let fleet = scenario.fleet_config().map_err(|message| Error::Invalid {
        path: scenario.name.clone(),
        message,
    })?;
    let started = Instant::now();
    let mut status = RunProgress {
        phase: "starting services",
        ..RunProgress::default()
    };
    progress(&status);
    let mut services = Services::start(scenario.run.provider).await?;
    let provider = scenario.run.provider;

    // Storage and users.
    status.phase = "applying the schema";
    progress(&status);
    let schema = Schema::new(Dialect::for_server(&services.clickhouse.version));
    let admin = services.clickhouse.client();
    schema::migrate::apply(&admin, &schema)
        .await
        .map_err(|e| run_error("applying the schema", e))?;
    let ingest_client = match services.native_clickhouse() {
        Some(native) => {
            let passwords = schema::users::Passwords::from_env_or_generate()
                .map_err(|e| run_error("passwords", e))?;
            schema::users::install_native(native, &schema, &passwords)
                .await
                .map_err(|e| run_error("installing users", e))?;
            services
                .clickhouse
                .client_as(schema::users::INGEST_USER, &passwords.ingest)
        }
        None => admin.clone(),
    };

    // Topics, aggregator, ingestion.
    let produce_options = ProduceOptions {
        max_partitions: scenario.fleet.max_partitions,
        compression: scenario.run.kafka_compression.clone(),
        linger_ms: u32::try_from(scenario.run.linger.as_millis()).unwrap_or(u32::MAX),
        faults: pipeline::produce::FaultOptions {
            duplicate_share: scenario.faults.duplicate_share,
            malformed_share: scenario.faults.malformed_share,
            seed: scenario.seed,
        },
        ..ProduceOptions::default()
    };
    produce::prepare_topic(&services.kafka, &produce_options, fleet.chargers)
        .await
        .map_err(|e| run_error("signals topic", e))?;
    let aggregate_options = AggregateOptions {
        commit_interval: scenario.aggregator.commit_interval,
        sessionizer: SessionizerConfig {
            overstay_grace: fleet.profile.overstay_grace,
            reorder_tolerance: scenario.aggregator.reorder_tolerance,
            inactivity_gap: scenario.aggregator.inactivity_gap,
            ..SessionizerConfig::default()
        },
        ..AggregateOptions::default()
    };
    aggregate::prepare_topics(&services.kafka, &aggregate_options)
        .await
        .map_err(|e| run_error("output topics", e))?;
    let stop = Arc::new(AtomicBool::new(false));
    let aggregate_stats = Arc::new(AggregateStats::default());
    let aggregator = aggregate::spawn(
        services.kafka.clone(),
        aggregate_options,
        Arc::clone(&stop),
        Arc::clone(&aggregate_stats),
    )
    .map_err(|e| run_error("aggregator", e))?;

    let (sink_stop_tx, sink_stop_rx) = tokio::sync::oneshot::channel::<()>();
    let sink = match scenario.run.ingestion {
        Ingestion::Sink => {
            let config = SinkConfig {
                batch_period: Duration::from_millis(100),
                ..SinkConfig::default()
            };
            let kafka = services.kafka.clone();
            Some(tokio::spawn(async move {
                pipeline::run_sink(config, &kafka, ingest_client, async {
                    let _ = sink_stop_rx.await;
                })
                .await
            }))
        }
        Ingestion::KafkaEngine => {
            drop(sink_stop_rx);
            let config = schema::kafka_engine::KafkaEngineConfig::new(&services.kafka.bootstrap);
            match services.native_clickhouse() {
                // Native servers get the engine's <kafka> settings (read_committed) and a restart.
                Some(native) => {
                    schema::kafka_engine::install_native(native, &schema, &config).await
                }
                None => schema::kafka_engine::apply(&admin, &schema, &config).await,
            }
            .map_err(|e| run_error("kafka engine tables", e))?;
            None
        }
    };

    // Producing before the aggregator holds its partitions would count its group join as latency.
    let partitions = produce_options.partitions_for(fleet.chargers);
    let join_deadline = Instant::now() + Duration::from_secs(60);
    while aggregate_stats.assigned_partitions.load(Ordering::Relaxed) < u64::from(partitions) {
        if Instant::now() > join_deadline || aggregator.is_finished() {
            return Err(Error::Run(format!(
                "the aggregator did not get its {partitions} partitions within 60 s ({} assigned)",
                aggregate_stats.assigned_partitions.load(Ordering::Relaxed)
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Observers: the sessions topic (latency, exactly-once) and ClickHouse (visibility).
    let observer = SessionObserver::start(&services.kafka.bootstrap)?;
    let visibility = Arc::new(Mutex::new(HashMap::<String, i64>::new()));
    let visibility_stop = Arc::new(AtomicBool::new(false));
    let poller = tokio::spawn(poll_visibility(
        admin.clone(),
        schema.clone(),
        Arc::clone(&visibility),
        Arc::clone(&visibility_stop),
    ));

    // The simulation.
    status.phase = "running";
    progress(&status);
    let run_started = Instant::now();
    let run_started_ms = now_ms();
    let timeline = Arc::new(Mutex::new(Timeline::default()));
    let produced_now = Arc::new(AtomicU64::new(0));
    let sim_share = Arc::new(Mutex::new(0.0f64));
    let producer = {
        let kafka = services.kafka.clone();
        let compression = scenario.run.compression;
        let timeline = Arc::clone(&timeline);
        let produced_now = Arc::clone(&produced_now);
        let sim_share = Arc::clone(&sim_share);
        let fleet = fleet.clone();
        tokio::task::spawn_blocking(move || {
            let mut sim = Simulator::new(fleet).map_err(|e| run_error("simulator", e))?;
            let start = sim.config().start_ms;
            let end = sim.end_ms().max(start + 1);
            let pacer = Pacer::new(compression, start);
            let mut truth = Vec::new();
            let mut last_events = 0u64;
            let report = produce::produce(
                &mut sim,
                &pacer,
                &kafka,
                &produce_options,
                &AtomicBool::new(false),
                &mut |session| truth.push(session),
                &mut |p| {
                    let second = p.elapsed.as_secs();
                    if let Ok(mut t) = timeline.lock() {
                        t.add_events(second, p.events - last_events);
                    }
                    last_events = p.events;
                    produced_now.store(p.events, Ordering::Relaxed);
                    if let Ok(mut share) = sim_share.lock() {
                        *share = (p.sim_time_ms - start) as f64 / (end - start) as f64;
                    }
                },
            )
            .map_err(|e| run_error("producing signals", e))?;
            Ok::<_, Error>((report, truth))
        })
    };
    let mut producer = std::pin::pin!(producer);
    let (produce_report, truth) = loop {
        tokio::select! {
            done = &mut producer => break done.map_err(|e| run_error("producer task", e))??,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {
                status.produced = produced_now.load(Ordering::Relaxed);
                status.sessions_seen = observer.count();
                status.simulated = sim_share.lock().map(|s| *s).unwrap_or(0.0);
                status.elapsed = started.elapsed();
                progress(&status);
            }
        }
    };
    let produce_done = run_started.elapsed();

    // Drain: every session in the topic and in ClickHouse, every raw signal stored.
    status.phase = "draining";
    status.sessions_expected = truth.len() as u64;
    status.produced = produce_report.records;
    // Injected duplicates are distinct records (stored as such); malformed ones are dead letters.
    let expected_stored = produce_report.events + produce_report.duplicates;
    status.simulated = 1.0;
    let deadline = Instant::now() + scenario.run.drain_timeout;
    let mut drained = false;
    let mut stored_signals = 0;
    let mut stored_sessions = 0;
    while Instant::now() < deadline {
        stored_signals = schema::store::count_signals(&admin, &schema)
            .await
            .unwrap_or(stored_signals);
        stored_sessions = schema::store::count_sessions(&admin, &schema)
            .await
            .unwrap_or(stored_sessions);
        status.sessions_seen = observer.count();
        status.stored_signals = stored_signals;
        status.elapsed = started.elapsed();
        progress(&status);
        if status.sessions_seen >= truth.len() as u64
            && stored_signals >= expected_stored
            && stored_sessions >= truth.len() as u64
        {
            drained = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let wall = run_started.elapsed();
    // Let late duplicates, if any, show up before the books are closed.
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Stop the pipeline.
    status.phase = "checking";
    progress(&status);
    stop.store(true, Ordering::Relaxed);
    let aggregator_result = tokio::task::spawn_blocking(move || aggregator.join())
        .await
        .map_err(|e| run_error("aggregator", e))?;
    let _ = sink_stop_tx.send(());
    if let Some(sink) = sink {
        match sink.await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "the sink ended with an error"),
            Err(e) => tracing::warn!(error = %e, "the sink task failed"),
        }
    }
    visibility_stop.store(true, Ordering::Relaxed);
    let _ = poller.await;
    let observed = observer.finish();

    // Checks.
    let mut checks = Vec::new();
    let aggregator_failure = match aggregator_result {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some("the aggregator thread panicked".to_owned()),
    };
    if let Some(detail) = aggregator_failure {
        checks.push(Check {
            name: "aggregator".into(),
            passed: false,
            detail,
        });
    }
    checks.push(Check {
        name: "drained".into(),
        passed: drained,
        detail: if drained {
            format!("pipeline drained {:.1} s after the last signal", (wall - produce_done).as_secs_f64())
        } else {
            format!(
                "not drained within {}: {} of {} sessions in the topic, {} of {} signals and {} of {} sessions in ClickHouse",
                humantime::format_duration(scenario.run.drain_timeout),
                observed.sessions.len(),
                truth.len(),
                stored_signals,
                expected_stored,
                stored_sessions,
                truth.len()
            )
        },
    });
    checks.push(Check {
        name: "produced".into(),
        passed: produce_report.failed == 0,
        detail: format!(
            "{} signals ({} records with {} injected duplicates and {} malformed), {} delivery failures{}",
            produce_report.events,
            produce_report.records,
            produce_report.duplicates,
            produce_report.malformed,
            produce_report.failed,
            produce_report
                .first_error
                .as_deref()
                .map(|e| format!(" (first: {e})"))
                .unwrap_or_default()
        ),
    });
    let stored = schema::store::fetch_sessions(&admin, &schema)
        .await
        .map_err(|e| run_error("reading sessions", e))?;
    let comparison = compare_sessions(&truth, &stored);
    let topic_comparison = compare_sessions(&truth, &observed.sessions);
    if scenario.checks.sessions_exact {
        checks.push(Check {
            name: "sessions-exact".into(),
            passed: comparison.is_exact(),
            detail: format!(
                "ClickHouse: {} matched, {} missing, {} unexpected, {} mismatched {}",
                comparison.matched,
                comparison.missing,
                comparison.unexpected,
                comparison.mismatched,
                comparison.examples.join("; ")
            ),
        });
        checks.push(Check {
            name: "sessions-topic-exactly-once".into(),
            passed: topic_comparison.is_exact(),
            detail: format!(
                "charging-sessions (read_committed): {} matched, {} missing, {} unexpected, {} duplicated, {} mismatched {}",
                topic_comparison.matched,
                topic_comparison.missing,
                topic_comparison.unexpected,
                topic_comparison.duplicated,
                topic_comparison.mismatched,
                topic_comparison.examples.join("; ")
            ),
        });
    }
    let stored_signals = schema::store::count_signals(&admin, &schema)
        .await
        .map_err(|e| run_error("counting signals", e))?;
    let dead_lettered = aggregate_stats.dead_letters.load(Ordering::Relaxed);
    let stored_dead_letters = schema::store::count_dead_letters(&admin, &schema)
        .await
        .unwrap_or(0);
    if scenario.checks.raw_counts {
        checks.push(Check {
            name: "raw-signals-stored".into(),
            passed: stored_signals == expected_stored,
            detail: format!(
                "{stored_signals} stored of {} signals + {} injected duplicates",
                produce_report.events, produce_report.duplicates
            ),
        });
        // Every malformed record, and nothing else, is a dead letter: in the aggregator's
        // dead-letter topic and (through the sink) in ClickHouse.
        let sink_ok = scenario.run.ingestion != Ingestion::Sink
            || stored_dead_letters == produce_report.malformed;
        checks.push(Check {
            name: "dead-letters".into(),
            passed: dead_lettered == produce_report.malformed && sink_ok,
            detail: format!(
                "{} malformed records injected; {dead_lettered} dead-lettered by the aggregator, {stored_dead_letters} stored in ClickHouse",
                produce_report.malformed
            ),
        });
    }
    let mut kpis = KpiSummary::default();
    if scenario.checks.kpis {
        let params = KpiParams::window(
            fleet.start_ms,
            fleet.start_ms + fleet.span_ms.max(1) + 24 * 3_600_000,
        );
        let expected = kpi::compute(&truth, &params);
        match kpi::fetch(&admin, &schema, &params).await {
            Ok(actual) => {
                let queries = kpi::queries(&schema);
                let differences = kpi::compare(&expected, &actual, &queries);
                kpis = kpi_summary(&expected, &actual, &queries, &differences);
                checks.push(Check {
                    name: "kpis".into(),
                    passed: differences.is_empty(),
                    detail: format!(
                        "{} values in {} KPIs compared; {}",
                        kpis.checked,
                        queries.len(),
                        if differences.is_empty() {
                            "all equal".to_owned()
                        } else {
                            differences.join("; ")
                        }
                    ),
                });
            }
            Err(e) => checks.push(Check {
                name: "kpis".into(),
                passed: false,
                detail: format!("KPI queries failed: {e}"),
            }),
        }
    }

    // Measurements.
    let mut session_latency = Latency::default();
    let mut clickhouse_latency = Latency::default();
    let mut timeline = Arc::try_unwrap(timeline)
        .map(|m| m.into_inner().unwrap_or_default())
        .unwrap_or_default();
    for seen in &observed.latencies {
        session_latency.record_ms((seen.received_ms - seen.signal_ms) as f64);
        timeline.add_session(
            u64::try_from(seen.received_ms - run_started_ms).unwrap_or(0) / 1000,
            (seen.received_ms - seen.signal_ms) as f64,
        );
    }
    let signal_ts: HashMap<&str, i64> = observed
        .latencies
        .iter()
        .map(|l| (l.session_id.as_str(), l.signal_ms))
        .collect();
    for (id, visible_ms) in visibility.lock().map(|v| v.clone()).unwrap_or_default() {
        if let Some(signal_ms) = signal_ts.get(id.as_str()) {
            clickhouse_latency.record_ms((visible_ms - signal_ms) as f64);
            timeline.add_clickhouse(
                u64::try_from(visible_ms - run_started_ms).unwrap_or(0) / 1000,
                (visible_ms - signal_ms) as f64,
            );
        }
    }
    let wall_s = wall.as_secs_f64().max(1e-9);
    let throughput = Throughput {
        events_per_s: produce_report.events as f64 / wall_s,
        sessions_per_s: truth.len() as f64 / wall_s,
        produce_events_per_s: produce_report.events_per_s,
    };
    let latency_ms = Latencies {
        event_to_session_topic: session_latency.percentiles(),
        event_to_clickhouse: clickhouse_latency.percentiles(),
    };
    if let Some(min) = scenario.checks.min_events_per_s {
        checks.push(Check {
            name: "min-events-per-s".into(),
            passed: throughput.events_per_s >= min,
            detail: format!(
                "{:.0} signals/s end to end (threshold {min:.0})",
                throughput.events_per_s
            ),
        });
    }
    if let Some(max) = scenario.checks.max_p99_session_ms {
        let p99 = latency_ms.event_to_session_topic.p99;
        checks.push(Check {
            name: "max-p99-session-ms".into(),
            passed: p99 <= max,
            detail: format!("p99 {p99:.1} ms (threshold {max} ms)"),
        });
    }
    if let Some(max) = scenario.checks.max_p99_clickhouse_ms {
        let p99 = latency_ms.event_to_clickhouse.p99;
        checks.push(Check {
            name: "max-p99-clickhouse-ms".into(),
            passed: p99 <= max,
            detail: format!("p99 {p99:.1} ms (threshold {max} ms)"),
        });
    }
    let passed = checks.iter().all(|c| c.passed);
    let report = Report {
        scenario: scenario.name.clone(),
        seed: scenario.seed,
        provider: provider.as_str().to_owned(),
        ingestion: scenario.run.ingestion.as_str().to_owned(),
        versions: Versions {
            kafka: services.kafka.version.clone(),
            clickhouse: services.clickhouse.version.text.clone(),
            evbench: env!("CARGO_PKG_VERSION").to_owned(),
        },
        events: EventCounts {
            produced: produce_report.records,
            stored: stored_signals,
            dead_lettered,
        },
        sessions: comparison_with_topic_duplicates(comparison, topic_comparison.duplicated),
        kpis,
        throughput,
        latency_ms,
        checks,
        passed,
        wall_s,
        timeline: timeline.seconds(),
        latency_tables: LatencyTables {
            event_to_session_topic: session_latency.table(),
            event_to_clickhouse: clickhouse_latency.table(),
        },
        latency_distribution: LatencyDistributions {
            event_to_session_topic: session_latency.distribution(),
            event_to_clickhouse: clickhouse_latency.distribution(),
        },
    };
    if scenario.run.ingestion == Ingestion::KafkaEngine {
        // A Kafka table whose broker has gone stalls the server's shutdown: drop them first.
        if let Err(e) = schema::kafka_engine::drop(&admin, &schema).await {
            tracing::warn!(error = %e, "dropping the Kafka engine tables");
        }
    }
    drop(services);
    Ok(report)
}

/// The report's `sessions.duplicated` counts copies seen in the topic too (ClickHouse collapses
/// its own by key, so duplicates show only upstream).
fn comparison_with_topic_duplicates(
    mut comparison: crate::compare::SessionComparison,
    topic_duplicates: u64,
) -> crate::compare::SessionComparison {
    comparison.duplicated += topic_duplicates;
    comparison
}

fn value_text(value: &Value) -> String {
    match value {
        Value::Int(i) => i.to_string(),
        Value::Float(f) => format!("{f}"),
        Value::Text(t) => t.clone(),
    }
}

fn row_text(values: &[Value]) -> String {
    values
        .iter()
        .map(value_text)
        .collect::<Vec<_>>()
        .join(" · ")
}

/// One report row per KPI row, matched by key columns.
fn kpi_summary(
    expected: &kpi::KpiValues,
    actual: &kpi::KpiValues,
    queries: &[kpi::KpiQuery],
    differences: &[String],
) -> KpiSummary {
    let mut summary = KpiSummary {
        failed: differences.len() as u64,
        ..KpiSummary::default()
    };
    for query in queries {
        let (Some(e), Some(a)) = (
            expected.tables.get(query.name),
            actual.tables.get(query.name),
        ) else {
            continue;
        };
        let key_of = |row: &Vec<Value>| row_text(&row[..query.key_columns.min(row.len())]);
        let actual_rows: HashMap<String, &Vec<Value>> =
            a.rows.iter().map(|r| (key_of(r), r)).collect();
        let failed_here = differences.iter().any(|d| d.starts_with(query.name));
        for row in &e.rows {
            let key = key_of(row);
            let observed = actual_rows
                .get(&key)
                .map(|r| row_text(&r[query.key_columns.min(r.len())..]))
                .unwrap_or_else(|| "(missing)".into());
            let expected_text = row_text(&row[query.key_columns.min(row.len())..]);
            summary.checked += 1;
            summary.table.push(KpiRow {
                kpi: query.name.to_owned(),
                key: if key.is_empty() { "(all)".into() } else { key },
                passed: !failed_here || observed == expected_text,
                expected: expected_text,
                observed,
            });
        }
    }
    summary
}

/// A session seen in the topic, with the times its latency is made of.
struct SeenSession {
    session_id: String,
    /// Kafka timestamp of the signal that closed the visit (producer send time), epoch ms.
    signal_ms: i64,
    /// When this process received the session, epoch ms.
    received_ms: i64,
}

struct Observed {
    sessions: Vec<Session>,
    latencies: Vec<SeenSession>,
}

/// A `read_committed` consumer of `charging-sessions` on a thread of its own.
struct SessionObserver {
    stop: Arc<AtomicBool>,
    count: Arc<AtomicU64>,
    handle: std::thread::JoinHandle<Observed>,
}

impl SessionObserver {
    fn start(bootstrap: &str) -> Result<SessionObserver> {
        let consumer: BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", "evbench-run-observer")
            .set("isolation.level", "read_committed")
            .set("enable.auto.commit", "false")
            .set("fetch.wait.max.ms", "5")
            .create()
            .map_err(|e| run_error("sessions observer", e))?;
        let metadata = consumer
            .fetch_metadata(Some(events::SESSIONS_TOPIC), Duration::from_secs(10))
            .map_err(|e| run_error("sessions observer", e))?;
        let mut assignment = TopicPartitionList::new();
        for topic in metadata.topics() {
            for p in topic.partitions() {
                assignment
                    .add_partition_offset(events::SESSIONS_TOPIC, p.id(), Offset::Beginning)
                    .map_err(|e| run_error("sessions observer", e))?;
            }
        }
        consumer
            .assign(&assignment)
            .map_err(|e| run_error("sessions observer", e))?;
        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicU64::new(0));
        let (stop_flag, counter) = (Arc::clone(&stop), Arc::clone(&count));
        let handle = std::thread::Builder::new()
            .name("sessions-observer".into())
            .spawn(move || {
                let mut observed = Observed {
                    sessions: Vec::new(),
                    latencies: Vec::new(),
                };
                while !stop_flag.load(Ordering::Relaxed) {
                    let Some(Ok(message)) = consumer.poll(Duration::from_millis(50)) else {
                        continue;
                    };
                    let received_ms = now_ms();
                    let Some(payload) = message.payload() else {
                        continue;
                    };
                    let Ok(session) = serde_json::from_slice::<Session>(payload) else {
                        continue;
                    };
                    let signal_ms = message.headers().and_then(|headers| {
                        headers
                            .iter()
                            .find(|h| h.key == SIGNAL_TS_HEADER)
                            .and_then(|h| h.value)
                            .and_then(|v| std::str::from_utf8(v).ok())
                            .and_then(|v| v.parse::<i64>().ok())
                    });
                    if let Some(signal_ms) = signal_ms {
                        observed.latencies.push(SeenSession {
                            session_id: session.session_id.clone(),
                            signal_ms,
                            received_ms,
                        });
                    }
                    observed.sessions.push(session);
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                observed
            })
            .map_err(|e| run_error("sessions observer thread", e))?;
        Ok(SessionObserver {
            stop,
            count,
            handle,
        })
    }

    fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn finish(self) -> Observed {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or(Observed {
            sessions: Vec::new(),
            latencies: Vec::new(),
        })
    }
}

/// Polls the sessions table every 100 ms and notes when each session first became visible.
/// Only rows ingested in the last few seconds are read (`ingested_at` is filled by the server
/// at insert), so a poll costs the same at the end of a long run as at its start.
async fn poll_visibility(
    client: clickhouse::Client,
    schema: Schema,
    seen: Arc<Mutex<HashMap<String, i64>>>,
    stop: Arc<AtomicBool>,
) {
    let table = schema.qualified(schema::table::SESSIONS);
    let mut known: HashSet<String> = HashSet::new();
    let mut since_s = now_ms() / 1000 - 5;
    while !stop.load(Ordering::Relaxed) {
        let sql =
            format!("SELECT session_id FROM {table} WHERE ingested_at >= toDateTime({since_s})");
        let polled_s = now_ms() / 1000;
        if let Ok(ids) = client.query(&sql).fetch_all::<String>().await {
            let visible_ms = now_ms();
            // Rows of the last two seconds are read again next time: `ingested_at` has whole
            // seconds, and a slow insert may land with an earlier second than a fast one.
            since_s = polled_s - 2;
            let mut fresh = Vec::new();
            for id in ids {
                if known.insert(id.clone()) {
                    fresh.push(id);
                }
            }
            if let Ok(mut seen) = seen.lock() {
                for id in fresh {
                    seen.entry(id).or_insert(visible_ms);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
