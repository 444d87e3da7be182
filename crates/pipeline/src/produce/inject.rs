//! The producer's fault injection: which records go out for each simulated signal, and in which
//! order. Pure logic (no Kafka, no clock): the same options and seed inject the same faults, byte
//! for byte.
//!
//! * **duplicate**: the signal is sent again right after itself (the aggregator must ignore it).
//! * **malformed**: a bad record follows the signal, of one of six kinds ([`MalformedKind`]),
//!   each of which the aggregator must dead-letter with a reason naming what is wrong.
//! * **reorder**: the signal is held back and sent right after the charger's next signal, when
//!   that one is at most `reorder_within` later in event time (so within the aggregator's
//!   tolerance); otherwise it goes out in order. Signals that complete a visit are never held:
//!   their send time is where the visit's latency starts.
//! * **late**: the signal is sent a second time right after the charger's first signal more than
//!   `late_by` later in event time (a gateway retrying after an outage): beyond the tolerance,
//!   the aggregator must dead-letter the copy as late, never count it.
//! * **clock skew**: the first `skewed_chargers` chargers' clocks run `clock_skew` ahead: every
//!   timestamp they send is shifted, and so are their ground-truth sessions
//!   ([`shift_session`]).

use std::collections::HashMap;

use events::Session;
use serde::Serialize;
use simulator::rng::SplitMix64;

use super::FaultOptions;

/// A kind of malformed record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MalformedKind {
    /// The first half of the signal's JSON.
    Truncated,
    /// `"vehicle_detected": "yes"`: a string where a boolean belongs.
    WrongType,
    /// A record of no known sensor (`temperature_c`).
    UnknownSensor,
    /// A user-identification signal with a negative price.
    NegativePrice,
    /// A charge start at 5 000 kW.
    PowerOutOfRange,
    /// A parking signal stamped 30 days ahead.
    FarFuture,
}

impl MalformedKind {
    /// Every kind, in the order they are drawn.
    pub const ALL: [MalformedKind; 6] = [
        MalformedKind::Truncated,
        MalformedKind::WrongType,
        MalformedKind::UnknownSensor,
        MalformedKind::NegativePrice,
        MalformedKind::PowerOutOfRange,
        MalformedKind::FarFuture,
    ];

    pub fn name(self) -> &'static str {
        match self {
            MalformedKind::Truncated => "truncated",
            MalformedKind::WrongType => "wrong-type",
            MalformedKind::UnknownSensor => "unknown-sensor",
            MalformedKind::NegativePrice => "negative-price",
            MalformedKind::PowerOutOfRange => "power-out-of-range",
            MalformedKind::FarFuture => "far-future",
        }
    }

    /// Whether it is a well-formed signal whose values only the aggregator can judge: the sink
    /// stores it as a raw signal (raw storage keeps what was sent), the aggregator dead-letters it.
    pub fn decodable(self) -> bool {
        matches!(
            self,
            MalformedKind::PowerOutOfRange | MalformedKind::FarFuture
        )
    }

    /// What the aggregator's dead-letter reason must say for this kind.
    pub fn reason_says(self) -> &'static str {
        match self {
            MalformedKind::Truncated => "malformed JSON",
            MalformedKind::WrongType => "invalid type",
            MalformedKind::UnknownSensor => "unknown sensor",
            MalformedKind::NegativePrice => "price",
            MalformedKind::PowerOutOfRange => "impossible power",
            MalformedKind::FarFuture => "ahead of the stream",
        }
    }

    /// Writes the record that follows a signal of `charger_id` at `timestamp_ms` (`json`).
    fn write(self, out: &mut Vec<u8>, json: &[u8], charger_id: &str, timestamp_ms: i64) {
        use std::io::Write as _;
        out.clear();
        let id = serde_json::to_string(charger_id).unwrap_or_else(|_| "\"?\"".into());
        let _ = match self {
            MalformedKind::Truncated => {
                out.extend_from_slice(&json[..json.len() / 2]);
                Ok(())
            }
            MalformedKind::WrongType => write!(
                out,
                r#"{{"timestamp":{timestamp_ms},"charger_id":{id},"vehicle_detected":"yes"}}"#
            ),
            MalformedKind::UnknownSensor => write!(
                out,
                r#"{{"timestamp":{timestamp_ms},"charger_id":{id},"temperature_c":21.5}}"#
            ),
            MalformedKind::NegativePrice => write!(
                out,
                r#"{{"timestamp":{timestamp_ms},"charger_id":{id},"user_connection":true,"user_id":"u-injected","price":-0.35}}"#
            ),
            MalformedKind::PowerOutOfRange => write!(
                out,
                r#"{{"timestamp":{timestamp_ms},"charger_id":{id},"recharging":true,"energy_delivered":5000}}"#
            ),
            MalformedKind::FarFuture => write!(
                out,
                r#"{{"timestamp":{},"charger_id":{id},"vehicle_detected":true,"plate":"FUTURE"}}"#,
                timestamp_ms + 30 * 86_400_000
            ),
        };
    }
}

