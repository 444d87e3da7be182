//! Reading a topic as any downstream consumer would: `read_committed`, every partition from its
//! beginning, on a thread of its own, until asked to stop (and then on to the topic's end as it
//! was, so that what was committed just before is not left unread). The scenario runner's
//! observers of `charging-sessions` and the dead-letter topic are these.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::BorrowedMessage;
use rdkafka::{Offset, TopicPartitionList};

use crate::{Error, Result, now_ms};

/// What the observers' consumer groups start with (a secured Kafka grants them by it).
pub const OBSERVER_GROUP_PREFIX: &str = "evbench-run-observer";

/// How long [`TopicReader::finish`] reads on towards the topic's end.
const READ_TO_END_AT_MOST: Duration = Duration::from_secs(15);

/// Each partition's end (high watermark) now; a partition whose end cannot be read is left out.
fn ends(consumer: &BaseConsumer, topic: &str) -> Vec<(i32, i64)> {
    let Ok(assignment) = consumer.assignment() else {
        return Vec::new();
    };
    assignment
        .elements()
        .iter()
        .filter_map(|e| {
            let (_, high) = consumer
                .fetch_watermarks(topic, e.partition(), Duration::from_secs(5))
                .ok()?;
            Some((e.partition(), high))
        })
        .collect()
}

/// Whether the consumer's position is at or past `ends` in every partition. Under
/// `read_committed` the position moves past transaction markers and aborted records too, so it
/// reaches the high watermark once no transaction is left open.
fn reached(consumer: &BaseConsumer, topic: &str, ends: &[(i32, i64)]) -> bool {
    let Ok(position) = consumer.position() else {
        return false;
    };
    ends.iter().all(|&(partition, end)| {
        end == 0
            || matches!(
                position.find_partition(topic, partition).map(|e| e.offset()),
                Some(Offset::Offset(at)) if at >= end
            )
    })
}

/// A `read_committed` consumer of every partition of one topic, from its beginning, on a
/// thread of its own, keeping what `keep` makes of each message.
#[derive(Debug)]
pub struct TopicReader<T> {
    stop: Arc<AtomicBool>,
    distinct: Arc<AtomicU64>,
    handle: JoinHandle<Vec<T>>,
}

impl<T: Send + 'static> TopicReader<T> {
    /// `key` names what makes two kept items the same (a session id), for [`distinct`](Self::distinct).
    /// `fetch_wait` bounds how long the broker holds a fetch when nothing is there: short where
    /// arrival times are measured (that wait would count as latency), longer elsewhere (every
    /// fetch costs the broker CPU).
    pub fn start(
        kafka: &endpoints::KafkaEndpoint,
        topic: &str,
        fetch_wait: Duration,
        mut keep: impl FnMut(&BorrowedMessage<'_>, i64) -> Option<T> + Send + 'static,
        key: fn(&T) -> &str,
    ) -> Result<TopicReader<T>> {
        let consumer: BaseConsumer = kafka
            .client_config()
            .set("group.id", format!("{OBSERVER_GROUP_PREFIX}-{topic}"))
            .set("isolation.level", "read_committed")
            .set("enable.auto.commit", "false")
            .set("fetch.wait.max.ms", fetch_wait.as_millis().to_string())
            // librdkafka pauses fetching for 1 s (the default) whenever 100k messages wait in
            // its queue: under a backlog the observer would add that pause to latencies.
            .set("fetch.queue.backoff.ms", "10")
            .set("log_level", "3")
            .create()?;
        let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
        let mut assignment = TopicPartitionList::new();
        for t in metadata.topics() {
            for p in t.partitions() {
                assignment.add_partition_offset(topic, p.id(), Offset::Beginning)?;
            }
        }
        consumer.assign(&assignment)?;
        let stop = Arc::new(AtomicBool::new(false));
        let distinct = Arc::new(AtomicU64::new(0));
        let (stop_flag, distinct_counter) = (Arc::clone(&stop), Arc::clone(&distinct));
        let topic = topic.to_owned();
        let handle = std::thread::Builder::new()
            .name(format!("observe-{topic}"))
            .spawn(move || {
                let mut kept = Vec::new();
                let mut keys = HashSet::new();
                let mut end: Option<(Instant, Vec<(i32, i64)>)> = None;
                loop {
                    if end.is_none() && stop_flag.load(Ordering::Relaxed) {
                        // Asked to stop: read on to the topic's end as it is now, so that what
                        // was committed just before (or while a restarted broker made this
                        // consumer reconnect) is not left unread.
                        end = Some((
                            Instant::now() + READ_TO_END_AT_MOST,
                            ends(&consumer, &topic),
                        ));
                    }
                    if let Some((deadline, ends)) = &end {
                        if reached(&consumer, &topic, ends) {
                            break;
                        }
                        if Instant::now() > *deadline {
                            tracing::warn!(%topic, "observer stopped before the topic's end");
                            break;
                        }
                    }
                    let Some(Ok(message)) = consumer.poll(Duration::from_millis(20)) else {
                        continue;
                    };
                    if let Some(item) = keep(&message, now_ms()) {
                        if keys.insert(key(&item).to_owned()) {
                            distinct_counter.fetch_add(1, Ordering::Relaxed);
                        }
                        kept.push(item);
                    }
                }
                kept
            })
            .map_err(|source| Error::Io {
                context: "cannot start an observer thread".into(),
                source,
            })?;
        Ok(TopicReader {
            stop,
            distinct,
            handle,
        })
    }

    /// How many different keys the kept messages have.
    pub fn distinct(&self) -> u64 {
        self.distinct.load(Ordering::Relaxed)
    }

    /// Stops the consumer, once it has read up to the topic's end as it was when asked (at most
    /// [`READ_TO_END_AT_MOST`]), and hands over what it kept.
    pub fn finish(self) -> Vec<T> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or_default()
    }
}
