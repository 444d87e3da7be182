//! One visit's state and the sequential state machine that builds visits from a charger's
//! signals taken in canonical order.
//!
//! A visit has one slot per step (arrival, identification, charge start, charge end, user
//! disconnect, departure). Times are stored as offsets from the arrival, strings inline, so an
//! open visit is a fixed-size value of about a hundred bytes; the slots are also a lossless
//! record of the signals that filled them, which lets the sessionizer take a visit apart and
//! replay its signals when an earlier signal turns up late.

use std::borrow::Cow;
use std::collections::HashMap;

use events::{Flag, Reading, Session, SessionParties, SessionTimes, Signal};

use crate::compact::{FxBuild, Inline, InlineText, Key, fingerprint};
use crate::decoded::Decoded;
use crate::kind::Kind;

/// `present` bit: every signal of the visit carried a `seq`.
const ALL_SEQ: u8 = 1 << 6;
const SLOT_BITS: u8 = 0b0011_1111;

/// `bits`: the plate came from the departure signal (the arrival had none).
const PLATE_FROM_L: u8 = 1;
/// `bits`: the departure signal carried a plate (equal to the visit's).
const L_PLATE: u8 = 2;
/// `bits`: user id and price came from the disconnect signal (no identification seen).
const USER_FROM_D: u8 = 4;
/// `bits`: the disconnect signal carried a user id (equal to the visit's).
const D_USER: u8 = 8;
/// `bits`: the slot holding the largest key, in the top three bits.
const LAST_SHIFT: u8 = 5;
const LOW_BITS: u8 = (1 << LAST_SHIFT) - 1;

/// Strings too long for their inline slot, by (charger, arrival key, field).
pub(crate) type Spill = HashMap<(u32, Key, u8), Box<[u8]>, FxBuild>;
const PLATE_FIELD: u8 = 0;
const USER_FIELD: u8 = 1;

/// Why the state machine refused a signal at its place in the canonical order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reject {
    NoVehicle,
    PlateMismatch,
    AlreadyParked,
    AlreadyIdentified,
    IdentifiedAfterDisconnect,
    AlreadyDisconnected,
    UserMismatch,
    AlreadyCharging,
    SecondCharge,
    EndWithoutStart,
    AlreadyEnded,
    OutOfRange,
}

impl Reject {
    pub fn describe(self, kind: Kind) -> String {
        let what = kind.name();
        match self {
            Reject::NoVehicle if kind == Kind::Departure => {
                format!("{what} with no visit: no vehicle is parked")
            }
            Reject::NoVehicle => {
                format!("{what} while the bay is empty: no arrival was seen before it")
            }
            Reject::PlateMismatch => {
                format!("{what} with a plate different from the parked vehicle's")
            }
            Reject::AlreadyParked => format!("{what} repeats the arrival of the parked vehicle"),
            Reject::AlreadyIdentified => {
                format!("{what} while a user is already identified in this visit")
            }
            Reject::IdentifiedAfterDisconnect => {
                format!("{what} after the user of this visit was disconnected")
            }
            Reject::AlreadyDisconnected => {
                format!("{what} after the user of this visit was already disconnected")
            }
            Reject::UserMismatch => {
                format!("{what} names a user different from the one identified in this visit")
            }
            Reject::AlreadyCharging => format!("{what} while the vehicle is already charging"),
            Reject::SecondCharge => {
                format!("{what} after charging already ended: one charge per visit")
            }
            Reject::EndWithoutStart => format!("{what} without a charge start in this visit"),
            Reject::AlreadyEnded => format!("{what} after charging already ended"),
            Reject::OutOfRange => format!(
                "{what} too far from its visit's arrival (more than 49 days or 32767 signals)"
            ),
        }
    }
}

/// A signal as the state machine sees it, borrowed from a decoded [`Signal`] or a [`Rec`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecRef<'a> {
    pub kind: Kind,
    pub key: Key,
    /// Whether the producer sent a `seq` (then `key.tb` is it).
    pub seq: bool,
    pub offset: i64,
    /// Plate (parking) or user id (user data), UTF-8.
    pub text: Option<&'a [u8]>,
    pub price: Option<f64>,
    /// kW of a charge start.
    pub power: u32,
}

