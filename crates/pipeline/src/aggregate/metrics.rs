//! The aggregator's Prometheus metrics, read from [`AggregateStats`] at each scrape.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aggregator::DeadLetterClass;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;

use super::AggregateStats;
use crate::metrics::{age_seconds, counter, gauge, labelled_counters};

/// What `evbench aggregate --metrics-addr` serves (names in `docs/metrics.md`).
#[derive(Debug)]
pub struct AggregateMetrics {
    /// The consumer group (the lag's `group` label).
    pub group: String,
    pub stats: Arc<AggregateStats>,
}

impl Collector for AggregateMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> std::fmt::Result {
        let s = &self.stats;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let e = &mut encoder;
        counter(
            e,
            "evbench_aggregator_records_consumed",
            "Signals consumed from the input topic (replays included).",
            load(&s.signals),
        )?;
        counter(
            e,
            "evbench_aggregator_sessions_produced",
            "Sessions produced to the sessions topic.",
            load(&s.sessions),
        )?;
        labelled_counters(
            e,
            (
                "evbench_aggregator_dead_letters",
                "Signals dead-lettered, by reason.",
                "reason",
            ),
            DeadLetterClass::ALL.iter().map(|&class| {
                (
                    class.as_str(),
                    load(&s.dead_letters_by_class[class as usize]),
                )
            }),
        )?;
        counter(
            e,
            "evbench_aggregator_replayed_outputs_suppressed",
            "Outputs of a replay that had been produced before (not produced again).",
            load(&s.suppressed),
        )?;
        counter(
            e,
            "evbench_aggregator_commits",
            "Transactions (or, without them, offset commits) that went through.",
            load(&s.transactions),
        )?;
        s.commit_seconds.encode(e.encode_descriptor(
            "evbench_aggregator_commit_duration_seconds",
            "How long a commit took: sending the offsets and committing the transaction.",
            None,
            MetricType::Histogram,
        )?)?;
        gauge(
            e,
            "evbench_aggregator_last_commit_age_seconds",
            "Seconds since the last commit went through (0 before the first).",
            age_seconds(s.last_commit_ms.load(Ordering::Relaxed)),
        )?;
        counter(
            e,
            "evbench_aggregator_rebalances",
            "Times the input partitions moved between instances.",
            load(&s.rebalances),
        )?;
        counter(
            e,
            "evbench_aggregator_state_rebuilds",
            "Times the state was rebuilt from the committed offsets (rebalances, failed commits).",
            load(&s.rebuilds),
        )?;
        gauge(
            e,
            "evbench_aggregator_open_visits",
            "Visits open or held for late signals, at the last commit.",
            load(&s.open_visits) as f64,
        )?;
        gauge(
            e,
            "evbench_aggregator_assigned_partitions",
            "Input partitions this instance holds.",
            load(&s.assigned_partitions) as f64,
        )?;
        s.lag.encode(e, &self.group)
    }
}
