//! What each fault did to the pipeline, from the run's per-second timeline.
//!
//! A process fault's **recovery time** runs from its end (the part back) to the first second in
//! which the pipeline is back within its pre-fault band, and stays there the second after:
//! sessions arriving in the second at least half the mean of the five seconds before the fault,
//! and the second's p99 latency at most 1.5 × the highest per-second p99 of those five seconds
//! (plus 20 ms, so that a quiet baseline does not make the band too narrow to meet). The
//! latency is signal → ClickHouse for faults of the sink and of ClickHouse, signal → sessions
//! topic for the others (see [`judged_by`]). The backlog a fault leaves is part of it: a pipeline catching up has high
//! latencies. The **extra latency** is the highest per-second p99 from the fault's start to its
//! recovery, less the median per-second p99 before it.

use serde::Serialize;

use super::drive::Happened;
use super::spec::{FaultKind, FaultList};
use crate::metrics::{Percentiles, Second};

/// Seconds before a fault that make its baseline.
const BASELINE_SECONDS: u64 = 5;

/// A fault of the run as the report shows it (`report.faults`).
#[derive(Debug, Clone, Serialize)]
pub struct FaultOutcome {
    pub kind: FaultKind,
    /// When it began and ended, RFC 3339 (data faults: the whole load).
    pub started_at: String,
    pub ended_at: String,
    /// The same, seconds since the run's start (for charts).
    pub started_s: f64,
    pub ended_s: f64,
    /// From its end until the pipeline was back within its pre-fault band; `null` when that
    /// cannot be said (data faults, no baseline, the load ended first).
    pub recovery_ms: Option<f64>,
    /// The highest per-second p99 from its start to its recovery (signal → ClickHouse for sink
    /// and ClickHouse faults, signal → sessions topic for the others).
    pub peak_p99_ms: Option<f64>,
    /// That peak less the median per-second p99 before the fault.
    pub extra_p99_ms: Option<f64>,
    /// Data faults: how many records it affected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub injected: Option<u64>,
    /// What failed while making it happen (the run then fails its `faults-happened` check).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Why a figure is missing, or what else is worth knowing.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub note: String,
}

impl FaultOutcome {
    /// One line for the terminal summary.
    pub fn summary(&self) -> String {
        let mut line = if let Some(injected) = self.injected {
            format!("{} on {injected} records", self.kind)
        } else {
            format!(
                "{} at {:.1} s for {:.1} s",
                self.kind,
                self.started_s,
                self.ended_s - self.started_s
            )
        };
        if let Some(recovery) = self.recovery_ms {
            line.push_str(&format!(" · recovered {:.1} s after", recovery / 1000.0));
        }
        if let (Some(peak), Some(extra)) = (self.peak_p99_ms, self.extra_p99_ms) {
            line.push_str(&format!(" · p99 peak {peak:.0} ms (+{extra:.0} ms)"));
        }
        if let Some(error) = &self.error {
            line.push_str(&format!(" · FAILED: {error}"));
        } else if !self.note.is_empty() {
            line.push_str(&format!(" · {}", self.note));
        }
        line
    }
}

/// Everything `measure` needs besides the faults.
pub(crate) struct Run<'a> {
    pub timeline: &'a [Second],
    /// Epoch ms of the run's start (second 0 of the timeline).
    pub started_ms: i64,
    /// Epoch ms when the load ended (the last signal sent).
    pub load_ended_ms: i64,
    pub injected: &'a pipeline::produce::inject::InjectedCounts,
}

