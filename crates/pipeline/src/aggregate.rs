//! The aggregator's Kafka runner: `charger-station-signals` in, `charging-sessions` and the
//! dead-letter topic out, exactly once.
//!
//! One transaction per commit interval holds the sessions and dead letters produced *and* the
//! consumed offsets (`send_offsets_to_transaction`), so downstream `read_committed` consumers see
//! each output once or not at all. Per partition the committed offset is the sessionizer's
//! [`resume_offset`](aggregator::Sessionizer::resume_offset) (the first record still needed to
//! rebuild the open visits), and the offset's metadata is its
//! [`aggregator::Mark`] (what was already emitted). After a crash, or whenever the
//! partitions move (a rebalance), the runner drops its state, resumes from the committed
//! offsets and replays; the [`aggregator::ReplayGuard`] suppresses what the replay
//! produces again. So a SIGKILL at any point neither loses nor duplicates a session.
//!
//! Each session carries the Kafka timestamp of the signal that closed it in the header
//! `evbench-signal-ts` (epoch ms), the start of the signal → session latency.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aggregator::{Mark, Output, ReplayGuard, Sessionizer, SessionizerConfig, Source, Trigger};
use endpoints::KafkaEndpoint;
use endpoints::kafka_admin::{self, TopicSpec};
use hdrhistogram::Histogram;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{ClientContext, Message, Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};

use crate::kafka::send_retrying;
use crate::{Error, Result};

/// Header of a session record: the closing signal's Kafka timestamp, epoch ms (decimal text).
pub const SIGNAL_TS_HEADER: &str = "evbench-signal-ts";
/// Header of a dead letter: why the record was rejected.
pub const REASON_HEADER: &str = "reason";
/// Header of a dead letter: where the record was, `partition/offset`.
pub const SOURCE_HEADER: &str = "source";

/// How the aggregator runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AggregateOptions {
    /// Consumer group shared by every instance.
    pub group_id: String,
    /// This instance's name, unique among live instances and stable across its restarts: the
    /// transactional id is `<group_id>-<instance>`, so a restarted instance fences (and aborts)
    /// whatever its previous incarnation left open.
    pub instance: String,
    pub input_topic: String,
    pub sessions_topic: String,
    pub dead_letter_topic: String,
    /// Partitions of the output topics when the runner creates them.
    pub output_partitions: u32,
    /// How often a transaction is committed.
    #[serde(with = "events::human_duration")]
    pub commit_interval: Duration,
    pub sessionizer: SessionizerConfig,
}

impl Default for AggregateOptions {
    fn default() -> Self {
        AggregateOptions {
            group_id: "evbench-aggregator".into(),
            instance: "0".into(),
            input_topic: events::SIGNALS_TOPIC.into(),
            sessions_topic: events::SESSIONS_TOPIC.into(),
            dead_letter_topic: events::DEAD_LETTER_TOPIC.into(),
            output_partitions: 8,
            commit_interval: Duration::from_millis(100),
            sessionizer: SessionizerConfig::default(),
        }
    }
}

/// Counters of a running aggregator, shared with whoever displays them.
#[derive(Debug)]
pub struct AggregateStats {
    pub signals: AtomicU64,
    pub sessions: AtomicU64,
    pub dead_letters: AtomicU64,
    pub transactions: AtomicU64,
    /// Outputs of replays that had been produced before (not produced again).
    pub suppressed: AtomicU64,
    /// Times the state was rebuilt from the committed offsets (rebalances, failed commits).
    pub rebuilds: AtomicU64,
    /// Input partitions assigned to this instance now.
    pub assigned_partitions: AtomicU64,
    /// How long each commit took (`send_offsets_to_transaction` + `commit_transaction`), µs.
    commit_micros: Mutex<Histogram<u64>>,
}

impl Default for AggregateStats {
    fn default() -> Self {
        AggregateStats {
            signals: AtomicU64::new(0),
            sessions: AtomicU64::new(0),
            dead_letters: AtomicU64::new(0),
            transactions: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
            rebuilds: AtomicU64::new(0),
            assigned_partitions: AtomicU64::new(0),
            // 1 µs to 10 min at 3 significant digits: a few kilobytes.
            commit_micros: Mutex::new(
                Histogram::new_with_bounds(1, 600_000_000, 3).expect("static histogram bounds"),
            ),
        }
    }
}

