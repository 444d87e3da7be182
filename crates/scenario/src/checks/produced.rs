//! `produced`: every record of the load reached Kafka.

use crate::checks::Evidence;
use crate::report::Check;

pub(super) fn produced(evidence: &Evidence) -> Check {
    let p = &evidence.produced;
    Check {
        name: "produced".into(),
        passed: p.failed == 0,
        detail: format!(
            "{} signals ({} records with {} injected duplicates and {} malformed), {} delivery failures{}",
            p.events,
            p.records,
            p.duplicates,
            p.malformed,
            p.failed,
            p.first_error
                .as_deref()
                .map(|e| format!(" (first: {e})"))
                .unwrap_or_default()
        ),
    }
}
