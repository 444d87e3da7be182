//! The sink's Prometheus metrics, read from [`SinkProgress`] at each scrape.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use schema::rows::RowKind;

use super::SinkProgress;
use crate::metrics::{age_seconds, counter, gauge, labelled_counters, labelled_histograms};

/// The `table` label of each lane, in lane order.
const TABLES: [&str; 2] = ["signals", "sessions"];

/// Index of `kind`'s lane in the per-table histograms.
pub(super) fn lane(kind: RowKind) -> usize {
    match kind {
        RowKind::Signals => 0,
        RowKind::Sessions => 1,
    }
}

/// What `evbench sink --metrics-addr` serves (names in `docs/metrics.md`).
#[derive(Debug)]
pub struct SinkMetrics {
    /// The consumer group (the lag's `group` label).
    pub group: String,
    pub progress: Arc<SinkProgress>,
}

impl Collector for SinkMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> std::fmt::Result {
        let p = &self.progress;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let e = &mut encoder;
        counter(
            e,
            "evbench_sink_records_consumed",
            "Records consumed from the signals and sessions topics (replays included).",
            load(&p.messages),
        )?;
        labelled_counters(
            e,
            (
                "evbench_sink_rows_inserted",
                "Rows ClickHouse acknowledged, by table.",
                "table",
            ),
            [
                ("signals", load(&p.signals)),
                ("sessions", load(&p.sessions)),
                ("dead_letters", load(&p.dead_letters)),
            ],
        )?;
        labelled_histograms(
            e,
            (
                "evbench_sink_insert_duration_seconds",
                "How long an insert took until ClickHouse acknowledged it (resends included).",
                "table",
            ),
            TABLES.iter().copied().zip(p.insert_seconds.iter()),
        )?;
        labelled_histograms(
            e,
            (
                "evbench_sink_batch_rows",
                "Rows per insert (dead letters included).",
                "table",
            ),
            TABLES.iter().copied().zip(p.batch_rows.iter()),
        )?;
        counter(
            e,
            "evbench_sink_insert_retries",
            "Inserts that failed and were sent again.",
            load(&p.retries),
        )?;
        gauge(
            e,
            "evbench_sink_holding",
            "1 while the sink holds a batch ClickHouse refused, resending it; else 0.",
            if p.holding.load(Ordering::Relaxed) {
                1.0
            } else {
                0.0
            },
        )?;
        gauge(
            e,
            "evbench_sink_last_commit_age_seconds",
            "Seconds since the sink last committed offsets (0 before the first).",
            age_seconds(p.last_commit_ms.load(Ordering::Relaxed)),
        )?;
        counter(
            e,
            "evbench_sink_rebalances",
            "Times partitions were assigned to this sink.",
            load(&p.rebalances),
        )?;
        gauge(
            e,
            "evbench_sink_assigned_partitions",
            "Partitions (of both topics) this sink holds.",
            load(&p.assigned_partitions) as f64,
        )?;
        p.lag.encode(e, &self.group)
    }
}
