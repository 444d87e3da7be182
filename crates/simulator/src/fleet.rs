//! The fleet: a discrete-event simulation of every charger, one scheduler for all of them.
//!
//! Each charger is a small state machine with its own random stream; a binary heap holds the next
//! event of every charger, keyed by `(timestamp, charger index)`. [`Simulator::next_event`] pops
//! the earliest, encodes it into the caller's buffer and reschedules the charger in place (one
//! sift per event). No thread, clock or I/O; memory is a few hundred bytes per charger.

use std::borrow::Cow;
use std::time::Duration;

use events::{Reading, Session, SessionParties, SessionTimes, Signal, encode_into};

use crate::profile::{DurationRange, IntRange, Profile};
use crate::queue::{Due, Queue};
use crate::rng::{Chance, Xoshiro256};
use crate::{Error, Result};

/// Default simulated start: 2026-01-01T00:00:00Z in epoch milliseconds.
pub const DEFAULT_START_MS: i64 = 1_767_225_600_000;

/// Earliest allowed start: below 10^11 the decoder reads integers as epoch *seconds*.
pub const MIN_START_MS: i64 = 100_000_000_000;

/// Latest simulated time a run may reach (year 2255), far from any overflow.
pub const MAX_TIME_MS: i64 = 9_000_000_000_000;

/// The characters of plates and user ids.
const ALPHABET: &[u8; 36] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// What to simulate: how many chargers, from which seed, when, for how long, with which profile.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetConfig {
    /// Number of chargers: `charger-1` … `charger-N` (index `i` is `charger-{i+1}`).
    pub chargers: u32,
    /// Seed of every random stream; the same config gives the same events byte for byte.
    pub seed: u64,
    /// Simulated start, epoch milliseconds (default [`DEFAULT_START_MS`]).
    pub start_ms: i64,
    /// Simulated span: vehicles arrive only before `start_ms + span_ms`; visits in progress then
    /// run to completion, so every event belongs to a complete visit.
    pub span_ms: i64,
    /// Probabilities and durations of a visit.
    pub profile: Profile,
}

impl Default for FleetConfig {
    /// The study's fleet: 100 chargers, seed 0, two simulated hours from 2026-01-01, `study`.
    fn default() -> Self {
        FleetConfig {
            chargers: 100,
            seed: 0,
            start_ms: DEFAULT_START_MS,
            span_ms: 2 * 3_600_000,
            profile: Profile::study(),
        }
    }
}

/// Which event was emitted: enough to key, partition and order it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventMeta {
    /// The charger's index (`charger-{index+1}`); see [`Simulator::charger_id`].
    pub charger_index: u32,
    /// Simulated event time, epoch milliseconds (the JSON's `timestamp`).
    pub timestamp_ms: i64,
    /// The charger's sequence number of this event, from 0 (the JSON's `seq`).
    pub seq: u64,
}

/// Counts of a run so far (or of a whole run, from [`crate::write_jsonl`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// Events emitted.
    pub events: u64,
    /// Bytes of event JSON emitted (without separators).
    pub event_bytes: u64,
    /// Visits completed (departure emitted): one session each.
    pub sessions: u64,
    /// Completed visits that charged.
    pub charged: u64,
    /// Completed visits that left without charging (no-charge violations).
    pub no_charge: u64,
    /// Completed visits idle after charging longer than the grace (overstay violations).
    pub overstays: u64,
    /// Timestamp of the first event emitted.
    pub first_event_ms: Option<i64>,
    /// Timestamp of the last event emitted.
    pub last_event_ms: Option<i64>,
}

/// The id of charger `index`: `charger-{index+1}`.
pub fn charger_id_for(index: u32) -> String {
    format!("charger-{}", u64::from(index) + 1)
}

/// The index of a charger id written by [`charger_id_for`] (`charger-7` → 6); `None` otherwise.
pub fn charger_index_of(id: &str) -> Option<u32> {
    let digits = id.strip_prefix("charger-")?;
    if digits.is_empty() || digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    u32::try_from(n - 1).ok()
}

