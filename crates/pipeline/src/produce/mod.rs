//! The simulator's Kafka producer.
//!
//! Key = charger id, value = the signal's JSON, partition = charger index modulo the topic's
//! partition count (one partition per charger up to `max_partitions`, as in the study; beyond it
//! chargers share partitions and keep their order). The message timestamp is left to the
//! client, which stamps the wall-clock time of the send: the start of every latency measurement.
//! The producer is idempotent (ordered, no duplicates on retry); a delivery that finally fails
//! is counted and its first error kept, never dropped silently.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use endpoints::KafkaEndpoint;
use endpoints::kafka_admin;
use events::Session;
use rdkafka::ClientContext;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use serde::{Deserialize, Serialize};
use simulator::{Pacer, Simulator};

use crate::kafka::send_retrying;
use crate::{Error, Result};

pub mod inject;

use self::inject::{InjectedCounts, Injector, Outgoing};

/// How signals are produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProduceOptions {
    /// The topic; `charger-station-signals` by default.
    pub topic: String,
    /// At most this many partitions: one per charger up to it, shared beyond it.
    pub max_partitions: u32,
    /// `linger.ms`: how long the client waits to fill a batch (short for latency, longer for
    /// throughput when many partitions share the load).
    #[serde(with = "events::human_duration")]
    pub linger: Duration,
    /// `batch.size` in bytes.
    pub batch_bytes: u32,
    /// `compression.type`: `none`, `gzip`, `lz4`, `snappy` or `zstd` (what the client was built with).
    pub compression: String,
    /// Extra librdkafka settings, passed through as given.
    pub client: Vec<(String, String)>,
    /// Faults injected into the stream.
    pub faults: FaultOptions,
}

/// Faults the producer injects, to test that the pipeline shrugs them off (see [`inject`]).
/// Drawn from their own seeded stream, so the same seed injects the same faults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FaultOptions {
    /// Chance that a signal is sent a second time, right after the first.
    pub duplicate_share: f64,
    /// Chance that a malformed record follows a signal (six kinds in turn, see
    /// [`inject::MalformedKind`]).
    pub malformed_share: f64,
    /// Chance that a signal is held back and sent after the charger's next signal…
    pub reorder_share: f64,
    /// …when that one is at most this much later in event time (keep it within the
    /// aggregator's reorder tolerance).
    #[serde(with = "events::human_duration")]
    pub reorder_within: Duration,
    /// Chance that a signal is sent again after the charger's first signal more than…
    pub late_share: f64,
    /// …this much later in event time (beyond the aggregator's reorder tolerance).
    #[serde(with = "events::human_duration")]
    pub late_by: Duration,
    /// The first this many chargers have a clock running `clock_skew` ahead.
    pub skewed_chargers: u32,
    #[serde(with = "events::human_duration")]
    pub clock_skew: Duration,
    /// Seed of the fault draws.
    pub seed: u64,
}

impl Default for ProduceOptions {
    fn default() -> Self {
        ProduceOptions {
            topic: events::SIGNALS_TOPIC.to_owned(),
            max_partitions: 1_000,
            linger: Duration::from_millis(5),
            batch_bytes: 1 << 20,
            compression: "lz4".to_owned(),
            client: Vec::new(),
            faults: FaultOptions::default(),
        }
    }
}

impl ProduceOptions {
    /// The partition count for a fleet of `chargers`.
    pub fn partitions_for(&self, chargers: u32) -> u32 {
        chargers.clamp(1, self.max_partitions.max(1))
    }
}

/// The partition of a charger: its index modulo the partition count.
pub fn partition_of(charger_index: u32, partitions: u32) -> i32 {
    (charger_index % partitions.max(1)) as i32
}

/// Creates the signals topic (or grows it) for a fleet of `chargers`: replicated on a
/// cluster of brokers ([`kafka_admin::TopicSpec::replicated`]), one replica on a single broker.
pub async fn prepare_topic(
    kafka: &KafkaEndpoint,
    options: &ProduceOptions,
    chargers: u32,
) -> Result<u32> {
    let partitions = options.partitions_for(chargers);
    kafka_admin::ensure_topic(
        kafka,
        &options.topic,
        kafka_admin::replicated_spec(kafka, partitions as usize).await?,
    )
    .await?;
    Ok(partitions)
}

/// When the signal that completed a visit (its departure) was sent, for latency measurements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// When it was handed to the client, epoch ms (the Kafka timestamp it carries).
    pub sent_ms: i64,
    /// When the pacer's schedule wanted it sent, epoch ms; `None` for unpaced runs.
    pub intended_ms: Option<i64>,
}

impl ProduceReport {
    /// Records that decode as signals: every signal, every injected copy (duplicates and late
    /// copies) and the well-formed records with impossible values — what raw storage keeps.
    pub fn well_formed_records(&self) -> u64 {
        self.events
            + self.injected.duplicates
            + self.injected.late
            + self.injected.malformed_decodable()
    }
}

/// Where a run is, for progress displays.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    pub events: u64,
    pub delivered: u64,
    pub failed: u64,
    /// Simulated time of the last event sent, epoch ms.
    pub sim_time_ms: i64,
    pub elapsed: Duration,
}