/// Where the injector's records go: the producer's send (a vector in tests).
pub type Emit<'a, E> = dyn FnMut(Outgoing, &[u8]) -> Result<(), E> + 'a;

/// What a record sent by the producer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outgoing {
    /// A simulated signal, in order.
    Signal,
    /// A simulated signal sent after the charger's next one.
    Reordered,
    /// An exact copy, right after the signal.
    Duplicate,
    /// A copy sent again beyond the reorder tolerance.
    Late,
    Malformed(MalformedKind),
}

/// How many faults went out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct InjectedCounts {
    pub duplicates: u64,
    /// Malformed records of each kind, in [`MalformedKind::ALL`] order.
    pub malformed: [u64; 6],
    /// Signals sent after the charger's next signal.
    pub reordered: u64,
    /// Copies sent beyond the tolerance.
    pub late: u64,
    /// Signals of chargers whose clock is skewed.
    pub skewed_signals: u64,
}

impl InjectedCounts {
    pub fn malformed_total(&self) -> u64 {
        self.malformed.iter().sum()
    }

    /// Malformed records the sink stores as raw signals (see [`MalformedKind::decodable`]).
    pub fn malformed_decodable(&self) -> u64 {
        MalformedKind::ALL
            .iter()
            .zip(self.malformed)
            .filter(|(kind, _)| kind.decodable())
            .map(|(_, n)| n)
            .sum()
    }
}

/// A signal waiting to go out.
#[derive(Debug)]
struct Held {
    payload: Vec<u8>,
    timestamp_ms: i64,
}

/// Decides, signal by signal, what the producer sends.
#[derive(Debug)]
pub struct Injector {
    options: FaultOptions,
    rng: SplitMix64,
    reorder_within_ms: i64,
    late_by_ms: i64,
    skew_ms: i64,
    /// Per charger, a signal held back to be sent after the charger's next one.
    held: HashMap<u32, Held>,
    /// Per charger, copies to send again once a signal far enough ahead has gone out.
    late: HashMap<u32, Vec<Held>>,
    scratch: Vec<u8>,
    skewed: Vec<u8>,
    next_malformed: usize,
    pub counts: InjectedCounts,
}

