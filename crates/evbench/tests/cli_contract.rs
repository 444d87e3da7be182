//! The command line's contract, for every command: exit 0 ok, 1 a check failed, 2 bad input,
//! 3 could not run; each error printed once; bad input refused before anything is written.
//! None of these cases needs a server.

use std::path::Path;
use std::process::{Command, Output};

fn evbench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_evbench"))
        .args(args)
        .env_remove("EVBENCH_INGEST_PASSWORD")
        .env_remove("EVBENCH_GRAFANA_PASSWORD")
        .output()
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The exit code, and the `error:` line printed exactly once.
fn assert_fails(output: &Output, code: i32, mentions: &str) {
    let text = stderr(output);
    assert_eq!(output.status.code(), Some(code), "stderr: {text}");
    let error_lines = text.lines().filter(|l| l.starts_with("error:")).count();
    assert_eq!(error_lines, 1, "one error line: {text}");
    assert!(text.contains(mentions), "{mentions:?} in: {text}");
    let error_line = text.lines().find(|l| l.starts_with("error:")).unwrap();
    let parts: Vec<&str> = error_line.split(": ").collect();
    for pair in parts.windows(2) {
        assert_ne!(pair[0], pair[1], "a cause printed twice: {error_line}");
    }
}

#[test]
fn an_output_that_cannot_be_written_exits_3_and_leaves_no_truth_file() {
    let dir = tempfile::tempdir().unwrap();
    let truth = dir.path().join("truth.jsonl");
    let output = evbench(&[
        "simulate",
        "--chargers",
        "50",
        "--span",
        "1h",
        "--out",
        "/dev/full",
        "--truth",
        truth.to_str().unwrap(),
    ]);
    assert_fails(&output, 3, "/dev/full");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "nothing left behind: {left:?}");
}

#[test]
fn the_same_file_for_events_and_truth_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("both.jsonl");
    let p = path.to_str().unwrap();
    let output = evbench(&["simulate", "--span", "10m", "--out", p, "--truth", p]);
    assert_fails(&output, 2, "same file");
    assert!(!path.exists(), "nothing written");
}

#[test]
fn a_zero_span_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.jsonl");
    let output = evbench(&["simulate", "--span", "0s", "--out", out.to_str().unwrap()]);
    assert_fails(&output, 2, "--span");
    assert!(!out.exists());
}

#[test]
fn sessionizing_a_directory_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let output = evbench(&["sessionize", dir.path().to_str().unwrap()]);
    assert_fails(&output, 2, "is a directory");
    let output = evbench(&["sessionize", "/no/such/signals.jsonl"]);
    assert_fails(&output, 2, "/no/such/signals.jsonl");
}

#[test]
fn sessions_that_cannot_be_written_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let made = evbench(&[
        "simulate",
        "--span",
        "30m",
        "--out",
        events.to_str().unwrap(),
    ]);
    assert!(made.status.success(), "{}", stderr(&made));
    let output = evbench(&["sessionize", events.to_str().unwrap(), "--out", "/dev/full"]);
    assert_fails(&output, 3, "");
}

#[test]
fn a_malformed_clickhouse_url_is_bad_input_and_an_absent_server_could_not_run() {
    let output = evbench(&["schema", "apply", "--url", "not-a-url"]);
    assert_fails(&output, 2, "not a ClickHouse HTTP URL");
    // A port nothing listens on (port 1 needs root to bind, and nothing here does).
    let output = evbench(&["schema", "apply", "--url", "http://127.0.0.1:1"]);
    assert_fails(&output, 3, "127.0.0.1:1");
}

#[test]
fn half_configured_kafka_security_is_bad_input_before_anything_connects() {
    // A user without a password: every command that connects to Kafka refuses to start
    // (port 1: nothing listens there, so getting further would be exit 3).
    for args in [
        &["aggregate", "--brokers", "127.0.0.1:1"][..],
        &[
            "sink",
            "--brokers",
            "127.0.0.1:1",
            "--clickhouse",
            "http://127.0.0.1:1",
            "--password",
            "x",
        ],
        &[
            "simulate",
            "--chargers",
            "2",
            "--span",
            "1m",
            "--brokers",
            "127.0.0.1:1",
        ],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_evbench"))
            .args(args)
            .env("EVBENCH_KAFKA_SASL_USERNAME", "sink")
            .env_remove("EVBENCH_KAFKA_SASL_PASSWORD")
            .env_remove("EVBENCH_KAFKA_SASL_PASSWORD_FILE")
            .output()
            .unwrap();
        assert_fails(&output, 2, "EVBENCH_KAFKA_SASL_PASSWORD");
    }
    // A password given twice names both, and prints neither.
    let output = Command::new(env!("CARGO_BIN_EXE_evbench"))
        .args(["aggregate", "--brokers", "127.0.0.1:1"])
        .env("EVBENCH_KAFKA_SASL_USERNAME", "aggregator")
        .env("EVBENCH_KAFKA_SASL_PASSWORD", "s3cret-value")
        .env("EVBENCH_KAFKA_SASL_PASSWORD_FILE", "/nonexistent")
        .output()
        .unwrap();
    assert_fails(&output, 2, "give one");
    assert!(!stderr(&output).contains("s3cret-value"));
}

