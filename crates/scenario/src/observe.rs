//! What the runner watches while the pipeline works: the output topics through `read_committed`
//! consumers of its own (what any downstream consumer would see, exactly once or not), and
//! ClickHouse, polled for the moment each session becomes queryable.
//!
//! Times are this machine's wall clock (`SystemTime`), like the producer's send times, so no
//! clocks of different hosts are compared.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use events::Session;
use pipeline::aggregate::{REASON_HEADER, SOURCE_HEADER};
use rdkafka::Message;
use rdkafka::message::Headers;
use schema::Schema;

pub(crate) use pipeline::now_ms;
pub(crate) use pipeline::observe::TopicReader as TopicObserver;

use crate::Result;
use crate::metrics::Latency;

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

/// Watches `charging-sessions`: every session that decodes, with when it arrived.
pub(crate) fn sessions(
    kafka: &endpoints::KafkaEndpoint,
    topic: &str,
) -> Result<TopicObserver<SeenSession>> {
    Ok(TopicObserver::start(
        kafka,
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
    )?)
}

/// Watches the dead-letter topic: every record with its reason and source.
pub(crate) fn dead_letters(
    kafka: &endpoints::KafkaEndpoint,
    topic: &str,
) -> Result<TopicObserver<SeenDeadLetter>> {
    Ok(TopicObserver::start(
        kafka,
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
    )?)
}

/// Polls the sessions table and notes when each session first became visible.
pub(crate) struct VisibilityPoller {
    seen: Arc<Mutex<HashMap<String, i64>>>,
    gaps: Arc<Mutex<Latency>>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl VisibilityPoller {
    /// Polls every `every`; with `None`, not at all (nothing is seen).
    pub fn start(
        client: clickhouse::Client,
        schema: Schema,
        every: Option<Duration>,
    ) -> VisibilityPoller {
        let seen = Arc::new(Mutex::new(HashMap::new()));
        let gaps = Arc::new(Mutex::new(Latency::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let task = match every {
            Some(every) => tokio::spawn(poll_visibility(
                client,
                schema,
                every,
                Arc::clone(&seen),
                Arc::clone(&gaps),
                Arc::clone(&stop),
            )),
            None => tokio::spawn(async {}),
        };
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
    every: Duration,
    seen: Arc<Mutex<HashMap<String, i64>>>,
    gaps: Arc<Mutex<Latency>>,
    stop: Arc<AtomicBool>,
) {
    let mut known: HashSet<String> = HashSet::new();
    let mut since_s = now_ms() / 1000 - 5;
    let mut previous_send: Option<i64> = None;
    // The interval is the bound of the observation error while each query answers within it
    // (the gaps as they really were are in the report).
    let mut ticks = tokio::time::interval(every);
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
