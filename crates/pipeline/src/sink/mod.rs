//! The `sink`: evbench's own ingestion path from Kafka into ClickHouse.
//!
//! One consumer of the group reads `charger-station-signals` and `charging-sessions` with
//! `isolation.level=read_committed` (sessions come from a transactional producer; for the signals,
//! which are not transactional, it changes nothing), on a thread of its own. Each message is
//! decoded and appended as one RowBinary row to its topic's batch buffer: no allocation or
//! formatting per row. A batch goes to its table's writer when it reaches `batch_rows` or
//! `batch_bytes`, when it is `batch_period` old, or as soon as the consumer has caught up and the
//! writer is free (at most every `min_insert_interval` for sessions, `signals_min_insert_interval`
//! for raw signals): big batches under load, little waiting when there is none. The writer sends one `INSERT … FORMAT RowBinary` through the `clickhouse`
//! crate while the consumer fills the next batch; only after ClickHouse answered 200 are that
//! batch's offsets committed to Kafka.
//!
//! When an insert fails (ClickHouse down, timeout), the same bytes are sent again with exponential
//! backoff, for as long as it takes: the writer holds, the consumer waits for it once its next
//! batch is ready, and nothing is skipped.
//! Messages that cannot be decoded (bad JSON, unknown sensor, impossible values, empty) are counted
//! and written to `dead_letters` with their reason, in the same flush as their batch, and never
//! stop the sink.
//!
//! A crash between an insert and its commit replays the batch on restart; the tables' keys
//! (`ReplacingMergeTree` by Kafka position for signals and dead letters, by session id for
//! sessions) collapse the replay, and every exact query reads with `FINAL`.
//!
//! The `clickhouse` crate's `Inserter` is not used: it drops a batch whose insert failed, while
//! the sink must resend it. Batching follows the same size and period bounds.

mod batch;
mod consume;
mod metrics;
mod write;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaResult;
use rdkafka::{ClientContext, TopicPartitionList};
use schema::rows::RowKind;
use serde::{Deserialize, Serialize};

pub use self::metrics::SinkMetrics;

use self::batch::Batch;
use self::write::Writer;
use crate::{Error, Result};

/// What the sink reads, where it writes, and its batch and retry bounds.
///
/// Durations are human-readable (`"500ms"`, `"2s"`, `"1m"`); unknown keys are rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SinkConfig {
    /// Kafka consumer group (offsets are committed under it).
    pub group_id: String,
    /// The raw signals topic.
    pub signals_topic: String,
    /// The sessions topic (read with `isolation.level=read_committed`).
    pub sessions_topic: String,
    /// The ClickHouse database.
    pub database: String,
    /// A batch is written when it holds this many rows…
    pub batch_rows: usize,
    /// …or this many bytes of RowBinary…
    pub batch_bytes: usize,
    /// …or when its first row is this old.
    #[serde(with = "events::human_duration")]
    pub batch_period: Duration,
    /// Once the consumer has caught up, a batch of sessions (or dead letters) is written as soon
    /// as its table's writer is free, but no sooner than this after the table's last insert
    /// (each insert is a part that ClickHouse merges later).
    #[serde(with = "events::human_duration")]
    pub min_insert_interval: Duration,
    /// The same for raw signals, which nobody waits for: fewer, bigger inserts of them leave
    /// the server's CPU to the sessions. Their batches also wait this long at most when it is
    /// longer than `batch_period`.
    #[serde(with = "events::human_duration")]
    pub signals_min_insert_interval: Duration,
    /// First wait before resending a failed insert; doubles up to `retry_max`.
    #[serde(with = "events::human_duration")]
    pub retry_initial: Duration,
    /// Longest wait between resends.
    #[serde(with = "events::human_duration")]
    pub retry_max: Duration,
    /// How long one insert may take (sending and the server's answer).
    #[serde(with = "events::human_duration")]
    pub insert_timeout: Duration,
    /// How often progress (rows/s) is logged.
    #[serde(with = "events::human_duration")]
    pub progress_interval: Duration,
    /// After shutdown was asked, how long to keep trying to write what is buffered; what is not
    /// written by then is left uncommitted and replayed by the next run.
    #[serde(with = "events::human_duration")]
    pub shutdown_grace: Duration,
    /// Extra librdkafka consumer settings (security, fetch sizes…); they override the defaults.
    pub kafka: BTreeMap<String, String>,
}

