//! Latency histograms and per-second timelines of a run.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Percentiles of one latency, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

/// A latency histogram: microsecond resolution, 3 significant digits, up to an hour.
#[derive(Debug, Clone)]
pub struct Latency {
    histogram: Histogram<u64>,
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            histogram: Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!())),
        }
    }
}

impl Latency {
    /// Records one latency; negative values (clock skew between hosts) count as zero.
    pub fn record_ms(&mut self, ms: f64) {
        let micros = (ms.max(0.0) * 1000.0).round() as u64;
        self.histogram.saturating_record(micros.max(1));
    }

    /// Adds another histogram's records.
    pub fn merge(&mut self, other: &Latency) {
        let _ = self.histogram.add(&other.histogram);
    }

    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// p50 … max in milliseconds (zeros when empty).
    pub fn percentiles(&self) -> Percentiles {
        if self.histogram.is_empty() {
            return Percentiles::default();
        }
        let at = |q: f64| self.histogram.value_at_quantile(q) as f64 / 1000.0;
        Percentiles {
            count: self.histogram.len(),
            mean: self.histogram.mean() / 1000.0,
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            p999: at(0.999),
            max: self.histogram.max() as f64 / 1000.0,
        }
    }

    /// The full percentile table (0 … 99.999 %), milliseconds, for reports.
    pub fn table(&self) -> Vec<(f64, f64)> {
        if self.histogram.is_empty() {
            return Vec::new();
        }
        [
            0.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.99, 99.999, 100.0,
        ]
        .iter()
        .map(|&p| (p, self.histogram.value_at_percentile(p) as f64 / 1000.0))
        .collect()
    }

    /// Counts per logarithmic bucket (bounds in ms), for the distribution chart.
    pub fn distribution(&self) -> Vec<(f64, u64)> {
        let mut buckets = Vec::new();
        if self.histogram.is_empty() {
            return buckets;
        }
        let mut upper_us = 100u64;
        let mut lower_us = 0u64;
        while lower_us <= self.histogram.max() {
            let count = self
                .histogram
                .count_between(lower_us, upper_us.saturating_sub(1).max(lower_us));
            buckets.push((upper_us as f64 / 1000.0, count));
            lower_us = upper_us;
            upper_us = upper_us.saturating_mul(2);
        }
        buckets
    }
}

/// What happened in one second of the run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Second {
    /// Seconds since the run's start.
    pub t: u64,
    pub events_produced: u64,
    pub sessions_observed: u64,
    pub session_latency: Percentiles,
    pub clickhouse_latency: Percentiles,
    /// How far the producer was behind its schedule (paced runs): the largest lag of the
    /// visits' last signals sent in this second, ms.
    pub producer_lag_ms: f64,
}

/// One second's counters while they are collected.
#[derive(Debug, Default)]
struct Slot {
    events: u64,
    sessions: u64,
    session_latency: Latency,
    clickhouse_latency: Latency,
    producer_lag_ms: f64,
}

/// Per-second counters and latencies over a run.
#[derive(Debug, Default)]
pub struct Timeline {
    seconds: BTreeMap<u64, Slot>,
}

impl Timeline {
    pub fn add_events(&mut self, second: u64, n: u64) {
        self.seconds.entry(second).or_default().events += n;
    }

    pub fn add_session(&mut self, second: u64, latency_ms: f64) {
        let slot = self.seconds.entry(second).or_default();
        slot.sessions += 1;
        slot.session_latency.record_ms(latency_ms);
    }

    pub fn add_clickhouse(&mut self, second: u64, latency_ms: f64) {
        self.seconds
            .entry(second)
            .or_default()
            .clickhouse_latency
            .record_ms(latency_ms);
    }

    /// The producer was `lag_ms` behind its schedule when it sent a signal in `second`.
    pub fn add_producer_lag(&mut self, second: u64, lag_ms: f64) {
        let slot = self.seconds.entry(second).or_default();
        slot.producer_lag_ms = slot.producer_lag_ms.max(lag_ms);
    }

    /// Every second from the first to the last, gaps filled with zeros.
    pub fn seconds(&self) -> Vec<Second> {
        let Some((&last, _)) = self.seconds.last_key_value() else {
            return Vec::new();
        };
        (0..=last)
            .map(|t| match self.seconds.get(&t) {
                Some(slot) => Second {
                    t,
                    events_produced: slot.events,
                    sessions_observed: slot.sessions,
                    session_latency: slot.session_latency.percentiles(),
                    clickhouse_latency: slot.clickhouse_latency.percentiles(),
                    producer_lag_ms: slot.producer_lag_ms,
                },
                None => Second {
                    t,
                    ..Second::default()
                },
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_sample() {
        let mut latency = Latency::default();
        for ms in 1..=1000 {
            latency.record_ms(f64::from(ms));
        }
        let p = latency.percentiles();
        assert_eq!(p.count, 1000);
        assert!((p.p50 - 500.0).abs() <= 1.0, "{p:?}");
        assert!((p.p99 - 990.0).abs() <= 1.0, "{p:?}");
        assert!((p.max - 1000.0).abs() <= 1.0, "{p:?}");
        let total: u64 = latency.distribution().iter().map(|(_, n)| n).sum();
        assert_eq!(total, 1000);
    }

    #[test]
    fn timeline_fills_gaps() {
        let mut timeline = Timeline::default();
        timeline.add_events(0, 5);
        timeline.add_session(2, 10.0);
        let seconds = timeline.seconds();
        assert_eq!(seconds.len(), 3);
        assert_eq!(seconds[1].events_produced, 0);
        assert_eq!(seconds[2].sessions_observed, 1);
    }
}