impl<'a> RecRef<'a> {
    pub fn of_decoded(d: &Decoded<'a>, tb: u64, offset: i64) -> RecRef<'a> {
        RecRef {
            kind: d.kind,
            key: Key {
                ts: d.timestamp_ms,
                tb: d.seq.unwrap_or(tb),
            },
            seq: d.seq.is_some(),
            offset,
            text: d.text,
            price: d.price,
            power: d.power,
        }
    }

    /// Whether `self` and `other` carry the same content for duplicate detection: the fields
    /// that make a signal what it is (the disconnect's price and a charge end's power are not
    /// kept, so they do not count).
    pub fn same_content(&self, other: &RecRef<'_>) -> bool {
        self.kind == other.kind
            && self.text == other.text
            && match self.kind {
                Kind::Identification => price_bits(self.price) == price_bits(other.price),
                Kind::ChargeStart => self.power == other.power,
                _ => true,
            }
    }

    /// Duplicate test: same kind, same time, and then same `seq` (when both have one) or, without
    /// `seq`, same content. `Some(false)` when the `seq` matches but the content differs.
    pub fn duplicate_of(&self, other: &RecRef<'_>) -> Option<bool> {
        if self.kind != other.kind || self.key.ts != other.key.ts {
            return None;
        }
        if self.seq && other.seq {
            if self.key.tb != other.key.tb {
                return None;
            }
            return Some(self.same_content(other));
        }
        self.same_content(other).then_some(true)
    }

    pub fn fingerprint(&self) -> u32 {
        let price = if self.kind == Kind::Identification {
            self.price
        } else {
            None
        };
        let power = if self.kind == Kind::ChargeStart {
            self.power
        } else {
            0
        };
        fingerprint(
            self.kind as u8,
            self.key.ts,
            self.seq.then_some(self.key.tb),
            self.text,
            price,
            power,
        )
    }

    pub fn to_owned_rec(self, raw: Option<&[u8]>) -> Rec {
        Rec {
            kind: self.kind,
            key: self.key,
            seq: self.seq,
            offset: self.offset,
            text: self.text.map(Box::from),
            price: self.price,
            power: self.power,
            raw: raw.map(Box::from),
            reject: Reject::NoVehicle,
        }
    }
}

fn price_bits(p: Option<f64>) -> Option<u64> {
    p.map(f64::to_bits)
}

/// An owned signal, kept while it waits (buffered out of order, or refused for now) or while a
/// charger's visits are rebuilt.
#[derive(Debug, Clone)]
pub(crate) struct Rec {
    pub kind: Kind,
    pub key: Key,
    pub seq: bool,
    /// Position in its partition (for a signal taken back out of a visit: the visit's first).
    pub offset: i64,
    pub text: Option<Box<[u8]>>,
    pub price: Option<f64>,
    pub power: u32,
    /// The bytes as received, when this signal was buffered straight from the input.
    pub raw: Option<Box<[u8]>>,
    /// Why the state machine last refused it.
    pub reject: Reject,
}

impl Rec {
    pub fn as_ref(&self) -> RecRef<'_> {
        RecRef {
            kind: self.kind,
            key: self.key,
            seq: self.seq,
            offset: self.offset,
            text: self.text.as_deref(),
            price: self.price,
            power: self.power,
        }
    }

    /// The signal as JSON: the bytes received, or a re-encoding when they were not kept.
    pub fn payload(&self, charger_id: &str) -> (Vec<u8>, bool) {
        if let Some(raw) = &self.raw {
            return (raw.to_vec(), false);
        }
        let text = self.text.as_deref().map(String::from_utf8_lossy);
        let reading = match self.kind {
            Kind::Arrival | Kind::Departure => Reading::Parking {
                vehicle_detected: self.kind == Kind::Arrival,
                plate: text,
            },
            Kind::Identification | Kind::Disconnect => Reading::UserData {
                user_connection: self.kind == Kind::Identification,
                user_id: text,
                price: self.price,
            },
            _ => Reading::Charger {
                recharging: self.kind == Kind::ChargeStart,
                energy_delivered: self.power,
            },
        };
        let mut out = Vec::with_capacity(128);
        events::encode_into(
            &Signal {
                timestamp_ms: self.key.ts,
                charger_id: Cow::Borrowed(charger_id),
                seq: self.seq.then_some(self.key.tb),
                reading,
            },
            &mut out,
        );
        (out, true)
    }
}

/// How a visit ended in the state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Closure {
    /// Its departure signal.
    Departure,
    /// Another arrival while it was still parked.
    NextArrival,
    /// A later signal of its charger came more than the inactivity gap after its last one, or
    /// the stream moved on (advance) or ended (finish).
    Inactivity,
}

