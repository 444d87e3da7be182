//! The aggregator core of evbench: raw sensor signals in, one charging session per visit out.
//!
//! This crate is the role Apache Flink plays in the study, as a pure state machine: no Kafka, no
//! clock, no threads. [`Sessionizer::push`] takes one record (its bytes and its [`Source`]
//! position), and hands every [`Output`] — a [`events::Session`] or a dead letter — to a
//! callback. The Kafka runner and `evbench sessionize` ([`sessionize_jsonl`]) sit on top.
//!
//! # The visit
//! Per charger, in the study's format: arrival (parking `vehicle_detected=true`, plate) →
//! identification (user `user_connection=true`, user id, price) → charge start (charger
//! `recharging=true`, `energy_delivered` = kW) → charge end (`recharging=false`) → user
//! disconnect (`user_connection=false`) → departure (`vehicle_detected=false`). A visit without
//! charging is arrival → departure. A session is emitted exactly once, when the visit is over,
//! built by [`events::Session::new`] (so energy, revenue, durations, outcome and the overstay
//! rule `idle after charge > overstay_grace` are the same arithmetic as the ground truth), with
//! id `Session::id_for(charger_id, arrived_at, n)`, `n` counting earlier visits of the charger
//! that arrived in the same millisecond.
//!
//! # Canonical order, and how the input may differ from it
//! A charger's signals are taken in *canonical order*: by timestamp, then by `seq` when the
//! producer sends one (evbench's simulator does), else in the order they came in (so with
//! second-resolution timestamps, ties keep input order). The state machine processes signals in
//! that order; the sessionizer makes real input look like it:
//!
//! * **Duplicates** — same charger, same timestamp, same kind, and the same `seq` (when both
//!   have one) or else the same content — are ignored (counted in [`Stats::duplicates`]). A
//!   signal with the same `seq` but other content is dead-lettered.
//! * **Out of order within `reorder_tolerance`** (event time behind the charger's latest
//!   signal): the charger's unfinished visits are taken apart and their signals replayed with
//!   the newcomer in canonical order, so the result is the same as in order. A visit is emitted
//!   only once it is *final*: nothing that could change it can still arrive. That is
//!   immediate on the departure of a complete visit — with `seq`, when every seq from its
//!   arrival to its departure has been seen; without `seq`, when it has exactly the normal
//!   shape (arrival, identification, charge start, charge end, disconnect, departure in order,
//!   or arrival and departure only). Otherwise (a signal missing or out of order) it waits until
//!   the charger's own event time passes its end by the tolerance — never a wall clock.
//! * **Late beyond the tolerance**, or belonging to a visit already emitted: dead letter.
//! * **Missing signals are inferred and flagged**: no disconnect after an identification ⇒
//!   [`events::Flag::InferredUserDisconnect`]; charging never ended ⇒ charge end = departure,
//!   [`events::Flag::InferredChargeEnd`]; a new arrival while a vehicle is parked ⇒ the parked
//!   visit ends at its last signal, [`events::Flag::ClosedByNextArrival`]; charging without a
//!   prior identification ⇒ [`events::Flag::ChargeWithoutIdentification`] (a disconnect then
//!   supplies user id and price when it names them); a visit whose charger stays silent for
//!   longer than `inactivity_gap` (seen by a later signal of the charger, by
//!   [`Sessionizer::advance`], or at [`Sessionizer::finish`]) ends at its last signal,
//!   [`events::Flag::ClosedByInactivity`]. Flags are sorted.
//! * **Impossible or contradictory signals** become dead letters with a reason, never a panic
//!   or a stop: undecodable bytes, charge-start power outside `1..=1000` kW, timestamps more
//!   than `max_clock_skew` ahead of the stream, a departure with no visit, a charge start or
//!   identification while the bay is empty, a second identification or charge in one visit, a
//!   charge end without a start, a departure or disconnect naming another plate or user, the
//!   same vehicle's arrival reported twice in a row, a charger moving partition mid-visit.
//!   Refusals that an earlier signal might still explain (a charge start whose arrival is
//!   merely late) are held until the tolerance has passed, then dead-lettered.
//!
//! # Exactly-once protocol (for the Kafka runner)
//! The sessionizer keeps no state that cannot be rebuilt from its input: after a crash, the
//! runner replays each partition from a committed offset and drops what was already produced.
//!
//! 1. **Commit** (in the same transaction as the produced outputs), per partition `p`: the
//!    offset [`Sessionizer::resume_offset`]`(p)` — or, when it is `None`, the position after
//!    the last record consumed — and, as the offset's metadata, [`Sessionizer::mark`]`(p)`
//!    ([`Mark::encode`]): the last offset consumed and the largest time given to `advance`.
//!    After a restart, commit [`ReplayGuard::mark_to_commit`] instead, which adds what the
//!    run before it produced (a second restart during the replay must not make that again).
//! 2. **Restart**: read the committed offsets and marks, build a [`ReplayGuard`] from the
//!    marks ([`Mark::decode`]), seek each partition to its committed offset, and pass every
//!    output through [`ReplayGuard::filter`] (or test [`ReplayGuard::admits`]). Outputs
//!    triggered by a record at or before the mark were produced before the crash and are
//!    suppressed; the rest are new.
//! 3. **Rebalance**: a partition that moves to another instance is a restart for it: the new
//!    owner resumes from its committed offset and mark. The old owner commits before giving
//!    it up and drops its state (a fresh sessionizer, or one sessionizer per partition).
//!
//! What `resume_offset` holds back, per charger: the first signal of every visit not yet
//! emitted, of every buffered signal, and of the last emitted visit while late signals of it
//! may still come (the charger's event time has not passed its end by the tolerance) or while
//! a visit that arrived in the same millisecond is still open (its ordinal depends on it). The
//! signal that holds the charger's latest event time is always among them, so a replay judges
//! lateness exactly as the first run did. Where a decision about a signal depended on earlier
//! signals that are no longer held — a signal refused as late, as belonging to a visit already
//! emitted, as a conflicting `seq`, a repeated arrival of an emitted visit, or a visit whose
//! signals came in before its arrival — the pair of offsets is remembered, and the resume point
//! never falls between them. The cost is a peek at a heap and a walk over those pairs, which
//! only faults create.
//!
//! Every output carries its [`Trigger`]: the record whose processing produced it (a departure,
//! a late signal that completed a visit, the record itself for a dead letter) or the `advance`
//! deadline. Triggers, not the positions of the signals inside a visit, decide suppression,
//! which keeps outputs that became final only later (after a reordered signal) exact.
//!
//! Property tests crash and restart the sessionizer at random points (with the simulator's
//! events and with generated visits, over one or several partitions, with duplicates,
//! reordering within the tolerance, lost signals, signals later than the tolerance and
//! undecodable records) and check that every output of an uninterrupted run comes out exactly
//! once. Limits:
//! * Contradictory signals (a departure naming another plate, arrivals repeated with other
//!   signals in between, ...) combined with reordering can make a replay interpret the
//!   contradictory part differently (which visit a refused signal is charged to), and so emit
//!   its sessions or dead letters differently after a restart.
//! * `advance` is driven by the runner's view of event time across partitions, so an
//!   inactivity closure may happen at another point after a restart when partitions are
//!   consumed at very different speeds: give `advance` a time every partition has reached (a
//!   low watermark), with a gap that dwarfs consumer lag. A charger settled by `advance` no
//!   longer holds its last visit: a signal of it delayed by more than the inactivity gap,
//!   coming after that, may be judged otherwise after a restart (another reason, or an output
//!   lost or made twice). The property tests delay signals by less than the gap.
//! * A charger whose signals move to another partition in the middle of a visit is refused
//!   there (dead letter) rather than followed.
//!
//! # Memory
//! A charger's state, its open visit and its id included, is [`CHARGER_STATE_BYTES`] bytes
//! (times stored as offsets from the arrival, plate, user id and charger id inline, longer ones
//! kept aside); visits waiting for a late signal and buffered signals live in a side allocation
//! only while they exist. The id index costs 8 bytes a slot, half full at most.
//!
//! # Speed
//! evbench's own producers write signals in one fixed layout, which a byte scanner reads; any
//! other layout goes through [`events::decode`] (the scanner's answers are property-tested to
//! be that decoder's). A complete visit that arrives in order touches no allocation but its
//! session's strings.

mod compact;
mod config;
mod decoded;
mod jsonl;
mod kind;
mod replay;
mod sessionizer;
mod visit;

pub use config::SessionizerConfig;
pub use jsonl::{Summary, sessionize_jsonl};
pub use replay::ReplayGuard;
pub use sessionizer::{
    CHARGER_STATE_BYTES, DeadLetterClass, Mark, Output, Sessionizer, Source, Stats, Trigger,
};

/// Errors of the aggregator crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The sessionizer's config does not hold together.
    #[error("invalid sessionizer config: {0}")]
    Config(String),
    /// A commit mark that does not read as [`Mark::encode`] writes it.
    #[error("unreadable aggregator commit mark {0:?}")]
    Mark(String),
    /// Reading input or writing output failed.
    #[error("reading the input or writing the output")]
    Io(#[from] std::io::Error),
    /// Writing JSON failed.
    #[error("encoding JSON")]
    Json(#[from] serde_json::Error),
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