impl Default for SinkConfig {
    fn default() -> Self {
        SinkConfig {
            group_id: "evbench-sink".into(),
            signals_topic: events::SIGNALS_TOPIC.into(),
            sessions_topic: events::SESSIONS_TOPIC.into(),
            database: schema::DEFAULT_DATABASE.into(),
            batch_rows: 100_000,
            batch_bytes: 16 << 20,
            batch_period: Duration::from_millis(100),
            min_insert_interval: Duration::from_millis(20),
            signals_min_insert_interval: Duration::from_millis(500),
            retry_initial: Duration::from_millis(100),
            retry_max: Duration::from_secs(5),
            insert_timeout: Duration::from_secs(30),
            progress_interval: Duration::from_secs(5),
            shutdown_grace: Duration::from_secs(10),
            kafka: BTreeMap::new(),
        }
    }
}

impl SinkConfig {
    /// Rejects settings the sink cannot run with.
    pub fn validate(&self) -> Result<()> {
        schema::check_identifier(&self.database)?;
        if self.batch_rows == 0 || self.batch_bytes == 0 {
            return Err(Error::Invalid(
                "batch_rows and batch_bytes must be positive".into(),
            ));
        }
        if self.batch_period.is_zero() || self.retry_initial.is_zero() {
            return Err(Error::Invalid(
                "batch_period and retry_initial must be positive".into(),
            ));
        }
        if self.signals_topic == self.sessions_topic || self.group_id.is_empty() {
            return Err(Error::Invalid(
                "the two topics must differ and the group id must not be empty".into(),
            ));
        }
        Ok(())
    }
}

/// Live counters of a running sink, shared with whoever watches it.
#[derive(Debug)]
pub struct SinkProgress {
    started: Instant,
    messages: AtomicU64,
    signals: AtomicU64,
    sessions: AtomicU64,
    dead_letters: AtomicU64,
    batches: AtomicU64,
    retries: AtomicU64,
    holding: AtomicBool,
    assigned_partitions: AtomicU64,
    abandoned: AtomicU64,
    waited_for_kafka_us: AtomicU64,
    waited_for_writers_us: AtomicU64,
    /// Times partitions were assigned to this sink.
    rebalances: AtomicU64,
    /// When an offset commit was last sent, epoch ms; 0 before.
    last_commit_ms: std::sync::atomic::AtomicI64,
    /// Consumer lag of the partitions held, from librdkafka's statistics.
    lag: crate::metrics::ConsumerLag,
    /// Insert durations (resends included), seconds, per table: signals, sessions.
    insert_seconds: [prometheus_client::metrics::histogram::Histogram; 2],
    /// Rows per insert (dead letters included), per table: signals, sessions.
    batch_rows: [prometheus_client::metrics::histogram::Histogram; 2],
}

impl Default for SinkProgress {
    fn default() -> Self {
        SinkProgress {
            started: Instant::now(),
            messages: AtomicU64::new(0),
            signals: AtomicU64::new(0),
            sessions: AtomicU64::new(0),
            dead_letters: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            holding: AtomicBool::new(false),
            assigned_partitions: AtomicU64::new(0),
            abandoned: AtomicU64::new(0),
            waited_for_kafka_us: AtomicU64::new(0),
            waited_for_writers_us: AtomicU64::new(0),
            rebalances: AtomicU64::new(0),
            last_commit_ms: std::sync::atomic::AtomicI64::new(0),
            lag: crate::metrics::ConsumerLag::default(),
            insert_seconds: [
                crate::metrics::duration_histogram(),
                crate::metrics::duration_histogram(),
            ],
            batch_rows: [
                crate::metrics::rows_histogram(),
                crate::metrics::rows_histogram(),
            ],
        }
    }
}