/// A visit closed by the state machine, waiting to be final and emitted.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClosedVisit {
    pub visit: Visit,
    pub closure: Closure,
    /// The key of the signal that closed it (its departure, the next arrival, or the signal that
    /// came after the gap); for a closure by advance or finish, the visit's last key.
    pub closer: Key,
    pub closer_seq: bool,
}

impl ClosedVisit {
    /// The keys below this belong to this visit or earlier ones once it is emitted.
    pub fn closed_below(&self) -> Key {
        match self.closure {
            Closure::Departure => self.closer.succ(),
            Closure::NextArrival => self.closer,
            Closure::Inactivity => self.closer,
        }
    }
}

/// One visit. `present == 0` is the empty visit (no vehicle parked).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Visit {
    a_ts: i64,
    a_tb: u64,
    /// Smallest input offset among its signals (what a restart must replay from).
    pub first_offset: i64,
    /// The arrival's offset minus `first_offset` (non-zero when signals of the visit came in
    /// before its arrival).
    a_delta: u32,
    /// EUR/kWh; NaN when none.
    price: f64,
    /// Slots I, S, E, D, L: event time minus the arrival's.
    dts: [u32; 5],
    /// Slots I, S, E, D, L: tiebreak minus the arrival's.
    dtb: [i16; 5],
    plate: Inline<8>,
    user: Inline<16>,
    power: u16,
    present: u8,
    bits: u8,
}

/// The outcome of one step of the state machine.
#[derive(Debug)]
pub(crate) struct StepOut {
    pub closed: Option<ClosedVisit>,
    pub rejected: Option<Reject>,
}

impl Visit {
    pub const EMPTY: Visit = Visit {
        a_ts: 0,
        a_tb: 0,
        first_offset: i64::MAX,
        a_delta: 0,
        price: f64::NAN,
        dts: [0; 5],
        dtb: [0; 5],
        plate: Inline::NONE,
        user: Inline::NONE,
        power: 0,
        present: 0,
        bits: 0,
    };

    #[inline]
    pub fn is_open(&self) -> bool {
        self.present & 1 != 0
    }

    #[inline]
    pub fn has(&self, slot: Kind) -> bool {
        self.present & slot.bit() != 0
    }

    pub fn all_seq(&self) -> bool {
        self.present & ALL_SEQ != 0
    }

    /// How many signals fill the visit.
    pub fn count(&self) -> u32 {
        (self.present & SLOT_BITS).count_ones()
    }

    pub fn arrival_key(&self) -> Key {
        Key {
            ts: self.a_ts,
            tb: self.a_tb,
        }
    }

    #[inline]
    pub fn key(&self, slot: Kind) -> Key {
        if slot == Kind::Arrival {
            return self.arrival_key();
        }
        let i = slot.index() - 1;
        Key {
            ts: self.a_ts + i64::from(self.dts[i]),
            tb: self.a_tb.wrapping_add_signed(i64::from(self.dtb[i])),
        }
    }

    /// The largest key among its signals.
    #[inline]
    pub fn max_key(&self) -> Key {
        self.key(Kind::from_index(self.bits >> LAST_SHIFT))
    }

