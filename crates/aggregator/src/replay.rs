//! Suppressing outputs already produced before a restart (see the exactly-once protocol in the
//! [crate documentation](crate)).

use std::collections::HashMap;

use crate::sessionizer::{Mark, Output, Trigger};
use crate::{Error, Result};

const MARK_PREFIX: &str = "evbench-aggregator/1";

impl Mark {
    /// A short text form for Kafka's offset commit metadata:
    /// `evbench-aggregator/1 through=1234 advanced=1700000000000` (`advanced=-` when none).
    pub fn encode(&self) -> String {
        match self.advanced_to {
            Some(t) => format!(
                "{MARK_PREFIX} through={} advanced={t}",
                self.emitted_through
            ),
            None => format!("{MARK_PREFIX} through={} advanced=-", self.emitted_through),
        }
    }

    /// Reads [`Mark::encode`]'s form back.
    pub fn decode(text: &str) -> Result<Mark> {
        let bad = || Error::Mark(text.to_owned());
        let mut parts = text.split_whitespace();
        if parts.next() != Some(MARK_PREFIX) {
            return Err(bad());
        }
        let through = parts
            .next()
            .and_then(|p| p.strip_prefix("through="))
            .and_then(|n| n.parse::<i64>().ok())
            .ok_or_else(bad)?;
        let advanced = match parts.next().and_then(|p| p.strip_prefix("advanced=")) {
            Some("-") => None,
            Some(n) => Some(n.parse::<i64>().map_err(|_| bad())?),
            None => return Err(bad()),
        };
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(Mark {
            emitted_through: through,
            advanced_to: advanced,
        })
    }
}

/// After a restart, tells which outputs of the replayed input were already produced (and
/// committed) before it, from the [`Mark`]s stored with the last commit.
///
/// * An output triggered by the signal at offset `o` of partition `p` is suppressed when
///   `o <= marks[p].emitted_through`.
/// * An output of [`crate::Sessionizer::advance`] with deadline `d` on partition `p` is
///   suppressed when `marks[p].advanced_to > d` (the committed run had advanced past it).
/// * Outputs of [`crate::Sessionizer::finish`], and of partitions without a mark, pass.
#[derive(Debug, Clone, Default)]
pub struct ReplayGuard {
    marks: HashMap<i32, Mark>,
    suppressed: u64,
}

impl ReplayGuard {
    /// A guard over the marks restored from the last commit, per partition.
    pub fn new(marks: impl IntoIterator<Item = (i32, Mark)>) -> ReplayGuard {
        ReplayGuard {
            marks: marks.into_iter().collect(),
            suppressed: 0,
        }
    }

    /// Whether `output` is new (to be produced), as opposed to produced before the restart.
    pub fn admits(&self, output: &Output) -> bool {
        match output.trigger() {
            Trigger::Signal(source) => self
                .marks
                .get(&source.partition)
                .is_none_or(|m| source.offset > m.emitted_through),
            Trigger::Advance {
                partition,
                deadline_ms,
            } => self
                .marks
                .get(&partition)
                .and_then(|m| m.advanced_to)
                .is_none_or(|t| t <= deadline_ms),
            Trigger::Finish => true,
        }
    }

    /// Wraps an output sink so that only new outputs reach it (and counts the others).
    pub fn filter<'a>(&'a mut self, mut sink: impl FnMut(Output) + 'a) -> impl FnMut(Output) + 'a {
        move |output| {
            if self.admits(&output) {
                sink(output);
            } else {
                self.suppressed += 1;
            }
        }
    }

    /// How many outputs [`ReplayGuard::filter`] suppressed.
    pub fn suppressed(&self) -> u64 {
        self.suppressed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Source;

    #[test]
    fn marks_round_trip_and_reject_garbage() {
        for m in [
            Mark {
                emitted_through: 42,
                advanced_to: Some(1_700_000_000_000),
            },
            Mark {
                emitted_through: -1,
                advanced_to: None,
            },
        ] {
            assert_eq!(Mark::decode(&m.encode()).unwrap(), m);
        }
        for bad in [
            "",
            "x through=1 advanced=-",
            "evbench-aggregator/1 through=a advanced=-",
        ] {
            assert!(Mark::decode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn suppresses_by_trigger() {
        let guard = ReplayGuard::new([(
            3,
            Mark {
                emitted_through: 10,
                advanced_to: Some(1000),
            },
        )]);
        let dl = |trigger| Output::DeadLetter {
            source: Source {
                partition: 3,
                offset: 0,
            },
            reason: String::new(),
            payload: Vec::new(),
            reencoded: false,
            trigger,
        };
        let at = |partition, offset| Trigger::Signal(Source { partition, offset });
        assert!(!guard.admits(&dl(at(3, 10))));
        assert!(guard.admits(&dl(at(3, 11))));
        assert!(guard.admits(&dl(at(4, 0))));
        let adv = |deadline_ms| Trigger::Advance {
            partition: 3,
            deadline_ms,
        };
        assert!(!guard.admits(&dl(adv(999))));
        assert!(guard.admits(&dl(adv(1000))));
        assert!(guard.admits(&dl(Trigger::Finish)));
    }
}
