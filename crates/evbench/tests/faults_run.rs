//! Faults in a scenario, on real Kafka and ClickHouse: the checks notice what a fault breaks.
//!
//! The negative control: the same aggregator with its transactions turned off
//! (`exactly_once = false`, at least once) and a commit only every 2 s, SIGKILLed mid-run. The
//! restarted process replays from the last committed offsets, so the sessions it had sent since
//! then reach `charging-sessions` twice. The run must fail `sessions-topic-exactly-once` (and
//! only that: ClickHouse collapses the copies, so `sessions-exact` holds), proving both that
//! the kill really happened mid-stream and that the check can fail. `scenarios/faults.toml`
//! (in `ci/run`) is the positive side: every fault, every check passing.

use std::process::Command;

const AT_LEAST_ONCE_KILLED: &str = r#"
name = "at-least-once-killed"
seed = 21

[fleet]
chargers = 200
max_partitions = 4

[profile]
base = "study-literal"

[run]
span = "6m"
time_compression = 20
ingestion = "sink"

[aggregator]
exactly_once = false
commit_interval = "2s"

[[faults]]
kind = "kill-aggregator"
at = "7s"
for = "1s"
"#;

#[test]
fn killing_an_at_least_once_aggregator_fails_the_exactly_once_check() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("at-least-once-killed.toml");
    std::fs::write(&scenario, AT_LEAST_ONCE_KILLED).unwrap();
    let out = dir.path().join("out");
    let output = Command::new(env!("CARGO_BIN_EXE_evbench"))
        .arg("run")
        .arg(&scenario)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");

    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let failed: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["passed"] == false)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        failed,
        vec!["sessions-topic-exactly-once"],
        "stderr: {stderr}"
    );
    let duplicated = report["sessions"]["duplicated"].as_u64().unwrap();
    let expected = report["sessions"]["expected"].as_u64().unwrap();
    assert!(duplicated > 0, "sessions: {}", report["sessions"]);
    assert_eq!(report["sessions"]["matched"].as_u64().unwrap(), expected);

    let faults = report["faults"].as_array().unwrap();
    assert_eq!(faults.len(), 1, "{faults:?}");
    assert_eq!(faults[0]["kind"], "kill-aggregator");
    assert!(faults[0].get("error").is_none(), "{faults:?}");
    let down = faults[0]["ended_s"].as_f64().unwrap() - faults[0]["started_s"].as_f64().unwrap();
    assert!((0.9..3.0).contains(&down), "down for {down} s");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("fault      kill-aggregator at"),
        "the summary names the fault: {stdout}"
    );
}

/// Runs the shipped `scenarios/faults/<name>.toml`, asserts it exited 0, and returns its output
/// directory (inside the returned temporary directory) and its report.
fn run_shipped_fault(name: &str) -> (tempfile::TempDir, std::path::PathBuf, serde_json::Value) {
    let scenario = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../../scenarios/faults/{name}.toml"));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let output = Command::new(env!("CARGO_BIN_EXE_evbench"))
        .arg("run")
        .arg(&scenario)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    (dir, out, report)
}

/// Runs `scenarios/faults/<name>.toml` (an engine SIGKILLed and restarted) and checks that it
/// passed for `engine`, every session exactly once; returns the restarted engine's log.
fn a_killed_engine_run(name: &str, engine: &str) -> String {
    let (_dir, out, report) = run_shipped_fault(name);
    assert_eq!(report["aggregator"]["engine"], engine);
    let sessions = &report["sessions"];
    assert!(sessions["expected"].as_u64().unwrap() > 1000);
    assert_eq!(sessions["matched"], sessions["expected"]);
    assert_eq!(sessions["duplicated"], 0);
    assert_eq!(report["faults"][0]["kind"], "kill-aggregator");
    let log = std::fs::read_to_string(out.join("logs/aggregator-0.log")).unwrap();
    // The log holds both processes: what the second one said comes after its start line.
    let restarted = log
        .rmatch_indices(" starting: ")
        .next()
        .map_or(0, |(i, _)| i);
    assert!(
        restarted > 0,
        "the engine was started twice:\n{}",
        &log[log.len().saturating_sub(4000)..]
    );
    log[restarted..].to_owned()
}

