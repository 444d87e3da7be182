//! `evbench run … --repeat N`: one scenario run N times, each figure as median, min and max
//! (`repeat.json`), and the most typical run reduced to a baseline (`median-run.json`).
//!
//! The median of an even number of runs is the mean of the two middle values. The *median
//! run* is the run whose headline figures (end-to-end throughput, every latency percentile)
//! are closest to those medians: the smallest sum of `|ln(value / median)|`. Its report,
//! without the per-second series and tables, is what `bench/baselines/` keeps.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

use crate::figures::{self, Figure, Kind};
use crate::table::{self, names_then_numbers};

/// What one of the runs gave.
#[derive(Debug, Clone, Serialize)]
pub struct RunEntry {
    /// 1, 2, …
    pub run: usize,
    /// Its directory below the output directory (`run-1`).
    pub dir: String,
    /// `passed`, `failed` (a check failed) or `could not run`.
    pub outcome: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failed_checks: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One figure over the runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Spread {
    pub unit: &'static str,
    pub median: f64,
    pub min: f64,
    pub max: f64,
    /// Per run (`null` where the run had no such figure or did not run).
    pub values: Vec<Option<f64>>,
}

/// `repeat.json`.
#[derive(Debug, Clone, Serialize)]
pub struct RepeatSummary {
    /// The scenario's name.
    pub scenario: Value,
    pub seed: Value,
    pub provider: Value,
    pub ingestion: Value,
    pub runs: Vec<RunEntry>,
    /// Every run ran and passed its checks.
    pub passed: bool,
    /// The run closest to the medians (1-based), whose reduced report is `median-run.json`.
    pub median_run: Option<usize>,
    /// Every figure (by its key in `report.json`) as median, min and max over the runs.
    pub figures: BTreeMap<String, Spread>,
    /// The first run's machine and build.
    pub environment: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scenario_resolved: Option<Value>,
}

/// The median of `values` (not empty): the middle one, or the mean of the two middle ones.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

impl RepeatSummary {
    /// The summary of `runs`: each entry with its report (`None` when it could not run).
    pub fn new(runs: Vec<(RunEntry, Option<Value>)>) -> RepeatSummary {
        let reports: Vec<Option<&Value>> = runs.iter().map(|(_, r)| r.as_ref()).collect();
        let first = reports.iter().flatten().next().copied();
        let field = |name: &str| {
            first
                .and_then(|r| r.get(name))
                .cloned()
                .unwrap_or(Value::Null)
        };
        let per_run: Vec<Vec<Figure>> = reports
            .iter()
            .map(|r| r.map(figures::extract).unwrap_or_default())
            .collect();
        // Keys in the order of their first appearance.
        let mut order: Vec<String> = Vec::new();
        for figures in &per_run {
            for f in figures {
                if !order.contains(&f.key) {
                    order.push(f.key.clone());
                }
            }
        }
        let mut spreads = BTreeMap::new();
        for key in &order {
            let values: Vec<Option<f64>> = per_run
                .iter()
                .map(|fs| fs.iter().find(|f| &f.key == key).map(|f| f.value))
                .collect();
            let present: Vec<f64> = values.iter().flatten().copied().collect();
            if present.is_empty() {
                continue;
            }
            spreads.insert(
                key.clone(),
                Spread {
                    unit: figures::classify(key).unit.label(),
                    median: median(&present),
                    min: present.iter().copied().fold(f64::INFINITY, f64::min),
                    max: present.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                    values,
                },
            );
        }
        let median_run = median_run(&per_run, &spreads);
        let passed = runs.iter().all(|(e, _)| e.outcome == "passed");
        let scenario_resolved = first.and_then(|r| r.get("scenario_resolved")).cloned();
        let (scenario, seed, provider, ingestion, environment) = (
            field("scenario"),
            field("seed"),
            field("provider"),
            field("ingestion"),
            field("environment"),
        );
        RepeatSummary {
            scenario,
            seed,
            provider,
            ingestion,
            runs: runs.into_iter().map(|(e, _)| e).collect(),
            passed,
            median_run,
            figures: spreads,
            environment,
            scenario_resolved,
        }
    }