/// What a produce run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProduceReport {
    /// Signals the simulator made (each sent once, plus any injected copies).
    pub events: u64,
    /// Records sent: events, injected duplicates and injected malformed records.
    pub records: u64,
    /// Injected exact duplicates.
    pub duplicates: u64,
    /// Injected malformed records.
    pub malformed: u64,
    /// Every injected fault, by kind.
    pub injected: InjectedCounts,
    pub bytes: u64,
    pub delivered: u64,
    pub failed: u64,
    /// The first delivery error, when any delivery failed.
    pub first_error: Option<String>,
    pub sessions: u64,
    pub partitions: u32,
    pub elapsed_s: f64,
    pub events_per_s: f64,
    /// True when the run was stopped before the simulation ended.
    pub interrupted: bool,
}

#[derive(Default)]
struct DeliveryCounter {
    delivered: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl ClientContext for DeliveryCounter {}

impl ProducerContext for DeliveryCounter {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((error, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                let mut first = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
                first.get_or_insert_with(|| error.to_string());
            }
        }
    }
}

/// The idempotent producer of the signals, with the scenario's batching and compression and any
/// client settings it adds.
fn signal_producer(
    kafka: &KafkaEndpoint,
    options: &ProduceOptions,
) -> Result<ThreadedProducer<DeliveryCounter>> {
    let mut config = kafka.client_config();
    config
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", options.linger.as_millis().to_string())
        .set("batch.size", options.batch_bytes.to_string())
        .set("compression.type", &options.compression)
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .set("message.timeout.ms", "120000");
    for (key, value) in &options.client {
        config.set(key, value);
    }
    Ok(config.create_with_context(DeliveryCounter::default())?)
}