fn ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Injector {
    pub fn new(options: &FaultOptions) -> Injector {
        Injector {
            options: *options,
            rng: SplitMix64::new(options.seed),
            reorder_within_ms: ms(options.reorder_within),
            late_by_ms: ms(options.late_by),
            skew_ms: ms(options.clock_skew),
            held: HashMap::new(),
            late: HashMap::new(),
            scratch: Vec::with_capacity(256),
            skewed: Vec::with_capacity(256),
            next_malformed: 0,
            counts: InjectedCounts::default(),
        }
    }

    /// Whether it does anything at all (when not, the producer sends each signal as it is).
    pub fn is_idle(&self) -> bool {
        let o = &self.options;
        o.duplicate_share == 0.0
            && o.malformed_share == 0.0
            && o.reorder_share == 0.0
            && o.late_share == 0.0
            && (o.skewed_chargers == 0 || self.skew_ms == 0)
    }

    /// A draw of the fault stream; none is made for a fault that is off, so that turning one on
    /// changes nothing for scenarios that do not use it.
    fn draw(&mut self, share: f64) -> bool {
        share > 0.0 && self.rng.chance(share)
    }

    /// How far ahead charger `index`'s clock runs, ms.
    pub fn clock_offset_ms(&self, index: u32) -> i64 {
        if index < self.options.skewed_chargers {
            self.skew_ms
        } else {
            0
        }
    }

    /// Sends (through `emit`) what goes out for one simulated signal: `json` of charger `index`
    /// (`charger_id`) at `timestamp_ms`; `completes_visit` when it is a visit's last signal.
    pub fn on_signal<E>(
        &mut self,
        index: u32,
        charger_id: &str,
        timestamp_ms: i64,
        json: &[u8],
        completes_visit: bool,
        emit: &mut Emit<'_, E>,
    ) -> Result<(), E> {
        // Skewed clock: the charger stamps its own (wrong) time.
        let offset = self.clock_offset_ms(index);
        let mut skewed = std::mem::take(&mut self.skewed);
        let (json, timestamp_ms) = if offset != 0 {
            self.counts.skewed_signals += 1;
            skewed.clear();
            match events::decode(json) {
                Ok(mut signal) => {
                    signal.timestamp_ms += offset;
                    events::signal::encode_into(&signal, &mut skewed);
                }
                Err(_) => skewed.extend_from_slice(json),
            }
            (&skewed[..], timestamp_ms + offset)
        } else {
            (json, timestamp_ms)
        };
        let result = self.send(index, charger_id, timestamp_ms, json, completes_visit, emit);
        self.skewed = skewed;
        result
    }

    fn send<E>(
        &mut self,
        index: u32,
        charger_id: &str,
        timestamp_ms: i64,
        json: &[u8],
        completes_visit: bool,
        emit: &mut Emit<'_, E>,
    ) -> Result<(), E> {
        // A signal held back goes out right after this one when that is a reordering within
        // the tolerance, and before it otherwise.
        let held = self.held.remove(&index);
        let reordered = held
            .as_ref()
            .is_some_and(|h| timestamp_ms - h.timestamp_ms <= self.reorder_within_ms);
        if let Some(h) = held.as_ref().filter(|_| !reordered) {
            emit(Outgoing::Signal, &h.payload)?;
        }
        // One signal of a charger held at a time: the one held before must go out after this one.
        let hold_this = held.is_none() && !completes_visit && self.draw(self.options.reorder_share);
        if hold_this {
            // Sent later (below, or at the charger's next signal, or at the end).
            self.held.insert(
                index,
                Held {
                    payload: json.to_vec(),
                    timestamp_ms,
                },
            );
        } else {
            emit(Outgoing::Signal, json)?;
        }
        if let Some(h) = held.filter(|_| reordered) {
            self.counts.reordered += 1;
            emit(Outgoing::Reordered, &h.payload)?;
        }

        // Copies waiting for a signal far enough ahead to make them late.
        if let Some(waiting) = self.late.get_mut(&index) {
            let late_by = self.late_by_ms;
            let mut due = Vec::new();
            waiting.retain_mut(|h| {
                if timestamp_ms - h.timestamp_ms > late_by {
                    due.push(std::mem::take(&mut h.payload));
                    false
                } else {
                    true
                }
            });
            for payload in due {
                self.counts.late += 1;
                emit(Outgoing::Late, &payload)?;
            }
        }
        if self.draw(self.options.late_share) {
            self.late.entry(index).or_default().push(Held {
                payload: json.to_vec(),
                timestamp_ms,
            });
        }

        if self.draw(self.options.duplicate_share) {
            self.counts.duplicates += 1;
            emit(Outgoing::Duplicate, json)?;
        }
        if self.draw(self.options.malformed_share) {
            let i = self.next_malformed % MalformedKind::ALL.len();
            let kind = MalformedKind::ALL[i];
            self.next_malformed += 1;
            self.counts.malformed[i] += 1;
            kind.write(&mut self.scratch, json, charger_id, timestamp_ms);
            let record = std::mem::take(&mut self.scratch);
            let result = emit(Outgoing::Malformed(kind), &record);
            self.scratch = record;
            result?;
        }
        Ok(())
    }

    /// At the end: signals still held go out (in charger order: deterministic); copies that
    /// never got a signal far enough ahead are not sent (and not counted).
    pub fn finish<E>(&mut self, emit: &mut Emit<'_, E>) -> Result<(), E> {
        let mut held: Vec<(u32, Held)> = self.held.drain().collect();
        held.sort_by_key(|(index, _)| *index);
        for (_, h) in held {
            emit(Outgoing::Signal, &h.payload)?;
        }
        self.late.clear();
        Ok(())
    }
}