/// The profile compiled to integer milliseconds and thresholds.
#[derive(Debug, Clone)]
struct Plan {
    tick_ms: i64,
    arrival: Chance,
    no_charge: Chance,
    overstay: Chance,
    no_charge_wait: (u64, u64),
    identification_delay: (u64, u64),
    charge_start_delay: (u64, u64),
    charging_duration: (u64, u64),
    overstay_idle: (u64, u64),
    normal_idle: (u64, u64),
    grace_ms: i64,
    price_cents: (u64, u64),
    power_kw: (u64, u64),
}

impl Plan {
    fn new(p: &Profile) -> Self {
        let ms = |r: DurationRange| (r.min_ms(), r.max_ms());
        let ints = |r: IntRange| (u64::from(r.min), u64::from(r.max));
        Plan {
            tick_ms: ms_i64(p.arrival_tick),
            arrival: Chance::new(p.arrival_probability),
            no_charge: Chance::new(p.no_charge_probability),
            overstay: Chance::new(p.overstay_probability),
            no_charge_wait: ms(p.no_charge_wait),
            identification_delay: ms(p.identification_delay),
            charge_start_delay: ms(p.charge_start_delay),
            charging_duration: ms(p.charging_duration),
            overstay_idle: ms(p.overstay_idle),
            normal_idle: ms(p.normal_idle),
            grace_ms: ms_i64(p.overstay_grace),
            price_cents: ints(p.price_cents),
            power_kw: ints(p.power_kw),
        }
    }
}

fn ms_i64(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The next signal a charger will send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Arrive,
    Identify,
    ChargeStart,
    ChargeEnd,
    Disconnect,
    Leave,
}

/// One visit, drawn whole at arrival. The times of steps that do not happen are unused.
#[derive(Debug, Clone, Copy)]
struct Visit {
    arrived_at: i64,
    identified_at: i64,
    charge_started_at: i64,
    charge_ended_at: i64,
    departed_at: i64,
    plate: [u8; 8],
    user: [u8; 16],
    price_cents: u32,
    power_kw: u32,
    charged: bool,
}

impl Visit {
    const EMPTY: Visit = Visit {
        arrived_at: 0,
        identified_at: 0,
        charge_started_at: 0,
        charge_ended_at: 0,
        departed_at: 0,
        plate: [b'A'; 8],
        user: [b'A'; 16],
        price_cents: 0,
        power_kw: 0,
        charged: false,
    };

    fn overstay(&self, grace_ms: i64) -> bool {
        self.charged && self.departed_at - self.charge_ended_at > grace_ms
    }
}

/// One charger's state: 128 bytes, aligned so that it fills exactly two cache lines (the pair
/// the hardware fetches together); at 100 000 chargers the event loop is bound by these misses.
#[derive(Debug, Clone)]
#[repr(align(64))]
struct Charger {
    rng: Xoshiro256,
    seq: u64,
    step: Step,
    visit: Visit,
}

const _: () = assert!(std::mem::size_of::<Charger>() == 128);

impl Charger {
    /// Draws ticks from `first` until a vehicle arrives (then draws its whole visit and returns
    /// the arrival time) or the span ends (`None`: this charger is done). A tick that cannot
    /// receive a vehicle draws nothing, so a longer span never changes the earlier draws.
    fn schedule_arrival(&mut self, plan: &Plan, first: i64, end_ms: i64) -> Option<i64> {
        if plan.arrival.is_never() {
            return None;
        }
        let mut t = first;
        while t < end_ms {
            if self.rng.hit(plan.arrival) {
                self.draw_visit(plan, t);
                return Some(t);
            }
            t += plan.tick_ms;
        }
        None
    }

