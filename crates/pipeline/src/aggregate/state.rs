//! What the aggregator knows about its current assignment: the sessionizer, the replay guard,
//! what was committed, which partitions still replay, and when the input went quiet.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use aggregator::{Mark, Output, ReplayGuard, Sessionizer, Source, Trigger};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::{Offset, TopicPartitionList};

use super::{AggregateOptions, TIMEOUT};
use crate::Result;

/// A partition that delivered nothing for this long is caught up (or its chargers went quiet):
/// it no longer holds the watermark back.
const IDLE_PARTITION: Duration = Duration::from_secs(10);

/// The sessionizer and the guard of the current assignment.
pub(super) struct State {
    pub sessionizer: Sessionizer,
    pub guard: ReplayGuard,
    /// Records consumed so far, and how many of them the last commit that went through
    /// covered: records consumed while a commit is in flight belong to the next one.
    records: u64,
    committed_records: u64,
    /// Per partition, the (offset, emitted-through) last committed: a commit carries only the
    /// partitions that moved since (with 1 000 partitions, committing all of them every
    /// interval costs more than the work itself).
    committed: HashMap<i32, (i64, i64)>,
    /// Partitions whose mark must be committed again although their position did not move (an
    /// inactivity closure or an expiry changed what the mark says).
    remarked: HashSet<i32>,
    /// When each partition (by number) last delivered a record.
    last_delivery: Vec<Option<Instant>>,
    /// When the last record came, whatever its partition.
    last_record: Instant,
    /// Records came since the last expiry.
    fresh_since_expiry: bool,
    /// Per partition still replaying, the last offset its committed mark says was produced:
    /// until every partition is past it, the input is not idle (it is being replayed).
    replaying: HashMap<i32, i64>,
}

/// The commit of the positions reached: the offsets to send, and what to remember once the
/// commit went through.
pub(super) struct CommitPlan {
    pub offsets: TopicPartitionList,
    moved: Vec<(i32, (i64, i64))>,
    /// [`State::records`] when the plan was made.
    records: u64,
}

impl State {
    pub fn new(options: &AggregateOptions) -> Result<State> {
        Ok(State {
            sessionizer: Sessionizer::new(options.sessionizer.clone())?,
            guard: ReplayGuard::default(),
            records: 0,
            committed_records: 0,
            committed: HashMap::new(),
            remarked: HashSet::new(),
            last_delivery: Vec::new(),
            last_record: Instant::now(),
            fresh_since_expiry: false,
            replaying: HashMap::new(),
        })
    }

    /// Records one record as consumed without sessionizing it (the pass-through mode).
    pub fn skip(&mut self, source: Source) {
        self.sessionizer.skip(source);
        self.replaying.remove(&source.partition);
        self.records += 1;
        self.fresh_since_expiry = true;
        self.last_record = Instant::now();
    }

    /// Records were consumed that no commit has covered yet.
    pub fn consumed(&self) -> bool {
        self.records > self.committed_records
    }

    /// Processes one record; what it produces (and, while replaying, what the expiries the
    /// committed mark lists produce again) goes to `out`.
    pub fn push(&mut self, payload: &[u8], source: Source, out: &mut impl FnMut(Output)) {
        self.sessionizer.push(payload, source, out);
        for until in self.guard.expiries_after(source.partition, source.offset) {
            self.sessionizer.expire(source.partition, until, out);
        }
        if self
            .replaying
            .get(&source.partition)
            .is_some_and(|&through| source.offset >= through)
        {
            self.replaying.remove(&source.partition);
        }
        self.records += 1;
        self.fresh_since_expiry = true;
        self.last_record = Instant::now();
        let Ok(index) = usize::try_from(source.partition) else {
            return;
        };
        if index >= self.last_delivery.len() {
            self.last_delivery.resize(index + 1, None);
        }
        self.last_delivery[index] = Some(self.last_record);
    }

    /// The event time every partition still delivering has reached: the smallest partition
    /// time among those that delivered within [`IDLE_PARTITION`]; the stream's time when all
    /// are idle. Inactivity closures use it, so a partition consumed later than the others
    /// (a backlog, an unpaced run) does not see its visits closed by the others' progress.
    fn watermark(&self) -> Option<i64> {
        let now = Instant::now();
        let active = self.sessionizer.partitions().filter(|&p| {
            usize::try_from(p)
                .ok()
                .and_then(|i| self.last_delivery.get(i).copied().flatten())
                .is_some_and(|seen| now.duration_since(seen) < IDLE_PARTITION)
        });
        active
            .filter_map(|p| self.sessionizer.partition_time(p))
            .min()
            .or_else(|| self.sessionizer.stream_time())
    }

