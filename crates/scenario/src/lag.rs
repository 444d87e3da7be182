//! Consumer lag of the pipeline's own processes during a run: their metrics endpoints
//! (`--metrics-addr`, `docs/metrics.md`) scraped every second.
//!
//! evbench's aggregator and sink serve `evbench_consumer_lag`; the Flink engine's Prometheus
//! reporter serves its Kafka source's `pendingRecords`. With another engine (Kafka Streams, a
//! command) or the Kafka-engine ingestion, the lag of that part is not measured and says so.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How often the endpoints are scraped.
const EVERY: Duration = Duration::from_secs(1);

/// A process to scrape: its name in the report (`aggregator-0`, `sink-0`) and `host:port`.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub name: String,
    pub addr: String,
}

/// One partition's lag as a scrape saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PartitionLag {
    pub topic: String,
    pub partition: String,
    pub lag: i64,
}

/// One second of one process: the largest and the summed lag over its partitions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LagPoint {
    /// Seconds since the load started (negative: before it).
    pub t: f64,
    pub max: i64,
    pub sum: i64,
}

/// The consumer lag of a run, per process (`report.json`'s `consumer_lag`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConsumerLag {
    /// Per process, one point per second it answered.
    pub per_second: BTreeMap<String, Vec<LagPoint>>,
    /// Its summed lag at the last scrape after the drain (absent: never measured).
    pub at_end: BTreeMap<String, i64>,
    /// The parts whose lag is not measured (no metrics endpoint), with why.
    pub not_measured: Vec<String>,
}

#[derive(Debug, Default)]
struct Seen {
    /// (epoch ms, process, its partitions).
    samples: Vec<(i64, String, Vec<PartitionLag>)>,
    /// The last answer of each process.
    latest: BTreeMap<String, Vec<PartitionLag>>,
}

/// Scrapes the targets every second until finished.
#[derive(Debug)]
pub(crate) struct LagWatcher {
    seen: Arc<Mutex<Seen>>,
    task: tokio::task::JoinHandle<()>,
    not_measured: Vec<String>,
}

impl LagWatcher {
    pub fn start(targets: Vec<Target>, not_measured: Vec<String>) -> LagWatcher {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let shared = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                for target in &targets {
                    // A process being restarted (a fault) does not answer: a gap, not an error.
                    let Some(partitions) = scrape(&target.addr).await else {
                        continue;
                    };
                    if let Ok(mut seen) = shared.lock() {
                        seen.samples.push((
                            crate::observe::now_ms(),
                            target.name.clone(),
                            partitions.clone(),
                        ));
                        seen.latest.insert(target.name.clone(), partitions);
                    }
                }
            }
        });
        LagWatcher {
            seen,
            task,
            not_measured,
        }
    }

    /// Partitions still behind at the last scrape of each process (empty: none), or `None`
    /// before every process answered once.
    pub fn behind(&self, processes: usize) -> Option<Vec<(String, PartitionLag)>> {
        let seen = self.seen.lock().ok()?;
        if seen.latest.len() < processes {
            return None;
        }
        Some(
            seen.latest
                .iter()
                .flat_map(|(name, partitions)| {
                    partitions
                        .iter()
                        .filter(|p| p.lag > 0)
                        .map(|p| (name.clone(), p.clone()))
                })
                .collect(),
        )
    }

    /// Stops scraping; the lag per second, relative to `load_started_ms`.
    pub fn finish(self, load_started_ms: i64) -> ConsumerLag {
        self.task.abort();
        let seen = std::mem::take(&mut *self.seen.lock().unwrap_or_else(|p| p.into_inner()));
        let mut lag = ConsumerLag {
            not_measured: self.not_measured,
            ..ConsumerLag::default()
        };
        for (at_ms, name, partitions) in seen.samples {
            lag.per_second.entry(name).or_default().push(LagPoint {
                t: (at_ms - load_started_ms) as f64 / 1000.0,
                max: partitions.iter().map(|p| p.lag).max().unwrap_or(0),
                sum: partitions.iter().map(|p| p.lag).sum(),
            });
        }
        for (name, partitions) in seen.latest {
            lag.at_end
                .insert(name, partitions.iter().map(|p| p.lag).sum());
        }
        lag
    }
}

/// `GET /metrics` on `addr`, the `evbench_consumer_lag` samples of the answer.
async fn scrape(addr: &str) -> Option<Vec<PartitionLag>> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        stream
            .write_all(
                format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await
            .ok()?;
        let mut response = Vec::with_capacity(16 * 1024);
        stream.read_to_end(&mut response).await.ok()?;
        Some(response)
    };
    let response = tokio::time::timeout(Duration::from_secs(2), exchange)
        .await
        .ok()??;
    let text = String::from_utf8(response).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    if !head.starts_with("HTTP/1.1 200") {
        return None;
    }
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return Some(lag_samples(&harness::prometheus::dechunk(body)));
    }
    Some(lag_samples(body))
}

/// The lag lines of a text exposition: evbench's `evbench_consumer_lag{group,topic,partition}`,
/// and the Flink engine's `pendingRecords` of its Kafka source, one per subtask (Flink's
/// standard source metric: records not yet read from the partitions the subtask reads).
fn lag_samples(body: &str) -> Vec<PartitionLag> {
    body.lines()
        .filter_map(|line| {
            let (evbench, labels) = if let Some(rest) = line.strip_prefix("evbench_consumer_lag{") {
                (true, rest)
            } else {
                (
                    false,
                    line.strip_prefix("flink_taskmanager_job_task_operator_pendingRecords{")?,
                )
            };
            let (labels, value) = labels.rsplit_once("} ")?;
            let label = |key: &str| {
                labels.split(',').find_map(|pair| {
                    let (k, v) = pair.split_once('=')?;
                    (k == key).then(|| v.trim_matches('"').to_owned())
                })
            };
            let (topic, partition) = if evbench {
                (label("topic")?, label("partition")?)
            } else {
                (
                    label("operator_name")?,
                    format!("subtask {}", label("subtask_index")?),
                )
            };
            Some(PartitionLag {
                topic,
                partition,
                lag: value.trim().parse::<f64>().ok()? as i64,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_lag_lines_of_an_exposition() {
        let body = "# HELP evbench_consumer_lag Records …\n# TYPE evbench_consumer_lag gauge\n\
            evbench_consumer_lag{group=\"g\",topic=\"charger-station-signals\",partition=\"3\"} 42\n\
            evbench_consumer_lag{group=\"g\",topic=\"charging-sessions\",partition=\"0\"} 0\n\
            evbench_sink_holding 0\n\
            flink_taskmanager_job_task_operator_pendingRecords{job_id=\"6d\",operator_name=\"Source:_signals\",subtask_index=\"1\",} 7.0\n\
            flink_taskmanager_job_task_operator_watermarkLag{subtask_index=\"1\",} 2.9E10\n";
        assert_eq!(
            lag_samples(body),
            vec![
                PartitionLag {
                    topic: "charger-station-signals".into(),
                    partition: "3".into(),
                    lag: 42
                },
                PartitionLag {
                    topic: "charging-sessions".into(),
                    partition: "0".into(),
                    lag: 0
                },
                PartitionLag {
                    topic: "Source:_signals".into(),
                    partition: "subtask 1".into(),
                    lag: 7
                },
            ]
        );
    }
}
