//! The benchmark tools: `evbench compare` (exit codes on real and hand-made reports),
//! `evbench sweep` and `evbench run --repeat` on real Kafka and ClickHouse, `sweep.html`
//! rendered by a real (headless) browser.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

fn evbench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_evbench"))
        .args(args)
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn quickstart() -> String {
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scenarios/quickstart.toml"
    )
    .to_owned()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn read(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{path:?}: {e}")))
        .unwrap()
}

fn write(path: &Path, value: &Value) {
    std::fs::write(path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
}

/// A copy of `report` with half its end-to-end throughput.
fn halved(report: &Value) -> Value {
    let mut copy = report.clone();
    for key in ["events_per_s", "sessions_per_s"] {
        let v = copy["throughput"][key].as_f64().unwrap();
        copy["throughput"][key] = json!(v / 2.0);
    }
    copy
}

/// The exit code of `evbench compare base new [extra…]`, with its output.
fn compare(base: &Path, new: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let mut args = vec!["compare", p(base), p(new)];
    args.extend_from_slice(extra);
    let output = evbench(&args);
    (output.status.code(), text(&output))
}

/// A report as an older evbench wrote it: no `environment.host` object, no resources, no
/// aggregator timings.
fn older_report() -> Value {
    json!({
        "scenario": "steady-latency", "seed": 3, "provider": "native",
        "versions": { "kafka": "4.1.1", "clickhouse": "18.16.1" },
        "events": { "produced": 170988, "stored": 170988, "dead_lettered": 0 },
        "sessions": { "expected": 29472, "observed": 29472, "matched": 29472, "missing": 0,
                      "unexpected": 0, "duplicated": 0, "mismatched": 0 },
        "throughput": { "events_per_s": 10516.4, "sessions_per_s": 1812.6 },
        "latency_ms": {
            "event_to_session_topic": { "p50": 29.0, "p99": 88.1, "p999": 110.0, "max": 128.1 },
            "event_to_clickhouse": { "p50": 51.0, "p99": 111.0, "p999": 134.0, "max": 147.1 }
        },
        "checks": [ { "name": "sessions-exact", "passed": true, "detail": "" } ],
        "passed": true,
        "environment": { "host": "vm", "cpus": 2 }
    })
}

#[test]
fn compare_exit_codes_without_servers() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.json");
    write(&base, &older_report());

    let (code, out) = compare(&base, &base, &[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("latency_ms.event_to_session_topic.p99"),
        "{out}"
    );
    assert!(out.contains("no regression"), "{out}");

    let slow = dir.path().join("slow.json");
    write(&slow, &halved(&older_report()));
    let (code, out) = compare(&base, &slow, &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("-50.0%") && out.contains("REGRESSED"),
        "the table says what fell: {out}"
    );
    assert_eq!(
        out.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{out}"
    );
    // The coarse gate of ci/run: exactly half is not below half.
    let (code, out) = compare(
        &base,
        &slow,
        &[
            "--throughput-tolerance",
            "50%",
            "--latency-tolerance",
            "200%",
        ],
    );
    assert_eq!(code, Some(0), "{out}");

    // A newer report against the older one: more figures, only shown.
    let mut newer = older_report();
    newer["resources"] = json!({ "kafka": { "cpu_seconds": 12.0, "peak_rss_bytes": 4.4e8 } });
    newer["environment"] = json!({ "host": { "name": "vm", "cores": 2 } });
    let newer_path = dir.path().join("newer.json");
    write(&newer_path, &newer);
    let (code, out) = compare(&base, &newer_path, &[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("only in new"), "{out}");

    // Unreadable input: exit 2, whichever side.
    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "this is not { json").unwrap();
    let not_a_report = dir.path().join("other.json");
    write(&not_a_report, &json!({ "hello": "world" }));
    let missing = dir.path().join("missing.json");
    for bad in [&garbage, &not_a_report, &missing] {
        assert_eq!(compare(bad, &base, &[]).0, Some(2), "{bad:?} as base");
        assert_eq!(compare(&base, bad, &[]).0, Some(2), "{bad:?} as new");
    }
    assert_eq!(compare(&base, &base, &["--tolerance", "lots"]).0, Some(2));
    assert_eq!(
        compare(&base, &base, &["--percentiles", "p99,median"]).0,
        Some(2)
    );
}

#[test]
fn sweep_refuses_bad_sets_before_writing_anything() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    for (set, mentions) in [
        ("fleet.chargerz=50,100", "chargerz"),
        ("fleet.chargers=50,0", "fleet.chargers"),
        ("fleet.chargers", "KEY=V1,V2"),
        ("run.time_compression=fast", "fast"),
    ] {
        let output = evbench(&["sweep", &quickstart(), "--set", set, "--out", p(&out)]);
        assert_eq!(output.status.code(), Some(2), "{set}: {}", text(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(mentions), "{set}: {stderr}");
        assert!(!out.exists(), "{set}: nothing written");
    }
}

/// Renders `html` in headless Chromium: the DOM it built, or `None` (with the reason printed)
/// when no Chromium is installed. Also takes a screenshot, to be sure it draws.
fn render(html: &Path, screenshot: &Path) -> Option<String> {
    let chromium = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        });
    let Some(chromium) = chromium else {
        eprintln!("SKIPPED rendering sweep.html: no chromium on PATH (ci/setup installs it)");
        return None;
    };
    let profile = tempfile::tempdir().unwrap();
    let flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ];
    let url = format!("file://{}", html.display());
    let dom = Command::new(chromium)
        .args(flags)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .unwrap();
    assert!(dom.status.success(), "chromium --dump-dom failed");
    let shot = Command::new(chromium)
        .args(flags)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--window-size=1100,2200")
        .arg(format!("--screenshot={}", screenshot.display()))
        .arg(&url)
        .output()
        .unwrap();
    assert!(shot.status.success(), "chromium --screenshot failed");
    Some(String::from_utf8_lossy(&dom.stdout).into_owned())
}

