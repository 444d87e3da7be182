//! Property tests: no input makes the sessionizer panic; valid visits come out exactly, also with
//! duplicates and reordering within the tolerance; restarts with the replay guard neither lose
//! nor repeat an output.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use aggregator::{Output, Sessionizer, SessionizerConfig, Source};
use common::*;
use events::{Session, SessionParties, SessionTimes};
use proptest::prelude::*;

const TOLERANCE_MS: i64 = 3000;
const GRACE_MS: i64 = 6000;

fn config() -> SessionizerConfig {
    SessionizerConfig {
        overstay_grace: Duration::from_millis(GRACE_MS as u64),
        reorder_tolerance: Duration::from_millis(TOLERANCE_MS as u64),
        inactivity_gap: Duration::from_secs(3600),
        ..SessionizerConfig::default()
    }
}

/// One visit's draw.
#[derive(Debug, Clone)]
struct VisitParams {
    wait_ms: i64,
    charged: bool,
    ident_ms: i64,
    start_ms: i64,
    charge_ms: i64,
    idle_ms: i64,
    dwell_ms: i64,
    power: u32,
    cents: u32,
}

fn arb_visit() -> impl Strategy<Value = VisitParams> {
    (
        (1_000i64..60_000, prop::bool::weighted(0.8)),
        (1_000i64..3_000, 1_000i64..3_000, 8_000i64..600_000),
        (2_000i64..12_000, 5_000i64..30_000, 10u32..=30, 40u32..=99),
    )
        .prop_map(
            |(
                (wait_ms, charged),
                (ident_ms, start_ms, charge_ms),
                (idle_ms, dwell_ms, power, cents),
            )| {
                VisitParams {
                    wait_ms,
                    charged,
                    ident_ms,
                    start_ms,
                    charge_ms,
                    idle_ms,
                    dwell_ms,
                    power,
                    cents,
                }
            },
        )
}

/// A valid input: the signals of whole visits of a few chargers, and what they must give.
#[derive(Debug, Clone)]
struct Fleet {
    /// `(charger, timestamp ms, json, visit number within the fleet)` in time order.
    signals: Vec<(usize, i64, String, usize)>,
    sessions: Vec<Session>,
}

fn build(chargers: &[Vec<VisitParams>], seq: bool, seconds: bool) -> Fleet {
    let round = |ms: i64| {
        if seconds {
            (ms / 1000).max(1) * 1000
        } else {
            ms
        }
    };
    let mut signals = Vec::new();
    let mut sessions = Vec::new();
    for (c, visits) in chargers.iter().enumerate() {
        let id = format!("charger-{}", c + 1);
        let mut t = T0 + round(c as i64 * 777);
        let mut n = 0u64;
        let mut emit = |signals: &mut Vec<_>, ts: i64, json: String, visit: usize| {
            let json = if seconds {
                json.replacen(&ts.to_string(), &(ts / 1000).to_string(), 1)
            } else {
                json
            };
            let json = if seq { with_seq(&json, n) } else { json };
            n += 1;
            signals.push((c, ts, json, visit));
        };
        for (v, p) in visits.iter().enumerate() {
            let visit = sessions.len();
            let plate = format!("P{c:03}{v:04}");
            let user = format!("U{c:03}{v:012}");
            let price = f64::from(p.cents) / 100.0;
            t += round(p.wait_ms);
            let arrived = t;
            emit(&mut signals, t, arrive(t, &id, &plate), visit);
            let mut times = SessionTimes {
                arrived_at: arrived,
                ..SessionTimes::default()
            };
            let mut parties = SessionParties {
                charger_id: id.clone(),
                plate: Some(plate.clone()),
                ..SessionParties::default()
            };
            if p.charged {
                t += round(p.ident_ms);
                emit(&mut signals, t, ident(t, &id, &user, price), visit);
                times.identified_at = Some(t);
                t += round(p.start_ms);
                emit(&mut signals, t, start(t, &id, p.power), visit);
                times.charge_started_at = Some(t);
                t += round(p.charge_ms);
                emit(&mut signals, t, stop(t, &id), visit);
                emit(&mut signals, t, disc(t, &id, &user, price), visit);
                times.charge_ended_at = Some(t);
                t += round(p.idle_ms);
                parties.user_id = Some(user);
                parties.price_eur_per_kwh = Some(price);
                parties.power_kw = Some(p.power);
            } else {
                t += round(p.dwell_ms);
            }
            emit(&mut signals, t, leave(t, &id, &plate), visit);
            times.departed_at = t;
            sessions.push(Session::new(
                Session::id_for(&id, arrived, 0),
                parties,
                times,
                GRACE_MS,
                vec![],
            ));
        }
    }
    // Global time order; a stable sort keeps each charger's order within a millisecond.
    signals.sort_by_key(|s| (s.1, s.0));
    Fleet { signals, sessions }
}

