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
        let mut text = match self.advanced_to {
            Some(t) => format!(
                "{MARK_PREFIX} through={} advanced={t}",
                self.emitted_through
            ),
            None => format!("{MARK_PREFIX} through={} advanced=-", self.emitted_through),
        };
        // Only written when there are some, so marks of runners before `expire` read the same.
        if !self.expiries.is_empty() {
            let list: Vec<String> = self
                .expiries
                .iter()
                .map(|(offset, until)| format!("{offset}:{until}"))
                .collect();
            text.push_str(" expired=");
            text.push_str(&list.join(","));
        }
        text
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
        let expiries = match parts.next() {
            None => Vec::new(),
            Some(p) => {
                let list = p.strip_prefix("expired=").ok_or_else(bad)?;
                list.split(',')
                    .map(|pair| {
                        let (offset, until) = pair.split_once(':')?;
                        Some((offset.parse().ok()?, until.parse().ok()?))
                    })
                    .collect::<Option<Vec<(i64, i64)>>>()
                    .ok_or_else(bad)?
            }
        };
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(Mark {
            emitted_through: through,
            advanced_to: advanced,
            expiries,
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
            // A replay makes the recorded expiries again: what they emit was produced.
            Trigger::Expire {
                partition,
                after_offset,
                until_ms,
            } => self
                .marks
                .get(&partition)
                .is_none_or(|m| !m.expiries.contains(&(after_offset, until_ms))),
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

    /// The mark to commit for `partition`, given the sessionizer's: after a restart, what was
    /// produced is what the run before it produced (the restored mark) and what this one did,
    /// so the mark says both and a second restart suppresses both. While the partition is
    /// replayed (consumed less far than the restored mark), that keeps the restored position
    /// and expiries: the sessionizer's own mark would let a second restart make again what the
    /// first run produced beyond the replay's position.
    pub fn mark_to_commit(&self, partition: i32, mark: Mark) -> Mark {
        let Some(restored) = self.marks.get(&partition) else {
            return mark;
        };
        let mut merged = mark;
        if merged.emitted_through < restored.emitted_through {
            merged.emitted_through = restored.emitted_through;
            for expiry in &restored.expiries {
                if !merged.expiries.contains(expiry) {
                    merged.expiries.push(*expiry);
                }
            }
            merged.expiries.sort_unstable();
        }
        merged.advanced_to = merged.advanced_to.max(restored.advanced_to);
        merged
    }

    /// How many outputs [`ReplayGuard::filter`] suppressed.
    pub fn suppressed(&self) -> u64 {
        self.suppressed
    }

    /// The expiries a replay must make again right after the record at (`partition`,
    /// `offset`): the `until_ms` of each.
    pub fn expiries_after(&self, partition: i32, offset: i64) -> impl Iterator<Item = i64> + '_ {
        self.marks
            .get(&partition)
            .into_iter()
            .flat_map(|m| m.expiries.iter())
            .filter(move |&&(at, _)| at == offset)
            .map(|&(_, until)| until)
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
                expiries: Vec::new(),
            },
            Mark {
                emitted_through: -1,
                advanced_to: None,
                expiries: Vec::new(),
            },
            Mark {
                emitted_through: 7,
                advanced_to: None,
                expiries: vec![(3, 1_700_000_000_123), (6, 1_700_000_000_456)],
            },
        ] {
            assert_eq!(Mark::decode(&m.encode()).unwrap(), m);
        }
        // A mark written before `expire` existed reads as one without it.
        assert_eq!(
            Mark::decode("evbench-aggregator/1 through=5 advanced=-")
                .unwrap()
                .expiries,
            Vec::new()
        );
        for bad in [
            "",
            "x through=1 advanced=-",
            "evbench-aggregator/1 through=a advanced=-",
            "evbench-aggregator/1 through=1 advanced=- expired=x",
            "evbench-aggregator/1 through=1 advanced=- expired=1",
            "evbench-aggregator/1 through=1 advanced=- expired=1 more",
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
                expiries: vec![(4, 500)],
            },
        )]);
        let dl = |trigger| Output::DeadLetter {
            source: Source {
                partition: 3,
                offset: 0,
            },
            class: crate::DeadLetterClass::Late,
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
        let expire = |after_offset, until_ms| Trigger::Expire {
            partition: 3,
            after_offset,
            until_ms,
        };
        assert!(
            !guard.admits(&dl(expire(4, 500))),
            "made before, made again by the replay"
        );
        assert!(guard.admits(&dl(expire(4, 501))));
        assert!(
            guard.admits(&dl(expire(9, 500))),
            "a new expiry at the same time"
        );
        assert!(guard.admits(&dl(Trigger::Finish)));
    }

    #[test]
    fn commits_after_a_restart_cover_both_runs() {
        let mark = |through, advanced_to, expiries: &[(i64, i64)]| Mark {
            emitted_through: through,
            advanced_to,
            expiries: expiries.to_vec(),
        };
        let restored = mark(12, Some(1000), &[(11, 900)]);
        let guard = ReplayGuard::new([(1, restored.clone())]);
        // Still behind, not advanced yet: committing its own mark would let a second restart
        // make 10..=12 and what the first run's advances settled again.
        assert_eq!(
            guard.mark_to_commit(1, mark(9, None, &[(3, 800)])),
            mark(12, Some(1000), &[(3, 800), (11, 900)])
        );
        assert_eq!(
            guard
                .mark_to_commit(1, mark(9, Some(2000), &[]))
                .advanced_to,
            Some(2000)
        );
        // Past the restored mark: its own position and expiries.
        assert_eq!(
            guard.mark_to_commit(1, mark(13, Some(500), &[(13, 1)])),
            mark(13, Some(1000), &[(13, 1)])
        );
        // A partition without a restored mark: its own.
        assert_eq!(
            guard.mark_to_commit(2, mark(3, None, &[])),
            mark(3, None, &[])
        );
    }
}
