//! The sessionizer: per-charger state machines over decoded signals, with reordering,
//! duplicate removal, inference, dead letters, and the bookkeeping exactly-once needs.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};

use events::{Reading, Session};

use crate::compact::{FxBuild, Key};
use crate::config::SessionizerConfig;
use crate::visit::{self, ClosedVisit, Closure, Rec, RecRef, Spill, Visit};

/// The position of a record in its input log (a Kafka partition and offset, or a line number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Source {
    /// Partition (0 for a file).
    pub partition: i32,
    /// Offset within the partition; must grow with every record pushed from the partition.
    pub offset: i64,
}

/// What made the sessionizer produce an output; the [`crate::ReplayGuard`] decides from it
/// whether a replayed output was already produced before a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// Processing the record at this position (a session's departure, a late signal that
    /// completed a visit, a signal that moved the watermark, the rejected record itself, ...).
    Signal(Source),
    /// [`Sessionizer::advance`]: the charger (on `partition`) had been silent for longer than
    /// the inactivity gap; `deadline_ms` = its last event time + the gap, so the output was
    /// produced by the first `advance(t)` with `t > deadline_ms`.
    Advance {
        /// The charger's partition.
        partition: i32,
        /// Last event time of the charger plus the inactivity gap.
        deadline_ms: i64,
    },
    /// [`Sessionizer::finish`] at the end of the input.
    Finish,
}

/// An output of the sessionizer.
// Sessions are the common output and are moved once: boxing them would cost an allocation each.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// A visit is over: its session, emitted exactly once.
    Session {
        /// The session record.
        session: Session,
        /// The position of the signal that completed it (for a closure by `advance`/`finish`,
        /// the position last consumed from the charger's partition).
        closing: Source,
        /// What produced it.
        trigger: Trigger,
    },
    /// A signal that cannot be used, with the reason.
    DeadLetter {
        /// The position of the rejected signal. For a signal rejected after it had joined a visit
        /// (possible only when a later-arriving signal changed the picture) the exact position is
        /// not kept: it is then the position of the first signal of that visit.
        source: Source,
        /// Why, for people.
        reason: String,
        /// The signal's bytes as received, or (when `reencoded`) its re-encoding.
        payload: Vec<u8>,
        /// Whether `payload` is a re-encoding rather than the bytes received.
        reencoded: bool,
        /// What produced it.
        trigger: Trigger,
    },
}

impl Output {
    /// What produced this output.
    pub fn trigger(&self) -> Trigger {
        match self {
            Output::Session { trigger, .. } | Output::DeadLetter { trigger, .. } => *trigger,
        }
    }
}

/// Counts since the sessionizer was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Records pushed.
    pub signals: u64,
    /// Sessions emitted.
    pub sessions: u64,
    /// Dead letters emitted.
    pub dead_letters: u64,
    /// Exact duplicates recognised and ignored.
    pub duplicates: u64,
}

/// What [`crate::ReplayGuard`] needs to know, per partition, about what was produced before a
/// commit. The runner stores it with each committed offset (Kafka's offset commit metadata
/// fits: see [`Mark::encode`]) and gives it back to the guard after a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    /// The last offset consumed from the partition: every output triggered by a signal at or
    /// before it was produced.
    pub emitted_through: i64,
    /// The largest event time given to [`Sessionizer::advance`] so far.
    pub advanced_to: Option<i64>,
}

/// `Charger::flags`: the charger has an entry in the inactivity wheel.
const IN_WHEEL: u8 = 1;

/// Everything the sessionizer keeps for one charger. Rarely used parts (visits waiting to be
/// final, signals buffered out of order) live behind `extra`, allocated only while needed.
#[derive(Debug)]
struct Charger {
    /// The visit in progress (empty when the bay is free).
    open: Visit,
    /// Keys below this belong to visits already emitted.
    closed_below: Key,
    /// Arrival time of the last emitted visit (`i64::MIN`: none yet), for ordinals.
    last_arrived_at: i64,
    /// Offset a restart must replay from to rebuild the last emitted visit (and its same-
    /// millisecond predecessors) while signals of it may still come: `i64::MAX` when released.
    retained_hold: i64,
    /// Fingerprints of the last emitted visit's signals (duplicates of them are ignored).
    fps: [u32; 6],
    /// Which of `fps` are set (bit per slot).
    fp_mask: u8,
    flags: u8,
    /// Ordinal of the last emitted visit among those that arrived in its millisecond.
    ordinal: u16,
    /// Tiebreak for signals without `seq`: their arrival order at this charger.
    next_tb: u32,
    /// Index of the charger's partition in `Sessionizer::partitions`.
    pidx: u32,
    extra: Option<Box<Extra>>,
}