impl AggregateStats {
    fn record_commit(&self, took: Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1);
        if let Ok(mut histogram) = self.commit_micros.lock() {
            histogram.saturating_record(micros);
        }
    }

    /// The counters now, with the commit timings.
    pub fn snapshot(&self) -> AggregateSnapshot {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let commit_ms = self
            .commit_micros
            .lock()
            .map(|h| CommitTimings {
                count: h.len(),
                p50: h.value_at_quantile(0.5) as f64 / 1000.0,
                p99: h.value_at_quantile(0.99) as f64 / 1000.0,
                max: h.max() as f64 / 1000.0,
            })
            .unwrap_or_default();
        AggregateSnapshot {
            signals: load(&self.signals),
            sessions: load(&self.sessions),
            dead_letters: load(&self.dead_letters),
            transactions: load(&self.transactions),
            suppressed: load(&self.suppressed),
            rebuilds: load(&self.rebuilds),
            assigned_partitions: load(&self.assigned_partitions),
            commit_ms,
        }
    }
}

/// A copy of [`AggregateStats`] at one moment, as written to `evbench aggregate --stats-file`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AggregateSnapshot {
    pub signals: u64,
    pub sessions: u64,
    pub dead_letters: u64,
    pub transactions: u64,
    pub suppressed: u64,
    pub rebuilds: u64,
    pub assigned_partitions: u64,
    /// Commit durations, milliseconds.
    pub commit_ms: CommitTimings,
}

/// Count and percentiles of the commit durations, milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct CommitTimings {
    pub count: u64,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

/// Creates the output topics (sessions, dead letters) if they are missing.
pub async fn prepare_topics(kafka: &KafkaEndpoint, options: &AggregateOptions) -> Result<()> {
    for topic in [&options.sessions_topic, &options.dead_letter_topic] {
        kafka_admin::ensure_topic(
            &kafka.bootstrap,
            topic,
            TopicSpec::single(options.output_partitions as usize),
        )
        .await?;
    }
    Ok(())
}

/// Notes that the partitions moved; the loop rebuilds its state before touching anything.
struct RebalanceFlag {
    moved: AtomicBool,
}

impl ClientContext for RebalanceFlag {}

impl ConsumerContext for RebalanceFlag {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        tracing::debug!(?rebalance, "rebalance");
        self.moved.store(true, Ordering::SeqCst);
    }
    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        tracing::debug!(?rebalance, "rebalanced");
        self.moved.store(true, Ordering::SeqCst);
    }
}

const TIMEOUT: Duration = Duration::from_secs(30);

