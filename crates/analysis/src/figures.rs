//! The figures of a report: every number a performance engineer compares between two runs,
//! named by its dotted key in `report.json` (`latency_ms.event_to_session_topic.p99`).
//!
//! Which figures a report has is read from the report itself, section by section, so a report
//! that lacks a field (written by an older evbench) just has fewer figures, and a latency path
//! or a process added later is picked up without a change here:
//!
//! | section | figures | gated |
//! |---|---|---|
//! | `throughput` | `events_per_s`, `sessions_per_s` (end to end), `produce_events_per_s`, … | end-to-end rates, when they fall |
//! | `latency_ms` | every percentile (`p50`, `p90`, `p99`, `p999`), `max`, `mean`, `count` of every path | percentiles, when they rise |
//! | `wall_s` | first signal → drained pipeline | no |
//! | `aggregator.stats` | `transactions`, `rebuilds`, `commit_ms.*`, `input_age_ms.*` | no |
//! | `resources` | `cpu_seconds`, `peak_rss_bytes` of every process | no |
//! | `cost_per_signal` | `total_cpu_us`, `cpu_us.<process>`, `payload_bytes` | the total, when it rises |
//! | `events`, `sessions` | `events.produced`, `sessions.expected`: the size of the load | no |

use serde_json::Value;

/// What a figure measures, for formatting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Signals per second.
    SignalsPerS,
    /// Sessions per second.
    SessionsPerS,
    /// Milliseconds.
    Ms,
    /// Seconds of wall time.
    Seconds,
    /// Seconds of CPU time.
    CpuSeconds,
    /// Bytes (shown in MiB).
    Bytes,
    /// Microseconds of CPU time.
    CpuMicros,
    /// Bytes, as they are.
    ByteCount,
    /// A count.
    Count,
}

impl Unit {
    /// The unit as shown in tables.
    pub fn label(self) -> &'static str {
        match self {
            Unit::SignalsPerS => "signals/s",
            Unit::SessionsPerS => "sessions/s",
            Unit::Ms => "ms",
            Unit::Seconds => "s",
            Unit::CpuSeconds => "CPU s",
            Unit::Bytes => "MiB",
            Unit::CpuMicros => "CPU µs",
            Unit::ByteCount => "B",
            Unit::Count => "",
        }
    }

    /// A value in this unit, for people (bytes in MiB).
    pub fn format(self, value: f64) -> String {
        match self {
            Unit::SignalsPerS | Unit::SessionsPerS => {
                if value >= 100.0 {
                    format!("{value:.0}")
                } else {
                    format!("{value:.1}")
                }
            }
            Unit::Ms => {
                if value >= 100.0 {
                    format!("{value:.0}")
                } else if value >= 10.0 {
                    format!("{value:.1}")
                } else {
                    format!("{value:.2}")
                }
            }
            Unit::Seconds | Unit::CpuSeconds => format!("{value:.2}"),
            Unit::CpuMicros => format!("{value:.2}"),
            Unit::ByteCount => format!("{value:.0}"),
            Unit::Bytes => format!("{:.1}", value / f64::from(1u32 << 20)),
            Unit::Count => {
                if value.fract() == 0.0 {
                    format!("{value:.0}")
                } else {
                    format!("{value:.2}")
                }
            }
        }
    }
}

/// Which way a figure is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Higher,
    Lower,
    /// Neither: a size or a count (the load, samples), shown for context.
    Neither,
}

/// How a comparison treats a figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An end-to-end rate: a fall beyond the throughput tolerance is a regression.
    Throughput,
    /// A latency percentile (`p50`, `p99`, …): a rise beyond the latency tolerance is a
    /// regression, for the percentiles the gate watches.
    Percentile,
    /// The CPU one signal cost all parts together: a rise beyond the cost tolerance is a
    /// regression.
    Cost,
    /// Shown with its change, never a regression on its own.
    Info,
}

/// What kind of figure a key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Class {
    pub unit: Unit,
    pub better: Better,
    pub kind: Kind,
}

/// One figure of a report.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// The dotted key in `report.json`, e.g. `latency_ms.event_to_clickhouse.p99`.
    pub key: String,
    pub value: f64,
}

impl Figure {
    /// Its class, from its key.
    pub fn class(&self) -> Class {
        classify(&self.key)
    }
}

/// The cost figure a comparison gates: all parts' CPU per signal.
pub const GATED_COST: &str = "cost_per_signal.total_cpu_us";

