//! The aggregator's Kafka runner: `charger-station-signals` in, `charging-sessions` and the
//! dead-letter topic out, exactly once.
//!
//! One transaction per commit holds the sessions and dead letters produced *and* the consumed
//! offsets (`send_offsets_to_transaction`), so downstream `read_committed` consumers see each
//! output once or not at all. A commit starts every `commit_interval` (or as soon as the one in
//! flight finished) and runs on a thread of its own while consumption goes on
//! ([`delivery`](self) has the details); with `exactly_once = false` outputs are sent at once
//! and offsets committed after their delivery (at least once). Per partition the committed offset is the sessionizer's
//! [`resume_offset`](aggregator::Sessionizer::resume_offset) (the first record still needed to
//! rebuild the open visits), and the offset's metadata is its
//! [`aggregator::Mark`] (what was already emitted). After a crash, or whenever the
//! partitions move (a rebalance), the runner drops its state, resumes from the committed
//! offsets and replays; the [`aggregator::ReplayGuard`] suppresses what the replay
//! produces again. So a SIGKILL at any point neither loses nor duplicates a session.
//!
//! When the input has been quiet for `idle_timeout` (wall clock), visits held back only for late
//! signals are emitted ([`aggregator::Sessionizer::expire`]): a fleet that goes quiet does not
//! keep completed visits to itself. The expiry is recorded in the commit's mark and made again
//! at the same point by a replay.
//!
//! Each session carries the Kafka timestamp of the signal that closed it in the header
//! `evbench-signal-ts` (epoch ms).

mod delivery;
mod metrics;
mod state;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aggregator::{Output, SessionizerConfig, Source, Trigger};
use endpoints::KafkaEndpoint;
use endpoints::kafka_admin;
use hdrhistogram::Histogram;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::{ClientContext, Message};
use serde::{Deserialize, Serialize};

pub use self::metrics::AggregateMetrics;

use self::delivery::{Committed, Delivery, Encoder};
use self::state::State;
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
    /// After this long without input (wall clock), visits held back for late signals are
    /// emitted. It should exceed how late, in wall-clock time, a signal may still come.
    #[serde(with = "events::human_duration")]
    pub idle_timeout: Duration,
    /// Transactions (exactly once); `false`: outputs at once, offsets after (at least once).
    pub exactly_once: bool,
    pub sessionizer: SessionizerConfig,
    /// Copy every input record to `sessions_topic` instead of sessionizing: the same
    /// consumer, transactions and commits, nothing else (the exactly-once floor a run measures
    /// beside the aggregator, `pipeline::floor`).
    pub passthrough: bool,
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
            idle_timeout: Duration::from_secs(2),
            exactly_once: true,
            sessionizer: SessionizerConfig::default(),
            passthrough: false,
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
    /// Times the input went idle and held visits were expired.
    pub expiries: AtomicU64,
    /// Input partitions assigned to this instance now.
    pub assigned_partitions: AtomicU64,
    /// Dead letters by [`aggregator::DeadLetterClass`] (indexed by its discriminant).
    pub dead_letters_by_class: [AtomicU64; aggregator::DeadLetterClass::ALL.len()],
    /// Times the partitions moved (rebalances seen by this instance).
    pub rebalances: AtomicU64,
    /// Visits open (or held for late signals) after the last commit.
    pub open_visits: AtomicU64,
    /// When the last transaction (or offset commit) went through, epoch ms; 0 before.
    pub last_commit_ms: std::sync::atomic::AtomicI64,
    /// Consumer lag of the input partitions held, from librdkafka's statistics.
    pub lag: Arc<crate::metrics::ConsumerLag>,
    /// Commit durations for Prometheus, seconds.
    commit_seconds: prometheus_client::metrics::histogram::Histogram,
    /// How long each commit took (`send_offsets_to_transaction` + `commit_transaction`), µs.
    commit_micros: Mutex<Histogram<u64>>,
    /// How old each record was when the aggregator got it (now − its Kafka timestamp), µs:
    /// the part of the end-to-end latency spent before the aggregator.
    input_age_micros: Mutex<Histogram<u64>>,
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
            expiries: AtomicU64::new(0),
            assigned_partitions: AtomicU64::new(0),
            dead_letters_by_class: Default::default(),
            rebalances: AtomicU64::new(0),
            open_visits: AtomicU64::new(0),
            last_commit_ms: std::sync::atomic::AtomicI64::new(0),
            lag: Arc::default(),
            commit_seconds: crate::metrics::duration_histogram(),
            // 1 µs to 10 min at 3 significant digits: a few kilobytes.
            commit_micros: Mutex::new(
                Histogram::new_with_bounds(1, 600_000_000, 3).expect("static histogram bounds"),
            ),
            input_age_micros: Mutex::new(
                Histogram::new_with_bounds(1, 600_000_000, 3).expect("static histogram bounds"),
            ),
        }
    }
}

