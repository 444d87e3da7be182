//! Apache ZooKeeper, the coordination service of a ClickHouse cluster's replicated tables and
//! `ON CLUSTER` DDL (ClickHouse 18.16 has no Keeper of its own).
//!
//! One standalone server on a free loopback port, run with the machine's Java from the jars
//! `ci/setup` resolves with Maven (`ci/zookeeper/pom.xml`). Ready = it answers the `ruok`
//! four-letter command with `imok`.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::native::{cache_dir, which};
use crate::process::ServerProcess;
use crate::{Error, PROBE_INTERVAL, Result, ports};

/// The ZooKeeper version `ci/setup` fetches (kept equal to `ci/zookeeper/pom.xml` by a test).
pub const ZOOKEEPER_VERSION: &str = "3.9.5";

/// How long ZooKeeper may take to answer after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the ZooKeeper jars are: `$EVBENCH_ZOOKEEPER_LIBS`, else
/// `<cache>/zookeeper-<version>/libs`, as `ci/setup` lays them out.
pub fn zookeeper_libs_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("EVBENCH_ZOOKEEPER_LIBS") {
        return PathBuf::from(dir);
    }
    cache_dir()
        .join(format!("zookeeper-{ZOOKEEPER_VERSION}"))
        .join("libs")
}

/// A standalone ZooKeeper server on loopback.
#[derive(Debug)]
pub struct NativeZooKeeper {
    process: Option<ServerProcess>,
    port: u16,
    java: PathBuf,
    args: Vec<String>,
    // Declared last: the directory outlives the process that writes into it.
    dir: TempDir,
}

impl NativeZooKeeper {
    /// Writes `zoo.cfg` in a new directory under `parent` and starts the server; returns once it
    /// answers `imok`.
    pub fn start_in(parent: &Path) -> Result<NativeZooKeeper> {
        let libs = zookeeper_libs_dir();
        if !libs
            .join(format!("zookeeper-{ZOOKEEPER_VERSION}.jar"))
            .is_file()
        {
            return Err(Error::ZooKeeperLibs {
                version: ZOOKEEPER_VERSION,
                dir: libs,
            });
        }
        let java = which("java").ok_or(Error::NotOnPath {
            program: "java",
            hint: "Java 17 is needed",
        })?;
        let dir = tempfile::Builder::new()
            .prefix("evbench-zookeeper-")
            .tempdir_in(parent)
            .map_err(|e| Error::io(format!("create ZooKeeper dir in {}", parent.display()), e))?;
        let port = ports::free_port()?;
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).map_err(|e| Error::io("create ZooKeeper data dir", e))?;
        let config = dir.path().join("zoo.cfg");
        write(&config, &zoo_cfg(&data, port))?;
        let log4j = dir.path().join("log4j2.properties");
        write(&log4j, &log4j_properties(&dir.path().join("server.log")))?;
        let args = vec![
            "-Xms64m".to_owned(),
            "-Xmx256m".to_owned(),
            // C1 only, as for Kafka: a small, short-lived server on a small machine.
            "-XX:TieredStopAtLevel=1".to_owned(),
            format!("-Dlog4j2.configurationFile={}", log4j.display()),
            // Its metrics, JMX and admin server are of no use here.
            "-Dzookeeper.jmx.log4j.disable=true".to_owned(),
            "-cp".to_owned(),
            format!("{}/*", libs.display()),
            "org.apache.zookeeper.server.quorum.QuorumPeerMain".to_owned(),
            config.display().to_string(),
        ];
        let mut server = NativeZooKeeper {
            process: None,
            port,
            java,
            args,
            dir,
        };
        server.start_process()?;
        Ok(server)
    }

    fn start_process(&mut self) -> Result<()> {
        let started = Instant::now();
        self.spawn()?;
        while !self.ready(started)? {
            std::thread::sleep(PROBE_INTERVAL);
        }
        Ok(())
    }

    fn spawn(&mut self) -> Result<()> {
        self.process = Some(ServerProcess::spawn_logging(
            "zookeeper",
            &self.java,
            &self.args,
            &[],
            self.dir.path().join("stdout.log"),
            true,
        )?);
        Ok(())
    }

    /// Whether it answers now; fails when it exited or did not answer in time.
    fn ready(&mut self, started: Instant) -> Result<bool> {
        if let Some(process) = self.process.as_mut() {
            process.check_alive().map_err(|e| match e {
                Error::ServerExited {
                    name,
                    status,
                    log_tail,
                } => Error::ServerExited {
                    name,
                    status,
                    log_tail: format!(
                        "{log_tail}\n{}",
                        crate::process::tail_of(&self.dir.path().join("server.log"), 30)
                    ),
                },
                other => other,
            })?;
        }
        if self.answers() {
            tracing::info!(
                port = self.port,
                version = ZOOKEEPER_VERSION,
                ms = started.elapsed().as_millis() as u64,
                "zookeeper ready"
            );
            return Ok(true);
        }
        if started.elapsed() > START_TIMEOUT {
            return Err(Error::NotReady {
                name: "zookeeper".into(),
                waited_s: START_TIMEOUT.as_secs(),
                last_error: "no `imok` to `ruok`".into(),
                log_tail: crate::process::tail_of(&self.dir.path().join("server.log"), 40),
            });
        }
        Ok(false)
    }

    /// The client port (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's directory (configuration, data, logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Its process group id while it runs.
    pub fn pgid(&self) -> Option<u32> {
        self.process.as_ref().and_then(ServerProcess::pgid)
    }

    /// Whether the server runs (started and not stopped since).
    pub fn running(&self) -> bool {
        self.process.as_ref().is_some_and(ServerProcess::started)
    }

    /// Whether it answers `imok` now.
    pub fn answers(&self) -> bool {
        four_letter(self.port, "ruok").as_deref() == Some("imok")
    }

    /// Stops the server (idempotent; also done on drop), keeping its data and port.
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

    /// Kills it at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
        }
    }

    /// Starts it again on its port and data after a stop; returns once it answers.
    pub async fn restart(&mut self) -> Result<()> {
        if self.running() {
            return Ok(());
        }
        let started = Instant::now();
        self.spawn()?;
        // The probe is a loopback round trip of at most 0.7 s.
        while !self.ready(started)? {
            tokio::time::sleep(PROBE_INTERVAL).await;
        }
        Ok(())
    }
}

