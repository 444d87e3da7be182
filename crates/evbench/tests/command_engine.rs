//! The `command` engine: an aggregator that is not evbench's (a Python script with another
//! Kafka client, `tests/engines/naive_aggregator.py`) under evbench's checks, on real Kafka and
//! ClickHouse. Written correctly it passes every check; made to drop one session it fails
//! `sessions-exact`; made to write one session twice it fails `sessions-topic-exactly-once`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/engines/naive_aggregator.py")
}

fn require_python_kafka_client() {
    let ok = Command::new("python3")
        .args(["-c", "import confluent_kafka"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "python3 with confluent-kafka is needed (ci/setup installs it)"
    );
}

/// Runs a small clean scenario with the naive aggregator (plus `flag`), returns the exit code
/// and the report.
fn run_with(flag: Option<&str>) -> (Option<i32>, serde_json::Value, String) {
    require_python_kafka_client();
    let dir = tempfile::tempdir().unwrap();
    let mut command = vec!["python3".to_owned(), script().display().to_string()];
    command.extend(flag.map(str::to_owned));
    let scenario = format!(
        r#"
name = "naive"
seed = 8

[fleet]
chargers = 30

[run]
span = "40m"
drain_timeout = "15s"

[aggregator]
engine = "command"
command = {command:?}
"#
    );
    let path = dir.path().join("naive.toml");
    std::fs::write(&path, scenario).unwrap();
    let out = dir.path().join("out");
    let output = Command::new(env!("CARGO_BIN_EXE_evbench"))
        .arg("run")
        .arg(&path)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let text = format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let report = std::fs::read(out.join("report.json"))
        .map(|bytes| serde_json::from_slice(&bytes).unwrap())
        .unwrap_or_else(|e| panic!("no report ({e}); {text}"));
    assert!(
        out.join("logs/aggregator-0.log").is_file(),
        "the engine's log is kept: {text}"
    );
    (output.status.code(), report, text)
}

fn check<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {report:#}"))
}

#[test]
fn a_correct_outside_aggregator_passes_every_check() {
    let (code, report, text) = run_with(None);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(report["aggregator"]["engine"], "command");
    assert!(
        report["sessions"]["expected"].as_u64().unwrap() > 30,
        "{text}"
    );
    assert_eq!(
        report["sessions"]["matched"],
        report["sessions"]["expected"]
    );
    assert_eq!(check(&report, "kpis")["passed"], true);
    assert!(
        report["latency_ms"]["event_to_session_topic"]["count"]
            .as_u64()
            .unwrap()
            > 0,
        "latency is measured without any help from the engine"
    );
}

#[test]
fn an_aggregator_that_drops_a_session_fails_sessions_exact() {
    let (code, report, text) = run_with(Some("--drop-first"));
    assert_eq!(code, Some(1), "{text}");
    assert_eq!(check(&report, "sessions-exact")["passed"], false, "{text}");
    assert_eq!(report["sessions"]["missing"], 1, "{text}");
    let detail = check(&report, "sessions-exact")["detail"].as_str().unwrap();
    assert!(detail.contains("1 missing"), "{detail}");
}

#[test]
fn an_aggregator_that_writes_a_session_twice_fails_exactly_once() {
    let (code, report, text) = run_with(Some("--duplicate-first"));
    assert_eq!(code, Some(1), "{text}");
    let topic = check(&report, "sessions-topic-exactly-once");
    assert_eq!(topic["passed"], false, "{text}");
    assert!(
        topic["detail"].as_str().unwrap().contains("1 duplicated"),
        "{topic}"
    );
    // ClickHouse collapses the copy by session id: only the topic check can see it.
    assert_eq!(check(&report, "sessions-exact")["passed"], true, "{text}");
    assert_eq!(report["sessions"]["duplicated"], 1);
}