impl AggregateStats {
    fn record_commit(&self, took: Duration) {
        self.commit_seconds.observe(took.as_secs_f64());
        self.last_commit_ms
            .store(crate::now_ms(), Ordering::Relaxed);
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1);
        if let Ok(mut histogram) = self.commit_micros.lock() {
            histogram.saturating_record(micros);
        }
    }

    fn record_input_age(&self, micros: u64) {
        if let Ok(mut histogram) = self.input_age_micros.lock() {
            histogram.saturating_record(micros.max(1));
        }
    }

    /// The counters now, with the commit timings.
    pub fn snapshot(&self) -> AggregateSnapshot {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let timings = |h: &Mutex<Histogram<u64>>| {
            h.lock()
                .map(|h| CommitTimings {
                    count: h.len(),
                    p50: h.value_at_quantile(0.5) as f64 / 1000.0,
                    p99: h.value_at_quantile(0.99) as f64 / 1000.0,
                    max: h.max() as f64 / 1000.0,
                })
                .unwrap_or_default()
        };
        let commit_ms = timings(&self.commit_micros);
        let input_age_ms = timings(&self.input_age_micros);
        AggregateSnapshot {
            signals: load(&self.signals),
            sessions: load(&self.sessions),
            dead_letters: load(&self.dead_letters),
            transactions: load(&self.transactions),
            suppressed: load(&self.suppressed),
            rebuilds: load(&self.rebuilds),
            expiries: load(&self.expiries),
            assigned_partitions: load(&self.assigned_partitions),
            commit_ms,
            input_age_ms,
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
    pub expiries: u64,
    pub assigned_partitions: u64,
    /// Commit durations, milliseconds.
    pub commit_ms: CommitTimings,
    /// Age of the records when consumed (now − Kafka timestamp), milliseconds.
    #[serde(default)]
    pub input_age_ms: CommitTimings,
}

/// Count and percentiles of the commit durations, milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct CommitTimings {
    pub count: u64,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

/// Creates the output topics (sessions, dead letters) if they are missing, replicated on a
/// cluster of brokers.
pub async fn prepare_topics(kafka: &KafkaEndpoint, options: &AggregateOptions) -> Result<()> {
    for topic in [&options.sessions_topic, &options.dead_letter_topic] {
        kafka_admin::ensure_topic(
            kafka,
            topic,
            kafka_admin::replicated_spec(kafka, options.output_partitions as usize).await?,
        )
        .await?;
    }
    Ok(())
}

/// Notes that the partitions moved (the loop rebuilds its state before touching anything) and
/// keeps the consumer lag from librdkafka's statistics.
struct RebalanceFlag {
    moved: AtomicBool,
    lag: Arc<crate::metrics::ConsumerLag>,
}

impl ClientContext for RebalanceFlag {
    fn stats(&self, statistics: rdkafka::Statistics) {
        self.lag.record(&statistics, true);
    }
}

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

/// How many failed transactions in a row, with no commit between them, the loop recovers from.
const MAX_RECOVERIES_WITHOUT_A_COMMIT: u32 = 10;

/// Runs until `stop` is set (then commits what it has and returns). Blocking: give it a thread.
pub fn run(
    kafka: &KafkaEndpoint,
    options: &AggregateOptions,
    stop: &AtomicBool,
    stats: &AggregateStats,
) -> Result<()> {
    options.sessionizer.validate()?;
    if options.commit_interval.is_zero() {
        return Err(Error::Invalid(
            "commit_interval must be longer than zero".into(),
        ));
    }
    let mut delivery = Delivery::new(options, kafka.client_config())?;
    let mut runner = Runner {
        options,
        stats,
        consumer: Arc::new(new_consumer(kafka, options, stats)?),
        state: State::new(options)?,
        encoder: Encoder::new(),
        outputs: Vec::with_capacity(16),
        last_commit: Instant::now(),
        expired: false,
        pending: None,
    };
    let mut consumer_errors = 0u64;
    // Recoveries since the last transaction that went through: a failure that comes back
    // whatever is replayed (an output the broker always refuses) must end the run, not spin.
    let (mut recoveries, mut transactions_then) = (0u32, 0u64);
    // Set after a recovery until the state is rebuilt from the committed offsets: a broker that
    // came back may not answer the offset fetch at once, and that is retried like any failure.
    let mut must_rebuild = false;
    while !stop.load(Ordering::Relaxed) {
        let rebuilding = must_rebuild;
        let result = if rebuilding {
            runner.rebuild(true)
        } else {
            runner.step(&mut delivery, &mut consumer_errors)
        };
        if let Err(error) = result {
            let transactions = stats.transactions.load(Ordering::Relaxed);
            recoveries = if transactions == transactions_then {
                recoveries + 1
            } else {
                1
            };
            transactions_then = transactions;
            if recoveries > MAX_RECOVERIES_WITHOUT_A_COMMIT {
                return Err(error);
            }
            if rebuilding {
                // The committed offsets could not be read after a recovery. Seen after a broker
                // restart: the consumer's request to its coordinator sat in its out-queue and
                // every fetch of the committed offsets timed out, for minutes. A new consumer
                // (the old one closes on a thread of its own, leaving the group) joins afresh.
                tracing::warn!(%error, "the committed offsets cannot be read: making a new consumer");
                runner.renew_consumer(kafka)?;
                continue;
            }
            // A transaction the client failed (fenced producers, an abortable state after a
            // broker came back) fails whatever it is asked next: a send, a begin, a commit.
            // Wherever it surfaced, the delivery is made ready again and what was not committed
            // is replayed from the committed offsets; any other error ends the run.
            let Some(how) = delivery.recover(options, &error)? else {
                return Err(error);
            };
            tracing::warn!(%error, how, "transaction failed; replaying from the committed offsets");
            must_rebuild = true;
            continue;
        }
        must_rebuild = false;
    }
    if must_rebuild {
        // Stopped before the state was rebuilt: what it holds was aborted, and the committed
        // offsets keep the books.
        return delivery.close();
    }
    // A clean stop commits what was produced; open visits resume from the committed offsets.
    if let Some(committed) = delivery.finished(true)? {
        runner.finish_commit(&mut delivery, committed)?;
    }
    if runner.state.consumed() {
        runner.commit_now(&mut delivery)?;
        if let Some(committed) = delivery.finished(true)? {
            runner.finish_commit(&mut delivery, committed)?;
        }
    }
    delivery.close()
}

/// The loop's own state, borrowed pieces together.
struct Runner<'a> {
    options: &'a AggregateOptions,
    stats: &'a AggregateStats,
    /// Shared with the message a step holds (a step borrows it from its own handle), and
    /// replaced whole when it is wedged ([`Runner::renew_consumer`]).
    consumer: Arc<BaseConsumer<RebalanceFlag>>,
    state: State,
    encoder: Encoder,
    outputs: Vec<Output>,
    /// When the last commit started.
    last_commit: Instant,
    /// The commit about to start follows an expiry (it must not wait for the interval).
    expired: bool,
    /// The commit in flight's offsets and marks, to remember once it went through.
    pending: Option<state::CommitPlan>,
}