    /// Draws a visit arriving at `t`, in a fixed order of draws (changing it changes every run).
    fn draw_visit(&mut self, plan: &Plan, t: i64) {
        fn ms(rng: &mut Xoshiro256, (lo, hi): (u64, u64)) -> i64 {
            // Profile durations are at most a year: the cast cannot wrap.
            rng.between(lo, hi) as i64
        }
        fn int(rng: &mut Xoshiro256, (lo, hi): (u64, u64)) -> u32 {
            // Bounds come from u32.
            rng.between(lo, hi) as u32
        }
        let rng = &mut self.rng;
        let mut v = Visit {
            arrived_at: t,
            ..Visit::EMPTY
        };
        fill_code(rng, &mut v.plate);
        v.charged = !rng.hit(plan.no_charge);
        if v.charged {
            v.identified_at = t + ms(rng, plan.identification_delay);
            fill_code(rng, &mut v.user);
            v.price_cents = int(rng, plan.price_cents);
            v.charge_started_at = v.identified_at + ms(rng, plan.charge_start_delay);
            v.power_kw = int(rng, plan.power_kw);
            v.charge_ended_at = v.charge_started_at + ms(rng, plan.charging_duration);
            let idle = if rng.hit(plan.overstay) {
                plan.overstay_idle
            } else {
                plan.normal_idle
            };
            v.departed_at = v.charge_ended_at + ms(rng, idle);
        } else {
            v.departed_at = t + ms(rng, plan.no_charge_wait);
        }
        self.visit = v;
        self.step = Step::Arrive;
    }
}

/// Fills `code` with uniform characters of [`ALPHABET`] (plates, user ids).
fn fill_code(rng: &mut Xoshiro256, code: &mut [u8]) {
    for c in code {
        *c = ALPHABET[rng.below(ALPHABET.len() as u64) as usize];
    }
}

/// The price sent on the wire and in the session, EUR/kWh.
fn price_eur(cents: u32) -> f64 {
    f64::from(cents) / 100.0
}

/// Plates and user ids are ASCII by construction.
fn ascii(code: &[u8]) -> &str {
    std::str::from_utf8(code).unwrap_or("")
}

/// A visit whose departure was emitted, kept compact until its session is taken.
#[derive(Debug, Clone, Copy)]
struct Completed {
    index: u32,
    visit: Visit,
}

/// The deterministic fleet simulator. See the [crate docs](crate) for the model.
#[derive(Debug)]
pub struct Simulator {
    config: FleetConfig,
    plan: Plan,
    end_ms: i64,
    /// Every charger id, concatenated; `id_ends[i]` is where id `i` ends.
    ids: String,
    id_ends: Vec<usize>,
    chargers: Vec<Charger>,
    queue: Queue,
    record_truth: bool,
    completed: Vec<Completed>,
    summary: Summary,
    /// Sink of [`Simulator::next_event`]'s early read of the next charger (see there).
    touched: u64,
}

impl Simulator {
    /// Validates the config and schedules every charger's first arrival.
    ///
    /// Each charger's first possible arrival is at a random phase within the first tick (sensors
    /// are not synchronised); after a departure, the first possible arrival is one tick later.
    /// Ground truth is recorded by default (see [`Simulator::record_truth`]).
    pub fn new(config: FleetConfig) -> Result<Simulator> {
        config.profile.validate()?;
        if config.span_ms < 0 {
            return Err(Error::Fleet(format!("negative span {} ms", config.span_ms)));
        }
        if !(MIN_START_MS..=MAX_TIME_MS).contains(&config.start_ms) {
            return Err(Error::Fleet(format!(
                "start {} ms is outside {MIN_START_MS}..={MAX_TIME_MS} (epoch milliseconds; \
                 smaller integers would be read as epoch seconds)",
                config.start_ms
            )));
        }
        let end_ms = config.start_ms.saturating_add(config.span_ms);
        let latest = end_ms
            .saturating_add(ms_i64(config.profile.arrival_tick))
            .saturating_add(ms_i64(config.profile.max_visit()));
        if latest > MAX_TIME_MS {
            return Err(Error::Fleet(format!(
                "the run would reach {latest} ms, beyond {MAX_TIME_MS}"
            )));
        }
        let plan = Plan::new(&config.profile);
        let n = config.chargers as usize;
        let mut ids = String::with_capacity(n * 14);
        let mut id_ends = Vec::with_capacity(n);
        let mut chargers = Vec::with_capacity(n);
        let mut queue = Vec::with_capacity(n);
        for index in 0..config.chargers {
            use std::fmt::Write as _;
            let _ = write!(ids, "charger-{}", u64::from(index) + 1);
            id_ends.push(ids.len());
            let mut charger = Charger {
                rng: Xoshiro256::for_charger(config.seed, index),
                seq: 0,
                step: Step::Arrive,
                visit: Visit::EMPTY,
            };
            let phase = charger.rng.below(plan.tick_ms as u64) as i64;
            if let Some(ts) = charger.schedule_arrival(&plan, config.start_ms + phase, end_ms) {
                queue.push(Due { ts, index });
            }
            chargers.push(charger);
        }
        let queue = Queue::from_vec(config.start_ms, queue);
        Ok(Simulator {
            config,
            plan,
            end_ms,
            ids,
            id_ends,
            chargers,
            queue,
            record_truth: true,
            completed: Vec::new(),
            summary: Summary::default(),
            touched: 0,
        })
    }