impl SinkProgress {
    /// Partitions (of both topics) this sink holds now.
    pub fn assigned_partitions(&self) -> u64 {
        self.assigned_partitions.load(Ordering::Relaxed)
    }

    /// Notes one acknowledged insert of `rows` rows into `kind`'s table.
    fn record_insert(&self, kind: RowKind, took: Duration, rows: u64) {
        let lane = metrics::lane(kind);
        self.insert_seconds[lane].observe(took.as_secs_f64());
        self.batch_rows[lane].observe(rows as f64);
    }

    /// The counters now.
    pub fn snapshot(&self) -> SinkStats {
        let elapsed = self.started.elapsed();
        let signals = self.signals.load(Ordering::Relaxed);
        let sessions = self.sessions.load(Ordering::Relaxed);
        let dead = self.dead_letters.load(Ordering::Relaxed);
        SinkStats {
            messages_consumed: self.messages.load(Ordering::Relaxed),
            signals_written: signals,
            sessions_written: sessions,
            dead_letters_written: dead,
            batches: self.batches.load(Ordering::Relaxed),
            insert_retries: self.retries.load(Ordering::Relaxed),
            abandoned_rows: self.abandoned.load(Ordering::Relaxed),
            elapsed,
            rows_per_s: (signals + sessions + dead) as f64 / elapsed.as_secs_f64().max(1e-9),
            holding: self.holding.load(Ordering::Relaxed),
            consumer_waited_for_kafka: Duration::from_micros(
                self.waited_for_kafka_us.load(Ordering::Relaxed),
            ),
            consumer_waited_for_writers: Duration::from_micros(
                self.waited_for_writers_us.load(Ordering::Relaxed),
            ),
        }
    }
}

/// What a sink did. "Written" counts rows ClickHouse acknowledged in this run (a replay after a
/// crash writes some rows again; the tables collapse them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SinkStats {
    /// Messages received from Kafka.
    pub messages_consumed: u64,
    /// Signal rows acknowledged by ClickHouse.
    pub signals_written: u64,
    /// Session rows acknowledged by ClickHouse.
    pub sessions_written: u64,
    /// Dead letters acknowledged by ClickHouse.
    pub dead_letters_written: u64,
    /// Inserts that succeeded.
    pub batches: u64,
    /// Inserts that failed and were sent again.
    pub insert_retries: u64,
    /// Rows still buffered when shutdown's grace ran out (uncommitted: the next run replays them).
    pub abandoned_rows: u64,
    /// Time since the sink started.
    #[serde(with = "events::human_duration")]
    pub elapsed: Duration,
    /// Rows (signals, sessions, dead letters) written per second of `elapsed`.
    pub rows_per_s: f64,
    /// Whether the sink is holding, resending a failed insert.
    pub holding: bool,
    /// How long the consumer waited for messages (idle: the sink keeps up).
    #[serde(default, with = "events::human_duration")]
    pub consumer_waited_for_kafka: Duration,
    /// How long the consumer waited for a writer to take a batch (ClickHouse is the bound).
    #[serde(default, with = "events::human_duration")]
    pub consumer_waited_for_writers: Duration,
}

/// Logs commits that failed and rebalances, and counts the partitions held.
struct SinkContext {
    progress: Arc<SinkProgress>,
}

impl ClientContext for SinkContext {
    fn stats(&self, statistics: rdkafka::Statistics) {
        self.progress.lag.record(&statistics, true);
    }
}

impl ConsumerContext for SinkContext {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let held = &self.progress.assigned_partitions;
        match rebalance {
            Rebalance::Assign(tpl) => {
                tracing::info!(partitions = tpl.count(), "sink assigned");
                self.progress.rebalances.fetch_add(1, Ordering::Relaxed);
                held.store(tpl.count() as u64, Ordering::Relaxed);
            }
            Rebalance::Revoke(tpl) => {
                tracing::info!(partitions = tpl.count(), "sink revoked");
                held.store(0, Ordering::Relaxed);
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "sink rebalance error"),
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        if let Err(e) = result {
            // The rows are in ClickHouse already; an uncommitted offset only means a replay,
            // which the table keys collapse.
            tracing::warn!(error = %e, "offset commit failed (the next run replays, without double counts)");
        }
    }
}