    /// The table for the terminal: every figure's median, min, max and spread.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let ran = self
            .runs
            .iter()
            .filter(|r| r.outcome != "could not run")
            .count();
        let _ = writeln!(
            out,
            "{} runs of {}: {}{}",
            ran,
            self.scenario.as_str().unwrap_or("?"),
            self.runs
                .iter()
                .map(|r| format!("run {} {}", r.run, r.outcome))
                .collect::<Vec<_>>()
                .join(", "),
            self.median_run
                .map(|m| format!("; run {m} is the closest to the medians"))
                .unwrap_or_default()
        );
        // In the order figures::extract gives, not alphabetical.
        let order = figures::extract(&unflatten(
            self.figures.iter().map(|(k, s)| (k.as_str(), s.median)),
        ));
        let mut lines =
            vec![["figure", "unit", "median", "min", "max", "spread"].map(String::from)];
        for figure in order {
            let Some(spread) = self.figures.get(&figure.key) else {
                continue;
            };
            let unit = figures::classify(&figure.key).unit;
            let range = if spread.median != 0.0 {
                format!(
                    "{:.1}%",
                    (spread.max - spread.min) / spread.median.abs() * 100.0
                )
            } else {
                String::new()
            };
            lines.push([
                figure.key.clone(),
                unit.label().to_owned(),
                unit.format(spread.median),
                unit.format(spread.min),
                unit.format(spread.max),
                range,
            ]);
        }
        out.push_str(&table::render(&lines, names_then_numbers));
        let _ = writeln!(
            out,
            "spread = (max − min) / median. Figures of one machine only; see docs/benchmarking.md."
        );
        out
    }
}

/// The run whose headline figures are closest to the medians (1-based).
fn median_run(per_run: &[Vec<Figure>], spreads: &BTreeMap<String, Spread>) -> Option<usize> {
    let mut best: Option<(f64, usize)> = None;
    for (i, figures) in per_run.iter().enumerate() {
        if figures.is_empty() {
            continue;
        }
        let distance: f64 = figures
            .iter()
            .filter(|f| matches!(f.class().kind, Kind::Throughput | Kind::Percentile))
            .filter_map(|f| {
                let m = spreads.get(&f.key)?.median;
                (m > 0.0 && f.value > 0.0).then(|| (f.value / m).ln().abs())
            })
            .sum();
        if best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, i + 1));
        }
    }
    best.map(|(_, run)| run)
}

