//! `dead-letters`: every malformed record, and nothing else, is a dead letter: in the
//! aggregator's dead-letter topic and (on the sink path) in ClickHouse.

use crate::checks::Evidence;
use crate::file::Ingestion;
use crate::report::Check;

pub(super) fn dead_letters(evidence: &Evidence) -> Check {
    let injected = evidence.produced.malformed;
    let in_topic = evidence.dead_letters.len() as u64;
    let stored = evidence.stored_dead_letters;
    let sink_ok = evidence.ingestion != Ingestion::Sink || stored == injected;
    let without_reason = evidence
        .dead_letters
        .iter()
        .filter(|d| d.reason.trim().is_empty())
        .count();
    Check {
        name: "dead-letters".into(),
        passed: in_topic == injected && sink_ok && without_reason == 0,
        detail: format!(
            "{injected} malformed records injected; {in_topic} dead-lettered by the aggregator, {stored} stored in ClickHouse{}",
            if without_reason > 0 {
                format!("; {without_reason} dead letters carry no reason")
            } else {
                String::new()
            }
        ),
    }
}
