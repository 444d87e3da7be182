//! `sweep.html`: one self-contained page (inline SVG, no script) with the sweep's points and
//! the charts that mean something for what was swept.
//!
//! A sweep over numbers (a rate, a fleet size, an interval) draws curves: throughput and latency
//! against the swept key, latency against the offered load, and the achieved rate against the
//! offered one. The x axis is `load.rate` when it is swept (the offered load itself), else the
//! first swept key whose values are all numbers; other swept keys make one line per combination
//! of their values. The offered load of a point that does not set `load.rate` is the rate its
//! producer actually sent.
//!
//! A sweep over names only (`aggregator.engine=evbench,flink,kafka-streams`) compares things,
//! not a trend: grouped bars, one bar per point, for throughput, latency (p50/p99 to the topic
//! and to ClickHouse), CPU per signal and peak memory of each part, and the recovery from each
//! process fault when the runs had any.

use std::fmt::Write as _;

use serde_json::Value;

use crate::figures::Unit;
use crate::sweep::{Outcome, PointResult, SweepSummary, short_path};
use scenario::report::charts::{BarSeries, COLORS, Series, XAxis, XyChart, esc, grouped_bar_chart};

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}h1{font-size:1.5em}\
.sub{color:#666}table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}\
th{background:#f4f4f4}th:first-child{text-align:left}td.l{text-align:left;white-space:nowrap}.ok{color:#1a7f37;font-weight:600}.fail{color:#cf222e;font-weight:600}\
svg{background:#fcfcfc;border:1px solid #eee;display:block;margin:.5em 0}svg text{font:11px sans-serif;fill:#444}";

/// The key the offered load is set by.
const RATE_KEY: &str = "load.rate";

pub(crate) fn page(s: &SweepSummary) -> String {
    let mut h = String::with_capacity(32 * 1024);
    let verdict = if s.passed {
        "<span class=ok>PASSED</span>"
    } else {
        "<span class=fail>FAILED</span>"
    };
    let count = |o: Outcome| s.points.iter().filter(|p| p.outcome == o).count();
    let _ = write!(
        h,
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>evbench sweep · {name}</title><style>{STYLE}</style></head><body>\
         <h1>evbench sweep · {name} {verdict}</h1>\
         <p class=sub>{file} · swept {keys} · {n} points: {passed} passed, {failed} failed, {broken} could not run, {not_run} not run</p>\
         <p class=sub>{machine}</p>",
        name = esc(&s.scenario),
        file = esc(&s.file),
        keys = esc(&s.keys.join(", ")),
        n = s.points.len(),
        passed = count(Outcome::Passed),
        failed = count(Outcome::Failed),
        broken = count(Outcome::CouldNotRun),
        not_run = count(Outcome::NotRun),
        machine = esc(&machine(&s.environment)),
    );
    charts(&mut h, s);
    table(&mut h, s);
    h.push_str(
        "<p class=sub>Each point is a whole run with its own report (linked). Throughput is end to end: \
         signals ÷ wall time from the first signal to the drained pipeline. Latency is signal → \
         session (docs/measurement.md). Red rings: points that failed a check; their figures are \
         shown but are not those of a correct run.</p></body></html>\n",
    );
    h
}

/// The machine and build of an `environment`, in a line (reports of any version).
fn machine(environment: &Value) -> String {
    let text = |pointers: &[&str]| {
        pointers.iter().find_map(|p| match environment.pointer(p)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
    };
    let mut parts = Vec::new();
    if let Some(host) = text(&["/host/name", "/host"]) {
        parts.push(host);
    }
    if let Some(cores) = text(&["/host/cores", "/cpus"]) {
        parts.push(format!("{cores} cores"));
    }
    if let Some(cpu) = text(&["/host/cpu_model"]) {
        parts.push(cpu);
    }
    if let Some(commit) = text(&["/commit"]) {
        parts.push(format!("commit {}", commit.get(..10).unwrap_or(&commit)));
    }
    if let Some(profile) = text(&["/profile"]) {
        parts.push(format!("{profile} build"));
    }
    parts.join(" · ")
}

/// A value as people write it.
fn show(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The key on the x axis and how it is drawn.
fn x_axis(s: &SweepSummary, ran: &[&PointResult]) -> (String, XAxis) {
    let numeric = |key: &str| {
        ran.iter()
            .all(|p| p.values.get(key).and_then(Value::as_f64).is_some())
    };
    if s.keys.iter().any(|k| k == RATE_KEY) {
        return (RATE_KEY.into(), XAxis::Numeric);
    }
    if let Some(key) = s.keys.iter().find(|k| numeric(k)) {
        return (key.clone(), XAxis::Numeric);
    }
    let key = s.keys.first().cloned().unwrap_or_default();
    let mut categories: Vec<String> = Vec::new();
    for p in &s.points {
        if let Some(v) = p.values.get(&key) {
            let v = show(v);
            if !categories.contains(&v) {
                categories.push(v);
            }
        }
    }
    (key, XAxis::Categories(categories))
}

/// A point's x on the axis of `key`.
fn x_of(p: &PointResult, key: &str, axis: &XAxis) -> Option<f64> {
    let value = p.values.get(key)?;
    match axis {
        XAxis::Numeric => value.as_f64(),
        XAxis::Categories(names) => names
            .iter()
            .position(|n| *n == show(value))
            .map(|i| i as f64),
    }
}

/// The values of the keys other than `x_key`: one line per distinct combination.
fn group_of(p: &PointResult, keys: &[String], x_key: &str) -> String {
    keys.iter()
        .filter(|k| *k != x_key)
        .filter_map(|k| Some(format!("{k}={}", show(p.values.get(k)?))))
        .collect::<Vec<_>>()
        .join(", ")
}

fn tip(p: &PointResult) -> String {
    format!("{}: {}", p.name, p.outcome_word())
}

impl PointResult {
    fn outcome_word(&self) -> &'static str {
        match self.outcome {
            Outcome::Passed => "passed",
            Outcome::Failed => "FAILED",
            Outcome::CouldNotRun => "could not run",
            Outcome::NotRun => "not run",
        }
    }
}

/// The distinct groups (values of the keys other than the x axis) of the points, in order.
fn groups_of(ran: &[&PointResult], keys: &[String], x_key: &str) -> Vec<String> {
    let mut groups: Vec<String> = Vec::new();
    for p in ran {
        let g = group_of(p, keys, x_key);
        if !groups.contains(&g) {
            groups.push(g);
        }
    }
    groups
}

fn charts(h: &mut String, s: &SweepSummary) {
    let ran: Vec<&PointResult> = s
        .points
        .iter()
        .filter(|p| matches!(p.outcome, Outcome::Passed | Outcome::Failed))
        .collect();
    if ran.is_empty() {
        h.push_str("<p>No point ran: nothing to draw.</p>");
        return;
    }
    let (x_key, axis) = x_axis(s, &ran);
    if matches!(axis, XAxis::Categories(_)) {
        bars(h, s, &ran);
        return;
    }
    let plot = Plot {
        groups: groups_of(&ran, &s.keys, &x_key),
        paths: s.paths(),
        keys: &s.keys,
        ran,
        x_key,
        axis,
    };
    let x_key = plot.x_key.as_str();
    let by_key = |p: &PointResult| x_of(p, x_key, &plot.axis);
    let _ = write!(
        h,
        "<h2>Throughput against {key}</h2>{svg}",
        key = esc(x_key),
        svg = chart(
            x_key,
            "signals/s",
            &plot.axis,
            &plot.throughput_series(),
            false
        )
    );
    let title = if x_key == RATE_KEY {
        "Latency against the offered load (load.rate)".to_owned()
    } else {
        format!("Latency against {x_key}")
    };
    let _ = write!(
        h,
        "<h2>{}</h2>{}",
        esc(&title),
        chart(
            x_key,
            "ms",
            &plot.axis,
            &plot.latency_series(&by_key),
            false
        )
    );

    // Against the offered load: load.rate when swept, else what the producer sent.
    let (offered, offered_label): (fn(&PointResult) -> Option<f64>, &str) = if x_key == RATE_KEY {
        (
            |p| p.values.get(RATE_KEY)?.as_f64(),
            "offered load (load.rate), signals/s",
        )
    } else {
        (
            |p| p.rate("produce_events_per_s"),
            "offered load (the producer's rate), signals/s",
        )
    };
    if x_key != RATE_KEY {
        let _ = write!(
            h,
            "<h2>Latency against the offered load</h2><p class=sub>The offered load of each point is the rate its \
             producer sent at. For an unpaced point (time_compression = \"max\") that is as fast as \
             the machine could send, not a load chosen in advance.</p>{}",
            chart(
                offered_label,
                "ms",
                &XAxis::Numeric,
                &plot.latency_series(&offered),
                false
            )
        );
    }
    let _ = write!(
        h,
        "<h2>Achieved against offered</h2><p class=sub>On the dotted diagonal the pipeline keeps up; below it, it saturates.</p>{}",
        chart(
            offered_label,
            "signals/s",
            &XAxis::Numeric,
            &plot.achieved_series(offered),
            true
        )
    );
}

/// A point's name on a bar chart: its values of the swept keys.
fn label_of(p: &PointResult, keys: &[String]) -> String {
    let values: Vec<String> = keys
        .iter()
        .filter_map(|k| p.values.get(k).map(show))
        .collect();
    values.join(", ")
}

/// The grouped bars of a sweep over names: one bar per point in every chart.
fn bars(h: &mut String, s: &SweepSummary, ran: &[&PointResult]) {
    let series = |value: &dyn Fn(&PointResult, usize) -> Option<f64>, groups: usize| {
        ran.iter()
            .enumerate()
            .map(|(i, p)| BarSeries {
                name: label_of(p, &s.keys),
                color: COLORS[i % COLORS.len()],
                passed: p.outcome == Outcome::Passed,
                values: (0..groups).map(|g| value(p, g)).collect(),
            })
            .collect::<Vec<_>>()
    };
    let what = esc(&s.keys.join(", "));
    let _ = write!(
        h,
        "<p class=sub>A sweep over names ({what}): each chart has a bar per point, grouped by figure.          Hover a bar for its point and value.</p>"
    );

    let rates = ["events_per_s", "produce_events_per_s"];
    let groups: Vec<String> = vec!["end to end".into(), "producer".into()];
    let _ = write!(
        h,
        "<h2>Throughput</h2>{}",
        grouped_bar_chart(
            "signals/s",
            &groups,
            &series(&|p, g| p.rate(rates[g]), groups.len())
        )
    );

    let paths = s.paths();
    let mut latency: Vec<(String, &str, bool)> = Vec::new();
    for path in &paths {
        for (stat, p99) in [("p50", false), ("p99", true)] {
            latency.push((format!("{} {stat}", short_path(path)), path.as_str(), p99));
        }
    }
    let groups: Vec<String> = latency.iter().map(|l| l.0.clone()).collect();
    let _ = write!(
        h,
        "<h2>Latency</h2>{}",
        grouped_bar_chart(
            "ms",
            &groups,
            &series(
                &|p, g| {
                    let (_, path, p99) = latency[g];
                    let f = p.latency_ms.get(path)?;
                    if p99 { f.p99 } else { f.p50 }
                },
                groups.len()
            )
        )
    );

    let parts = |get: &dyn Fn(&PointResult) -> Vec<String>| {
        let mut names: Vec<String> = Vec::new();
        for p in ran {
            for n in get(p) {
                if !names.contains(&n) {
                    names.push(n);
                }
            }
        }
        names
    };
    // Per-part figures: one group of bars per process.
    type PerPart = fn(&PointResult) -> &std::collections::BTreeMap<String, f64>;
    let per_part: [(&str, &str, &str, PerPart); 2] = [
        (
            "CPU per signal",
            "<p class=sub>CPU time of each part over the run ÷ signals (the report's \
             cost_per_signal): what one signal costs, whatever the rate.</p>",
            "µs per signal",
            |p| &p.cpu_us_per_signal,
        ),
        ("Peak memory", "", "MB resident, peak", |p| &p.peak_rss_mb),
    ];
    for (title, note, y_label, figures) in per_part {
        let names = parts(&|p| figures(p).keys().cloned().collect());
        if names.is_empty() {
            continue;
        }
        let _ = write!(
            h,
            "<h2>{title}</h2>{note}{}",
            grouped_bar_chart(
                y_label,
                &names,
                &series(&|p, g| figures(p).get(&names[g]).copied(), names.len())
            )
        );
    }
    let faults: Vec<String> = parts(&|p| {
        p.recovery_ms
            .iter()
            .enumerate()
            .map(|(i, (kind, _))| format!("{} {kind}", i + 1))
            .collect()
    });
    if !faults.is_empty() {
        let _ = write!(
            h,
            "<h2>Recovery</h2><p class=sub>From the end of each process fault until the pipeline was back              within its pre-fault band (docs/faults.md); no bar: not back within the run.</p>{}",
            grouped_bar_chart(
                "ms to recover",
                &faults,
                &series(
                    &|p, g| p.recovery_ms.get(g).and_then(|(_, ms)| *ms),
                    faults.len()
                )
            )
        );
    }
}

/// An x–y chart of curves with a marker per point.
fn chart(
    x_label: &str,
    y_label: &str,
    x_axis: &XAxis,
    series: &[Series],
    diagonal: bool,
) -> String {
    XyChart {
        x_label,
        y_label,
        x_axis,
        series,
        bands: &[],
        diagonal,
    }
    .svg()
}

/// The points that ran, how they are drawn (x axis) and grouped (one line per combination of
/// the other swept keys).
struct Plot<'a> {
    ran: Vec<&'a PointResult>,
    keys: &'a [String],
    x_key: String,
    axis: XAxis,
    groups: Vec<String>,
    paths: Vec<String>,
}

impl Plot<'_> {
    fn in_group(&self, group: &str) -> impl Iterator<Item = &PointResult> {
        self.ran
            .iter()
            .filter(move |p| group_of(p, self.keys, &self.x_key) == group)
            .copied()
    }

    /// `what`, with its group when there are several.
    fn named(what: &str, group: &str) -> String {
        if group.is_empty() {
            what.to_owned()
        } else {
            format!("{what} · {group}")
        }
    }

    /// One curve from the group's points: `y` of each point against `x`.
    fn curve(
        &self,
        name: String,
        color: &'static str,
        dashed: bool,
        group: &str,
        point: impl Fn(&PointResult) -> Option<(f64, f64)>,
    ) -> Series {
        Series {
            name,
            color,
            dashed,
            markers: true,
            points: self
                .in_group(group)
                .filter_map(|p| {
                    let (x, y) = point(p)?;
                    Some((x, y, p.outcome == Outcome::Passed, tip(p)))
                })
                .collect(),
        }
    }

    /// End-to-end and producer rates against the swept key.
    fn throughput_series(&self) -> Vec<Series> {
        let mut series = Vec::new();
        for (gi, group) in self.groups.iter().enumerate() {
            let color = COLORS[gi % COLORS.len()];
            for (name, rate, dashed) in [
                ("end to end", "events_per_s", false),
                ("producer", "produce_events_per_s", true),
            ] {
                series.push(
                    self.curve(Self::named(name, group), color, dashed, group, |p| {
                        Some((x_of(p, &self.x_key, &self.axis)?, p.rate(rate)?))
                    }),
                );
            }
        }
        series
    }

    /// p50 and p99 of every latency path against `x`.
    fn latency_series(&self, x: &dyn Fn(&PointResult) -> Option<f64>) -> Vec<Series> {
        let mut series = Vec::new();
        let mut color = 0;
        for group in &self.groups {
            for path in &self.paths {
                for (stat, dashed) in [("p50", false), ("p99", true)] {
                    let name = Self::named(&format!("{} {stat}", short_path(path)), group);
                    series.push(self.curve(
                        name,
                        COLORS[color % COLORS.len()],
                        dashed,
                        group,
                        |p| {
                            let f = p.latency_ms.get(path)?;
                            let y = if stat == "p50" { f.p50 } else { f.p99 }?;
                            Some((x(p)?, y))
                        },
                    ));
                }
                color += 1;
            }
        }
        series
    }

    /// The achieved end-to-end rate against the offered load.
    fn achieved_series(&self, offered: fn(&PointResult) -> Option<f64>) -> Vec<Series> {
        self.groups
            .iter()
            .enumerate()
            .map(|(gi, group)| {
                let name = Self::named("achieved end to end", group);
                self.curve(name, COLORS[gi % COLORS.len()], false, group, |p| {
                    Some((offered(p)?, p.rate("events_per_s")?))
                })
            })
            .collect()
    }
}

fn table(h: &mut String, s: &SweepSummary) {
    let paths = s.paths();
    h.push_str("<h2>Points</h2><table><tr><th>point</th>");
    for key in &s.keys {
        let _ = write!(h, "<th>{}</th>", esc(key));
    }
    h.push_str("<th>outcome</th><th>signals/s end to end</th><th>producer signals/s</th>");
    for path in &paths {
        let _ = write!(
            h,
            "<th>{p} p50 ms</th><th>{p} p99 ms</th>",
            p = esc(&short_path(path))
        );
    }
    h.push_str("</tr>");
    let rate = |v: Option<f64>| v.map_or("—".into(), |v| Unit::SignalsPerS.format(v));
    let ms = |v: Option<f64>| v.map_or("—".into(), |v| Unit::Ms.format(v));
    for p in &s.points {
        let link = if matches!(p.outcome, Outcome::Passed | Outcome::Failed) {
            format!("<a href='{}/report.html'>{}</a>", esc(&p.dir), esc(&p.name))
        } else {
            esc(&p.name)
        };
        let _ = write!(h, "<tr><td class=l>{link}</td>");
        for key in &s.keys {
            let value = p.values.get(key).map(show).unwrap_or_default();
            let _ = write!(h, "<td>{}</td>", esc(&value));
        }
        let class = if p.outcome == Outcome::Passed {
            "ok"
        } else {
            "fail"
        };
        let detail = if p.failed_checks.is_empty() {
            String::new()
        } else {
            format!(" ({})", p.failed_checks.join(", "))
        };
        let _ = write!(
            h,
            "<td class='l {class}'>{}{}</td><td>{}</td><td>{}</td>",
            p.outcome_word(),
            esc(&detail),
            rate(p.rate("events_per_s")),
            rate(p.rate("produce_events_per_s"))
        );
        for path in &paths {
            let f = p.latency_ms.get(path);
            let _ = write!(
                h,
                "<td>{}</td><td>{}</td>",
                ms(f.and_then(|f| f.p50)),
                ms(f.and_then(|f| f.p99))
            );
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
    let broken: Vec<&PointResult> = s.points.iter().filter(|p| p.error.is_some()).collect();
    if !broken.is_empty() {
        h.push_str("<p>Points that could not run:</p><ul>");
        for p in broken {
            let _ = write!(
                h,
                "<li>{}: {}</li>",
                esc(&p.name),
                esc(p.error.as_deref().unwrap_or_default())
            );
        }
        h.push_str("</ul>");
    }
}

#[cfg(test)]
mod tests {
    use crate::sweep::{PointResult, Set, SweepSummary, plan};
    use serde_json::json;

    fn summary(sets: &[&str]) -> SweepSummary {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.toml");
        std::fs::write(
            &path,
            "name = \"t<\"\nseed = 1\n[fleet]\nchargers = 10\n[run]\nspan = \"10m\"\n",
        )
        .unwrap();
        let sets: Vec<Set> = sets.iter().map(|s| s.parse().unwrap()).collect();
        let plan = plan(&path, &sets).unwrap();
        let points = plan
            .points
            .iter()
            .enumerate()
            .map(|(i, point)| {
                if i == 1 {
                    return PointResult::could_not_run(point, "no <Kafka>".into());
                }
                let rate = 1000.0 * (i + 1) as f64;
                PointResult::from_report(
                    point,
                    &json!({
                        "passed": i != 2,
                        "checks": [ { "name": "drained", "passed": i != 2 } ],
                        "throughput": { "events_per_s": rate, "produce_events_per_s": rate * 1.1 },
                        "latency_ms": {
                            "event_to_session_topic": { "p50": 10.0 * (i + 1) as f64, "p99": 30.0 * (i + 1) as f64 },
                            "event_to_clickhouse": { "p50": 20.0, "p99": 50.0 }
                        },
                        "cost_per_signal": {
                            "cpu_us": { "aggregator-0": 5.0 * (i + 1) as f64, "kafka": 7.0 },
                            "total_cpu_us": 7.0 + 5.0 * (i + 1) as f64
                        },
                        "resources": { "aggregator-0": { "peak_rss_bytes": 1.0e8 * (i + 1) as f64 } },
                        "faults": [
                            { "kind": "kill-aggregator", "started_s": 5.0, "recovery_ms": 1500.0 * (i + 1) as f64 },
                            { "kind": "malformed", "started_s": 0.0, "injected": 3, "recovery_ms": null }
                        ]
                    }),
                )
            })
            .collect();
        SweepSummary::new(
            &plan,
            &path,
            points,
            json!({ "host": { "name": "vm", "cores": 2 } }),
        )
    }

    #[test]
    fn a_page_with_every_chart_and_the_points() {
        let html = summary(&["fleet.chargers=50,100,200", "seed=1,2"]).html();
        for needle in [
            "Throughput against fleet.chargers",
            "Latency against fleet.chargers",
            "Latency against the offered load",
            "Achieved against offered",
            "seed=2",
            "2-chargers-50_seed-2: no &lt;Kafka&gt;",
            "FAILED",
            "class=failed",
            "href='1-chargers-50_seed-1/report.html'",
            "vm · 2 cores",
            "t&lt;",
        ] {
            assert!(html.contains(needle), "{needle} in the page");
        }
        assert!(!html.contains("<script") && !html.contains("http://"));
        assert_eq!(html.matches("<svg").count(), 4);
    }

    #[test]
    fn grouped_bars_when_the_values_are_names() {
        let s = summary(&["aggregator.engine=evbench,flink,kafka-streams"]);
        let html = s.html();
        for needle in [
            "<h2>Throughput</h2>",
            "<h2>Latency</h2>",
            "<h2>CPU per signal</h2>",
            "<h2>Peak memory</h2>",
            "<h2>Recovery</h2>",
            "evbench · aggregator-0: 5.00",
            "kafka-streams · aggregator-0: 15",
            "1 kill-aggregator",
            "kafka-streams (FAILED)",
        ] {
            assert!(html.contains(needle), "{needle} in the page");
        }
        // A line from one engine to the next, or a chart against the offered load, would say
        // nothing about names.
        for absent in [
            "Achieved against offered",
            "Latency against",
            "Throughput against",
        ] {
            assert!(
                !html.contains(absent),
                "no {absent:?} chart for a sweep over names"
            );
        }
        // The point that could not run has no bar; the data fault has no recovery.
        assert!(!html.contains("flink · "));
        assert!(!html.contains("malformed"));
        assert_eq!(html.matches("<svg").count(), 5);
    }
}
