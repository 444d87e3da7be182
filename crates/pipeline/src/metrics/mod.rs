//! Prometheus metrics of the pipeline's processes, in the text exposition format (0.0.4) that
//! `prometheus-client` encodes.
//!
//! The hot paths count in the atomics they already keep ([`AggregateStats`],
//! [`SinkProgress`]); a scrape reads them through a [`Collector`], so metrics cost nothing per
//! record. Durations and batch sizes are `prometheus-client` histograms, observed once per
//! commit or insert. [`ConsumerLag`] comes from librdkafka's statistics, once a second: the
//! positions and partition ends its fetches learned, with no request of its own to the broker.
//!
//! Names, labels and units are listed in `docs/metrics.md`.
//!
//! [`AggregateStats`]: crate::aggregate::AggregateStats
//! [`SinkProgress`]: crate::sink::SinkProgress

mod http;
mod lag;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

pub use self::http::{MetricsServer, serve};
pub use self::lag::{ConsumerLag, PartitionLag, STATISTICS_INTERVAL_MS};

/// Buckets of a duration histogram, seconds: 0.5 ms to ~16 s, doubling.
pub fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// Buckets of a batch-size histogram, rows: 1 to ~500 k, quadrupling.
pub fn rows_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 4.0, 10))
}

/// A registry with the process's build information (`evbench_build_info`) and `collector`.
pub fn registry(component: &'static str, collector: impl Collector) -> Registry {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(BuildInfo { component }));
    registry.register_collector(Box::new(collector));
    registry
}

/// `evbench_build_info{component, version} 1`.
#[derive(Debug)]
struct BuildInfo {
    component: &'static str,
}

impl Collector for BuildInfo {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> std::fmt::Result {
        let labels = [
            ("component", self.component),
            ("version", env!("CARGO_PKG_VERSION")),
        ];
        let mut family = encoder.encode_descriptor(
            "evbench_build_info",
            "Which evbench process this is, and its version (always 1).",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(1i64).encode(family.encode_family(&labels)?)
    }
}

/// Encodes one counter (`name` without `_total`: the encoder adds it).
pub(crate) fn counter(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: u64,
) -> std::fmt::Result {
    ConstCounter::new(value).encode(encoder.encode_descriptor(
        name,
        help,
        None,
        MetricType::Counter,
    )?)
}

/// Encodes one counter per label value.
pub(crate) fn labelled_counters<'v>(
    encoder: &mut DescriptorEncoder<'_>,
    (name, help, label): (&str, &str, &str),
    values: impl IntoIterator<Item = (&'v str, u64)>,
) -> std::fmt::Result {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (value, count) in values {
        ConstCounter::new(count).encode(family.encode_family(&[(label, value)])?)?;
    }
    Ok(())
}

/// Encodes one gauge.
pub(crate) fn gauge(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: f64,
) -> std::fmt::Result {
    ConstGauge::new(value).encode(encoder.encode_descriptor(name, help, None, MetricType::Gauge)?)
}

/// Encodes a histogram per label value.
pub(crate) fn labelled_histograms<'h>(
    encoder: &mut DescriptorEncoder<'_>,
    (name, help, label): (&str, &str, &str),
    histograms: impl IntoIterator<Item = (&'h str, &'h Histogram)>,
) -> std::fmt::Result {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Histogram)?;
    for (value, histogram) in histograms {
        histogram.encode(family.encode_family(&[(label, value)])?)?;
    }
    Ok(())
}

/// Seconds since `epoch_ms` (0 when it is not set yet).
pub(crate) fn age_seconds(epoch_ms: i64) -> f64 {
    if epoch_ms <= 0 {
        return 0.0;
    }
    (crate::now_ms() - epoch_ms).max(0) as f64 / 1000.0
}