/// The outcome of every fault: process faults as they happened, then the data faults.
pub(crate) fn outcomes(
    list: &FaultList,
    happened: &[Happened],
    run: &Run<'_>,
) -> Vec<FaultOutcome> {
    let rfc3339 = |ms: i64| format!("{}Z", events::time::format_utc(ms).replace(' ', "T"));
    let rel = |ms: i64| (ms - run.started_ms) as f64 / 1000.0;
    let mut out: Vec<FaultOutcome> = happened
        .iter()
        .map(|h| {
            let (recovery_ms, peak, extra, note) = recovery(h, run);
            FaultOutcome {
                kind: h.spec.kind,
                started_at: rfc3339(h.started_ms),
                ended_at: rfc3339(h.ended_ms),
                started_s: rel(h.started_ms),
                ended_s: rel(h.ended_ms),
                recovery_ms,
                peak_p99_ms: peak,
                extra_p99_ms: extra,
                injected: None,
                error: h.error.clone(),
                note,
            }
        })
        .collect();
    for spec in list.iter().filter(|f| !f.kind.is_process()) {
        let i = run.injected;
        let injected = match spec.kind {
            FaultKind::Malformed => i.malformed_total(),
            FaultKind::Duplicate => i.duplicates,
            FaultKind::Reorder => i.reordered,
            FaultKind::Late => i.late,
            FaultKind::ClockSkew => i.skewed_signals,
            _ => 0,
        };
        out.push(FaultOutcome {
            kind: spec.kind,
            started_at: rfc3339(run.started_ms),
            ended_at: rfc3339(run.load_ended_ms),
            started_s: 0.0,
            ended_s: rel(run.load_ended_ms),
            recovery_ms: None,
            peak_p99_ms: None,
            extra_p99_ms: None,
            injected: Some(injected),
            error: None,
            note: "a data fault: spread over the whole load".into(),
        });
    }
    out
}

/// The latency a fault of `kind` is judged by: where sessions stop arriving while it lasts.
/// A sink or ClickHouse fault leaves the sessions topic alone, so it is judged by signal →
/// ClickHouse; the others by signal → sessions topic.
fn judged_by(kind: FaultKind) -> fn(&Second) -> &Percentiles {
    match kind {
        FaultKind::KillSink
        | FaultKind::RestartClickhouse
        | FaultKind::PauseClickhouse
        | FaultKind::StopClickhouse
        | FaultKind::KillClickhouse
        | FaultKind::StopZookeeper => |s: &Second| &s.clickhouse_latency,
        _ => |s: &Second| &s.session_latency,
    }
}