/// The session as a charger whose clock runs `offset_ms` ahead reports it: every time shifted,
/// the id (`<charger>@<arrival>`, with any `#n`) made from the shifted arrival.
pub fn shift_session(session: &mut Session, offset_ms: i64) {
    if offset_ms == 0 {
        return;
    }
    let suffix = session
        .session_id
        .find('#')
        .map(|at| session.session_id[at..].to_owned())
        .unwrap_or_default();
    session.arrived_at += offset_ms;
    session.departed_at += offset_ms;
    for t in [
        &mut session.identified_at,
        &mut session.charge_started_at,
        &mut session.charge_ended_at,
    ]
    .into_iter()
    .flatten()
    {
        *t += offset_ms;
    }
    session.session_id = format!("{}@{}{suffix}", session.charger_id, session.arrived_at);
}

#[cfg(test)]
mod tests {
    //! Pure logic: records are collected in a vector instead of going to Kafka.
    use super::*;
    use std::time::Duration;

    fn run(
        options: FaultOptions,
        signals: &[(u32, i64, bool)],
    ) -> (Vec<(Outgoing, String)>, InjectedCounts) {
        let mut injector = Injector::new(&options);
        let mut sent = Vec::new();
        let mut emit = |kind: Outgoing, payload: &[u8]| -> Result<(), ()> {
            sent.push((kind, String::from_utf8_lossy(payload).into_owned()));
            Ok(())
        };
        for &(charger, ts, completes) in signals {
            let ts = BASE + ts;
            let json = format!(
                r#"{{"timestamp":{ts},"charger_id":"charger-{}","seq":0,"vehicle_detected":true,"plate":"P"}}"#,
                charger + 1
            );
            injector
                .on_signal(
                    charger,
                    &format!("charger-{}", charger + 1),
                    ts,
                    json.as_bytes(),
                    completes,
                    &mut emit,
                )
                .unwrap();
        }
        injector.finish(&mut emit).unwrap();
        (sent, injector.counts.clone())
    }

    /// 2026-01-01: test times are milliseconds after it.
    const BASE: i64 = 1_767_225_600_000;

    fn ts_of(json: &str) -> i64 {
        events::decode(json.as_bytes())
            .map(|s| s.timestamp_ms - BASE)
            .unwrap_or(-1)
    }

    #[test]
    fn no_faults_send_every_signal_once_in_order() {
        let signals: Vec<_> = (0..50)
            .map(|i| (i % 3, i64::from(i) * 1000, false))
            .collect();
        let (sent, counts) = run(FaultOptions::default(), &signals);
        assert_eq!(sent.len(), 50);
        assert!(sent.iter().all(|(k, _)| *k == Outgoing::Signal));
        assert_eq!(counts, InjectedCounts::default());
        assert!(Injector::new(&FaultOptions::default()).is_idle());
    }

    #[test]
    fn reordering_stays_within_the_window_and_loses_nothing() {
        let options = FaultOptions {
            reorder_share: 0.5,
            reorder_within: Duration::from_secs(2),
            seed: 7,
            ..FaultOptions::default()
        };
        // One charger, a signal every second, every fifth one completing a visit.
        let signals: Vec<_> = (0..200)
            .map(|i| (0, i64::from(i) * 1000, i % 5 == 4))
            .collect();
        let (sent, counts) = run(options, &signals);
        assert_eq!(sent.len(), 200, "every signal once");
        assert!(counts.reordered > 20, "{counts:?}");
        let mut latest = i64::MIN;
        for (kind, json) in &sent {
            let ts = ts_of(json);
            if *kind == Outgoing::Reordered {
                assert!(ts < latest && latest - ts <= 2000, "{ts} after {latest}");
            } else {
                assert!(ts >= latest, "in-order signal {ts} after {latest}");
            }
            latest = latest.max(ts);
        }
        let mut stamps: Vec<i64> = sent.iter().map(|(_, j)| ts_of(j)).collect();
        stamps.sort_unstable();
        assert_eq!(stamps, (0..200).map(|i| i * 1000).collect::<Vec<_>>());
        // A visit's last signal is never held.
        for (kind, json) in &sent {
            if *kind == Outgoing::Reordered {
                assert_ne!(ts_of(json) % 5000, 4000);
            }
        }
    }

