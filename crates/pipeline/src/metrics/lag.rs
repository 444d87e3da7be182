//! Consumer lag per partition: the partition's end − the consumer's position.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;
use rdkafka::Statistics;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};

/// How often librdkafka hands its statistics (and so the lag) to the consumer's context: the
/// `statistics.interval.ms` the aggregator and the sink set.
pub const STATISTICS_INTERVAL_MS: &str = "1000";

/// One partition's lag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    pub topic: String,
    pub partition: i32,
    /// Records between the consumer's position and the partition's end: its last stable
    /// offset for a `read_committed` consumer (transactions still open are not lag), else its
    /// high watermark.
    pub lag: i64,
}

/// The lag of the partitions a consumer holds, from librdkafka's statistics (what its last
/// fetches learned: no request of its own to the broker).
#[derive(Debug, Default)]
pub struct ConsumerLag {
    partitions: Mutex<Vec<PartitionLag>>,
    /// Partitions whose end the statistics did not carry (librdkafka reports a high watermark
    /// of -1 for the transactional sessions topic here), to ask the broker for.
    unknown_end: Mutex<Vec<(String, i32)>>,
    /// Their ends as the broker last answered [`probe_unknown_ends`](Self::probe_unknown_ends).
    probed_end: Mutex<HashMap<(String, i32), i64>>,
}

impl ConsumerLag {
    /// Takes the lag of every partition being fetched from `statistics`.
    pub fn record(&self, statistics: &Statistics, read_committed: bool) {
        let mut rows = Vec::new();
        let mut unknown = Vec::new();
        let probed = self
            .probed_end
            .lock()
            .map(|p| p.clone())
            .unwrap_or_default();
        for (name, topic) in &statistics.topics {
            for partition in topic.partitions.values() {
                // -1 is librdkafka's internal "unassigned" partition; only partitions being
                // fetched are held.
                if partition.partition < 0 || partition.fetch_state != "active" {
                    continue;
                }
                let mut end = if read_committed {
                    partition.ls_offset
                } else {
                    partition.hi_offset
                };
                if end < 0 {
                    let key = (name.clone(), partition.partition);
                    end = probed.get(&key).copied().unwrap_or(-1);
                    unknown.push(key);
                }
                // Before the first message the position is the committed offset.
                let position = if partition.app_offset >= 0 {
                    partition.app_offset
                } else {
                    partition.committed_offset
                };
                if end < 0 || position < 0 {
                    continue;
                }
                rows.push(PartitionLag {
                    topic: name.clone(),
                    partition: partition.partition,
                    lag: (end - position).max(0),
                });
            }
        }
        rows.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        if let Ok(mut partitions) = self.partitions.lock() {
            *partitions = rows;
        }
        if let Ok(mut unknown_end) = self.unknown_end.lock() {
            *unknown_end = unknown;
        }
    }

    /// Asks the broker for the high watermark of each partition whose end the statistics did
    /// not carry (blocking, up to a second each: call it from a thread of its own, not the
    /// consumer's loop). The next statistics use the answers.
    pub fn probe_unknown_ends<C: ConsumerContext>(&self, consumer: &BaseConsumer<C>) {
        let unknown = self
            .unknown_end
            .lock()
            .map(|u| u.clone())
            .unwrap_or_default();
        for (topic, partition) in unknown {
            if let Ok((_, high)) =
                consumer.fetch_watermarks(&topic, partition, Duration::from_secs(1))
                && let Ok(mut probed) = self.probed_end.lock()
            {
                probed.insert((topic, partition), high);
            }
        }
    }

    /// Forgets every partition (they were revoked).
    pub fn clear(&self) {
        if let Ok(mut partitions) = self.partitions.lock() {
            partitions.clear();
        }
    }

    /// The table now.
    pub fn partitions(&self) -> Vec<PartitionLag> {
        self.partitions
            .lock()
            .map(|p| p.clone())
            .unwrap_or_default()
    }

    /// Encodes `evbench_consumer_lag{group, topic, partition}`.
    pub(crate) fn encode(
        &self,
        encoder: &mut DescriptorEncoder<'_>,
        group: &str,
    ) -> std::fmt::Result {
        let mut family = encoder.encode_descriptor(
            "evbench_consumer_lag",
            "Records between the consumer's position and the partition's end (read_committed: \
             its last stable offset), per partition held.",
            None,
            MetricType::Gauge,
        )?;
        for row in self.partitions() {
            let partition = row.partition.to_string();
            let labels = [
                ("group", group),
                ("topic", row.topic.as_str()),
                ("partition", partition.as_str()),
            ];
            ConstGauge::new(row.lag).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}