/// (recovery ms, peak p99, extra p99, note) of one process fault.
fn recovery(h: &Happened, run: &Run<'_>) -> (Option<f64>, Option<f64>, Option<f64>, String) {
    let latency = judged_by(h.spec.kind);
    let second_of = |ms: i64| u64::try_from(ms - run.started_ms).unwrap_or(0) / 1000;
    let start = second_of(h.started_ms);
    let end = second_of(h.ended_ms);
    let load_end = second_of(run.load_ended_ms);
    let at = |t: u64| run.timeline.iter().find(|s| s.t == t);
    let baseline: Vec<&Second> = (start.saturating_sub(BASELINE_SECONDS)..start)
        .filter_map(at)
        .filter(|s| latency(s).count > 0)
        .collect();
    if baseline.is_empty() {
        return (
            None,
            None,
            None,
            "no sessions in the seconds before it: no baseline to recover to".into(),
        );
    }
    let mean_sessions = baseline
        .iter()
        .map(|s| latency(s).count as f64)
        .sum::<f64>()
        / baseline.len() as f64;
    let mut p99s: Vec<f64> = baseline.iter().map(|s| latency(s).p99).collect();
    p99s.sort_by(f64::total_cmp);
    let ceiling = p99s.last().copied().unwrap_or(0.0) * 1.5 + 20.0;
    let median = p99s[p99s.len() / 2];
    let within = |t: u64| {
        at(t).is_some_and(|s| {
            latency(s).count > 0
                && latency(s).p99 <= ceiling
                && latency(s).count as f64 >= 0.5 * mean_sessions
        })
    };
    // Back once a second and the one after it are within the band.
    let recovered = (end..load_end).find(|&t| within(t) && (t + 1 >= load_end || within(t + 1)));
    let peak_until = recovered.unwrap_or(load_end.max(end));
    let peak = (start..=peak_until)
        .filter_map(at)
        .filter(|s| latency(s).count > 0)
        .map(|s| latency(s).p99)
        .fold(None, |m: Option<f64>, p| Some(m.map_or(p, |m| m.max(p))));
    let extra = peak.map(|p| (p - median).max(0.0));
    match recovered {
        Some(t) => {
            let back_ms = run.started_ms + i64::try_from(t).unwrap_or(i64::MAX) * 1000;
            (
                Some((back_ms - h.ended_ms).max(0) as f64),
                peak,
                extra,
                String::new(),
            )
        }
        None => (
            None,
            peak,
            extra,
            "the load ended before the pipeline was back within its pre-fault band".into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::spec::FaultSpec;
    use crate::metrics::Percentiles;

    fn second(t: u64, sessions: u64, p99: f64) -> Second {
        Second {
            t,
            events_produced: sessions * 5,
            sessions_observed: sessions,
            session_latency: Percentiles {
                count: sessions,
                p99,
                ..Percentiles::default()
            },
            clickhouse_latency: Percentiles::default(),
            producer_lag_ms: 0.0,
        }
    }

    fn kill_at(started_ms: i64, ended_ms: i64) -> Happened {
        Happened {
            spec: FaultSpec {
                kind: FaultKind::KillAggregator,
                at: Some(std::time::Duration::from_secs(5)),
                duration: None,
                share: None,
                by: None,
                chargers: None,
                instance: None,
                node: None,
                from: None,
                direction: None,
                rate: None,
                delay: None,
                jitter: None,
            },
            started_ms,
            ended_ms,
            error: None,
        }
    }

    #[test]
    fn recovery_runs_until_the_pipeline_is_back_in_its_band() {
        // 100 sessions/s at 50 ms; killed from 10 s to 12 s; nothing until 13 s, a backlog
        // at high latency in 13–14 s, back to normal from 15 s.
        let mut timeline: Vec<Second> = (0..10).map(|t| second(t, 100, 50.0)).collect();
        timeline.push(second(10, 10, 60.0));
        timeline.push(second(13, 250, 2500.0));
        timeline.push(second(14, 150, 900.0));
        timeline.extend((15..30).map(|t| second(t, 100, 55.0)));
        let injected = Default::default();
        let run = Run {
            timeline: &timeline,
            started_ms: 1_000_000,
            load_ended_ms: 1_030_000,
            injected: &injected,
        };
        let h = kill_at(1_010_000, 1_012_400);
        let (recovery, peak, extra, note) = recovery(&h, &run);
        assert_eq!(recovery, Some(2600.0), "{note}");
        assert_eq!(peak, Some(2500.0));
        assert_eq!(extra, Some(2450.0));

        // Never back before the load ends.
        let short = Run {
            load_ended_ms: 1_014_500,
            ..run
        };
        let (recovery, _, _, note) = super::recovery(&h, &short);
        assert_eq!(recovery, None);
        assert!(note.contains("ended"), "{note}");
    }

    #[test]
    fn sink_faults_are_judged_by_the_latency_to_clickhouse() {
        // The sessions topic never notices a killed sink; ClickHouse does: nothing stored
        // from 10 s to 12 s, a slow backlog in 12–13 s, normal again from 14 s.
        let mut timeline: Vec<Second> = (0..30).map(|t| second(t, 100, 50.0)).collect();
        for s in &mut timeline {
            let (count, p99) = match s.t {
                10 | 11 => (0, 0.0),
                12 => (200, 3000.0),
                13 => (120, 800.0),
                _ => (100, 90.0),
            };
            s.clickhouse_latency = Percentiles {
                count,
                p99,
                ..Percentiles::default()
            };
        }
        let injected = Default::default();
        let run = Run {
            timeline: &timeline,
            started_ms: 1_000_000,
            load_ended_ms: 1_030_000,
            injected: &injected,
        };
        let mut h = kill_at(1_010_000, 1_012_000);
        h.spec.kind = FaultKind::KillSink;
        let (recovery, peak, extra, note) = recovery(&h, &run);
        assert_eq!(recovery, Some(2000.0), "{note}");
        assert_eq!(peak, Some(3000.0));
        assert_eq!(extra, Some(2910.0));
        // The same timeline judged by the sessions topic: nothing happened there.
        h.spec.kind = FaultKind::KillAggregator;
        let (recovery, peak, _, _) = super::recovery(&h, &run);
        assert_eq!((recovery, peak), (Some(0.0), Some(50.0)));
    }

    #[test]
    fn data_faults_report_what_they_injected() {
        let list = FaultList(vec![FaultSpec::share_of(FaultKind::Duplicate, 0.1)]);
        let injected = pipeline::produce::inject::InjectedCounts {
            duplicates: 42,
            ..Default::default()
        };
        let run = Run {
            timeline: &[],
            started_ms: 0,
            load_ended_ms: 5000,
            injected: &injected,
        };
        let out = outcomes(&list, &[], &run);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].injected, Some(42));
        assert_eq!(out[0].ended_s, 5.0);
        assert_eq!(out[0].started_at, "1970-01-01T00:00:00.000Z");
    }
}
