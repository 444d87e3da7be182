//! One test per rule of the sessionizer, on hand-written signal sequences in the study's format.

mod common;

use std::time::Duration;

use aggregator::{
    CHARGER_STATE_BYTES, Mark, Output, ReplayGuard, Sessionizer, SessionizerConfig, Source,
    Trigger, sessionize_jsonl,
};
use common::*;
use events::{Flag, Outcome, Session};

/// The rules below are written for a 2-hour inactivity gap.
fn config() -> SessionizerConfig {
    SessionizerConfig {
        inactivity_gap: std::time::Duration::from_secs(2 * 3600),
        ..SessionizerConfig::default()
    }
}

const GRACE: i64 = 6 * MIN;

#[test]
fn a_complete_visit_is_emitted_on_its_departure() {
    let lines = charged_visit("c-1", T0, 30, 3);
    let r = run(config(), &lines);
    assert_eq!(r.sessions(), vec![charged_session("c-1", T0, 30, 3, GRACE)]);
    assert!(r.dead().is_empty());
    // Emitted while pushing the departure (index 5), not later, and closed by it.
    assert_eq!(r.emitted_at(T0), Some(5));
    match &r.outputs[0].1 {
        Output::Session {
            closing, trigger, ..
        } => {
            let at = Source {
                partition: 0,
                offset: 5,
            };
            assert_eq!(*closing, at);
            assert_eq!(*trigger, Trigger::Signal(at));
        }
        o => panic!("{o:?}"),
    }
    let s = &r.sessions()[0];
    assert_eq!(s.session_id, format!("c-1@{T0}"));
    assert_eq!(s.energy_kwh, 11.0);
    assert_eq!(s.outcome, Outcome::Charged);
    assert!(!s.overstay && s.flags.is_empty());
}

#[test]
fn the_same_with_seq_and_with_second_timestamps() {
    let with = |lines: Vec<String>| -> Vec<String> {
        lines
            .iter()
            .enumerate()
            .map(|(i, l)| with_seq(l, 100 + i as u64))
            .collect()
    };
    let r = run(config(), &with(charged_visit("c-1", T0, 30, 3)));
    assert_eq!(r.sessions(), vec![charged_session("c-1", T0, 30, 3, GRACE)]);
    assert_eq!(r.emitted_at(T0), Some(5));

    // Epoch seconds, as the study's own generator may send them.
    let secs: Vec<String> = charged_visit("c-1", T0, 30, 3)
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let ms = v["timestamp"].as_i64().unwrap();
            l.replace(&ms.to_string(), &(ms / 1000).to_string())
        })
        .collect();
    let r = run(config(), &secs);
    assert_eq!(r.sessions(), vec![charged_session("c-1", T0, 30, 3, GRACE)]);
}

#[test]
fn a_visit_without_charging() {
    let lines = vec![
        arrive(T0, "c", "NOCHARGE"),
        leave(T0 + 12 * MIN, "c", "NOCHARGE"),
    ];
    let r = run(config(), &lines);
    let s = &r.sessions()[0];
    assert_eq!(r.emitted_at(T0), Some(1));
    assert_eq!(s.outcome, Outcome::NoCharge);
    assert_eq!(s.dwell_ms, 12 * MIN);
    assert_eq!(
        (s.charge_started_at, s.power_kw, s.idle_after_charge_ms),
        (None, None, None)
    );
    assert!(!s.overstay && s.flags.is_empty());
}

#[test]
fn overstay_is_idle_beyond_the_configured_grace() {
    let mut lines = charged_visit("c", T0, 20, 7);
    lines.extend(charged_visit("c", T0 + 2 * 3_600_000, 20, 5));
    let r = run(config(), &lines);
    let s = r.sessions();
    assert!(s[0].overstay && !s[1].overstay);
    // The grace is the profile's: with 8 minutes, 7 minutes idle is no overstay.
    let r = run(
        SessionizerConfig::with_overstay_grace(Duration::from_secs(8 * 60)),
        &lines,
    );
    assert!(!r.sessions()[0].overstay);
}

