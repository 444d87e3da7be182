//! The native provider: Kafka and ClickHouse started from this machine's own installs.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::process::ServerProcess;
use crate::{Error, PROBE_INTERVAL, Result, ports};
use endpoints::{
    ClickHouseEndpoint, KafkaEndpoint, Secret, ServerVersion, client_for, kafka_admin,
};

/// The Apache Kafka version `ci/setup` fetches (kept equal to `ci/kafka/pom.xml` by a test).
pub const KAFKA_VERSION: &str = "4.1.1";

/// How long a server may take to answer after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// Where the Kafka jars are ([`crate::layout`]: `$EVBENCH_KAFKA_LIBS`, `$KAFKA_HOME/libs`, beside
/// a `kafka-server-start.sh` on `PATH`, `ci/setup`'s cache); `ci/setup`'s cache when none holds
/// them (starting a broker then says everywhere it looked).
pub fn kafka_libs_dir() -> PathBuf {
    crate::layout::find_kafka_libs()
        .map(|found| found.dir)
        .unwrap_or_else(|_| {
            cache_dir()
                .join(format!("kafka-{KAFKA_VERSION}"))
                .join("libs")
        })
}

/// Where `ci/setup` puts what it fetches and builds: `$EVBENCH_CACHE`, else `~/.cache/evbench`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("EVBENCH_CACHE") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    home.join(".cache").join("evbench")
}

/// Finds `name` on `PATH`.
pub(crate) fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

