//! Helpers shared by the aggregator's integration tests: signal builders in the study's JSON
//! format, and a runner that collects outputs.
#![allow(dead_code)]

use std::collections::HashMap;

use aggregator::{Mark, Output, ReplayGuard, Sessionizer, SessionizerConfig, Source};
use events::Session;

/// 2023-11-14 22:13:20 UTC, in epoch milliseconds.
pub const T0: i64 = 1_700_000_000_000;
pub const MIN: i64 = 60_000;
pub const SEC: i64 = 1000;

pub fn arrive(ts: i64, c: &str, plate: &str) -> String {
    format!(r#"{{"timestamp":{ts},"charger_id":"{c}","vehicle_detected":true,"plate":"{plate}"}}"#)
}
pub fn leave(ts: i64, c: &str, plate: &str) -> String {
    format!(r#"{{"timestamp":{ts},"charger_id":"{c}","vehicle_detected":false,"plate":"{plate}"}}"#)
}
pub fn ident(ts: i64, c: &str, user: &str, price: f64) -> String {
    format!(
        r#"{{"timestamp":{ts},"charger_id":"{c}","user_id":"{user}","price":{price},"user_connection":true}}"#
    )
}
pub fn disc(ts: i64, c: &str, user: &str, price: f64) -> String {
    format!(
        r#"{{"timestamp":{ts},"charger_id":"{c}","user_id":"{user}","price":{price},"user_connection":false}}"#
    )
}
pub fn start(ts: i64, c: &str, kw: u32) -> String {
    format!(r#"{{"timestamp":{ts},"charger_id":"{c}","recharging":true,"energy_delivered":{kw}}}"#)
}
pub fn stop(ts: i64, c: &str) -> String {
    format!(r#"{{"timestamp":{ts},"charger_id":"{c}","recharging":false,"energy_delivered":0}}"#)
}
/// Appends `"seq":n` to a signal built above.
pub fn with_seq(json: &str, seq: u64) -> String {
    format!("{},\"seq\":{seq}}}", &json[..json.len() - 1])
}

/// A charged visit of charger `c` arriving at `t`: identification +2 min, charge start +4 min,
/// `charge_min` minutes of charging at 22 kW, disconnect with the charge end, departure
/// `idle_min` later.
pub fn charged_visit(c: &str, t: i64, charge_min: i64, idle_min: i64) -> Vec<String> {
    let end = t + 4 * MIN + charge_min * MIN;
    vec![
        arrive(t, c, "AB12CD34"),
        ident(t + 2 * MIN, c, "USER000000000001", 0.57),
        start(t + 4 * MIN, c, 22),
        stop(end, c),
        disc(end, c, "USER000000000001", 0.57),
        leave(end + idle_min * MIN, c, "AB12CD34"),
    ]
}

/// The session of [`charged_visit`], as the ground truth would build it.
pub fn charged_session(c: &str, t: i64, charge_min: i64, idle_min: i64, grace_ms: i64) -> Session {
    let end = t + 4 * MIN + charge_min * MIN;
    Session::new(
        Session::id_for(c, t, 0),
        events::SessionParties {
            charger_id: c.into(),
            plate: Some("AB12CD34".into()),
            user_id: Some("USER000000000001".into()),
            price_eur_per_kwh: Some(0.57),
            power_kw: Some(22),
        },
        events::SessionTimes {
            arrived_at: t,
            identified_at: Some(t + 2 * MIN),
            charge_started_at: Some(t + 4 * MIN),
            charge_ended_at: Some(end),
            departed_at: end + idle_min * MIN,
        },
        grace_ms,
        vec![],
    )
}

/// Outputs of a run, with the index of the input line being pushed when each came out
/// (`usize::MAX` for `finish`).
#[derive(Debug, Default)]
pub struct Run {
    pub outputs: Vec<(usize, Output)>,
}

impl Run {
    pub fn sessions(&self) -> Vec<Session> {
        self.outputs
            .iter()
            .filter_map(|(_, o)| match o {
                Output::Session { session, .. } => Some(session.clone()),
                Output::DeadLetter { .. } => None,
            })
            .collect()
    }

    /// `(source offset, reason)` of every dead letter.
    pub fn dead(&self) -> Vec<(i64, String)> {
        self.outputs
            .iter()
            .filter_map(|(_, o)| match o {
                Output::DeadLetter { source, reason, .. } => Some((source.offset, reason.clone())),
                Output::Session { .. } => None,
            })
            .collect()
    }

    /// The input index at which the session with this arrival time came out.
    pub fn emitted_at(&self, arrived_at: i64) -> Option<usize> {
        self.outputs.iter().find_map(|(i, o)| match o {
            Output::Session { session, .. } if session.arrived_at == arrived_at => Some(*i),
            _ => None,
        })
    }
}

/// Pushes `lines` (offsets = their indices, partition 0) and, unless `finish` is false, ends the
/// input.
pub fn run_with(s: &mut Sessionizer, lines: &[String], finish: bool) -> Run {
    let mut run = Run::default();
    for (i, line) in lines.iter().enumerate() {
        let source = Source {
            partition: 0,
            offset: i as i64,
        };
        s.push(line.as_bytes(), source, &mut |o| run.outputs.push((i, o)));
    }
    if finish {
        s.finish(&mut |o| run.outputs.push((usize::MAX, o)));
    }
    run
}

pub fn run(config: SessionizerConfig, lines: &[String]) -> Run {
    let mut s = Sessionizer::new(config).unwrap();
    run_with(&mut s, lines, true)
}

/// Sorts sessions by id, for comparisons as sets.
pub fn sorted(mut sessions: Vec<Session>) -> Vec<Session> {
    sessions.sort_by(|a, b| a.session_id.cmp(&b.session_id));
    sessions
}

/// Runs `records` (`(partition, offset, bytes)`, in consumption order) like the Kafka runner
/// would, once without interruption and once with crashes, and returns the outputs of both
/// (as sorted debug strings).
///
/// The runner commits after the records at the indices `commit_at` (modulo the input length):
/// per partition [`Sessionizer::resume_offset`] (or the position after the last record consumed)
/// and [`Sessionizer::mark`]; outputs produced up to a commit count, later ones are lost when it
/// crashes. It crashes before consuming the records at the indices `crash_at` (modulo the
/// length), then restarts from the committed offsets with a [`ReplayGuard`] over the marks
/// (committing, while a partition is replayed, what [`ReplayGuard::mark_to_commit`] says). It
/// advances to the event time of all records so far every 5 records, and finishes at the end.
pub fn crash_and_replay(
    config: &SessionizerConfig,
    records: &[(i32, i64, Vec<u8>)],
    commit_at: &[usize],
    crash_at: &[usize],
    idle_expiries: bool,
) -> (Vec<String>, Vec<String>) {
    let n = records.len().max(1);
    let commit_at: Vec<usize> = commit_at.iter().map(|c| c % n).collect();
    let mut crash_at: Vec<usize> = crash_at.iter().map(|c| c % n).collect();
    crash_at.sort();
    crash_at.dedup();
    let mut watermark = Vec::with_capacity(records.len());
    let mut w = None;
    for (_, _, bytes) in records {
        if let Ok(signal) = events::decode(bytes) {
            w = Some(w.map_or(signal.timestamp_ms, |w: i64| w.max(signal.timestamp_ms)));
        }
        watermark.push(w);
    }
    let run_life = |resume: &HashMap<i32, i64>, marks: &HashMap<i32, Mark>, stop: Option<usize>| {
        let mut s = Sessionizer::new(config.clone()).unwrap();
        let guard = ReplayGuard::new(marks.iter().map(|(&p, m)| (p, m.clone())));
        let marks_at_start = marks.clone();

        let mut outs: Vec<Output> = Vec::new();
        let mut committed: Vec<Output> = Vec::new();
        let mut resume = resume.clone();
        let mut marks = marks.clone();
        let mut consumed: HashMap<i32, i64> = HashMap::new();
        let mut buf = Vec::new();
        for (k, (p, offset, bytes)) in records.iter().enumerate() {
            if *offset < resume.get(p).copied().unwrap_or(0) {
                continue;
            }
            if stop == Some(k) {
                // Crash: what was produced since the last commit is lost.
                return (committed, resume, marks, false);
            }
            let src = Source {
                partition: *p,
                offset: *offset,
            };
            s.push(bytes, src, &mut |o| buf.push(o));
            consumed.insert(*p, *offset);
            // A replay makes a committed expiry again right after the record it followed.
            for until in guard.expiries_after(*p, *offset) {
                s.expire(*p, until, &mut |o| buf.push(o));
            }
            if k % 5 == 4
                && let Some(w) = watermark[k]
            {
                s.advance(w, &mut |o| buf.push(o));
            }
            // Every other commit follows an idle input: every partition expires first. A runner
            // is never idle while it replays (records are there to be read), so partitions not
            // yet past what their mark says was produced make no expiry of their own (had the
            // first life made one that changed anything, the mark would list it).
            let commit = commit_at.contains(&k);
            if commit && idle_expiries && k % 2 == 0 {
                for (&p, &position) in &consumed {
                    let replaying = marks_at_start
                        .get(&p)
                        .is_some_and(|m| position < m.emitted_through);
                    if let (Some(t), false) = (s.partition_time(p), replaying) {
                        s.expire(p, t + 1, &mut |o| buf.push(o));
                    }
                }
            }
            outs.extend(buf.drain(..).filter(|o| guard.admits(o)));
            if commit {
                committed.append(&mut outs);
                for (&p, &last) in &consumed {
                    resume.insert(p, s.resume_offset(p).unwrap_or(last + 1));
                    marks.insert(p, guard.mark_to_commit(p, s.mark(p).unwrap()));
                }
            }
        }
        s.finish(&mut |o| buf.push(o));
        outs.extend(buf.drain(..).filter(|o| guard.admits(o)));
        committed.append(&mut outs);
        (committed, resume, marks, true)
    };
    let (expected, _, _, _) = run_life(&HashMap::new(), &HashMap::new(), None);
    let mut resume = HashMap::new();
    let mut marks = HashMap::new();
    let mut produced = Vec::new();
    for life in 0..=crash_at.len() {
        let (mut committed, r, m, finished) =
            run_life(&resume, &marks, crash_at.get(life).copied());
        produced.append(&mut committed);
        resume = r;
        marks = m;
        if finished {
            break;
        }
    }
    // What came out, not what made it come out: an expiry after a restart may see less of its
    // partition's event time (what was released is not replayed) and expire less, leaving a
    // visit to the next expiry, signal or the end; it still comes out once.
    let key = |o: &Output| match o {
        Output::Session {
            session, closing, ..
        } => format!("{session:?} {closing:?}"),
        Output::DeadLetter {
            source,
            reason,
            payload,
            reencoded,
            ..
        } => format!("{source:?} {reason} {payload:?} {reencoded}"),
    };
    let mut want: Vec<String> = expected.iter().map(key).collect();
    let mut got: Vec<String> = produced.iter().map(key).collect();
    want.sort();
    got.sort();
    (want, got)
}