#[derive(Debug, Default)]
struct Extra {
    /// Visits closed by the state machine, not yet final, in canonical order.
    awaiting: Vec<ClosedVisit>,
    /// Signals the state machine refused at their place, sorted by key; dead-lettered once no
    /// earlier signal can arrive any more.
    pending: Vec<Rec>,
}

impl Charger {
    fn new(pidx: u32) -> Charger {
        Charger {
            open: Visit::EMPTY,
            closed_below: Key::MIN,
            last_arrived_at: i64::MIN,
            retained_hold: i64::MAX,
            fps: [0; 6],
            fp_mask: 0,
            flags: 0,
            ordinal: 0,
            next_tb: 0,
            pidx,
            extra: None,
        }
    }

    fn has_state(&self) -> bool {
        self.open.is_open() || self.extra.is_some() || self.retained_hold != i64::MAX
    }

    /// The smallest offset still needed to rebuild this charger's state.
    fn hold(&self) -> i64 {
        let mut h = self.retained_hold;
        if self.open.is_open() {
            h = h.min(self.open.first_offset);
        }
        if let Some(x) = &self.extra {
            for cv in &x.awaiting {
                h = h.min(cv.visit.first_offset);
            }
            for p in &x.pending {
                h = h.min(p.offset);
            }
        }
        h
    }

    /// Latest event time among the signals accepted into visits (buffered refusals excluded).
    fn max_ts(&self) -> Option<i64> {
        let mut m = (self.closed_below != Key::MIN).then_some(self.closed_below.ts);
        if self.open.is_open() {
            m = m.max(Some(self.open.max_key().ts));
        }
        if let Some(x) = &self.extra {
            for cv in &x.awaiting {
                m = m.max(Some(cv.visit.max_key().ts));
            }
        }
        m
    }

    /// The largest key of any signal not yet final (visits open or waiting, buffered refusals).
    fn max_unsettled(&self) -> Option<Key> {
        let mut m = self.open.is_open().then(|| self.open.max_key());
        if let Some(x) = &self.extra {
            for cv in &x.awaiting {
                m = m.max(Some(cv.visit.max_key()));
            }
            if let Some(p) = x.pending.last() {
                m = m.max(Some(p.key));
            }
        }
        m
    }

    fn extra(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }
}

/// Per input partition: the last offset consumed and the offsets its chargers hold.
#[derive(Debug)]
struct PartitionState {
    partition: i32,
    last_offset: Option<i64>,
    /// Multiset of the chargers' holds.
    holds: BTreeMap<i64, u32>,
}

/// Durations of the config in milliseconds.
#[derive(Debug, Clone, Copy)]
struct Millis {
    grace: i64,
    tolerance: i64,
    gap: i64,
    skew: i64,
}

/// The pure sessionizer core: signals in, sessions and dead letters out. See the
/// [crate documentation](crate) for the rules and the exactly-once protocol.
#[derive(Debug)]
pub struct Sessionizer {
    config: SessionizerConfig,
    ms: Millis,
    ids: HashMap<Box<str>, u32, FxBuild>,
    names: Vec<Box<str>>,
    chargers: Vec<Charger>,
    partitions: Vec<PartitionState>,
    pmap: HashMap<i32, u32, FxBuild>,
    last_pidx: usize,
    spill: Spill,
    /// `(event time, charger)`: chargers with state, by their last event time (lazy entries).
    wheel: BinaryHeap<Reverse<(i64, u32)>>,
    stream_time: Option<i64>,
    advanced_to: Option<i64>,
    stats: Stats,
    scratch: Vec<Rec>,
}

/// Bytes of state kept per charger, its open visit included (excluding the charger id, kept
/// once in the id index, and the rarely used overflow of visits waiting for late signals).
pub const CHARGER_STATE_BYTES: usize = std::mem::size_of::<Charger>();