fn port_open(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// A KRaft Kafka node (broker and controller in one JVM) on loopback: alone, or one of a
/// cluster ([`NativeKafka::start_cluster`]).
#[derive(Debug)]
pub struct NativeKafka {
    /// `None` while stopped (its data and ports are kept for a restart).
    process: Option<ServerProcess>,
    /// This broker's own address (`bootstrap` of a single node; one of the cluster's otherwise).
    endpoint: KafkaEndpoint,
    /// `kafka` alone, `kafka-<node id>` in a cluster (its process's and log's name).
    name: String,
    node_id: u32,
    port: u16,
    java: PathBuf,
    args: Vec<String>,
    // Declared last: the directory outlives the process that writes into it.
    dir: TempDir,
}

/// The ports of one KRaft node.
#[derive(Debug, Clone, Copy)]
struct KafkaPorts {
    client: u16,
    controller: u16,
}

impl NativeKafka {
    /// Formats storage and starts the broker in a new directory under the services directory
    /// ([`crate::storage::services_dir`]); returns once a metadata request is answered.
    pub fn start() -> Result<NativeKafka> {
        NativeKafka::start_in(&crate::storage::services_dir())
    }

    /// [`NativeKafka::start`] with its directory under `parent`.
    pub fn start_in(parent: &Path) -> Result<NativeKafka> {
        let mut nodes = NativeKafka::start_cluster(parent, 1)?;
        Ok(nodes.remove(0))
    }

    /// Starts a KRaft cluster of `brokers` nodes (each a broker and a controller, `node.id` 1 …
    /// `brokers`, static voters), each in its own directory under `parent`, and returns once a
    /// metadata request lists every broker. On more than one broker the internal topics are
    /// replicated (up to 3 replicas, `min.insync.replicas` one less), and so are topics created
    /// without an explicit replication factor.
    pub fn start_cluster(parent: &Path, brokers: u32) -> Result<Vec<NativeKafka>> {
        let found = crate::layout::find_kafka_libs()?;
        tracing::debug!(dir = %found.dir.display(), found_by = found.found_by, "Kafka jars");
        let libs = found.dir;
        let java = which("java").ok_or(Error::NotOnPath {
            program: "java",
            hint: "Java 17 is needed",
        })?;
        let brokers = brokers.max(1);
        let ports = (0..brokers)
            .map(|_| {
                Ok(KafkaPorts {
                    client: ports::free_port()?,
                    controller: ports::free_port()?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let cluster_id = cluster_id()?;
        let started = Instant::now();
        // Storage is formatted by a JVM per node: in parallel, they take a second or two.
        let formatted: Vec<Result<NativeKafka>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (1..=brokers)
                .map(|node_id| {
                    let (java, libs, ports, cluster_id) = (&java, &libs, &ports, &cluster_id);
                    scope.spawn(move || {
                        NativeKafka::prepare(parent, java, libs, node_id, ports, cluster_id)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(Error::Panicked("a Kafka storage format thread")))
                })
                .collect()
        });
        let mut nodes = formatted.into_iter().collect::<Result<Vec<_>>>()?;
        for node in &mut nodes {
            node.spawn()?;
        }
        let bootstrap = nodes
            .iter()
            .map(|n| n.endpoint.bootstrap.clone())
            .collect::<Vec<_>>()
            .join(",");
        let all: Vec<u32> = (1..=brokers).collect();
        wait_for_brokers(&mut nodes, &bootstrap, &all, started)?;
        tracing::info!(%bootstrap, brokers, version = KAFKA_VERSION, ms = started.elapsed().as_millis() as u64, "kafka ready");
        Ok(nodes)
    }

    /// Writes the node's configuration and formats its storage (not started yet).
    fn prepare(
        parent: &Path,
        java: &Path,
        libs: &Path,
        node_id: u32,
        all_ports: &[KafkaPorts],
        cluster_id: &str,
    ) -> Result<NativeKafka> {
        let brokers = all_ports.len();
        let own = all_ports[node_id as usize - 1];
        let name = if brokers == 1 {
            "kafka".to_owned()
        } else {
            format!("kafka-{node_id}")
        };
        let prefix = format!("evbench-{name}-");
        let dir = tempfile::Builder::new()
            .prefix(&prefix)
            .tempdir_in(parent)
            .map_err(|e| Error::io(format!("create Kafka dir in {}", parent.display()), e))?;
        let properties = dir.path().join("server.properties");
        let mut text = server_properties(dir.path(), node_id, all_ports);
        // Extra broker settings, for experiments: `key=value` pairs separated by `;` or
        // newlines; later lines win.
        if let Ok(extra) = std::env::var("EVBENCH_KAFKA_PROPERTIES") {
            text.push_str("# From EVBENCH_KAFKA_PROPERTIES\n");
            for line in extra
                .split([';', '\n'])
                .map(str::trim)
                .filter(|l| !l.is_empty())
            {
                text.push_str(line);
                text.push('\n');
            }
        }
        write_file(&properties, &text)?;
        let log4j = dir.path().join("log4j2.properties");
        write_file(&log4j, &log4j_properties(&dir.path().join("server.log")))?;
        let classpath = format!("{}/*", libs.display());
        let jvm_common = [
            format!("-Dlog4j2.configurationFile={}", log4j.display()),
            "-Djava.awt.headless=true".to_owned(),
            "-cp".to_owned(),
            classpath,
        ];

        // Storage must be formatted before the first start (KRaft): a single node as a
        // standalone (dynamic) quorum, a cluster with the static voters of its properties.
        let format_log = dir.path().join("format.log");
        let mut format_args = vec!["-Xmx256m".to_owned(), "-XX:TieredStopAtLevel=1".to_owned()];
        format_args.extend(jvm_common.iter().cloned());
        format_args.extend(["kafka.tools.StorageTool", "format"].map(str::to_owned));
        if brokers == 1 {
            format_args.push("--standalone".to_owned());
        }
        format_args.extend(["-t", cluster_id, "-c"].map(str::to_owned));
        format_args.push(properties.display().to_string());
        let status = std::process::Command::new(java)
            .args(&format_args)
            .stdout(
                std::fs::File::create(&format_log)
                    .map_err(|e| Error::io("create format log", e))?,
            )
            .stderr(std::process::Stdio::null())
            .status()
            .map_err(|e| Error::io("run kafka StorageTool", e))?;
        if !status.success() {
            return Err(Error::ServerExited {
                name: "kafka storage format".into(),
                status: status.to_string(),
                log_tail: crate::process::tail_of(&format_log, 20),
            });
        }

        // C1 only: on a small machine C2's compiler threads compete with the pipeline for the
        // whole length of a benchmark-sized run (measured on 2 cores at 10 k signals/s: the
        // broker used 24 % less CPU and the signal → session p99 halved).
        let mut args = vec![
            "-Xms256m".to_owned(),
            "-Xmx1g".to_owned(),
            "-XX:TieredStopAtLevel=1".to_owned(),
        ];
        // Extra JVM flags, for experiments (whitespace-separated); one that names a garbage
        // collector replaces the default one.
        let extra = std::env::var("EVBENCH_KAFKA_JVM_OPTS").unwrap_or_default();
        if !extra
            .split_whitespace()
            .any(|f| f.starts_with("-XX:+Use") && f.ends_with("GC"))
        {
            args.push("-XX:+UseG1GC".to_owned());
        }
        args.extend(extra.split_whitespace().map(str::to_owned));
        args.extend(jvm_common);
        args.push("kafka.Kafka".to_owned());
        args.push(properties.display().to_string());
        Ok(NativeKafka {
            process: None,
            endpoint: KafkaEndpoint {
                bootstrap: format!("127.0.0.1:{}", own.client),
                version: KAFKA_VERSION.to_owned(),
            },
            name,
            node_id,
            port: own.client,
            java: java.to_owned(),
            args,
            dir,
        })
    }

    /// Starts the node's JVM (its storage is formatted).
    fn spawn(&mut self) -> Result<()> {
        let process = ServerProcess::spawn_logging(
            &self.name,
            &self.java,
            &self.args,
            &[],
            self.dir.path().join("stdout.log"),
            true,
        )?;
        self.process = Some(process);
        Ok(())
    }

    /// Where clients connect (for a cluster member: this broker alone; bootstrap lists name
    /// them all).
    pub fn endpoint(&self) -> &KafkaEndpoint {
        &self.endpoint
    }

    /// The broker's `node.id` (1 for a single node).
    pub fn node_id(&self) -> u32 {
        self.node_id
    }

    /// The broker's directory (configuration, data, logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The broker's process group id while it runs.
    pub fn pgid(&self) -> Option<u32> {
        self.process.as_ref().and_then(ServerProcess::pgid)
    }

    /// Whether the broker runs (started and not stopped since).
    pub fn running(&self) -> bool {
        self.process.as_ref().is_some_and(ServerProcess::started)
    }

    /// Stops the broker (a controlled shutdown; idempotent; also done on drop). Its data and
    /// ports are kept: [`start_again`](Self::start_again) or
    /// [`restart`](Self::restart) brings it back.
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

    /// Kills the broker at once (SIGKILL), as a crash would; [`restart`](Self::restart) brings
    /// it back (it recovers its log).
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
        }
    }

    /// Starts the stopped broker again on its ports and data (does nothing while it runs) and
    /// returns once a metadata request to `bootstrap` (the cluster's, or its own) lists it,
    /// without blocking the thread.
    pub async fn start_again(&mut self, bootstrap: &str) -> Result<()> {
        if self.running() {
            return Ok(());
        }
        let started = Instant::now();
        self.spawn()?;
        let mut last_error = String::from("port not open yet");
        loop {
            if let Some(process) = self.process.as_mut() {
                process
                    .check_alive()
                    .map_err(|e| with_log(e, &self.dir.path().join("server.log")))?;
            }
            if port_open(self.port) {
                let probe = bootstrap.to_owned();
                let listed = tokio::task::spawn_blocking(move || {
                    kafka_admin::broker_ids(&probe, Duration::from_secs(5))
                })
                .await
                .map_err(|source| Error::Join {
                    task: "kafka probe",
                    source,
                })?;
                match listed {
                    Ok(ids) if ids.contains(&(self.node_id as i32)) => break,
                    Ok(ids) => last_error = format!("metadata lists brokers {ids:?}"),
                    Err(e) => last_error = e.to_string(),
                }
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(Error::NotReady {
                    name: self.name.clone(),
                    waited_s: START_TIMEOUT.as_secs(),
                    last_error,
                    log_tail: crate::process::tail_of(&self.dir.path().join("server.log"), 40),
                });
            }
            tokio::time::sleep(PROBE_INTERVAL).await;
        }
        tracing::info!(name = %self.name, ms = started.elapsed().as_millis() as u64, "kafka broker back");
        Ok(())
    }

    /// `kafka`, or `kafka-<node id>` in a cluster.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its process, for stopping several servers at once.
    pub(crate) fn take_process(&mut self) -> Option<ServerProcess> {
        self.process.take()
    }

    /// Starts the broker again on the same ports and data after [`stop`](Self::stop) (or
    /// stops it first); returns once its own metadata lists it. Blocks the thread: in a
    /// runtime, see [`start_again`](Self::start_again).
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        let started = Instant::now();
        self.spawn()?;
        let bootstrap = self.endpoint.bootstrap.clone();
        let id = self.node_id;
        wait_for_brokers(std::slice::from_mut(self), &bootstrap, &[id], started)?;
        tracing::info!(name = %self.name, ms = started.elapsed().as_millis() as u64, "kafka broker back");
        Ok(())
    }

    /// Freezes the broker (SIGSTOP): connections stay open, nothing is answered.
    pub fn pause(&self) {
        if let Some(process) = self.process.as_ref() {
            process.pause();
        }
    }

    /// Wakes a paused broker (SIGCONT).
    pub fn resume(&self) {
        if let Some(process) = self.process.as_ref() {
            process.resume();
        }
    }
}

/// Waits until `nodes` run and a metadata request to `bootstrap` lists every broker of `ids`.
fn wait_for_brokers(
    nodes: &mut [NativeKafka],
    bootstrap: &str,
    ids: &[u32],
    started: Instant,
) -> Result<()> {
    let mut last_error = String::from("port not open yet");
    loop {
        for node in nodes.iter_mut() {
            if let Some(process) = node.process.as_mut() {
                process
                    .check_alive()
                    .map_err(|e| with_log(e, &node.dir.path().join("server.log")))?;
            }
        }
        if nodes.iter().all(|n| port_open(n.port)) {
            match kafka_admin::broker_ids(bootstrap, Duration::from_secs(5)) {
                Ok(listed) if ids.iter().all(|id| listed.contains(&(*id as i32))) => {
                    return Ok(());
                }
                Ok(listed) => last_error = format!("metadata lists brokers {listed:?}"),
                Err(e) => last_error = e.to_string(),
            }
        }
        if started.elapsed() > START_TIMEOUT {
            let log_tail = nodes
                .iter()
                .map(|n| crate::process::tail_of(&n.dir.path().join("server.log"), 40))
                .collect::<Vec<_>>()
                .join("\n");
            return Err(Error::NotReady {
                name: "kafka".into(),
                waited_s: START_TIMEOUT.as_secs(),
                last_error,
                log_tail,
            });
        }
        std::thread::sleep(PROBE_INTERVAL);
    }
}
fn with_log(error: Error, log: &Path) -> Error {
    match error {
        Error::ServerExited {
            name,
            status,
            log_tail,
        } => {
            let server_log = crate::process::tail_of(log, 30);
            Error::ServerExited {
                name,
                status,
                log_tail: format!("{log_tail}\n{server_log}"),
            }
        }
        other => other,
    }
}

/// A random KRaft cluster id: 16 random bytes, URL-safe base64 without padding (22 characters),
/// the form `kafka-storage random-uuid` prints.
fn cluster_id() -> Result<String> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    loop {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(Error::Random)?;
        let bits = u128::from_be_bytes(bytes);
        // 128 bits as 22 base64 digits: 21 full 6-bit digits, then the last 2 bits padded with zeros.
        let mut id = String::with_capacity(22);
        for i in 0..21 {
            id.push(ALPHABET[((bits >> (122 - 6 * i)) & 63) as usize] as char);
        }
        id.push(ALPHABET[((bits & 3) << 4) as usize] as char);
        // An id starting with '-' reads as an option on the StorageTool's command line (Kafka's
        // own generator skips those too).
        if !id.starts_with('-') {
            return Ok(id);
        }
    }
}