    /// Closes the visits of chargers silent longer than the inactivity gap, up to the
    /// watermark.
    pub fn advance(&mut self, out: &mut impl FnMut(Output)) {
        let Some(now) = self.watermark() else {
            return;
        };
        let remarked = &mut self.remarked;
        self.sessionizer.advance(now, &mut |o| {
            if let Trigger::Advance { partition, .. } = o.trigger() {
                remarked.insert(partition);
            }
            out(o);
        });
    }

    /// Whether the input has been quiet for `idle_timeout`, with records since the last
    /// expiry and no partition still replaying: time to [`expire`](Self::expire).
    pub fn idle_for(&self, idle_timeout: Duration) -> bool {
        self.fresh_since_expiry
            && self.replaying.is_empty()
            && self.last_record.elapsed() >= idle_timeout
    }

    /// Every partition's held visits that ended before its latest event time are emitted (see
    /// [`Sessionizer::expire`]).
    pub fn expire(&mut self, out: &mut impl FnMut(Output)) {
        let partitions: Vec<i32> = self.sessionizer.partitions().collect();
        for partition in partitions {
            if let Some(t) = self.sessionizer.partition_time(partition) {
                let mut changed = false;
                self.sessionizer.expire(partition, t + 1, &mut |o| {
                    changed = true;
                    out(o);
                });
                if changed {
                    self.remarked.insert(partition);
                }
            }
        }
        self.fresh_since_expiry = false;
    }

    /// The offsets and marks of the partitions that moved since the last commit.
    pub fn plan_commit(&self, topic: &str) -> Result<CommitPlan> {
        let mut offsets = TopicPartitionList::new();
        let mut moved = Vec::new();
        for partition in self.sessionizer.partitions() {
            let Some(mark) = self.sessionizer.mark(partition) else {
                continue;
            };
            let resume = self
                .sessionizer
                .resume_offset(partition)
                .unwrap_or(mark.emitted_through + 1);
            let position = (resume, mark.emitted_through);
            if self.committed.get(&partition) == Some(&position)
                && !self.remarked.contains(&partition)
            {
                continue;
            }
            let mut element = offsets.add_partition(topic, partition);
            element.set_offset(Offset::Offset(resume))?;
            element.set_metadata(self.guard.mark_to_commit(partition, mark).encode());
            moved.push((partition, position));
        }
        Ok(CommitPlan {
            offsets,
            moved,
            records: self.records,
        })
    }

    /// Remembers what a commit that went through carried.
    pub fn committed(&mut self, plan: CommitPlan) {
        self.committed.extend(plan.moved);
        self.remarked.clear();
        // Not `records`: what came in while this commit was in flight is in the next one.
        self.committed_records = self.committed_records.max(plan.records);
    }

    /// Fresh state for the current assignment: marks from the committed offsets' metadata, and
    /// (when `seek`) the consumer moved back to the committed offsets.
    pub fn rebuild<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        options: &AggregateOptions,
        seek: bool,
    ) -> Result<()> {
        *self = State::new(options)?;
        let assignment = consumer.assignment()?;
        if assignment.count() == 0 {
            return Ok(());
        }
        let committed = consumer.committed_offsets(assignment, TIMEOUT)?;
        let mut marks = Vec::new();
        for element in committed.elements() {
            let text = element.metadata();
            let resume = match element.offset() {
                Offset::Offset(o) => Some(o),
                _ => None,
            };
            if !text.is_empty() {
                match Mark::decode(text) {
                    Ok(mark) => {
                        if resume.is_some_and(|r| r <= mark.emitted_through) {
                            self.replaying
                                .insert(element.partition(), mark.emitted_through);
                        }
                        marks.push((element.partition(), mark));
                    }
                    Err(e) => {
                        tracing::warn!(partition = element.partition(), error = %e, "ignoring unreadable commit metadata")
                    }
                }
            }
            if seek {
                let offset = resume.map_or(Offset::Beginning, Offset::Offset);
                consumer.seek(element.topic(), element.partition(), offset, TIMEOUT)?;
            }
        }
        tracing::info!(
            partitions = committed.count(),
            marks = marks.len(),
            replaying = self.replaying.len(),
            "state rebuilt from committed offsets"
        );
        self.guard = ReplayGuard::new(marks);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_consumed_during_a_commit_are_left_for_the_next() {
        let mut state = State::new(&AggregateOptions::default()).unwrap();
        assert!(!state.consumed());
        let source = |offset| Source {
            partition: 0,
            offset,
        };
        state.skip(source(0));
        assert!(state.consumed());
        let plan = state.plan_commit("t").unwrap();
        // A record comes in while the commit is in flight: its output is in the next
        // transaction, which must be committed within the interval, not when input next comes.
        state.skip(source(1));
        state.committed(plan);
        assert!(state.consumed(), "offset 1 is not committed yet");
        let plan = state.plan_commit("t").unwrap();
        state.committed(plan);
        assert!(!state.consumed());
    }
}
