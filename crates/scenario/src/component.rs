//! A part of the pipeline under test running as a child process: an aggregator instance, a
//! sink. It runs in its own process group (nothing of it outlives the runner), its output goes
//! to a log file, and it reports through two small files in its state directory: `ready` (it
//! is consuming; optionally the number of input partitions it holds) and `stats.json` (its
//! counters).

use std::path::{Path, PathBuf};
use std::time::Duration;

use harness::process::ServerProcess;

use crate::{Error, Result};

/// What starts a component.
#[derive(Debug, Clone)]
pub(crate) struct Launch {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Where it serves Prometheus metrics (`host:port`), when it does.
    pub metrics_addr: Option<String>,
    /// Its own namespace and address on the run's network, when the run has one.
    pub placement: Option<harness::Placement>,
}

impl Launch {
    /// `program subcommand --flag value …`: evbench's own services.
    pub fn subcommand(
        program: &Path,
        subcommand: &str,
        flags: Vec<(&str, String)>,
        env: Vec<(String, String)>,
    ) -> Launch {
        let mut args = vec![subcommand.to_owned()];
        for (flag, value) in flags {
            args.push(flag.to_owned());
            args.push(value);
        }
        Launch {
            program: program.to_owned(),
            args,
            env,
            metrics_addr: None,
            placement: None,
        }
    }

    /// Runs it at `placement` (its own namespace on the run's network), when there is one.
    pub fn placed(mut self, placement: Option<harness::Placement>) -> Launch {
        self.placement = placement;
        self
    }

    /// Adds `--metrics-addr <its address>:<a free port>` (evbench's own services): loopback,
    /// or its own address on the run's network (call [`placed`](Self::placed) first).
    pub fn with_metrics(mut self) -> Result<Launch> {
        let port = harness::ports::free_port()?;
        let host = self
            .placement
            .as_ref()
            .map_or(std::net::Ipv4Addr::LOCALHOST, |p| p.host);
        let addr = format!("{host}:{port}");
        self.args.push("--metrics-addr".into());
        self.args.push(addr.clone());
        self.metrics_addr = Some(addr);
        Ok(self)
    }
}

/// What a component's ready file says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Readiness {
    /// No ready file yet.
    Starting,
    /// Consuming; with the number of partitions it holds when it says so.
    Ready(Option<u64>),
}

/// One running (or stopped) component.
#[derive(Debug)]
pub(crate) struct Component {
    name: String,
    launch: Launch,
    state_dir: PathBuf,
    log_path: PathBuf,
    process: Option<ServerProcess>,
    /// How long a stop waits after SIGTERM before it kills.
    stop_grace: Duration,
}

impl Component {
    /// Starts `launch` as `name`; `state_dir` holds its ready and stats files (and whatever it
    /// keeps across restarts), `log_dir` its log.
    pub fn start(
        name: &str,
        launch: Launch,
        state_dir: &Path,
        log_dir: &Path,
        stop_grace: Duration,
    ) -> Result<Component> {
        std::fs::create_dir_all(state_dir)
            .map_err(|e| Error::io(format!("create {}", state_dir.display()), e))?;
        let mut component = Component {
            name: name.to_owned(),
            launch,
            state_dir: state_dir.to_owned(),
            log_path: log_dir.join(format!("{name}.log")),
            process: None,
            stop_grace,
        };
        component.spawn(false)?;
        Ok(component)
    }

    fn spawn(&mut self, append_log: bool) -> Result<()> {
        let _ = std::fs::remove_file(self.ready_file());
        let env: Vec<(&str, String)> = self
            .launch
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        let namespace = self
            .launch
            .placement
            .as_ref()
            .and_then(|p| p.namespace.as_deref());
        let (program, args) =
            harness::netns::command_line(namespace, &self.launch.program, &self.launch.args);
        let process = ServerProcess::spawn_logging(
            &self.name,
            &program,
            &args,
            &env,
            self.log_path.clone(),
            append_log,
        )
        .map_err(|e| Error::Component {
            component: self.name.clone(),
            problem: format!("could not be started: {}", crate::error_chain(&e)),
        })?;
        self.process = Some(process.with_stop_grace(self.stop_grace));
        Ok(())
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where it serves Prometheus metrics, when it does.
    pub fn metrics_addr(&self) -> Option<&str> {
        self.launch.metrics_addr.as_deref()
    }

    /// Where the component writes `ready`.
    pub fn ready_file(&self) -> PathBuf {
        self.state_dir.join("ready")
    }

    /// Where the component writes its counters.
    pub fn stats_file(&self) -> PathBuf {
        self.state_dir.join("stats.json")
    }

    /// Its process group while it runs.
    pub fn pgid(&self) -> Option<u32> {
        self.process.as_ref().and_then(ServerProcess::pgid)
    }

    /// Its log.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// What its ready file says now.
    pub fn readiness(&self) -> Readiness {
        match std::fs::read_to_string(self.ready_file()) {
            Ok(text) => Readiness::Ready(text.trim().parse().ok()),
            Err(_) => Readiness::Starting,
        }
    }

    /// `None` while it runs; how it ended (with the end of its log) once it has exited.
    pub fn exited(&mut self) -> Option<String> {
        let process = self.process.as_mut()?;
        match process.check_alive() {
            Ok(()) => None,
            Err(e) => Some(crate::error_chain(&e)),
        }
    }

    /// Kills it at once (SIGKILL of its process group), as a crash would; [`restart`](Self::restart)
    /// starts it again.
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
        }
    }

    /// Starts it again with the same command, state directory and log (appended), after a
    /// [`kill`](Self::kill) or [`stop`](Self::stop) (or stops it first).
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        self.spawn(true)
    }

    /// Asks it to stop (SIGTERM, a clean shutdown), kills it after the grace period.
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.stop();
        }
    }

    /// Reads its counters file, if it wrote one.
    pub fn stats<T: serde::de::DeserializeOwned>(&self) -> Option<T> {
        let text = std::fs::read_to_string(self.stats_file()).ok()?;
        serde_json::from_str(&text).ok()
    }
}

impl Drop for Component {
    fn drop(&mut self) {
        self.stop();
    }
}
