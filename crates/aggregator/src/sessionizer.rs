//! The sessionizer: per-charger state machines over decoded signals, with reordering,
//! duplicate removal, inference, dead letters, and the bookkeeping exactly-once needs.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::hash::Hasher as _;
use std::ops::{Index, IndexMut};

use events::Session;

use crate::compact::{FxBuild, FxHasher, Inline, InlineText, Key};
use crate::config::SessionizerConfig;
use crate::decoded::Decoded;
use crate::kind::Kind;
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
    /// [`Sessionizer::expire`]: the input of `partition` had gone quiet, and what waited only
    /// for late signals was taken as final up to `until_ms`.
    Expire {
        /// The partition that went quiet.
        partition: i32,
        /// The last offset consumed from it before (the expiry followed that record).
        after_offset: i64,
        /// Event time up to which signals were no longer awaited.
        until_ms: i64,
    },
    /// [`Sessionizer::finish`] at the end of the input.
    Finish,
}

/// Why a signal was dead-lettered, in a word: a bounded set, for counting (the `reason` text
/// says it for people, with the particulars).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeadLetterClass {
    /// Not a signal: bad JSON, a missing or mistyped field.
    Undecodable,
    /// A charge start whose power is outside 1..=1000 kW.
    ImpossiblePower,
    /// A timestamp further ahead of the stream's event time than `max_clock_skew`.
    ClockSkew,
    /// A charger that moved to another partition while a visit of it was open.
    PartitionMove,
    /// Later than the reorder tolerance behind the charger's latest signal.
    Late,
    /// The same sequence number as an earlier signal of the charger, other content.
    ConflictingDuplicate,
    /// A signal of a visit that was already closed and emitted.
    AfterClose,
    /// A signal that does not fit its visit (no vehicle parked, another plate or user, a
    /// second charge, …).
    VisitRule,
}

impl DeadLetterClass {
    /// Every class, in declaration order.
    pub const ALL: [DeadLetterClass; 8] = [
        DeadLetterClass::Undecodable,
        DeadLetterClass::ImpossiblePower,
        DeadLetterClass::ClockSkew,
        DeadLetterClass::PartitionMove,
        DeadLetterClass::Late,
        DeadLetterClass::ConflictingDuplicate,
        DeadLetterClass::AfterClose,
        DeadLetterClass::VisitRule,
    ];

    /// Its snake_case name (a Prometheus label value).
    pub fn as_str(self) -> &'static str {
        match self {
            DeadLetterClass::Undecodable => "undecodable",
            DeadLetterClass::ImpossiblePower => "impossible_power",
            DeadLetterClass::ClockSkew => "clock_skew",
            DeadLetterClass::PartitionMove => "partition_move",
            DeadLetterClass::Late => "late",
            DeadLetterClass::ConflictingDuplicate => "conflicting_duplicate",
            DeadLetterClass::AfterClose => "after_close",
            DeadLetterClass::VisitRule => "visit_rule",
        }
    }
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
        /// Why, in a few words for machines (a metric's label).
        class: DeadLetterClass,
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// The last offset consumed from the partition: every output triggered by a signal at or
    /// before it was produced.
    pub emitted_through: i64,
    /// The largest event time given to [`Sessionizer::advance`] so far.
    pub advanced_to: Option<i64>,
    /// The [`Sessionizer::expire`] calls on this partition that changed something and that a
    /// replay from the resume offset must make again: `(offset, until_ms)`, the expiry made
    /// right after the record at `offset`.
    pub expiries: Vec<(i64, i64)>,
}

/// `Charger::bits`: the charger has an entry in the inactivity wheel (the low six bits say
/// which of `fps` are set, one per slot).
const IN_WHEEL: u8 = 1 << 7;
const FP_BITS: u8 = 0b0011_1111;
/// `Charger::arrived_back` when no visit was emitted yet.
const NO_ARRIVAL: u32 = u32::MAX;

