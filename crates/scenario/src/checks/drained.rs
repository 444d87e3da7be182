//! `drained`: the pipeline delivered everything within the drain timeout.

use crate::checks::Evidence;
use crate::report::Check;

pub(super) fn drained(evidence: &Evidence) -> Check {
    let d = &evidence.drained;
    let truth = evidence.truth.len();
    Check {
        name: "drained".into(),
        passed: d.complete,
        detail: if d.complete {
            format!(
                "pipeline drained {:.1} s after the last signal",
                evidence.drain_s
            )
        } else {
            format!(
                "not drained {}: {} of {truth} sessions in the topic, {} of {} signals and {} of {truth} sessions in ClickHouse",
                if d.pipeline_gone {
                    "(the pipeline under test stopped running)".to_owned()
                } else {
                    format!(
                        "within {}",
                        humantime::format_duration(evidence.drain_timeout)
                    )
                },
                d.sessions_in_topic,
                d.stored_signals,
                evidence.expected_stored_signals(),
                d.stored_sessions,
            )
        },
    }
}
