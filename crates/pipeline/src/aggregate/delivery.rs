//! How the aggregator's outputs reach Kafka and how its progress is committed.
//!
//! * [`Transactional`] (exactly once): the outputs and the consumed offsets go in one Kafka
//!   transaction per commit. The commit itself (`send_offsets_to_transaction` and
//!   `commit_transaction`, which wait for the broker) runs on a thread of its own while the
//!   loop keeps consuming; outputs made meanwhile wait in a buffer and go into the next
//!   transaction as soon as it begins. So a slow commit delays outputs by at most itself, and
//!   never stalls the stream.
//! * [`AtLeastOnce`]: outputs are sent at once; a commit waits for their delivery, then
//!   commits the offsets. A crash between the two repeats outputs: it is the baseline that shows
//!   what exactly-once costs, and the negative control of the checks.

use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant};

use aggregator::Output;
use rdkafka::TopicPartitionList;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, ConsumerGroupMetadata,
};
use rdkafka::error::KafkaResult;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

use super::{AggregateOptions, REASON_HEADER, SIGNAL_TS_HEADER, SOURCE_HEADER, TIMEOUT};
use crate::kafka::send_retrying;
use crate::{Error, Result};

type Client = ThreadedProducer<DefaultProducerContext>;

/// An output as a Kafka record, its payload borrowed from the encoder's buffer or the output.
struct OutRecord<'a> {
    session: bool,
    key: Option<&'a str>,
    payload: &'a [u8],
    headers: OwnedHeaders,
}

/// The same, owned, while it waits for the next transaction.
struct Waiting {
    session: bool,
    key: Option<String>,
    payload: Vec<u8>,
    headers: OwnedHeaders,
}

impl Waiting {
    fn of(record: OutRecord<'_>) -> Waiting {
        Waiting {
            session: record.session,
            key: record.key.map(str::to_owned),
            payload: record.payload.to_vec(),
            headers: record.headers,
        }
    }

    fn record(&self) -> OutRecord<'_> {
        OutRecord {
            session: self.session,
            key: self.key.as_deref(),
            payload: &self.payload,
            headers: self.headers.clone(),
        }
    }
}

/// Encodes outputs into records, reusing its buffers.
pub(super) struct Encoder {
    json: Vec<u8>,
}

impl Encoder {
    pub fn new() -> Encoder {
        Encoder {
            json: Vec::with_capacity(512),
        }
    }

    /// The record of `output`; `closing_ts` is the Kafka timestamp of the signal that closed a
    /// session, when known.
    fn record<'a>(
        &'a mut self,
        output: &'a Output,
        closing_ts: Option<i64>,
    ) -> Result<OutRecord<'a>> {
        match output {
            Output::Session { session, .. } => {
                self.json.clear();
                serde_json::to_writer(&mut self.json, session)?;
                let headers = match closing_ts {
                    Some(t) => OwnedHeaders::new_with_capacity(1).insert(Header {
                        key: SIGNAL_TS_HEADER,
                        value: Some(itoa::Buffer::new().format(t).as_bytes()),
                    }),
                    None => OwnedHeaders::new(),
                };
                Ok(OutRecord {
                    session: true,
                    key: Some(&session.charger_id),
                    payload: &self.json,
                    headers,
                })
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
                Ok(OutRecord {
                    session: false,
                    key: None,
                    payload,
                    headers,
                })
            }
        }
    }
}

fn send(producer: &Client, options: &AggregateOptions, record: OutRecord<'_>) -> Result<()> {
    let topic = if record.session {
        &options.sessions_topic
    } else {
        &options.dead_letter_topic
    };
    let mut base = BaseRecord::<str, [u8]>::to(topic)
        .payload(record.payload)
        .headers(record.headers);
    if let Some(key) = record.key {
        base = base.key(key);
    }
    Ok(send_retrying(producer, base)?)
}

/// What a finished commit reports.
pub(super) struct Committed {
    pub result: KafkaResult<()>,
    pub took: Duration,
}

/// A commit to make on the committer thread: which producer's transaction, with what offsets.
struct Job {
    producer: usize,
    offsets: TopicPartitionList,
    group: ConsumerGroupMetadata,
}

