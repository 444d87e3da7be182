//! The sink's consumer loop: reads both topics on a thread of its own, fills one batch per table,
//! and hands each batch to its table's writer when it is full, old, or when the consumer has
//! caught up and the writer is free.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rdkafka::consumer::BaseConsumer;
use rdkafka::message::Message;
use schema::rows::RowKind;

use super::write::Writer;
use super::{Batch, SinkConfig, SinkContext, SinkProgress, Stop};
use crate::{Error, Result};

/// How long one poll waits when nothing came in the previous one. Short: the loop also watches
/// batch ages and writers becoming free.
const IDLE_POLL: Duration = Duration::from_millis(5);

/// One table's batch in the filling and the writer it goes to.
struct Lane {
    batch: Batch,
    writer: Writer,
    /// The longest a batch waits, and the least time between two inserts once caught up.
    pace: (Duration, Duration),
}

/// Consumes until the sink stops; on a graceful stop, hands over what is buffered and drops the writers (which
/// then write it within the shutdown grace and end).
pub(super) fn consume(
    config: &SinkConfig,
    consumer: &BaseConsumer<SinkContext>,
    progress: &SinkProgress,
    stop: &Stop,
    writers: Vec<Writer>,
) -> Result<()> {
    let mut lanes: Vec<Lane> = writers
        .into_iter()
        .map(|writer| Lane::new(config, writer))
        .collect();
    let mut last_report = Instant::now();
    let mut kafka_errors = 0u64;
    let mut timeout = IDLE_POLL;
    while !stop.any() {
        // Right after a message, look again at once: the first empty poll means caught up.
        // Only polls that may wait are timed (they are the consumer's idle time).
        let polled = if timeout.is_zero() {
            consumer.poll(Duration::ZERO)
        } else {
            let started = Instant::now();
            let polled = consumer.poll(timeout);
            add_elapsed(&progress.waited_for_kafka_us, started);
            polled
        };
        let caught_up = match polled {
            Some(Ok(message)) => {
                progress.messages.fetch_add(1, Ordering::Relaxed);
                if let Some(lane) = lanes.iter_mut().find(|l| l.batch.topic == message.topic()) {
                    lane.batch.push(&message);
                }
                timeout = Duration::ZERO;
                false
            }
            Some(Err(e)) => {
                kafka_errors += 1;
                if kafka_errors.is_power_of_two() {
                    tracing::warn!(error = %e, count = kafka_errors, "kafka consumer error (continuing)");
                }
                timeout = IDLE_POLL;
                false
            }
            None => {
                timeout = IDLE_POLL;
                true
            }
        };
        let now = Instant::now();
        for lane in &mut lanes {
            if lane.due(config, now, caught_up) {
                lane.hand_over(config, progress)?;
            }
        }
        if last_report.elapsed() >= config.progress_interval {
            last_report = Instant::now();
            log_progress(progress);
        }
    }
    if stop.dropped() {
        return Ok(());
    }
    // Shutdown: what is buffered goes to the writers; dropping them lets their tasks end once
    // it is written (or the grace ran out).
    for mut lane in lanes {
        if !lane.batch.is_empty() && !lane.writer.hand_over(lane.batch.take(Vec::new()), progress) {
            return Err(writer_gone(&lane.batch.topic));
        }
    }
    Ok(())
}

/// How many bytes a table's batch buffer starts with.
fn batch_capacity(config: &SinkConfig, kind: RowKind) -> usize {
    match kind {
        RowKind::Signals => config.batch_bytes.min(64 << 20) + 4096,
        RowKind::Sessions => (config.batch_bytes.min(64 << 20) / 4).max(1 << 16),
    }
}

impl Lane {
    fn new(config: &SinkConfig, writer: Writer) -> Lane {
        let topic = match writer.kind {
            RowKind::Signals => &config.signals_topic,
            RowKind::Sessions => &config.sessions_topic,
        };
        let pace = match writer.kind {
            RowKind::Signals => (
                config.batch_period.max(config.signals_min_insert_interval),
                config.signals_min_insert_interval,
            ),
            RowKind::Sessions => (config.batch_period, config.min_insert_interval),
        };
        Lane {
            batch: Batch::new(writer.kind, topic, batch_capacity(config, writer.kind)),
            writer,
            pace,
        }
    }

    /// Whether the batch goes now: full, old, or the consumer caught up and the writer is free.
    fn due(&self, config: &SinkConfig, now: Instant, caught_up: bool) -> bool {
        if self.batch.is_empty() {
            return false;
        }
        let full = self.batch.rows.len() >= config.batch_bytes
            || self.batch.len() >= config.batch_rows as u64;
        let (period, min_interval) = self.pace;
        let old = self
            .batch
            .first_at
            .is_some_and(|t| now.duration_since(t) >= period);
        full || old || (caught_up && self.writer.ready(min_interval))
    }

    /// Hands the batch to the writer and starts the next in a buffer the writer gave back.
    fn hand_over(&mut self, config: &SinkConfig, progress: &SinkProgress) -> Result<()> {
        let next = self.writer.buffer(batch_capacity(config, self.batch.kind));
        if self.writer.hand_over(self.batch.take(next), progress) {
            Ok(())
        } else {
            Err(writer_gone(&self.batch.topic))
        }
    }
}

fn log_progress(progress: &SinkProgress) {
    let s = progress.snapshot();
    tracing::info!(
        signals = s.signals_written,
        sessions = s.sessions_written,
        dead_letters = s.dead_letters_written,
        rows_per_s = s.rows_per_s as u64,
        "sink progress"
    );
}

/// Adds the time since `started` to a microsecond counter.
pub(super) fn add_elapsed(counter: &std::sync::atomic::AtomicU64, started: Instant) {
    counter.fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
}

fn writer_gone(topic: &str) -> Error {
    Error::Io {
        context: format!("the sink's writer for {topic} ended"),
        source: std::io::Error::other("writer task gone"),
    }
}
