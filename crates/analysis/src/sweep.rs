//! `evbench sweep SCENARIO --set KEY=V1,V2,… [--set …]`: the cartesian product of the values,
//! one scenario per point, and the summary of their runs (`sweep.json`, `sweep.html`).
//!
//! A `--set` works on any dotted key of the scenario's TOML (`fleet.chargers`,
//! `run.time_compression`, `aggregator.commit_interval`, `seed`, a key of a section the file
//! does not have, such as `checks.max_p99_session_ms`): the value is written into the parsed
//! file *before* it is read into a [`Scenario`], so unknown keys, wrong types and every
//! validation rule apply exactly as they do to a file. Each value is read as TOML (`50`, `0.5`,
//! `true`, `"max"`, `["a", "b"]`), and as a string when it is not TOML (`max`, `10m`), so
//! quoting is rarely needed.
//!
//! Points are numbered in the order of the product, the first `--set` varying slowest.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use scenario::Scenario;
use serde::Serialize;
use serde_json::Value;

use crate::figures;
use crate::table::{self, names_then_numbers};
use crate::{Error, Result};

/// Why a `--set KEY=V1,V2,…` cannot be read or applied.
#[derive(Debug, thiserror::Error)]
pub enum SetError {
    #[error("{0:?} is not KEY=V1,V2,… (e.g. fleet.chargers=50,100)")]
    NotKeyValues(String),
    #[error(
        "{0:?} is not a dotted key of the scenario (e.g. fleet.chargers, run.time_compression)"
    )]
    NotADottedKey(String),
    #[error("{0} has no values")]
    NoValues(String),
    #[error("unbalanced quotes or brackets in {0:?}")]
    Unbalanced(String),
    #[error("an empty value in {0:?}")]
    EmptyValue(String),
    #[error("`{key}` is a {kind}, not a table")]
    NotATable { key: String, kind: &'static str },
    #[error("nothing to sweep: give at least one --set KEY=V1,V2,…")]
    NothingToSweep,
    #[error("{0} is set twice")]
    Twice(String),
    /// The scenario that this value makes is refused.
    #[error("{key}={value}")]
    Value {
        key: String,
        value: String,
        #[source]
        source: scenario::file::Invalid,
    },
    /// The same, for a `--set` of one value (its text says the value).
    #[error(transparent)]
    Scenario(scenario::file::Invalid),
}

/// One `--set KEY=V1,V2,…`.
#[derive(Debug, Clone, PartialEq)]
pub struct Set {
    /// The dotted key, e.g. `fleet.chargers`.
    pub key: String,
    /// Its values, in order.
    pub values: Vec<toml::Value>,
    /// As written, for messages.
    pub text: String,
}

impl FromStr for Set {
    type Err = SetError;

    fn from_str(text: &str) -> Result<Set, SetError> {
        let (key, values) = text
            .split_once('=')
            .ok_or_else(|| SetError::NotKeyValues(text.to_owned()))?;
        let key = key.trim();
        let valid_part = |p: &str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        };
        if !key.split('.').all(valid_part) {
            return Err(SetError::NotADottedKey(key.to_owned()));
        }
        let values: Vec<toml::Value> = split_values(values)?
            .iter()
            .map(|v| parse_value(v))
            .collect();
        if values.is_empty() {
            return Err(SetError::NoValues(key.to_owned()));
        }
        Ok(Set {
            key: key.to_owned(),
            values,
            text: text.to_owned(),
        })
    }
}

/// Values separated by commas outside brackets, braces and quotes.
fn split_values(text: &str) -> Result<Vec<String>, SetError> {
    let mut values = Vec::new();
    let mut current = String::new();
    let (mut depth, mut quote) = (0i32, None::<char>);
    for c in text.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '[' | '{') => depth += 1,
            (None, ']' | '}') => depth -= 1,
            (None, ',') if depth == 0 => {
                values.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    if quote.is_some() || depth != 0 {
        return Err(SetError::Unbalanced(text.to_owned()));
    }
    values.push(current);
    let values: Vec<String> = values.into_iter().map(|v| v.trim().to_owned()).collect();
    if values.iter().any(String::is_empty) {
        return Err(SetError::EmptyValue(text.to_owned()));
    }
    Ok(values)
}