/// Everything the sessionizer keeps for one charger. Rarely used parts (visits waiting to be
/// final, signals buffered out of order) live behind `extra`, allocated only while needed.
#[derive(Debug)]
struct Charger {
    /// The visit in progress (empty when the bay is free).
    open: Visit,
    /// The charger id when it fits (longer ones live in `Sessionizer::long_names`).
    name: Inline<16>,
    /// Keys below this belong to visits already emitted.
    closed_below: Key,
    /// Arrival time of the last emitted visit as `closed_below.ts` minus it (`NO_ARRIVAL`:
    /// none), for ordinals.
    arrived_back: u32,
    /// Offset of the signal that holds the charger's latest event time (`max_ts`): what a late
    /// signal is judged against.
    max_off: i64,
    /// Offset a restart must replay from to rebuild the last emitted visit (and its same-
    /// millisecond predecessors) while signals of it may still come: `i64::MAX` when released.
    retained_hold: i64,
    /// Fingerprints of the last emitted visit's signals (duplicates of them are ignored).
    fps: [u32; 6],
    /// Which of `fps` are set (bit per slot), and `IN_WHEEL`.
    bits: u8,
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
    fn new(pidx: u32, name: Inline<16>) -> Charger {
        Charger {
            open: Visit::EMPTY,
            name,
            closed_below: Key::MIN,
            arrived_back: NO_ARRIVAL,
            max_off: i64::MAX,
            retained_hold: i64::MAX,
            fps: [0; 6],
            bits: 0,
            ordinal: 0,
            next_tb: 0,
            pidx,
            extra: None,
        }
    }

    /// Arrival time of the last emitted visit.
    fn last_arrived_at(&self) -> Option<i64> {
        (self.arrived_back != NO_ARRIVAL)
            .then(|| self.closed_below.ts - i64::from(self.arrived_back))
    }

    /// Records the arrival time of the last emitted visit (after `closed_below` is updated).
    fn set_last_arrived_at(&mut self, at: Option<i64>) {
        self.arrived_back = at
            .and_then(|at| u32::try_from(self.closed_below.ts.saturating_sub(at)).ok())
            .filter(|&back| back != NO_ARRIVAL)
            .unwrap_or(NO_ARRIVAL);
    }

