//! Two runs side by side, figure by figure, and the gate that decides whether the second one
//! regressed.
//!
//! A figure *regresses* when it got worse by more than its tolerance:
//! * an end-to-end throughput ([`GATED_THROUGHPUT`](crate::figures::GATED_THROUGHPUT)) fell
//!   below `base × (1 − throughput tolerance)`;
//! * a watched latency percentile rose above `base × (1 + latency tolerance)` and by more than
//!   the slack (a rise of a few microseconds on a sub-millisecond figure is not a regression);
//! * the new run failed a check that the base run passed (its figures are not comparable).
//!
//! Every other figure is shown with its change, flagged `better` or `worse` when it moved by
//! more than the general tolerance, and never fails the comparison.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

use crate::figures::{self, Better, Class, Figure, Kind};
use crate::table::{self, Align};
use crate::{Error, Result};

/// How much worse a figure may get before it is a regression.
#[derive(Debug, Clone, PartialEq)]
pub struct Tolerances {
    /// Fraction an end-to-end throughput may fall (0.1 = 10 %).
    pub throughput: f64,
    /// Fraction a watched latency percentile may rise (2.0 = up to three times).
    pub latency: f64,
    /// Fraction the CPU per signal of all parts together may rise (0.5 = up to 1.5 times).
    pub cost: f64,
    /// Fraction beyond which any other figure is flagged better or worse (never a failure).
    pub other: f64,
    /// The latency percentiles the gate watches (`p50`, `p99`, …), in every latency path.
    pub percentiles: Vec<String>,
    /// Latency rises of at most this many milliseconds are never regressions.
    pub latency_slack_ms: f64,
}

impl Default for Tolerances {
    fn default() -> Self {
        Tolerances {
            throughput: 0.10,
            latency: 0.10,
            cost: 0.10,
            other: 0.10,
            percentiles: ["p50", "p90", "p99", "p999"].map(String::from).to_vec(),
            latency_slack_ms: 1.0,
        }
    }
}

/// A tolerance that is not a percentage.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0:?} is not a percentage (write e.g. `10%`, or `200%` for up to three times)")]
pub struct NotAPercentage(pub String);

/// Parses a tolerance written as a percentage, `10%` or `10`, into a fraction (0.1).
pub fn parse_percent(text: &str) -> Result<f64, NotAPercentage> {
    let number = text.trim().trim_end_matches('%').trim();
    match number.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v / 100.0),
        _ => Err(NotAPercentage(text.to_owned())),
    }
}

/// One side of a comparison: a report (full or reduced) or the medians of a `repeat.json`.
#[derive(Debug, Clone)]
pub struct Side {
    /// The file it came from.
    pub path: String,
    /// What the figures are: `report`, or `median of 3 runs`.
    pub source: String,
    pub figures: Vec<Figure>,
    /// Whether every check passed (`None` when the file does not say).
    pub passed: Option<bool>,
    pub failed_checks: Vec<String>,
    /// The whole file, for the notes on what differs between the runs.
    pub document: Value,
}

impl Side {
    /// Reads a report, a reduced report or a `repeat.json`.
    pub fn read(path: &Path) -> Result<Side> {
        let document = crate::read_json(path)?;
        Side::from_value(&path.display().to_string(), document)
    }

    /// A side from a parsed file; `path` names it in messages.
    pub fn from_value(path: &str, document: Value) -> Result<Side> {
        let not_a_report = |reason: &str| Error::NotAReport {
            path: path.to_owned(),
            reason: reason.to_owned(),
        };
        if !document.is_object() {
            return Err(not_a_report("not a JSON object"));
        }
        if document.get("points").is_some_and(Value::is_array) {
            return Err(not_a_report(
                "it is a sweep summary (sweep.json): compare the report.json of two points",
            ));
        }
        let repeat = crate::repeat::medians(&document);
        let (source, figures) = match repeat {
            Some((runs, figures)) => (format!("median of {runs} runs"), figures),
            None => ("report".to_owned(), figures::extract(&document)),
        };
        if figures.is_empty() {
            return Err(not_a_report("it has neither `throughput` nor `latency_ms`"));
        }
        Ok(Side {
            path: path.to_owned(),
            source,
            figures,
            passed: document.get("passed").and_then(Value::as_bool),
            failed_checks: figures::failed_checks(&document),
            document,
        })
    }
}