#[test]
fn a_sweep_of_the_quickstart_over_two_fleet_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let output = evbench(&[
        "sweep",
        &quickstart(),
        "--set",
        "fleet.chargers=50,100",
        "--out",
        p(&out),
    ]);
    let all = text(&output);
    assert_eq!(output.status.code(), Some(0), "{all}");
    assert!(
        all.contains("[sweep] point 1/2: fleet.chargers=50")
            && all.contains("[sweep] point 2/2: PASSED"),
        "progress per point: {all}"
    );

    let points = ["1-chargers-50", "2-chargers-100"];
    for point in points {
        for file in ["report.json", "report.html", "logs"] {
            assert!(out.join(point).join(file).exists(), "{point}/{file}");
        }
    }
    let reports: Vec<Value> = points
        .iter()
        .map(|point| read(&out.join(point).join("report.json")))
        .collect();
    // Each point really ran its own fleet: the 100-charger run has more signals.
    let produced = |r: &Value| r["events"]["produced"].as_u64().unwrap();
    assert!(produced(&reports[1]) > produced(&reports[0]));

    let sweep = read(&out.join("sweep.json"));
    assert_eq!(sweep["keys"], json!(["fleet.chargers"]));
    assert_eq!(sweep["passed"], true);
    let listed = sweep["points"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    for ((point, report), name) in listed.iter().zip(&reports).zip(points) {
        assert_eq!(point["name"], name);
        assert_eq!(point["passed"], true);
        assert_eq!(point["throughput"], report["throughput"]);
        for path in ["event_to_session_topic", "event_to_clickhouse"] {
            for stat in ["p50", "p99"] {
                assert_eq!(
                    point["latency_ms"][path][stat], report["latency_ms"][path][stat],
                    "{name} {path} {stat}"
                );
            }
        }
    }
    assert_eq!(listed[0]["values"]["fleet.chargers"], 50);
    assert_eq!(listed[1]["values"]["fleet.chargers"], 100);

    let html = std::fs::read_to_string(out.join("sweep.html")).unwrap();
    assert!(!html.contains("<script") && !html.contains("http://") && !html.contains("https://"));
    let screenshot = dir.path().join("sweep.png");
    if let Some(dom) = render(&out.join("sweep.html"), &screenshot) {
        assert!(dom.contains("Throughput against fleet.chargers"), "{dom}");
        assert!(dom.contains("Latency against the offered load"));
        assert_eq!(dom.matches("<svg").count(), 4, "four charts");
        // The charts drew a line and a marker per point (2 points × 2 lines × 2 paths on the
        // latency chart alone), nested where they belong.
        assert!(dom.matches("<polyline").count() >= 10, "{dom}");
        assert!(dom.matches("<circle").count() >= 16, "{dom}");
        for point in points {
            assert!(
                dom.contains(&format!("{point}/report.html")),
                "link to {point}"
            );
        }
        let png = std::fs::read(&screenshot).unwrap();
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 20_000,
            "a real screenshot ({} bytes)",
            png.len()
        );
    }

    // compare on real reports: itself passes, half its throughput fails.
    let first = out.join(points[0]).join("report.json");
    assert_eq!(compare(&first, &first, &[]).0, Some(0));
    let slow = dir.path().join("slow.json");
    write(&slow, &halved(&reports[0]));
    let (code, out_text) = compare(&first, &slow, &[]);
    assert_eq!(code, Some(1), "{out_text}");
    // Every figure of a real report is in the table.
    for figure in [
        "throughput.events_per_s",
        "latency_ms.event_to_clickhouse.p999",
        "aggregator.stats.commit_ms.p99",
        "resources.kafka.cpu_seconds",
        "resources.clickhouse.peak_rss_bytes",
    ] {
        assert!(out_text.contains(figure), "{figure}: {out_text}");
    }
}