    #[test]
    fn late_copies_go_out_beyond_the_tolerance_after_a_newer_signal() {
        let options = FaultOptions {
            late_share: 0.3,
            late_by: Duration::from_secs(10),
            seed: 3,
            ..FaultOptions::default()
        };
        let signals: Vec<_> = (0..100)
            .map(|i| (i % 2, i64::from(i) * 3000, false))
            .collect();
        let (sent, counts) = run(options, &signals);
        assert!(counts.late > 5, "{counts:?}");
        assert_eq!(sent.len() as u64, 100 + counts.late);
        let mut latest: HashMap<String, i64> = HashMap::new();
        for (kind, json) in &sent {
            let signal = events::decode(json.as_bytes()).unwrap();
            let charger = signal.charger_id.to_string();
            let newest = latest.entry(charger).or_insert(i64::MIN);
            if *kind == Outgoing::Late {
                assert!(
                    *newest - signal.timestamp_ms > 10_000,
                    "late by more than 10 s"
                );
            } else {
                *newest = (*newest).max(signal.timestamp_ms);
            }
        }
    }

    #[test]
    fn malformed_records_cycle_through_every_kind_and_fail_as_promised() {
        let options = FaultOptions {
            malformed_share: 1.0,
            duplicate_share: 0.2,
            seed: 1,
            ..FaultOptions::default()
        };
        let signals: Vec<_> = (0..60).map(|i| (0, i64::from(i) * 1000, false)).collect();
        let (sent, counts) = run(options, &signals);
        assert_eq!(counts.malformed, [10; 6]);
        assert_eq!(counts.malformed_total(), 60);
        assert_eq!(counts.malformed_decodable(), 20);
        for (kind, json) in &sent {
            let Outgoing::Malformed(kind) = kind else {
                continue;
            };
            let decoded = events::decode(json.as_bytes());
            assert_eq!(decoded.is_ok(), kind.decodable(), "{kind:?}: {json}");
            if let Err(e) = decoded {
                assert!(e.to_string().contains(kind.reason_says()), "{kind:?}: {e}");
            }
        }
        assert_eq!(
            sent.iter()
                .filter(|(k, _)| *k == Outgoing::Duplicate)
                .count() as u64,
            counts.duplicates
        );
    }

    #[test]
    fn skewed_clocks_shift_signals_and_sessions() {
        let options = FaultOptions {
            skewed_chargers: 1,
            clock_skew: Duration::from_secs(90),
            ..FaultOptions::default()
        };
        let (sent, counts) = run(options, &[(0, 1000, false), (1, 1000, false)]);
        assert_eq!(ts_of(&sent[0].1), 91_000);
        assert_eq!(ts_of(&sent[1].1), 1000);
        assert_eq!(counts.skewed_signals, 1);

        let mut session: Session = serde_json::from_str(
            r#"{"session_id":"charger-1@1000#1","charger_id":"charger-1","plate":"P","arrived_at":1000,
                "identified_at":2000,"user_id":"u","price_eur_per_kwh":0.3,"charge_started_at":3000,
                "charge_ended_at":4000,"power_kw":22,"departed_at":5000,"energy_kwh":1.0,"revenue_eur":0.3,
                "dwell_ms":4000,"charging_ms":1000,"idle_after_charge_ms":1000,"outcome":"charged",
                "overstay":false,"flags":[]}"#,
        )
        .unwrap();
        shift_session(&mut session, 90_000);
        assert_eq!(session.session_id, "charger-1@91000#1");
        assert_eq!((session.arrived_at, session.departed_at), (91_000, 95_000));
        assert_eq!(session.charge_started_at, Some(93_000));
        assert_eq!(session.dwell_ms, 4000);
    }

    #[test]
    fn the_same_seed_injects_the_same_faults() {
        let options = FaultOptions {
            duplicate_share: 0.1,
            malformed_share: 0.1,
            reorder_share: 0.1,
            reorder_within: Duration::from_secs(5),
            late_share: 0.05,
            late_by: Duration::from_secs(6),
            seed: 99,
            ..FaultOptions::default()
        };
        let signals: Vec<_> = (0..300)
            .map(|i| (i % 7, i64::from(i) * 700, i % 9 == 0))
            .collect();
        assert_eq!(run(options, &signals), run(options, &signals));
    }
}