/// Plays `sim` into Kafka, paced by `pacer`, until the simulation ends or `stop` is set; every
/// ground-truth session goes to `truth` as soon as its visit has been sent, with when its last
/// signal was sent. Blocking: run it on a thread of its own (`tokio::task::spawn_blocking`).
pub fn produce(
    sim: &mut Simulator,
    pacer: &Pacer,
    kafka: &KafkaEndpoint,
    options: &ProduceOptions,
    stop: &AtomicBool,
    truth: &mut dyn FnMut(Session, Sent),
    progress: &mut dyn FnMut(Progress),
) -> Result<ProduceReport> {
    let partitions = options.partitions_for(sim.config().chargers);
    let producer = signal_producer(kafka, options)?;
    wait_for_leaders(&producer, &options.topic, partitions)?;

    let started = Instant::now();
    let started_ms = crate::now_ms();
    let mut last_sent = Sent {
        sent_ms: started_ms,
        intended_ms: None,
    };
    let mut report = ProduceReport {
        partitions,
        ..ProduceReport::default()
    };
    let mut json = Vec::with_capacity(256);
    let mut last_progress = Instant::now();
    let mut sim_time_ms = 0;
    // Their own stream, independent of the simulator's.
    let mut injector = Injector::new(&options.faults);
    let faulty = !injector.is_idle();
    let mut completed: Vec<Session> = Vec::new();
    loop {
        if stop.load(Ordering::Relaxed) {
            report.interrupted = true;
            break;
        }
        let Some(next_ms) = sim.peek_timestamp() else {
            break;
        };
        let due = pacer.wall_offset(next_ms);
        if let Some(due) = due {
            let now = started.elapsed();
            if due > now {
                // Sleep in short steps so a stop request is seen promptly.
                std::thread::sleep((due - now).min(Duration::from_millis(50)));
                continue;
            }
        }
        let Some(meta) = sim.next_event(&mut json) else {
            break;
        };
        sim_time_ms = meta.timestamp_ms;
        sim.take_completed_sessions(|session| completed.push(session));
        let key = sim.charger_id(meta.charger_index);
        let partition = partition_of(meta.charger_index, partitions);
        if faulty {
            let mut emit = |kind: Outgoing, payload: &[u8]| {
                send(&producer, &options.topic, partition, key, payload)?;
                report.records += 1;
                if kind != Outgoing::Duplicate && !matches!(kind, Outgoing::Malformed(_)) {
                    report.bytes += payload.len() as u64;
                }
                Ok::<(), Error>(())
            };
            injector.on_signal(
                meta.charger_index,
                key,
                meta.timestamp_ms,
                &json,
                !completed.is_empty(),
                &mut emit,
            )?;
        } else {
            send(&producer, &options.topic, partition, key, &json)?;
            report.records += 1;
            report.bytes += json.len() as u64;
        }
        last_sent = Sent {
            sent_ms: crate::now_ms(),
            intended_ms: due.map(|d| started_ms + i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        };
        report.events += 1;
        for mut session in completed.drain(..) {
            inject::shift_session(&mut session, injector.clock_offset_ms(meta.charger_index));
            report.sessions += 1;
            truth(session, last_sent);
        }
        if last_progress.elapsed() >= Duration::from_millis(200) {
            last_progress = Instant::now();
            progress(snapshot(&report, producer.context(), sim_time_ms, started));
        }
    }
    if faulty {
        send_held_back(
            &mut injector,
            &producer,
            options,
            partitions,
            sim,
            &mut report,
        )?;
    }
    let sent_in = started.elapsed();
    // Everything sent must be accounted for: wait for every delivery report.
    producer.flush(Duration::from_secs(120))?;
    sim.take_completed_sessions(|session| completed.push(session));
    for mut session in completed.drain(..) {
        let index = charger_index_of(&session.charger_id, sim);
        inject::shift_session(&mut session, injector.clock_offset_ms(index));
        report.sessions += 1;
        truth(session, last_sent);
    }
    report.duplicates = injector.counts.duplicates;
    report.malformed = injector.counts.malformed_total();
    report.injected = injector.counts.clone();
    let accounted = account_deliveries(&mut report, producer.context(), started);
    tracing::debug!(
        events = report.events,
        sent_ms = sent_in.as_millis() as u64,
        total_ms = (report.elapsed_s * 1000.0) as u64,
        "produced"
    );
    progress(snapshot(&report, producer.context(), sim_time_ms, started));
    accounted?;
    Ok(report)
}

/// Sends the signals the fault injector still holds back (a reordering waits for its charger's
/// next signal), each to its charger's partition.
fn send_held_back(
    injector: &mut Injector,
    producer: &ThreadedProducer<DeliveryCounter>,
    options: &ProduceOptions,
    partitions: u32,
    sim: &Simulator,
    report: &mut ProduceReport,
) -> Result<()> {
    injector.finish(&mut |_, payload: &[u8]| {
        // Held signals are ordered per charger; their charger's partition is in the key.
        let signal = events::decode(payload)?;
        let index = charger_index_of(&signal.charger_id, sim);
        let partition = partition_of(index, partitions);
        send(
            producer,
            &options.topic,
            partition,
            &signal.charger_id,
            payload,
        )?;
        report.records += 1;
        report.bytes += payload.len() as u64;
        Ok::<(), Error>(())
    })
}

/// The delivery reports into `report`, with the rate; every record sent must have one.
fn account_deliveries(
    report: &mut ProduceReport,
    context: &DeliveryCounter,
    started: Instant,
) -> Result<()> {
    report.delivered = context.delivered.load(Ordering::Relaxed);
    report.failed = context.failed.load(Ordering::Relaxed);
    report.first_error = context
        .first_error
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    report.elapsed_s = started.elapsed().as_secs_f64();
    report.events_per_s = report.events as f64 / report.elapsed_s.max(1e-9);
    let accounted = report.delivered + report.failed;
    if accounted != report.records {
        return Err(Error::Unaccounted {
            missing: report.records.saturating_sub(accounted),
            records: report.records,
        });
    }
    Ok(())
}

/// The index of a charger of `sim` from its id (`charger-{index+1}`).
fn charger_index_of(charger_id: &str, sim: &Simulator) -> u32 {
    charger_id
        .strip_prefix("charger-")
        .and_then(|n| n.parse::<u32>().ok())
        .map_or(0, |n| {
            n.saturating_sub(1)
                .min(sim.config().chargers.saturating_sub(1))
        })
}

/// Hands one record to the client, waiting while its queue is full.
fn send(
    producer: &ThreadedProducer<DeliveryCounter>,
    topic: &str,
    partition: i32,
    key: &str,
    payload: &[u8],
) -> Result<()> {
    let record = BaseRecord::to(topic)
        .partition(partition)
        .key(key)
        .payload(payload);
    Ok(send_retrying(producer, record)?)
}

/// Waits until every partition of `topic` has a leader, so the first signals are not held back
/// by a fresh topic's elections (which would show up as latency of the pipeline).
fn wait_for_leaders(
    producer: &ThreadedProducer<DeliveryCounter>,
    topic: &str,
    partitions: u32,
) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let metadata = producer
            .client()
            .fetch_metadata(Some(topic), Duration::from_secs(5))?;
        let led = metadata
            .topics()
            .iter()
            .filter(|t| t.name() == topic)
            .flat_map(|t| t.partitions())
            .filter(|p| p.leader() >= 0 && p.error().is_none())
            .count();
        if led >= partitions as usize {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(Error::NoLeaders {
                topic: topic.to_owned(),
                led,
                partitions,
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn snapshot(
    report: &ProduceReport,
    context: &DeliveryCounter,
    sim_time_ms: i64,
    started: Instant,
) -> Progress {
    Progress {
        events: report.events,
        delivered: context.delivered.load(Ordering::Relaxed),
        failed: context.failed.load(Ordering::Relaxed),
        sim_time_ms,
        elapsed: started.elapsed(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_partition_per_charger_up_to_the_limit() {
        let options = ProduceOptions {
            max_partitions: 1000,
            ..ProduceOptions::default()
        };
        assert_eq!(options.partitions_for(100), 100);
        assert_eq!(options.partitions_for(5000), 1000);
        assert_eq!(partition_of(1234, 1000), 234);
        assert_eq!(partition_of(7, 100), 7);
    }
}