/// The order in which a network would deliver the signals: each is delayed by at most the
/// tolerance (without `seq`, all signals of one charger in one millisecond by the same delay, so
/// that ties keep their order), and some are delivered twice, the copy also within the tolerance.
/// Returns indices into `fleet.signals`, copies included.
fn deliver(fleet: &Fleet, seq: bool, delays: &[u16], dups: &[bool]) -> Vec<usize> {
    deliver_with_faults(fleet, seq, delays, dups, &[])
}

/// [`deliver`], and with `faults[i]` (cycled) 1 the signal is lost, 2 it comes late: delayed
/// by more than the tolerance — but by less than the shortest inactivity gap used here (20 s):
/// a signal that comes after `advance` settled its charger may be judged otherwise after a
/// restart (the crate's documented limit: a charger settled by `advance` no longer holds its
/// last visit).
fn deliver_with_faults(
    fleet: &Fleet,
    seq: bool,
    delays: &[u16],
    dups: &[bool],
    faults: &[u8],
) -> Vec<usize> {
    let pick = |i: usize| i64::from(delays[i % delays.len()]) % (TOLERANCE_MS + 1);
    let fault = |i: usize| {
        if faults.is_empty() {
            0
        } else {
            faults[i % faults.len()]
        }
    };
    let mut keyed: Vec<(i64, usize, usize)> = Vec::new();
    for (i, (c, ts, _, _)) in fleet.signals.iter().enumerate() {
        let delay = if seq {
            pick(i)
        } else {
            pick((*ts as usize).wrapping_mul(31).wrapping_add(*c))
        };
        let delay = match fault(i) {
            1 => continue,
            2 => 2 * TOLERANCE_MS + 1 + pick(i + 1) * 4,
            _ => delay,
        };
        keyed.push((ts + delay, i, i));
        if dups[i % dups.len()] {
            let extra = pick(i + 7);
            let copy = (ts + delay.max(extra), fleet.signals.len() + i, i);
            keyed.push(copy);
        }
    }
    keyed.sort();
    keyed.into_iter().map(|(_, _, i)| i).collect()
}

fn push_all(s: &mut Sessionizer, fleet: &Fleet, order: &[usize]) -> Vec<(usize, Output)> {
    let mut outs = Vec::new();
    for (pos, &i) in order.iter().enumerate() {
        let src = Source {
            partition: 0,
            offset: pos as i64,
        };
        s.push(fleet.signals[i].2.as_bytes(), src, &mut |o| {
            outs.push((pos, o))
        });
    }
    s.finish(&mut |o| outs.push((usize::MAX, o)));
    outs
}