#[test]
fn exact_duplicates_are_ignored() {
    let visit = charged_visit("c", T0, 30, 3);
    let mut lines = Vec::new();
    for l in &visit {
        lines.push(l.clone());
        lines.push(l.clone());
    }
    // A duplicate arriving after the visit was emitted, within the tolerance, too.
    lines.push(visit[5].clone());
    let mut s = Sessionizer::new(config()).unwrap();
    let r = run_with(&mut s, &lines, false);
    assert_eq!(r.sessions(), vec![charged_session("c", T0, 30, 3, GRACE)]);
    assert!(r.dead().is_empty(), "{:?}", r.dead());
    assert_eq!(s.stats().duplicates, 7);
    // One beyond the tolerance (3 minutes after the disconnect it repeats) is just late.
    let r = run_with(&mut s, &[visit[4].clone()], true);
    assert!(r.dead()[0].1.starts_with("late signal"), "{:?}", r.dead());

    // With seq: the same seq is a duplicate; the same seq with other content is refused.
    let lines = vec![
        with_seq(&arrive(T0, "c", "AB12CD34"), 1),
        with_seq(&arrive(T0, "c", "AB12CD34"), 1),
        with_seq(&arrive(T0, "c", "ZZ99ZZ99"), 1),
        with_seq(&leave(T0 + MIN, "c", "AB12CD34"), 2),
    ];
    let r = run(config(), &lines);
    assert_eq!(r.sessions().len(), 1);
    let dead = r.dead();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].0, 2);
    assert!(dead[0].1.contains("same seq"), "{}", dead[0].1);
}

#[test]
fn reordering_within_the_tolerance_gives_the_same_session() {
    let tol = Duration::from_secs(30);
    let config = SessionizerConfig {
        reorder_tolerance: tol,
        ..config()
    };
    // Departure 20 s after the charge end (and disconnect, in the same millisecond).
    let mut v = charged_visit("c", T0, 30, 0);
    let end = T0 + 34 * MIN;
    v[5] = leave(end + 20 * SEC, "c", "AB12CD34");
    let mut expected = charged_session("c", T0, 30, 0, GRACE);
    expected = Session::new(
        expected.session_id.clone(),
        events::SessionParties {
            charger_id: "c".into(),
            plate: expected.plate.clone(),
            user_id: expected.user_id.clone(),
            price_eur_per_kwh: expected.price_eur_per_kwh,
            power_kw: expected.power_kw,
        },
        events::SessionTimes {
            arrived_at: T0,
            identified_at: expected.identified_at,
            charge_started_at: expected.charge_started_at,
            charge_ended_at: Some(end),
            departed_at: end + 20 * SEC,
        },
        GRACE,
        vec![],
    );
    let expected = vec![expected];
    let orders: &[&[usize]] = &[
        &[0, 1, 2, 3, 4, 5],
        &[0, 1, 2, 4, 3, 5], // disconnect before charge end (same ms)
        &[0, 1, 2, 5, 3, 4], // departure before charge end and disconnect
        &[0, 1, 2, 5, 4, 3],
        &[0, 1, 2, 4, 5, 3],
    ];
    for order in orders {
        let lines: Vec<String> = order.iter().map(|&i| v[i].clone()).collect();
        let r = run(config.clone(), &lines);
        assert_eq!(r.sessions(), expected, "order {order:?}");
        assert!(r.dead().is_empty(), "order {order:?}: {:?}", r.dead());
        // Complete after the last of them: emitted then, not at the end of input.
        assert_eq!(r.emitted_at(T0), Some(5), "order {order:?}");
    }

    // Identification before the arrival (within 30 s), charge start before identification.
    let v = vec![
        arrive(T0, "c", "AB12CD34"),
        ident(T0 + 10 * SEC, "c", "USER000000000001", 0.57),
        start(T0 + 20 * SEC, "c", 22),
        stop(T0 + 40 * MIN, "c"),
        disc(T0 + 40 * MIN, "c", "USER000000000001", 0.57),
        leave(T0 + 43 * MIN, "c", "AB12CD34"),
    ];
    let in_order = run(config.clone(), &v).sessions();
    for order in [[1, 0, 2, 3, 4, 5], [2, 1, 0, 3, 4, 5], [0, 2, 1, 3, 4, 5]] {
        let lines: Vec<String> = order.iter().map(|&i| v[i].clone()).collect();
        let r = run(config.clone(), &lines);
        assert_eq!(r.sessions(), in_order, "order {order:?}");
        assert!(r.dead().is_empty(), "order {order:?}: {:?}", r.dead());
        assert_eq!(r.emitted_at(T0), Some(5));
    }
    assert!(in_order[0].flags.is_empty());
}

