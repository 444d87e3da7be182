//! Test helpers: run a fleet, validate its event sequences, rebuild sessions from its events.
#![allow(dead_code)]

use std::collections::HashMap;

use events::{Reading, Session, SessionParties, SessionTimes, Signal};
use simulator::{DurationRange, EventMeta, FleetConfig, IntRange, Profile, Simulator};

/// One emitted event: its metadata and its JSON.
pub struct Event {
    pub meta: EventMeta,
    pub json: Vec<u8>,
}

/// Runs `config` to the end: every event, and the ground truth (taken after every event).
pub fn run(config: &FleetConfig) -> (Vec<Event>, Vec<Session>) {
    let mut sim = Simulator::new(config.clone()).expect("valid config");
    let mut events = Vec::new();
    let mut truth = Vec::new();
    let mut buf = Vec::new();
    while let Some(meta) = sim.next_event(&mut buf) {
        assert_eq!(
            sim.charger_id(meta.charger_index),
            simulator::charger_id_for(meta.charger_index)
        );
        events.push(Event {
            meta,
            json: buf.clone(),
        });
        sim.take_completed_sessions(|s| truth.push(s));
    }
    assert!(sim.is_done());
    let summary = sim.summary();
    assert_eq!(summary.events, events.len() as u64);
    assert_eq!(summary.sessions, truth.len() as u64);
    (events, truth)
}

fn in_range(range: &DurationRange, ms: i64) -> bool {
    ms >= range.min_ms() as i64 && ms <= range.max_ms() as i64
}

fn in_ints(range: &IntRange, v: u32) -> bool {
    (range.min..=range.max).contains(&v)
}

fn is_code(s: Option<&str>, len: usize) -> bool {
    s.is_some_and(|s| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    })
}

/// Where a charger is in its visit, as read from its events.
#[derive(Debug, Clone, PartialEq)]
enum State {
    Free {
        departed: Option<i64>,
    },
    Parked {
        arrived: i64,
        plate: String,
    },
    Identified {
        arrived: i64,
        plate: String,
        at: i64,
        user: String,
        price: f64,
    },
    Charging {
        plate: String,
        user: String,
        price: f64,
        started: i64,
    },
    Ended {
        plate: String,
        user: String,
        price: f64,
        ended: i64,
    },
    Disconnected {
        plate: String,
        ended: i64,
    },
}