/// How a figure changed.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Worse beyond its tolerance, and gated: the comparison fails.
    Regressed {
        /// The limit it crossed, for people (`< 5 258 signals/s`).
        limit: String,
    },
    /// Worse beyond the tolerance, not gated.
    Worse,
    /// Better beyond the tolerance.
    Better,
    /// Changed beyond the tolerance, a figure with no better direction (a count, a size).
    Changed,
    /// Within the tolerance.
    Within,
    /// In one of the two files only.
    OnlyIn(&'static str),
}

/// One figure in both runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub key: String,
    pub class: Class,
    pub base: Option<f64>,
    pub new: Option<f64>,
    pub verdict: Verdict,
}

impl Row {
    /// The relative change, `(new − base) / base`, when both exist and base is not zero.
    pub fn change(&self) -> Option<f64> {
        match (self.base, self.new) {
            (Some(b), Some(n)) if b != 0.0 => Some((n - b) / b.abs()),
            _ => None,
        }
    }
}

/// Everything the comparison found.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub base: Side,
    pub new: Side,
    pub tolerances: Tolerances,
    pub rows: Vec<Row>,
    /// What differs between the two runs besides their figures (scenario, load, machine,
    /// build, settings): figures of different set-ups are not comparable one to one.
    pub notes: Vec<String>,
    /// Each regression, for people.
    pub regressions: Vec<String>,
}

/// Compares `new` against `base`.
pub fn compare(base: Side, new: Side, tolerances: &Tolerances) -> Comparison {
    let base_values: BTreeMap<&str, f64> = base
        .figures
        .iter()
        .map(|f| (f.key.as_str(), f.value))
        .collect();
    let new_values: BTreeMap<&str, f64> = new
        .figures
        .iter()
        .map(|f| (f.key.as_str(), f.value))
        .collect();
    let mut keys: Vec<&str> = base.figures.iter().map(|f| f.key.as_str()).collect();
    keys.extend(
        new.figures
            .iter()
            .map(|f| f.key.as_str())
            .filter(|k| !base_values.contains_key(k)),
    );
    let mut rows = Vec::with_capacity(keys.len());
    let mut regressions = Vec::new();
    for key in keys {
        let class = figures::classify(key);
        let (b, n) = (base_values.get(key).copied(), new_values.get(key).copied());
        let verdict = judge(key, class, b, n, tolerances);
        if let Verdict::Regressed { limit } = &verdict {
            regressions.push(format!(
                "{key}: {} → {} {} (limit {limit})",
                class.unit.format(b.unwrap_or(0.0)),
                class.unit.format(n.unwrap_or(0.0)),
                class.unit.label()
            ));
        }
        rows.push(Row {
            key: key.to_owned(),
            class,
            base: b,
            new: n,
            verdict,
        });
    }
    if base.passed != Some(false) && new.passed == Some(false) {
        regressions.push(format!(
            "the new run failed its checks ({}): its figures are not those of a correct run",
            new.failed_checks.join(", ")
        ));
    }
    let notes = notes(&base, &new);
    Comparison {
        base,
        new,
        tolerances: tolerances.clone(),
        rows,
        notes,
        regressions,
    }
}