#[test]
fn the_next_visit_may_overtake_a_departure() {
    let config = SessionizerConfig {
        reorder_tolerance: Duration::from_secs(30),
        ..config()
    };
    let mut v = charged_visit("c", T0, 30, 3);
    let next = T0 + 37 * MIN + 10 * SEC;
    v.push(arrive(next, "c", "NEXT0001"));
    v.push(leave(next + 8 * MIN, "c", "NEXT0001"));
    let in_order = run(config.clone(), &v).sessions();
    assert_eq!(in_order.len(), 2);
    // The next arrival comes before the departure: no ClosedByNextArrival, same sessions.
    let lines: Vec<String> = [0, 1, 2, 3, 4, 6, 5, 7]
        .iter()
        .map(|&i| v[i].clone())
        .collect();
    let r = run(config, &lines);
    assert_eq!(r.sessions(), in_order);
    assert!(r.dead().is_empty(), "{:?}", r.dead());
}

#[test]
fn late_signals_beyond_the_tolerance_are_dead_lettered() {
    let v = charged_visit("c", T0, 30, 3);
    // The identification comes after the charge end: 28 minutes late.
    let lines = vec![
        v[0].clone(),
        v[2].clone(),
        v[3].clone(),
        v[1].clone(),
        v[4].clone(),
        v[5].clone(),
    ];
    let r = run(config(), &lines);
    let dead = r.dead();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].0, 3);
    assert!(dead[0].1.starts_with("late signal"), "{}", dead[0].1);
    let s = &r.sessions()[0];
    assert_eq!(s.identified_at, None);
    // The disconnect still names user and price: revenue is kept, the gap is flagged.
    assert_eq!(s.user_id.as_deref(), Some("USER000000000001"));
    assert_eq!(s.flags, vec![Flag::ChargeWithoutIdentification]);
}

#[test]
fn a_missing_disconnect_is_inferred_and_waits_only_for_the_tolerance() {
    let v = charged_visit("c", T0, 30, 3);
    let mut lines: Vec<String> = vec![
        v[0].clone(),
        v[1].clone(),
        v[2].clone(),
        v[3].clone(),
        v[5].clone(),
    ];
    // The charger's next signal, a while later, shows no disconnect can still come.
    lines.push(arrive(T0 + 60 * MIN, "c", "NEXT0001"));
    let mut s = Sessionizer::new(config()).unwrap();
    let r = run_with(&mut s, &lines, false);
    assert_eq!(r.emitted_at(T0), Some(5));
    let session = &r.sessions()[0];
    assert_eq!(session.flags, vec![Flag::InferredUserDisconnect]);
    assert_eq!(session.departed_at, T0 + 37 * MIN);
    assert_eq!(s.open_visits(), 1);
}

