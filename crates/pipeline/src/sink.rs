//! The `sink`: evbench's own ingestion path from Kafka into ClickHouse.
//!
//! One consumer of the group reads `charger-station-signals` and `charging-sessions` with
//! `isolation.level=read_committed` (sessions come from a transactional producer; for the signals,
//! which are not transactional, it changes nothing). Each message is decoded and appended as one
//! RowBinary row to its topic's batch buffer: no allocation or formatting per row. A batch is
//! written when it reaches `batch_rows` or `batch_bytes`, or when it is `batch_period` old, with
//! one `INSERT … FORMAT RowBinary` through the `clickhouse` crate; only after ClickHouse answered
//! 200 are that batch's offsets committed to Kafka.
//!
//! When an insert fails (ClickHouse down, timeout), the same bytes are sent again with exponential
//! backoff, for as long as it takes: the sink holds, consuming nothing more, and skips nothing.
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

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::KafkaResult;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use schema::rows::{self, RowKind};
use serde::{Deserialize, Serialize};

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
        }
    }
}

impl SinkProgress {
    /// Partitions (of both topics) this sink holds now.
    pub fn assigned_partitions(&self) -> u64 {
        self.assigned_partitions.load(Ordering::Relaxed)
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
            abandoned_rows: 0,
            elapsed,
            rows_per_s: (signals + sessions + dead) as f64 / elapsed.as_secs_f64().max(1e-9),
            holding: self.holding.load(Ordering::Relaxed),
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
}

/// Logs commits that failed and rebalances, and counts the partitions held.
struct SinkContext {
    progress: Arc<SinkProgress>,
}

impl ClientContext for SinkContext {}

impl ConsumerContext for SinkContext {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let held = &self.progress.assigned_partitions;
        match rebalance {
            Rebalance::Assign(tpl) => {
                tracing::info!(partitions = tpl.count(), "sink assigned");
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

/// One topic's pending rows and dead letters, and the offsets they cover.
struct Batch {
    kind: RowKind,
    topic: String,
    insert_sql: String,
    dead_sql: String,
    rows: Vec<u8>,
    row_count: u64,
    dead: Vec<u8>,
    dead_count: u64,
    /// partition → highest offset in the batch.
    offsets: HashMap<i32, i64>,
    first_at: Option<Instant>,
}

impl Batch {
    fn new(kind: RowKind, topic: &str, database: &str, capacity: usize) -> Result<Batch> {
        Ok(Batch {
            kind,
            topic: topic.to_owned(),
            insert_sql: kind.insert_sql(database)?,
            dead_sql: rows::dead_letter_insert_sql(database)?,
            rows: Vec::with_capacity(capacity),
            row_count: 0,
            dead: Vec::new(),
            dead_count: 0,
            offsets: HashMap::new(),
            first_at: None,
        })
    }

    fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    fn note(&mut self, partition: i32, offset: i64) {
        let high = self.offsets.entry(partition).or_insert(offset);
        *high = (*high).max(offset);
        if self.first_at.is_none() {
            self.first_at = Some(Instant::now());
        }
    }

    fn dead_letter(&mut self, partition: i32, offset: i64, reason: &str, payload: &[u8]) {
        rows::encode_dead_letter(
            &mut self.dead,
            &self.topic,
            partition,
            offset,
            reason,
            payload,
        );
        self.dead_count += 1;
    }

    /// Appends the message as a row, or as a dead letter with the reason.
    fn push(&mut self, message: &BorrowedMessage<'_>) {
        let (partition, offset) = (message.partition(), message.offset());
        self.note(partition, offset);
        let Some(payload) = message.payload().filter(|p| !p.is_empty()) else {
            self.dead_letter(partition, offset, "empty message", &[]);
            return;
        };
        match self.kind.encode(&mut self.rows, payload, partition, offset) {
            Ok(()) => self.row_count += 1,
            Err(reason) => self.dead_letter(partition, offset, &reason, payload),
        }
    }

    fn clear(&mut self) {
        self.rows.clear();
        self.dead.clear();
        self.row_count = 0;
        self.dead_count = 0;
        self.offsets.clear();
        self.first_at = None;
    }
}

/// A configured sink: create it, take its [`progress`](Sink::progress) handle, then
/// [`run`](Sink::run) it.
pub struct Sink {
    config: SinkConfig,
    consumer: StreamConsumer<SinkContext>,
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
            .set("fetch.wait.max.ms", "100")
            .set("topic.metadata.refresh.interval.ms", "2000")
            .set("log_level", "4");
        for (key, value) in &config.kafka {
            client_config.set(key, value);
        }
        let progress = Arc::new(SinkProgress::default());
        let consumer: StreamConsumer<SinkContext> =
            client_config.create_with_context(SinkContext {
                progress: Arc::clone(&progress),
            })?;
        consumer.subscribe(&[&config.signals_topic, &config.sessions_topic])?;
        Ok(Sink {
            config,
            consumer,
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
        let capacity = config.batch_bytes.min(64 << 20) + 4096;
        let mut signals = Batch::new(
            RowKind::Signals,
            &config.signals_topic,
            &config.database,
            capacity,
        )?;
        let mut sessions = Batch::new(
            RowKind::Sessions,
            &config.sessions_topic,
            &config.database,
            1 << 16,
        )?;
        let mut writer = Writer {
            config: &config,
            consumer: &consumer,
            clickhouse: &clickhouse,
            progress: &progress,
            stopping: None,
        };
        let mut shutdown = ShutdownSignal {
            future: Box::pin(shutdown),
            fired: false,
        };
        let tick = (config.batch_period / 4).max(Duration::from_millis(5));
        let mut ticker = tokio::time::interval(tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_report = Instant::now();
        let mut kafka_errors = 0u64;
        loop {
            tokio::select! {
                biased;
                _ = shutdown.wait() => break,
                message = consumer.recv() => match message {
                    Ok(message) => {
                        progress.messages.fetch_add(1, Ordering::Relaxed);
                        let batch = if message.topic() == config.signals_topic { &mut signals } else { &mut sessions };
                        batch.push(&message);
                    }
                    Err(e) => {
                        kafka_errors += 1;
                        if kafka_errors.is_power_of_two() {
                            tracing::warn!(error = %e, count = kafka_errors, "kafka consumer error (continuing)");
                        }
                    }
                },
                _ = ticker.tick() => {}
            }
            for batch in [&mut signals, &mut sessions] {
                let full = batch.rows.len() >= config.batch_bytes
                    || batch.row_count + batch.dead_count >= config.batch_rows as u64;
                let old = batch
                    .first_at
                    .is_some_and(|t| t.elapsed() >= config.batch_period);
                if (full || old) && !writer.flush(batch, &mut shutdown).await {
                    break;
                }
            }
            if writer.stopping.is_some() {
                break;
            }
            if last_report.elapsed() >= config.progress_interval {
                last_report = Instant::now();
                let s = progress.snapshot();
                tracing::info!(
                    signals = s.signals_written,
                    sessions = s.sessions_written,
                    dead_letters = s.dead_letters_written,
                    rows_per_s = s.rows_per_s as u64,
                    "sink progress"
                );
            }
        }
        // Shutdown: write what is buffered within the grace period, commit, leave the group.
        if writer.stopping.is_none() {
            writer.stopping = Some(Instant::now() + config.shutdown_grace);
        }
        let mut abandoned = 0;
        for batch in [&mut signals, &mut sessions] {
            if !batch.is_empty() && !writer.flush(batch, &mut shutdown).await {
                abandoned += batch.row_count + batch.dead_count;
            }
        }
        let mut stats = progress.snapshot();
        stats.abandoned_rows = abandoned;
        Ok(stats)
    }
}

/// The shutdown future, polled until it fires once.
struct ShutdownSignal<'a> {
    future: std::pin::Pin<Box<dyn Future<Output = ()> + Send + 'a>>,
    fired: bool,
}

impl ShutdownSignal<'_> {
    /// Completes when shutdown is asked (once; afterwards never again).
    async fn wait(&mut self) {
        if self.fired {
            std::future::pending::<()>().await;
        }
        (&mut self.future).await;
        self.fired = true;
    }
}

struct Writer<'a> {
    config: &'a SinkConfig,
    consumer: &'a StreamConsumer<SinkContext>,
    clickhouse: &'a clickhouse::Client,
    progress: &'a SinkProgress,
    /// Set once shutdown was asked: the deadline of the grace period.
    stopping: Option<Instant>,
}

impl Writer<'_> {
    /// Writes the batch (dead letters, then rows), resending until ClickHouse acknowledges, then
    /// commits its offsets. Returns false when shutdown's grace ran out first (nothing committed).
    async fn flush(&mut self, batch: &mut Batch, shutdown: &mut ShutdownSignal<'_>) -> bool {
        if batch.is_empty() {
            return true;
        }
        let dead = (batch.dead_count > 0).then(|| Bytes::from(std::mem::take(&mut batch.dead)));
        let rows = (batch.row_count > 0).then(|| Bytes::from(std::mem::take(&mut batch.rows)));
        let mut dead_done = dead.is_none();
        let mut backoff = self.config.retry_initial;
        loop {
            let mut failure = None;
            if let Some(data) = dead.as_ref().filter(|_| !dead_done) {
                match rows::insert(
                    self.clickhouse,
                    &batch.dead_sql,
                    data.clone(),
                    self.config.insert_timeout,
                )
                .await
                {
                    Ok(()) => dead_done = true,
                    Err(e) => failure = Some(e),
                }
            }
            if let (None, Some(data)) = (&failure, &rows) {
                failure = rows::insert(
                    self.clickhouse,
                    &batch.insert_sql,
                    data.clone(),
                    self.config.insert_timeout,
                )
                .await
                .err();
            }
            let Some(error) = failure else { break };
            self.progress.retries.fetch_add(1, Ordering::Relaxed);
            self.progress.holding.store(true, Ordering::Relaxed);
            tracing::warn!(error = %error, topic = %batch.topic, rows = batch.row_count, retry_in_ms = backoff.as_millis() as u64, "insert failed; holding and resending");
            if let Some(deadline) = self.stopping {
                if Instant::now() + backoff > deadline {
                    // Give up for this run: keep the bytes out of the batch, commit nothing.
                    self.progress.holding.store(false, Ordering::Relaxed);
                    return false;
                }
                tokio::time::sleep(backoff).await;
            } else {
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.wait() => {
                        self.stopping = Some(Instant::now() + self.config.shutdown_grace);
                    }
                }
            }
            backoff = (backoff * 2).min(self.config.retry_max);
        }
        self.progress.holding.store(false, Ordering::Relaxed);
        self.progress.batches.fetch_add(1, Ordering::Relaxed);
        let counter = match batch.kind {
            RowKind::Signals => &self.progress.signals,
            RowKind::Sessions => &self.progress.sessions,
        };
        counter.fetch_add(batch.row_count, Ordering::Relaxed);
        self.progress
            .dead_letters
            .fetch_add(batch.dead_count, Ordering::Relaxed);

        // Only now, with ClickHouse's acknowledgement, may Kafka forget these messages.
        let mut offsets = TopicPartitionList::with_capacity(batch.offsets.len());
        for (&partition, &offset) in &batch.offsets {
            if let Err(e) =
                offsets.add_partition_offset(&batch.topic, partition, Offset::Offset(offset + 1))
            {
                tracing::warn!(error = %e, "cannot record an offset to commit");
            }
        }
        let mode = if self.stopping.is_some() {
            CommitMode::Sync
        } else {
            CommitMode::Async
        };
        if let Err(e) = self.consumer.commit(&offsets, mode) {
            tracing::warn!(error = %e, topic = %batch.topic, "offset commit failed (the next run replays, without double counts)");
        }
        // Reuse the buffers' capacity when the insert released them.
        let capacity = rows.as_ref().map_or(0, Bytes::len);
        batch.clear();
        batch.rows.reserve(capacity);
        true
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