fn server_properties(dir: &Path, node_id: u32, all: &[KafkaPorts]) -> String {
    let data = dir.join("data");
    let own = all[node_id as usize - 1];
    let (port, controller_port) = (own.client, own.controller);
    let brokers = all.len();
    // A single node is its own quorum (formatted `--standalone`); a cluster names its voters.
    let quorum = if brokers == 1 {
        format!("controller.quorum.bootstrap.servers=127.0.0.1:{controller_port}")
    } else {
        let voters: Vec<String> = all
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{}@127.0.0.1:{}", i + 1, p.controller))
            .collect();
        format!("controller.quorum.voters={}", voters.join(","))
    };
    // Internal topics replicated like the pipeline's (up to 3 replicas, one may be down).
    let replicas = brokers.min(3);
    let min_isr = replicas.saturating_sub(1).max(1);
    let kind = if brokers == 1 {
        "a single-node KRaft broker".to_owned()
    } else {
        format!("node {node_id} of a {brokers}-node KRaft cluster")
    };
    format!(
        "# Generated by evbench's native provider: {kind} on loopback.
process.roles=broker,controller
node.id={node_id}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
{quorum}
log.dirs={data}
num.partitions=1
default.replication.factor={replicas}
min.insync.replicas={min_isr}
auto.create.topics.enable=false
offsets.topic.replication.factor={replicas}
offsets.topic.num.partitions=8
transaction.state.log.replication.factor={replicas}
transaction.state.log.min.isr={min_isr}
transaction.state.log.num.partitions=8
share.coordinator.state.topic.replication.factor={replicas}
share.coordinator.state.topic.min.isr={min_isr}
group.initial.rebalance.delay.ms=0
# Small segments and indexes: topics here have up to thousands of partitions on one disk.
log.segment.bytes=67108864
log.index.size.max.bytes=1048576
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
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
",
        log.display()
    )
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| Error::io(format!("write {}", path.display()), e))
}