    /// Emits the next event in global `(timestamp, charger index, seq)` order: clears `out`,
    /// writes the signal's JSON into it, and says which charger sent it. `None` when the run is
    /// over (every visit complete). No allocation: `out` is reused, ids are pre-formatted.
    pub fn next_event(&mut self, out: &mut Vec<u8>) -> Option<EventMeta> {
        let Due { ts, index } = self.queue.peek()?;
        let charger = &mut self.chargers[index as usize];
        let seq = charger.seq;
        charger.seq += 1;
        let id = id_in(&self.ids, &self.id_ends, index);
        let v = charger.visit;
        let reading = match charger.step {
            Step::Arrive => Reading::Parking {
                vehicle_detected: true,
                plate: Some(Cow::Borrowed(ascii(&v.plate))),
            },
            Step::Leave => Reading::Parking {
                vehicle_detected: false,
                plate: Some(Cow::Borrowed(ascii(&v.plate))),
            },
            Step::Identify | Step::Disconnect => Reading::UserData {
                user_connection: charger.step == Step::Identify,
                user_id: Some(Cow::Borrowed(ascii(&v.user))),
                price: Some(price_eur(v.price_cents)),
            },
            Step::ChargeStart => Reading::Charger {
                recharging: true,
                energy_delivered: v.power_kw,
            },
            Step::ChargeEnd => Reading::Charger {
                recharging: false,
                energy_delivered: 0,
            },
        };
        out.clear();
        encode_into(
            &Signal {
                timestamp_ms: ts,
                charger_id: Cow::Borrowed(id),
                seq: Some(seq),
                reading,
            },
            out,
        );
        let s = &mut self.summary;
        s.events += 1;
        s.event_bytes += out.len() as u64;
        s.first_event_ms.get_or_insert(ts);
        s.last_event_ms = Some(ts);

        let next = match charger.step {
            Step::Arrive if v.charged => Some((Step::Identify, v.identified_at)),
            Step::Arrive => Some((Step::Leave, v.departed_at)),
            Step::Identify => Some((Step::ChargeStart, v.charge_started_at)),
            Step::ChargeStart => Some((Step::ChargeEnd, v.charge_ended_at)),
            Step::ChargeEnd => Some((Step::Disconnect, v.charge_ended_at)),
            Step::Disconnect => Some((Step::Leave, v.departed_at)),
            Step::Leave => {
                s.sessions += 1;
                if v.charged {
                    s.charged += 1;
                } else {
                    s.no_charge += 1;
                }
                if v.overstay(self.plan.grace_ms) {
                    s.overstays += 1;
                }
                if self.record_truth {
                    self.completed.push(Completed { index, visit: v });
                }
                let first = v.departed_at + self.plan.tick_ms;
                charger
                    .schedule_arrival(&self.plan, first, self.end_ms)
                    .map(|t| (Step::Arrive, t))
            }
        };
        match next {
            Some((step, t)) => {
                debug_assert!(t >= ts);
                charger.step = step;
                self.queue.replace_top(Due { ts: t, index });
            }
            None => self.queue.pop_top(),
        }
        // Touch the next charger's state now: at large fleets its cache miss is the main cost of
        // an event, and issued here it overlaps with the caller's handling of this event.
        if let Some(next) = self.queue.peek() {
            self.touched = self
                .touched
                .wrapping_add(self.chargers[next.index as usize].seq);
        }
        Some(EventMeta {
            charger_index: index,
            timestamp_ms: ts,
            seq,
        })
    }

