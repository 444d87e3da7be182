//! Sessions observed against the ground truth: exact, field by field.

use std::collections::HashMap;

use events::Session;
use serde::Serialize;

/// How the observed sessions compare with the expected ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SessionComparison {
    pub expected: u64,
    pub observed: u64,
    /// Observed once, equal in every field.
    pub matched: u64,
    /// Expected, never observed.
    pub missing: u64,
    /// Observed, never expected.
    pub unexpected: u64,
    /// Observed more than once (each extra copy counts once).
    pub duplicated: u64,
    /// Observed, but some fields differ.
    pub mismatched: u64,
    /// A few examples of each problem, for people.
    pub examples: Vec<String>,
}

impl SessionComparison {
    /// No session missing, unexpected, duplicated or mismatched.
    pub fn is_exact(&self) -> bool {
        self.missing == 0 && self.unexpected == 0 && self.duplicated == 0 && self.mismatched == 0
    }
}

const MAX_EXAMPLES: usize = 10;

/// Compares by `session_id`: duplicates are further observations of an id, mismatches are
/// ids whose first observation differs from the truth in some field (named in the examples).
pub fn compare_sessions(expected: &[Session], observed: &[Session]) -> SessionComparison {
    let mut result = SessionComparison {
        expected: expected.len() as u64,
        observed: observed.len() as u64,
        ..Default::default()
    };
    let mut first_seen: HashMap<&str, &Session> = HashMap::with_capacity(observed.len());
    for session in observed {
        if first_seen
            .insert(session.session_id.as_str(), session)
            .is_some()
        {
            result.duplicated += 1;
            if result.examples.len() < MAX_EXAMPLES {
                result
                    .examples
                    .push(format!("duplicated: {}", session.session_id));
            }
        }
    }
    let mut expected_ids = std::collections::HashSet::with_capacity(expected.len());
    for truth in expected {
        expected_ids.insert(truth.session_id.as_str());
        match first_seen.get(truth.session_id.as_str()) {
            None => {
                result.missing += 1;
                if result.examples.len() < MAX_EXAMPLES {
                    result
                        .examples
                        .push(format!("missing: {}", truth.session_id));
                }
            }
            Some(seen) => {
                let differing = truth.differing_fields(seen);
                if differing.is_empty() {
                    result.matched += 1;
                } else {
                    result.mismatched += 1;
                    if result.examples.len() < MAX_EXAMPLES {
                        result.examples.push(format!(
                            "mismatched: {} in {}",
                            truth.session_id,
                            differing.join(", ")
                        ));
                    }
                }
            }
        }
    }
    for id in first_seen.keys() {
        if !expected_ids.contains(id) {
            result.unexpected += 1;
            if result.examples.len() < MAX_EXAMPLES {
                result.examples.push(format!("unexpected: {id}"));
            }
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use events::{SessionParties, SessionTimes};

    fn session(charger: &str, arrived_at: i64) -> Session {
        let times = SessionTimes {
            arrived_at,
            departed_at: arrived_at + 60_000,
            ..SessionTimes::default()
        };
        let parties = SessionParties {
            charger_id: charger.into(),
            plate: Some("P".into()),
            ..SessionParties::default()
        };
        Session::new(
            Session::id_for(charger, arrived_at, 0),
            parties,
            times,
            0,
            vec![],
        )
    }

    #[test]
    fn counts_every_kind_of_difference() {
        let expected = vec![
            session("a", 1),
            session("a", 2),
            session("b", 1),
            session("c", 1),
        ];
        let mut changed = session("b", 1);
        changed.plate = None;
        let observed = vec![
            session("a", 1),
            session("a", 1),
            changed,
            session("c", 1),
            session("z", 9),
        ];
        let r = compare_sessions(&expected, &observed);
        assert_eq!((r.expected, r.observed), (4, 5));
        assert_eq!(r.matched, 2, "a@1 and c@1");
        assert_eq!(r.missing, 1, "a@2");
        assert_eq!(r.duplicated, 1, "a@1 twice");
        assert_eq!(r.mismatched, 1, "b@1 plate");
        assert_eq!(r.unexpected, 1, "z@9");
        assert!(!r.is_exact());
        assert!(
            r.examples
                .iter()
                .any(|e| e.contains("mismatched: b@1 in plate")),
            "{:?}",
            r.examples
        );
        assert!(compare_sessions(&expected, &expected).is_exact());
    }
}
