//! Server processes that cannot outlive the harness.
//!
//! Each server runs in its own process group under a small `bash` watchdog that also watches the
//! harness's pid: dropping the [`ServerProcess`] terminates the group (TERM, then KILL after a
//! grace period), and if the harness dies without dropping it (SIGKILL, abort), the watchdog
//! notices within half a second and takes the server down with it. So no Kafka or ClickHouse
//! process of the harness is left running, whatever way the harness ends.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::{Error, Result};

/// Runs `"$@"`, forwards TERM/INT to it, and kills it when the owner pid disappears.
const WATCHDOG: &str = r#"
owner=$1; shift
"$@" &
child=$!
trap 'kill -TERM $child 2>/dev/null; wait $child; exit 143' TERM INT
while kill -0 "$owner" 2>/dev/null && kill -0 "$child" 2>/dev/null; do
  sleep 0.5 & wait $!
done
if kill -0 "$child" 2>/dev/null; then
  kill -TERM "$child" 2>/dev/null
  for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$child" 2>/dev/null || break; sleep 0.5; done
  kill -KILL "$child" 2>/dev/null
fi
wait $child
"#;

/// A running server: its process group, and the file its output goes to.
#[derive(Debug)]
pub struct ServerProcess {
    name: String,
    child: Option<Child>,
    log_path: PathBuf,
    stop_grace: Duration,
}

impl ServerProcess {
    /// Starts `program args…` in a new process group, stdout and stderr to `log_path`
    /// (replaced).
    pub fn spawn(
        name: &str,
        program: &Path,
        args: &[String],
        envs: &[(&str, String)],
        log_path: PathBuf,
    ) -> Result<ServerProcess> {
        Self::spawn_logging(name, program, args, envs, log_path, false)
    }

    /// The same, appending to `log_path` when `append` (a restarted process keeps the story of
    /// its earlier lives).
    pub fn spawn_logging(
        name: &str,
        program: &Path,
        args: &[String],
        envs: &[(&str, String)],
        log_path: PathBuf,
        append: bool,
    ) -> Result<ServerProcess> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(&log_path)
            .map_err(|e| Error::io(format!("create {}", log_path.display()), e))?;
        let log_err = log
            .try_clone()
            .map_err(|e| Error::io("clone log handle", e))?;
        let mut command = Command::new("bash");
        command
            .arg("-c")
            .arg(WATCHDOG)
            .arg(format!("evbench-{name}"))
            .arg(std::process::id().to_string())
            .arg(program)
            .args(args)
            .envs(envs.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .process_group(0);
        let child = command
            .spawn()
            .map_err(|e| Error::io(format!("start {name} ({})", program.display()), e))?;
        tracing::debug!(name, pid = child.id(), "server process started");
        Ok(ServerProcess {
            name: name.to_owned(),
            child: Some(child),
            log_path,
            stop_grace: Duration::from_secs(10),
        })
    }

    /// How long [`stop`](Self::stop) waits after SIGTERM before it kills.
    pub fn with_stop_grace(mut self, grace: Duration) -> ServerProcess {
        self.stop_grace = grace;
        self
    }

    /// The process-group id (the watchdog's pid).
    pub fn pgid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Fails with the log's tail when the process has already exited.
    pub fn check_alive(&mut self) -> Result<()> {
        let Some(child) = self.child.as_mut() else {
            return Err(Error::ServerExited {
                name: self.name.clone(),
                status: "stopped".into(),
                log_tail: self.log_tail(),
            });
        };
        match child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(Error::ServerExited {
                name: self.name.clone(),
                status: status.to_string(),
                log_tail: self.log_tail(),
            }),
            Err(e) => Err(Error::io(format!("wait for {}", self.name), e)),
        }
    }

    /// The last lines of the server's output, to show when start-up fails.
    pub fn log_tail(&self) -> String {
        tail_of(&self.log_path, 40)
    }

    /// The file the server's stdout and stderr go to.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Stops the whole process group: TERM, then KILL after the grace period. Idempotent.
    pub fn stop(&mut self) {
        stop_all(std::slice::from_mut(self));
    }

    /// [`stop`](Self::stop) without blocking the thread: the waits are the runtime's timers.
    pub async fn stop_async(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let group = Pid::from_raw(child.id() as i32);
        // A paused group cannot act on TERM.
        let _ = killpg(group, Signal::SIGCONT);
        let _ = killpg(group, Signal::SIGTERM);
        let deadline = Instant::now() + self.stop_grace;
        loop {
            match child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() >= deadline => {
                    tracing::warn!(name = %self.name, "did not stop in time; killing");
                    let _ = killpg(group, Signal::SIGKILL);
                    let _ = child.wait();
                    break;
                }
                Ok(None) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        let _ = killpg(group, Signal::SIGKILL);
        for _ in 0..40 {
            if killpg(group, None).is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tracing::debug!(name = %self.name, "server process stopped");
    }

    /// Whether the process has been started and not stopped or killed since (it may have
    /// exited on its own: see [`check_alive`](Self::check_alive)).
    pub fn started(&self) -> bool {
        self.child.is_some()
    }

    /// Freezes the whole process group (SIGSTOP): it holds its sockets and answers nothing, as a
    /// server in a long pause would. [`resume`](Self::resume) wakes it.
    pub fn pause(&self) {
        if let Some(child) = self.child.as_ref() {
            let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGSTOP);
        }
    }

    /// Wakes a [`pause`](Self::pause)d process group (SIGCONT).
    pub fn resume(&self) {
        if let Some(child) = self.child.as_ref() {
            let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGCONT);
        }
    }

    /// Kills the process group at once (SIGKILL), as a crash would. For fault-injection tests.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
            let _ = child.wait();
        }
    }
}

/// Stops several servers at once: TERM to every group, then KILL to those still running
/// after their grace period; returns once every group is gone. (The brokers of a cluster
/// stopped one after the other wait for a quorum that is leaving; together they go at once.)
pub fn stop_all(processes: &mut [ServerProcess]) {
    let mut running: Vec<(String, Child, Instant)> = Vec::new();
    for process in processes.iter_mut() {
        if let Some(child) = process.child.take() {
            let group = Pid::from_raw(child.id() as i32);
            // A paused group cannot act on TERM.
            let _ = killpg(group, Signal::SIGCONT);
            let _ = killpg(group, Signal::SIGTERM);
            running.push((
                process.name.clone(),
                child,
                Instant::now() + process.stop_grace,
            ));
        }
    }
    let mut groups = Vec::new();
    while !running.is_empty() {
        running.retain_mut(|(name, child, deadline)| {
            let group = Pid::from_raw(child.id() as i32);
            match child.try_wait() {
                Ok(Some(_)) | Err(_) => {}
                Ok(None) if Instant::now() >= *deadline => {
                    tracing::warn!(%name, "did not stop in time; killing");
                    let _ = killpg(group, Signal::SIGKILL);
                    let _ = child.wait();
                }
                Ok(None) => return true,
            }
            // The watchdog has gone; make sure nothing else of the group survived it.
            let _ = killpg(group, Signal::SIGKILL);
            groups.push(group);
            tracing::debug!(%name, "server process stopped");
            false
        });
        if !running.is_empty() {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    // Killed processes linger until they are reaped: wait (briefly) until the groups are gone.
    let until = Instant::now() + Duration::from_secs(2);
    while groups.iter().any(|g| killpg(*g, None).is_ok()) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The last `lines` lines of a text file (empty when it cannot be read).
pub fn tail_of(path: &Path, lines: usize) -> String {
    let Ok(mut file) = File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(16 * 1024)));
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