/// A `clickhouse-server` on loopback with its own data directory: alone, or one server of a
/// cluster (see [`crate::Services`]).
#[derive(Debug)]
pub struct NativeClickHouse {
    process: Option<ServerProcess>,
    /// `clickhouse` alone, `clickhouse-s<shard>r<replica>` in a cluster.
    name: String,
    program: PathBuf,
    program_args: Vec<String>,
    endpoint: ClickHouseEndpoint,
    http_port: u16,
    dir: TempDir,
}

/// The harness's administrative user on native servers (the pipeline uses its own users).
const ADMIN_USER: &str = "default";

/// The ports of one ClickHouse server.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClickHousePorts {
    pub http: u16,
    pub tcp: u16,
    /// Replicas fetch parts from each other over it (cluster servers only).
    pub interserver: u16,
}

impl ClickHousePorts {
    pub(crate) fn free() -> Result<ClickHousePorts> {
        Ok(ClickHousePorts {
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
    pub zookeeper_port: u16,
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
        let mut server = NativeClickHouse::create(parent, ClickHousePorts::free()?, None)?;
        server.start_process().await?;
        Ok(server)
    }

    /// Writes the server's directory and configuration (it is not started yet).
    pub(crate) fn create(
        parent: &Path,
        ports: ClickHousePorts,
        role: Option<&ClusterRole>,
    ) -> Result<NativeClickHouse> {
        let (program, program_args) = if let Some(server) = which("clickhouse-server") {
            (server, Vec::new())
        } else if let Some(multi) = which("clickhouse") {
            (multi, vec!["server".to_owned()])
        } else {
            return Err(Error::NotOnPath {
                program: "clickhouse-server",
                hint: "run ci/setup",
            });
        };
        let name = match role {
            None => "clickhouse".to_owned(),
            Some(role) => format!("clickhouse-s{}r{}", role.shard, role.replica),
        };
        let dir = tempfile::Builder::new()
            .prefix(&format!("evbench-{name}-"))
            .tempdir_in(parent)
            .map_err(|e| Error::io(format!("create ClickHouse dir in {}", parent.display()), e))?;
        for sub in [
            "data",
            "tmp",
            "user_files",
            "format_schemas",
            "users.d",
            "config.d",
        ] {
            std::fs::create_dir_all(dir.path().join(sub))
                .map_err(|e| Error::io("create ClickHouse dirs", e))?;
        }
        write_file(
            &dir.path().join("config.xml"),
            &clickhouse_config(dir.path(), ports.http, ports.tcp),
        )?;
        write_file(&dir.path().join("users.xml"), CLICKHOUSE_USERS)?;
        if let Some(users) = binary_version(&program)
            .as_ref()
            .and_then(access_management)
        {
            write_file(
                &dir.path().join("users.d").join("evbench-access.xml"),
                users,
            )?;
        }
        if let Some(role) = role {
            write_file(
                &dir.path().join("config.d").join("evbench-cluster.xml"),
                &cluster_config(role),
            )?;
            write_file(
                &dir.path().join("users.d").join("evbench-cluster.xml"),
                CLUSTER_USERS,
            )?;
        }
        let placeholder = ServerVersion {
            major: 0,
            minor: 0,
            patch: 0,
            text: "unknown".into(),
        };
        let mut endpoint = ClickHouseEndpoint::single(
            format!("http://127.0.0.1:{}", ports.http),
            ADMIN_USER.into(),
            Secret::default(),
            placeholder,
        );
        endpoint.cluster = role.map(|_| crate::CLICKHOUSE_CLUSTER.to_owned());
        Ok(NativeClickHouse {
            process: None,
            name,
            program,
            program_args,
            endpoint,
            http_port: ports.http,
            dir,
        })
    }

    async fn start_process(&mut self) -> Result<()> {
        self.spawn_process()?;
        self.wait_ready().await
    }

    /// Starts the server's process (see [`wait_ready`](Self::wait_ready)).
    pub(crate) fn spawn_process(&mut self) -> Result<()> {
        let mut args = self.program_args.clone();
        args.push(format!(
            "--config-file={}",
            self.dir.path().join("config.xml").display()
        ));
        let process = ServerProcess::spawn(
            &self.name,
            &self.program,
            &args,
            &[],
            self.dir.path().join("stdout.log"),
        )?;
        self.process = Some(process);
        Ok(())
    }

    /// Waits until `/ping` and a query answer (and reads the version).
    pub(crate) async fn wait_ready(&mut self) -> Result<()> {
        let started = Instant::now();
        let mut last_error = String::from("no answer to /ping yet");
        loop {
            if let Some(process) = self.process.as_mut() {
                process
                    .check_alive()
                    .map_err(|e| with_log(e, &self.dir.path().join("server.err.log")))?;
            }
            if http_ping(self.http_port) {
                let client = client_for(&self.endpoint.url, ADMIN_USER, &Secret::default(), None);
                // The first query right after /ping may still be refused: retry it.
                match endpoints::clickhouse_server_version(&client).await {
                    Ok(version) => {
                        self.endpoint.version = version;
                        break;
                    }
                    Err(e @ endpoints::Error::UnreadableVersion { .. }) => return Err(e.into()),
                    Err(e) => last_error = e.to_string(),
                }
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(Error::NotReady {
                    name: self.name.clone(),
                    waited_s: START_TIMEOUT.as_secs(),
                    last_error,
                    log_tail: crate::process::tail_of(&self.dir.path().join("server.err.log"), 40),
                });
            }
            tokio::time::sleep(PROBE_INTERVAL).await;
        }
        tracing::info!(name = %self.name, url = %self.endpoint.url, version = %self.endpoint.version, ms = started.elapsed().as_millis() as u64, "clickhouse ready");
        Ok(())
    }

    /// Whether the server runs (started and not stopped since).
    pub fn running(&self) -> bool {
        self.process.as_ref().is_some_and(ServerProcess::started)
    }

    /// [`stop`](Self::stop) without blocking the thread.
    pub async fn stop_async(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.stop_async().await;
        }
    }

    /// Kills the server at once (SIGKILL), as a crash would; [`restart`](Self::restart)
    /// brings it back.
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
        }
    }
    /// Where clients connect, and the detected version.
    pub fn endpoint(&self) -> &ClickHouseEndpoint {
        &self.endpoint
    }

    /// The server's directory (configuration, data, logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Adds a users file to `users.d/` (users of the pipeline, with their grants). A running
    /// server picks it up within seconds; [`restart`](Self::restart) applies it at once.
    pub fn add_users_file(&self, name: &str, xml: &str) -> Result<()> {
        write_file(&self.dir.path().join("users.d").join(name), xml)
    }

    /// Adds a server configuration fragment to `config.d/` (merged into `config.xml`, e.g. the
    /// `<kafka>` section of the Kafka engine). Most sections are read at start-up:
    /// [`restart`](Self::restart) to apply it.
    pub fn add_config_file(&self, name: &str, xml: &str) -> Result<()> {
        write_file(&self.dir.path().join("config.d").join(name), xml)
    }

    /// Stops the server, keeping its data and ports (for outage tests).
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.stop();
        }
    }

    /// Starts it again on the same ports and data after [`stop`](Self::stop).
    pub async fn restart(&mut self) -> Result<()> {
        self.stop_async().await;
        self.start_process().await
    }

    /// `clickhouse`, or `clickhouse-s<shard>r<replica>` in a cluster.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its process, for stopping several servers at once.
    pub(crate) fn take_process(&mut self) -> Option<ServerProcess> {
        self.process.take()
    }

    /// The server's process group id while it runs.
    pub fn pgid(&self) -> Option<u32> {
        self.process.as_ref().and_then(ServerProcess::pgid)
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
}

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