#[test]
fn an_idle_input_releases_held_visits_but_not_open_ones() {
    // The visit lacks its disconnect: it waits for the tolerance in its charger's event time,
    // which nothing moves once the input goes quiet. Another charger's visit is under way.
    let v = charged_visit("c", T0, 30, 3);
    let lines: Vec<String> = vec![
        v[0].clone(),
        v[1].clone(),
        v[2].clone(),
        v[3].clone(),
        v[5].clone(),
        arrive(T0 + 36 * MIN, "d", "STILL001"),
    ];
    let mut s = Sessionizer::new(config()).unwrap();
    let r = run_with(&mut s, &lines, false);
    assert!(r.sessions().is_empty(), "held for late signals");
    let until = s.partition_time(0).unwrap() + 1;
    let mut outs = Vec::new();
    s.expire(0, until, &mut |o| outs.push(o));
    assert_eq!(outs.len(), 1, "{outs:?}");
    match &outs[0] {
        Output::Session {
            session, trigger, ..
        } => {
            assert_eq!(session.session_id, format!("c@{T0}"));
            assert_eq!(session.flags, vec![Flag::InferredUserDisconnect]);
            assert_eq!(
                *trigger,
                Trigger::Expire {
                    partition: 0,
                    after_offset: 5,
                    until_ms: until
                }
            );
        }
        o => panic!("{o:?}"),
    }
    assert_eq!(s.open_visits(), 1, "the visit under way stays open");
    // The mark records the expiry for a replay, which makes it again after offset 5.
    let mark = s.mark(0).unwrap();
    assert_eq!(mark.expiries, vec![(5, until)]);
    let guard = ReplayGuard::new([(0, mark)]);
    assert!(!guard.admits(&outs[0]), "a replay's copy is suppressed");
    assert_eq!(guard.expiries_after(0, 5).collect::<Vec<_>>(), vec![until]);
    // Nothing more to expire: a second call emits nothing and records nothing.
    let mut again = Vec::new();
    s.expire(0, until, &mut |o| again.push(o));
    assert!(again.is_empty());
    assert_eq!(s.mark(0).unwrap().expiries, vec![(5, until)]);
}

#[test]
fn a_missing_charge_end_is_inferred_at_departure() {
    let v = charged_visit("c", T0, 30, 3);
    let lines = vec![
        v[0].clone(),
        v[1].clone(),
        v[2].clone(),
        v[4].clone(),
        v[5].clone(),
    ];
    let r = run(config(), &lines);
    let s = &r.sessions()[0];
    assert_eq!(s.flags, vec![Flag::InferredChargeEnd]);
    assert_eq!(s.charge_ended_at, Some(s.departed_at));
    assert_eq!(s.charging_ms, 33 * MIN);
    assert_eq!(s.idle_after_charge_ms, Some(0));
}

#[test]
fn an_arrival_while_parked_closes_the_visit() {
    let v = charged_visit("c", T0, 30, 3);
    let mut lines: Vec<String> = v[..5].to_vec();
    lines.push(arrive(T0 + 50 * MIN, "c", "NEXT0001"));
    lines.push(leave(T0 + 60 * MIN, "c", "NEXT0001"));
    let r = run(config(), &lines);
    let s = sorted(r.sessions());
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].flags, vec![Flag::ClosedByNextArrival]);
    // Closed at its last signal: the disconnect.
    assert_eq!(s[0].departed_at, T0 + 34 * MIN);
    assert!(s[1].flags.is_empty());
    assert_eq!(s[1].outcome, Outcome::NoCharge);
    // Final once the next arrival is beyond the tolerance: while pushing the next departure.
    assert_eq!(r.emitted_at(T0), Some(6));
}

#[test]
fn charging_without_identification_is_flagged() {
    let lines = vec![
        arrive(T0, "c", "AB12CD34"),
        start(T0 + MIN, "c", 11),
        stop(T0 + 31 * MIN, "c"),
        leave(T0 + 32 * MIN, "c", "AB12CD34"),
    ];
    let r = run(config(), &lines);
    let s = &r.sessions()[0];
    assert_eq!(s.flags, vec![Flag::ChargeWithoutIdentification]);
    assert_eq!(s.user_id, None);
    assert_eq!(s.revenue_eur, 0.0);
    assert_eq!(s.energy_kwh, 5.5);
}