/// A value as TOML, or as a string when it is not TOML (`max`, `10m`).
fn parse_value(text: &str) -> toml::Value {
    match toml::from_str::<toml::Table>(&format!("v = {text}")) {
        Ok(mut table) => match table.remove("v") {
            // A date-time would not read into the scenario's text fields.
            Some(toml::Value::Datetime(_)) | None => toml::Value::String(text.to_owned()),
            Some(value) => value,
        },
        Err(_) => toml::Value::String(text.to_owned()),
    }
}

/// Writes `value` at the dotted `key` of `root`, creating the tables on the way.
pub fn apply(root: &mut toml::Table, key: &str, value: toml::Value) -> Result<(), SetError> {
    let parts: Vec<&str> = key.split('.').collect();
    let (last, path) = parts
        .split_last()
        .ok_or_else(|| SetError::NotADottedKey(key.to_owned()))?;
    let mut node = root;
    for (i, part) in path.iter().enumerate() {
        let entry = node
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        node = match entry {
            toml::Value::Table(table) => table,
            other => {
                return Err(SetError::NotATable {
                    key: parts[..=i].join("."),
                    kind: other.type_str(),
                });
            }
        };
    }
    node.insert(last.to_string(), value);
    Ok(())
}

/// The scenario of a table: serde's checks (unknown keys, types), then the scenario's own.
fn scenario_of(table: toml::Table) -> Result<Scenario, scenario::file::Invalid> {
    let scenario: Scenario = toml::Value::Table(table)
        .try_into()
        .map_err(scenario::file::Invalid::unplaced)?;
    scenario.validate()?;
    Ok(scenario)
}

/// Every `--set` alone on the base file (with the other `--set`s of one value, which every point
/// has): a bad key or value is named by its own `--set`, before any point is built. A value
/// refused only beside another swept value is named by its point instead.
fn check_sets(table: &toml::Table, sets: &[Set]) -> Result<()> {
    if sets.is_empty() {
        return Err(Error::Set {
            set: String::new(),
            source: Box::new(SetError::NothingToSweep),
        });
    }
    for (i, set) in sets.iter().enumerate() {
        let refused = |source: SetError| Error::Set {
            set: set.text.clone(),
            source: Box::new(source),
        };
        if sets[..i].iter().any(|s| s.key == set.key) {
            return Err(refused(SetError::Twice(set.key.clone())));
        }
        // Each value on the base and the constants: a bad key or value is named by its own --set.
        let mut base = table.clone();
        for constant in sets
            .iter()
            .filter(|other| other.key != set.key && other.values.len() == 1)
        {
            // A bad constant is named when its own turn comes.
            let _ = apply(&mut base, &constant.key, constant.values[0].clone());
        }
        for value in &set.values {
            let mut alone = base.clone();
            apply(&mut alone, &set.key, value.clone()).map_err(refused)?;
            scenario_of(alone).map_err(|source| {
                refused(if set.values.len() > 1 {
                    SetError::Value {
                        key: set.key.clone(),
                        value: show(value),
                        source,
                    }
                } else {
                    SetError::Scenario(source)
                })
            })?;
        }
    }
    Ok(())
}

/// One point of a sweep.
#[derive(Debug, Clone)]
pub struct Point {
    /// 1, 2, …
    pub index: usize,
    /// Its directory name, e.g. `1-chargers-50`.
    pub name: String,
    /// The swept keys and their values at this point.
    pub values: Vec<(String, toml::Value)>,
    pub scenario: Scenario,
}