fn http_ping(port: u16) -> bool {
    use std::io::{Read, Write};
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
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

fn clickhouse_config(dir: &Path, http_port: u16, tcp_port: u16) -> String {
    let d = dir.display();
    let mut xml = String::new();
    // `<yandex>` is the root old servers need; modern servers still accept it.
    let _ = write!(
        xml,
        r#"<?xml version="1.0"?>
<!-- Generated by evbench's native provider. -->
<yandex>
  <logger>
    <!-- A line per query at `information`: at the dozens of inserts and polls a second of a
         run, logging alone costs a noticeable share of a core. -->
    <level>warning</level>
    <log>{d}/server.log</log>
    <errorlog>{d}/server.err.log</errorlog>
    <size>100M</size>
    <count>2</count>
    <console>0</console>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>{http_port}</http_port>
  <tcp_port>{tcp_port}</tcp_port>
  <path>{d}/data/</path>
  <tmp_path>{d}/tmp/</tmp_path>
  <user_files_path>{d}/user_files/</user_files_path>
  <format_schema_path>{d}/format_schemas/</format_schema_path>
  <users_config>{d}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <max_concurrent_queries>100</max_concurrent_queries>
  <mark_cache_size>268435456</mark_cache_size>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
  <builtin_dictionaries_reload_interval>3600</builtin_dictionaries_reload_interval>
  <max_session_timeout>3600</max_session_timeout>
  <default_session_timeout>60</default_session_timeout>
</yandex>
"#
    );
    xml
}

/// The configuration that makes a server one of a cluster: the ZooKeeper, its shard and
/// replica (the `{shard}` and `{replica}` macros of replicated tables; `{cluster}` names the
/// cluster), the interserver port replicas fetch parts from, the distributed DDL queue (`ON
/// CLUSTER`), and the cluster itself in `remote_servers`: every shard with
/// `internal_replication` (an insert through a `Distributed` table goes to one replica of the
/// shard; replication copies it to the others).
fn cluster_config(role: &ClusterRole) -> String {
    let mut shards = String::new();
    for replicas in &role.servers {
        shards
            .push_str("      <shard>\n        <internal_replication>true</internal_replication>\n");
        for server in replicas {
            let _ = writeln!(
                shards,
                "        <replica><host>127.0.0.1</host><port>{}</port></replica>",
                server.tcp
            );
        }
        shards.push_str("      </shard>\n");
    }
    let own = role.servers[role.shard as usize - 1][role.replica as usize - 1];
    format!(
        r#"<?xml version="1.0"?>
<!-- Generated by evbench's native provider: shard {shard}, replica {replica} of the cluster `{cluster}`. -->
<yandex>
  <interserver_http_host>127.0.0.1</interserver_http_host>
  <interserver_http_port>{interserver}</interserver_http_port>
  <zookeeper>
    <node><host>127.0.0.1</host><port>{zookeeper}</port></node>
    <session_timeout_ms>10000</session_timeout_ms>
  </zookeeper>
  <macros>
    <shard>{shard}</shard>
    <replica>s{shard}r{replica}</replica>
    <cluster>{cluster}</cluster>
  </macros>
  <distributed_ddl>
    <path>/clickhouse/task_queue/ddl</path>
  </distributed_ddl>
  <remote_servers>
    <{cluster}>
{shards}    </{cluster}>
  </remote_servers>
</yandex>
"#,
        shard = role.shard,
        replica = role.replica,
        cluster = crate::CLICKHOUSE_CLUSTER,
        interserver = own.interserver,
        zookeeper = role.zookeeper_port,
    )
}

/// The version a ClickHouse binary reports (`--version`), when it says one.
fn binary_version(program: &Path) -> Option<ServerVersion> {
    let output = std::process::Command::new(program)
        .arg("--version")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.split_whitespace()
        .filter(|word| word.starts_with(|c: char| c.is_ascii_digit()))
        .find_map(|word| ServerVersion::parse(word.trim_end_matches('.')))
}

/// A `users.d` file letting `default` manage users and grants with SQL (`CREATE USER`, what
/// the schema runs on modern servers), for servers that have SQL access management (20.5 and
/// later); `None` for older ones, which get the pipeline's users as `users.d` files instead.
fn access_management(version: &ServerVersion) -> Option<&'static str> {
    version.at_least(20, 5).then_some(
        r#"<?xml version="1.0"?>
<clickhouse>
  <users>
    <default>
      <access_management>1</access_management>
      <named_collection_control>1</named_collection_control>
      <show_named_collections>1</show_named_collections>
    </default>
  </users>
</clickhouse>
"#,
    )
}