/// The throughput figures a comparison gates: end to end, first signal to drained pipeline.
pub const GATED_THROUGHPUT: [&str; 2] = ["throughput.events_per_s", "throughput.sessions_per_s"];

/// Whether a key's last part names a percentile (`p50`, `p99`, `p999`).
pub fn is_percentile(name: &str) -> bool {
    name.len() > 1 && name.starts_with('p') && name[1..].bytes().all(|b| b.is_ascii_digit())
}

/// The class of the figure a key names.
pub fn classify(key: &str) -> Class {
    let last = key.rsplit('.').next().unwrap_or(key);
    let info = |unit, better| Class {
        unit,
        better,
        kind: Kind::Info,
    };
    if let Some(name) = key.strip_prefix("throughput.") {
        let unit = if name.contains("session") {
            Unit::SessionsPerS
        } else {
            Unit::SignalsPerS
        };
        let kind = if GATED_THROUGHPUT.contains(&key) {
            Kind::Throughput
        } else {
            Kind::Info
        };
        return Class {
            unit,
            better: Better::Higher,
            kind,
        };
    }
    if key.starts_with("latency_ms.") {
        return if is_percentile(last) {
            Class {
                unit: Unit::Ms,
                better: Better::Lower,
                kind: Kind::Percentile,
            }
        } else if last == "count" {
            info(Unit::Count, Better::Neither)
        } else {
            info(Unit::Ms, Better::Lower)
        };
    }
    if key == "wall_s" {
        return info(Unit::Seconds, Better::Lower);
    }
    if key.starts_with("aggregator.stats.") {
        return if last == "count" {
            info(Unit::Count, Better::Neither)
        } else if key.contains("_ms.") {
            info(Unit::Ms, Better::Lower)
        } else if last == "rebuilds" {
            info(Unit::Count, Better::Lower)
        } else {
            // Transactions: fewer is neither better nor worse (the commit interval sets it).
            info(Unit::Count, Better::Neither)
        };
    }
    if key == GATED_COST {
        return Class {
            unit: Unit::CpuMicros,
            better: Better::Lower,
            kind: Kind::Cost,
        };
    }
    if let Some(name) = key.strip_prefix("cost_per_signal.") {
        return if name.starts_with("cpu_us.") {
            info(Unit::CpuMicros, Better::Lower)
        } else if name == "payload_bytes" {
            info(Unit::ByteCount, Better::Lower)
        } else {
            info(Unit::Count, Better::Neither)
        };
    }
    if key.starts_with("resources.") {
        return match last {
            "cpu_seconds" => info(Unit::CpuSeconds, Better::Lower),
            "peak_rss_bytes" => info(Unit::Bytes, Better::Lower),
            _ => info(Unit::Count, Better::Neither),
        };
    }
    info(Unit::Count, Better::Neither)
}

/// Every figure of a report, in a stable order: throughput, latency, wall time, the
/// aggregator, resources, the size of the load. Absent sections give no figures.
pub fn extract(report: &Value) -> Vec<Figure> {
    let mut out = Vec::new();
    let mut push = |key: String, value: Option<f64>| {
        if let Some(value) = value.filter(|v| v.is_finite()) {
            out.push(Figure { key, value });
        }
    };

    if let Some(throughput) = report.get("throughput").and_then(Value::as_object) {
        let mut names: Vec<&String> = throughput.keys().collect();
        names.sort_by_key(|n| (rank(n, &["events_per_s", "sessions_per_s"]), n.as_str()));
        for name in names {
            push(format!("throughput.{name}"), throughput[name].as_f64());
        }
    }

    if let Some(latency) = report.get("latency_ms") {
        let mut leaves = Vec::new();
        numeric_leaves(latency, "latency_ms", &mut leaves);
        leaves.sort_by_key(|(key, _)| latency_order(key));
        for (key, value) in leaves {
            push(key, Some(value));
        }
    }

    push(
        "wall_s".into(),
        report.get("wall_s").and_then(Value::as_f64),
    );

    if let Some(stats) = report
        .pointer("/aggregator/stats")
        .and_then(Value::as_object)
    {
        for name in ["transactions", "rebuilds"] {
            push(
                format!("aggregator.stats.{name}"),
                stats.get(name).and_then(Value::as_f64),
            );
        }
        for (name, timing) in stats {
            if let (true, Some(timing)) = (name.ends_with("_ms"), timing.as_object()) {
                let mut stats: Vec<&String> = timing.keys().filter(|k| *k != "count").collect();
                stats.sort_by_key(|s| stat_rank(s));
                for stat in stats {
                    push(
                        format!("aggregator.stats.{name}.{stat}"),
                        timing[stat].as_f64(),
                    );
                }
            }
        }
    }

    if let Some(resources) = report.get("resources").and_then(Value::as_object) {
        for (process, usage) in resources {
            for name in ["cpu_seconds", "peak_rss_bytes"] {
                push(
                    format!("resources.{process}.{name}"),
                    usage.get(name).and_then(Value::as_f64),
                );
            }
        }
    }

    if let Some(cost) = report.get("cost_per_signal") {
        push(
            GATED_COST.into(),
            cost.get("total_cpu_us").and_then(Value::as_f64),
        );
        if let Some(parts) = cost.get("cpu_us").and_then(Value::as_object) {
            for (part, us) in parts {
                push(format!("cost_per_signal.cpu_us.{part}"), us.as_f64());
            }
        }
        push(
            "cost_per_signal.payload_bytes".into(),
            cost.get("payload_bytes").and_then(Value::as_f64),
        );
    }

    push(
        "events.produced".into(),
        report.pointer("/events/produced").and_then(Value::as_f64),
    );
    push(
        "sessions.expected".into(),
        report.pointer("/sessions/expected").and_then(Value::as_f64),
    );
    out
}

