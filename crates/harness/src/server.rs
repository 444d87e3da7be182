//! One managed server process: what every native server (a Kafka node, a ClickHouse server,
//! ZooKeeper) shares.
//!
//! A [`ManagedServer`] owns the server's directory, its command line, its process (see
//! [`ServerProcess`]: a process group that cannot outlive the harness) and its log; it stops
//! (SIGTERM, then SIGKILL after a grace period), kills and starts the process again on the same
//! directory, and [`wait_until_ready`] waits for it with a readiness probe each server gives.
//! Each native server embeds one and dereferences to it, so their process methods
//! ([`stop`](ManagedServer::stop), [`kill`](ManagedServer::kill), [`pgid`](ManagedServer::pgid),
//! …) are these.

use std::fmt::Write as _;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::process::{ServerProcess, tail_of};
use crate::{Error, PROBE_INTERVAL, Result};

/// Where a server runs: its address, and the network namespace that holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The address it listens on and is reached at.
    pub host: std::net::Ipv4Addr,
    /// Its namespace ([`crate::netns`]); `None`: the machine's own (then `host` is loopback).
    pub namespace: Option<String>,
}

impl Placement {
    /// On the machine's loopback, as every server is unless the run has its own network.
    pub fn loopback() -> Placement {
        Placement {
            host: std::net::Ipv4Addr::LOCALHOST,
            namespace: None,
        }
    }

    /// `node`'s place on `network`.
    pub fn on(network: &crate::netns::RunNetwork, node: &str) -> Result<Placement> {
        let place = network
            .node(node)
            .ok_or_else(|| Error::Network(format!("{node} has no place on the run's network")))?;
        Ok(Placement {
            host: place.address,
            namespace: Some(place.namespace.clone()),
        })
    }
}

/// A server process the harness started, and everything needed to start it again.
#[derive(Debug)]
pub struct ManagedServer {
    /// `kafka-2`, `clickhouse`, `zookeeper`: its process's and log's name.
    name: String,
    program: PathBuf,
    args: Vec<String>,
    /// Whether a restarted process appends to `stdout.log` (keeping the story of its earlier
    /// lives) rather than replacing it.
    append_output: bool,
    /// The server's own log, whose last lines start-up errors show.
    log: PathBuf,
    /// The network namespace it runs in (see [`crate::netns`]); `None`: the machine's own.
    namespace: Option<String>,
    /// `None` while stopped (its directory and ports are kept for a restart).
    process: Option<ServerProcess>,
    // Declared last: the directory outlives the process that writes into it.
    dir: TempDir,
}

impl ManagedServer {
    /// Creates the directory of the server `name` under `parent` (`evbench-<name>-…`); `kind`
    /// names the server in the error (`Kafka`, `ClickHouse`).
    pub(crate) fn create_dir(parent: &Path, name: &str, kind: &str) -> Result<TempDir> {
        tempfile::Builder::new()
            .prefix(&format!("evbench-{name}-"))
            .tempdir_in(parent)
            .map_err(|e| Error::io(format!("create {kind} dir in {}", parent.display()), e))
    }

    /// A server (not started yet) that runs `program args…` in `dir`, its output going to
    /// `dir/stdout.log`, its own log being `dir/server.log`.
    pub(crate) fn new(name: String, dir: TempDir, program: PathBuf, args: Vec<String>) -> Self {
        ManagedServer {
            name,
            program,
            args,
            append_output: false,
            log: dir.path().join("server.log"),
            namespace: None,
            process: None,
            dir,
        }
    }

    /// The same, with its own log at `dir/<file>`.
    pub(crate) fn logging_to(mut self, file: &str) -> Self {
        self.log = self.dir.path().join(file);
        self
    }

    /// The same, a restarted process appending to `stdout.log` rather than replacing it.
    pub(crate) fn appending_output(mut self) -> Self {
        self.append_output = true;
        self
    }

    /// Runs it in the network namespace `namespace` from its next start (`None`: the
    /// machine's own).
    pub(crate) fn set_namespace(&mut self, namespace: Option<String>) {
        self.namespace = namespace;
    }

    /// Starts the process (see [`wait_until_ready`]).
    pub(crate) fn spawn(&mut self) -> Result<()> {
        let (program, args) =
            crate::netns::command_line(self.namespace.as_deref(), &self.program, &self.args);
        self.process = Some(ServerProcess::spawn_logging(
            &self.name,
            &program,
            &args,
            &[],
            self.dir.path().join("stdout.log"),
            self.append_output,
        )?);
        Ok(())
    }

    /// The server's name (`kafka`, `kafka-<node id>`, `clickhouse`,
    /// `clickhouse-s<shard>r<replica>`, `zookeeper`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The server's directory (configuration, data, logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's process group id while it runs.
    pub fn pgid(&self) -> Option<u32> {
        self.process.as_ref().and_then(ServerProcess::pgid)
    }

    /// Whether the server runs (started and not stopped since).
    pub fn running(&self) -> bool {
        self.process.as_ref().is_some_and(ServerProcess::started)
    }