impl Sessionizer {
    /// A sessionizer with this (validated) config.
    pub fn new(config: SessionizerConfig) -> crate::Result<Sessionizer> {
        config.validate()?;
        let ms = Millis {
            grace: config.overstay_grace_ms(),
            tolerance: config.reorder_tolerance_ms(),
            gap: config.inactivity_gap_ms(),
            skew: config.max_clock_skew_ms(),
        };
        Ok(Sessionizer {
            config,
            ms,
            ids: HashMap::default(),
            names: Vec::new(),
            chargers: Vec::new(),
            partitions: Vec::new(),
            pmap: HashMap::default(),
            last_pidx: 0,
            spill: Spill::default(),
            wheel: BinaryHeap::new(),
            stream_time: None,
            advanced_to: None,
            stats: Stats::default(),
            scratch: Vec::new(),
        })
    }

    /// The config in force.
    pub fn config(&self) -> &SessionizerConfig {
        &self.config
    }

    /// Counts so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Chargers seen so far.
    pub fn chargers(&self) -> usize {
        self.chargers.len()
    }

    /// Visits in progress or waiting to be final.
    pub fn open_visits(&self) -> usize {
        self.chargers
            .iter()
            .map(|c| {
                usize::from(c.open.is_open()) + c.extra.as_ref().map_or(0, |x| x.awaiting.len())
            })
            .sum()
    }

    /// An estimate of the heap and inline bytes this sessionizer holds: charger states, the
    /// charger-id index (each id stored twice plus table overhead), visits waiting for late
    /// signals and buffered signals, partition holds and the inactivity wheel.
    pub fn state_bytes(&self) -> usize {
        use std::mem::size_of;
        let ids: usize = self.names.iter().map(|n| 2 * n.len()).sum();
        let index = self.ids.capacity() * (size_of::<Box<str>>() + size_of::<u32>() + 1)
            + self.names.capacity() * size_of::<Box<str>>();
        let extra: usize = self
            .chargers
            .iter()
            .filter_map(|c| c.extra.as_ref())
            .map(|x| {
                size_of::<Extra>()
                    + x.awaiting.capacity() * size_of::<ClosedVisit>()
                    + x.pending.capacity() * size_of::<Rec>()
            })
            .sum();
        let holds: usize = self.partitions.iter().map(|p| p.holds.len() * 48).sum();
        self.chargers.capacity() * size_of::<Charger>()
            + ids
            + index
            + extra
            + holds
            + self.wheel.capacity() * size_of::<Reverse<(i64, u32)>>()
    }

    /// The largest event time seen in the input or given to [`Sessionizer::advance`].
    pub fn stream_time(&self) -> Option<i64> {
        self.stream_time
    }

    /// Processes one record: decodes it and runs its charger's state machine; every session
    /// completed and every signal rejected by it is handed to `out`.
    pub fn push(&mut self, bytes: &[u8], source: Source, out: &mut impl FnMut(Output)) {
        self.stats.signals += 1;
        let pidx = self.partition_index(source.partition);
        let part = &mut self.partitions[pidx];
        part.last_offset = Some(part.last_offset.map_or(source.offset, |o| o.max(source.offset)));
        let trigger = Trigger::Signal(source);
        let signal = match events::decode(bytes) {
            Ok(s) => s,
            Err(e) => {
                let reason = format!("undecodable signal: {e}");
                return self.dead(out, source, trigger, reason, bytes.to_vec(), false);
            }
        };
        if let Reading::Charger {
            recharging: true,
            energy_delivered,
        } = signal.reading
            && !(1..=1000).contains(&energy_delivered)
        {
            let reason = format!(
                "impossible power: charge start with energy_delivered = {energy_delivered} kW, \
                 outside 1..=1000"
            );
            return self.dead(out, source, trigger, reason, bytes.to_vec(), false);
        }
        let ts = signal.timestamp_ms;
        if let Some(now) = self.stream_time
            && ts > now.saturating_add(self.ms.skew)
        {
            let reason = format!(
                "timestamp {} is {} ahead of the stream's event time {} (max_clock_skew {})",
                events::time::format_utc(ts),
                human_ms(ts - now),
                events::time::format_utc(now),
                human_ms(self.ms.skew),
            );
            return self.dead(out, source, trigger, reason, bytes.to_vec(), false);
        }
        let c = self.charger_index(&signal.charger_id, pidx);
        let ch = &mut self.chargers[c as usize];
        if ch.pidx as usize != pidx {
            if ch.open.is_open() || ch.extra.is_some() {
                let reason = format!(
                    "charger {} moved from partition {} to partition {} while a visit of it was \
                     open; a visit must stay in one partition",
                    signal.charger_id, self.partitions[ch.pidx as usize].partition, source.partition
                );
                return self.dead(out, source, trigger, reason, bytes.to_vec(), false);
            }
            // Nothing open: the charger simply lives on the new partition from now on.
            let before = ch.hold();
            let old = ch.pidx as usize;
            ch.retained_hold = i64::MAX;
            ch.pidx = pidx as u32;
            update_hold(&mut self.partitions[old], before, i64::MAX);
        }
        let tb = if signal.seq.is_some() {
            0
        } else {
            let t = ch.next_tb;
            ch.next_tb = t.wrapping_add(1);
            u64::from(t)
        };
        let r = RecRef::of_signal(&signal, tb, source.offset);
        self.accept(c, r, bytes, source, out);
        self.stream_time = Some(self.stream_time.map_or(ts, |t| t.max(ts)));
    }

