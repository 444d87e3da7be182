//! `raw-signals-stored`: ClickHouse holds every raw signal the load sent.

use crate::checks::Evidence;
use crate::report::Check;

pub(super) fn stored(evidence: &Evidence) -> Check {
    let p = &evidence.produced;
    Check {
        name: "raw-signals-stored".into(),
        passed: evidence.stored_signals == evidence.expected_stored_signals(),
        detail: format!(
            "{} stored of {} expected: {} signals + {} injected duplicates + {} late copies + {} well-formed records with impossible values",
            evidence.stored_signals,
            evidence.expected_stored_signals(),
            p.events,
            p.injected.duplicates,
            p.injected.late,
            p.injected.malformed_decodable()
        ),
    }
}
