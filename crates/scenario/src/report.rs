//! The run's report: `report.json` (a contract other tools read), a self-contained
//! `report.html` with charts (inline SVG, no scripts, opens offline), and a terminal summary.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::compare::SessionComparison;
use crate::metrics::{Percentiles, Second};
use crate::{Error, Result};

/// Everything a run found. Field names are the contract of DESIGN.md; more fields are welcome.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: String,
    pub seed: u64,
    pub provider: String,
    pub ingestion: String,
    pub versions: Versions,
    pub events: EventCounts,
    pub sessions: SessionComparison,
    pub kpis: KpiSummary,
    pub throughput: Throughput,
    pub latency_ms: Latencies,
    pub checks: Vec<Check>,
    pub passed: bool,
    /// Wall-clock seconds from the first signal to the drained pipeline.
    pub wall_s: f64,
    /// Per-second throughput and latency.
    pub timeline: Vec<Second>,
    /// Full percentile tables: (percentile, ms).
    pub latency_tables: LatencyTables,
    /// Latency distributions: (bucket upper bound ms, count).
    pub latency_distribution: LatencyDistributions,
}

#[derive(Debug, Clone, Serialize)]
pub struct Versions {
    pub kafka: String,
    pub clickhouse: String,
    pub evbench: String,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct EventCounts {
    pub produced: u64,
    pub stored: u64,
    pub dead_lettered: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct KpiSummary {
    pub checked: u64,
    pub failed: u64,
    /// One row per KPI value compared.
    pub table: Vec<KpiRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct KpiRow {
    pub kpi: String,
    /// The row's key columns, as text.
    pub key: String,
    /// The row's values from the ground truth, as text.
    pub expected: String,
    /// The row's values from ClickHouse, as text.
    pub observed: String,
    pub passed: bool,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Throughput {
    pub events_per_s: f64,
    pub sessions_per_s: f64,
    /// The producer's own rate (signals into Kafka per second while it ran).
    pub produce_events_per_s: f64,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Latencies {
    pub event_to_session_topic: Percentiles,
    pub event_to_clickhouse: Percentiles,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct LatencyTables {
    pub event_to_session_topic: Vec<(f64, f64)>,
    pub event_to_clickhouse: Vec<(f64, f64)>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct LatencyDistributions {
    pub event_to_session_topic: Vec<(f64, u64)>,
    pub event_to_clickhouse: Vec<(f64, u64)>,
}

/// One check and its verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

impl Report {
    /// Writes `report.json` and `report.html` into `dir` (created if needed).
    pub fn write(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::Io {
            context: format!("create {}", dir.display()),
            source: e,
        })?;
        let json = serde_json::to_vec_pretty(self)
            .map_err(|e| Error::Run(format!("serialise the report: {e}")))?;
        let write = |name: &str, bytes: &[u8]| {
            let path = dir.join(name);
            std::fs::write(&path, bytes).map_err(|e| Error::Io {
                context: format!("write {}", path.display()),
                source: e,
            })
        };
        write("report.json", &json)?;
        write("report.html", self.html().as_bytes())
    }

    /// One screen for the terminal.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let verdict = if self.passed { "PASSED" } else { "FAILED" };
        let _ = writeln!(
            out,
            "scenario {} (seed {}) {verdict}",
            self.scenario, self.seed
        );
        let _ = writeln!(
            out,
            "  services   {} · kafka {} · clickhouse {} · ingestion {}",
            self.provider, self.versions.kafka, self.versions.clickhouse, self.ingestion
        );
        let e = &self.events;
        let _ = writeln!(
            out,
            "  signals    {} produced · {} stored · {} dead-lettered",
            e.produced, e.stored, e.dead_lettered
        );
        let s = &self.sessions;
        let _ = writeln!(
            out,
            "  sessions   {} expected · {} observed · {} matched · {} missing · {} unexpected · {} duplicated · {} mismatched",
            s.expected, s.observed, s.matched, s.missing, s.unexpected, s.duplicated, s.mismatched
        );
        let _ = writeln!(
            out,
            "  kpis       {} checked · {} failed",
            self.kpis.checked, self.kpis.failed
        );
        let _ = writeln!(
            out,
            "  throughput {:.0} signals/s · {:.0} sessions/s end to end over {:.1} s (producer alone {:.0} signals/s)",
            self.throughput.events_per_s,
            self.throughput.sessions_per_s,
            self.wall_s,
            self.throughput.produce_events_per_s
        );
        for (name, p) in [
            ("→ sessions", &self.latency_ms.event_to_session_topic),
            ("→ clickhouse", &self.latency_ms.event_to_clickhouse),
        ] {
            let _ = writeln!(
                out,
                "  latency {name:<13} p50 {:.1} ms · p99 {:.1} ms · p99.9 {:.1} ms · max {:.1} ms ({} samples)",
                p.p50, p.p99, p.p999, p.max, p.count
            );
        }
        for check in &self.checks {
            let mark = if check.passed { "ok  " } else { "FAIL" };
            let _ = writeln!(out, "  [{mark}] {:<22} {}", check.name, check.detail);
        }
        out
    }

    /// The self-contained HTML report.
    pub fn html(&self) -> String {
        let mut h = String::with_capacity(64 * 1024);
        let verdict = if self.passed {
            "<span class=ok>PASSED</span>"
        } else {
            "<span class=fail>FAILED</span>"
        };
        let _ = write!(
            h,
            "<!doctype html><html lang=en><head><meta charset=utf-8><title>evbench · {name}</title><style>{STYLE}</style></head><body>\
             <h1>evbench · {name} {verdict}</h1><p class=sub>seed {seed} · provider {provider} · kafka {kafka} · clickhouse {ch} · ingestion {ing} · {wall:.1} s</p>",
            name = esc(&self.scenario),
            seed = self.seed,
            provider = esc(&self.provider),
            kafka = esc(&self.versions.kafka),
            ch = esc(&self.versions.clickhouse),
            ing = esc(&self.ingestion),
            wall = self.wall_s,
        );
        h.push_str("<h2>Checks</h2><table><tr><th>check</th><th>result</th><th>detail</th></tr>");
        for c in &self.checks {
            let cls = if c.passed { "ok" } else { "fail" };
            let _ = write!(
                h,
                "<tr><td>{}</td><td class={cls}>{}</td><td>{}</td></tr>",
                esc(&c.name),
                if c.passed { "pass" } else { "FAIL" },
                esc(&c.detail)
            );
        }
        h.push_str("</table>");

        let t: Vec<f64> = self.timeline.iter().map(|s| s.t as f64).collect();
        let events: Vec<f64> = self
            .timeline
            .iter()
            .map(|s| s.events_produced as f64)
            .collect();
        let sessions: Vec<f64> = self
            .timeline
            .iter()
            .map(|s| s.sessions_observed as f64)
            .collect();
        h.push_str("<h2>Throughput over time</h2>");
        h.push_str(&line_chart(
            "per second",
            "s since start",
            &t,
            &[
                ("signals produced", "#1f77b4", &events),
                ("sessions observed", "#ff7f0e", &sessions),
            ],
        ));
        let p50: Vec<f64> = self
            .timeline
            .iter()
            .map(|s| s.session_latency.p50)
            .collect();
        let p99: Vec<f64> = self
            .timeline
            .iter()
            .map(|s| s.session_latency.p99)
            .collect();
        let ch99: Vec<f64> = self
            .timeline
            .iter()
            .map(|s| s.clickhouse_latency.p99)
            .collect();
        h.push_str("<h2>Latency percentiles over time</h2>");
        h.push_str(&line_chart(
            "ms",
            "s since start",
            &t,
            &[
                ("signal → sessions p50", "#2ca02c", &p50),
                ("signal → sessions p99", "#d62728", &p99),
                ("signal → clickhouse p99", "#9467bd", &ch99),
            ],
        ));
        h.push_str("<h2>Latency distribution</h2>");
        h.push_str(&bar_chart(
            "signal → charging-sessions",
            &self.latency_distribution.event_to_session_topic,
        ));
        h.push_str(&bar_chart(
            "signal → queryable in ClickHouse",
            &self.latency_distribution.event_to_clickhouse,
        ));
        h.push_str("<h2>Latency percentiles</h2><table><tr><th>percentile</th><th>→ sessions (ms)</th><th>→ clickhouse (ms)</th></tr>");
        let rows = self
            .latency_tables
            .event_to_session_topic
            .len()
            .max(self.latency_tables.event_to_clickhouse.len());
        for i in 0..rows {
            let a = self.latency_tables.event_to_session_topic.get(i);
            let b = self.latency_tables.event_to_clickhouse.get(i);
            let p = a.or(b).map(|x| x.0).unwrap_or(0.0);
            let cell =
                |x: Option<&(f64, f64)>| x.map(|v| format!("{:.2}", v.1)).unwrap_or_default();
            let _ = write!(
                h,
                "<tr><td>{p}</td><td>{}</td><td>{}</td></tr>",
                cell(a),
                cell(b)
            );
        }
        h.push_str("</table>");

        let s = &self.sessions;
        let e = &self.events;
        let _ = write!(
            h,
            "<h2>Counts</h2><table><tr><th>signals produced</th><th>stored</th><th>dead-lettered</th><th>sessions expected</th><th>observed</th><th>matched</th><th>missing</th><th>unexpected</th><th>duplicated</th><th>mismatched</th></tr>\
             <tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr></table>",
            e.produced,
            e.stored,
            e.dead_lettered,
            s.expected,
            s.observed,
            s.matched,
            s.missing,
            s.unexpected,
            s.duplicated,
            s.mismatched
        );
        if !s.examples.is_empty() {
            h.push_str("<ul>");
            for example in &s.examples {
                let _ = write!(h, "<li>{}</li>", esc(example));
            }
            h.push_str("</ul>");
        }
        let _ = write!(
            h,
            "<h2>KPIs ({} checked, {} failed)</h2><table><tr><th>kpi</th><th>key</th><th>from ClickHouse</th><th>from ground truth</th><th></th></tr>",
            self.kpis.checked, self.kpis.failed
        );
        for row in &self.kpis.table {
            let cls = if row.passed { "ok" } else { "fail" };
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class={cls}>{}</td></tr>",
                esc(&row.kpi),
                esc(&row.key),
                esc(&row.observed),
                esc(&row.expected),
                if row.passed { "=" } else { "≠" }
            );
        }
        h.push_str("</table></body></html>\n");
        h
    }
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}h1{font-size:1.5em}\
.sub{color:#666}table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}\
th{background:#f4f4f4}td:first-child,td:last-child{text-align:left}.ok{color:#1a7f37;font-weight:600}.fail{color:#cf222e;font-weight:600}\
svg{background:#fcfcfc;border:1px solid #eee}svg text{font:11px sans-serif;fill:#444}";

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const W: f64 = 760.0;
const H: f64 = 260.0;
const PAD_L: f64 = 60.0;
const PAD_B: f64 = 30.0;
const PAD_T: f64 = 24.0;
const PAD_R: f64 = 16.0;

/// A line chart of several series sharing an x axis.
fn line_chart(y_label: &str, x_label: &str, x: &[f64], series: &[(&str, &str, &[f64])]) -> String {
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg width={W} height={H} viewBox='0 0 {W} {H}' role=img>"
    );
    if x.is_empty() {
        svg.push_str("<text x=20 y=40>no data</text></svg>");
        return svg;
    }
    let x_max = x.iter().copied().fold(1.0_f64, f64::max);
    let y_max = series
        .iter()
        .flat_map(|s| s.2.iter().copied())
        .fold(0.0_f64, f64::max)
        .max(1e-9)
        * 1.05;
    axes(&mut svg, x_label, y_label, x_max, y_max);
    for (i, (name, color, ys)) in series.iter().enumerate() {
        let points: Vec<String> = x
            .iter()
            .zip(ys.iter())
            .map(|(&xv, &yv)| format!("{:.1},{:.1}", sx(xv, x_max), sy(yv, y_max)))
            .collect();
        let _ = write!(
            svg,
            "<polyline fill=none stroke='{color}' stroke-width=1.6 points='{}'/>",
            points.join(" ")
        );
        let lx = PAD_L + 10.0 + 190.0 * i as f64;
        let _ = write!(
            svg,
            "<rect x={lx} y=6 width=10 height=10 fill='{color}'/><text x={} y=15>{}</text>",
            lx + 14.0,
            esc(name)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Bars of a latency distribution over logarithmic buckets.
fn bar_chart(title: &str, buckets: &[(f64, u64)]) -> String {
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg width={W} height={H} viewBox='0 0 {W} {H}' role=img><text x={PAD_L} y=15>{}</text>",
        esc(title)
    );
    if buckets.is_empty() {
        svg.push_str("<text x=20 y=40>no samples</text></svg>");
        return svg;
    }
    let y_max = buckets.iter().map(|b| b.1).max().unwrap_or(1).max(1) as f64 * 1.05;
    let n = buckets.len() as f64;
    let plot_w = W - PAD_L - PAD_R;
    let bar_w = plot_w / n;
    let _ = write!(
        svg,
        "<line x1={PAD_L} y1={} x2={} y2={} stroke='#888'/>",
        H - PAD_B,
        W - PAD_R,
        H - PAD_B
    );
    for (i, (upper, count)) in buckets.iter().enumerate() {
        let x = PAD_L + bar_w * i as f64;
        let y = sy(*count as f64, y_max);
        let _ = write!(
            svg,
            "<rect x={x:.1} y={y:.1} width={:.1} height={:.1} fill='#1f77b4'><title>≤ {upper} ms: {count}</title></rect>",
            (bar_w - 2.0).max(1.0),
            H - PAD_B - y
        );
        if i % 2 == 0 || n < 12.0 {
            let _ = write!(
                svg,
                "<text x={:.1} y={} text-anchor=middle>{}</text>",
                x + bar_w / 2.0,
                H - PAD_B + 14.0,
                short(*upper)
            );
        }
    }
    let _ = write!(
        svg,
        "<text x={} y={} text-anchor=end>ms (upper bound)</text>",
        W - PAD_R,
        H - 2.0
    );
    svg.push_str("</svg>");
    svg
}

fn axes(svg: &mut String, x_label: &str, y_label: &str, x_max: f64, y_max: f64) {
    let _ = write!(
        svg,
        "<line x1={PAD_L} y1={} x2={} y2={} stroke='#888'/>",
        H - PAD_B,
        W - PAD_R,
        H - PAD_B
    );
    let _ = write!(
        svg,
        "<line x1={PAD_L} y1={PAD_T} x2={PAD_L} y2={} stroke='#888'/>",
        H - PAD_B
    );
    for k in 0..=4 {
        let v = y_max * f64::from(k) / 4.0;
        let y = sy(v, y_max);
        let _ = write!(
            svg,
            "<line x1={PAD_L} y1={y:.1} x2={} y2={y:.1} stroke='#eee'/><text x={} y={:.1} text-anchor=end>{}</text>",
            W - PAD_R,
            PAD_L - 4.0,
            y + 4.0,
            short(v)
        );
        let xv = x_max * f64::from(k) / 4.0;
        let _ = write!(
            svg,
            "<text x={:.1} y={} text-anchor=middle>{}</text>",
            sx(xv, x_max),
            H - PAD_B + 14.0,
            short(xv)
        );
    }
    let _ = write!(
        svg,
        "<text x={} y={} text-anchor=end>{}</text>",
        W - PAD_R,
        H - 2.0,
        esc(x_label)
    );
    let _ = write!(
        svg,
        "<text x=4 y={} >{}</text>",
        PAD_T - 8.0 + 30.0,
        esc(y_label)
    );
}

fn sx(x: f64, x_max: f64) -> f64 {
    PAD_L + (W - PAD_L - PAD_R) * (x / x_max.max(1e-9))
}

fn sy(y: f64, y_max: f64) -> f64 {
    H - PAD_B - (H - PAD_B - PAD_T) * (y / y_max.max(1e-9))
}

fn short(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if v >= 10.0 || v == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Latency, Timeline};

    pub(crate) fn sample() -> Report {
        let mut latency = Latency::default();
        let mut timeline = Timeline::default();
        for i in 0..500u64 {
            latency.record_ms(i as f64 / 10.0);
            timeline.add_events(i / 100, 10);
            timeline.add_session(i / 100, i as f64 / 10.0);
        }
        Report {
            scenario: "sample<&>".into(),
            seed: 1,
            provider: "native".into(),
            ingestion: "sink".into(),
            versions: Versions {
                kafka: "4.1.1".into(),
                clickhouse: "18.16.1".into(),
                evbench: "0.1.0".into(),
            },
            events: EventCounts {
                produced: 5000,
                stored: 5000,
                dead_lettered: 0,
            },
            sessions: SessionComparison {
                expected: 500,
                observed: 500,
                matched: 500,
                ..Default::default()
            },
            kpis: KpiSummary {
                checked: 1,
                failed: 0,
                table: vec![KpiRow {
                    kpi: "revenue".into(),
                    key: "2026-01-01".into(),
                    expected: "1.5".into(),
                    observed: "1.5".into(),
                    passed: true,
                }],
            },
            throughput: Throughput {
                events_per_s: 1000.0,
                sessions_per_s: 100.0,
                produce_events_per_s: 2000.0,
            },
            latency_ms: Latencies {
                event_to_session_topic: latency.percentiles(),
                event_to_clickhouse: latency.percentiles(),
            },
            checks: vec![Check {
                name: "sessions-exact".into(),
                passed: true,
                detail: String::new(),
            }],
            passed: true,
            wall_s: 5.0,
            timeline: timeline.seconds(),
            latency_tables: LatencyTables {
                event_to_session_topic: latency.table(),
                event_to_clickhouse: latency.table(),
            },
            latency_distribution: LatencyDistributions {
                event_to_session_topic: latency.distribution(),
                event_to_clickhouse: latency.distribution(),
            },
        }
    }

    #[test]
    fn json_has_the_contract_keys() {
        let json = serde_json::to_value(sample()).unwrap();
        for key in [
            "scenario",
            "seed",
            "provider",
            "versions",
            "events",
            "sessions",
            "kpis",
            "throughput",
            "latency_ms",
            "checks",
            "passed",
        ] {
            assert!(json.get(key).is_some(), "missing {key}");
        }
        for key in [
            "expected",
            "observed",
            "matched",
            "missing",
            "unexpected",
            "duplicated",
            "mismatched",
        ] {
            assert!(
                json["sessions"].get(key).is_some(),
                "missing sessions.{key}"
            );
        }
        for path in ["event_to_session_topic", "event_to_clickhouse"] {
            for p in ["p50", "p99", "p999", "max"] {
                assert!(
                    json["latency_ms"][path].get(p).is_some(),
                    "missing latency_ms.{path}.{p}"
                );
            }
        }
        assert_eq!(json["checks"][0]["name"], "sessions-exact");
    }

    #[test]
    fn html_is_self_contained_and_escaped() {
        let html = sample().html();
        assert!(html.contains("<svg") && html.contains("polyline"));
        assert!(
            !html.contains("<script") && !html.contains("http://") && !html.contains("https://")
        );
        assert!(html.contains("sample&lt;&amp;&gt;"));
    }
}
