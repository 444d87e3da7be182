//! `dead-letters`: every injected bad record, and nothing else, is a dead letter with a reason
//! that names what was wrong: in the aggregator's dead-letter topic, and (on the sink path) the
//! undecodable ones in ClickHouse's `dead_letters` too. Late copies are dead letters of their own
//! ("late signal"), counted, never dropped silently.

use pipeline::produce::inject::MalformedKind;

use crate::checks::Evidence;
use crate::file::Ingestion;
use crate::report::Check;

/// What a late copy's dead-letter reason says.
const LATE_REASON: &str = "late signal";

/// Indices into [`MalformedKind::ALL`], the most specific reason first: `Truncated`'s
/// "malformed JSON" is also the prefix of a type error.
const SPECIFIC_FIRST: [usize; 6] = [1, 2, 3, 4, 5, 0];

pub(super) fn dead_letters(evidence: &Evidence) -> Check {
    let injected = &evidence.produced.injected;
    let expected = injected.malformed_total() + injected.late;
    let in_topic = evidence.dead_letters.len() as u64;
    let reasons: Vec<&str> = evidence
        .dead_letters
        .iter()
        .map(|d| d.reason.as_str())
        .collect();
    // Each dead letter goes to the one kind its reason names (the most specific first: serde's
    // type errors also say "malformed JSON").
    let mut seen_per_kind = [0u64; 6];
    let mut late_seen = 0u64;
    for reason in &reasons {
        if reason.contains(LATE_REASON) {
            late_seen += 1;
        } else if let Some(i) = SPECIFIC_FIRST
            .iter()
            .find(|&&i| reason.contains(MalformedKind::ALL[i].reason_says()))
        {
            seen_per_kind[*i] += 1;
        }
    }
    let mut per_kind = Vec::new();
    let mut kinds_ok = late_seen == injected.late;
    for (i, kind) in MalformedKind::ALL.iter().enumerate() {
        let (seen, sent) = (seen_per_kind[i], injected.malformed[i]);
        kinds_ok &= seen == sent;
        if sent > 0 || seen > 0 {
            per_kind.push(format!("{} {seen}/{sent}", kind.name()));
        }
    }
    if injected.late > 0 || late_seen > 0 {
        per_kind.push(format!("late {late_seen}/{}", injected.late));
    }
    let without_reason = reasons.iter().filter(|r| r.trim().is_empty()).count();
    // The sink stores what it cannot decode; well-formed records with impossible values are raw
    // signals to it (the aggregator judges them).
    let undecodable = injected.malformed_total() - injected.malformed_decodable();
    let stored = evidence.stored_dead_letters;
    let sink_ok = evidence.ingestion != Ingestion::Sink || stored == undecodable;
    Check {
        name: "dead-letters".into(),
        passed: in_topic == expected && kinds_ok && sink_ok && without_reason == 0,
        detail: format!(
            "{expected} bad records injected ({} malformed, {} late copies); {in_topic} dead-lettered by the aggregator{}; {stored} of {undecodable} undecodable ones stored in ClickHouse{}",
            injected.malformed_total(),
            injected.late,
            if per_kind.is_empty() {
                String::new()
            } else {
                format!(" (reason found/injected: {})", per_kind.join(", "))
            },
            if without_reason > 0 {
                format!("; {without_reason} dead letters carry no reason")
            } else {
                String::new()
            }
        ),
    }
}