/// Runs until `stop` is set (then commits what it has and returns). Blocking: give it a thread.
pub fn run(
    kafka: &KafkaEndpoint,
    options: &AggregateOptions,
    stop: &AtomicBool,
    stats: &AggregateStats,
) -> Result<()> {
    options.sessionizer.validate()?;
    let consumer: BaseConsumer<RebalanceFlag> = kafka
        .client_config()
        .set("group.id", &options.group_id)
        .set(
            "client.id",
            format!("{}-{}", options.group_id, options.instance),
        )
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "1000")
        .set("fetch.wait.max.ms", "10")
        .set("log_level", "4")
        .create_with_context(RebalanceFlag {
            moved: AtomicBool::new(false),
        })?;
    let producer: ThreadedProducer<DefaultProducerContext> = kafka
        .client_config()
        .set(
            "transactional.id",
            format!("{}-{}", options.group_id, options.instance),
        )
        .set("enable.idempotence", "true")
        .set("linger.ms", "2")
        .set("transaction.timeout.ms", "10000")
        // Right after a commit the broker answers the next transaction's first request with
        // CONCURRENT_TRANSACTIONS until its markers are written; the default 100 ms backoff
        // would add that to every transaction.
        .set("retry.backoff.ms", "5")
        .set("retry.backoff.max.ms", "50")
        .set("log_level", "4")
        .create()?;
    producer.init_transactions(TIMEOUT)?;
    consumer.subscribe(&[&options.input_topic])?;

    let mut state = State::new(options)?;
    producer.begin_transaction()?;
    let mut last_commit = Instant::now();
    let mut session_json = Vec::with_capacity(512);
    let mut outputs: Vec<Output> = Vec::with_capacity(16);
    while !stop.load(Ordering::Relaxed) {
        let message = consumer.poll(Duration::from_millis(20));
        if consumer.context().moved.swap(false, Ordering::SeqCst) {
            // Whatever is uncommitted belongs to the old assignment: drop it and replay.
            producer.abort_transaction(TIMEOUT)?;
            state.rebuild(&consumer, options, false)?;
            stats.rebuilds.fetch_add(1, Ordering::Relaxed);
            stats.assigned_partitions.store(
                consumer.assignment().map(|a| a.count() as u64).unwrap_or(0),
                Ordering::Relaxed,
            );
            producer.begin_transaction()?;
            last_commit = Instant::now();
            // A message polled together with the rebalance belongs to the new assignment and
            // is at or after its committed offset: keep it.
        }
        if let Some(message) = message {
            let message = message?;
            let source = Source {
                partition: message.partition(),
                offset: message.offset(),
            };
            let signal_ts = message.timestamp().to_millis();
            state
                .sessionizer
                .push(message.payload().unwrap_or(&[]), source, &mut |o| {
                    outputs.push(o)
                });
            state.consumed = true;
            state.note_activity(source.partition);
            stats.signals.fetch_add(1, Ordering::Relaxed);
            for output in outputs.drain(..) {
                let closing_ts = match output.trigger() {
                    Trigger::Signal(s) if s == source => signal_ts,
                    _ => None,
                };
                if state.guard.admits(&output) {
                    send_output(
                        &producer,
                        options,
                        &output,
                        closing_ts,
                        &mut session_json,
                        stats,
                    )?;
                } else {
                    stats.suppressed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        if state.consumed && last_commit.elapsed() >= options.commit_interval {
            if let Some(now) = state.watermark() {
                state.sessionizer.advance(now, &mut |o| outputs.push(o));
                for output in outputs.drain(..) {
                    if let Trigger::Advance { partition, .. } = output.trigger() {
                        state.advanced.insert(partition);
                    }
                    if state.guard.admits(&output) {
                        send_output(&producer, options, &output, None, &mut session_json, stats)?;
                    } else {
                        stats.suppressed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            let commit_started = Instant::now();
            match commit(&producer, &consumer, options, &mut state) {
                Ok(()) => {
                    stats.record_commit(commit_started.elapsed());
                    stats.transactions.fetch_add(1, Ordering::Relaxed);
                    state.consumed = false;
                }
                Err(e) if consumer.context().moved.load(Ordering::SeqCst) => {
                    tracing::info!(error = %e, "commit refused during a rebalance; replaying");
                    producer.abort_transaction(TIMEOUT)?;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "commit failed; rebuilding from the committed offsets");
                    producer.abort_transaction(TIMEOUT)?;
                    state.rebuild(&consumer, options, true)?;
                    stats.rebuilds.fetch_add(1, Ordering::Relaxed);
                }
            }
            producer.begin_transaction()?;
            last_commit = Instant::now();
        }
    }
    // A clean stop commits what was produced; open visits resume from the committed offsets.
    if state.consumed {
        commit(&producer, &consumer, options, &mut state)?;
    } else {
        producer.abort_transaction(TIMEOUT)?;
    }
    Ok(())
}

/// The sessionizer and the guard of the current assignment.
struct State {
    sessionizer: Sessionizer,
    guard: ReplayGuard,
    consumed: bool,
    /// Per partition, the (offset, emitted-through) last committed: a commit carries only the
    /// partitions that moved since (with 1 000 partitions, committing all of them every
    /// interval costs more than the work itself).
    committed: HashMap<i32, (i64, i64)>,
    /// Partitions with an inactivity closure in the open transaction (their mark must be
    /// committed with the new `advanced_to`).
    advanced: HashSet<i32>,
    /// When each partition (by number) last delivered a record.
    last_delivery: Vec<Option<Instant>>,
}

/// A partition that delivered nothing for this long is caught up (or its chargers went quiet):
/// it no longer holds the watermark back.
const IDLE_PARTITION: Duration = Duration::from_secs(10);

impl State {
    fn new(options: &AggregateOptions) -> Result<State> {
        Ok(State {
            sessionizer: Sessionizer::new(options.sessionizer.clone())?,
            guard: ReplayGuard::default(),
            consumed: false,
            committed: HashMap::new(),
            advanced: HashSet::new(),
            last_delivery: Vec::new(),
        })
    }

    fn note_activity(&mut self, partition: i32) {
        let Ok(index) = usize::try_from(partition) else {
            return;
        };
        if index >= self.last_delivery.len() {
            self.last_delivery.resize(index + 1, None);
        }
        self.last_delivery[index] = Some(Instant::now());
    }

    /// The event time every partition still delivering has reached: the smallest partition
    /// time among those that delivered within [`IDLE_PARTITION`]; the stream's time when all
    /// are idle. Inactivity closures use it, so a partition consumed later than the others
    /// (a backlog, an unpaced run) does not see its visits closed by the others' progress.
    fn watermark(&self) -> Option<i64> {
        let now = Instant::now();
        let active = self.sessionizer.partitions().filter(|&p| {
            usize::try_from(p)
                .ok()
                .and_then(|i| self.last_delivery.get(i).copied().flatten())
                .is_some_and(|seen| now.duration_since(seen) < IDLE_PARTITION)
        });
        active
            .filter_map(|p| self.sessionizer.partition_time(p))
            .min()
            .or_else(|| self.sessionizer.stream_time())
    }

    /// Fresh state for the current assignment: marks from the committed offsets' metadata, and
    /// (when `seek`) the consumer moved back to the committed offsets.
    fn rebuild(
        &mut self,
        consumer: &BaseConsumer<RebalanceFlag>,
        options: &AggregateOptions,
        seek: bool,
    ) -> Result<()> {
        *self = State::new(options)?;
        let assignment = consumer.assignment()?;
        if assignment.count() == 0 {
            return Ok(());
        }
        let committed = consumer.committed_offsets(assignment, TIMEOUT)?;
        let mut marks = Vec::new();
        for element in committed.elements() {
            let text = element.metadata();
            if !text.is_empty() {
                match Mark::decode(text) {
                    Ok(mark) => marks.push((element.partition(), mark)),
                    Err(e) => {
                        tracing::warn!(partition = element.partition(), error = %e, "ignoring unreadable commit metadata")
                    }
                }
            }
            if seek {
                let offset = match element.offset() {
                    Offset::Offset(o) => Offset::Offset(o),
                    _ => Offset::Beginning,
                };
                consumer.seek(element.topic(), element.partition(), offset, TIMEOUT)?;
            }
        }
        tracing::info!(
            partitions = committed.count(),
            marks = marks.len(),
            "state rebuilt from committed offsets"
        );
        self.guard = ReplayGuard::new(marks);
        Ok(())
    }
}

fn commit(
    producer: &ThreadedProducer<DefaultProducerContext>,
    consumer: &BaseConsumer<RebalanceFlag>,
    options: &AggregateOptions,
    state: &mut State,
) -> Result<()> {
    let mut offsets = TopicPartitionList::new();
    let mut moved = Vec::new();
    for partition in state.sessionizer.partitions() {
        let Some(mark) = state.sessionizer.mark(partition) else {
            continue;
        };
        let resume = state
            .sessionizer
            .resume_offset(partition)
            .unwrap_or(mark.emitted_through + 1);
        let position = (resume, mark.emitted_through);
        if state.committed.get(&partition) == Some(&position)
            && !state.advanced.contains(&partition)
        {
            continue;
        }
        let mut element = offsets.add_partition(&options.input_topic, partition);
        element.set_offset(Offset::Offset(resume))?;
        element.set_metadata(mark.encode());
        moved.push((partition, position));
    }
    if offsets.count() > 0 {
        let group = consumer.group_metadata().ok_or(Error::NoGroupMetadata)?;
        producer.send_offsets_to_transaction(&offsets, &group, TIMEOUT)?;
    }
    producer.commit_transaction(TIMEOUT)?;
    state.committed.extend(moved);
    state.advanced.clear();
    Ok(())
}

fn send_output(
    producer: &ThreadedProducer<DefaultProducerContext>,
    options: &AggregateOptions,
    output: &Output,
    closing_ts: Option<i64>,
    json: &mut Vec<u8>,
    stats: &AggregateStats,
) -> Result<()> {
    match output {
        Output::Session { session, .. } => {
            json.clear();
            serde_json::to_writer(&mut *json, session)?;
            let mut ts = itoa::Buffer::new();
            let headers = match closing_ts {
                Some(t) => OwnedHeaders::new_with_capacity(1).insert(Header {
                    key: SIGNAL_TS_HEADER,
                    value: Some(ts.format(t).as_bytes()),
                }),
                None => OwnedHeaders::new(),
            };
            let record = BaseRecord::to(&options.sessions_topic)
                .key(session.charger_id.as_str())
                .payload(json.as_slice())
                .headers(headers);
            send(producer, record)?;
            stats.sessions.fetch_add(1, Ordering::Relaxed);
        }
        Output::DeadLetter {
            source,
            reason,
            payload,
            ..
        } => {
            let where_ = format!("{}/{}", source.partition, source.offset);
            let headers = OwnedHeaders::new_with_capacity(2)
                .insert(Header {
                    key: REASON_HEADER,
                    value: Some(reason.as_str()),
                })
                .insert(Header {
                    key: SOURCE_HEADER,
                    value: Some(where_.as_str()),
                });
            let record = BaseRecord::<(), _>::to(&options.dead_letter_topic)
                .payload(payload.as_slice())
                .headers(headers);
            send(producer, record)?;
            stats.dead_letters.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(())
}

fn send<K: rdkafka::message::ToBytes + ?Sized, P: rdkafka::message::ToBytes + ?Sized>(
    producer: &ThreadedProducer<DefaultProducerContext>,
    record: BaseRecord<'_, K, P>,
) -> Result<()> {
    Ok(send_retrying(producer, record)?)
}

/// Runs the aggregator on a thread until `stop` is set; the returned handle gives its result.
pub fn spawn(
    kafka: KafkaEndpoint,
    options: AggregateOptions,
    stop: Arc<AtomicBool>,
    stats: Arc<AggregateStats>,
) -> Result<std::thread::JoinHandle<Result<()>>> {
    std::thread::Builder::new()
        .name("aggregator".into())
        .spawn(move || run(&kafka, &options, &stop, &stats))
        .map_err(|source| Error::Io {
            context: "cannot start the aggregator thread".into(),
            source,
        })
}
