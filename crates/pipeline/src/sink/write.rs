//! A table's writer: inserts the batches the consumer hands it, one at a time and in order,
//! resending a failed insert until ClickHouse takes it, then commits the batch's offsets.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use schema::rows::{self, RowKind};
use tokio::sync::mpsc::{Receiver, Sender, error::TrySendError};

use super::{Batch, SinkConfig, SinkContext, SinkProgress, Stop};
use crate::Result;

/// The consumer's side of a writer: where batches go, and what the writer says back.
pub(super) struct Writer {
    pub kind: RowKind,
    batches: Sender<Batch>,
    /// Buffers of written batches, back for reuse.
    recycled: mpsc::Receiver<Vec<u8>>,
    state: Arc<WriterState>,
}

/// What the consumer may know of its writer without waiting for it.
#[derive(Debug, Default)]
pub(super) struct WriterState {
    /// Inserting (or holding) a batch.
    busy: AtomicBool,
    /// When the last insert started (for `min_insert_interval`).
    last_insert: std::sync::Mutex<Option<Instant>>,
}

impl Writer {
    /// Starts the writer task of `kind`'s table.
    pub fn spawn(
        kind: RowKind,
        config: Arc<SinkConfig>,
        clickhouse: clickhouse::Client,
        consumer: Arc<BaseConsumer<SinkContext>>,
        progress: Arc<SinkProgress>,
        stop: Arc<Stop>,
    ) -> Result<(Writer, tokio::task::JoinHandle<()>)> {
        let insert_sql = kind.insert_sql(&config.database)?;
        let dead_sql = rows::dead_letter_insert_sql(&config.database)?;
        // One batch waits while one is written: the consumer fills the next meanwhile.
        let (batches, inbox) = tokio::sync::mpsc::channel(1);
        let (recycle, recycled) = mpsc::channel();
        let state = Arc::new(WriterState::default());
        let task = WriterTask {
            config,
            clickhouse,
            consumer,
            progress,
            stop,
            insert_sql,
            dead_sql,
            recycle,
            state: Arc::clone(&state),
        };
        let handle = tokio::spawn(task.run(inbox));
        Ok((
            Writer {
                kind,
                batches,
                recycled,
                state,
            },
            handle,
        ))
    }

    /// Whether a batch handed now would be written at once: nothing in the writer, and the
    /// table's last insert at least `min_interval` ago.
    pub fn ready(&self, min_interval: Duration) -> bool {
        !self.state.busy.load(Ordering::Acquire)
            && self.batches.capacity() == self.batches.max_capacity()
            && self
                .state
                .last_insert
                .lock()
                .map(|t| t.is_none_or(|t| t.elapsed() >= min_interval))
                .unwrap_or(true)
    }

    /// Hands `batch` over, waiting while the writer still holds the previous one (the sink's
    /// backpressure: a writer that cannot insert stops the consumer). `false` when the writer
    /// is gone.
    pub fn hand_over(&self, batch: Batch, progress: &SinkProgress) -> bool {
        self.state.busy.store(true, Ordering::Release);
        match self.batches.try_send(batch) {
            Ok(()) => true,
            Err(TrySendError::Full(batch)) => {
                let started = Instant::now();
                let sent = self.batches.blocking_send(batch).is_ok();
                super::consume::add_elapsed(&progress.waited_for_writers_us, started);
                sent
            }
            Err(TrySendError::Closed(_)) => false,
        }
    }

    /// A cleared buffer to fill next (one of a written batch when there is one).
    pub fn buffer(&self, capacity: usize) -> Vec<u8> {
        self.recycled
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(capacity))
    }
}

struct WriterTask {
    config: Arc<SinkConfig>,
    clickhouse: clickhouse::Client,
    consumer: Arc<BaseConsumer<SinkContext>>,
    progress: Arc<SinkProgress>,
    stop: Arc<Stop>,
    insert_sql: String,
    dead_sql: String,
    recycle: mpsc::Sender<Vec<u8>>,
    state: Arc<WriterState>,
}