    /// Tells the sessionizer that the stream's event time reached `event_time_ms` (the runner
    /// calls this with the largest event time it has seen): every charger silent for longer than
    /// the inactivity gap is settled — waiting visits emitted, its open visit closed with
    /// [`events::Flag::ClosedByInactivity`] at its last signal, its refused signals
    /// dead-lettered. Cost: proportional to the chargers settled, not to the fleet.
    pub fn advance(&mut self, event_time_ms: i64, out: &mut impl FnMut(Output)) {
        self.advanced_to = Some(self.advanced_to.map_or(event_time_ms, |t| t.max(event_time_ms)));
        self.stream_time = Some(self.stream_time.map_or(event_time_ms, |t| t.max(event_time_ms)));
        let gap = self.ms.gap;
        while let Some(&Reverse((ts, c))) = self.wheel.peek() {
            if ts.saturating_add(gap) >= event_time_ms {
                break;
            }
            self.wheel.pop();
            let ch = &mut self.chargers[c as usize];
            ch.flags &= !IN_WHEEL;
            if !ch.has_state() {
                continue;
            }
            let last = last_event(ch);
            if last.saturating_add(gap) < event_time_ms {
                let partition = self.partitions[ch.pidx as usize].partition;
                let trigger = Trigger::Advance {
                    partition,
                    deadline_ms: last.saturating_add(gap),
                };
                self.flush(c, trigger, out);
            } else {
                ch.flags |= IN_WHEEL;
                self.wheel.push(Reverse((last, c)));
            }
        }
    }

    /// End of input: settles every charger as [`Sessionizer::advance`] does for silent ones.
    pub fn finish(&mut self, out: &mut impl FnMut(Output)) {
        self.wheel.clear();
        for c in 0..self.chargers.len() as u32 {
            let ch = &mut self.chargers[c as usize];
            ch.flags &= !IN_WHEEL;
            if ch.has_state() {
                self.flush(c, Trigger::Finish, out);
            }
        }
    }

    /// The smallest offset of `partition` a restart must replay from to rebuild what is still
    /// open (visits in progress or waiting to be final, buffered signals, and the last visit of
    /// each charger while late signals of it may still come). `None`: nothing is held, commit
    /// the position after the last record consumed. O(log n).
    pub fn resume_offset(&self, partition: i32) -> Option<i64> {
        let pidx = *self.pmap.get(&partition)?;
        self.partitions[pidx as usize]
            .holds
            .first_key_value()
            .map(|(&offset, _)| offset)
    }

    /// What to store with the commit of `partition` for [`crate::ReplayGuard`]; `None` when
    /// nothing was consumed from it.
    pub fn mark(&self, partition: i32) -> Option<Mark> {
        let pidx = *self.pmap.get(&partition)?;
        Some(Mark {
            emitted_through: self.partitions[pidx as usize].last_offset?,
            advanced_to: self.advanced_to,
        })
    }