fn judge(key: &str, class: Class, base: Option<f64>, new: Option<f64>, t: &Tolerances) -> Verdict {
    let (b, n) = match (base, new) {
        (Some(b), Some(n)) => (b, n),
        (Some(_), None) => return Verdict::OnlyIn("base"),
        _ => return Verdict::OnlyIn("new"),
    };
    let last = key.rsplit('.').next().unwrap_or(key);
    let unit = class.unit;
    match class.kind {
        Kind::Throughput if b > 0.0 => {
            let limit = b * (1.0 - t.throughput);
            if n < limit {
                return Verdict::Regressed {
                    limit: format!("≥ {} {}", unit.format(limit), unit.label()),
                };
            }
        }
        Kind::Percentile if t.percentiles.iter().any(|p| p == last) => {
            let limit = (b * (1.0 + t.latency)).max(b + t.latency_slack_ms);
            if n > limit {
                return Verdict::Regressed {
                    limit: format!("≤ {} {}", unit.format(limit), unit.label()),
                };
            }
        }
        Kind::Cost if b > 0.0 => {
            let limit = b * (1.0 + t.cost);
            if n > limit {
                return Verdict::Regressed {
                    limit: format!("≤ {} {}", unit.format(limit), unit.label()),
                };
            }
        }
        _ => {}
    }
    let tolerance = match class.kind {
        Kind::Throughput => t.throughput,
        Kind::Percentile => t.latency,
        Kind::Cost => t.cost,
        Kind::Info => t.other,
    };
    let moved = if b == 0.0 {
        n != 0.0
    } else {
        ((n - b) / b.abs()).abs() > tolerance
    };
    if !moved {
        return Verdict::Within;
    }
    match class.better {
        Better::Higher if n > b => Verdict::Better,
        Better::Lower if n < b => Verdict::Better,
        Better::Neither => Verdict::Changed,
        _ => Verdict::Worse,
    }
}

/// The first of `pointers` that holds a scalar, as text.
fn text_at(document: &Value, pointers: &[&str]) -> Option<String> {
    pointers.iter().find_map(|p| match document.pointer(p)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    })
}

/// What differs between the two runs' set-ups.
fn notes(base: &Side, new: &Side) -> Vec<String> {
    let mut notes = Vec::new();
    let aspects: [(&str, &[&str]); 11] = [
        ("scenario", &["/scenario"]),
        ("seed", &["/seed"]),
        ("signals produced", &["/events/produced"]),
        ("provider", &["/provider"]),
        ("ingestion", &["/ingestion"]),
        ("aggregator engine", &["/aggregator/engine"]),
        ("host", &["/environment/host/name", "/environment/host"]),
        ("cores", &["/environment/host/cores", "/environment/cpus"]),
        ("cpu", &["/environment/host/cpu_model"]),
        ("build profile", &["/environment/profile"]),
        (
            "servers' storage",
            &["/environment/services_storage/filesystem"],
        ),
    ];
    for (name, pointers) in aspects {
        let (b, n) = (
            text_at(&base.document, pointers),
            text_at(&new.document, pointers),
        );
        if let (Some(b), Some(n)) = (&b, &n)
            && b != n
        {
            notes.push(format!("{name} differs: {b} → {n}"));
        }
    }
    if let (Some(b), Some(n)) = (
        base.document.get("scenario_resolved"),
        new.document.get("scenario_resolved"),
    ) {
        let (mut b_flat, mut n_flat) = (BTreeMap::new(), BTreeMap::new());
        flatten(b, "", &mut b_flat);
        flatten(n, "", &mut n_flat);
        let mut differing: Vec<String> = b_flat
            .keys()
            .chain(n_flat.keys())
            .filter(|k| b_flat.get(*k) != n_flat.get(*k))
            .cloned()
            .collect();
        differing.dedup();
        let none = "(absent)".to_owned();
        for key in differing.iter().take(12) {
            notes.push(format!(
                "setting {key} differs: {} → {}",
                b_flat.get(key).unwrap_or(&none),
                n_flat.get(key).unwrap_or(&none)
            ));
        }
        if differing.len() > 12 {
            notes.push(format!("… and {} more settings", differing.len() - 12));
        }
    }
    notes
}