#[test]
fn impossible_and_contradictory_signals_are_dead_lettered_with_a_reason() {
    let lines = vec![
        "{not json".to_owned(),                                       // 0
        r#"{"timestamp":1700000000000,"charger_id":"c"}"#.to_owned(), // 1 unknown sensor
        start(T0, "c", 0),                                            // 2 power 0
        start(T0, "c", 1001),                                         // 3 power too high
        leave(T0, "c", "AB12CD34"),                                   // 4 no visit
        start(T0 + SEC, "c", 20),                                     // 5 bay empty
        arrive(T0 + 2 * SEC, "c", "AB12CD34"),                        // 6
        stop(T0 + 3 * SEC, "c"),                                      // 7 no start
        arrive(T0 + 4 * SEC, "c", "AB12CD34"),                        // 8 same vehicle again
        leave(T0 + 5 * SEC, "c", "XX00XX00"),                         // 9 other plate
        disc(T0 + 6 * SEC, "c", "U", 0.5),                            // 10 adopted (no ident)
        ident(T0 + 7 * SEC, "c", "U", 0.5),                           // 11 after disconnect
        leave(T0 + 8 * SEC, "c", "AB12CD34"),                         // 12
        leave(T0 + 9 * SEC, "c", "AB12CD34"),                         // 13 no visit
        arrive(T0 + 86_400_000 * 3, "c", "FUTURE01"),                 // 14 3 days ahead
    ];
    let r = run(config(), &lines);
    let mut dead = r.dead();
    dead.sort();
    let expect = [
        (0, "undecodable signal: malformed JSON"),
        (1, "undecodable signal: unknown sensor"),
        (2, "impossible power"),
        (3, "impossible power"),
        (4, "with no visit"),
        (5, "while the bay is empty"),
        (7, "without a charge start"),
        (8, "repeats the arrival"),
        (9, "different from the parked vehicle"),
        (11, "after the user of this visit was disconnected"),
        (13, "with no visit"),
        (14, "ahead of the stream's event time"),
    ];
    assert_eq!(dead.len(), expect.len(), "{dead:#?}");
    for ((offset, reason), (eo, er)) in dead.iter().zip(expect) {
        assert_eq!(*offset, eo, "{reason}");
        assert!(
            reason.contains(er),
            "{offset}: {reason:?} should say {er:?}"
        );
    }
    let s = r.sessions();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].user_id.as_deref(), Some("U"));
    assert_eq!(s[0].identified_at, None);
    // Every dead letter keeps the record it rejects.
    for (_, o) in &r.outputs {
        if let Output::DeadLetter {
            source, payload, ..
        } = o
        {
            assert_eq!(payload, lines[source.offset as usize].as_bytes());
        }
    }
}

#[test]
fn refusals_an_earlier_signal_may_explain_wait_for_the_tolerance() {
    // A charge start before its arrival is held, not refused, while the arrival may still come.
    let mut s = Sessionizer::new(config()).unwrap();
    let lines = vec![start(T0 + SEC, "c", 20), arrive(T0, "c", "AB12CD34")];
    let r = run_with(&mut s, &lines, false);
    assert!(r.outputs.is_empty());
    // ... and refused once the charger's event time has moved on by more than the tolerance.
    let mut s = Sessionizer::new(config()).unwrap();
    let lines = vec![
        start(T0, "c", 20),
        arrive(T0 + SEC, "c", "AB12CD34"),
        leave(T0 + 10 * SEC, "c", "AB12CD34"),
    ];
    let r = run_with(&mut s, &lines, false);
    let dead = r.dead();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        r.outputs[0].0, 2,
        "dead-lettered while pushing the departure"
    );
    assert!(dead[0].1.contains("bay is empty"));
    assert_eq!(r.sessions().len(), 1);
}

