//! `evbench services`: the one-line check, and no server process left behind however the
//! command ends (normal exit, or SIGKILL of the command itself).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Pids of live processes whose command line mentions `marker` (the child's private TMPDIR).
fn processes_mentioning(marker: &Path) -> Vec<u32> {
    let marker = marker.to_string_lossy().into_owned();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let zombie =
            std::fs::read_to_string(entry.path().join("stat")).is_ok_and(|s| s.contains(") Z "));
        if cmdline.contains(&marker) && !zombie {
            pids.push(pid);
        }
    }
    pids
}

fn wait_until_gone(marker: &Path, within: Duration) -> Vec<u32> {
    let deadline = Instant::now() + within;
    loop {
        let left = processes_mentioning(marker);
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Starts `evbench services up` with its own TMPDIR and returns once it printed `ready`, with
/// the lines it printed.
fn start_up(tmp: &Path) -> (std::process::Child, Vec<String>) {
    let mut up = Command::new(env!("CARGO_BIN_EXE_evbench"))
        .args(["services", "up"])
        .env("TMPDIR", tmp)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut printed = Vec::new();
    for line in BufReader::new(up.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let ready = line.starts_with("ready");
        printed.push(line);
        if ready {
            break;
        }
    }
    (up, printed)
}

#[test]
fn check_prints_one_line_and_up_dies_with_its_servers() {
    // `services check`: one line, exit 0, nothing left running.
    let tmp = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_evbench"))
        .args(["services", "check"])
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "exit {:?}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout.trim();
    assert!(
        line.starts_with(&format!("kafka {} clickhouse ", harness::KAFKA_VERSION))
            && line.ends_with(" ok"),
        "unexpected output {line:?}"
    );
    assert_eq!(stdout.lines().count(), 1);
    assert_eq!(
        processes_mentioning(tmp.path()),
        Vec::<u32>::new(),
        "servers left after services check"
    );

    // `services up`, killed with SIGKILL (no chance to clean up): the watchdogs take the servers down.
    let tmp = tempfile::tempdir().unwrap();
    let (mut up, printed) = start_up(tmp.path());
    assert!(
        printed.iter().any(|l| l.starts_with("kafka ")),
        "endpoints printed: {printed:?}"
    );
    assert!(
        !processes_mentioning(tmp.path()).is_empty(),
        "servers run while `up` runs"
    );
    up.kill().unwrap();
    up.wait().unwrap();
    let left = wait_until_gone(tmp.path(), Duration::from_secs(20));
    assert!(
        left.is_empty(),
        "processes left after SIGKILL of `services up`: {left:?}"
    );

    // `services up`, stopped with SIGINT (Ctrl-C): clean exit 0, nothing left.
    let tmp = tempfile::tempdir().unwrap();
    let (mut up, _) = start_up(tmp.path());
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(up.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = up.wait().unwrap();
    assert!(
        status.success(),
        "Ctrl-C ends `services up` cleanly: {status:?}"
    );
    assert_eq!(processes_mentioning(tmp.path()), Vec::<u32>::new());
}