impl Point {
    /// `fleet.chargers=50 run.span=10m`, for people.
    pub fn label(&self) -> String {
        self.values
            .iter()
            .map(|(k, v)| format!("{k}={}", show(v)))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A value as people write it (strings unquoted).
fn show(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Every point of a sweep, each scenario checked.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The base scenario's name.
    pub scenario: String,
    /// The swept keys, in `--set` order.
    pub keys: Vec<String>,
    pub points: Vec<Point>,
    /// Deprecated keys the base file uses.
    pub deprecations: Vec<String>,
}

/// Plans the sweep of the scenario file at `path`: every point's scenario is built and
/// validated here, before anything runs, and a bad key or value names its `--set`.
pub fn plan(path: &Path, sets: &[Set]) -> Result<Plan> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: shown.clone(),
        source,
    })?;
    let base = Scenario::parse(&text).map_err(|source| Error::Scenario {
        path: shown.clone(),
        source: Box::new(source),
    })?;
    // Parsed above as a scenario: as a table it cannot fail.
    let table: toml::Table = text
        .parse()
        .map_err(|toml: toml::de::Error| Error::Scenario {
            path: shown.clone(),
            source: Box::new(scenario::file::Invalid::unplaced(toml)),
        })?;
    check_sets(&table, sets)?;
    let total: usize = sets.iter().map(|s| s.values.len()).product();
    let width = total.to_string().len();
    let short_names = short_names(sets);
    let mut points = Vec::with_capacity(total);
    for index in 0..total {
        // The last --set varies fastest.
        let mut rest = index;
        let mut values = vec![toml::Value::Boolean(false); sets.len()];
        for (i, set) in sets.iter().enumerate().rev() {
            values[i] = set.values[rest % set.values.len()].clone();
            rest /= set.values.len();
        }
        let mut point_table = table.clone();
        for (set, value) in sets.iter().zip(&values) {
            apply(&mut point_table, &set.key, value.clone()).map_err(|source| Error::Set {
                set: set.text.clone(),
                source: Box::new(source),
            })?;
        }
        let name = format!(
            "{:0width$}-{}",
            index + 1,
            short_names
                .iter()
                .zip(&values)
                .map(|(n, v)| format!("{n}-{}", file_part(&show(v))))
                .collect::<Vec<_>>()
                .join("_")
        );
        let pairs: Vec<(String, toml::Value)> =
            sets.iter().map(|s| s.key.clone()).zip(values).collect();
        let label = pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", show(v)))
            .collect::<Vec<_>>()
            .join(" ");
        let scenario = scenario_of(point_table).map_err(|source| Error::Point {
            point: label,
            source: Box::new(source),
        })?;
        points.push(Point {
            index: index + 1,
            name,
            values: pairs,
            scenario,
        });
    }
    Ok(Plan {
        scenario: base.name,
        keys: sets.iter().map(|s| s.key.clone()).collect(),
        points,
        deprecations: base.deprecations,
    })
}

/// The last part of each key, or the whole key where two would share a last part.
fn short_names(sets: &[Set]) -> Vec<String> {
    let last = |k: &str| k.rsplit('.').next().unwrap_or(k).to_owned();
    sets.iter()
        .map(|s| {
            let short = last(&s.key);
            if sets.iter().filter(|o| last(&o.key) == short).count() > 1 {
                s.key.replace('.', "-")
            } else {
                short
            }
        })
        .collect()
}

/// Text safe in a directory name: letters, digits, `.` and `-`; at most 40 characters.
fn file_part(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    let trimmed = cleaned.trim_matches('.');
    if trimmed.is_empty() {
        "x".into()
    } else {
        trimmed.to_owned()
    }
}

/// How a point ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Every check passed.
    Passed,
    /// A check failed.
    Failed,
    /// The run could not be carried out (a server would not start, …).
    CouldNotRun,
    /// The sweep was interrupted before this point.
    NotRun,
}

/// Percentiles of one latency path at a point.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PathFigures {
    pub count: Option<f64>,
    pub p50: Option<f64>,
    pub p99: Option<f64>,
    pub p999: Option<f64>,
}

/// One point in `sweep.json`.
#[derive(Debug, Clone, Serialize)]
pub struct PointResult {
    pub name: String,
    /// Its directory below the sweep's, with `report.json`, `report.html` and `logs/`.
    pub dir: String,
    /// The swept keys' values at this point.
    pub values: BTreeMap<String, Value>,
    pub outcome: Outcome,
    /// Every check passed.
    pub passed: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failed_checks: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The report's `throughput` (end to end and the producer's own), signals or sessions/s.
    pub throughput: Value,
    /// p50, p99, p99.9 of every latency path of the report, ms.
    pub latency_ms: BTreeMap<String, PathFigures>,
    /// Wall seconds from the first signal to the drained pipeline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wall_s: Option<f64>,
    /// CPU microseconds per signal of each part (the report's `cost_per_signal.cpu_us`), and
    /// `total`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub cpu_us_per_signal: BTreeMap<String, f64>,
    /// Peak resident memory of each part, MB.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub peak_rss_mb: BTreeMap<String, f64>,
    /// Each process fault of the run, in order: its kind and how long the pipeline took to
    /// recover (ms; `None` when it did not within the run).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub recovery_ms: Vec<(String, Option<f64>)>,
}

