//! The scenario's own thresholds: `min-events-per-s`, `max-p99-session-ms`,
//! `max-p99-clickhouse-ms`.

use crate::file::Checks;
use crate::measure::Measures;
use crate::report::Check;

pub(super) fn thresholds(wanted: &Checks, measures: &Measures) -> Vec<Check> {
    let mut checks = Vec::new();
    if let Some(min) = wanted.min_events_per_s {
        let rate = measures.throughput.events_per_s;
        checks.push(Check {
            name: "min-events-per-s".into(),
            passed: rate >= min,
            detail: format!("{rate:.0} signals/s end to end (threshold {min:.0})"),
        });
    }
    let latencies = [
        (
            "max-p99-session-ms",
            wanted.max_p99_session_ms,
            measures.latency_ms.event_to_session_topic.p99,
        ),
        (
            "max-p99-clickhouse-ms",
            wanted.max_p99_clickhouse_ms,
            measures.latency_ms.event_to_clickhouse.p99,
        ),
    ];
    for (name, max, p99) in latencies {
        if let Some(max) = max {
            checks.push(Check {
                name: name.into(),
                passed: p99 <= max,
                detail: format!("p99 {p99:.1} ms (threshold {max} ms)"),
            });
        }
    }
    checks
}