/// A report-shaped tree from dotted keys and values.
fn unflatten<'a>(pairs: impl Iterator<Item = (&'a str, f64)>) -> Value {
    let mut root = serde_json::Map::new();
    for (key, value) in pairs {
        let parts: Vec<&str> = key.split('.').collect();
        let mut node = &mut root;
        for part in &parts[..parts.len() - 1] {
            let entry = node
                .entry(part.to_string())
                .or_insert_with(|| Value::Object(serde_json::Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(serde_json::Map::new());
            }
            let Value::Object(next) = entry else {
                unreachable!("made an object just above")
            };
            node = next;
        }
        if let Some(number) = serde_json::Number::from_f64(value) {
            node.insert(parts[parts.len() - 1].to_owned(), Value::Number(number));
        }
    }
    Value::Object(root)
}

/// The figures of a `repeat.json` (their medians) and its number of runs; `None` for any other
/// document.
pub fn medians(document: &Value) -> Option<(usize, Vec<Figure>)> {
    let runs = document.get("runs")?.as_array()?.len();
    let figures = document.get("figures")?.as_object()?;
    let tree = unflatten(
        figures
            .iter()
            .filter_map(|(k, s)| Some((k.as_str(), s.get("median")?.as_f64()?))),
    );
    Some((runs, figures::extract(&tree)))
}

/// Keys of a report that are per-second series, tables or file lists rather than figures;
/// a reduced report leaves them out.
const BULKY: [&str; 7] = [
    "/timeline",
    "/latency_tables",
    "/latency_distribution",
    "/kpis/table",
    "/sessions/examples",
    "/aggregator/logs",
    "/ingestion_detail/logs",
];

/// Arrays longer than this are series or tables (a per-second series added to the report
/// later, say): a reduced report leaves them out too.
const LONGEST_KEPT_ARRAY: usize = 64;

/// `report` without its per-second series, tables and log paths: every figure and every
/// piece of context (checks, environment, settings) of the report, a few kilobytes.
/// `run`/`of` say which run of a repeat it was.
pub fn reduce(report: &Value, run: usize, of: usize) -> Value {
    let mut reduced = report.clone();
    for pointer in BULKY {
        if let Some((parent, name)) = pointer.rsplit_once('/')
            && let Some(Value::Object(map)) =
                reduced.pointer_mut(if parent.is_empty() { "" } else { parent })
        {
            map.remove(name);
        }
    }
    if let Some(Value::Object(resources)) = reduced.get_mut("resources") {
        for usage in resources.values_mut() {
            if let Value::Object(usage) = usage {
                usage.remove("series");
            }
        }
    }
    drop_long_arrays(&mut reduced);
    if let Value::Object(map) = &mut reduced {
        map.insert(
            "reduced".into(),
            serde_json::json!({
                "from": format!("run {run} of {of}"),
                "why": "the run closest to the medians of its repeat; per-second series and tables left out",
            }),
        );
    }
    reduced
}

fn drop_long_arrays(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !matches!(v, Value::Array(a) if a.len() > LONGEST_KEPT_ARRAY));
            map.values_mut().for_each(drop_long_arrays);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_long_arrays),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn report(events_per_s: f64, p99: f64) -> Value {
        json!({
            "scenario": "s", "seed": 3, "passed": true,
            "throughput": { "events_per_s": events_per_s },
            "latency_ms": { "event_to_session_topic": { "p50": 10.0, "p99": p99 } },
            "timeline": [ { "t": 0 } ],
            "kpis": { "checked": 3, "failed": 0, "table": [ { "kpi": "x" } ] },
            "resources": { "kafka": { "cpu_seconds": 1.0, "series": [ { "t": 0 } ] } },
            "lag": { "series": (0..100).collect::<Vec<_>>() },
            "checks": [ { "name": "a", "passed": true } ]
        })
    }

    fn entry(run: usize) -> RunEntry {
        RunEntry {
            run,
            dir: format!("run-{run}"),
            outcome: "passed".into(),
            failed_checks: vec![],
            error: None,
        }
    }

    #[test]
    fn medians_and_the_run_closest_to_them() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        let summary = RepeatSummary::new(vec![
            (entry(1), Some(report(900.0, 80.0))),
            (entry(2), Some(report(1000.0, 50.0))),
            (entry(3), Some(report(1100.0, 55.0))),
        ]);
        let t = &summary.figures["throughput.events_per_s"];
        assert_eq!((t.median, t.min, t.max), (1000.0, 900.0, 1100.0));
        assert_eq!(
            summary.figures["latency_ms.event_to_session_topic.p99"].median,
            55.0
        );
        // Run 3 is 10 % off in throughput and on the median p99; run 2 is on the median
        // throughput but 10 % off in p99: equal; run 1 is far in both.
        assert!(matches!(summary.median_run, Some(2) | Some(3)));
        assert!(summary.passed);
        let text = summary.render();
        assert!(
            text.contains("throughput.events_per_s") && text.contains("20.0%"),
            "{text}"
        );
        // Its medians read back as figures in the report's order.
        let value = serde_json::to_value(&summary).unwrap();
        let (runs, figures) = medians(&value).unwrap();
        assert_eq!(runs, 3);
        assert_eq!(figures[0].key, "throughput.events_per_s");
        assert_eq!(figures[0].value, 1000.0);
    }

    #[test]
    fn a_run_that_could_not_run_is_listed_and_fails_the_repeat() {
        let mut broken = entry(2);
        broken.outcome = "could not run".into();
        broken.error = Some("Kafka would not start".into());
        let summary =
            RepeatSummary::new(vec![(entry(1), Some(report(900.0, 80.0))), (broken, None)]);
        assert!(!summary.passed);
        assert_eq!(
            summary.figures["throughput.events_per_s"].values,
            vec![Some(900.0), None]
        );
        assert_eq!(summary.median_run, Some(1));
    }

    #[test]
    fn a_reduced_report_keeps_figures_and_context_only() {
        let reduced = reduce(&report(1000.0, 50.0), 2, 3);
        assert!(reduced.get("timeline").is_none());
        assert!(reduced["kpis"].get("table").is_none());
        assert_eq!(reduced["kpis"]["checked"], 3);
        assert!(reduced["resources"]["kafka"].get("series").is_none());
        assert!(reduced["lag"].get("series").is_none(), "long arrays go");
        assert_eq!(reduced["checks"][0]["name"], "a");
        assert_eq!(reduced["reduced"]["from"], "run 2 of 3");
        assert_eq!(
            figures::extract(&reduced),
            figures::extract(&report(1000.0, 50.0))
        );
    }
}
