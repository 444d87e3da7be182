//! `evbench run` and `evbench validate`: exit codes, the report files, and the HTML report
//! rendered by a real (headless) browser.

use std::path::Path;
use std::process::Command;

fn evbench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_evbench"))
}

const TINY: &str = r#"
name = "tiny"
seed = 5

[fleet]
chargers = 20

[run]
span = "20m"
time_compression = "max"
"#;

#[test]
fn malformed_scenarios_exit_2_naming_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        TINY.replace("chargers = 20", "chargers = 20\nchargrs = 3"),
    )
    .unwrap();
    for command in ["validate", "run"] {
        let output = evbench()
            .arg(command)
            .arg(&path)
            .args(if command == "run" {
                vec!["--out", "/dev/null"]
            } else {
                vec![]
            })
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{command}: {stderr}");
        assert!(
            stderr.contains("chargrs") && stderr.contains("line 7"),
            "{command}: {stderr}"
        );
    }
    std::fs::write(&path, TINY.replace("\"20m\"", "\"twenty minutes\"")).unwrap();
    let output = evbench().arg("validate").arg(&path).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("line 9"));
    let output = evbench()
        .args(["validate", "no-such-file.toml"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn shipped_scenarios_validate() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scenarios");
    let files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    for name in [
        "quickstart",
        "study-speed",
        "kafka-engine",
        "fleet-10k",
        "steady-latency",
    ] {
        assert!(
            files
                .iter()
                .any(|p| p.file_stem().is_some_and(|s| s == name)),
            "scenarios/{name}.toml missing"
        );
    }
    let output = evbench().arg("validate").args(&files).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Renders `html` in headless Chromium: the DOM it built, or `None` (with the reason printed)
/// when no Chromium is installed.
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
        eprintln!("SKIPPED rendering report.html: no chromium on PATH (ci/setup installs it)");
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
    assert!(
        dom.status.success(),
        "chromium --dump-dom failed: {}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let shot = Command::new(chromium)
        .args(flags)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--window-size=1000,2000")
        .arg(format!("--screenshot={}", screenshot.display()))
        .arg(&url)
        .output()
        .unwrap();
    assert!(
        shot.status.success(),
        "chromium --screenshot failed: {}",
        String::from_utf8_lossy(&shot.stderr)
    );
    Some(String::from_utf8_lossy(&dom.stdout).into_owned())
}

/// docs/report.md against a real report: every top-level key the run wrote has a row in its
/// table, every row's key path is in the report, and every key its sample shows is one the
/// report has.
fn assert_report_keys_documented(report: &serde_json::Value) {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/report.md"),
    )
    .unwrap();
    // The first cell of each row of the key table: one key or several (`a`, `b`).
    let rows: Vec<&str> = doc
        .lines()
        .filter(|l| l.starts_with("| `"))
        .filter_map(|l| l.split('|').nth(1))
        .flat_map(|cell| cell.split('`').skip(1).step_by(2))
        .collect();
    assert!(rows.len() > 10, "docs/report.md's table of keys: {rows:?}");
    let top: Vec<&str> = report
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for key in &top {
        assert!(
            rows.iter().any(|r| r.split('.').next() == Some(key)),
            "report.json has `{key}`, which docs/report.md's table does not describe"
        );
    }
    for row in &rows {
        let mut value = report;
        for part in row.split('.').filter(|p| *p != "*") {
            value = value.get(part).unwrap_or_else(|| {
                panic!("docs/report.md describes `{row}`, which report.json does not have")
            });
        }
    }
    fn all_keys<'a>(value: &'a serde_json::Value, out: &mut std::collections::BTreeSet<&'a str>) {
        match value {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    out.insert(k);
                    all_keys(v, out);
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| all_keys(v, out)),
            _ => {}
        }
    }
    let mut present = std::collections::BTreeSet::new();
    all_keys(report, &mut present);
    let sample = doc
        .split("```json")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    for piece in sample.split('"').collect::<Vec<_>>().windows(2) {
        let (key, after) = (piece[0], piece[1]);
        let is_key = after.trim_start().starts_with(':')
            && !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if is_key {
            assert!(
                present.contains(key),
                "docs/report.md's sample shows `{key}`, which report.json does not have"
            );
        }
    }
}