/// How many transactional producers take turns. Right after a commit the broker still writes
/// its transaction markers, and a transaction of the same producer that starts meanwhile is
/// told `CONCURRENT_TRANSACTIONS` and retried after 20 ms (fixed in librdkafka). With three
/// producers in turn, a producer's next transaction begins two commits after its last one:
/// its markers are long written.
const PRODUCERS: usize = 3;

/// Exactly once: transactions, committed on a thread of their own, by producers in turn.
pub(super) struct Transactional {
    /// What the producers were made from, to make them again (see [`COMMIT_STUCK_AFTER`]).
    config: rdkafka::ClientConfig,
    transactional_id: String,
    producers: Vec<Arc<Client>>,
    jobs: Sender<Job>,
    done: Receiver<Committed>,
    /// The producer whose transaction is open and takes records.
    current: usize,
    /// The producer whose transaction is being committed, and since when.
    in_flight: Option<(usize, Instant)>,
    /// Whether `current`'s transaction is begun.
    open: bool,
    /// Outputs made while no transaction was open (only between an abort and the next begin).
    waiting: Vec<Waiting>,
}

/// How long a commit may take before it is taken for stuck. librdkafka's
/// `send_offsets_to_transaction` can wait forever, past its timeout, when the group coordinator
/// went away (a broker restart: confluentinc/librdkafka#5456, #5511). The stuck producers are
/// then abandoned and made anew under the same transactional ids, which fences the old ones
/// and aborts what they held; the loop replays from the committed offsets. A commit that only
/// waits for a broker that is coming back is handled the same way, just as safely.
const COMMIT_STUCK_AFTER: Duration = Duration::from_secs(15);

/// How long a new producer keeps trying to take over its transactional id. After a network
/// partition the coordinator may still be completing the earlier incarnation's transaction
/// (its markers wait for the partitions' leaders), and answers `CONCURRENT_TRANSACTIONS`
/// until then: seen for over 30 s after a 15 s partition of a leader.
const INIT_PATIENCE: Duration = Duration::from_secs(120);

