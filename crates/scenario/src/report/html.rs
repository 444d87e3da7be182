//! `report.html`: one self-contained page, a section per aspect of the run.

use std::fmt::Write as _;

use super::Report;
use super::charts::{Band, Series, XAxis, XyChart, bar_chart, esc, line_chart};

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}h1{font-size:1.5em}\
.sub{color:#666}table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}\
th{background:#f4f4f4}td:first-child,td:last-child{text-align:left}.ok{color:#1a7f37;font-weight:600}.fail{color:#cf222e;font-weight:600}\
svg{background:#fcfcfc;border:1px solid #eee}svg text{font:11px sans-serif;fill:#444}";

/// The page.
pub(super) fn page(report: &Report) -> String {
    let mut h = String::with_capacity(64 * 1024);
    header(&mut h, report);
    checks(&mut h, report);
    faults(&mut h, report);
    throughput(&mut h, report);
    latency_over_time(&mut h, report);
    producer_lag(&mut h, report);
    consumer_lag(&mut h, report);
    cpu_over_time(&mut h, report);
    latency_distribution(&mut h, report);
    latency_percentiles(&mut h, report);
    counts(&mut h, report);
    kpis(&mut h, report);
    h.push_str("</body></html>\n");
    h
}

fn header(h: &mut String, r: &Report) {
    let verdict = if r.passed {
        "<span class=ok>PASSED</span>"
    } else {
        "<span class=fail>FAILED</span>"
    };
    let _ = write!(
        h,
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>evbench · {name}</title><style>{STYLE}</style></head><body>\
         <h1>evbench · {name} {verdict}</h1><p class=sub>seed {seed} · provider {provider} · kafka {kafka} · clickhouse {ch} · ingestion {ing} · engine {engine} · {wall:.1} s</p><p class=sub>{machine}</p>",
        name = esc(&r.scenario),
        seed = r.seed,
        provider = esc(&r.provider),
        kafka = esc(&r.versions.kafka),
        ch = esc(&r.versions.clickhouse),
        ing = esc(&r.ingestion),
        engine = esc(&r.aggregator.engine),
        wall = r.wall_s,
        machine = esc(&r.environment.summary()),
    );
}

fn checks(h: &mut String, r: &Report) {
    h.push_str("<h2>Checks</h2><table><tr><th>check</th><th>result</th><th>detail</th></tr>");
    for c in &r.checks {
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
}

/// The x axis of the per-second charts.
fn seconds(r: &Report) -> Vec<f64> {
    r.timeline.iter().map(|s| s.t as f64).collect()
}

fn throughput(h: &mut String, r: &Report) {
    let events: Vec<f64> = r
        .timeline
        .iter()
        .map(|s| s.events_produced as f64)
        .collect();
    let sessions: Vec<f64> = r
        .timeline
        .iter()
        .map(|s| s.sessions_observed as f64)
        .collect();
    h.push_str("<h2>Throughput over time</h2>");
    h.push_str(&line_chart(
        "per second",
        "s since start",
        &seconds(r),
        &[
            ("signals produced", "#1f77b4", &events),
            ("sessions observed", "#ff7f0e", &sessions),
        ],
        &fault_bands(r),
    ));
}

fn latency_over_time(h: &mut String, r: &Report) {
    let p50: Vec<f64> = r.timeline.iter().map(|s| s.session_latency.p50).collect();
    let p99: Vec<f64> = r.timeline.iter().map(|s| s.session_latency.p99).collect();
    let ch99: Vec<f64> = r
        .timeline
        .iter()
        .map(|s| s.clickhouse_latency.p99)
        .collect();
    h.push_str("<h2>Latency percentiles over time</h2>");
    h.push_str(&line_chart(
        "ms",
        "s since start",
        &seconds(r),
        &[
            ("signal → sessions p50", "#2ca02c", &p50),
            ("signal → sessions p99", "#d62728", &p99),
            ("signal → clickhouse p99", "#9467bd", &ch99),
        ],
        &fault_bands(r),
    ));
}

fn latency_distribution(h: &mut String, r: &Report) {
    h.push_str("<h2>Latency distribution</h2>");
    h.push_str(&bar_chart(
        "signal → charging-sessions",
        &r.latency_distribution.event_to_session_topic,
    ));
    h.push_str(&bar_chart(
        "signal → queryable in ClickHouse",
        &r.latency_distribution.event_to_clickhouse,
    ));
}

fn latency_percentiles(h: &mut String, r: &Report) {
    h.push_str("<h2>Latency percentiles</h2><table><tr><th>percentile</th><th>→ sessions (ms)</th><th>→ clickhouse (ms)</th></tr>");
    let tables = &r.latency_tables;
    let rows = tables
        .event_to_session_topic
        .len()
        .max(tables.event_to_clickhouse.len());
    for i in 0..rows {
        let a = tables.event_to_session_topic.get(i);
        let b = tables.event_to_clickhouse.get(i);
        let p = a.or(b).map(|x| x.0).unwrap_or(0.0);
        let cell = |x: Option<&(f64, f64)>| x.map(|v| format!("{:.2}", v.1)).unwrap_or_default();
        let _ = write!(
            h,
            "<tr><td>{p}</td><td>{}</td><td>{}</td></tr>",
            cell(a),
            cell(b)
        );
    }
    h.push_str("</table>");
    if let Some(floors) = &r.floors {
        let _ = write!(
            h,
            "<p><b>Floors</b> (the same broker alone, right after the load): {}</p>",
            crate::report::escape_html(&floors.line())
        );
    }
}

fn counts(h: &mut String, r: &Report) {
    let (s, e) = (&r.sessions, &r.events);
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
}

fn kpis(h: &mut String, r: &Report) {
    let _ = write!(
        h,
        "<h2>KPIs ({} checked, {} failed)</h2><table><tr><th>kpi</th><th>key</th><th>from ClickHouse</th><th>from ground truth</th><th></th></tr>",
        r.kpis.checked, r.kpis.failed
    );
    for row in &r.kpis.table {
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
    h.push_str("</table>");
}

/// The process faults as shaded spans of the time charts (data faults last the whole load).
fn fault_bands(r: &Report) -> Vec<Band<'_>> {
    r.faults
        .iter()
        .filter(|f| f.injected.is_none())
        .map(|f| Band {
            from: f.started_s,
            to: f.ended_s,
            label: f.kind.as_str(),
        })
        .collect()
}

fn faults(h: &mut String, r: &Report) {
    if r.faults.is_empty() {
        return;
    }
    h.push_str(
        "<h2>Faults</h2><table><tr><th>fault</th><th>from s</th><th>to s</th><th>recovery ms</th>\
         <th>peak p99 ms</th><th>extra p99 ms</th><th>records</th><th>note</th></tr>",
    );
    let figure = |v: Option<f64>| v.map_or_else(|| "–".to_owned(), |v| format!("{v:.0}"));
    for f in &r.faults {
        let note = f.error.as_deref().unwrap_or(&f.note);
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{:.1}</td><td>{:.1}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            f.kind,
            f.started_s,
            f.ended_s,
            figure(f.recovery_ms),
            figure(f.peak_p99_ms),
            figure(f.extra_p99_ms),
            f.injected.map_or_else(|| "–".to_owned(), |n| n.to_string()),
            esc(note)
        );
    }
    h.push_str("</table>");
}

fn producer_lag(h: &mut String, r: &Report) {
    if r.latency_basis != crate::measure::LatencyBasis::Intended {
        return;
    }
    let lag: Vec<f64> = r.timeline.iter().map(|s| s.producer_lag_ms).collect();
    h.push_str("<h2>Producer lag behind its schedule</h2>");
    h.push_str(&line_chart(
        "ms",
        "s since start",
        &seconds(r),
        &[("largest lag of the second", "#8c564b", &lag)],
        &fault_bands(r),
    ));
}

/// The summed consumer lag of each process of the pipeline, per second, from its metrics.
fn consumer_lag(h: &mut String, r: &Report) {
    const COLORS: [&str; 4] = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"];
    let lag = &r.consumer_lag;
    let series: Vec<Series> = lag
        .per_second
        .iter()
        .enumerate()
        .map(|(i, (name, points))| Series {
            name: name.clone(),
            color: COLORS[i % COLORS.len()],
            dashed: false,
            markers: false,
            points: points
                .iter()
                .map(|p| {
                    (
                        p.t,
                        p.sum as f64,
                        true,
                        format!("{name}: {} records behind", p.sum),
                    )
                })
                .collect(),
        })
        .collect();
    if series.is_empty() && lag.not_measured.is_empty() {
        return;
    }
    h.push_str("<h2>Consumer lag</h2>");
    if !series.is_empty() {
        h.push_str(
            &XyChart {
                x_label: "s since start",
                y_label: "records behind (sum over partitions)",
                x_axis: &XAxis::Numeric,
                series: &series,
                bands: &fault_bands(r),
                diagonal: false,
            }
            .svg(),
        );
    }
    for part in &lag.not_measured {
        h.push_str(&format!("<p>Not measured: {}</p>", esc(part)));
    }
}

/// CPU of every part per second (in cores), from the resource sampler's own clock.
fn cpu_over_time(h: &mut String, r: &Report) {
    const COLORS: [&str; 8] = [
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    ];
    let last = r
        .resources
        .values()
        .filter_map(|u| u.series.last().map(|s| s.t))
        .max();
    let Some(last) = last else {
        return;
    };
    let x: Vec<f64> = (0..=last).map(|t| t as f64).collect();
    let columns: Vec<(String, Vec<f64>)> = r
        .resources
        .iter()
        .map(|(name, usage)| {
            let mut cpu = vec![0.0; x.len()];
            for sample in &usage.series {
                if let Some(slot) = usize::try_from(sample.t).ok().and_then(|t| cpu.get_mut(t)) {
                    *slot = sample.cpu;
                }
            }
            (name.clone(), cpu)
        })
        .collect();
    let series: Vec<(&str, &str, &[f64])> = columns
        .iter()
        .enumerate()
        .map(|(i, (name, cpu))| (name.as_str(), COLORS[i % COLORS.len()], cpu.as_slice()))
        .collect();
    h.push_str("<h2>CPU per part</h2>");
    h.push_str(&line_chart(
        "cores",
        "s since the services started",
        &x,
        &series,
        &[],
    ));
}
