//! The acceptance property of issue 4: for any fleet, profile and seed, sessionizing the
//! simulator's events reproduces its ground truth exactly — also with duplicates and with
//! reordering inside the tolerance injected, and also without the simulator's `seq`.

mod common;

use std::time::Duration;

use aggregator::{Output, Sessionizer, SessionizerConfig, Source};
use events::Session;
use proptest::prelude::*;
use simulator::{FleetConfig, Profile, Simulator};

/// `(charger index, timestamp, json)` of one event.
type Event = (u32, i64, Vec<u8>);

/// Every event, and the ground truth.
fn simulate(config: FleetConfig) -> (Vec<Event>, Vec<Session>) {
    let mut sim = Simulator::new(config).unwrap();
    let mut json = Vec::new();
    let mut events = Vec::new();
    while let Some(meta) = sim.next_event(&mut json) {
        events.push((meta.charger_index, meta.timestamp_ms, json.clone()));
    }
    let mut truth = Vec::new();
    sim.take_completed_sessions(|s| truth.push(s));
    (events, truth)
}

/// Removes `,"seq":N` (the study's own producers send none).
fn strip_seq(json: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(json).unwrap();
    match text.find(",\"seq\":") {
        Some(at) => {
            let end = text[at + 1..]
                .find([',', '}'])
                .map_or(text.len(), |e| at + 1 + e);
            format!("{}{}", &text[..at], &text[end..]).into_bytes()
        }
        None => json.to_vec(),
    }
}

fn sessionize(config: &SessionizerConfig, records: &[&[u8]]) -> (Vec<Session>, Vec<String>) {
    let mut s = Sessionizer::new(config.clone()).unwrap();
    let mut sessions = Vec::new();
    let mut dead = Vec::new();
    let mut sink = |o| match o {
        Output::Session { session, .. } => sessions.push(session),
        Output::DeadLetter { reason, .. } => dead.push(reason),
    };
    for (i, r) in records.iter().enumerate() {
        let src = Source {
            partition: 0,
            offset: i as i64,
        };
        s.push(r, src, &mut sink);
    }
    s.finish(&mut sink);
    (sessions, dead)
}

fn by_id(mut sessions: Vec<Session>) -> Vec<Session> {
    sessions.sort_by(|a, b| a.session_id.cmp(&b.session_id));
    sessions
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn sessionizing_the_simulator_reproduces_its_ground_truth(
        chargers in 1u32..40,
        literal in any::<bool>(),
        seed in any::<u64>(),
        keep_seq in any::<bool>(),
        delays in prop::collection::vec(any::<u16>(), 1..32),
        dups in prop::collection::vec(prop::bool::weighted(0.15), 1..32),
    ) {
        let (profile, span, tolerance_ms) = if literal {
            (Profile::study_literal(), Duration::from_secs(120), 3_000i64)
        } else {
            (Profile::study(), Duration::from_secs(3 * 3600), 30_000i64)
        };
        let config = SessionizerConfig {
            overstay_grace: profile.overstay_grace,
            reorder_tolerance: Duration::from_millis(tolerance_ms as u64),
            ..SessionizerConfig::default()
        };
        let (events, truth) = simulate(FleetConfig {
            chargers,
            seed,
            span_ms: span.as_millis() as i64,
            profile,
            ..FleetConfig::default()
        });
        prop_assert!(!truth.is_empty() || events.is_empty());
        let events: Vec<Event> = if keep_seq {
            events
        } else {
            events.into_iter().map(|(c, t, j)| (c, t, strip_seq(&j))).collect()
        };
        let truth = by_id(truth);

        // In order.
        let records: Vec<&[u8]> = events.iter().map(|e| e.2.as_slice()).collect();
        let (sessions, dead) = sessionize(&config, &records);
        prop_assert!(dead.is_empty(), "{:?}", dead);
        prop_assert_eq!(by_id(sessions), truth.clone());

        // Delayed by up to the tolerance (without seq, a charger's signals of one millisecond
        // together, so that ties keep their order), some delivered twice.
        let pick = |k: usize| i64::from(delays[k % delays.len()]) % (tolerance_ms + 1);
        let mut keyed = Vec::new();
        for (i, (c, ts, _)) in events.iter().enumerate() {
            let delay = if keep_seq { pick(i) } else { pick((*ts as usize) ^ (*c as usize * 7919)) };
            keyed.push((ts + delay, i, i));
            if dups[i % dups.len()] {
                keyed.push((ts + delay.max(pick(i + 3)), events.len() + i, i));
            }
        }
        keyed.sort();
        let records: Vec<&[u8]> = keyed.iter().map(|&(_, _, i)| events[i].2.as_slice()).collect();
        let (sessions, dead) = sessionize(&config, &records);
        prop_assert!(dead.is_empty(), "{:?}", dead);
        prop_assert_eq!(by_id(sessions), truth);
    }

    /// Through crashes and restarts (offsets and marks committed, replay with the guard), over
    /// partitions as the Kafka runner sees them — one per charger (the study's layout) or
    /// several chargers per partition — the outputs are those of an uninterrupted run, which
    /// are the ground truth.
    #[test]
    fn restarts_keep_the_ground_truth_exact(
        chargers in 1u32..30,
        seed in any::<u64>(),
        partitions in prop_oneof![Just(0u32), 1u32..4],
        delays in prop::collection::vec(any::<u16>(), 1..32),
        dups in prop::collection::vec(prop::bool::weighted(0.15), 1..32),
        commits in prop::collection::vec(any::<u16>(), 1..16),
        crashes in prop::collection::vec(any::<u16>(), 0..4),
    ) {
        let profile = Profile::study_literal();
        let tolerance_ms = 3_000i64;
        let config = SessionizerConfig {
            overstay_grace: profile.overstay_grace,
            reorder_tolerance: Duration::from_millis(tolerance_ms as u64),
            ..SessionizerConfig::default()
        };
        let (events, truth) = simulate(FleetConfig {
            chargers,
            seed,
            span_ms: 90_000,
            profile,
            ..FleetConfig::default()
        });
        let pick = |k: usize| i64::from(delays[k % delays.len()]) % (tolerance_ms + 1);
        let mut keyed = Vec::new();
        for (i, (_, ts, _)) in events.iter().enumerate() {
            keyed.push((ts + pick(i), i, i));
            if dups[i % dups.len()] {
                keyed.push((ts + pick(i).max(pick(i + 3)), events.len() + i, i));
            }
        }
        keyed.sort();
        // 0 partitions: one per charger.
        let per = if partitions == 0 { chargers } else { partitions };
        let mut next = vec![0i64; per as usize];
        let mut records = Vec::new();
        for &(_, _, i) in &keyed {
            let p = events[i].0 % per;
            records.push((p as i32, next[p as usize], events[i].2.clone()));
            next[p as usize] += 1;
        }
        let commit_at: Vec<usize> = commits.iter().map(|&c| usize::from(c)).collect();
        let crash_at: Vec<usize> = crashes.iter().map(|&c| usize::from(c)).collect();
        // No idle input here: late signals keep coming, the sessionizer waits for them.
        let (want, got) =
            common::crash_and_replay(&config, &records, &commit_at, &crash_at, false);
        prop_assert_eq!(&got, &want);
        let sessions = want.iter().filter(|o| o.starts_with("Session")).count();
        prop_assert_eq!(sessions, truth.len());
        prop_assert_eq!(want.len(), truth.len(), "no dead letters either");
    }
}
