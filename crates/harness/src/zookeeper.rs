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

use crate::native::cache_dir;
use crate::server::{self, ManagedServer, Probe, Readiness, log4j_properties, write_file};
use crate::{Error, Result, ports};

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

/// A standalone ZooKeeper server, on loopback or at its own address. Its process methods ([`ManagedServer::stop`],
/// [`kill`](ManagedServer::kill), …) are its server's.
#[derive(Debug)]
pub struct NativeZooKeeper {
    /// `zookeeper`; its own log is `server.log`.
    server: ManagedServer,
    address: SocketAddr,
}

impl NativeZooKeeper {
    /// Writes `zoo.cfg` in a new directory under `parent` and starts the server; returns once it
    /// answers `imok`. Blocks the thread.
    pub fn start_in(parent: &Path) -> Result<NativeZooKeeper> {
        NativeZooKeeper::start_placed(parent, &crate::Placement::loopback())
    }

    /// [`NativeZooKeeper::start_in`] at `placement` (its own namespace on the run's network).
    pub fn start_placed(parent: &Path, placement: &crate::Placement) -> Result<NativeZooKeeper> {
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
        let java = server::java()?;
        let dir = ManagedServer::create_dir(parent, "zookeeper", "ZooKeeper")?;
        let port = ports::free_port()?;
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).map_err(|e| Error::io("create ZooKeeper data dir", e))?;
        let config = dir.path().join("zoo.cfg");
        write_file(&config, &zoo_cfg(&data, placement.host, port))?;
        let log4j = dir.path().join("log4j2.properties");
        write_file(
            &log4j,
            &log4j_properties(&dir.path().join("server.log"), "WARN", ZOOKEEPER_LOGGERS),
        )?;
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
        let mut server = ManagedServer::new("zookeeper".into(), dir, java, args).appending_output();
        server.set_namespace(placement.namespace.clone());
        let mut zookeeper = NativeZooKeeper {
            server,
            address: SocketAddr::from((placement.host, port)),
        };
        let started = Instant::now();
        zookeeper.server.spawn()?;
        server::block_on(zookeeper.wait_ready(started))?;
        Ok(zookeeper)
    }

    /// Waits until it answers `imok`.
    async fn wait_ready(&mut self, started: Instant) -> Result<()> {
        let address = self.address;
        let readiness = Readiness::new("zookeeper", started, START_TIMEOUT, "no `imok` to `ruok`");
        // The probe is a loopback round trip of at most 0.7 s.
        server::wait_until_ready(&mut [&mut self.server], readiness, || {
            std::future::ready(Ok(if answers(address) {
                Probe::Ready(())
            } else {
                Probe::NotYet(None)
            }))
        })
        .await?;
        tracing::info!(
            %address,
            version = ZOOKEEPER_VERSION,
            ms = started.elapsed().as_millis() as u64,
            "zookeeper ready"
        );
        Ok(())
    }

    /// The client port.
    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// The client address (loopback, or its own on the run's network).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Whether it answers `imok` now.
    pub fn answers(&self) -> bool {
        answers(self.address)
    }

    /// Starts it again on its port and data after a stop; returns once it answers.
    pub async fn restart(&mut self) -> Result<()> {
        if self.running() {
            return Ok(());
        }
        let started = Instant::now();
        self.server.spawn()?;
        self.wait_ready(started).await
    }
}

server::managed_server!(NativeZooKeeper);

/// Whether the server at `address` answers `imok` now.
fn answers(address: SocketAddr) -> bool {
    four_letter(address, "ruok").as_deref() == Some("imok")
}

/// Sends a four-letter command (`ruok`, `srvr`), returns the answer.
fn four_letter(address: SocketAddr, command: &str) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_millis(200)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .ok()?;
    stream.write_all(command.as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    Some(answer.trim().to_owned())
}

fn zoo_cfg(data: &Path, host: Ipv4Addr, port: u16) -> String {
    format!(
        "# Generated by evbench's native provider: a standalone ZooKeeper at {host}.
tickTime=500
initLimit=10
syncLimit=5
dataDir={data}
clientPort={port}
clientPortAddress={host}
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

/// ZooKeeper's own logger (beside the root logger at `WARN`).
const ZOOKEEPER_LOGGERS: &[(&str, &str, &str)] = &[(
    "server",
    "org.apache.zookeeper.server.ZooKeeperServer",
    "INFO",
)];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_zookeeper_version_matches_ci_pom() {
        crate::assert_pom_pins(
            "ci/zookeeper/pom.xml",
            "zookeeper.version",
            ZOOKEEPER_VERSION,
        );
    }

    #[test]
    fn config_listens_on_its_address_only() {
        let cfg = zoo_cfg(Path::new("/d"), Ipv4Addr::LOCALHOST, 2181);
        assert!(cfg.contains("clientPortAddress=127.0.0.1"));
        let own = zoo_cfg(Path::new("/d"), Ipv4Addr::new(198, 18, 3, 12), 2181);
        assert!(own.contains("clientPortAddress=198.18.3.12"));
        assert!(cfg.contains("clientPort=2181"));
        assert!(cfg.contains("admin.enableServer=false"));
    }
}
