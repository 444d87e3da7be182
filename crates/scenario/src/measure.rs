//! The run's figures: end-to-end throughput, and latency from the signal that completed a
//! visit to its session in `charging-sessions` and in ClickHouse, per second and overall.
//!
//! A latency starts when the producer handed the visit's last signal (its departure) to the
//! Kafka client, read from this machine's clock; it ends when the runner's `read_committed`
//! consumer received the session, or when a poll of ClickHouse first showed it. Any engine is
//! measured the same way: nothing is asked of it but the session itself.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use crate::load::TruthSession;
use crate::metrics::{Latency, Timeline};
use crate::observe::SeenSession;
use crate::report::{Latencies, LatencyDistributions, LatencyTables, Throughput};

/// The figures of a run.
#[derive(Debug)]
pub(crate) struct Measures {
    pub throughput: Throughput,
    pub latency_ms: Latencies,
    pub latency_tables: LatencyTables,
    pub latency_distribution: LatencyDistributions,
    pub timeline: Timeline,
    /// Wall seconds from the first signal to the drained pipeline.
    pub wall_s: f64,
}

/// What the figures are made of.
pub(crate) struct Inputs<'a> {
    pub truth: &'a [TruthSession],
    pub seen: &'a [SeenSession],
    /// Session id → when ClickHouse first showed it, epoch ms.
    pub visible: &'a HashMap<String, i64>,
    /// Signals sent in each second of the run.
    pub sent_per_second: &'a [u64],
    /// Epoch ms and instant of the run's start (the first signal).
    pub started_ms: i64,
    pub started: Instant,
    /// When the pipeline had drained (or the drain gave up).
    pub ended: Instant,
    pub signals: u64,
    pub producer_events_per_s: f64,
}

pub(crate) fn measure(inputs: &Inputs<'_>) -> Measures {
    let sent: HashMap<&str, i64> = inputs
        .truth
        .iter()
        .map(|t| (t.session.session_id.as_str(), t.sent.sent_ms))
        .collect();
    let mut timeline = Timeline::default();
    for (second, n) in inputs.sent_per_second.iter().enumerate() {
        timeline.add_events(second as u64, *n);
    }
    let second_of = |ms: i64| u64::try_from(ms - inputs.started_ms).unwrap_or(0) / 1000;
    let mut to_topic = Latency::default();
    let mut first_seen = HashSet::new();
    for seen in inputs.seen {
        let id = seen.session.session_id.as_str();
        // One sample per session: its first arrival (a duplicate is a correctness finding,
        // not a latency).
        let (Some(&sent_ms), true) = (sent.get(id), first_seen.insert(id)) else {
            continue;
        };
        let ms = (seen.received_ms - sent_ms) as f64;
        to_topic.record_ms(ms);
        timeline.add_session(second_of(seen.received_ms), ms);
    }
    let mut to_clickhouse = Latency::default();
    for (id, &visible_ms) in inputs.visible {
        if let Some(&sent_ms) = sent.get(id.as_str()) {
            let ms = (visible_ms - sent_ms) as f64;
            to_clickhouse.record_ms(ms);
            timeline.add_clickhouse(second_of(visible_ms), ms);
        }
    }
    let wall_s = inputs
        .ended
        .saturating_duration_since(inputs.started)
        .as_secs_f64()
        .max(1e-9);
    Measures {
        throughput: Throughput {
            events_per_s: inputs.signals as f64 / wall_s,
            sessions_per_s: inputs.truth.len() as f64 / wall_s,
            produce_events_per_s: inputs.producer_events_per_s,
        },
        latency_ms: Latencies {
            event_to_session_topic: to_topic.percentiles(),
            event_to_clickhouse: to_clickhouse.percentiles(),
        },
        latency_tables: LatencyTables {
            event_to_session_topic: to_topic.table(),
            event_to_clickhouse: to_clickhouse.table(),
        },
        latency_distribution: LatencyDistributions {
            event_to_session_topic: to_topic.distribution(),
            event_to_clickhouse: to_clickhouse.distribution(),
        },
        timeline,
        wall_s,
    }
}
