//! The run's figures: end-to-end throughput, and latency from the signal that completed a
//! visit to its session in `charging-sessions` and in ClickHouse, per second and overall.
//!
//! A latency starts when the visit's last signal (its departure) was **due** by the pacer's
//! schedule (`latency_basis = "intended"`), so that a producer falling behind its schedule
//! cannot hide the delay users would see (coordinated omission); unpaced runs have no
//! schedule and start at the moment the signal was handed to the Kafka client
//! (`latency_basis = "sent"`: their latencies include queueing behind the backlog). The
//! figures from the send time are reported beside (`latency_from_sent_ms`). A latency ends
//! when the runner's `read_committed` consumer received the session, or when a poll of
//! ClickHouse first showed it. Any engine is measured the same way: nothing is asked of it but
//! the session itself. Sessions completed during the warm-up are in the timeline, not in the
//! figures.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::load::TruthSession;
use crate::metrics::{Latency, Percentiles, Timeline};
use crate::observe::SeenSession;
use crate::report::{Latencies, LatencyDistributions, LatencyTables, Throughput};

/// Where a latency starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LatencyBasis {
    /// When the signal was due by the pacer's schedule (paced runs).
    Intended,
    /// When the signal was handed to the Kafka client (unpaced runs: queueing included).
    Sent,
}

/// How the latencies were taken (`report.latency_method`).
#[derive(Debug, Clone, Serialize)]
pub struct LatencyMethod {
    pub basis: LatencyBasis,
    /// What the basis means for these figures, in a sentence.
    pub note: String,
    /// Sessions whose last signal was due in the first `warmup_s` are left out of the figures.
    pub warmup_s: f64,
    pub sessions_in_warmup: u64,
    /// How often ClickHouse was polled for new sessions, and the gaps between two polls' sends
    /// as they really were: a session's ClickHouse latency is late by at most that gap.
    pub clickhouse_poll_interval_ms: f64,
    pub clickhouse_poll_gap_ms: Percentiles,
}

/// The figures of a run.
#[derive(Debug)]
pub(crate) struct Measures {
    pub throughput: Throughput,
    pub latency_ms: Latencies,
    /// The same latencies from the moment each signal was handed to the client.
    pub latency_from_sent_ms: Latencies,
    pub latency_method: LatencyMethod,
    /// How far behind its schedule the producer sent the visits' last signals (paced runs).
    pub producer_lag_ms: Percentiles,
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
    /// Sessions completed in this first stretch of the load are not in the figures.
    pub warmup: Duration,
    /// Gaps between the ClickHouse visibility polls' sends.
    pub poll_gaps: &'a Latency,
    /// How often ClickHouse was polled; `None`: not at all.
    pub clickhouse_poll: Option<Duration>,
}

pub(crate) fn measure(inputs: &Inputs<'_>) -> Measures {
    let paced = inputs.truth.iter().any(|t| t.sent.intended_ms.is_some());
    let basis = if paced {
        LatencyBasis::Intended
    } else {
        LatencyBasis::Sent
    };
    let warmup_ends_ms = inputs.started_ms + i64::try_from(inputs.warmup.as_millis()).unwrap_or(0);
    // Session id → (start by the basis, send time, whether it counts in the figures).
    let mut starts: HashMap<&str, (i64, i64, bool)> = HashMap::with_capacity(inputs.truth.len());
    let mut producer_lag = Latency::default();
    let mut timeline = Timeline::default();
    let second_of = |ms: i64| u64::try_from(ms - inputs.started_ms).unwrap_or(0) / 1000;
    let mut sessions_in_warmup = 0;
    for t in inputs.truth {
        let start = t.sent.intended_ms.unwrap_or(t.sent.sent_ms);
        let counted = start >= warmup_ends_ms;
        sessions_in_warmup += u64::from(!counted);
        if let Some(intended) = t.sent.intended_ms {
            let lag = (t.sent.sent_ms - intended) as f64;
            timeline.add_producer_lag(second_of(t.sent.sent_ms), lag);
            if counted {
                producer_lag.record_ms(lag);
            }
        }
        starts.insert(
            t.session.session_id.as_str(),
            (start, t.sent.sent_ms, counted),
        );
    }
    for (second, n) in inputs.sent_per_second.iter().enumerate() {
        timeline.add_events(second as u64, *n);
    }
    let (mut to_topic, mut to_topic_sent) = (Latency::default(), Latency::default());
    let mut first_seen = HashSet::new();
    for seen in inputs.seen {
        let id = seen.session.session_id.as_str();
        // One sample per session: its first arrival (a duplicate is a correctness finding,
        // not a latency).
        let (Some(&(start, sent_ms, counted)), true) = (starts.get(id), first_seen.insert(id))
        else {
            continue;
        };
        let ms = (seen.received_ms - start) as f64;
        timeline.add_session(second_of(seen.received_ms), ms);
        if counted {
            to_topic.record_ms(ms);
            to_topic_sent.record_ms((seen.received_ms - sent_ms) as f64);
        }
    }
    let (mut to_clickhouse, mut to_clickhouse_sent) = (Latency::default(), Latency::default());
    for (id, &visible_ms) in inputs.visible {
        if let Some(&(start, sent_ms, counted)) = starts.get(id.as_str()) {
            let ms = (visible_ms - start) as f64;
            timeline.add_clickhouse(second_of(visible_ms), ms);
            if counted {
                to_clickhouse.record_ms(ms);
                to_clickhouse_sent.record_ms((visible_ms - sent_ms) as f64);
            }
        }
    }
    let note = match basis {
        LatencyBasis::Intended => "from when each visit's last signal was due by the schedule: a producer behind schedule adds to the latency, as it would for users".to_owned(),
        LatencyBasis::Sent => "unpaced run: from when each signal was handed to the Kafka client, so latencies include queueing behind the backlog the unpaced producer builds; pace the load (run.time_compression or load.rate) for pipeline latency".to_owned(),
    };
    let latency_method = LatencyMethod {
        basis,
        note,
        warmup_s: inputs.warmup.as_secs_f64(),
        sessions_in_warmup,
        clickhouse_poll_interval_ms: inputs
            .clickhouse_poll
            .map_or(0.0, |every| every.as_secs_f64() * 1000.0),
        clickhouse_poll_gap_ms: inputs.poll_gaps.percentiles(),
    };
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
        latency_from_sent_ms: Latencies {
            event_to_session_topic: to_topic_sent.percentiles(),
            event_to_clickhouse: to_clickhouse_sent.percentiles(),
        },
        latency_method,
        producer_lag_ms: producer_lag.percentiles(),
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