#[test]
fn half_configured_clickhouse_tls_is_bad_input_before_anything_connects() {
    let ca = tempfile::NamedTempFile::new().unwrap();
    let ca = ca.path().to_str().unwrap();
    // A CA for a plaintext URL would go unused: refused, not ignored (port 1: nothing listens
    // there, so getting further would be exit 3).
    let output = Command::new(env!("CARGO_BIN_EXE_evbench"))
        .args(["schema", "apply", "--url", "http://127.0.0.1:1"])
        .env("EVBENCH_CLICKHOUSE_CA_FILE", ca)
        .output()
        .unwrap();
    assert_fails(&output, 2, "use https://");
    // A client certificate without its key, for the sink.
    let output = Command::new(env!("CARGO_BIN_EXE_evbench"))
        .args([
            "sink",
            "--brokers",
            "127.0.0.1:1",
            "--clickhouse",
            "https://127.0.0.1:1",
            "--password",
            "x",
        ])
        .env("EVBENCH_CLICKHOUSE_CERT_FILE", ca)
        .env_remove("EVBENCH_CLICKHOUSE_KEY_FILE")
        .output()
        .unwrap();
    assert_fails(&output, 2, "EVBENCH_CLICKHOUSE_KEY_FILE");
    // A CA file that holds no certificate is named.
    let output = Command::new(env!("CARGO_BIN_EXE_evbench"))
        .args(["schema", "apply", "--url", "https://127.0.0.1:1"])
        .env("EVBENCH_CLICKHOUSE_CA_FILE", ca)
        .output()
        .unwrap();
    assert_fails(&output, 2, ca);
}

#[test]
fn printing_users_without_passwords_prints_nothing() {
    let output = evbench(&["schema", "print", "--users"]);
    assert_fails(&output, 2, "EVBENCH_INGEST_PASSWORD");
    assert!(output.stdout.is_empty(), "nothing printed before the error");
}

#[test]
fn a_report_directory_that_cannot_be_made_could_not_run() {
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/quickstart.toml");
    let output = evbench(&[
        "run",
        scenario.to_str().unwrap(),
        "--out",
        "/dev/full/report",
    ]);
    assert_fails(&output, 3, "/dev/full/report");
}

#[test]
fn validate_checks_every_file_and_speaks_the_scenarios_notation() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "name = \"g\"\nseed = 1\n[fleet]\nchargers = 3\n[run]\nspan = \"90m\"\ntime_compression = 60\n",
    )
    .unwrap();
    let bad_gap = dir.path().join("bad-gap.toml");
    std::fs::write(
        &bad_gap,
        "name = \"b\"\nseed = 1\n[fleet]\nchargers = 3\n[run]\nspan = \"1h\"\n[aggregator]\nreorder_tolerance = \"3h\"\ninactivity_gap = \"2h\"\n",
    )
    .unwrap();
    let bad_codec = dir.path().join("bad-codec.toml");
    std::fs::write(
        &bad_codec,
        "name = \"c\"\nseed = 1\n[fleet]\nchargers = 3\n[run]\nspan = \"1h\"\nkafka_compression = \"zip\"\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_evbench"))
        .arg("validate")
        .args([&bad_gap, &good, &bad_codec])
        .output()
        .unwrap();
    let text = stderr(&output);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(text.contains("reorder_tolerance"), "{text}");
    assert!(text.contains("kafka_compression"), "{text}");
    assert!(text.contains("2 of 3"), "{text}");
    assert!(
        stdout.contains("good.toml: ok") && stdout.contains("1h 30m simulated"),
        "the good file is still validated, in the scenario's notation: {stdout}"
    );
    assert!(stdout.contains("time compression 60"), "{stdout}");
    assert!(!stdout.contains("Factor"), "no Rust debug output: {stdout}");
}

#[test]
fn the_old_compression_key_warns() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.toml");
    std::fs::write(
        &old,
        "name = \"o\"\nseed = 1\n[fleet]\nchargers = 3\n[run]\nspan = \"1h\"\ncompression = \"max\"\n",
    )
    .unwrap();
    let output = evbench(&["validate", old.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("`run.compression` is deprecated"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn help_shows_the_libraries_defaults() {
    let output = evbench(&["aggregate", "--help"]);
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("[default: 6h]"), "inactivity gap: {help}");
    assert!(help.contains("[default: 100ms]"), "commit interval: {help}");
    let output = evbench(&["simulate", "--help"]);
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("--time-compression"), "{help}");
    assert!(help.contains("[default: 5ms]"), "linger: {help}");
}