fn arb_fleet() -> impl Strategy<Value = (Vec<Vec<VisitParams>>, bool, bool)> {
    (
        prop::collection::vec(prop::collection::vec(arb_visit(), 1..6), 1..5),
        any::<bool>(),
        any::<bool>(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Arbitrary bytes never panic, and every record that does not decode is dead-lettered at
    /// its own position.
    #[test]
    fn arbitrary_bytes_end_in_dead_letters(
        records in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..120), 1..30)
    ) {
        let mut s = Sessionizer::new(config()).unwrap();
        let mut outs = Vec::new();
        for (i, r) in records.iter().enumerate() {
            let src = Source { partition: 0, offset: i as i64 };
            s.push(r, src, &mut |o| outs.push(o));
        }
        s.finish(&mut |o| outs.push(o));
        for (i, r) in records.iter().enumerate() {
            if events::decode(r).is_err() {
                let dead = outs.iter().any(|o| matches!(o,
                    Output::DeadLetter { source, payload, .. }
                        if source.offset == i as i64 && payload == r));
                prop_assert!(dead, "record {} was not dead-lettered", i);
            }
        }
        prop_assert_eq!(s.resume_offset(0), None);
    }

    /// Signal-shaped garbage (any kind, any order, colliding times and plates, with or without
    /// seq) never panics, every signal is accounted for, and the end of input leaves nothing.
    #[test]
    fn garbage_signals_never_break_it(
        raw in prop::collection::vec(
            (0u8..6, 0usize..2, 0i64..40, 0u8..3, prop::option::of(0u64..8), 0u32..40),
            1..60,
        )
    ) {
        let mut s = Sessionizer::new(config()).unwrap();
        let mut outs = Vec::new();
        for (i, (kind, c, t, who, seq, kw)) in raw.iter().enumerate() {
            let c = format!("c{c}");
            let ts = T0 + t * 700;
            let name = format!("P000000{who}");
            let json = match kind {
                0 => arrive(ts, &c, &name),
                1 => leave(ts, &c, &name),
                2 => ident(ts, &c, &name, 0.5),
                3 => disc(ts, &c, &name, 0.5),
                4 => start(ts, &c, *kw),
                _ => stop(ts, &c),
            };
            let json = match seq { Some(n) => with_seq(&json, *n), None => json };
            let src = Source { partition: 0, offset: i as i64 };
            s.push(json.as_bytes(), src, &mut |o| outs.push(o));
        }
        s.finish(&mut |o| outs.push(o));
        prop_assert_eq!(s.resume_offset(0), None);
        prop_assert_eq!(s.open_visits(), 0);
        let stats = s.stats();
        prop_assert_eq!(stats.signals, raw.len() as u64);
        let mut ids = std::collections::HashSet::new();
        for o in &outs {
            if let Output::Session { session, .. } = o {
                prop_assert!(ids.insert(session.session_id.clone()), "twice: {}", session.session_id);
                prop_assert!(session.departed_at >= session.arrived_at);
                prop_assert!(session.flags.windows(2).all(|w| w[0] < w[1]));
            }
        }
    }

    /// Valid visits give exactly their sessions, each emitted when its last signal comes in;
    /// the same with duplicates and with reordering within the tolerance.
    #[test]
    fn valid_visits_give_their_sessions(
        (chargers, seq, seconds) in arb_fleet(),
        delays in prop::collection::vec(any::<u16>(), 1..64),
        dups in prop::collection::vec(prop::bool::weighted(0.2), 1..64),
    ) {
        let fleet = build(&chargers, seq, seconds);
        let in_order: Vec<usize> = (0..fleet.signals.len()).collect();
        let variants = [
            in_order,
            deliver(&fleet, seq, &[0], &dups),
            deliver(&fleet, seq, &delays, &[false]),
            deliver(&fleet, seq, &delays, &dups),
        ];
        for (n, order) in variants.iter().enumerate() {
            let mut s = Sessionizer::new(config()).unwrap();
            let outs = push_all(&mut s, &fleet, order);
            let dead: Vec<_> = outs.iter().filter(|(_, o)| matches!(o, Output::DeadLetter { .. })).collect();
            prop_assert!(dead.is_empty(), "variant {}: {:?}", n, dead);
            let got: Vec<Session> = outs.iter().filter_map(|(_, o)| match o {
                Output::Session { session, .. } => Some(session.clone()),
                Output::DeadLetter { .. } => None,
            }).collect();
            prop_assert_eq!(sorted(got), sorted(fleet.sessions.clone()), "variant {}", n);
            // Latency: emitted while pushing the last of its signals to come in, never later.
            let mut last_in: HashMap<usize, usize> = HashMap::new();
            for (pos, &i) in order.iter().enumerate() {
                last_in.entry(fleet.signals[i].3).or_insert(pos);
                let e = last_in.get_mut(&fleet.signals[i].3).unwrap();
                *e = (*e).max(pos);
            }
            for (pos, o) in &outs {
                if let Output::Session { session, .. } = o {
                    let visit = fleet.sessions.iter().position(|x| x.session_id == session.session_id).unwrap();
                    // The last *first copy*: duplicates do not complete anything.
                    let last_first = order.iter().enumerate()
                        .filter(|&(p, &i)| fleet.signals[i].3 == visit && order[..p].iter().all(|&j| j != i))
                        .map(|(p, _)| p).max().unwrap();
                    prop_assert_eq!(*pos, last_first, "variant {}: {} came out late", n, session.session_id);
                }
            }
        }
    }

    /// Crashes at random points, restarts from the committed offsets with the replay guard:
    /// every output of an uninterrupted run comes out exactly once, nothing else — with
    /// duplicates, reordering, lost signals, signals later than the tolerance and undecodable
    /// records in the input.
    #[test]
    fn restarts_neither_lose_nor_repeat(
        (chargers, seq, seconds) in arb_fleet(),
        delays in prop::collection::vec(any::<u16>(), 1..64),
        dups in prop::collection::vec(prop::bool::weighted(0.2), 1..64),
        partitions in 1i32..4,
        garbage in prop::collection::vec(any::<u16>(), 0..4),
        commits in prop::collection::vec(any::<u16>(), 1..12),
        crashes in prop::collection::vec(any::<u16>(), 0..4),
        faults in prop::collection::vec(prop_oneof![8 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8)], 1..40),
        short_gap in any::<bool>(),
    ) {
        let fleet = build(&chargers, seq, seconds);
        let order = deliver_with_faults(&fleet, seq, &delays, &dups, &faults);
        // Records: (partition, offset, bytes); chargers spread over the partitions.
        let mut next = vec![0i64; partitions as usize];
        let mut records: Vec<(i32, i64, Vec<u8>)> = Vec::new();
        for (k, &i) in order.iter().enumerate() {
            let p = (fleet.signals[i].0 as i32) % partitions;
            if garbage.iter().any(|&g| usize::from(g) % order.len() == k) {
                records.push((p, next[p as usize], b"{\"timestamp\":".to_vec()));
                next[p as usize] += 1;
            }
            records.push((p, next[p as usize], fleet.signals[i].2.clone().into_bytes()));
            next[p as usize] += 1;
        }
        let commit_at: Vec<usize> = commits.iter().map(|&c| usize::from(c)).collect();
        let crash_at: Vec<usize> = crashes.iter().map(|&c| usize::from(c)).collect();
        // A short inactivity gap makes `advance` and the gap rule close visits too.
        let config = if short_gap {
            SessionizerConfig { inactivity_gap: Duration::from_secs(20), ..config() }
        } else {
            config()
        };
        // Every other commit follows an idle input, with its expiries.
        let (want, got) = crash_and_replay(&config, &records, &commit_at, &crash_at, true);
        prop_assert_eq!(got, want);
    }
}
