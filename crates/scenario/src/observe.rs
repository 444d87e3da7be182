//! What the runner watches while the pipeline works: the output topics through `read_committed`
//! consumers of its own (what any downstream consumer would see, exactly once or not), and
//! ClickHouse, polled for the moment each session becomes queryable.
//!
//! Times are this machine's wall clock (`SystemTime`), like the producer's send times, so no
//! clocks of different hosts are compared.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use events::Session;
use pipeline::aggregate::{REASON_HEADER, SOURCE_HEADER};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{BorrowedMessage, Headers};
use rdkafka::{Message, Offset, TopicPartitionList};
use schema::Schema;

use crate::metrics::Latency;
use crate::{Error, Result};

/// Milliseconds since the epoch, now.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A session read from `charging-sessions`, and when.
#[derive(Debug, Clone)]
pub(crate) struct SeenSession {
    pub session: Session,
    pub received_ms: i64,
}

/// A record read from the dead-letter topic.
#[derive(Debug, Clone)]
pub(crate) struct SeenDeadLetter {
    pub reason: String,
    /// `partition/offset` of the refused record in the signals topic.
    pub source: String,
}

/// How long [`TopicObserver::finish`] reads on towards the topic's end.
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
pub(crate) struct TopicObserver<T> {
    stop: Arc<AtomicBool>,
    distinct: Arc<AtomicU64>,
    handle: JoinHandle<Vec<T>>,
}

impl<T: Send + 'static> TopicObserver<T> {
    /// `key` names what makes two kept items the same (a session id), for [`distinct`](Self::distinct).
    /// `fetch_wait` bounds how long the broker holds a fetch when nothing is there: short where
    /// arrival times are measured (that wait would count as latency), longer elsewhere (every
    /// fetch costs the broker CPU).
    pub fn start(
        bootstrap: &str,
        topic: &str,
        fetch_wait: Duration,
        mut keep: impl FnMut(&BorrowedMessage<'_>, i64) -> Option<T> + Send + 'static,
        key: fn(&T) -> &str,
    ) -> Result<TopicObserver<T>> {
        let consumer: BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", format!("evbench-run-observer-{topic}"))
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
            .map_err(|e| Error::io("start an observer thread", e))?;
        Ok(TopicObserver {
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

/// Watches `charging-sessions`: every session that decodes, with when it arrived.
pub(crate) fn sessions(bootstrap: &str, topic: &str) -> Result<TopicObserver<SeenSession>> {
    TopicObserver::start(
        bootstrap,
        topic,
        Duration::from_millis(5),
        |message, received_ms| {
            let session = serde_json::from_slice::<Session>(message.payload()?).ok()?;
            Some(SeenSession {
                session,
                received_ms,
            })
        },
        |seen| &seen.session.session_id,
    )
}

/// Watches the dead-letter topic: every record with its reason and source.
pub(crate) fn dead_letters(bootstrap: &str, topic: &str) -> Result<TopicObserver<SeenDeadLetter>> {
    TopicObserver::start(
        bootstrap,
        topic,
        Duration::from_millis(200),
        |message, _| {
            let header = |name: &str| {
                message
                    .headers()
                    .and_then(|h| h.iter().find(|h| h.key == name))
                    .and_then(|h| h.value)
                    .map(|v| String::from_utf8_lossy(v).into_owned())
                    .unwrap_or_default()
            };
            Some(SeenDeadLetter {
                reason: header(REASON_HEADER),
                source: header(SOURCE_HEADER),
            })
        },
        |dead| &dead.source,
    )
}

/// Polls the sessions table and notes when each session first became visible.
pub(crate) struct VisibilityPoller {
    seen: Arc<Mutex<HashMap<String, i64>>>,
    gaps: Arc<Mutex<Latency>>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

/// How often ClickHouse is asked (from one query's start to the next's): the bound of the
/// observation error while each query answers within it (the gaps as they really were are in
/// the report). Each poll is a query the server under test answers; 100 a second cost it a few
/// percent of a core.
pub(crate) const VISIBILITY_POLL: Duration = Duration::from_millis(10);

impl VisibilityPoller {
    pub fn start(client: clickhouse::Client, schema: Schema) -> VisibilityPoller {
        let seen = Arc::new(Mutex::new(HashMap::new()));
        let gaps = Arc::new(Mutex::new(Latency::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(poll_visibility(
            client,
            schema,
            Arc::clone(&seen),
            Arc::clone(&gaps),
            Arc::clone(&stop),
        ));
        VisibilityPoller {
            seen,
            gaps,
            stop,
            task,
        }
    }

    /// Stops polling; session id → first seen, epoch ms, and the gaps between polls.
    pub async fn finish(self) -> (HashMap<String, i64>, Latency) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
        let seen = self.seen.lock().map(|s| s.clone()).unwrap_or_default();
        let gaps = self.gaps.lock().map(|g| g.clone()).unwrap_or_default();
        (seen, gaps)
    }
}

/// Only rows ingested in the last few seconds are read (`ingested_at` is filled by the server
/// at insert), so a poll costs the same at the end of a long run as at its start.
async fn poll_visibility(
    client: clickhouse::Client,
    schema: Schema,
    seen: Arc<Mutex<HashMap<String, i64>>>,
    gaps: Arc<Mutex<Latency>>,
    stop: Arc<AtomicBool>,
) {
    let mut known: HashSet<String> = HashSet::new();
    let mut since_s = now_ms() / 1000 - 5;
    let mut previous_send: Option<i64> = None;
    let mut ticks = tokio::time::interval(VISIBILITY_POLL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !stop.load(Ordering::Relaxed) {
        ticks.tick().await;
        let sql = schema::store::sessions_ingested_since_sql(&schema, since_s);
        // A session the query returns was visible when the query was sent (the server reads
        // the parts there were then): the send time is its end, so that the query's own
        // duration is not counted; it was not visible at the previous send, one poll earlier.
        let sent_ms = now_ms();
        if let Some(previous) = previous_send
            && let Ok(mut gaps) = gaps.lock()
        {
            gaps.record_ms((sent_ms - previous) as f64);
        }
        previous_send = Some(sent_ms);
        let polled_s = sent_ms / 1000;
        if let Ok(ids) = client.query(&sql).fetch_all::<String>().await {
            let visible_ms = sent_ms;
            // Rows of the last two seconds are read again next time: `ingested_at` has whole
            // seconds, and a slow insert may land with an earlier second than a fast one.
            since_s = polled_s - 2;
            let fresh: Vec<String> = ids
                .into_iter()
                .filter(|id| known.insert(id.clone()))
                .collect();
            if let Ok(mut seen) = seen.lock() {
                for id in fresh {
                    seen.entry(id).or_insert(visible_ms);
                }
            }
        }
    }
}