/// Position of `name` in `first`, or after all of them.
fn rank(name: &str, first: &[&str]) -> usize {
    first.iter().position(|f| *f == name).unwrap_or(first.len())
}

/// Percentiles in their natural order, then the rest.
fn stat_rank(stat: &str) -> (usize, u64, String) {
    match stat {
        "count" => (0, 0, String::new()),
        "mean" => (1, 0, String::new()),
        s if is_percentile(s) => {
            // p50 < p90 < p99 < p999: compare as the fraction 0.50, 0.90, 0.99, 0.999.
            let digits = &s[1..];
            let scaled = format!("{digits:0<6}").parse::<u64>().unwrap_or(u64::MAX);
            (2, scaled, String::new())
        }
        "max" => (3, 0, String::new()),
        other => (4, 0, other.to_owned()),
    }
}

/// The two paths every report has first, then any others; within a path, its statistics.
fn latency_order(key: &str) -> (usize, String, (usize, u64, String)) {
    let (path, stat) = key.rsplit_once('.').unwrap_or((key, ""));
    let path_rank = rank(
        path,
        &[
            "latency_ms.event_to_session_topic",
            "latency_ms.event_to_clickhouse",
        ],
    );
    (path_rank, path.to_owned(), stat_rank(stat))
}

/// Every number under `value`, with its dotted key.
fn numeric_leaves(value: &Value, key: &str, out: &mut Vec<(String, f64)>) {
    match value {
        Value::Number(n) => {
            if let Some(v) = n.as_f64() {
                out.push((key.to_owned(), v));
            }
        }
        Value::Object(map) => {
            for (name, child) in map {
                numeric_leaves(child, &format!("{key}.{name}"), out);
            }
        }
        _ => {}
    }
}

/// The latency paths of a report (`event_to_session_topic`, …) with their percentiles: every
/// object under `latency_ms` that has a `p50`, by its key below `latency_ms`.
pub fn latency_paths(report: &Value) -> Vec<(String, &serde_json::Map<String, Value>)> {
    let mut out = Vec::new();
    fn walk<'a>(
        value: &'a Value,
        key: &str,
        out: &mut Vec<(String, &'a serde_json::Map<String, Value>)>,
    ) {
        if let Some(map) = value.as_object() {
            if map.get("p50").is_some_and(Value::is_number) {
                out.push((key.to_owned(), map));
            } else {
                for (name, child) in map {
                    let child_key = if key.is_empty() {
                        name.clone()
                    } else {
                        format!("{key}.{name}")
                    };
                    walk(child, &child_key, out);
                }
            }
        }
    }
    if let Some(latency) = report.get("latency_ms") {
        walk(latency, "", &mut out);
    }
    out.sort_by_key(|(path, _)| latency_order(&format!("latency_ms.{path}.x")));
    out
}