/// Scalars of a JSON tree by dotted key, as text.
fn flatten(value: &Value, key: &str, out: &mut BTreeMap<String, String>) {
    match value {
        Value::Object(map) => {
            for (name, child) in map {
                let child_key = if key.is_empty() {
                    name.clone()
                } else {
                    format!("{key}.{name}")
                };
                flatten(child, &child_key, out);
            }
        }
        other => {
            out.insert(key.to_owned(), other.to_string());
        }
    }
}

impl Comparison {
    /// Whether nothing regressed.
    pub fn passed(&self) -> bool {
        self.regressions.is_empty()
    }

    /// The comparison for the terminal: where the figures come from, what differs, the table
    /// of every figure, and the verdict.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (name, side) in [("base", &self.base), ("new ", &self.new)] {
            let scenario = text_at(&side.document, &["/scenario"]).unwrap_or_default();
            let commit = text_at(&side.document, &["/environment/commit"])
                .map(|c| format!(", commit {}", c.get(..10).unwrap_or(&c)))
                .unwrap_or_default();
            let started = text_at(&side.document, &["/environment/started_at"])
                .map(|s| format!(", {s}"))
                .unwrap_or_default();
            let verdict = match side.passed {
                Some(true) => ", passed",
                Some(false) => ", FAILED its checks",
                None => "",
            };
            let _ = writeln!(
                out,
                "{name} {} ({}: {scenario}{commit}{started}{verdict})",
                side.path, side.source
            );
        }
        for note in &self.notes {
            let _ = writeln!(out, "note: {note}");
        }
        let t = &self.tolerances;
        let _ = writeln!(
            out,
            "gate: end-to-end throughput may fall {}, latency {} may rise {} (and more than {} ms); other figures flagged beyond {}",
            percent(t.throughput),
            t.percentiles.join(", "),
            percent(t.latency),
            t.latency_slack_ms,
            percent(t.other)
        );
        out.push('\n');
        let header = ["figure", "unit", "base", "new", "change", ""];
        let mut lines: Vec<[String; 6]> = vec![header.map(String::from)];
        for row in &self.rows {
            let unit = row.class.unit;
            let show = |v: Option<f64>| v.map_or_else(|| "—".to_owned(), |v| unit.format(v));
            let change = match (row.change(), row.base, row.new) {
                (Some(c), _, _) => format!("{:+.1}%", c * 100.0),
                (None, Some(b), Some(n)) if b == n => "0.0%".to_owned(),
                _ => String::new(),
            };
            let verdict = match &row.verdict {
                Verdict::Regressed { limit } => format!("REGRESSED (limit {limit})"),
                Verdict::Worse => "worse".into(),
                Verdict::Better => "better".into(),
                Verdict::Changed => "changed".into(),
                Verdict::Within => String::new(),
                Verdict::OnlyIn(side) => format!("only in {side}"),
            };
            lines.push([
                row.key.clone(),
                unit.label().to_owned(),
                show(row.base),
                show(row.new),
                change,
                verdict,
            ]);
        }
        // Names and verdicts left-aligned, numbers right-aligned.
        out.push_str(&table::render(&lines, |i| {
            if i < 2 || i == 5 {
                Align::Left
            } else {
                Align::Right
            }
        }));
        out.push('\n');
        let passed = (
            self.base.passed.map_or("—", verdict_word),
            self.new.passed.map_or("—", verdict_word),
        );
        let _ = writeln!(out, "checks: base {}, new {}", passed.0, passed.1);
        if self.regressions.is_empty() {
            let _ = writeln!(out, "verdict: no regression beyond the tolerances");
        } else {
            let _ = writeln!(out, "verdict: {} regression(s)", self.regressions.len());
            for r in &self.regressions {
                let _ = writeln!(out, "  REGRESSED {r}");
            }
        }
        out
    }
}

