//! `drained`: the pipeline delivered everything within the drain timeout.

use crate::checks::Evidence;
use crate::drain::LagAtEnd;
use crate::report::Check;

pub(super) fn drained(evidence: &Evidence) -> Check {
    let d = &evidence.drained;
    let truth = evidence.truth.len();
    let (lag_ok, lag) = lag_verdict(&evidence.lag_at_end);
    Check {
        name: "drained".into(),
        passed: d.complete && lag_ok,
        detail: if d.complete {
            format!(
                "pipeline drained {:.1} s after the last signal{lag}",
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

/// Whether the consumers' lag lets the pipeline count as drained, and what to add to the detail.
fn lag_verdict(lag: &LagAtEnd) -> (bool, String) {
    match lag {
        LagAtEnd::Zero => (true, ", consumer lag 0 on every partition".to_owned()),
        LagAtEnd::NotMeasured => (true, String::new()),
        LagAtEnd::Behind(partitions) => (
            false,
            format!(", but consumers still lag: {}", partitions.join(", ")),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_still_behind_fails_the_drain() {
        let (ok, detail) = lag_verdict(&LagAtEnd::Behind(vec![
            "sink-0 charging-sessions/3: 12".into(),
        ]));
        assert!(!ok);
        assert!(detail.contains("charging-sessions/3: 12"), "{detail}");
        assert!(lag_verdict(&LagAtEnd::Zero).0);
        assert!(lag_verdict(&LagAtEnd::NotMeasured).0);
    }
}