#[test]
fn inactivity_closes_visits_that_never_end() {
    let v = charged_visit("c", T0, 30, 3);
    let mut s = Sessionizer::new(config()).unwrap();
    let r = run_with(&mut s, &v[..3], false);
    assert!(r.outputs.is_empty());
    let mut outs = Vec::new();
    s.advance(T0 + 4 * MIN + 2 * 3_600_000, &mut |o| outs.push(o));
    assert!(
        outs.is_empty(),
        "exactly the gap is not longer than the gap"
    );
    s.advance(T0 + 4 * MIN + 2 * 3_600_000 + 1, &mut |o| outs.push(o));
    assert_eq!(outs.len(), 1);
    match &outs[0] {
        Output::Session {
            session, trigger, ..
        } => {
            assert_eq!(
                session.flags,
                vec![
                    Flag::InferredUserDisconnect,
                    Flag::InferredChargeEnd,
                    Flag::ClosedByInactivity
                ]
            );
            assert_eq!(session.departed_at, T0 + 4 * MIN);
            assert_eq!(
                *trigger,
                Trigger::Advance {
                    partition: 0,
                    deadline_ms: T0 + 4 * MIN + 2 * 3_600_000
                }
            );
        }
        o => panic!("{o:?}"),
    }
    assert_eq!(s.resume_offset(0), None);
    assert_eq!(s.open_visits(), 0);

    // The charger's own next signal, more than the gap later, closes it the same way.
    let mut lines = v[..3].to_vec();
    lines.push(arrive(T0 + 3 * 3_600_000, "c", "NEXT0001"));
    let r = run(config(), &lines);
    let s = sorted(r.sessions());
    assert_eq!(s.len(), 2);
    assert!(s[0].flags.contains(&Flag::ClosedByInactivity));
    assert_eq!(s[0].departed_at, T0 + 4 * MIN);
}

#[test]
fn visits_in_the_same_millisecond_get_ordinals() {
    // Second-resolution timestamps: two whole visits in one second keep input order.
    let t = T0 / 1000;
    let lines = vec![
        format!(
            r#"{{"timestamp":{t},"charger_id":"c","vehicle_detected":true,"plate":"FIRST001"}}"#
        ),
        format!(
            r#"{{"timestamp":{t},"charger_id":"c","vehicle_detected":false,"plate":"FIRST001"}}"#
        ),
        format!(
            r#"{{"timestamp":{t},"charger_id":"c","vehicle_detected":true,"plate":"SECOND02"}}"#
        ),
        format!(
            r#"{{"timestamp":{t},"charger_id":"c","vehicle_detected":false,"plate":"SECOND02"}}"#
        ),
    ];
    let r = run(config(), &lines);
    let ids: Vec<String> = r.sessions().into_iter().map(|s| s.session_id).collect();
    assert_eq!(ids, vec![format!("c@{T0}"), format!("c@{T0}#1")]);
    assert_eq!(r.emitted_at(T0), Some(1));
}

#[test]
fn long_plates_and_user_ids_are_kept_whole() {
    let plate = "A-VERY-LONG-PLATE-FROM-ELSEWHERE";
    let user = "a-user-id-longer-than-sixteen-bytes";
    let lines = vec![
        arrive(T0, "c", plate),
        ident(T0 + MIN, "c", user, 0.5),
        start(T0 + 2 * MIN, "c", 10),
        // Out of order: the rebuild takes the visit apart and back together.
        disc(T0 + 32 * MIN, "c", user, 0.5),
        stop(T0 + 32 * MIN - 1, "c"),
        leave(T0 + 33 * MIN, "c", plate),
    ];
    let r = run(config(), &lines);
    let s = &r.sessions()[0];
    assert_eq!(s.plate.as_deref(), Some(plate));
    assert_eq!(s.user_id.as_deref(), Some(user));
    assert!(s.flags.is_empty(), "{:?}", s.flags);
}