impl Runner<'_> {
    fn process(
        &mut self,
        delivery: &mut Delivery,
        message: &rdkafka::message::BorrowedMessage<'_>,
    ) -> Result<()> {
        let source = Source {
            partition: message.partition(),
            offset: message.offset(),
        };
        if self.options.passthrough {
            self.state.skip(source);
            self.stats.signals.fetch_add(1, Ordering::Relaxed);
            delivery.send_copy(
                self.options,
                message.key(),
                message.payload().unwrap_or(&[]),
            )?;
            self.stats.sessions.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        let signal_ts = message.timestamp().to_millis();
        if let Some(ts) = signal_ts {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_micros() as i64);
            self.stats
                .record_input_age(u64::try_from(now - ts * 1000).unwrap_or(0));
        }
        let outputs = &mut self.outputs;
        self.state
            .push(message.payload().unwrap_or(&[]), source, &mut |o| {
                outputs.push(o)
            });
        self.stats.signals.fetch_add(1, Ordering::Relaxed);
        self.deliver(delivery, |trigger| match trigger {
            Trigger::Signal(s) if s == source => signal_ts,
            _ => None,
        })
    }

    /// Sends what the sessionizer produced and the guard admits.
    fn deliver(
        &mut self,
        delivery: &mut Delivery,
        closing_ts: impl Fn(Trigger) -> Option<i64>,
    ) -> Result<()> {
        for output in self.outputs.drain(..) {
            if !self.state.guard.admits(&output) {
                self.stats.suppressed.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            delivery.send(
                self.options,
                &mut self.encoder,
                &output,
                closing_ts(output.trigger()),
            )?;
            let counter = match output {
                Output::Session { .. } => &self.stats.sessions,
                Output::DeadLetter { class, .. } => {
                    self.stats.dead_letters_by_class[class as usize]
                        .fetch_add(1, Ordering::Relaxed);
                    &self.stats.dead_letters
                }
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Starts a commit when one is due: every `commit_interval` when something was consumed,
    /// and at once after the input went idle (held visits expire, then commit).
    fn maybe_commit(&mut self, delivery: &mut Delivery) -> Result<()> {
        if delivery.committing() {
            return Ok(());
        }
        if self.state.idle_for(self.options.idle_timeout) {
            let outputs = &mut self.outputs;
            self.state.expire(&mut |o| outputs.push(o));
            self.stats.expiries.fetch_add(1, Ordering::Relaxed);
            self.deliver(delivery, |_| None)?;
            self.expired = true;
        }
        let due = self.last_commit.elapsed() >= self.options.commit_interval;
        if self.expired || (self.state.consumed() && due) {
            self.commit_now(delivery)?;
        }
        Ok(())
    }

    /// Closes silent visits (inactivity) and commits the positions reached.
    fn commit_now(&mut self, delivery: &mut Delivery) -> Result<()> {
        let outputs = &mut self.outputs;
        self.state.advance(&mut |o| outputs.push(o));
        self.deliver(delivery, |_| None)?;
        let plan = self.state.plan_commit(&self.options.input_topic)?;
        self.last_commit = Instant::now();
        self.expired = false;
        // Offsets of this plan are remembered once the commit went through.
        let offsets = plan.offsets.clone();
        self.pending = Some(plan);
        if let Some(committed) = delivery.commit(self.options, &self.consumer, offsets)? {
            self.finish_commit(delivery, committed)?;
        }
        Ok(())
    }

    fn finish_commit(&mut self, delivery: &mut Delivery, committed: Committed) -> Result<()> {
        let plan = self.pending.take();
        match committed.result {
            Ok(()) => {
                self.stats.record_commit(committed.took);
                self.stats.transactions.fetch_add(1, Ordering::Relaxed);
                if let Some(plan) = plan {
                    self.state.committed(plan);
                }
                self.stats.open_visits.store(
                    self.state.sessionizer.open_visits() as u64,
                    Ordering::Relaxed,
                );
                Ok(())
            }
            Err(e) if self.consumer.context().moved.load(Ordering::SeqCst) => {
                tracing::info!(error = %e, "commit refused during a rebalance; replaying");
                delivery.discard(self.options)
            }
            Err(e) => {
                tracing::warn!(error = %e, "commit failed; rebuilding from the committed offsets");
                delivery.discard(self.options)?;
                self.rebuild(true)
            }
        }
    }

    /// One turn of the loop: a poll, what it brought, a finished commit, a due one.
    fn step(&mut self, delivery: &mut Delivery, consumer_errors: &mut u64) -> Result<()> {
        // Short polls while a commit runs, to start the next transaction as soon as it is done.
        let wait = if delivery.committing() { 1 } else { 10 };
        let consumer = Arc::clone(&self.consumer);
        let message = consumer.poll(Duration::from_millis(wait));
        if self.consumer.context().moved.swap(false, Ordering::SeqCst) {
            // Whatever is uncommitted belongs to the old assignment: drop it and replay. A
            // message polled together with the rebalance belongs to the new assignment and is
            // at or after its committed offset: keep it.
            self.stats.rebalances.fetch_add(1, Ordering::Relaxed);
            delivery.discard(self.options)?;
            self.rebuild(false)?;
        }
        match message {
            Some(Ok(message)) => self.process(delivery, &message)?,
            Some(Err(e @ KafkaError::MessageConsumptionFatal(_))) => return Err(e.into()),
            // Transport errors, brokers down, a coordinator moving: librdkafka reconnects and
            // fetches again by itself; the committed offsets keep the books.
            Some(Err(e)) => {
                *consumer_errors += 1;
                if consumer_errors.is_power_of_two() {
                    tracing::warn!(error = %e, count = *consumer_errors, "kafka consumer error (continuing)");
                }
            }
            None => {}
        }
        if let Some(committed) = delivery.finished(false)? {
            self.finish_commit(delivery, committed)?;
        }
        self.maybe_commit(delivery)
    }

    /// Replaces the consumer with a new one in the same group. The old one is closed on a
    /// thread of its own (a wedged client must not hold the loop); until the new one is
    /// assigned, the state is empty and the next rebalance rebuilds it.
    fn renew_consumer(&mut self, kafka: &KafkaEndpoint) -> Result<()> {
        let fresh = Arc::new(new_consumer(kafka, self.options, self.stats)?);
        let old = std::mem::replace(&mut self.consumer, fresh);
        let _ = std::thread::Builder::new()
            .name("old-consumer".into())
            .spawn(move || drop(old));
        self.pending = None;
        self.state = State::new(self.options)?;
        self.stats.rebuilds.fetch_add(1, Ordering::Relaxed);
        self.last_commit = Instant::now();
        Ok(())
    }

    fn rebuild(&mut self, seek: bool) -> Result<()> {
        self.pending = None;
        self.state.rebuild(&self.consumer, self.options, seek)?;
        self.stats.rebuilds.fetch_add(1, Ordering::Relaxed);
        self.stats.assigned_partitions.store(
            self.consumer
                .assignment()
                .map(|a| a.count() as u64)
                .unwrap_or(0),
            Ordering::Relaxed,
        );
        self.last_commit = Instant::now();
        Ok(())
    }
}

/// The aggregator's consumer of the input topic, subscribed.
fn new_consumer(
    kafka: &KafkaEndpoint,
    options: &AggregateOptions,
    stats: &AggregateStats,
) -> Result<BaseConsumer<RebalanceFlag>> {
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
        // Thin input must not wait for a fuller fetch: that wait would be latency.
        .set("fetch.wait.max.ms", "5")
        // librdkafka stops fetching for 1 s (the default) whenever 100k messages wait in the
        // local queue: a backlog would come in 1 s gulps.
        .set("fetch.queue.backoff.ms", "10")
        .set(
            "statistics.interval.ms",
            crate::metrics::STATISTICS_INTERVAL_MS,
        )
        .set("log_level", "4")
        .create_with_context(RebalanceFlag {
            moved: AtomicBool::new(false),
            lag: Arc::clone(&stats.lag),
        })?;
    consumer.subscribe(&[&options.input_topic])?;
    Ok(consumer)
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
