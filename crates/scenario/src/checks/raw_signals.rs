//! `raw-signals-stored`: ClickHouse holds every raw signal the load sent, once per record Kafka
//! holds.
//!
//! Raw storage keeps what Kafka holds, one row per Kafka position, so a record Kafka took twice
//! is stored twice. The load's producer is idempotent, yet librdkafka's idempotent producer can
//! still write a batch twice across a leader change (it bumps its epoch and resends what was
//! possibly persisted: confluentinc/librdkafka#4953); a network partition of a leader does that
//! now and then. Those copies are Kafka's records, not the ingestion's: the check counts them
//! from the signals topic's ends (read before and after the load) and expects them stored too.
//! What the ingestion itself adds or drops still fails it.

use crate::checks::Evidence;
use crate::report::Check;

/// What the stored count is held against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Expectation {
    /// Fewest rows that pass.
    at_least: u64,
    /// Most rows that pass.
    at_most: u64,
    /// Records the producer's retries wrote a second time.
    retry_copies: u64,
    /// Records the producer had acknowledged that Kafka no longer holds.
    lost_in_kafka: u64,
}

/// `well_formed` rows are expected from the load; `records` records were acknowledged,
/// `undecodable` of them dead letters rather than rows; Kafka took `in_topic` (when known).
fn expectation(
    well_formed: u64,
    records: u64,
    undecodable: u64,
    in_topic: Option<u64>,
) -> Expectation {
    let Some(in_topic) = in_topic else {
        return Expectation {
            at_least: well_formed,
            at_most: well_formed,
            retry_copies: 0,
            lost_in_kafka: 0,
        };
    };
    let retry_copies = in_topic.saturating_sub(records);
    let at_most = well_formed + retry_copies;
    Expectation {
        // A retried copy of an undecodable record is a dead letter, not a row: with none of those
        // sent, every copy is a row and the count is exact.
        at_least: if undecodable == 0 {
            at_most
        } else {
            well_formed
        },
        at_most,
        retry_copies,
        lost_in_kafka: records.saturating_sub(in_topic),
    }
}

impl Expectation {
    fn holds(&self, stored: u64) -> bool {
        self.lost_in_kafka == 0 && (self.at_least..=self.at_most).contains(&stored)
    }
}

pub(super) fn stored(evidence: &Evidence) -> Check {
    let p = &evidence.produced;
    let undecodable = p.injected.malformed_total() - p.injected.malformed_decodable();
    let expected = expectation(
        evidence.expected_stored_signals(),
        p.records,
        undecodable,
        evidence.signals_in_topic,
    );
    let wanted = if expected.at_least == expected.at_most {
        expected.at_most.to_string()
    } else {
        format!("{}–{}", expected.at_least, expected.at_most)
    };
    let mut detail = format!(
        "{} stored of {wanted} expected: {} signals + {} injected duplicates + {} late copies + {} well-formed records with impossible values",
        evidence.stored_signals,
        p.events,
        p.injected.duplicates,
        p.injected.late,
        p.injected.malformed_decodable()
    );
    if expected.retry_copies > 0 {
        detail.push_str(&format!(
            " + {} records the producer's retries wrote twice (Kafka took {} records for {} sent)",
            expected.retry_copies,
            evidence.signals_in_topic.unwrap_or_default(),
            p.records
        ));
    }
    if expected.lost_in_kafka > 0 {
        detail.push_str(&format!(
            "; Kafka holds {} fewer records than the producer had acknowledged",
            expected.lost_in_kafka
        ));
    }
    if evidence.signals_in_topic.is_none() {
        detail.push_str(" (the signals topic's ends could not be read: retried copies unseen)");
    }
    Check {
        name: "raw-signals-stored".into(),
        passed: expected.holds(evidence.stored_signals),
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_retried_copies_the_count_is_exact() {
        let e = expectation(1000, 1000, 0, Some(1000));
        assert!(e.holds(1000));
        assert!(!e.holds(999), "a row the ingestion dropped");
        assert!(!e.holds(1001), "a row the ingestion added");
    }

    #[test]
    fn copies_the_producer_wrote_twice_are_expected_rows() {
        let e = expectation(1000, 1000, 0, Some(1006));
        assert_eq!(e.retry_copies, 6);
        assert!(e.holds(1006));
        assert!(!e.holds(1000), "six records Kafka holds were not stored");
        assert!(!e.holds(1007));
    }

    #[test]
    fn with_undecodable_records_a_copy_may_be_a_dead_letter_instead() {
        // 1000 records sent, 10 of them undecodable: 990 rows, and 2 copies that are rows or
        // dead letters.
        let e = expectation(990, 1000, 10, Some(1002));
        assert!(e.holds(990) && e.holds(992));
        assert!(!e.holds(989) && !e.holds(993));
    }

    #[test]
    fn records_kafka_lost_fail_whatever_is_stored() {
        let e = expectation(1000, 1000, 0, Some(998));
        assert_eq!(e.lost_in_kafka, 2);
        assert!(!e.holds(1000) && !e.holds(998));
    }

    #[test]
    fn unknown_topic_ends_keep_the_plain_count() {
        let e = expectation(1000, 1000, 0, None);
        assert!(e.holds(1000) && !e.holds(1006));
    }
}