    fn text<'a, const N: usize>(
        &self,
        inline: &'a Inline<N>,
        field: u8,
        c: u32,
        spill: &'a Spill,
    ) -> Option<&'a [u8]> {
        match inline.view() {
            InlineText::Absent => None,
            InlineText::Text(t) => Some(t),
            InlineText::Spilled => spill.get(&(c, self.arrival_key(), field)).map(|s| &**s),
        }
    }

    pub fn plate<'a>(&'a self, c: u32, spill: &'a Spill) -> Option<&'a [u8]> {
        self.text(&self.plate, PLATE_FIELD, c, spill)
    }

    pub fn user<'a>(&'a self, c: u32, spill: &'a Spill) -> Option<&'a [u8]> {
        self.text(&self.user, USER_FIELD, c, spill)
    }

    pub fn price(&self) -> Option<f64> {
        (!self.price.is_nan()).then_some(self.price)
    }

    fn set_plate(&mut self, text: Option<&[u8]>, c: u32, spill: &mut Spill) {
        self.plate = match Inline::new(text) {
            Some(inline) => inline,
            None => {
                spill.insert(
                    (c, self.arrival_key(), PLATE_FIELD),
                    text.unwrap_or_default().into(),
                );
                Inline::SPILL
            }
        };
    }

    fn set_user(&mut self, text: Option<&[u8]>, c: u32, spill: &mut Spill) {
        self.user = match Inline::new(text) {
            Some(inline) => inline,
            None => {
                spill.insert(
                    (c, self.arrival_key(), USER_FIELD),
                    text.unwrap_or_default().into(),
                );
                Inline::SPILL
            }
        };
    }

    /// Removes the visit's spilled strings, if any (when it is emitted or taken apart).
    pub fn release(&self, c: u32, spill: &mut Spill) {
        if self.plate.is_spilled() {
            spill.remove(&(c, self.arrival_key(), PLATE_FIELD));
        }
        if self.user.is_spilled() {
            spill.remove(&(c, self.arrival_key(), USER_FIELD));
        }
    }

    fn arrive(r: &RecRef<'_>, c: u32, spill: &mut Spill) -> Visit {
        let mut v = Visit {
            a_ts: r.key.ts,
            a_tb: r.key.tb,
            first_offset: r.offset,
            present: 1 | if r.seq { ALL_SEQ } else { 0 },
            ..Visit::EMPTY
        };
        v.set_plate(r.text, c, spill);
        v
    }

    /// Fills `slot` with `r`'s time and tiebreak; `false` when they do not fit the compact form.
    fn fill(&mut self, slot: Kind, r: &RecRef<'_>) -> bool {
        let Ok(dts) = u32::try_from(r.key.ts - self.a_ts) else {
            return false;
        };
        let Ok(dtb) = i16::try_from(i128::from(r.key.tb) - i128::from(self.a_tb)) else {
            return false;
        };
        let i = slot.index() - 1;
        self.dts[i] = dts;
        self.dtb[i] = dtb;
        if r.key > self.max_key() {
            self.bits = (self.bits & LOW_BITS) | ((slot as u8) << LAST_SHIFT);
        }
        self.present |= slot.bit();
        if !r.seq {
            self.present &= !ALL_SEQ;
        }
        if r.offset < self.first_offset {
            let more = u32::try_from(self.first_offset - r.offset).unwrap_or(u32::MAX);
            self.a_delta = self.a_delta.saturating_add(more);
            self.first_offset = r.offset;
        }
        true
    }

    /// The offset of its arrival signal (at most the real one: a signal taken back out of a
    /// visit carries that visit's first offset).
    pub fn arrival_offset(&self) -> i64 {
        self.first_offset.saturating_add(i64::from(self.a_delta))
    }

    /// The signal that fills `slot`, as far as the visit keeps it.
    pub fn slot_rec<'a>(&'a self, slot: Kind, c: u32, spill: &'a Spill) -> RecRef<'a> {
        let (text, price, power) = match slot {
            Kind::Arrival => (
                (self.bits & PLATE_FROM_L == 0)
                    .then(|| self.plate(c, spill))
                    .flatten(),
                None,
                0,
            ),
            Kind::Departure => (
                (self.bits & (PLATE_FROM_L | L_PLATE) != 0)
                    .then(|| self.plate(c, spill))
                    .flatten(),
                None,
                0,
            ),
            Kind::Identification => (self.user(c, spill), self.price(), 0),
            Kind::Disconnect => (
                (self.bits & (USER_FROM_D | D_USER) != 0)
                    .then(|| self.user(c, spill))
                    .flatten(),
                self.price(),
                0,
            ),
            Kind::ChargeStart => (None, None, u32::from(self.power)),
            Kind::ChargeEnd => (None, None, 0),
        };
        RecRef {
            kind: slot,
            key: self.key(slot),
            seq: self.all_seq(),
            offset: if slot == Kind::Arrival {
                self.arrival_offset()
            } else {
                self.first_offset
            },
            text,
            price,
            power,
        }
    }

    /// Whether `r` duplicates a signal of this visit: `Some(true)` duplicate, `Some(false)` same
    /// `seq` with other content (a conflict), `None` not a duplicate.
    pub fn duplicate(&self, r: &RecRef<'_>, c: u32, spill: &Spill) -> Option<bool> {
        if !self.has(r.kind) {
            return None;
        }
        r.duplicate_of(&self.slot_rec(r.kind, c, spill))
    }

    /// Fingerprints of its signals (to recognise their duplicates once it is emitted).
    pub fn fingerprints(&self, c: u32, spill: &Spill) -> [u32; 6] {
        let mut fps = [0; 6];
        for slot in Kind::ALL {
            if self.has(slot) {
                fps[slot.index()] = self.slot_rec(slot, c, spill).fingerprint();
            }
        }
        fps
    }

    /// Takes the visit apart into its signals (releasing its spilled strings).
    pub fn decompose(&self, c: u32, spill: &mut Spill, out: &mut Vec<Rec>) {
        for slot in Kind::ALL {
            if self.has(slot) {
                out.push(self.slot_rec(slot, c, spill).to_owned_rec(None));
            }
        }
        self.release(c, spill);
    }

    /// Whether the visit is one of the two shapes of a normal visit, complete and in canonical
    /// order: arrival then departure only, or arrival, identification, charge start, charge
    /// end and user disconnect (either order, after the identification), departure.
    pub fn is_canonical(&self) -> bool {
        match self.present & SLOT_BITS {
            0b10_0001 => true,
            0b11_1111 => {
                let k = |s| self.key(s);
                k(Kind::Arrival) < k(Kind::Identification)
                    && k(Kind::Identification) < k(Kind::ChargeStart)
                    && k(Kind::ChargeStart) < k(Kind::ChargeEnd)
                    && k(Kind::Identification) < k(Kind::Disconnect)
                    && k(Kind::ChargeEnd).max(k(Kind::Disconnect)) < k(Kind::Departure)
                    && self.bits & USER_FROM_D == 0
            }
            _ => false,
        }
    }

    /// Builds the session of a closed visit (releasing its spilled strings).
    pub fn into_session(
        self,
        closure: Closure,
        charger_id: &str,
        ordinal: u32,
        grace_ms: i64,
        c: u32,
        spill: &mut Spill,
    ) -> Session {
        let arrived_at = self.a_ts;
        let ts = |slot: Kind| self.has(slot).then(|| self.key(slot).ts);
        let departed_at = match closure {
            Closure::Departure => ts(Kind::Departure).unwrap_or(arrived_at),
            Closure::NextArrival | Closure::Inactivity => self.max_key().ts,
        };
        let mut flags = Vec::new();
        match closure {
            Closure::Departure => {}
            Closure::NextArrival => flags.push(Flag::ClosedByNextArrival),
            Closure::Inactivity => flags.push(Flag::ClosedByInactivity),
        }
        let charge_started_at = ts(Kind::ChargeStart);
        let mut charge_ended_at = ts(Kind::ChargeEnd);
        if charge_started_at.is_some() && charge_ended_at.is_none() {
            charge_ended_at = Some(departed_at);
            flags.push(Flag::InferredChargeEnd);
        }
        if self.has(Kind::Identification) && !self.has(Kind::Disconnect) {
            flags.push(Flag::InferredUserDisconnect);
        }
        if self.has(Kind::ChargeStart)
            && !(self.has(Kind::Identification)
                && self.key(Kind::Identification) < self.key(Kind::ChargeStart))
        {
            flags.push(Flag::ChargeWithoutIdentification);
        }
        let parties = SessionParties {
            charger_id: charger_id.to_owned(),
            plate: self.plate(c, spill).map(utf8),
            user_id: self.user(c, spill).map(utf8),
            price_eur_per_kwh: self.price(),
            power_kw: self.has(Kind::ChargeStart).then_some(u32::from(self.power)),
        };
        self.release(c, spill);
        let times = SessionTimes {
            arrived_at,
            identified_at: ts(Kind::Identification),
            charge_started_at,
            charge_ended_at,
            departed_at,
        };
        Session::new(
            Session::id_for(charger_id, arrived_at, ordinal),
            parties,
            times,
            grace_ms,
            flags,
        )
    }
}

