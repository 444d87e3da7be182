//! `clickhouse-server` on loopback with its own data directory: alone, or one server of a
//! cluster.

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use endpoints::{ClickHouseEndpoint, Secret, ServerVersion, client_for};

use super::START_TIMEOUT;
use super::clickhouse_config::write_server_files;
use crate::server::{self, ManagedServer, Probe, Readiness, which};
use crate::{Error, Result, ports};

/// A `clickhouse-server` on loopback with its own data directory: alone, or one server of a
/// cluster (see [`crate::Services`]). Its process methods ([`ManagedServer::stop`],
/// [`kill`](ManagedServer::kill), [`pause`](ManagedServer::pause), …) are its server's.
#[derive(Debug)]
pub struct NativeClickHouse {
    /// `clickhouse` alone, `clickhouse-s<shard>r<replica>` in a cluster; its own log is
    /// `server.err.log`.
    server: ManagedServer,
    endpoint: ClickHouseEndpoint,
    http: SocketAddr,
    /// The native protocol's address (`clickhouse-client --host --port`).
    tcp: SocketAddr,
}

/// The harness's administrative user on native servers (the pipeline uses its own users).
const ADMIN_USER: &str = "default";

/// Where one ClickHouse server listens: its address and ports.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClickHousePorts {
    pub host: Ipv4Addr,
    pub http: u16,
    pub tcp: u16,
    /// Replicas fetch parts from each other over it (cluster servers only).
    pub interserver: u16,
}

impl ClickHousePorts {
    /// Free ports, on `host` (its own namespace's address, or loopback).
    pub(crate) fn free_on(host: Ipv4Addr) -> Result<ClickHousePorts> {
        Ok(ClickHousePorts {
            host,
            http: ports::free_port()?,
            tcp: ports::free_port()?,
            interserver: ports::free_port()?,
        })
    }
}

/// A server's place in a ClickHouse cluster (written to `config.d/evbench-cluster.xml`).
#[derive(Debug, Clone)]
pub(crate) struct ClusterRole {
    pub shard: u32,
    pub replica: u32,
    pub zookeeper: SocketAddr,
    /// Every server's ports, shard by shard (`[shard - 1][replica - 1]`).
    pub servers: Vec<Vec<ClickHousePorts>>,
}

impl NativeClickHouse {
    /// Writes a configuration, starts the server in a new directory under the services directory
    /// ([`crate::storage::services_dir`]), and returns once `/ping` and a query answer.
    pub async fn start() -> Result<NativeClickHouse> {
        NativeClickHouse::start_in(&crate::storage::services_dir()).await
    }

    /// [`NativeClickHouse::start`] with its directory under `parent`.
    pub async fn start_in(parent: &Path) -> Result<NativeClickHouse> {
        NativeClickHouse::start_placed(parent, &crate::Placement::loopback()).await
    }

    /// [`NativeClickHouse::start_in`] at `placement` (its own namespace on the run's network).
    pub async fn start_placed(
        parent: &Path,
        placement: &crate::Placement,
    ) -> Result<NativeClickHouse> {
        NativeClickHouse::start_secured(parent, placement, &Secret::default(), None).await
    }

    /// [`NativeClickHouse::start_placed`] with a password for its administrative user `default`
    /// (none when empty), and with `tls` HTTPS only, presenting the run's server certificate
    /// (which must name `placement`'s address) and requiring the run's client certificate:
    /// what a secured run does, so that no client gets in without both, and nothing crosses the
    /// wire in the clear. The endpoint's clients show the client certificate.
    pub async fn start_secured(
        parent: &Path,
        placement: &crate::Placement,
        admin_password: &Secret,
        tls: Option<&super::TlsFiles>,
    ) -> Result<NativeClickHouse> {
        let ports = ClickHousePorts::free_on(placement.host)?;
        let mut server = NativeClickHouse::create(parent, ports, None, admin_password, tls)?;
        server.place_in(placement.namespace.clone());
        server.start_process().await?;
        Ok(server)
    }

    /// Runs it in `namespace` from its next start.
    pub(crate) fn place_in(&mut self, namespace: Option<String>) {
        self.server.set_namespace(namespace);
    }