/// The names of the checks that failed.
pub fn failed_checks(report: &Value) -> Vec<String> {
    report
        .get("checks")
        .and_then(Value::as_array)
        .map(|checks| {
            checks
                .iter()
                .filter(|c| c.get("passed") == Some(&Value::Bool(false)))
                .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn report() -> Value {
        json!({
            "scenario": "s",
            "throughput": { "produce_events_per_s": 3.0, "sessions_per_s": 2.0, "events_per_s": 1.0 },
            "latency_ms": {
                "event_to_clickhouse": { "count": 5, "mean": 1.0, "p50": 1.0, "p90": 2.0, "p99": 3.0, "p999": 4.0, "max": 5.0 },
                "event_to_session_topic": { "count": 5, "p999": 4.0, "p50": 1.0, "p99": 3.0, "max": 5.0 }
            },
            "wall_s": 2.5,
            "aggregator": { "stats": { "transactions": 7, "signals": 100,
                "commit_ms": { "count": 7, "p50": 1.0, "p99": 2.0, "max": 3.0 } } },
            "resources": { "kafka": { "cpu_seconds": 1.5, "peak_rss_bytes": 1048576, "series": [] } },
            "events": { "produced": 100 },
            "sessions": { "expected": 10 }
        })
    }

    #[test]
    fn figures_come_in_a_stable_order() {
        let keys: Vec<String> = extract(&report()).into_iter().map(|f| f.key).collect();
        assert_eq!(
            keys,
            [
                "throughput.events_per_s",
                "throughput.sessions_per_s",
                "throughput.produce_events_per_s",
                "latency_ms.event_to_session_topic.count",
                "latency_ms.event_to_session_topic.p50",
                "latency_ms.event_to_session_topic.p99",
                "latency_ms.event_to_session_topic.p999",
                "latency_ms.event_to_session_topic.max",
                "latency_ms.event_to_clickhouse.count",
                "latency_ms.event_to_clickhouse.mean",
                "latency_ms.event_to_clickhouse.p50",
                "latency_ms.event_to_clickhouse.p90",
                "latency_ms.event_to_clickhouse.p99",
                "latency_ms.event_to_clickhouse.p999",
                "latency_ms.event_to_clickhouse.max",
                "wall_s",
                "aggregator.stats.transactions",
                "aggregator.stats.commit_ms.p50",
                "aggregator.stats.commit_ms.p99",
                "aggregator.stats.commit_ms.max",
                "resources.kafka.cpu_seconds",
                "resources.kafka.peak_rss_bytes",
                "events.produced",
                "sessions.expected",
            ]
        );
    }

    #[test]
    fn a_report_without_sections_has_fewer_figures_and_new_paths_are_found() {
        assert!(extract(&json!({})).is_empty());
        let older = json!({ "throughput": { "events_per_s": 5.0 } });
        assert_eq!(extract(&older).len(), 1);
        let newer = json!({ "latency_ms": { "signal_to_raw_row": { "p50": 1.0, "p99": 2.0 } } });
        let figures = extract(&newer);
        assert_eq!(figures[1].key, "latency_ms.signal_to_raw_row.p99");
        assert_eq!(figures[1].class().kind, Kind::Percentile);
        assert_eq!(latency_paths(&newer)[0].0, "signal_to_raw_row");
    }

    #[test]
    fn classes() {
        assert_eq!(classify("throughput.events_per_s").kind, Kind::Throughput);
        assert_eq!(classify("throughput.produce_events_per_s").kind, Kind::Info);
        assert_eq!(
            classify("latency_ms.event_to_clickhouse.max").kind,
            Kind::Info
        );
        assert_eq!(
            classify("latency_ms.event_to_clickhouse.p999").kind,
            Kind::Percentile
        );
        assert_eq!(classify("resources.kafka.peak_rss_bytes").unit, Unit::Bytes);
        assert!(is_percentile("p50") && !is_percentile("p") && !is_percentile("peak"));
        assert_eq!(Unit::Bytes.format(3.0 * 1048576.0), "3.0");
        assert_eq!(Unit::Ms.format(4.567), "4.57");
        assert_eq!(Unit::SignalsPerS.format(10516.4), "10516");
    }

    #[test]
    fn failed_checks_are_named() {
        let r = json!({ "checks": [ { "name": "a", "passed": true }, { "name": "b", "passed": false } ] });
        assert_eq!(failed_checks(&r), ["b"]);
        assert!(failed_checks(&json!({})).is_empty());
    }
}