/// Settings of a cluster's servers. `poll_interval`: a server's native-protocol connection
/// checks for its shutdown between polls of this many seconds (10 by default); the other
/// servers keep pooled connections to it (the `Distributed` tables), so a stopped server
/// waited 10 s for them and was then killed: a node stop under load was a crash.
const CLUSTER_USERS: &str = r#"<?xml version="1.0"?>
<yandex>
  <profiles>
    <default>
      <poll_interval>1</poll_interval>
    </default>
  </profiles>
</yandex>
"#;

/// `default` is the harness's administrative user, reachable from loopback only; the pipeline's
/// own users (`ingest`, `grafana`) are added to `users.d/` by the schema.
const CLICKHOUSE_USERS: &str = r#"<?xml version="1.0"?>
<yandex>
  <profiles>
    <default>
      <max_memory_usage>8000000000</max_memory_usage>
      <load_balancing>random</load_balancing>
      <!-- Merge threads (16 by default): a few suit a small machine. -->
      <background_pool_size>4</background_pool_size>
    </default>
    <readonly>
      <readonly>1</readonly>
    </readonly>
  </profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas>
    <default>
      <interval>
        <duration>3600</duration>
        <queries>0</queries>
        <errors>0</errors>
        <result_rows>0</result_rows>
        <read_rows>0</read_rows>
        <execution_time>0</execution_time>
      </interval>
    </default>
  </quotas>
