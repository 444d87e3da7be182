//! `evbench simulate --out`: the same arguments write identical files; bad input exits 2.

use std::process::Command;

fn simulate(dir: &std::path::Path, name: &str, extra: &[&str]) -> (Vec<u8>, Vec<u8>) {
    let events = dir.join(format!("{name}.events.jsonl"));
    let truth = dir.join(format!("{name}.truth.jsonl"));
    let status = Command::new(env!("CARGO_BIN_EXE_evbench"))
        .args([
            "simulate",
            "--chargers",
            "50",
            "--span",
            "30m",
            "--seed",
            "9",
            "--out",
        ])
        .arg(&events)
        .arg("--truth")
        .arg(&truth)
        .args(extra)
        .status()
        .unwrap();
    assert!(status.success());
    (
        std::fs::read(events).unwrap(),
        std::fs::read(truth).unwrap(),
    )
}

#[test]
fn same_arguments_give_identical_files() {
    let dir = tempfile::tempdir().unwrap();
    let (events_a, truth_a) = simulate(dir.path(), "a", &[]);
    let (events_b, truth_b) = simulate(dir.path(), "b", &[]);
    assert!(!events_a.is_empty() && !truth_a.is_empty());
    assert_eq!(
        events_a, events_b,
        "events differ between two identical runs"
    );
    assert_eq!(
        truth_a, truth_b,
        "ground truth differs between two identical runs"
    );
    let (events_c, _) = simulate(dir.path(), "c", &["--profile", "study-literal"]);
    assert_ne!(events_a, events_c, "the profile changes the events");
}

#[test]
fn bad_input_exits_2() {
    for args in [
        vec![
            "simulate",
            "--profile",
            "no-such-profile",
            "--out",
            "/dev/null",
        ],
        vec!["simulate", "--chargers", "0", "--out", "/dev/null"],
        vec!["simulate", "--span", "soon", "--out", "/dev/null"],
        vec!["simulate"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_evbench"))
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn sessionize_reproduces_the_ground_truth() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let truth = dir.path().join("truth.jsonl");
    let sessions = dir.path().join("sessions.jsonl");
    let status = Command::new(env!("CARGO_BIN_EXE_evbench"))
        .args([
            "simulate",
            "--chargers",
            "200",
            "--span",
            "3h",
            "--seed",
            "21",
            "--out",
        ])
        .arg(&events)
        .arg("--truth")
        .arg(&truth)
        .status()
        .unwrap();
    assert!(status.success());
    let status = Command::new(env!("CARGO_BIN_EXE_evbench"))
        .arg("sessionize")
        .arg(&events)
        .arg("--out")
        .arg(&sessions)
        .status()
        .unwrap();
    assert!(status.success());
    let as_set = |path: &std::path::Path| {
        let mut lines: Vec<String> = std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        lines.sort();
        lines
    };
    let (expected, got) = (as_set(&truth), as_set(&sessions));
    assert!(expected.len() > 500, "a real sample: {}", expected.len());
    assert_eq!(
        got, expected,
        "sessionize output differs from the ground truth"
    );
}
