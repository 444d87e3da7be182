//! The `command` engine: an aggregator that is not evbench's (a Python script with another
//! Kafka client, `tests/engines/naive_aggregator.py`) under evbench's checks, on real Kafka and
//! ClickHouse. Written correctly it passes every check; made to drop one session it fails
//! `sessions-exact`; made to write one session twice it fails `sessions-topic-exactly-once`.
//! Each run also writes `--junit`, read back by an outside JUnit reader (Python's junitparser,
//! `tests/junit_read.py`): a failing check must be a failing test case there.

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

/// What junitparser read of a `--junit` file (see `tests/junit_read.py`).
fn junit_as_read(path: &Path) -> serde_json::Value {
    let output = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/junit_read.py"))
        .arg(path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "junitparser (ci/setup installs it) read {}: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Runs a small clean scenario with the naive aggregator (plus `flag`), returns the exit code,
/// the report, what the run printed and what an outside reader read of its `--junit` file.
fn run_with(flag: Option<&str>) -> (Option<i32>, serde_json::Value, String, serde_json::Value) {
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
        .arg("--junit")
        .arg(out.join("results/junit.xml"))
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
    let junit = junit_as_read(&out.join("results/junit.xml"));
    (output.status.code(), report, text, junit)
}

/// The one suite of a run's JUnit file, as read, and the test case of each check.
fn junit_cases(junit: &serde_json::Value) -> (&serde_json::Value, Vec<&serde_json::Value>) {
    let suites = junit["suites"].as_array().unwrap();
    assert_eq!(suites.len(), 1, "one suite for one run: {junit:#}");
    (
        &suites[0],
        suites[0]["cases"].as_array().unwrap().iter().collect(),
    )
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
    let (code, report, text, junit) = run_with(None);
    assert_eq!(code, Some(0), "{text}");
    let (suite, cases) = junit_cases(&junit);
    assert_eq!(suite["name"], "naive");
    assert_eq!(cases.len(), report["checks"].as_array().unwrap().len());
    assert!(cases.iter().all(|c| c["passed"] == true), "{junit:#}");
    assert_eq!(suite["properties"]["aggregator.engine"], "command");
    assert!(
        suite["properties"]["throughput.events_per_s"]
            .as_str()
            .unwrap()
            .parse::<f64>()
            .unwrap()
            > 0.0
    );
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
    let (code, report, text, junit) = run_with(Some("--drop-first"));
    assert_eq!(code, Some(1), "{text}");
    assert_eq!(check(&report, "sessions-exact")["passed"], false, "{text}");
    assert_eq!(report["sessions"]["missing"], 1, "{text}");
    let detail = check(&report, "sessions-exact")["detail"].as_str().unwrap();
    assert!(detail.contains("1 missing"), "{detail}");
    // The failed check is a failing test case, with the check's detail, in an outside reader.
    let (suite, cases) = junit_cases(&junit);
    let failing: Vec<&str> = cases
        .iter()
        .filter(|c| c["passed"] == false)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(failing.contains(&"sessions-exact"), "{junit:#}");
    assert_eq!(suite["failures"], failing.len(), "{junit:#}");
    let case = cases
        .iter()
        .find(|c| c["name"] == "sessions-exact")
        .unwrap();
    assert_eq!(case["results"][0]["kind"], "Failure");
    assert_eq!(case["results"][0]["text"], detail);
    assert_eq!(case["classname"], "evbench.naive");
}

#[test]
fn an_aggregator_that_writes_a_session_twice_fails_exactly_once() {
    let (code, report, text, _) = run_with(Some("--duplicate-first"));
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

#[test]
fn an_engine_that_cannot_start_is_an_error_in_the_junit_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.toml");
    std::fs::write(
        &path,
        "name = \"broken\"\nseed = 1\n[fleet]\nchargers = 5\n[run]\nspan = \"10m\"\n\
         [aggregator]\nengine = \"command\"\ncommand = [\"/nonexistent/aggregator\"]\n",
    )
    .unwrap();
    let junit = dir.path().join("junit.xml");
    let output = Command::new(env!("CARGO_BIN_EXE_evbench"))
        .arg("run")
        .arg(&path)
        .arg("--out")
        .arg(dir.path().join("out"))
        .arg("--junit")
        .arg(&junit)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "could not run: {stderr}");
    let read = junit_as_read(&junit);
    let (suite, cases) = junit_cases(&read);
    assert_eq!(suite["name"], "broken");
    assert_eq!(suite["errors"], 1);
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0]["name"], "run");
    assert_eq!(cases[0]["results"][0]["kind"], "Error");
    assert!(
        cases[0]["results"][0]["text"]
            .as_str()
            .unwrap()
            .contains("/nonexistent/aggregator"),
        "the error names what could not start: {}",
        cases[0]
    );
}