/// Checks that the events are in global `(timestamp, index, seq)` order, that every charger's
/// events form complete, valid visits with values and delays in the profile's ranges, and that
/// arrivals fall on ticks after departures and before the end of the span.
pub fn validate(config: &FleetConfig, events: &[Event]) -> Result<(), String> {
    let p: &Profile = &config.profile;
    let tick = p.arrival_tick.as_millis() as i64;
    let end = config.start_ms + config.span_ms;
    let mut states: HashMap<u32, (State, u64)> = HashMap::new();
    let mut previous: Option<(i64, u32, u64)> = None;
    for (n, e) in events.iter().enumerate() {
        let fail = |what: String| {
            Err(format!(
                "event {n} ({}): {what}",
                String::from_utf8_lossy(&e.json)
            ))
        };
        let key = (e.meta.timestamp_ms, e.meta.charger_index, e.meta.seq);
        if previous.is_some_and(|prev| prev >= key) {
            return fail(format!("out of global order after {previous:?}"));
        }
        previous = Some(key);
        let s: Signal<'_> = match events::decode(&e.json) {
            Ok(s) => s,
            Err(err) => return fail(format!("does not decode: {err}")),
        };
        if s.timestamp_ms != e.meta.timestamp_ms
            || s.seq != Some(e.meta.seq)
            || s.charger_id != simulator::charger_id_for(e.meta.charger_index)
        {
            return fail(format!("meta {:?} disagrees with the JSON", e.meta));
        }
        if e.meta.charger_index >= config.chargers {
            return fail("charger index beyond the fleet".into());
        }
        let ts = s.timestamp_ms;
        let (state, next_seq) = states
            .entry(e.meta.charger_index)
            .or_insert((State::Free { departed: None }, 0));
        if e.meta.seq != *next_seq {
            return fail(format!("seq {} where {next_seq} was expected", e.meta.seq));
        }
        *next_seq += 1;
        let new = match (state.clone(), &s.reading) {
            (
                State::Free { departed },
                Reading::Parking {
                    vehicle_detected: true,
                    plate,
                },
            ) => {
                if !is_code(plate.as_deref(), 8) {
                    return fail("bad plate".into());
                }
                if ts >= end {
                    return fail("arrival after the end of the span".into());
                }
                match departed {
                    Some(d) if ts - d < tick || (ts - d) % tick != 0 => {
                        return fail(format!(
                            "arrival {} ms after the departure, not a tick multiple",
                            ts - d
                        ));
                    }
                    None if ts < config.start_ms => return fail("arrival before the start".into()),
                    _ => {}
                }
                State::Parked {
                    arrived: ts,
                    plate: plate.as_deref().unwrap_or_default().to_owned(),
                }
            }
            (
                State::Parked { arrived, plate },
                Reading::Parking {
                    vehicle_detected: false,
                    plate: left,
                },
            ) => {
                if left.as_deref() != Some(plate.as_str()) {
                    return fail("leave with another plate".into());
                }
                if !in_range(&p.no_charge_wait, ts - arrived) {
                    return fail("no-charge wait out of range".into());
                }
                State::Free { departed: Some(ts) }
            }
            (
                State::Parked { arrived, plate },
                Reading::UserData {
                    user_connection: true,
                    user_id,
                    price,
                },
            ) => {
                if !is_code(user_id.as_deref(), 16) {
                    return fail("bad user id".into());
                }
                let Some(price) = *price else {
                    return fail("no price".into());
                };
                let cents = (price * 100.0).round() as u32;
                if f64::from(cents) / 100.0 != price || !in_ints(&p.price_cents, cents) {
                    return fail("price not whole cents in range".into());
                }
                if !in_range(&p.identification_delay, ts - arrived) {
                    return fail("identification delay out of range".into());
                }
                State::Identified {
                    arrived,
                    plate,
                    at: ts,
                    user: user_id.as_deref().unwrap_or_default().to_owned(),
                    price,
                }
            }
            (
                State::Identified {
                    plate,
                    at,
                    user,
                    price,
                    ..
                },
                Reading::Charger {
                    recharging: true,
                    energy_delivered,
                },
            ) => {
                if !in_ints(&p.power_kw, *energy_delivered) {
                    return fail("power out of range".into());
                }
                if !in_range(&p.charge_start_delay, ts - at) {
                    return fail("charge start delay out of range".into());
                }
                State::Charging {
                    plate,
                    user,
                    price,
                    started: ts,
                }
            }
            (
                State::Charging {
                    plate,
                    user,
                    price,
                    started,
                },
                Reading::Charger {
                    recharging: false,
                    energy_delivered: 0,
                },
            ) => {
                if !in_range(&p.charging_duration, ts - started) {
                    return fail("charging duration out of range".into());
                }
                State::Ended {
                    plate,
                    user,
                    price,
                    ended: ts,
                }
            }
            (
                State::Ended {
                    plate,
                    user,
                    price,
                    ended,
                },
                Reading::UserData {
                    user_connection: false,
                    user_id,
                    price: p2,
                },
            ) => {
                if ts != ended || user_id.as_deref() != Some(user.as_str()) || *p2 != Some(price) {
                    return fail("disconnect differs from the connection or the charge end".into());
                }
                State::Disconnected { plate, ended }
            }
            (
                State::Disconnected { plate, ended },
                Reading::Parking {
                    vehicle_detected: false,
                    plate: left,
                },
            ) => {
                if left.as_deref() != Some(plate.as_str()) {
                    return fail("leave with another plate".into());
                }
                let idle = ts - ended;
                if !in_range(&p.normal_idle, idle) && !in_range(&p.overstay_idle, idle) {
                    return fail("idle after charging out of both ranges".into());
                }
                State::Free { departed: Some(ts) }
            }
            (state, _) => return fail(format!("unexpected in state {state:?}")),
        };
        *state = new;
    }
    for (index, (state, _)) in &states {
        if !matches!(state, State::Free { .. }) {
            return Err(format!("charger index {index} ends mid-visit: {state:?}"));
        }
    }
    Ok(())
}

/// Rebuilds the sessions from the events alone (times, plate, user, price, power), in the order
/// of their departures.
pub fn reconstruct(events: &[Event], grace_ms: i64) -> Vec<Session> {
    #[derive(Default, Clone)]
    struct Open {
        times: SessionTimes,
        parties: SessionParties,
    }
    let mut open: HashMap<String, Open> = HashMap::new();
    let mut out = Vec::new();
    for e in events {
        let s = events::decode(&e.json).expect("decodes").into_owned();
        let id = s.charger_id.to_string();
        let ts = s.timestamp_ms;
        match s.reading {
            Reading::Parking {
                vehicle_detected: true,
                plate,
            } => {
                open.insert(
                    id.clone(),
                    Open {
                        times: SessionTimes {
                            arrived_at: ts,
                            ..SessionTimes::default()
                        },
                        parties: SessionParties {
                            charger_id: id,
                            plate: plate.map(|p| p.into_owned()),
                            ..SessionParties::default()
                        },
                    },
                );
            }
            Reading::Parking {
                vehicle_detected: false,
                ..
            } => {
                let mut o = open.remove(&id).expect("open visit");
                o.times.departed_at = ts;
                out.push(Session::new(
                    Session::id_for(&id, o.times.arrived_at, 0),
                    o.parties,
                    o.times,
                    grace_ms,
                    vec![],
                ));
            }
            Reading::UserData {
                user_connection: true,
                user_id,
                price,
            } => {
                let o = open.get_mut(&id).expect("open visit");
                o.times.identified_at = Some(ts);
                o.parties.user_id = user_id.map(|u| u.into_owned());
                o.parties.price_eur_per_kwh = price;
            }
            Reading::UserData {
                user_connection: false,
                ..
            } => {}
            Reading::Charger {
                recharging: true,
                energy_delivered,
            } => {
                let o = open.get_mut(&id).expect("open visit");
                o.times.charge_started_at = Some(ts);
                o.parties.power_kw = Some(energy_delivered);
            }
            Reading::Charger {
                recharging: false, ..
            } => {
                let o = open.get_mut(&id).expect("open visit");
                o.times.charge_ended_at = Some(ts);
            }
        }
    }
    assert!(open.is_empty(), "visits left open");
    out
}