    /// Stops the server (SIGTERM: its own clean shutdown; SIGKILL after a grace period;
    /// idempotent; also done on drop). Its data and ports are kept for a restart.
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.stop();
        }
    }

    /// [`stop`](Self::stop) without blocking the thread.
    pub async fn stop_async(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.stop_async().await;
        }
    }

    /// Kills the server at once (SIGKILL), as a crash would; a restart brings it back (it
    /// recovers its data).
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
        }
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing is answered.
    pub fn pause(&self) {
        if let Some(process) = self.process.as_ref() {
            process.pause();
        }
    }

    /// Wakes a paused server (SIGCONT).
    pub fn resume(&self) {
        if let Some(process) = self.process.as_ref() {
            process.resume();
        }
    }

    /// Its process, for stopping several servers at once.
    pub(crate) fn take_process(&mut self) -> Option<ServerProcess> {
        self.process.take()
    }

    /// Fails when the process has exited, with the last lines of its output and of its own log.
    fn check_alive(&mut self) -> Result<()> {
        let Some(process) = self.process.as_mut() else {
            return Ok(());
        };
        process.check_alive().map_err(|e| match e {
            Error::ServerExited {
                name,
                status,
                log_tail,
            } => Error::ServerExited {
                name,
                status,
                log_tail: format!("{log_tail}\n{}", tail_of(&self.log, 30)),
            },
            other => other,
        })
    }
}

/// Makes a native server type (a struct whose `server` field is its [`ManagedServer`])
/// dereference to its server, whose process methods are then its own.
macro_rules! managed_server {
    ($server:ty) => {
        /// The server's process, directory and log.
        impl std::ops::Deref for $server {
            type Target = $crate::server::ManagedServer;
            fn deref(&self) -> &Self::Target {
                &self.server
            }
        }

        impl std::ops::DerefMut for $server {
            fn deref_mut(&mut self) -> &mut Self::Target {
                &mut self.server
            }
        }
    };
}
pub(crate) use managed_server;

/// What a readiness probe found.
#[derive(Debug)]
pub(crate) enum Probe<T> {
    /// Ready, with what the probe read (a version, say).
    Ready(T),
    /// Not yet; why, when there is something new to say (else the last reason stands).
    NotYet(Option<String>),
}

/// How long to wait for what, and how to name it when it does not come.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Readiness<'a> {
    /// The name in the error (`kafka`, `zookeeper`, a server's name).
    pub name: &'a str,
    /// When the wait began (a server's start, or before the work that precedes it).
    pub started: Instant,
    pub timeout: Duration,
    /// The reason given when the probe never said one.
    pub before_any_answer: &'a str,
    /// Between probes.
    pub interval: Duration,
}

impl<'a> Readiness<'a> {
    /// A wait for `name` of at most `timeout` from `started`, probing every
    /// [`PROBE_INTERVAL`].
    pub(crate) fn new(
        name: &'a str,
        started: Instant,
        timeout: Duration,
        before_any_answer: &'a str,
    ) -> Self {
        Readiness {
            name,
            started,
            timeout,
            before_any_answer,
            interval: PROBE_INTERVAL,
        }
    }
}

/// Waits until `probe` finds the service ready, checking before each probe that every one of
/// `servers` still runs; fails at once when one exited ([`Error::ServerExited`]) or the probe
/// fails, and after the timeout ([`Error::NotReady`], with the last reason the probe gave and
/// the last lines of the servers' logs).
pub(crate) async fn wait_until_ready<T, F, Fut>(
    servers: &mut [&mut ManagedServer],
    readiness: Readiness<'_>,
    mut probe: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Probe<T>>>,
{
    let mut last_error = readiness.before_any_answer.to_owned();
    loop {
        for server in servers.iter_mut() {
            server.check_alive()?;
        }
        match probe().await? {
            Probe::Ready(found) => return Ok(found),
            Probe::NotYet(Some(reason)) => last_error = reason,
            Probe::NotYet(None) => {}
        }
        if readiness.started.elapsed() > readiness.timeout {
            return Err(Error::NotReady {
                name: readiness.name.to_owned(),
                waited_s: readiness.timeout.as_secs(),
                last_error,
                log_tail: servers
                    .iter()
                    .map(|s| tail_of(&s.log, 40))
                    .collect::<Vec<_>>()
                    .join("\n"),
            });
        }
        tokio::time::sleep(readiness.interval).await;
    }
}

/// Runs `future` (a readiness wait) to its end on a runtime of its own, for the entry points
/// that block their thread: called from plain threads, `spawn_blocking` or `block_in_place`,
/// never from a runtime's own task.
pub(crate) fn block_on<T>(future: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(|e| Error::io("start a runtime to wait for a server", e))?
        .block_on(future)
}

/// Finds `name` on `PATH`.
pub(crate) fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// The machine's `java` (Kafka and ZooKeeper run on it).
pub(crate) fn java() -> Result<PathBuf> {
    which("java").ok_or(Error::NotOnPath {
        program: "java",
        hint: "Java 17 is needed",
    })
}

/// Writes a configuration file.
pub(crate) fn write_file(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| Error::io(format!("write {}", path.display()), e))
}

/// A log4j 2 configuration writing to `log` (a Java server's own log): the root logger at
/// `root_level`, then the server's own loggers, each `(key, logger name, level)`.
pub(crate) fn log4j_properties(
    log: &Path,
    root_level: &str,
    loggers: &[(&str, &str, &str)],
) -> String {
    let mut text = format!(
        "status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = {}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = {root_level}
rootLogger.appenderRef.file.ref = FILE
",
        log.display()
    );
    for (key, name, level) in loggers {
        let _ = write!(
            text,
            "logger.{key}.name = {name}\nlogger.{key}.level = {level}\n"
        );
    }
    text
}