/// A configured sink: create it, take its [`progress`](Sink::progress) handle, then
/// [`run`](Sink::run) it.
pub struct Sink {
    config: SinkConfig,
    consumer: Arc<BaseConsumer<SinkContext>>,
    clickhouse: clickhouse::Client,
    progress: Arc<SinkProgress>,
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sink")
            .field("config", &self.config)
            .field("progress", &self.progress)
            .finish_non_exhaustive()
    }
}

impl Sink {
    /// Creates the consumer (subscribed to both topics) for `clickhouse`, a client logged in as
    /// the `ingest` user.
    pub fn new(
        config: SinkConfig,
        kafka: &endpoints::KafkaEndpoint,
        clickhouse: clickhouse::Client,
    ) -> Result<Sink> {
        config.validate()?;
        let mut client_config = kafka.client_config();
        client_config
            .set("group.id", &config.group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("isolation.level", "read_committed")
            // The sink may hold for long while ClickHouse is down: stay in the group meanwhile.
            .set("max.poll.interval.ms", "86400000")
            .set("session.timeout.ms", "10000")
            // Sessions are waited for as they come (latency); under load fetches fill anyway.
            .set("fetch.wait.max.ms", "10")
            // librdkafka stops fetching for 1 s (the default) whenever 100k messages wait in
            // the local queue: a backlog would come in 1 s gulps (a 4.6× slower sink here).
            .set("fetch.queue.backoff.ms", "10")
            .set("topic.metadata.refresh.interval.ms", "2000")
            .set(
                "statistics.interval.ms",
                crate::metrics::STATISTICS_INTERVAL_MS,
            )
            .set("log_level", "4");
        for (key, value) in &config.kafka {
            client_config.set(key, value);
        }
        let progress = Arc::new(SinkProgress::default());
        let consumer: BaseConsumer<SinkContext> =
            client_config.create_with_context(SinkContext {
                progress: Arc::clone(&progress),
            })?;
        consumer.subscribe(&[&config.signals_topic, &config.sessions_topic])?;
        // On a cluster the tables are `Distributed`: an insert returns once every shard has its
        // rows (not when they are queued on the server that took it, which a crash would lose
        // after the offsets were committed), and goes to the first replica of each shard that
        // answers, the one the readers ask too. Plain tables ignore both settings.
        let clickhouse = clickhouse
            .with_setting("insert_distributed_sync", "1")
            .with_setting("load_balancing", "in_order");
        Ok(Sink {
            config,
            consumer: Arc::new(consumer),
            clickhouse,
            progress,
        })
    }

    /// The live counters.
    pub fn progress(&self) -> Arc<SinkProgress> {
        Arc::clone(&self.progress)
    }

    /// Consumes until `shutdown` completes, then writes what is buffered (within the grace
    /// period), commits, and returns the counts. Errors only when Kafka fails for good.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<SinkStats> {
        let Sink {
            config,
            consumer,
            clickhouse,
            progress,
        } = self;
        let config = Arc::new(config);
        let stop = Arc::new(Stop::default());
        let mut writers = Vec::new();
        let mut running = Running {
            stop: Arc::clone(&stop),
            writers: Vec::new(),
        };
        for kind in [RowKind::Signals, RowKind::Sessions] {
            let (writer, handle) = Writer::spawn(
                kind,
                Arc::clone(&config),
                clickhouse.clone(),
                Arc::clone(&consumer),
                Arc::clone(&progress),
                Arc::clone(&stop),
            )?;
            writers.push(writer);
            running.writers.push(handle);
        }
        let consuming = {
            let (config, consumer, progress, stop) = (
                Arc::clone(&config),
                Arc::clone(&consumer),
                Arc::clone(&progress),
                Arc::clone(&stop),
            );
            tokio::task::spawn_blocking(move || {
                consume::consume(&config, &consumer, &progress, &stop, writers)
            })
        };
        // The ends of partitions librdkafka's statistics leave unknown, once a second.
        {
            let (consumer, progress, stop) = (
                Arc::clone(&consumer),
                Arc::clone(&progress),
                Arc::clone(&stop),
            );
            std::thread::Builder::new()
                .name("sink-lag".into())
                .spawn(move || {
                    while !stop.any() {
                        std::thread::sleep(Duration::from_secs(1));
                        progress.lag.probe_unknown_ends(&consumer);
                    }
                })
                .map_err(|source| Error::Io {
                    context: "cannot start the sink's lag thread".into(),
                    source,
                })?;
        }
        let mut consuming = std::pin::pin!(consuming);
        let consumed = tokio::select! {
            result = &mut consuming => result,
            () = shutdown => {
                stop.graceful.store(true, Ordering::Relaxed);
                consuming.await
            }
        };
        stop.graceful.store(true, Ordering::Relaxed);
        // The writers end once the consumer dropped their channels: what was handed to them is
        // written within the grace period, or left uncommitted for the next run.
        for handle in &mut running.writers {
            if let Err(e) = handle.await {
                tracing::warn!(error = %e, "a sink writer ended abnormally");
            }
        }
        consumed.map_err(|e| Error::Io {
            context: format!("the sink's consumer thread: {e}"),
            source: std::io::Error::other(e.to_string()),
        })??;
        Ok(progress.snapshot())
    }
}