    /// The partitions seen so far.
    pub fn partitions(&self) -> impl Iterator<Item = i32> + '_ {
        self.partitions.iter().map(|p| p.partition)
    }

    fn partition_index(&mut self, partition: i32) -> usize {
        if let Some(p) = self.partitions.get(self.last_pidx)
            && p.partition == partition
        {
            return self.last_pidx;
        }
        let next = self.partitions.len() as u32;
        let pidx = *self.pmap.entry(partition).or_insert(next) as usize;
        if pidx == self.partitions.len() {
            self.partitions.push(PartitionState {
                partition,
                last_offset: None,
                holds: BTreeMap::new(),
            });
        }
        self.last_pidx = pidx;
        pidx
    }

    fn charger_index(&mut self, id: &str, pidx: usize) -> u32 {
        if let Some(&c) = self.ids.get(id) {
            return c;
        }
        let c = self.chargers.len() as u32;
        self.ids.insert(id.into(), c);
        self.names.push(id.into());
        self.chargers.push(Charger::new(pidx as u32));
        c
    }

    fn dead(
        &mut self,
        out: &mut impl FnMut(Output),
        source: Source,
        trigger: Trigger,
        reason: String,
        payload: Vec<u8>,
        reencoded: bool,
    ) {
        self.stats.dead_letters += 1;
        out(Output::DeadLetter {
            source,
            reason,
            payload,
            reencoded,
            trigger,
        });
    }

    /// Runs a decoded signal through its charger.
    fn accept(
        &mut self,
        c: u32,
        r: RecRef<'_>,
        raw: &[u8],
        source: Source,
        out: &mut impl FnMut(Output),
    ) {
        let trigger = Trigger::Signal(source);
        let ci = c as usize;
        let tolerance = self.ms.tolerance;
        let ch = &self.chargers[ci];
        if let Some(max) = ch.max_ts()
            && r.key.ts < max.saturating_sub(tolerance)
        {
            let reason = format!(
                "late signal: {} is {} behind the charger's latest signal, beyond the \
                 reorder tolerance of {}",
                visit::kind_name(r.kind),
                human_ms(max - r.key.ts),
                human_ms(tolerance)
            );
            return self.dead(out, source, trigger, reason, raw.to_vec(), false);
        }
        match self.duplicate(c, &r) {
            Some(true) => {
                self.stats.duplicates += 1;
                return;
            }
            Some(false) => {
                let reason = format!(
                    "{} has the same seq {} as an earlier signal of the charger but other content",
                    visit::kind_name(r.kind),
                    r.key.tb
                );
                return self.dead(out, source, trigger, reason, raw.to_vec(), false);
            }
            None => {}
        }
        let ch = &mut self.chargers[ci];
        if r.key < ch.closed_below {
            let reason = format!(
                "{} arrived after the visit it belongs to was closed and emitted",
                visit::kind_name(r.kind)
            );
            return self.dead(out, source, trigger, reason, raw.to_vec(), false);
        }
        let hold_before = ch.hold();
        let in_order = ch.max_unsettled().is_none_or(|m| r.key > m);
        if in_order {
            let step = visit::step(&mut ch.open, &r, self.ms.gap, c, &mut self.spill);
            if let Some(rejected) = step.rejected {
                let mut rec = r.to_owned_rec(Some(raw));
                rec.reject = rejected;
                ch.extra().pending.push(rec);
            }
            if let Some(closed) = step.closed {
                let emit_now = ch.extra.is_none() && {
                    let wm = ch.max_ts().map(|m| m.saturating_sub(tolerance));
                    is_final(&closed, wm, &[])
                };
                if emit_now {
                    self.emit(c, closed, trigger, out);
                } else {
                    let x = self.chargers[ci].extra();
                    x.awaiting.push(closed);
                }
            }
        } else {
            self.rebuild(c, r, raw);
        }
        self.settle(c, trigger, out);
        let ch = &mut self.chargers[ci];
        let hold_after = ch.hold();
        if hold_after != hold_before {
            update_hold(&mut self.partitions[ch.pidx as usize], hold_before, hold_after);
        }
        if ch.flags & IN_WHEEL == 0 && ch.has_state() {
            ch.flags |= IN_WHEEL;
            let last = last_event(ch);
            self.wheel.push(Reverse((last, c)));
        }
    }

    /// `Some(true)`: `r` duplicates a signal already seen; `Some(false)`: same `seq`, other
    /// content; `None`: new.
    fn duplicate(&self, c: u32, r: &RecRef<'_>) -> Option<bool> {
        let ch = &self.chargers[c as usize];
        if ch.open.is_open()
            && let Some(d) = ch.open.duplicate(r, c, &self.spill)
        {
            return Some(d);
        }
        if let Some(x) = &ch.extra {
            for cv in &x.awaiting {
                if let Some(d) = cv.visit.duplicate(r, c, &self.spill) {
                    return Some(d);
                }
            }
            for p in &x.pending {
                if let Some(d) = r.duplicate_of(&p.as_ref()) {
                    return Some(d);
                }
            }
        }
        let slot = 1u8 << r.kind;
        if r.key.ts <= ch.closed_below.ts
            && ch.fp_mask & slot != 0
            && ch.fps[usize::from(r.kind)] == r.fingerprint()
        {
            return Some(true);
        }
        None
    }

    /// The slow path: `r` comes before signals already taken. Takes the charger's unsettled
    /// visits apart and replays all their signals, with `r`, in canonical order.
    fn rebuild(&mut self, c: u32, r: RecRef<'_>, raw: &[u8]) {
        let mut recs = std::mem::take(&mut self.scratch);
        let ch = &mut self.chargers[c as usize];
        let extra = ch.extra.get_or_insert_with(Box::default);
        for cv in extra.awaiting.drain(..) {
            cv.visit.decompose(c, &mut self.spill, &mut recs);
        }
        recs.append(&mut extra.pending);
        if ch.open.is_open() {
            ch.open.decompose(c, &mut self.spill, &mut recs);
            ch.open = Visit::EMPTY;
        }
        recs.push(r.to_owned_rec(Some(raw)));
        recs.sort_by_key(|rec| rec.key);
        for mut rec in recs.drain(..) {
            let step = visit::step(&mut ch.open, &rec.as_ref(), self.ms.gap, c, &mut self.spill);
            if let Some(closed) = step.closed {
                extra.awaiting.push(closed);
            }
            if let Some(rejected) = step.rejected {
                rec.reject = rejected;
                extra.pending.push(rec);
            }
        }
        self.scratch = recs;
    }

    /// Emits what became final: waiting visits in order, refused signals that no earlier signal
    /// can rescue any more; releases the last visit's hold once no signal of it can come.
    fn settle(&mut self, c: u32, trigger: Trigger, out: &mut impl FnMut(Output)) {
        let ci = c as usize;
        let tolerance = self.ms.tolerance;
        loop {
            let ch = &mut self.chargers[ci];
            let wm = ch.max_ts().map(|m| m.saturating_sub(tolerance));
            let Some(x) = &mut ch.extra else { break };
            let Some(front) = x.awaiting.first() else {
                break;
            };
            if !is_final(front, wm, &x.pending) {
                break;
            }
            let closed = x.awaiting.remove(0);
            self.emit(c, closed, trigger, out);
        }
        let ch = &mut self.chargers[ci];
        let wm = ch.max_ts().map(|m| m.saturating_sub(tolerance));
        if let Some(x) = &mut ch.extra {
            let closed_below = ch.closed_below;
            let is_done = |p: &Rec| p.key < closed_below || wm.is_some_and(|w| p.key.ts < w);
            if x.pending.iter().any(is_done) {
                let (done, keep): (Vec<Rec>, Vec<Rec>) = x.pending.drain(..).partition(is_done);
                x.pending = keep;
                for rec in done {
                    self.dead_rec(c, rec, trigger, out);
                }
            }
        }
        let ch = &mut self.chargers[ci];
        if let Some(x) = &ch.extra
            && x.awaiting.is_empty()
            && x.pending.is_empty()
        {
            ch.extra = None;
        }
        if ch.retained_hold != i64::MAX && wm.is_some_and(|w| ch.closed_below.ts < w) {
            ch.retained_hold = i64::MAX;
        }
    }

    /// Settles everything of a charger at once (advance past its silence, or end of input).
    fn flush(&mut self, c: u32, trigger: Trigger, out: &mut impl FnMut(Output)) {
        let ci = c as usize;
        let ch = &mut self.chargers[ci];
        let before = ch.hold();
        let mut max = ch.max_unsettled();
        let extra = ch.extra.take();
        let mut pending = Vec::new();
        if let Some(x) = extra {
            let x = *x;
            for closed in x.awaiting {
                self.emit(c, closed, trigger, out);
            }
            pending = x.pending;
        }
        let ch = &mut self.chargers[ci];
        if ch.open.is_open() {
            let visit = std::mem::replace(&mut ch.open, Visit::EMPTY);
            let closed = ClosedVisit {
                visit,
                closure: Closure::Inactivity,
                closer: visit.max_key(),
                closer_seq: visit.all_seq(),
            };
            self.emit(c, closed, trigger, out);
        }
        for rec in pending {
            self.dead_rec(c, rec, trigger, out);
        }
        let ch = &mut self.chargers[ci];
        if let Some(m) = max.take() {
            ch.closed_below = ch.closed_below.max(m.succ());
        }
        ch.retained_hold = i64::MAX;
        let after = ch.hold();
        if before != after {
            update_hold(&mut self.partitions[ch.pidx as usize], before, after);
        }
    }

    fn dead_rec(&mut self, c: u32, rec: Rec, trigger: Trigger, out: &mut impl FnMut(Output)) {
        let ch = &self.chargers[c as usize];
        let source = Source {
            partition: self.partitions[ch.pidx as usize].partition,
            offset: rec.offset,
        };
        let (payload, reencoded) = rec.payload(&self.names[c as usize]);
        let reason = rec.reject.describe(rec.kind);
        self.dead(out, source, trigger, reason, payload, reencoded);
    }

    /// Emits a final visit as a session and makes it the charger's retained last visit.
    fn emit(&mut self, c: u32, closed: ClosedVisit, trigger: Trigger, out: &mut impl FnMut(Output)) {
        let ch = &mut self.chargers[c as usize];
        let v = closed.visit;
        let arrived_at = v.arrival_key().ts;
        let ordinal = if ch.last_arrived_at == arrived_at {
            ch.ordinal.saturating_add(1)
        } else {
            0
        };
        ch.retained_hold = if ordinal > 0 {
            ch.retained_hold.min(v.first_offset)
        } else {
            v.first_offset
        };
        ch.fps = v.fingerprints(c, &self.spill);
        ch.fp_mask = (0..6u8)
            .filter(|&s| v.has(s))
            .fold(0, |m, s| m | (1 << s));
        ch.closed_below = ch.closed_below.max(closed.closed_below());
        ch.last_arrived_at = arrived_at;
        ch.ordinal = ordinal;
        let partition = self.partitions[ch.pidx as usize].partition;
        let closing = match trigger {
            Trigger::Signal(source) => source,
            _ => Source {
                partition,
                offset: self.partitions[ch.pidx as usize]
                    .last_offset
                    .unwrap_or(v.first_offset),
            },
        };
        let session = v.into_session(
            closed.closure,
            &self.names[c as usize],
            u32::from(ordinal),
            self.ms.grace,
            c,
            &mut self.spill,
        );
        self.stats.sessions += 1;
        out(Output::Session {
            session,
            closing,
            trigger,
        });
    }
}