/// Text kept as bytes (always from a `&str`) back as a `String`.
fn utf8(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// One step of the state machine, for the next signal of a charger in canonical order.
///
/// `open` is the visit in progress (empty when the bay is free). A closed visit comes out in
/// [`StepOut::closed`]; a refused signal in [`StepOut::rejected`] (the caller keeps it until
/// no earlier signal can arrive, then dead-letters it).
pub(crate) fn step(
    open: &mut Visit,
    r: &RecRef<'_>,
    gap_ms: i64,
    c: u32,
    spill: &mut Spill,
) -> StepOut {
    let mut closed = None;
    if open.is_open() && r.key.ts.saturating_sub(open.max_key().ts) > gap_ms {
        closed = Some(ClosedVisit {
            visit: std::mem::replace(open, Visit::EMPTY),
            closure: Closure::Inactivity,
            closer: r.key,
            closer_seq: r.seq,
        });
    }
    if !open.is_open() {
        if r.kind == Kind::Arrival {
            *open = Visit::arrive(r, c, spill);
            return StepOut {
                closed,
                rejected: None,
            };
        }
        return StepOut {
            closed,
            rejected: Some(Reject::NoVehicle),
        };
    }
    let rejected = apply(open, r, c, spill);
    if rejected.is_none() {
        match r.kind {
            Kind::Arrival => {
                // `apply` refused nothing: the new arrival closes the parked visit.
                let previous = std::mem::replace(open, Visit::arrive(r, c, spill));
                closed = Some(ClosedVisit {
                    visit: previous,
                    closure: Closure::NextArrival,
                    closer: r.key,
                    closer_seq: r.seq,
                });
            }
            Kind::Departure => {
                closed = Some(ClosedVisit {
                    visit: std::mem::replace(open, Visit::EMPTY),
                    closure: Closure::Departure,
                    closer: r.key,
                    closer_seq: r.seq,
                });
            }
            _ => {}
        }
    }
    StepOut { closed, rejected }
}

/// Applies `r` to the open visit `v`, or says why not.
fn apply(v: &mut Visit, r: &RecRef<'_>, c: u32, spill: &mut Spill) -> Option<Reject> {
    match r.kind {
        Kind::Arrival => {
            // The same vehicle reported again (a bouncing sensor) is not a new visit.
            let same = r.text.is_some() && r.text == v.plate(c, spill) && v.count() == 1;
            same.then_some(Reject::AlreadyParked)
        }
        Kind::Departure => {
            let parked = v.plate(c, spill);
            if let (Some(p), Some(q)) = (parked, r.text)
                && p != q
            {
                return Some(Reject::PlateMismatch);
            }
            let parked_unknown = parked.is_none();
            if !v.fill(Kind::Departure, r) {
                return Some(Reject::OutOfRange);
            }
            if r.text.is_some() {
                if parked_unknown {
                    v.set_plate(r.text, c, spill);
                    v.bits |= PLATE_FROM_L;
                }
                v.bits |= L_PLATE;
            }
            None
        }
        Kind::Identification => {
            if v.has(Kind::Identification) {
                return Some(Reject::AlreadyIdentified);
            }
            if v.has(Kind::Disconnect) {
                return Some(Reject::IdentifiedAfterDisconnect);
            }
            if !v.fill(Kind::Identification, r) {
                return Some(Reject::OutOfRange);
            }
            v.set_user(r.text, c, spill);
            v.price = r.price.unwrap_or(f64::NAN);
            None
        }
        Kind::Disconnect => {
            if v.has(Kind::Disconnect) {
                return Some(Reject::AlreadyDisconnected);
            }
            if v.has(Kind::Identification)
                && let (Some(u), Some(q)) = (v.user(c, spill), r.text)
                && u != q
            {
                return Some(Reject::UserMismatch);
            }
            if !v.fill(Kind::Disconnect, r) {
                return Some(Reject::OutOfRange);
            }
            if !v.has(Kind::Identification) {
                v.set_user(r.text, c, spill);
                v.price = r.price.unwrap_or(f64::NAN);
                v.bits |= USER_FROM_D;
            }
            if r.text.is_some() {
                v.bits |= D_USER;
            }
            None
        }
        Kind::ChargeStart => {
            if v.has(Kind::ChargeEnd) {
                return Some(Reject::SecondCharge);
            }
            if v.has(Kind::ChargeStart) {
                return Some(Reject::AlreadyCharging);
            }
            if !v.fill(Kind::ChargeStart, r) {
                return Some(Reject::OutOfRange);
            }
            v.power = u16::try_from(r.power).unwrap_or(u16::MAX);
            None
        }
        _ => {
            if !v.has(Kind::ChargeStart) {
                return Some(Reject::EndWithoutStart);
            }
            if v.has(Kind::ChargeEnd) {
                return Some(Reject::AlreadyEnded);
            }
            if !v.fill(Kind::ChargeEnd, r) {
                return Some(Reject::OutOfRange);
            }
            None
        }
    }
}