</yandex>
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modern_servers_get_sql_access_management_and_old_ones_do_not() {
        let version = |text: &str| ServerVersion::parse(text).unwrap();
        assert_eq!(access_management(&version("18.16.1")), None);
        assert_eq!(access_management(&version("20.4.9")), None);
        for modern in ["20.5.1", "24.3.2.23", "25.8.1"] {
            let xml = access_management(&version(modern)).unwrap();
            assert!(
                xml.contains("<default>")
                    && xml.contains("<access_management>1</access_management>")
            );
        }
        // A binary that does not know `--version` (18.16 says "Unknown option") is too old
        // for SQL access management: no file.
        if let Some(program) = which("clickhouse-server")
            && let Some(found) = binary_version(&program)
        {
            assert!(found.major >= 19, "{found:?}");
        }
    }

    #[test]
    fn pinned_kafka_version_matches_ci_pom() {
        let pom = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../ci/kafka/pom.xml"
        ))
        .unwrap();
        assert!(
            pom.contains(&format!("<kafka.version>{KAFKA_VERSION}</kafka.version>")),
            "ci/kafka/pom.xml pins another Kafka"
        );
    }

    #[test]
    fn cluster_ids_have_kraft_shape() {
        let id = cluster_id().unwrap();
        assert_eq!(id.len(), 22);
        assert!(!id.starts_with('-'));
        assert_ne!(id, cluster_id().unwrap());
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
    }
}