#[test]
fn resume_offset_holds_what_a_restart_needs() {
    let mut s = Sessionizer::new(config()).unwrap();
    let mut sink = |_o: Output| {};
    let push = |s: &mut Sessionizer, line: &str, offset: i64, sink: &mut dyn FnMut(Output)| {
        let mut f = |o| sink(o);
        s.push(
            line.as_bytes(),
            Source {
                partition: 7,
                offset,
            },
            &mut f,
        );
    };
    assert_eq!(s.resume_offset(7), None);
    push(&mut s, &arrive(T0, "a", "AAAA0001"), 100, &mut sink);
    push(&mut s, &arrive(T0, "b", "BBBB0001"), 101, &mut sink);
    assert_eq!(s.resume_offset(7), Some(100));
    push(&mut s, &leave(T0 + MIN, "a", "AAAA0001"), 102, &mut sink);
    // a's visit is emitted but kept (held) while late signals of it may still come.
    assert_eq!(s.resume_offset(7), Some(100));
    push(
        &mut s,
        &arrive(T0 + 2 * MIN, "a", "AAAA0002"),
        103,
        &mut sink,
    );
    assert_eq!(s.resume_offset(7), Some(101));
    push(
        &mut s,
        &leave(T0 + 3 * MIN, "b", "BBBB0001"),
        104,
        &mut sink,
    );
    // b's visit is kept in turn until b's event time moves past the tolerance.
    assert_eq!(s.resume_offset(7), Some(101));
    push(
        &mut s,
        &arrive(T0 + 4 * MIN, "b", "BBBB0002"),
        105,
        &mut sink,
    );
    assert_eq!(s.resume_offset(7), Some(103));
    assert_eq!(
        s.mark(7),
        Some(Mark {
            emitted_through: 105,
            advanced_to: None,
            expiries: Vec::new(),
        })
    );
    assert_eq!(s.resume_offset(8), None);
    s.finish(&mut sink);
    assert_eq!(s.resume_offset(7), None);
}

#[test]
fn a_restart_with_the_replay_guard_emits_each_output_once() {
    let config = SessionizerConfig {
        reorder_tolerance: Duration::from_secs(60),
        ..config()
    };
    let mut lines = Vec::new();
    for (i, c) in ["a", "b", "c"].iter().enumerate() {
        lines.extend(charged_visit(c, T0 + i as i64 * MIN, 20, 2 + i as i64 * 3));
        lines.extend(charged_visit(c, T0 + 3_600_000 + i as i64 * MIN, 25, 1));
    }
    lines.push(leave(T0 + 4 * 3_600_000, "zz", "NOVISIT0")); // a dead letter
    // Interleave by time, like a partition holding several chargers.
    lines.sort_by_key(|l| {
        serde_json::from_str::<serde_json::Value>(l).unwrap()["timestamp"]
            .as_i64()
            .unwrap()
    });
    let all = run(config.clone(), &lines);
    let expected = all
        .outputs
        .iter()
        .map(|(_, o)| o.clone())
        .collect::<Vec<_>>();
    for commit_at in 0..lines.len() {
        for crash_at in commit_at..=lines.len() {
            // First run: up to the crash; what was produced up to the commit counts.
            let mut s = Sessionizer::new(config.clone()).unwrap();
            let mut committed = Vec::new();
            let mut resume = 0;
            let mut marks = Vec::new();
            for (i, line) in lines.iter().enumerate().take(crash_at) {
                let src = Source {
                    partition: 0,
                    offset: i as i64,
                };
                s.push(line.as_bytes(), src, &mut |o| committed.push((i, o)));
                if i == commit_at {
                    resume = s.resume_offset(0).unwrap_or(i as i64 + 1);
                    marks = vec![(0, s.mark(0).unwrap())];
                }
            }
            committed.retain(|(i, _)| *i <= commit_at);
            let mut produced: Vec<Output> = committed.into_iter().map(|(_, o)| o).collect();
            if crash_at <= commit_at {
                continue;
            }
            // Restart: replay from the committed offset through the guard.
            let mut s = Sessionizer::new(config.clone()).unwrap();
            let mut guard = ReplayGuard::new(marks.clone());
            {
                let mut out = guard.filter(|o| produced.push(o));
                for (i, line) in lines.iter().enumerate().skip(resume as usize) {
                    let src = Source {
                        partition: 0,
                        offset: i as i64,
                    };
                    s.push(line.as_bytes(), src, &mut out);
                }
                s.finish(&mut out);
            }
            let key = |o: &Output| format!("{o:?}");
            let mut got: Vec<String> = produced.iter().map(key).collect();
            let mut want: Vec<String> = expected.iter().map(key).collect();
            got.sort();
            want.sort();
            assert_eq!(
                got, want,
                "commit after line {commit_at}, crash at {crash_at}"
            );
        }
    }
}