    /// Writes the server's directory and configuration (it is not started yet).
    pub(crate) fn create(
        parent: &Path,
        ports: ClickHousePorts,
        role: Option<&ClusterRole>,
        admin_password: &Secret,
        tls: Option<&super::TlsFiles>,
    ) -> Result<NativeClickHouse> {
        let (program, mut args) = server_program()?;
        let name = match role {
            None => "clickhouse".to_owned(),
            Some(role) => format!("clickhouse-s{}r{}", role.shard, role.replica),
        };
        let dir = ManagedServer::create_dir(parent, &name, "ClickHouse")?;
        write_server_files(dir.path(), &program, ports, role, admin_password, tls)?;
        args.push(format!(
            "--config-file={}",
            dir.path().join("config.xml").display()
        ));
        let placeholder = ServerVersion {
            major: 0,
            minor: 0,
            patch: 0,
            text: "unknown".into(),
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let mut endpoint = ClickHouseEndpoint::single(
            format!("{scheme}://{}:{}", ports.host, ports.http),
            ADMIN_USER.into(),
            admin_password.clone(),
            placeholder,
        );
        endpoint.cluster = role.map(|_| crate::CLICKHOUSE_CLUSTER.to_owned());
        endpoint.tls = tls
            .map(|tls| {
                let client = endpoints::clickhouse_tls::ClientCertificate {
                    certificate: tls.client_certificate.clone(),
                    key: tls.client_key.clone(),
                };
                endpoints::ClickHouseTls::new(Some(&tls.ca), Some(client))
            })
            .transpose()?;
        Ok(NativeClickHouse {
            server: ManagedServer::new(name, dir, program, args).logging_to("server.err.log"),
            endpoint,
            http: SocketAddr::from((ports.host, ports.http)),
            tcp: SocketAddr::from((ports.host, ports.tcp)),
        })
    }

    async fn start_process(&mut self) -> Result<()> {
        self.spawn_process()?;
        self.wait_ready().await
    }

    /// Starts the server's process (see [`wait_ready`](Self::wait_ready)).
    pub(crate) fn spawn_process(&mut self) -> Result<()> {
        self.server.spawn()
    }

    /// Waits until `/ping` and a query answer (and reads the version).
    pub(crate) async fn wait_ready(&mut self) -> Result<()> {
        let started = Instant::now();
        let (name, url, http, password, tls) = (
            self.server.name().to_owned(),
            self.endpoint.url.clone(),
            self.http,
            self.endpoint.password.clone(),
            self.endpoint.tls.clone(),
        );
        let readiness = Readiness::new(&name, started, START_TIMEOUT, "no answer to /ping yet");
        let version = server::wait_until_ready(&mut [&mut self.server], readiness, || {
            // An HTTPS port answers no plaintext /ping: that it accepts a connection is enough
            // to try the query.
            let up = match tls {
                Some(_) => TcpStream::connect_timeout(&http, Duration::from_millis(200)).is_ok(),
                None => http_ping(http),
            };
            let client = up.then(|| client_for(&url, ADMIN_USER, &password, None, tls.as_ref()));
            async move {
                let Some(client) = client else {
                    return Ok(Probe::NotYet(None));
                };
                // The first query right after /ping may still be refused: retry it.
                match endpoints::clickhouse_server_version(&client).await {
                    Ok(version) => Ok(Probe::Ready(version)),
                    Err(e @ endpoints::Error::UnreadableVersion { .. }) => Err(e.into()),
                    Err(e) => Ok(Probe::NotYet(Some(e.to_string()))),
                }
            }
        })
        .await?;
        self.endpoint.version = version;
        tracing::info!(name = %self.name(), url = %self.endpoint.url, version = %self.endpoint.version, ms = started.elapsed().as_millis() as u64, "clickhouse ready");
        Ok(())
    }

    /// Where clients connect, and the detected version.
    pub fn endpoint(&self) -> &ClickHouseEndpoint {
        &self.endpoint
    }

    /// The native protocol's port, for `clickhouse-client --port`.
    pub fn tcp_port(&self) -> u16 {
        self.tcp.port()
    }

    /// The native protocol's address, for `clickhouse-client --host … --port …`.
    pub fn tcp_address(&self) -> SocketAddr {
        self.tcp
    }

    /// Adds a users file to `users.d/` (users of the pipeline, with their grants). A running
    /// server picks it up within seconds; [`restart`](Self::restart) applies it at once.
    pub fn add_users_file(&self, name: &str, xml: &str) -> Result<()> {
        super::write_private(&self.dir().join("users.d").join(name), xml)
    }

    /// Adds a server configuration fragment to `config.d/` (merged into `config.xml`, e.g. the
    /// `<kafka>` section of the Kafka engine). Most sections are read at start-up:
    /// [`restart`](Self::restart) to apply it.
    pub fn add_config_file(&self, name: &str, xml: &str) -> Result<()> {
        super::write_private(&self.dir().join("config.d").join(name), xml)
    }

    /// Starts it again on the same ports and data after a [`stop`](ManagedServer::stop) (or
    /// stops it first).
    pub async fn restart(&mut self) -> Result<()> {
        self.stop_async().await;
        self.start_process().await
    }
}

server::managed_server!(NativeClickHouse);

impl endpoints::ManagedClickHouse for NativeClickHouse {
    fn endpoint(&self) -> &ClickHouseEndpoint {
        NativeClickHouse::endpoint(self)
    }

    fn add_users_file(&self, name: &str, xml: &str) -> endpoints::Result<()> {
        NativeClickHouse::add_users_file(self, name, xml)
            .map_err(|e| endpoints::Error::Server(e.into()))
    }

    fn add_config_file(&self, name: &str, xml: &str) -> endpoints::Result<()> {
        NativeClickHouse::add_config_file(self, name, xml)
            .map_err(|e| endpoints::Error::Server(e.into()))
    }

    async fn restart(&mut self) -> endpoints::Result<()> {
        NativeClickHouse::restart(self)
            .await
            .map_err(|e| endpoints::Error::Server(e.into()))
    }
}

/// The server program and its first arguments: `clickhouse-server`, or `clickhouse server`.
fn server_program() -> Result<(PathBuf, Vec<String>)> {
    if let Some(server) = which("clickhouse-server") {
        Ok((server, Vec::new()))
    } else if let Some(multi) = which("clickhouse") {
        Ok((multi, vec!["server".to_owned()]))
    } else {
        Err(Error::NotOnPath {
            program: "clickhouse-server",
            hint: "run ci/setup",
        })
    }
}

fn http_ping(addr: SocketAddr) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream
        .write_all(b"GET /ping HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.") && answer.contains(" 200 ") && answer.ends_with("Ok.\n")
}