    /// The timestamp of the event [`Simulator::next_event`] will emit next (for pacing).
    pub fn peek_timestamp(&self) -> Option<i64> {
        self.queue.peek().map(|due| due.ts)
    }

    /// Whether every event has been emitted.
    pub fn is_done(&self) -> bool {
        self.queue.is_empty()
    }

    /// The id of charger `index` (`charger-{index+1}`), from a table built once.
    ///
    /// # Panics
    /// When `index` is not below [`FleetConfig::chargers`].
    pub fn charger_id(&self, index: u32) -> &str {
        id_in(&self.ids, &self.id_ends, index)
    }

    /// Hands each visit whose departure has been emitted since the last call, as the session it
    /// really was, in the order of their departures. Sessions are built with
    /// [`Session::new`] (grace from the profile, no flags) and id
    /// `Session::id_for(charger_id, arrived_at, 0)`.
    pub fn take_completed_sessions(&mut self, mut sink: impl FnMut(Session)) {
        for done in self.completed.drain(..) {
            let id = id_in(&self.ids, &self.id_ends, done.index);
            sink(session_of(id, &done.visit, self.plan.grace_ms));
        }
    }

    /// How many completed visits wait in [`Simulator::take_completed_sessions`].
    pub fn pending_sessions(&self) -> usize {
        self.completed.len()
    }

    /// Whether to keep completed visits for [`Simulator::take_completed_sessions`] (on by
    /// default). A caller that never takes them should turn this off: they are kept until taken.
    pub fn record_truth(&mut self, on: bool) {
        self.record_truth = on;
        if !on {
            self.completed = Vec::new();
        }
    }

    /// Counts so far.
    pub fn summary(&self) -> Summary {
        self.summary
    }

    /// The config this simulator runs.
    pub fn config(&self) -> &FleetConfig {
        &self.config
    }

    /// End of arrivals, epoch milliseconds: `start_ms + span_ms`.
    pub fn end_ms(&self) -> i64 {
        self.end_ms
    }
}

fn id_in<'a>(ids: &'a str, ends: &[usize], index: u32) -> &'a str {
    let i = index as usize;
    let start = if i == 0 { 0 } else { ends[i - 1] };
    &ids[start..ends[i]]
}