/// `init_transactions`, again while its error is one librdkafka lets it retry (a timeout, a
/// coordinator still busy), for up to [`INIT_PATIENCE`].
fn init_transactions_patiently(producer: &Client) -> Result<()> {
    let deadline = Instant::now() + INIT_PATIENCE;
    loop {
        match producer.init_transactions(TIMEOUT) {
            Ok(()) => return Ok(()),
            Err(rdkafka::error::KafkaError::Transaction(e))
                if Instant::now() < deadline
                    && (e.is_retriable()
                        || matches!(
                            e.code(),
                            rdkafka::types::RDKafkaErrorCode::ConcurrentTransactions
                                | rdkafka::types::RDKafkaErrorCode::OperationTimedOut
                        )) =>
            {
                tracing::warn!(error = %e, "the transactional producer could not take over its id yet; trying again");
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// The producers, and the thread that commits their transactions.
type Committer = (Vec<Arc<Client>>, Sender<Job>, Receiver<Committed>);

impl Transactional {
    pub fn new(config: &rdkafka::ClientConfig, transactional_id: &str) -> Result<Transactional> {
        let (producers, jobs, done) = Transactional::committer(config, transactional_id)?;
        producers[0].begin_transaction()?;
        Ok(Transactional {
            config: config.clone(),
            transactional_id: transactional_id.to_owned(),
            producers,
            jobs,
            done,
            current: 0,
            in_flight: None,
            open: true,
            waiting: Vec::new(),
        })
    }

    fn committer(config: &rdkafka::ClientConfig, transactional_id: &str) -> Result<Committer> {
        let mut producers = Vec::with_capacity(PRODUCERS);
        for k in 0..PRODUCERS {
            let producer: Client = config
                .clone()
                .set("transactional.id", format!("{transactional_id}-{k}"))
                .create()?;
            // Fences (and aborts what was left open by) any earlier incarnation of this id.
            init_transactions_patiently(&producer)?;
            producers.push(Arc::new(producer));
        }
        let (jobs, inbox) = mpsc::channel::<Job>();
        let (report, done) = mpsc::channel();
        let committers = producers.clone();
        std::thread::Builder::new()
            .name("aggregator-commit".into())
            .spawn(move || {
                for job in inbox {
                    let committer = &committers[job.producer];
                    let started = Instant::now();
                    let offsets =
                        committer.send_offsets_to_transaction(&job.offsets, &job.group, TIMEOUT);
                    let offsets_took = started.elapsed();
                    let result = offsets
                        .and_then(|()| drain(committer))
                        .and_then(|()| committer.commit_transaction(TIMEOUT));
                    let took = started.elapsed();
                    if result.is_err() {
                        // The producer must be ready for its next turn; what it held is
                        // replayed from the committed offsets.
                        let _ = committer.abort_transaction(TIMEOUT);
                    }
                    tracing::debug!(
                        producer = job.producer,
                        partitions = job.offsets.count(),
                        offsets_ms = offsets_took.as_secs_f64() * 1e3,
                        total_ms = took.as_secs_f64() * 1e3,
                        "transaction committed"
                    );
                    if report.send(Committed { result, took }).is_err() {
                        break;
                    }
                }
            })
            .map_err(|source| Error::Io {
                context: "cannot start the aggregator's commit thread".into(),
                source,
            })?;
        Ok((producers, jobs, done))
    }

    /// Abandons the producers and their commit thread (stuck in librdkafka: it ends, if ever,
    /// when its call returns and finds nobody listening) and makes them anew, which fences the
    /// old ones. Nothing is open afterwards; what was uncommitted is replayed.
    fn replace(&mut self) -> Result<()> {
        let (producers, jobs, done) =
            Transactional::committer(&self.config, &self.transactional_id)?;
        self.producers = producers;
        self.jobs = jobs;
        self.done = done;
        self.current = 0;
        self.in_flight = None;
        self.open = false;
        self.waiting.clear();
        Ok(())
    }

    /// The outcome of the commit in flight: waits up to `wait` for it; a commit older than
    /// [`COMMIT_STUCK_AFTER`] is given up (the producers replaced) and reported failed.
    fn outcome(&mut self, wait: Duration) -> Result<Option<Committed>> {
        let Some((_, since)) = self.in_flight else {
            return Ok(None);
        };
        let stuck_at = since + COMMIT_STUCK_AFTER;
        let wait = wait.min(stuck_at.saturating_duration_since(Instant::now()));
        match self.done.recv_timeout(wait) {
            Ok(outcome) => {
                self.in_flight = None;
                // A producer in a fatal state (fenced: the broker bumped its epoch after
                // aborting a transaction that outlived `transaction.timeout.ms` while a broker
                // was away) takes no more transactions: make the producers anew.
                if outcome.result.is_err() {
                    self.replace_if_fatal()?;
                }
                Ok(Some(outcome))
            }
            Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() >= stuck_at => {
                tracing::warn!(
                    after_s = COMMIT_STUCK_AFTER.as_secs(),
                    "a commit is stuck in the Kafka client; fencing its producers with new ones and replaying from the committed offsets"
                );
                self.replace()?;
                Ok(Some(Committed {
                    result: Err(rdkafka::error::KafkaError::Flush(
                        rdkafka::types::RDKafkaErrorCode::RequestTimedOut,
                    )),
                    took: since.elapsed(),
                }))
            }
            Err(mpsc::RecvTimeoutError::Timeout) => Ok(None),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(Error::CommitThreadGone),
        }
    }

    fn producer(&self) -> &Client {
        &self.producers[self.current]
    }

    /// Makes the producers anew if one is in a fatal state (it takes nothing more); says
    /// whether it did.
    fn replace_if_fatal(&mut self) -> Result<bool> {
        let Some((code, reason)) = self.producers.iter().find_map(|p| p.client().fatal_error())
        else {
            return Ok(false);
        };
        tracing::warn!(?code, %reason, "transactional producer failed fatally; making new ones");
        self.replace()?;
        Ok(true)
    }
}

/// Waits (in steps of a fraction of a millisecond) until every record handed to the client has
/// been delivered. `commit_transaction` flushes first, but rdkafka's flush waits for delivery
/// events in polls of up to 100 ms, and with a `ThreadedProducer` its own polling thread takes
/// those events: every commit would wait the full 100 ms. With nothing left, the flush returns
/// at once.
fn drain(producer: &Client) -> KafkaResult<()> {
    let deadline = Instant::now() + TIMEOUT;
    while producer.in_flight_count() > 0 {
        if Instant::now() > deadline {
            return Err(rdkafka::error::KafkaError::Flush(
                rdkafka::types::RDKafkaErrorCode::RequestTimedOut,
            ));
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    Ok(())
}

/// At least once: outputs at once, offsets after their delivery.
pub(super) struct AtLeastOnce {
    producer: Client,
}

/// The two ways, behind one face for the loop.
pub(super) enum Delivery {
    Transactional(Transactional),
    AtLeastOnce(AtLeastOnce),
}

impl Delivery {
    /// The producer for `options` (transactional or idempotent) and its delivery.
    pub fn new(options: &AggregateOptions, mut config: rdkafka::ClientConfig) -> Result<Delivery> {
        config
            .set("enable.idempotence", "true")
            .set("linger.ms", "1")
            // Right after a commit the broker answers the next transaction's first requests
            // with CONCURRENT_TRANSACTIONS until its markers are written; librdkafka retries
            // after `retry.backoff.ms` (100 ms by default), which would be added to every
            // transaction.
            .set("retry.backoff.ms", "1")
            .set("retry.backoff.max.ms", "5")
            .set("log_level", "4");
        // librdkafka's own debug contexts (`eos`, `protocol`, …), for looking into a commit.
        if let Ok(contexts) = std::env::var("EVBENCH_RDKAFKA_DEBUG") {
            config.set("debug", contexts).set("log_level", "7");
        }
        if options.exactly_once {
            config.set("transaction.timeout.ms", "10000");
            let id = format!("{}-{}", options.group_id, options.instance);
            Ok(Delivery::Transactional(Transactional::new(&config, &id)?))
        } else {
            Ok(Delivery::AtLeastOnce(AtLeastOnce {
                producer: config.create()?,
            }))
        }
    }

    /// Sends `output` now, or (during a commit) as soon as the next transaction begins.
    /// Sends a copy of an input record to the sessions topic (the pass-through mode).
    pub fn send_copy(
        &mut self,
        options: &AggregateOptions,
        key: Option<&[u8]>,
        payload: &[u8],
    ) -> Result<()> {
        let record = OutRecord {
            session: true,
            key: key.and_then(|k| std::str::from_utf8(k).ok()),
            payload,
            headers: OwnedHeaders::new(),
        };
        self.deliver(options, record)
    }

    pub fn send(
        &mut self,
        options: &AggregateOptions,
        encoder: &mut Encoder,
        output: &Output,
        closing_ts: Option<i64>,
    ) -> Result<()> {
        let record = encoder.record(output, closing_ts)?;
        self.deliver(options, record)
    }

    /// Sends `record` now, or keeps it for the next transaction while a commit runs.
    fn deliver(&mut self, options: &AggregateOptions, record: OutRecord<'_>) -> Result<()> {
        match self {
            Delivery::Transactional(t) if !t.open => {
                t.waiting.push(Waiting::of(record));
                Ok(())
            }
            Delivery::Transactional(t) => send(t.producer(), options, record),
            Delivery::AtLeastOnce(a) => send(&a.producer, options, record),
        }
    }

    /// Whether a commit runs (no other may start).
    pub fn committing(&self) -> bool {
        matches!(self, Delivery::Transactional(t) if t.in_flight.is_some())
    }

    /// Starts committing `offsets` with what was sent since the last commit. Transactional:
    /// returns at once (see [`finished`](Self::finished)) with the next producer's transaction
    /// open for what comes meanwhile; at least once: returns when done.
    pub fn commit<C: ConsumerContext>(
        &mut self,
        options: &AggregateOptions,
        consumer: &BaseConsumer<C>,
        offsets: TopicPartitionList,
    ) -> Result<Option<Committed>> {
        match self {
            Delivery::Transactional(t) => {
                let group = consumer.group_metadata().ok_or(Error::NoGroupMetadata)?;
                let committing = t.current;
                t.jobs
                    .send(Job {
                        producer: committing,
                        offsets,
                        group,
                    })
                    .map_err(|_| Error::CommitThreadGone)?;
                t.in_flight = Some((committing, Instant::now()));
                t.current = (committing + 1) % t.producers.len();
                t.open = false;
                t.begin(options)?;
                Ok(None)
            }
            Delivery::AtLeastOnce(a) => {
                let started = Instant::now();
                let result = drain(&a.producer).and_then(|()| {
                    if offsets.count() == 0 {
                        Ok(())
                    } else {
                        consumer.commit(&offsets, CommitMode::Sync)
                    }
                });
                Ok(Some(Committed {
                    result,
                    took: started.elapsed(),
                }))
            }
        }
    }

    /// The commit in flight, once it finished (`wait`: blocking until then, or until it is
    /// taken for stuck).
    pub fn finished(&mut self, wait: bool) -> Result<Option<Committed>> {
        let Delivery::Transactional(t) = self else {
            return Ok(None);
        };
        t.outcome(if wait {
            COMMIT_STUCK_AFTER
        } else {
            Duration::ZERO
        })
    }

    /// Drops whatever is not committed (after a rebalance or a refused commit: the replay
    /// produces it again) and opens a fresh transaction.
    pub fn discard(&mut self, options: &AggregateOptions) -> Result<()> {
        let Delivery::Transactional(t) = self else {
            return Ok(());
        };
        // Its outcome no longer matters: the replay redoes whatever it did not commit (and the
        // commit thread aborted it if it failed). It must be over before the next begins.
        while t.in_flight.is_some() {
            t.outcome(COMMIT_STUCK_AFTER)?;
        }
        t.waiting.clear();
        if t.open {
            t.producer().abort_transaction(TIMEOUT)?;
            t.open = false;
        }
        t.begin(options)
    }

    /// After the Kafka client failed the loop (a send, a `begin_transaction`, a commit):
    /// whether exactly-once delivery can go on, made ready for it, and how. What was not
    /// committed is dropped; the caller replays it from the committed offsets.
    ///
    /// - A producer in a fatal state (fenced: the broker bumped its epoch, say after aborting a
    ///   transaction that outlived `transaction.timeout.ms` while a broker was away) takes
    ///   nothing more: the producers are made anew, which fences the old ones for good.
    /// - A transaction in an abortable error state (a broker that came back answers
    ///   `OUT_OF_ORDER_SEQUENCE_NUMBER`, and every later send fails with `State`) is aborted;
    ///   should the abort fail, the producers are made anew too.
    ///
    /// Any other error, and any error of at-least-once delivery, is not recovered here.
    pub fn recover(
        &mut self,
        options: &AggregateOptions,
        error: &Error,
    ) -> Result<Option<&'static str>> {
        let Delivery::Transactional(t) = self else {
            return Ok(None);
        };
        if t.replace_if_fatal()? {
            self.discard(options)?;
            return Ok(Some("a producer failed fatally: made new ones"));
        }
        if !matches!(error, Error::Kafka(_)) {
            return Ok(None);
        }
        if let Err(abort) = self.discard(options) {
            tracing::warn!(error = %abort, "the failed transaction could not be aborted; making new producers");
            if let Delivery::Transactional(t) = self {
                t.replace()?;
            }
            self.discard(options)?;
            return Ok(Some(
                "the transaction failed and could not be aborted: made new producers",
            ));
        }
        Ok(Some("the transaction failed: aborted"))
    }

    /// At the end: what is open is aborted (nothing was consumed since the last commit).
    pub fn close(&mut self) -> Result<()> {
        if let Delivery::Transactional(t) = self
            && t.open
        {
            t.producer().abort_transaction(TIMEOUT)?;
            t.open = false;
        }
        Ok(())
    }
}

impl Transactional {
    /// Begins the current producer's transaction and sends what waited for one.
    fn begin(&mut self, options: &AggregateOptions) -> Result<()> {
        self.producer().begin_transaction()?;
        self.open = true;
        for waiting in std::mem::take(&mut self.waiting) {
            send(self.producer(), options, waiting.record())?;
        }
        Ok(())
    }
}