    /// Releases the last emitted visit's hold once no signal of it can come any more (the
    /// watermark passed its end) and no visit still open arrived in the same millisecond (whose
    /// ordinal depends on it).
    fn release_retained(&mut self, wm: Option<i64>) {
        if self.retained_hold == i64::MAX || wm.is_none_or(|w| self.closed_below.ts >= w) {
            return;
        }
        if let Some(t) = self.last_arrived_at() {
            let same_ms = |v: &Visit| v.is_open() && v.arrival_key().ts == t;
            if same_ms(&self.open)
                || self
                    .extra
                    .as_ref()
                    .is_some_and(|x| x.awaiting.iter().any(|cv| same_ms(&cv.visit)))
            {
                return;
            }
        }
        self.retained_hold = i64::MAX;
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

    /// Latest event time among the charger's signals taken so far: in visits, emitted or not,
    /// and buffered refusals (which may yet join a visit); not those dead-lettered on arrival.
    ///
    /// Counting the buffered refusals keeps lateness a function of what a restart replays: the
    /// signal that sets this time is always held (see `hold`), so a replay judges every later
    /// signal against the same time.
    fn max_ts(&self) -> Option<i64> {
        let mut m = (self.closed_below != Key::MIN).then_some(self.closed_below.ts);
        if self.open.is_open() {
            m = m.max(Some(self.open.max_key().ts));
        }
        if let Some(x) = &self.extra {
            for cv in &x.awaiting {
                m = m.max(Some(cv.visit.max_key().ts));
            }
            if let Some(p) = x.pending.last() {
                m = m.max(Some(p.key.ts));
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

/// Charger states in chunks of `CHUNK`: a big fleet never reallocates them all at once, and the
/// unused capacity is at most half of one chunk (a plain `Vec` can leave half its memory idle
/// after doubling).
#[derive(Debug, Default)]
struct Chargers {
    chunks: Vec<Vec<Charger>>,
    len: usize,
}

const CHUNK: usize = 1024;

impl Chargers {
    fn len(&self) -> usize {
        self.len
    }

    fn push(&mut self, charger: Charger) {
        if self.len.is_multiple_of(CHUNK) {
            self.chunks.push(Vec::new());
        }
        if let Some(chunk) = self.chunks.last_mut() {
            chunk.push(charger);
            self.len += 1;
        }
    }

    fn iter(&self) -> impl Iterator<Item = &Charger> {
        self.chunks.iter().flatten()
    }

    /// Charger states allocated (the last chunk grows by doubling up to `CHUNK`).
    fn allocated(&self) -> usize {
        self.chunks.iter().map(Vec::capacity).sum()
    }
}

impl Index<usize> for Chargers {
    type Output = Charger;

    #[inline]
    fn index(&self, i: usize) -> &Charger {
        &self.chunks[i / CHUNK][i % CHUNK]
    }
}

impl IndexMut<usize> for Chargers {
    #[inline]
    fn index_mut(&mut self, i: usize) -> &mut Charger {
        &mut self.chunks[i / CHUNK][i % CHUNK]
    }
}

/// Charger id → index: open addressing over `(hash tag << 32) | index` slots, at most half
/// full. The id itself is compared in the charger's state, which is loaded anyway.
#[derive(Debug, Default)]
struct ChargerIndex {
    slots: Vec<u64>,
    len: usize,
}

const EMPTY_SLOT: u64 = u64::MAX;

fn hash_id(id: &[u8]) -> u64 {
    let mut h = FxHasher::default();
    h.write(id);
    let x = h.finish();
    let x = (x ^ (x >> 31)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 29)
}

impl ChargerIndex {
    fn find(&self, hash: u64, mut is: impl FnMut(u32) -> bool) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let tag = hash >> 32;
        let mut i = hash as usize & mask;
        loop {
            let slot = self.slots[i];
            if slot == EMPTY_SLOT {
                return None;
            }
            if slot >> 32 == tag && is(slot as u32) {
                return Some(slot as u32);
            }
            i = (i + 1) & mask;
        }
    }

    fn put(slots: &mut [u64], hash: u64, idx: u32) {
        let mask = slots.len() - 1;
        let mut i = hash as usize & mask;
        while slots[i] != EMPTY_SLOT {
            i = (i + 1) & mask;
        }
        slots[i] = (hash >> 32 << 32) | u64::from(idx);
    }

    /// Adds `idx`; `rehash(j)` gives the hash of charger `j` when the table grows.
    fn insert(&mut self, hash: u64, idx: u32, rehash: impl Fn(u32) -> u64) {
        if (self.len + 1) * 2 > self.slots.len() {
            let mut slots = vec![EMPTY_SLOT; (self.slots.len() * 2).max(64)];
            for &slot in &self.slots {
                if slot != EMPTY_SLOT {
                    Self::put(&mut slots, rehash(slot as u32), slot as u32);
                }
            }
            self.slots = slots;
        }
        Self::put(&mut self.slots, hash, idx);
        self.len += 1;
    }
}

/// What [`Sessionizer::duplicate`] found.
enum Dup {
    New,
    /// An exact duplicate (of a signal of the last emitted visit when `of_emitted`).
    Same {
        of_emitted: bool,
    },
    /// The same `seq` with other content.
    Conflict,
}

/// Per input partition: the last offset consumed and the offsets its chargers hold.
#[derive(Debug)]
struct PartitionState {
    partition: i32,
    last_offset: Option<i64>,
    /// The largest event time of the signals accepted from this partition.
    event_time: Option<i64>,
    /// `(last offset, until_ms)` of each [`Sessionizer::expire`] on this partition that emitted
    /// something, oldest first (pruned once the resume offset passes them).
    expiries: Vec<(i64, i64)>,
    /// `(hold, charger)` entries, smallest first. An entry is current while its charger still
    /// holds exactly that offset on this partition; stale entries are dropped when they reach
    /// the top, so the top is always current and `resume_offset` is a peek.
    holds: BinaryHeap<Reverse<(i64, u32)>>,
    /// Chargers of this partition holding an offset.
    live: usize,
    /// Refusals that depend on earlier signals: offset of the refused signal → the smallest
    /// offset it depends on. A restart must not start between the two.
    refusals: BTreeMap<i64, i64>,
}

impl PartitionState {
    /// Where a restart must start: the smallest hold (or the position after the last record
    /// consumed), moved back before every recorded refusal it would otherwise split from the
    /// signals it depends on. One pass over the refusals from the latest down: the point only
    /// moves back, so a refusal ending before it can no longer matter.
    fn resume(&self) -> Option<i64> {
        let mut resume = match self.holds.peek() {
            Some(&Reverse((offset, _))) => offset,
            None => self.last_offset? + 1,
        };
        for (&end, &dep) in self.refusals.iter().rev() {
            if end < resume {
                break;
            }
            resume = resume.min(dep);
        }
        Some(resume)
    }
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
    index: ChargerIndex,
    /// Charger ids longer than the inline 16 bytes.
    long_names: HashMap<u32, Box<str>, FxBuild>,
    chargers: Chargers,
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
            index: ChargerIndex::default(),
            long_names: HashMap::default(),
            chargers: Chargers::default(),
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
        let long: usize = self.long_names.values().map(|n| n.len() + 32).sum();
        let index = self.index.slots.capacity() * size_of::<u64>() + long;
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
        let holds: usize = self
            .partitions
            .iter()
            .map(|p| p.holds.capacity() * size_of::<Reverse<(i64, u32)>>())
            .sum();
        self.chargers.allocated() * size_of::<Charger>()
            + index
            + extra
            + holds
            + self.wheel.capacity() * size_of::<Reverse<(i64, u32)>>()
    }

    /// The largest event time seen in the input or given to [`Sessionizer::advance`].
    pub fn stream_time(&self) -> Option<i64> {
        self.stream_time
    }

    /// The largest event time accepted from `partition` (`None` before its first signal). A
    /// runner takes the smallest of these over the partitions still delivering as the time to
    /// [`advance`](Self::advance) to: the global [`stream_time`](Self::stream_time) would run
    /// ahead of partitions that are consumed later and close their visits too early.
    pub fn partition_time(&self, partition: i32) -> Option<i64> {
        let pidx = *self.pmap.get(&partition)?;
        self.partitions[pidx as usize].event_time
    }

    /// Takes the record at `source` as consumed without reading it: nothing is produced or
    /// held, and the partition's position moves (its [`Mark`] and resume offset say so). For a
    /// runner that copies its input instead of sessionizing it (the exactly-once floor).
    pub fn skip(&mut self, source: Source) {
        self.consume(source);
    }

    /// Counts a record and moves its partition's position; returns the partition's index.
    fn consume(&mut self, source: Source) -> usize {
        self.stats.signals += 1;
        let pidx = self.partition_index(source.partition);
        let part = &mut self.partitions[pidx];
        part.last_offset = Some(
            part.last_offset
                .map_or(source.offset, |o| o.max(source.offset)),
        );
        pidx
    }

    /// Processes one record: decodes it and runs its charger's state machine; every session
    /// completed and every signal rejected by it is handed to `out`.
    pub fn push(&mut self, bytes: &[u8], source: Source, out: &mut impl FnMut(Output)) {
        let pidx = self.consume(source);
        let trigger = Trigger::Signal(source);
        let decoded = match events::decode(bytes) {
            Ok(s) => s,
            Err(e) => {
                let reason = format!("undecodable signal: {e}");
                return self.dead(
                    out,
                    source,
                    trigger,
                    (DeadLetterClass::Undecodable, reason),
                    bytes.to_vec(),
                    false,
                );
            }
        };
        let signal = Decoded::of_signal(&decoded);
        if signal.kind == Kind::ChargeStart && !(1..=1000).contains(&signal.power) {
            let reason = format!(
                "impossible power: charge start with energy_delivered = {} kW, outside 1..=1000",
                signal.power
            );
            return self.dead(
                out,
                source,
                trigger,
                (DeadLetterClass::ImpossiblePower, reason),
                bytes.to_vec(),
                false,
            );
        }
        let ts = signal.timestamp_ms;
        if let Some(now) = self.stream_time
            && ts > now.saturating_add(self.ms.skew)
        {
            let reason = format!(
                "timestamp {} is {} ahead of the stream's event time {} (max_clock_skew {})",
                events::time::format_utc(ts),
                human_ms(ts.saturating_sub(now)),
                events::time::format_utc(now),
                human_ms(self.ms.skew),
            );
            return self.dead(
                out,
                source,
                trigger,
                (DeadLetterClass::ClockSkew, reason),
                bytes.to_vec(),
                false,
            );
        }
        let c = self.charger_index(signal.charger_id, pidx);
        let ch = &mut self.chargers[c as usize];
        if ch.pidx as usize != pidx {
            if ch.open.is_open() || ch.extra.is_some() {
                let reason = format!(
                    "charger {} moved from partition {} to partition {} while a visit of it was \
                     open; a visit must stay in one partition",
                    String::from_utf8_lossy(signal.charger_id),
                    self.partitions[ch.pidx as usize].partition,
                    source.partition
                );
                return self.dead(
                    out,
                    source,
                    trigger,
                    (DeadLetterClass::PartitionMove, reason),
                    bytes.to_vec(),
                    false,
                );
            }
            // Nothing open: the charger simply lives on the new partition from now on.
            let before = ch.hold();
            let old = ch.pidx as usize;
            ch.retained_hold = i64::MAX;
            ch.max_off = i64::MAX;
            ch.pidx = pidx as u32;
            self.update_hold(old, c, before, i64::MAX);
        }
        let ch = &mut self.chargers[c as usize];
        let tb = if signal.seq.is_some() {
            0
        } else {
            let t = ch.next_tb;
            ch.next_tb = t.wrapping_add(1);
            u64::from(t)
        };
        let r = RecRef::of_decoded(&signal, tb, source.offset);
        self.accept(c, r, bytes, source, out);
        self.stream_time = Some(self.stream_time.map_or(ts, |t| t.max(ts)));
        let part = &mut self.partitions[pidx];
        part.event_time = Some(part.event_time.map_or(ts, |t| t.max(ts)));
    }

    /// Tells the sessionizer that the stream's event time reached `event_time_ms` (the runner
    /// calls this with the largest event time it has seen): every charger silent for longer than
    /// the inactivity gap is settled — waiting visits emitted, its open visit closed with
    /// [`events::Flag::ClosedByInactivity`] at its last signal, its refused signals
    /// dead-lettered. Cost: proportional to the chargers settled, not to the fleet.
    pub fn advance(&mut self, event_time_ms: i64, out: &mut impl FnMut(Output)) {
        self.advanced_to = Some(
            self.advanced_to
                .map_or(event_time_ms, |t| t.max(event_time_ms)),
        );
        self.stream_time = Some(
            self.stream_time
                .map_or(event_time_ms, |t| t.max(event_time_ms)),
        );
        let gap = self.ms.gap;
        while let Some(&Reverse((ts, c))) = self.wheel.peek() {
            if ts.saturating_add(gap) >= event_time_ms {
                break;
            }
            self.wheel.pop();
            let ch = &mut self.chargers[c as usize];
            ch.bits &= !IN_WHEEL;
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
                ch.bits |= IN_WHEEL;
                self.wheel.push(Reverse((last, c)));
            }
        }
    }

    /// The input of `partition` has gone quiet (a runner decides that by the wall clock): the
    /// visits of its chargers that are over but held back for late signals (out of order,
    /// incomplete, second-resolution ties) and that ended before `until_ms` are taken as final
    /// and emitted. Visits still in progress stay open; refused signals wait as before.
    ///
    /// A runner calls it with the partition's [`partition_time`](Self::partition_time) + 1.
    /// An expiry that emitted something is recorded in the partition's [`Mark`] (as long as a
    /// replay would start before it); after a restart the runner makes it again right after
    /// replaying the record it followed, so the replay reaches the same state
    /// ([`crate::ReplayGuard`] suppresses what it emits again). Cost: proportional to the
    /// partition's chargers that hold anything.
    pub fn expire(&mut self, partition: i32, until_ms: i64, out: &mut impl FnMut(Output)) {
        let Some(&pidx) = self.pmap.get(&partition) else {
            return;
        };
        let pidx = pidx as usize;
        let part = &mut self.partitions[pidx];
        let Some(at) = part.last_offset else {
            return;
        };
        let mut emitted = false;
        let mut out = |o: Output| {
            emitted = true;
            out(o);
        };
        let out = &mut out;
        let mut holders: Vec<u32> = part.holds.iter().map(|&Reverse((_, c))| c).collect();
        holders.sort_unstable();
        holders.dedup();
        let trigger = Trigger::Expire {
            partition,
            after_offset: at,
            until_ms,
        };
        for c in holders {
            let ch = &self.chargers[c as usize];
            if ch.pidx as usize != pidx || ch.hold() == i64::MAX {
                continue;
            }
            let before = ch.hold();
            self.emit_awaiting_until(c, until_ms, trigger, out);
            let after = self.chargers[c as usize].hold();
            self.update_hold(pidx, c, before, after);
        }
        if emitted {
            let part = &mut self.partitions[pidx];
            let resume = part.resume().unwrap_or(i64::MIN);
            part.expiries.retain(|&(offset, _)| offset >= resume);
            // A replay makes a recorded expiry again: it is recorded once.
            if !part.expiries.contains(&(at, until_ms)) {
                part.expiries.push((at, until_ms));
            }
        }
    }

    /// End of input: settles every charger as [`Sessionizer::advance`] does for silent ones.
    pub fn finish(&mut self, out: &mut impl FnMut(Output)) {
        self.wheel.clear();
        for c in 0..self.chargers.len() as u32 {
            let ch = &mut self.chargers[c as usize];
            ch.bits &= !IN_WHEEL;
            if ch.has_state() {
                self.flush(c, Trigger::Finish, out);
            }
        }
    }

    /// The smallest offset of `partition` a restart must replay from to rebuild what is still
    /// open (visits in progress or waiting to be final, buffered signals, and the last visit of
    /// each charger while late signals of it may still come), moved back so that it never falls
    /// between a refused signal and the signals its refusal depended on (see the crate docs).
    /// `None`: nothing is held, commit the position after the last record consumed. A heap peek
    /// plus a walk over the recent refusals (which only faulty input creates).
    pub fn resume_offset(&self, partition: i32) -> Option<i64> {
        let pidx = *self.pmap.get(&partition)?;
        let part = &self.partitions[pidx as usize];
        let resume = part.resume()?;
        let consumed = part.last_offset.map(|o| o + 1);
        (part.holds.peek().is_some() || Some(resume) != consumed).then_some(resume)
    }

    /// What to store with the commit of `partition` for [`crate::ReplayGuard`]; `None` when
    /// nothing was consumed from it.
    pub fn mark(&self, partition: i32) -> Option<Mark> {
        let pidx = *self.pmap.get(&partition)?;
        let part = &self.partitions[pidx as usize];
        let resume = part.resume().unwrap_or(i64::MIN);
        Some(Mark {
            emitted_through: part.last_offset?,
            advanced_to: self.advanced_to,
            expiries: part
                .expiries
                .iter()
                .copied()
                .filter(|&(offset, _)| offset >= resume)
                .collect(),
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
                event_time: None,
                expiries: Vec::new(),
                holds: BinaryHeap::new(),
                live: 0,
                refusals: BTreeMap::new(),
            });
        }
        self.last_pidx = pidx;
        pidx
    }

    fn charger_index(&mut self, id: &[u8], pidx: usize) -> u32 {
        let hash = hash_id(id);
        let (chargers, long_names) = (&self.chargers, &self.long_names);
        let found = self.index.find(hash, |c| {
            let ch = &chargers[c as usize];
            if ch.name.is_spilled() {
                long_names.get(&c).is_some_and(|n| n.as_bytes() == id)
            } else {
                ch.name.holds(id)
            }
        });
        if let Some(c) = found {
            return c;
        }
        let c = self.chargers.len() as u32;
        let name = Inline::new(Some(id)).unwrap_or_else(|| {
            self.long_names
                .insert(c, String::from_utf8_lossy(id).into_owned().into());
            Inline::SPILL
        });
        self.chargers.push(Charger::new(pidx as u32, name));
        let (chargers, long_names) = (&self.chargers, &self.long_names);
        self.index.insert(hash, c, |j| {
            hash_id(name_of(&chargers[j as usize], j, long_names).as_bytes())
        });
        c
    }

    fn name(&self, c: u32) -> &str {
        name_of(&self.chargers[c as usize], c, &self.long_names)
    }

    fn dead(
        &mut self,
        out: &mut impl FnMut(Output),
        source: Source,
        trigger: Trigger,
        (class, reason): (DeadLetterClass, String),
        payload: Vec<u8>,
        reencoded: bool,
    ) {
        self.stats.dead_letters += 1;
        out(Output::DeadLetter {
            source,
            class,
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
        let pidx = ch.pidx as usize;
        let max_before = ch.max_ts();
        // Refusals that depend on what came before are recorded with the earliest offset they
        // depend on, so that a restart never replays the refused signal without it (see
        // `resume_offset`).
        if let Some(max) = max_before
            && r.key.ts < max.saturating_sub(tolerance)
        {
            let dep = ch.max_off;
            self.history_refusal(pidx, dep, source.offset);
            let reason = format!(
                "late signal: {} is {} behind the charger's latest signal, beyond the \
                 reorder tolerance of {}",
                r.kind.name(),
                human_ms(max.saturating_sub(r.key.ts)),
                human_ms(tolerance)
            );
            return self.dead(
                out,
                source,
                trigger,
                (DeadLetterClass::Late, reason),
                raw.to_vec(),
                false,
            );
        }
        match self.duplicate(c, &r) {
            Dup::Same { of_emitted } => {
                // A repeated arrival of a visit already emitted would open a visit of its own
                // if replayed without that visit.
                if of_emitted && r.kind == Kind::Arrival {
                    let dep = self.chargers[ci]
                        .retained_hold
                        .min(self.chargers[ci].max_off);
                    self.history_refusal(pidx, dep, source.offset);
                }
                self.stats.duplicates += 1;
                return;
            }
            Dup::Conflict => {
                let dep = self.chargers[ci].hold().min(self.chargers[ci].max_off);
                self.history_refusal(pidx, dep, source.offset);
                let reason = format!(
                    "{} has the same seq {} as an earlier signal of the charger but other content",
                    r.kind.name(),
                    r.key.tb
                );
                return self.dead(
                    out,
                    source,
                    trigger,
                    (DeadLetterClass::ConflictingDuplicate, reason),
                    raw.to_vec(),
                    false,
                );
            }
            Dup::New => {}
        }
        let ch = &mut self.chargers[ci];
        if r.key < ch.closed_below {
            let dep = ch.retained_hold.min(ch.max_off);
            self.history_refusal(pidx, dep, source.offset);
            let reason = format!(
                "{} arrived after the visit it belongs to was closed and emitted",
                r.kind.name()
            );
            return self.dead(
                out,
                source,
                trigger,
                (DeadLetterClass::AfterClose, reason),
                raw.to_vec(),
                false,
            );
        }
        if max_before.is_none_or(|m| r.key.ts >= m) {
            ch.max_off = source.offset;
        }
        let hold_before = ch.hold();
        let in_order = ch.max_unsettled().is_none_or(|m| r.key > m);
        let max_now = if in_order {
            let step = visit::step(&mut ch.open, &r, self.ms.gap, c, &mut self.spill);
            if let Some(rejected) = step.rejected {
                let mut rec = r.to_owned_rec(Some(raw));
                rec.reject = rejected;
                ch.extra().pending.push(rec);
            }
            // In order, the newcomer is the latest signal taken.
            let max_now = Some(max_before.map_or(r.key.ts, |m| m.max(r.key.ts)));
            if let Some(closed) = step.closed {
                let wm = max_now.map(|m| m.saturating_sub(tolerance));
                if ch.extra.is_none() && is_final(&closed, wm, &[]) {
                    self.emit(c, closed, trigger, out);
                } else {
                    let x = self.chargers[ci].extra();
                    x.awaiting.push(closed);
                }
            }
            max_now
        } else {
            self.rebuild(c, r, raw);
            self.chargers[ci].max_ts()
        };
        self.settle(c, max_now, trigger, out);
        let ch = &self.chargers[ci];
        let hold_after = ch.hold();
        if hold_after != hold_before {
            let pidx = ch.pidx as usize;
            self.update_hold(pidx, c, hold_before, hold_after);
        }
        let ch = &mut self.chargers[ci];
        if ch.bits & IN_WHEEL == 0 && ch.has_state() {
            ch.bits |= IN_WHEEL;
            let last = last_event(ch);
            self.wheel.push(Reverse((last, c)));
        }
    }

    /// `Some(true)`: `r` duplicates a signal already seen; `Some(false)`: same `seq`, other
    /// content; `None`: new.
    fn duplicate(&self, c: u32, r: &RecRef<'_>) -> Dup {
        let of = |d: bool| {
            if d {
                Dup::Same { of_emitted: false }
            } else {
                Dup::Conflict
            }
        };
        let ch = &self.chargers[c as usize];
        if ch.open.is_open()
            && let Some(d) = ch.open.duplicate(r, c, &self.spill)
        {
            return of(d);
        }
        if let Some(x) = &ch.extra {
            for cv in &x.awaiting {
                if let Some(d) = cv.visit.duplicate(r, c, &self.spill) {
                    return of(d);
                }
            }
            for p in &x.pending {
                if let Some(d) = r.duplicate_of(&p.as_ref()) {
                    return of(d);
                }
            }
        }
        let slot = r.kind.bit();
        if r.key.ts <= ch.closed_below.ts
            && ch.bits & slot != 0
            && ch.fps[r.kind.index()] == r.fingerprint()
        {
            return Dup::Same { of_emitted: true };
        }
        Dup::New
    }

    /// Notes that what happened to the signal at `end` depends on the signals from offset `dep`
    /// on (it was refused because of them, or built into a visit with them): a restart must not
    /// start between the two.
    fn history_refusal(&mut self, pidx: usize, dep: i64, end: i64) {
        if dep >= end {
            return;
        }
        let part = &mut self.partitions[pidx];
        part.refusals
            .entry(end)
            .and_modify(|d| *d = (*d).min(dep))
            .or_insert(dep);
        if part.refusals.len() > 64 && part.refusals.len().is_power_of_two() {
            // Refusals that end before the resume point can never matter again (it only grows).
            if let Some(resume) = part.resume() {
                part.refusals = part.refusals.split_off(&resume);
            }
        }
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
    ///
    /// `max_ts` is the charger's [`Charger::max_ts`] (emitting does not change it).
    fn settle(
        &mut self,
        c: u32,
        max_ts: Option<i64>,
        trigger: Trigger,
        out: &mut impl FnMut(Output),
    ) {
        let ci = c as usize;
        let wm = max_ts.map(|m| m.saturating_sub(self.ms.tolerance));
        let ch = &mut self.chargers[ci];
        if ch.extra.is_none() {
            ch.release_retained(wm);
            return;
        }
        loop {
            let ch = &mut self.chargers[ci];
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
        ch.release_retained(wm);
    }

    /// Emits, in order, the charger's waiting visits that end before `until_ms` ([`expire`]).
    /// Only those: refused signals stay buffered and the last visit stays held, so that what
    /// judges later signals is what a replay rebuilds before it expires again.
    ///
    /// [`expire`]: Sessionizer::expire
    fn emit_awaiting_until(
        &mut self,
        c: u32,
        until_ms: i64,
        trigger: Trigger,
        out: &mut impl FnMut(Output),
    ) {
        loop {
            let ch = &mut self.chargers[c as usize];
            let Some(x) = &mut ch.extra else { break };
            if x.awaiting
                .first()
                .is_none_or(|front| front.closer.ts >= until_ms)
            {
                break;
            }
            let closed = x.awaiting.remove(0);
            self.emit(c, closed, trigger, out);
        }
        let ch = &mut self.chargers[c as usize];
        if ch
            .extra
            .as_ref()
            .is_some_and(|x| x.awaiting.is_empty() && x.pending.is_empty())
        {
            ch.extra = None;
        }
    }

    /// Settles everything of a charger at once (advance past its silence, or end of input).
    fn flush(&mut self, c: u32, trigger: Trigger, out: &mut impl FnMut(Output)) {
        let ci = c as usize;
        let ch = &mut self.chargers[ci];
        let before = ch.hold();
        let max = ch.max_unsettled();
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
        if let Some(m) = max {
            let arrived = ch.last_arrived_at();
            ch.closed_below = ch.closed_below.max(m.succ());
            ch.set_last_arrived_at(arrived);
        }
        ch.retained_hold = i64::MAX;
        let after = ch.hold();
        if before != after {
            let pidx = ch.pidx as usize;
            self.update_hold(pidx, c, before, after);
        }
    }

    /// Records that charger `c` (on partition `pidx`) now holds `after` instead of `before`
    /// (`i64::MAX`: nothing).
    fn update_hold(&mut self, pidx: usize, c: u32, before: i64, after: i64) {
        if before == after {
            return;
        }
        let part = &mut self.partitions[pidx];
        if before == i64::MAX {
            part.live += 1;
        }
        if after == i64::MAX {
            part.live = part.live.saturating_sub(1);
        } else {
            part.holds.push(Reverse((after, c)));
        }
        let chargers = &self.chargers;
        let current = |&Reverse((offset, c)): &Reverse<(i64, u32)>| {
            let ch = &chargers[c as usize];
            ch.pidx as usize == pidx && ch.hold() == offset
        };
        while let Some(top) = part.holds.peek() {
            if current(top) {
                break;
            }
            part.holds.pop();
        }
        if part.holds.len() > 4 * part.live + 1024 {
            part.holds.retain(current);
        }
    }

    fn dead_rec(&mut self, c: u32, rec: Rec, trigger: Trigger, out: &mut impl FnMut(Output)) {
        let ch = &self.chargers[c as usize];
        let source = Source {
            partition: self.partitions[ch.pidx as usize].partition,
            offset: rec.offset,
        };
        let (payload, reencoded) = rec.payload(self.name(c));
        let reason = rec.reject.describe(rec.kind);
        self.dead(
            out,
            source,
            trigger,
            (DeadLetterClass::VisitRule, reason),
            payload,
            reencoded,
        );
    }

    /// Emits a final visit as a session and makes it the charger's retained last visit.
    fn emit(
        &mut self,
        c: u32,
        closed: ClosedVisit,
        trigger: Trigger,
        out: &mut impl FnMut(Output),
    ) {
        let v = closed.visit;
        // Signals of the visit that came in before its arrival: a restart starting between them
        // and the arrival would rebuild a different visit from the arrival on.
        if v.arrival_offset() > v.first_offset {
            let pidx = self.chargers[c as usize].pidx as usize;
            self.history_refusal(pidx, v.first_offset, v.arrival_offset());
        }
        let ch = &mut self.chargers[c as usize];
        let arrived_at = v.arrival_key().ts;
        let ordinal = if ch.last_arrived_at() == Some(arrived_at) {
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
        let mask = Kind::ALL
            .into_iter()
            .filter(|&k| v.has(k))
            .fold(0, |m, k| m | k.bit());
        ch.bits = (ch.bits & !FP_BITS) | mask;
        ch.closed_below = ch.closed_below.max(closed.closed_below());
        ch.set_last_arrived_at(Some(arrived_at));
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
        let name = name_of(&self.chargers[c as usize], c, &self.long_names);
        let session = v.into_session(
            closed.closure,
            name,
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

fn name_of<'a>(
    ch: &'a Charger,
    c: u32,
    long_names: &'a HashMap<u32, Box<str>, FxBuild>,
) -> &'a str {
    match ch.name.view() {
        // Always filled from a `&str`.
        InlineText::Text(t) => std::str::from_utf8(t).unwrap_or_default(),
        _ => long_names.get(&c).map_or("", |n| n),
    }
}

/// The latest event time of anything the charger holds.
fn last_event(ch: &Charger) -> i64 {
    let m = ch.max_unsettled().map(|k| k.ts);
    let c = (ch.closed_below != Key::MIN).then_some(ch.closed_below.ts);
    m.max(c).unwrap_or(i64::MIN)
}

/// Milliseconds for people (`1m 30s`, `250ms`).
fn human_ms(ms: i64) -> String {
    humantime::format_duration(std::time::Duration::from_millis(ms.unsigned_abs())).to_string()
}
