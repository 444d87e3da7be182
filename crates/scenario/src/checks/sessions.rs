//! `sessions-exact` (ClickHouse) and `sessions-topic-exactly-once` (`charging-sessions`).

use crate::checks::Evidence;
use crate::ground_truth::compare_sessions;
use crate::report::Check;

/// Every ground-truth session in ClickHouse, field by field; none missing or unexpected.
pub(super) fn exact_in_clickhouse(evidence: &Evidence) -> Check {
    let c = compare_sessions(&evidence.truth, &evidence.stored_sessions);
    Check {
        name: "sessions-exact".into(),
        passed: c.is_exact(),
        detail: format!(
            "ClickHouse: {} matched, {} missing, {} unexpected, {} mismatched {}",
            c.matched,
            c.missing,
            c.unexpected,
            c.mismatched,
            c.examples.join("; ")
        ),
    }
}

/// A `read_committed` consumer saw every ground-truth session exactly once, and nothing else.
pub(super) fn exactly_once_in_topic(evidence: &Evidence) -> Check {
    let c = compare_sessions(&evidence.truth, &evidence.topic_sessions);
    Check {
        name: "sessions-topic-exactly-once".into(),
        passed: c.is_exact(),
        detail: format!(
            "charging-sessions (read_committed): {} matched, {} missing, {} unexpected, {} duplicated, {} mismatched {}",
            c.matched,
            c.missing,
            c.unexpected,
            c.duplicated,
            c.mismatched,
            c.examples.join("; ")
        ),
    }
}