/// Whether a closed visit is final: no signal that could change it can arrive any more.
fn is_final(closed: &ClosedVisit, wm: Option<i64>, pending: &[Rec]) -> bool {
    // Any signal at or before the closer would now be late.
    if wm.is_some_and(|w| closed.closer.ts < w) {
        return true;
    }
    let v = &closed.visit;
    let start = v.arrival_key();
    let in_range = pending
        .iter()
        .filter(|p| p.key > start && p.key < closed.closer)
        .count() as u64;
    if v.all_seq() && closed.closer_seq {
        // With `seq`, the visit is complete when every seq from its arrival to its closer came.
        let Some(span) = closed.closer.tb.checked_sub(start.tb) else {
            return false;
        };
        let closer_outside = u64::from(closed.closure != Closure::Departure);
        return u64::from(v.count()) + in_range + closer_outside > span;
    }
    // Without `seq`: a normal, complete visit in canonical order is emitted on its departure.
    closed.closure == Closure::Departure && in_range == 0 && v.is_canonical()
}

/// The latest event time of anything the charger holds.
fn last_event(ch: &Charger) -> i64 {
    let m = ch.max_unsettled().map(|k| k.ts);
    let c = (ch.closed_below != Key::MIN).then_some(ch.closed_below.ts);
    m.max(c).unwrap_or(i64::MIN)
}

fn update_hold(p: &mut PartitionState, before: i64, after: i64) {
    if before != i64::MAX
        && let Some(n) = p.holds.get_mut(&before)
    {
        *n -= 1;
        if *n == 0 {
            p.holds.remove(&before);
        }
    }
    if after != i64::MAX {
        *p.holds.entry(after).or_insert(0) += 1;
    }
}

/// Milliseconds for people (`1m 30s`, `250ms`).
fn human_ms(ms: i64) -> String {
    humantime::format_duration(std::time::Duration::from_millis(ms.unsigned_abs())).to_string()
}