/// The ground truth of one visit.
fn session_of(charger_id: &str, v: &Visit, grace_ms: i64) -> Session {
    let charged = v.charged.then_some(());
    let parties = SessionParties {
        charger_id: charger_id.to_owned(),
        plate: Some(ascii(&v.plate).to_owned()),
        user_id: charged.map(|()| ascii(&v.user).to_owned()),
        price_eur_per_kwh: charged.map(|()| price_eur(v.price_cents)),
        power_kw: charged.map(|()| v.power_kw),
    };
    let times = SessionTimes {
        arrived_at: v.arrived_at,
        identified_at: charged.map(|()| v.identified_at),
        charge_started_at: charged.map(|()| v.charge_started_at),
        charge_ended_at: charged.map(|()| v.charge_ended_at),
        departed_at: v.departed_at,
    };
    Session::new(
        Session::id_for(charger_id, v.arrived_at, 0),
        parties,
        times,
        grace_ms,
        Vec::new(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charger_ids_round_trip() {
        assert_eq!(charger_id_for(0), "charger-1");
        assert_eq!(charger_id_for(u32::MAX), "charger-4294967296");
        for i in [0, 6, 99, 123_456, u32::MAX] {
            assert_eq!(charger_index_of(&charger_id_for(i)), Some(i));
        }
        for bad in [
            "charger-0",
            "charger-",
            "charger-01",
            "charger-+1",
            "c-1",
            "charger-4294967297",
        ] {
            assert_eq!(charger_index_of(bad), None, "{bad}");
        }
    }

    #[test]
    fn id_table_matches_the_formula() {
        let sim = Simulator::new(FleetConfig {
            chargers: 1234,
            ..FleetConfig::default()
        })
        .unwrap();
        for i in 0..1234 {
            assert_eq!(sim.charger_id(i), charger_id_for(i));
        }
    }

    #[test]
    fn rejects_bad_configs() {
        let bad = |c: FleetConfig| Simulator::new(c).is_err();
        assert!(bad(FleetConfig {
            span_ms: -1,
            ..FleetConfig::default()
        }));
        assert!(bad(FleetConfig {
            start_ms: 1_700_000_000, // seconds, not milliseconds
            ..FleetConfig::default()
        }));
        assert!(bad(FleetConfig {
            span_ms: i64::MAX,
            ..FleetConfig::default()
        }));
        let mut profile = Profile::study();
        profile.overstay_probability = -0.1;
        assert!(bad(FleetConfig {
            profile,
            ..FleetConfig::default()
        }));
    }

    #[test]
    fn empty_fleet_and_empty_span() {
        let mut out = Vec::new();
        let mut sim = Simulator::new(FleetConfig {
            chargers: 0,
            ..FleetConfig::default()
        })
        .unwrap();
        assert!(sim.next_event(&mut out).is_none());
        let mut sim = Simulator::new(FleetConfig {
            span_ms: 0,
            ..FleetConfig::default()
        })
        .unwrap();
        assert!(sim.next_event(&mut out).is_none());
        assert!(sim.is_done());
    }

    #[test]
    fn a_charged_visit_reads_like_the_study() {
        let mut profile = Profile::study();
        profile.no_charge_probability = 0.0;
        profile.arrival_probability = 1.0;
        let mut sim = Simulator::new(FleetConfig {
            chargers: 1,
            span_ms: 60_000, // one tick: exactly one arrival, at the charger's phase
            profile,
            ..FleetConfig::default()
        })
        .unwrap();
        let mut out = Vec::new();
        let mut lines = Vec::new();
        while let Some(meta) = sim.next_event(&mut out) {
            assert_eq!(meta.seq, lines.len() as u64);
            lines.push(String::from_utf8(out.clone()).unwrap());
        }
        assert_eq!(lines.len(), 6, "{lines:#?}");
        assert!(lines[0].contains(r#""vehicle_detected":true,"plate":""#));
        assert!(lines[1].contains(r#""user_connection":true"#));
        assert!(lines[2].contains(r#""recharging":true"#));
        assert!(lines[3].contains(r#""recharging":false,"energy_delivered":0"#));
        assert!(lines[4].contains(r#""user_connection":false"#));
        assert!(lines[5].contains(r#""vehicle_detected":false,"plate":""#));
        assert!(lines[0].starts_with(r#"{"timestamp":17672256"#));
        assert!(lines[0].contains(r#","charger_id":"charger-1","#));
        assert!(lines[5].ends_with(r#","seq":5}"#));
        let mut sessions = Vec::new();
        sim.take_completed_sessions(|s| sessions.push(s));
        assert_eq!(sessions.len(), 1);
        let arrived = sessions[0].arrived_at;
        assert!((DEFAULT_START_MS..DEFAULT_START_MS + 60_000).contains(&arrived));
        assert_eq!(sessions[0].session_id, format!("charger-1@{arrived}"));
        assert_eq!(sim.summary().sessions, 1);
        assert_eq!(sim.summary().events, 6);
    }

    #[test]
    fn truth_can_be_switched_off() {
        let mut sim = Simulator::new(FleetConfig::default()).unwrap();
        sim.record_truth(false);
        let mut out = Vec::new();
        while sim.next_event(&mut out).is_some() {}
        assert_eq!(sim.pending_sessions(), 0);
        assert!(sim.summary().sessions > 0);
    }
}