/// How the sink's consumer thread and writer tasks learn that it ends.
#[derive(Debug, Default)]
pub(super) struct Stop {
    /// Shutdown was asked: write what is buffered (within the grace), commit, end.
    graceful: AtomicBool,
    /// The sink's future was dropped, as in a crash: end at once, write and commit nothing more.
    dropped: AtomicBool,
}

impl Stop {
    /// Whether the sink ends, gracefully or not.
    pub fn any(&self) -> bool {
        self.graceful.load(Ordering::Relaxed) || self.dropped.load(Ordering::Relaxed)
    }

    /// Whether the sink was dropped (nothing more may be written or committed).
    pub fn dropped(&self) -> bool {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// The sink's threads while [`Sink::run`] is in progress: dropping the future (aborting the task
/// that runs it) stops them as a crash would, so that an aborted sink never goes on in the
/// background.
struct Running {
    stop: Arc<Stop>,
    writers: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.dropped.store(true, Ordering::Relaxed);
        for writer in &self.writers {
            writer.abort();
        }
    }
}

/// Runs a sink until `shutdown` completes: the one-call form of [`Sink::new`] + [`Sink::run`].
pub async fn run_sink(
    config: SinkConfig,
    kafka: &endpoints::KafkaEndpoint,
    clickhouse: clickhouse::Client,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<SinkStats> {
    Sink::new(config, kafka, clickhouse)?.run(shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_reads_human_durations_and_rejects_unknown_keys() {
        let config: SinkConfig = serde_json::from_str(
            r#"{"batch_period": "250ms", "retry_max": "1m", "batch_rows": 10}"#,
        )
        .unwrap();
        assert_eq!(config.batch_period, Duration::from_millis(250));
        assert_eq!(config.retry_max, Duration::from_secs(60));
        assert_eq!(config.batch_rows, 10);
        assert_eq!(config.group_id, "evbench-sink");
        let err = serde_json::from_str::<SinkConfig>(r#"{"batch_size": 1}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
        let err = serde_json::from_str::<SinkConfig>(r#"{"batch_period": "soon"}"#).unwrap_err();
        assert!(err.to_string().contains("invalid duration"), "{err}");
        let back: SinkConfig =
            serde_json::from_str(&serde_json::to_string(&config).unwrap()).unwrap();
        assert_eq!(back, config);
        assert!(SinkConfig::default().validate().is_ok());
        let bad = SinkConfig {
            database: "x;y".into(),
            ..SinkConfig::default()
        };
        assert!(bad.validate().is_err());
    }
}