impl PointResult {
    fn bare(point: &Point, outcome: Outcome) -> PointResult {
        PointResult {
            name: point.name.clone(),
            dir: point.name.clone(),
            values: point
                .values
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::to_value(v).unwrap_or(Value::Null)))
                .collect(),
            outcome,
            passed: false,
            failed_checks: Vec::new(),
            error: None,
            throughput: Value::Null,
            latency_ms: BTreeMap::new(),
            wall_s: None,
            cpu_us_per_signal: BTreeMap::new(),
            peak_rss_mb: BTreeMap::new(),
            recovery_ms: Vec::new(),
        }
    }

    /// A point that ran, from its report.
    pub fn from_report(point: &Point, report: &Value) -> PointResult {
        let passed = report.get("passed") == Some(&Value::Bool(true));
        let mut result = PointResult::bare(
            point,
            if passed {
                Outcome::Passed
            } else {
                Outcome::Failed
            },
        );
        result.passed = passed;
        result.failed_checks = figures::failed_checks(report);
        result.throughput = report.get("throughput").cloned().unwrap_or(Value::Null);
        result.wall_s = report.get("wall_s").and_then(Value::as_f64);
        for (path, p) in figures::latency_paths(report) {
            let get = |k: &str| p.get(k).and_then(Value::as_f64);
            result.latency_ms.insert(
                path,
                PathFigures {
                    count: get("count"),
                    p50: get("p50"),
                    p99: get("p99"),
                    p999: get("p999"),
                },
            );
        }
        let cost = report.get("cost_per_signal");
        if let Some(Value::Object(parts)) = cost.and_then(|c| c.get("cpu_us")) {
            for (part, us) in parts {
                if let Some(us) = us.as_f64() {
                    result.cpu_us_per_signal.insert(part.clone(), us);
                }
            }
            if let Some(total) = cost.and_then(|c| c.get("total_cpu_us")?.as_f64()) {
                result.cpu_us_per_signal.insert("total".into(), total);
            }
        }
        if let Some(Value::Object(parts)) = report.get("resources") {
            for (part, r) in parts {
                if let Some(bytes) = r.get("peak_rss_bytes").and_then(Value::as_f64) {
                    result.peak_rss_mb.insert(part.clone(), bytes / 1e6);
                }
            }
        }
        if let Some(Value::Array(faults)) = report.get("faults") {
            for fault in faults {
                // Data faults are spread over the run: they have no recovery to show.
                if fault.get("injected").is_some() {
                    continue;
                }
                let kind = fault.get("kind").and_then(Value::as_str).unwrap_or("fault");
                let recovery = fault.get("recovery_ms").and_then(Value::as_f64);
                result.recovery_ms.push((kind.to_owned(), recovery));
            }
        }
        result
    }

    /// A point whose run could not be carried out.
    pub fn could_not_run(point: &Point, error: String) -> PointResult {
        let mut result = PointResult::bare(point, Outcome::CouldNotRun);
        result.error = Some(error);
        result
    }

    /// A point not reached (the sweep was interrupted).
    pub fn not_run(point: &Point) -> PointResult {
        PointResult::bare(point, Outcome::NotRun)
    }

    /// A throughput figure of the point (`events_per_s`, `produce_events_per_s`, …).
    pub fn rate(&self, name: &str) -> Option<f64> {
        self.throughput.get(name).and_then(Value::as_f64)
    }
}

/// `sweep.json`.
#[derive(Debug, Clone, Serialize)]
pub struct SweepSummary {
    /// The base scenario's name.
    pub scenario: String,
    /// The scenario file.
    pub file: String,
    /// The swept keys, in `--set` order.
    pub keys: Vec<String>,
    pub points: Vec<PointResult>,
    /// Every point ran and passed its checks.
    pub passed: bool,
    /// The first report's `environment` (machine, build).
    pub environment: Value,
}

impl SweepSummary {
    /// The summary of `points` (results in plan order).
    pub fn new(
        plan: &Plan,
        file: &Path,
        points: Vec<PointResult>,
        environment: Value,
    ) -> SweepSummary {
        SweepSummary {
            scenario: plan.scenario.clone(),
            file: file.display().to_string(),
            keys: plan.keys.clone(),
            passed: points.iter().all(|p| p.outcome == Outcome::Passed),
            points,
            environment,
        }
    }

    /// `sweep.html`: the points' table and their throughput and latency against the swept
    /// key, and against the offered load.
    pub fn html(&self) -> String {
        crate::sweep_page::page(self)
    }