fn verdict_word(passed: bool) -> &'static str {
    if passed { "passed" } else { "FAILED" }
}

fn percent(fraction: f64) -> String {
    format!("{}%", (fraction * 1000.0).round() / 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn report(events_per_s: f64, p99: f64) -> Value {
        json!({
            "scenario": "s", "seed": 1, "passed": true,
            "checks": [ { "name": "sessions-exact", "passed": true, "detail": "" } ],
            "throughput": { "events_per_s": events_per_s, "sessions_per_s": events_per_s / 5.0,
                            "produce_events_per_s": 2.0 * events_per_s },
            "latency_ms": {
                "event_to_session_topic": { "count": 100, "p50": 20.0, "p99": p99, "max": 2.0 * p99 },
                "event_to_clickhouse": { "count": 100, "p50": 40.0, "p99": p99 + 20.0, "max": 3.0 * p99 }
            },
            "events": { "produced": 1000 }
        })
    }

    fn side(value: Value) -> Side {
        Side::from_value("x.json", value).unwrap()
    }

    #[test]
    fn a_report_against_itself_passes_with_every_figure_within() {
        let c = compare(
            side(report(1000.0, 50.0)),
            side(report(1000.0, 50.0)),
            &Tolerances::default(),
        );
        assert!(c.passed(), "{}", c.render());
        assert!(c.rows.iter().all(|r| r.verdict == Verdict::Within));
        assert!(c.notes.is_empty(), "{:?}", c.notes);
    }

    #[test]
    fn half_the_throughput_regresses_and_says_so() {
        let c = compare(
            side(report(1000.0, 50.0)),
            side(report(500.0, 50.0)),
            &Tolerances::default(),
        );
        assert!(!c.passed());
        // events/s and sessions/s fell; the producer's own rate is shown, not gated.
        assert_eq!(c.regressions.len(), 2, "{:?}", c.regressions);
        let text = c.render();
        assert!(text.contains("throughput.events_per_s"), "{text}");
        assert!(
            text.contains("-50.0%") && text.contains("REGRESSED"),
            "{text}"
        );
        let producer = c
            .rows
            .iter()
            .find(|r| r.key == "throughput.produce_events_per_s")
            .unwrap();
        assert_eq!(producer.verdict, Verdict::Worse);
    }

    #[test]
    fn cpu_per_signal_is_gated_in_total_and_shown_per_part() {
        let with_cost = |total: f64, aggregator: f64| {
            let mut r = report(1000.0, 50.0);
            r["cost_per_signal"] = json!({
                "signals": 1000, "total_cpu_us": total, "payload_bytes": 210.0,
                "cpu_us": { "aggregator-0": aggregator, "kafka": total - aggregator }
            });
            r
        };
        let gate = Tolerances {
            cost: 0.5,
            ..Tolerances::default()
        };
        // A part twice as costly within a total 40 % up: flagged, not failed.
        let c = compare(
            side(with_cost(50.0, 5.0)),
            side(with_cost(70.0, 10.0)),
            &gate,
        );
        assert!(c.passed(), "{}", c.render());
        let part = c
            .rows
            .iter()
            .find(|r| r.key == "cost_per_signal.cpu_us.aggregator-0")
            .unwrap();
        assert_eq!(part.verdict, Verdict::Worse);
        // The total above 1.5 times: a regression, named.
        let c = compare(
            side(with_cost(50.0, 5.0)),
            side(with_cost(76.0, 5.0)),
            &gate,
        );
        assert_eq!(c.regressions.len(), 1, "{:?}", c.regressions);
        assert!(c.regressions[0].starts_with("cost_per_signal.total_cpu_us"));
        // A base without the figure (an older report) judges nothing.
        assert!(
            compare(
                side(report(1000.0, 50.0)),
                side(with_cost(500.0, 5.0)),
                &gate
            )
            .passed()
        );
    }

    #[test]
    fn the_coarse_gate_lets_noise_through_and_catches_collapses() {
        let coarse = Tolerances {
            throughput: 0.5,
            latency: 2.0,
            percentiles: vec!["p99".into()],
            ..Tolerances::default()
        };
        let base = || side(report(1000.0, 50.0));
        // 40 % slower and p99 2.5 times: noisy, not a collapse.
        assert!(compare(base(), side(report(600.0, 125.0)), &coarse).passed());
        // Below half.
        assert!(!compare(base(), side(report(490.0, 50.0)), &coarse).passed());
        // p99 above three times (p50 unchanged, and not watched anyway).
        let c = compare(base(), side(report(1000.0, 151.0)), &coarse);
        assert_eq!(c.regressions.len(), 1, "{:?}", c.regressions);
        assert!(c.regressions[0].starts_with("latency_ms.event_to_session_topic.p99"));
    }

    #[test]
    fn sub_millisecond_rises_are_within_the_slack() {
        let mut b = report(1000.0, 0.4);
        let mut n = report(1000.0, 0.9);
        for r in [&mut b, &mut n] {
            r["latency_ms"]
                .as_object_mut()
                .unwrap()
                .remove("event_to_clickhouse");
        }
        let c = compare(side(b), side(n), &Tolerances::default());
        assert!(c.passed(), "{:?}", c.regressions);
    }

    #[test]
    fn missing_fields_are_shown_not_judged() {
        let mut older = report(1000.0, 50.0);
        older.as_object_mut().unwrap().remove("latency_ms");
        let c = compare(
            side(older),
            side(report(1000.0, 500.0)),
            &Tolerances::default(),
        );
        assert!(c.passed(), "{:?}", c.regressions);
        assert!(
            c.rows
                .iter()
                .any(|r| r.verdict == Verdict::OnlyIn("new") && r.base.is_none())
        );
        assert!(c.render().contains("only in new"));
    }

    #[test]
    fn a_failed_new_run_is_a_regression() {
        let mut failed = report(1000.0, 50.0);
        failed["passed"] = json!(false);
        failed["checks"][0]["passed"] = json!(false);
        let c = compare(
            side(report(1000.0, 50.0)),
            side(failed),
            &Tolerances::default(),
        );
        assert_eq!(c.regressions.len(), 1);
        assert!(c.regressions[0].contains("sessions-exact"));
    }

    #[test]
    fn different_setups_are_noted() {
        let mut other = report(1000.0, 50.0);
        other["events"]["produced"] = json!(2000);
        other["environment"] = json!({ "host": { "cores": 8 } });
        let mut base = report(1000.0, 50.0);
        base["environment"] = json!({ "host": "vm", "cpus": 2 });
        base["scenario_resolved"] = json!({ "run": { "span": "2h" } });
        other["scenario_resolved"] = json!({ "run": { "span": "1h" } });
        let c = compare(side(base), side(other), &Tolerances::default());
        let notes = c.notes.join("\n");
        assert!(
            notes.contains("signals produced differs: 1000 → 2000"),
            "{notes}"
        );
        assert!(notes.contains("cores differs: 2 → 8"), "{notes}");
        assert!(notes.contains("setting run.span differs"), "{notes}");
    }

    #[test]
    fn unreadable_input_is_refused() {
        for (value, reason) in [
            (json!([1, 2]), "object"),
            (json!({ "hello": 1 }), "neither"),
            (json!({ "points": [] }), "sweep"),
        ] {
            let err = Side::from_value("x.json", value).unwrap_err();
            assert!(err.to_string().contains(reason), "{err}");
            assert!(err.is_bad_input());
        }
    }

    #[test]
    fn percentages() {
        assert_eq!(parse_percent("10%"), Ok(0.1));
        assert_eq!(parse_percent("200"), Ok(2.0));
        assert!(parse_percent("-5%").is_err() && parse_percent("ten").is_err());
    }
}
