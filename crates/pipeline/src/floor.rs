//! The exactly-once floor: the aggregator's own runner in its pass-through mode (the same
//! consumer, transactional producers, commit interval and client settings; every record copied
//! to the output, nothing sessionized), fed at a given rate, its committed copies read back
//! `read_committed`. What a record takes from being sent to being readable as a committed copy
//! is the least an exactly-once stage can add on this broker: the aggregator's latency beyond
//! it is what sessionizing costs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use endpoints::{KafkaEndpoint, kafka_admin};
use hdrhistogram::Histogram;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

use crate::aggregate::{self, AggregateOptions, AggregateStats};
use crate::{Error, Result};

/// What to measure.
#[derive(Debug, Clone)]
pub struct PassThroughLoad {
    /// Records per second sent.
    pub rate: f64,
    /// How long the measured records are sent for (after a warm-up of the same length's
    /// quarter, at least a second, that is left out).
    pub duration: Duration,
    /// Each record's size in bytes (at least 40: its send time and number are written at its
    /// start).
    pub record_bytes: usize,
    /// Partitions of the input topic.
    pub partitions: u32,
}

/// What the pass-through measured, send → committed copy read.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PassThroughFloor {
    /// Records measured (the warm-up left out).
    pub records: u64,
    /// Copies read more than once (0: exactly once).
    pub duplicates: u64,
    pub rate: f64,
    pub record_bytes: usize,
    /// The runner's commit interval.
    pub commit_interval_ms: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    /// Times the runner abandoned its transactions and replayed from the committed offsets
    /// (fenced or stuck producers); the copies were still read exactly once.
    pub recoveries: u64,
    /// The error the runner's stop (its final commit) ended with, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_error: Option<String>,
}

/// Runs the pass-through floor against `kafka`: `options` are the aggregator's (their topics
/// and group are replaced by the floor's own, `passthrough` set).
pub async fn exactly_once_floor(
    kafka: &KafkaEndpoint,
    options: &AggregateOptions,
    load: &PassThroughLoad,
) -> Result<PassThroughFloor> {
    if load.rate.is_nan() || load.rate <= 0.0 || load.record_bytes < 40 || load.partitions == 0 {
        return Err(Error::Invalid(format!(
            "pass-through floor: rate {} > 0, record_bytes {} ≥ 40, partitions {} ≥ 1",
            load.rate, load.record_bytes, load.partitions
        )));
    }
    let run = now_micros();
    let options = AggregateOptions {
        group_id: format!("evbench-floor-{run}"),
        input_topic: format!("evbench-floor-in-{run}"),
        sessions_topic: format!("evbench-floor-out-{run}"),
        dead_letter_topic: format!("evbench-floor-dead-{run}"),
        passthrough: true,
        ..options.clone()
    };
    kafka_admin::ensure_topic(
        kafka,
        &options.input_topic,
        kafka_admin::replicated_spec(kafka, load.partitions as usize).await?,
    )
    .await?;
    aggregate::prepare_topics(kafka, &options).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(AggregateStats::default());
    let worker = aggregate::spawn(
        kafka.clone(),
        options.clone(),
        Arc::clone(&stop),
        Arc::clone(&stats),
    )?;
    let kafka = kafka.clone();
    let load = load.clone();
    let commit_interval = options.commit_interval;
    let watched = Arc::clone(&stats);
    let measured = tokio::task::spawn_blocking(move || measure(&kafka, &options, &load, &watched))
        .await
        .map_err(|e| Error::Invalid(format!("pass-through floor: {e}")));
    stop.store(true, Ordering::Relaxed);
    let stopped = tokio::task::spawn_blocking(move || worker.join())
        .await
        .map_err(|e| Error::Invalid(format!("pass-through floor: {e}")))?;
    // Every copy was read (or `measured` says why not): an error of the runner's final commit
    // does not undo that; it is reported beside the figures.
    let stop_error = match stopped {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => {
            return Err(Error::Invalid(
                "pass-through floor: the runner panicked".into(),
            ));
        }
    };
    let (histogram, duplicates, rate, record_bytes) = measured??;
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    Ok(PassThroughFloor {
        records: histogram.len(),
        duplicates,
        rate,
        record_bytes,
        commit_interval_ms: commit_interval.as_secs_f64() * 1000.0,
        p50_ms: ms(0.5),
        p99_ms: ms(0.99),
        p999_ms: ms(0.999),
        max_ms: histogram.max() as f64 / 1000.0,
        // The first rebuild is the runner taking its partitions.
        recoveries: stats.rebuilds.load(Ordering::Relaxed).saturating_sub(1),
        stop_error,
    })
}