/// Sends a four-letter command (`ruok`, `srvr`), returns the answer.
fn four_letter(port: u16, command: &str) -> Option<String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .ok()?;
    stream.write_all(command.as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    Some(answer.trim().to_owned())
}

fn zoo_cfg(data: &Path, port: u16) -> String {
    format!(
        "# Generated by evbench's native provider: a standalone ZooKeeper on loopback.
tickTime=500
initLimit=10
syncLimit=5
dataDir={data}
clientPort={port}
clientPortAddress=127.0.0.1
maxClientCnxns=0
# ClickHouse asks for 10 s sessions; allow up to a minute.
minSessionTimeout=1000
maxSessionTimeout=60000
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr
autopurge.snapRetainCount=3
autopurge.purgeInterval=1
",
        data = data.display()
    )
}

fn log4j_properties(log: &Path) -> String {
    format!(
        "status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = {}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.file.ref = FILE
logger.server.name = org.apache.zookeeper.server.ZooKeeperServer
logger.server.level = INFO
",
        log.display()
    )
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| Error::io(format!("write {}", path.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_zookeeper_version_matches_ci_pom() {
        let pom = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../ci/zookeeper/pom.xml"
        ))
        .unwrap();
        assert!(
            pom.contains(&format!(
                "<zookeeper.version>{ZOOKEEPER_VERSION}</zookeeper.version>"
            )),
            "ci/zookeeper/pom.xml pins another ZooKeeper"
        );
    }

    #[test]
    fn config_listens_on_loopback_only() {
        let cfg = zoo_cfg(Path::new("/d"), 2181);
        assert!(cfg.contains("clientPortAddress=127.0.0.1"));
        assert!(cfg.contains("clientPort=2181"));
        assert!(cfg.contains("admin.enableServer=false"));
    }
}