impl WriterTask {
    async fn run(self, mut inbox: Receiver<Batch>) {
        let mut grace_ends: Option<Instant> = None;
        // Once a batch is abandoned, the later ones are too: committing their offsets would
        // skip the abandoned rows.
        let mut abandoned_any = false;
        while let Some(batch) = inbox.recv().await {
            if abandoned_any {
                self.progress
                    .abandoned
                    .fetch_add(batch.len(), Ordering::Relaxed);
                continue;
            }
            self.state.busy.store(true, Ordering::Release);
            if self.stop.any() && grace_ends.is_none() {
                grace_ends = Some(Instant::now() + self.config.shutdown_grace);
            }
            if let Ok(mut last) = self.state.last_insert.lock() {
                *last = Some(Instant::now());
            }
            match self.write(batch, &mut grace_ends).await {
                Ok(rows) => {
                    let mut rows = rows;
                    rows.clear();
                    let _ = self.recycle.send(rows);
                }
                Err(abandoned) => {
                    abandoned_any = true;
                    self.progress
                        .abandoned
                        .fetch_add(abandoned, Ordering::Relaxed);
                }
            }
            self.state.busy.store(false, Ordering::Release);
        }
    }

    /// Writes the batch (dead letters, then rows), resending until ClickHouse acknowledges, then
    /// commits its offsets; gives its row buffer back. `Err(rows)` when shutdown's grace ran
    /// out first (nothing committed: the next run replays them).
    async fn write(&self, batch: Batch, grace_ends: &mut Option<Instant>) -> Result<Vec<u8>, u64> {
        let Batch {
            kind,
            topic,
            rows,
            row_count,
            dead,
            dead_count,
            offsets,
            ..
        } = batch;
        let capacity = rows.capacity();
        let dead = (dead_count > 0).then(|| Bytes::from(dead));
        let rows = (row_count > 0).then(|| Bytes::from(rows));
        let mut dead_done = dead.is_none();
        let mut backoff = self.config.retry_initial;
        let started = Instant::now();
        loop {
            let mut failure = None;
            if let Some(data) = dead.as_ref().filter(|_| !dead_done) {
                match rows::insert(
                    &self.clickhouse,
                    &self.dead_sql,
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
                    &self.clickhouse,
                    &self.insert_sql,
                    data.clone(),
                    self.config.insert_timeout,
                )
                .await
                .err();
            }
            let Some(error) = failure else { break };
            self.progress.retries.fetch_add(1, Ordering::Relaxed);
            self.progress.holding.store(true, Ordering::Relaxed);
            tracing::warn!(error = %error, %topic, rows = row_count, retry_in_ms = backoff.as_millis() as u64, "insert failed; holding and resending");
            if self.stop.any() && grace_ends.is_none() {
                *grace_ends = Some(Instant::now() + self.config.shutdown_grace);
            }
            if grace_ends.is_some_and(|end| Instant::now() + backoff > end) {
                self.progress.holding.store(false, Ordering::Relaxed);
                return Err(row_count + dead_count);
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(self.config.retry_max);
        }
        self.progress.holding.store(false, Ordering::Relaxed);
        tracing::debug!(
            %topic,
            rows = row_count,
            dead_letters = dead_count,
            bytes = rows.as_ref().map_or(0, Bytes::len),
            ms = started.elapsed().as_millis() as u64,
            "inserted"
        );
        self.progress.batches.fetch_add(1, Ordering::Relaxed);
        self.progress
            .record_insert(kind, started.elapsed(), row_count + dead_count);
        let counter = match kind {
            RowKind::Signals => &self.progress.signals,
            RowKind::Sessions => &self.progress.sessions,
        };
        counter.fetch_add(row_count, Ordering::Relaxed);
        self.progress
            .dead_letters
            .fetch_add(dead_count, Ordering::Relaxed);

        // Only now, with ClickHouse's acknowledgement, may Kafka forget these messages.
        let mut tpl = TopicPartitionList::with_capacity(offsets.len());
        for (&partition, &offset) in &offsets {
            if let Err(e) = tpl.add_partition_offset(&topic, partition, Offset::Offset(offset + 1))
            {
                tracing::warn!(error = %e, "cannot record an offset to commit");
            }
        }
        let mode = if self.stop.any() {
            CommitMode::Sync
        } else {
            CommitMode::Async
        };
        match self.consumer.commit(&tpl, mode) {
            Ok(()) => self
                .progress
                .last_commit_ms
                .store(crate::now_ms(), Ordering::Relaxed),
            Err(e) => {
                tracing::warn!(error = %e, %topic, "offset commit failed (the next run replays, without double counts)")
            }
        }
        // Once the insert released the bytes, their allocation is filled again (`Vec::from`
        // reuses it when this is the last reference).
        Ok(rows.map_or_else(|| Vec::with_capacity(capacity), Vec::from))
    }
}