/// Sends the warm-up and the measured records at the rate, reads the committed copies, and
/// returns the measured ones' latencies (µs).
fn measure(
    kafka: &KafkaEndpoint,
    options: &AggregateOptions,
    load: &PassThroughLoad,
    stats: &AggregateStats,
) -> Result<(Histogram<u64>, u64, f64, usize)> {
    let reader: BaseConsumer = kafka
        .client_config()
        .set("group.id", format!("{}-reader", options.group_id))
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .create()?;
    let mut assignment = TopicPartitionList::new();
    for p in 0..options.output_partitions as i32 {
        assignment.add_partition_offset(&options.sessions_topic, p, Offset::Beginning)?;
    }
    reader.assign(&assignment)?;
    let producer: ThreadedProducer<DefaultProducerContext> = kafka
        .client_config()
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .create()?;

    let warmup = (load.duration / 4).max(Duration::from_secs(1));
    let warmup_records = (load.rate * warmup.as_secs_f64()).ceil() as u64;
    let measured_records = (load.rate * load.duration.as_secs_f64()).ceil().max(1.0) as u64;
    let total = warmup_records + measured_records;
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)
        .map_err(|e| Error::Invalid(format!("histogram: {e}")))?;
    let mut payload = vec![b' '; load.record_bytes];
    let started = Instant::now();
    let mut sent = 0u64;
    let mut read = 0u64;
    let mut seen = vec![false; total as usize];
    let mut duplicates = 0u64;
    let read_deadline = |sent_all: Instant| sent_all + Duration::from_secs(30);
    let mut sent_all: Option<Instant> = None;
    // Wait for the runner to hold its partitions: records sent before would wait for it.
    let joined = Instant::now() + Duration::from_secs(60);
    while stats.assigned_partitions.load(Ordering::Relaxed) < u64::from(load.partitions) {
        if Instant::now() > joined {
            return Err(Error::Invalid(
                "pass-through floor: the runner never got its partitions".into(),
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    loop {
        // Send what is due by now.
        let due = ((started.elapsed().as_secs_f64() * load.rate) as u64 + 1).min(total);
        while sent < due {
            let warm = sent < warmup_records;
            write_stamp(&mut payload, now_micros(), warm, sent);
            let key = (sent % u64::from(load.partitions)).to_string();
            let record = BaseRecord::to(&options.input_topic)
                .key(&key)
                .payload(&payload)
                .partition((sent % u64::from(load.partitions)) as i32);
            if let Err((e, _)) = producer.send(record) {
                return Err(Error::Kafka(e));
            }
            sent += 1;
        }
        if sent == total && sent_all.is_none() {
            sent_all = Some(Instant::now());
        }
        // Read what is committed meanwhile.
        if let Some(message) = reader.poll(Duration::from_millis(1)) {
            let message = message?;
            if let Some((sent_at, warm, n)) = message.payload().and_then(read_stamp) {
                match seen.get_mut(n as usize) {
                    Some(true) => {
                        duplicates += 1;
                        continue;
                    }
                    Some(first) => *first = true,
                    None => continue,
                }
                read += 1;
                if !warm {
                    let _ =
                        histogram.record(u64::try_from(now_micros() - sent_at).unwrap_or(0).max(1));
                }
            }
        }
        if read == total {
            break;
        }
        if sent_all.is_some_and(|at| Instant::now() > read_deadline(at)) {
            return Err(Error::Invalid(format!(
                "pass-through floor: {read} of {total} copies read 30 s after the last was sent"
            )));
        }
    }
    Ok((histogram, duplicates, load.rate, load.record_bytes))
}

/// `<micros, 20 digits> <w|m> <number, 16 digits>` at the start of the record.
fn write_stamp(payload: &mut [u8], micros: i64, warm: bool, number: u64) {
    let stamp = format!("{micros:020} {} {number:016}", if warm { 'w' } else { 'm' });
    payload[..stamp.len()].copy_from_slice(stamp.as_bytes());
}

fn read_stamp(payload: &[u8]) -> Option<(i64, bool, u64)> {
    let micros = std::str::from_utf8(payload.get(..20)?).ok()?.parse().ok()?;
    let warm = *payload.get(21)? == b'w';
    let number = std::str::from_utf8(payload.get(23..39)?)
        .ok()?
        .parse()
        .ok()?;
    Some((micros, warm, number))
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_read_back() {
        let mut payload = vec![b' '; 40];
        write_stamp(&mut payload, 1_700_000_000_123_456, true, 12);
        assert_eq!(
            read_stamp(&payload),
            Some((1_700_000_000_123_456, true, 12))
        );
        write_stamp(&mut payload, 7, false, 0);
        assert_eq!(read_stamp(&payload), Some((7, false, 0)));
        assert_eq!(read_stamp(b"short"), None);
    }
}