#[test]
fn an_unmeetable_threshold_exits_1_and_names_the_check() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.toml");
    std::fs::write(
        &path,
        format!("{TINY}\n[checks]\nmin_events_per_s = 1e12\n"),
    )
    .unwrap();
    let out = dir.path().join("out");
    let output = evbench()
        .arg("run")
        .arg(&path)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(1),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(
        stderr.contains("min-events-per-s"),
        "the failed check is named: {stderr}"
    );

    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_report_keys_documented(&report);
    assert_eq!(report["passed"], false);
    assert_eq!(report["scenario"], "tiny");
    let checks = report["checks"].as_array().unwrap();
    let failed: Vec<&str> = checks
        .iter()
        .filter(|c| c["passed"] == false)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        failed,
        vec!["min-events-per-s"],
        "only the threshold fails; the pipeline itself is exact"
    );
    // Everything else about the run is exact.
    let sessions = &report["sessions"];
    assert!(sessions["expected"].as_u64().unwrap() > 0);
    assert_eq!(sessions["expected"], sessions["matched"]);
    for key in ["missing", "unexpected", "duplicated", "mismatched"] {
        assert_eq!(sessions[key], 0, "sessions.{key}");
    }
    assert_eq!(report["events"]["produced"], report["events"]["stored"]);
    // An unpaced run has no schedule: its latencies start at the send and say so.
    assert_eq!(report["latency_basis"], "sent");
    assert_eq!(report["scenario_resolved"]["fleet"]["chargers"], 20);
    assert_eq!(
        report["scenario_resolved"]["run"]["time_compression"],
        "max"
    );
    assert!(report["environment"]["host"]["cores"].as_u64().unwrap() >= 1);
    assert!(
        report["environment"]["host"]["memory_bytes"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert!(report["environment"].get("commit").is_some());
    for part in ["kafka", "clickhouse", "evbench"] {
        let usage = &report["resources"][part];
        assert!(
            usage["cpu_seconds"].as_f64().unwrap() > 0.0,
            "{part}: {usage}"
        );
        assert!(
            usage["peak_rss_bytes"].as_u64().unwrap() > 0,
            "{part}: {usage}"
        );
    }
    assert!(
        report["latency_ms"]["event_to_session_topic"]["p50"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert!(
        report["latency_ms"]["event_to_clickhouse"]["p99"]
            .as_f64()
            .unwrap()
            > 0.0
    );

    let screenshot = dir.path().join("report.png");
    if let Some(dom) = render(&out.join("report.html"), &screenshot) {
        assert!(
            dom.contains("<svg") && dom.contains("<polyline"),
            "charts in the rendered DOM"
        );
        assert!(dom.contains("min-events-per-s") && dom.contains("FAIL"));
        assert!(dom.contains("CPU per part"), "the resources chart");
        let png = std::fs::read(&screenshot).unwrap();
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 20_000,
            "a real screenshot ({} bytes)",
            png.len()
        );
    }
}

/// `--floors` on the run's own servers: every floor is measured (none says why it could not), the
/// insert and Kafka-engine floors read exactly the rows the run stored, the exactly-once
/// pass-through copies every record once, and the ratios are the report's own figures over them.
#[test]
fn floors_are_measured_on_the_runs_own_servers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.toml");
    std::fs::write(&path, TINY).unwrap();
    let out = dir.path().join("out");
    let output = evbench()
        .arg("run")
        .arg(&path)
        .arg("--floors")
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("floors     broker p50"), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_report_keys_documented(&report);
    let floors = &report["floors"];
    for why in [
        "broker_not_measured",
        "exactly_once_not_measured",
        "insert_not_measured",
        "kafka_engine_not_measured",
    ] {
        assert!(floors.get(why).is_none(), "{why}: {}", floors[why]);
    }
    let stored = report["events"]["stored"].as_u64().unwrap();
    assert!(stored > 0);
    assert_eq!(floors["insert"]["rows"], stored, "{floors}");
    assert_eq!(floors["kafka_engine"]["rows"], stored, "{floors}");
    assert!(floors["kafka_engine"]["rows_per_s"].as_f64().unwrap() > 0.0);
    assert_eq!(floors["exactly_once"]["duplicates"], 0, "{floors}");
    assert!(floors["exactly_once"]["records"].as_u64().unwrap() > 0);
    let rate = report["throughput"]["events_per_s"].as_f64().unwrap();
    let insert = floors["insert"]["rows_per_s"].as_f64().unwrap();
    let ratio = floors["throughput_over_insert"].as_f64().unwrap();
    assert!(
        (ratio - rate / insert).abs() < 1e-9 * ratio.max(1.0),
        "{floors}"
    );
    assert!(
        floors["broker"]["p50_ms"].as_f64().unwrap()
            <= floors["broker"]["p99_ms"].as_f64().unwrap()
    );
}

/// A producer that cannot keep its schedule (a pace no machine meets): latencies from the
/// intended send time include the lag that latencies from the send time hide.
#[test]
fn a_producer_behind_schedule_shows_in_latencies_from_the_intended_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("behind.toml");
    std::fs::write(
        &path,
        r#"
name = "behind"
seed = 9

[fleet]
chargers = 2000
max_partitions = 8

[run]
span = "1h"
time_compression = 100000
"#,
    )
    .unwrap();
    let out = dir.path().join("out");
    let output = evbench()
        .arg("run")
        .arg(&path)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "stderr: {stderr}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["latency_basis"], "intended");
    let lag = report["producer_lag_ms"]["max"].as_f64().unwrap();
    assert!(
        lag > 20.0,
        "the producer fell behind: {}",
        report["producer_lag_ms"]
    );
    for end in ["event_to_session_topic", "event_to_clickhouse"] {
        let intended = &report["latency_ms"][end];
        let sent = &report["latency_from_sent_ms"][end];
        assert_eq!(intended["count"], sent["count"]);
        for p in ["p50", "p99", "max"] {
            assert!(
                intended[p].as_f64().unwrap() > sent[p].as_f64().unwrap(),
                "{end} {p}: from intended {intended}, from sent {sent}"
            );
        }
    }
    let lags: Vec<f64> = report["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["producer_lag_ms"].as_f64().unwrap())
        .collect();
    assert!(
        lags.iter().any(|&l| l > 20.0),
        "the lag per second: {lags:?}"
    );
}

/// `--keep`: after the report, the servers stay up with the run's data until Ctrl-C, and the
/// `grafana` user can read it with the password written to `OUT/grafana.env`.
#[test]
fn keep_leaves_the_servers_up_for_grafana_until_ctrl_c() {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.toml");
    std::fs::write(&path, TINY).unwrap();
    let out = dir.path().join("out");
    let mut child = evbench()
        .arg("run")
        .arg(&path)
        .arg("--out")
        .arg(&out)
        .arg("--keep")
        .env_remove("EVBENCH_GRAFANA_PASSWORD")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut url = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.trim_start().strip_prefix("clickhouse  ") {
            url = rest.split_whitespace().next().map(str::to_owned);
        }
        if line.trim_start().starts_with("grafana") {
            break;
        }
    }
    let url = url.expect("the ClickHouse URL is printed");
    let env = out.join("grafana.env");
    let mode = std::fs::metadata(&env).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the password file is private");
    let password = std::fs::read_to_string(&env)
        .unwrap()
        .trim()
        .strip_prefix("EVBENCH_GRAFANA_PASSWORD=")
        .unwrap()
        .to_owned();

    // A plain HTTP request as the grafana user: what a Grafana data source does.
    let address = url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    let query = "SELECT%20count()%20FROM%20evbench.sessions%20FINAL";
    write!(
        stream,
        "GET /?query={query} HTTP/1.0\r\nX-ClickHouse-User: grafana\r\nX-ClickHouse-Key: {password}\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.0 200"), "{response}");
    let count: u64 = response
        .rsplit("\r\n\r\n")
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(count, report["sessions"]["expected"].as_u64().unwrap());
    assert!(count > 0);

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(
        std::net::TcpStream::connect(address).is_err(),
        "ClickHouse stopped after Ctrl-C"
    );
}