#[test]
fn a_charger_that_moves_partition_mid_visit_is_refused() {
    let mut s = Sessionizer::new(config()).unwrap();
    let mut outs = Vec::new();
    let src = |partition, offset| Source { partition, offset };
    s.push(
        arrive(T0, "c", "AB12CD34").as_bytes(),
        src(1, 0),
        &mut |o| outs.push(o),
    );
    s.push(
        leave(T0 + MIN, "c", "AB12CD34").as_bytes(),
        src(2, 0),
        &mut |o| outs.push(o),
    );
    assert!(
        matches!(&outs[0], Output::DeadLetter { reason, .. } if reason.contains("moved from partition 1 to partition 2"))
    );
    s.push(
        leave(T0 + MIN, "c", "AB12CD34").as_bytes(),
        src(1, 1),
        &mut |o| outs.push(o),
    );
    assert!(matches!(&outs[1], Output::Session { .. }));
    // Between visits it may move (the last visit is then no longer held on the old partition).
    s.push(
        arrive(T0 + 2 * MIN, "c", "AB12CD34").as_bytes(),
        src(2, 1),
        &mut |o| outs.push(o),
    );
    assert_eq!(outs.len(), 2);
    assert_eq!(s.resume_offset(1), None);
    assert_eq!(s.resume_offset(2), Some(1));
}

#[test]
fn state_per_open_visit_is_under_200_bytes() {
    println!("state per charger, open visit included: {CHARGER_STATE_BYTES} bytes");
    const { assert!(CHARGER_STATE_BYTES < 200) };
}

#[test]
fn sessionize_jsonl_writes_sessions_and_dead_letters() {
    let mut input = String::new();
    for l in charged_visit("c-1", T0, 30, 3) {
        input.push_str(&l);
        input.push('\n');
    }
    input.push_str("\n{oops\n");
    input.push_str(&arrive(T0 + MIN, "c-2", "NOCHARGE"));
    input.push_str("\r\n");
    input.push_str(&leave(T0 + 9 * MIN, "c-2", "NOCHARGE"));
    let mut sessions = Vec::new();
    let mut dead = Vec::new();
    let summary =
        sessionize_jsonl(input.as_bytes(), &mut sessions, Some(&mut dead), config()).unwrap();
    assert_eq!(
        (
            summary.signals,
            summary.sessions,
            summary.dead_letters,
            summary.chargers
        ),
        (9, 2, 1, 2)
    );
    let sessions: Vec<Session> = String::from_utf8(sessions)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(sessions[0], charged_session("c-1", T0, 30, 3, GRACE));
    assert_eq!(sessions[1].outcome, Outcome::NoCharge);
    let dead: serde_json::Value = serde_json::from_slice(&dead).unwrap();
    assert_eq!(dead["line"], 8);
    assert_eq!(dead["payload"], "{oops");
    assert!(dead["reason"].as_str().unwrap().contains("malformed JSON"));
    // No dead-letter output: they are counted, not written.
    let mut sessions = Vec::new();
    let summary =
        sessionize_jsonl(input.as_bytes(), &mut sessions, None::<Vec<u8>>, config()).unwrap();
    assert_eq!(summary.dead_letters, 1);
}