    /// The points as a table for the terminal.
    pub fn render(&self) -> String {
        let paths: Vec<String> = self.paths();
        let mut header = vec!["point".to_owned(), "outcome".into(), "signals/s".into()];
        for path in &paths {
            header.push(format!("{} p50 ms", short_path(path)));
            header.push(format!("{} p99 ms", short_path(path)));
        }
        let mut lines = vec![header];
        let ms = |v: Option<f64>| v.map_or("—".into(), |v| figures::Unit::Ms.format(v));
        for p in &self.points {
            let outcome = match p.outcome {
                Outcome::Passed => "passed",
                Outcome::Failed => "FAILED",
                Outcome::CouldNotRun => "could not run",
                Outcome::NotRun => "not run",
            };
            let mut line = vec![
                p.name.clone(),
                outcome.to_owned(),
                p.rate("events_per_s")
                    .map_or("—".into(), |v| figures::Unit::SignalsPerS.format(v)),
            ];
            for path in &paths {
                let f = p.latency_ms.get(path);
                line.push(ms(f.and_then(|f| f.p50)));
                line.push(ms(f.and_then(|f| f.p99)));
            }
            lines.push(line);
        }
        table::render(&lines, names_then_numbers)
    }

    /// The latency paths any point has, the two usual ones first.
    pub fn paths(&self) -> Vec<String> {
        let mut paths: Vec<String> = Vec::new();
        for p in &self.points {
            for path in p.latency_ms.keys() {
                if !paths.contains(path) {
                    paths.push(path.clone());
                }
            }
        }
        let rank = |p: &str| match p {
            "event_to_session_topic" => 0,
            "event_to_clickhouse" => 1,
            _ => 2,
        };
        paths.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
        paths
    }
}