#[test]
fn a_repeat_of_the_quickstart_gives_medians_and_a_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let out: PathBuf = dir.path().join("repeat");
    let output = evbench(&["run", &quickstart(), "--repeat", "2", "--out", p(&out)]);
    let all = text(&output);
    assert_eq!(output.status.code(), Some(0), "{all}");
    assert!(
        all.contains("median") && all.contains("min") && all.contains("max"),
        "{all}"
    );
    assert!(all.contains("throughput.events_per_s"), "{all}");

    let runs: Vec<Value> = (1..=2)
        .map(|i| read(&out.join(format!("run-{i}")).join("report.json")))
        .collect();
    assert!(out.join("run-2").join("report.html").exists());
    let repeat = read(&out.join("repeat.json"));
    assert_eq!(repeat["passed"], true);
    assert_eq!(repeat["runs"].as_array().unwrap().len(), 2);
    let rates: Vec<f64> = runs
        .iter()
        .map(|r| r["throughput"]["events_per_s"].as_f64().unwrap())
        .collect();
    let t = &repeat["figures"]["throughput.events_per_s"];
    assert_eq!(t["values"], json!(rates));
    assert_eq!(t["min"].as_f64().unwrap(), rates[0].min(rates[1]));
    assert_eq!(t["max"].as_f64().unwrap(), rates[0].max(rates[1]));
    let median = t["median"].as_f64().unwrap();
    assert!((median - (rates[0] + rates[1]) / 2.0).abs() < 1e-6 * median);
    for path in ["event_to_session_topic", "event_to_clickhouse"] {
        let p99 = &repeat["figures"][format!("latency_ms.{path}.p99")];
        assert!(p99["min"].as_f64() <= p99["median"].as_f64());
        assert!(p99["median"].as_f64() <= p99["max"].as_f64());
    }

    // The run closest to the medians, reduced: a baseline that compares equal to its run.
    let k = repeat["median_run"].as_u64().unwrap();
    assert!(k == 1 || k == 2);
    let baseline = out.join("median-run.json");
    let reduced = read(&baseline);
    assert!(reduced.get("timeline").is_none() && reduced.get("latency_tables").is_none());
    assert_eq!(
        reduced["throughput"],
        runs[k as usize - 1]["throughput"],
        "the median run's figures"
    );
    let run_report = out.join(format!("run-{k}")).join("report.json");
    assert_eq!(compare(&baseline, &run_report, &[]).0, Some(0));
    // And a repeat's medians compare too.
    let repeat_json = out.join("repeat.json");
    let (code, text) = compare(&repeat_json, &repeat_json, &[]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("median of 2 runs"), "{text}");
}