/// The Flink engine SIGKILLed mid-run (`scenarios/faults/kill-flink.toml`): the new process
/// restores its latest retained checkpoint, and every session still comes out exactly once.
/// Needs the engine `ci/setup` builds.
#[test]
fn a_killed_flink_engine_restores_its_checkpoint_and_loses_nothing() {
    let log = a_killed_engine_run("kill-flink", "flink");
    assert!(
        log.contains("restoring from retained checkpoint"),
        "the restarted engine restored its checkpoint:\n{log}"
    );
}

/// The Kafka Streams engine SIGKILLed mid-run (`scenarios/faults/kill-kafka-streams.toml`):
/// the new process restores the chargers' states from their changelog topic (under
/// exactly_once_v2 a crashed instance's local store is not trusted), and every session still
/// comes out exactly once. Needs the engine `ci/setup` builds.
#[test]
fn a_killed_kafka_streams_engine_restores_its_store_and_loses_nothing() {
    let log = a_killed_engine_run("kill-kafka-streams", "kafka-streams");
    let restored: u64 = log
        .lines()
        .filter(|l| l.contains("restored charger-state of partition"))
        .filter_map(|l| {
            l.rsplit(": ")
                .next()?
                .strip_suffix(" records")?
                .parse::<u64>()
                .ok()
        })
        .sum();
    assert!(
        restored > 0,
        "the restarted engine restored its store from the changelog:\n{log}"
    );
}

/// Two aggregators and two sinks (`scenarios/faults/kill-instances.toml`): one of each killed
/// for longer than its group's session timeout, so the survivor takes over its partitions and
/// gives them back when it returns. Every check passes, each instance is a part of its own in
/// the report, and the surviving aggregator rebuilt its state for each move.
#[test]
fn killed_instances_hand_their_partitions_to_the_survivors_exactly_once() {
    let (_dir, out, report) = run_shipped_fault("kill-instances");
    for part in ["aggregator-0", "aggregator-1", "sink-0", "sink-1"] {
        assert!(
            report["resources"][part]["cpu_seconds"]
                .as_f64()
                .unwrap_or(0.0)
                > 0.0,
            "{part} in the report's resources: {}",
            report["resources"]
        );
        assert!(
            out.join(format!("logs/{part}.log")).is_file(),
            "{part}'s log"
        );
    }
    let sessions = &report["sessions"];
    assert!(sessions["expected"].as_u64().unwrap() > 1000);
    assert_eq!(sessions["matched"], sessions["expected"]);
    assert_eq!(sessions["duplicated"], 0);
    let kinds: Vec<&str> = report["faults"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["kill-aggregator", "kill-sink"]);
    // aggregator-0: its first assignment, instance 1's death (after the session timeout) and
    // its return each moved the partitions.
    let rebuilds = report["aggregator"]["stats"]["rebuilds"].as_u64().unwrap();
    assert!(
        rebuilds >= 3,
        "aggregator-0 rebuilt its state {rebuilds} times"
    );
}

/// A broker of three killed (`scenarios/faults/kill-broker.toml`): SIGKILL, no controlled
/// shutdown. The run passes every check, and the fault's outcome says the broker came back.
#[test]
fn a_killed_broker_of_three_loses_nothing() {
    let (_dir, _out, report) = run_shipped_fault("kill-broker");
    assert_eq!(report["faults"][0]["kind"], "kill-broker");
    let fault = &report["faults"][0];
    assert!(fault["error"].is_null(), "{fault}");
    // Down for its 10 s: killed and started again, not skipped.
    assert!(
        fault["ended_s"].as_f64().unwrap() >= fault["started_s"].as_f64().unwrap() + 9.0,
        "{fault}"
    );
    for broker in ["kafka-1", "kafka-2", "kafka-3"] {
        assert!(report["resources"][broker].is_object(), "{broker} watched");
    }
    let sessions = &report["sessions"];
    assert_eq!(sessions["matched"], sessions["expected"]);
    assert_eq!(sessions["duplicated"], 0);
}