/// `event_to_session_topic` → `→ sessions`, for narrow columns.
pub(crate) fn short_path(path: &str) -> String {
    match path {
        "event_to_session_topic" => "→ sessions".into(),
        "event_to_clickhouse" => "→ clickhouse".into(),
        other => other.replace('_', " "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
name = "t"
seed = 1
[fleet]
chargers = 10
[run]
span = "10m"
"#;

    fn file(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    fn set(text: &str) -> Set {
        text.parse().unwrap()
    }

    #[test]
    fn values_read_as_toml_or_as_text() {
        let s = set("run.time_compression=max,40,0.5,\"max\"");
        assert_eq!(
            s.values,
            vec![
                toml::Value::String("max".into()),
                toml::Value::Integer(40),
                toml::Value::Float(0.5),
                toml::Value::String("max".into()),
            ]
        );
        let s = set("aggregator.command=[\"a\", \"b,c\"],[\"d\"]");
        assert_eq!(s.values.len(), 2);
        assert!(s.values[0].is_array());
        assert_eq!(
            set("fleet.start=2026-01-01T00:00:00Z").values[0].type_str(),
            "string"
        );
        for bad in ["fleet.chargers", "=1", "a..b=1", "a=1,,2", "a=[1", "a b=1"] {
            assert!(bad.parse::<Set>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_value_is_checked_with_the_settings_every_point_has() {
        // Alone, a secured run on a ClickHouse cluster is refused; with
        // `services.clickhouse.shards=1` set for every point it is what the sweep runs.
        let (_dir, path) = file(&format!(
            "{BASE}ingestion = \"sink\"\n[services.clickhouse]\nshards = 2\n"
        ));
        let plan = plan(
            &path,
            &[
                set("services.security=none,sasl-ssl"),
                set("services.clickhouse.shards=1"),
            ],
        )
        .unwrap();
        assert_eq!(plan.points.len(), 2);
        assert!(
            plan.points
                .iter()
                .all(|p| p.scenario.services.clickhouse.shards == 1)
        );
        // Without it, the refusal names the --set of the value.
        let refused = plan_error(&path, &[set("services.security=none,sasl-ssl")]);
        assert!(
            refused.contains("services.security") && refused.contains("single ClickHouse server"),
            "{refused}"
        );
    }

    fn plan_error(path: &std::path::Path, sets: &[Set]) -> String {
        let error = plan(path, sets).unwrap_err();
        let mut text = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            text.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        text
    }

    #[test]
    fn the_product_in_order_with_names() {
        let (_dir, path) = file(BASE);
        let plan = plan(
            &path,
            &[
                set("fleet.chargers=50,100"),
                set("run.time_compression=max,60"),
            ],
        )
        .unwrap();
        let names: Vec<&str> = plan.points.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "1-chargers-50_time_compression-max",
                "2-chargers-50_time_compression-60",
                "3-chargers-100_time_compression-max",
                "4-chargers-100_time_compression-60",
            ]
        );
        assert_eq!(plan.points[3].scenario.fleet.chargers, 100);
        assert_eq!(
            plan.points[3].scenario.run.time_compression.to_string(),
            "60"
        );
        assert_eq!(
            plan.points[2].label(),
            "fleet.chargers=100 run.time_compression=max"
        );
        assert_eq!(plan.keys, ["fleet.chargers", "run.time_compression"]);
    }

    #[test]
    fn absent_sections_are_created_and_keys_of_other_sections_collide_by_full_name() {
        let (_dir, path) = file(BASE);
        let plan = plan(
            &path,
            &[
                set("checks.max_p99_session_ms=50,100"),
                set("seed=1"),
                set("aggregator.commit_interval=20ms"),
                set("sink.min_insert_interval=20ms"),
            ],
        )
        .unwrap();
        assert_eq!(plan.points.len(), 2);
        assert_eq!(
            plan.points[1].scenario.checks.max_p99_session_ms,
            Some(100.0)
        );
        assert!(
            plan.points[0]
                .name
                .contains("aggregator-commit_interval-20ms")
                || plan.points[0].name.contains("commit_interval-20ms"),
            "{}",
            plan.points[0].name
        );
    }

    #[test]
    fn names_collide_only_by_their_last_part() {
        let sets = [set("a.x=1"), set("b.x=2"), set("c.y=3")];
        assert_eq!(short_names(&sets), ["a-x", "b-x", "y"]);
        assert_eq!(file_part("a/b c"), "a-b-c");
        assert_eq!(file_part(".."), "x");
    }

    #[test]
    fn bad_keys_and_values_name_their_set() {
        let (_dir, path) = file(BASE);
        let cases = [
            ("fleet.chargerz=1,2", "chargerz"),
            ("fleet.chargers=10,0", "fleet.chargers"),
            ("fleet.chargers=ten", "fleet.chargers=ten"),
            ("name.x=1", "`name` is a string"),
            ("run.time_compression=fast", "fast"),
            ("nosuchsection.rate=1000", "nosuchsection"),
        ];
        for (text, needle) in cases {
            let err = plan(&path, &[set(text)]).unwrap_err();
            let message = scenario::error_chain(&err);
            assert!(message.starts_with(&format!("--set {text}")), "{message}");
            assert!(message.contains(needle), "{text}: {message}");
            assert!(err.is_bad_input());
        }
        let err = plan(&path, &[set("seed=1"), set("seed=2")]).unwrap_err();
        assert!(
            matches!(&err, Error::Set { source, .. } if matches!(**source, SetError::Twice(_)))
        );
        assert!(scenario::error_chain(&err).contains("twice"), "{err}");
        assert!(plan(&path, &[]).is_err());
    }

    #[test]
    fn the_base_file_is_checked_with_its_lines() {
        let (_dir, path) = file(&BASE.replace("chargers = 10", "chargers = 10\nx = 1"));
        let err = plan(&path, &[set("seed=1")]).unwrap_err();
        assert!(scenario::error_chain(&err).contains("line"), "{err}");
    }

    #[test]
    fn point_results_from_reports() {
        let (_dir, path) = file(BASE);
        let plan = plan(&path, &[set("fleet.chargers=50,100")]).unwrap();
        let report = serde_json::json!({
            "passed": false,
            "checks": [ { "name": "drained", "passed": false } ],
            "throughput": { "events_per_s": 100.0, "produce_events_per_s": 200.0 },
            "latency_ms": { "event_to_session_topic": { "count": 3, "p50": 1.0, "p99": 2.0, "p999": 3.0 } }
        });
        let a = PointResult::from_report(&plan.points[0], &report);
        assert_eq!(a.outcome, Outcome::Failed);
        assert_eq!(a.failed_checks, ["drained"]);
        assert_eq!(a.rate("produce_events_per_s"), Some(200.0));
        assert_eq!(a.latency_ms["event_to_session_topic"].p99, Some(2.0));
        let b = PointResult::could_not_run(&plan.points[1], "no Kafka".into());
        let summary = SweepSummary::new(&plan, &path, vec![a, b], Value::Null);
        assert!(!summary.passed);
        let json = serde_json::to_value(&summary).unwrap();
        assert_eq!(json["points"][0]["values"]["fleet.chargers"], 50);
        assert_eq!(json["points"][1]["outcome"], "could-not-run");
        let table = summary.render();
        assert!(
            table.contains("FAILED") && table.contains("could not run"),
            "{table}"
        );
    }
}
