//! KRaft Kafka nodes (broker and controller in one JVM) on loopback: alone, or a cluster.

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use endpoints::{KafkaEndpoint, kafka_admin};

use super::{START_TIMEOUT, cache_dir};
use crate::server::{
    self, ManagedServer, Placement, Probe, Readiness, log4j_properties, write_file,
};
use crate::{Error, Result, ports};

/// The Apache Kafka version `ci/setup` fetches (kept equal to `ci/kafka/pom.xml` by a test).
pub const KAFKA_VERSION: &str = "4.4.0";

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

/// A KRaft Kafka node (broker and controller in one JVM) on loopback: alone, or one of a
/// cluster ([`NativeKafka::start_cluster`]). Its process methods ([`ManagedServer::stop`],
/// [`kill`](ManagedServer::kill), [`pause`](ManagedServer::pause), …) are its server's: a
/// stop is the broker's controlled shutdown.
#[derive(Debug)]
pub struct NativeKafka {
    /// `kafka` alone, `kafka-<node id>` in a cluster; its own log is `server.log`.
    server: ManagedServer,
    /// This broker's own address (`bootstrap` of a single node; one of the cluster's otherwise).
    endpoint: KafkaEndpoint,
    node_id: u32,
    /// Where its client listener is.
    listener: SocketAddr,
}

/// Where one KRaft node listens: its address and ports.
#[derive(Debug, Clone, Copy)]
struct KafkaPorts {
    host: Ipv4Addr,
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
    /// without an explicit replication factor. Blocks the thread.
    pub fn start_cluster(parent: &Path, brokers: u32) -> Result<Vec<NativeKafka>> {
        NativeKafka::start_cluster_of(&crate::layout::find_kafka_libs()?, parent, brokers)
    }

    /// [`NativeKafka::start_cluster`] on the jars of `found` (a release the scenario names:
    /// [`crate::layout::kafka_libs_of_version`]).
    pub fn start_cluster_of(
        found: &crate::layout::KafkaLibs,
        parent: &Path,
        brokers: u32,
    ) -> Result<Vec<NativeKafka>> {
        let placements = vec![Placement::loopback(); brokers.max(1) as usize];
        NativeKafka::start_cluster_placed(found, parent, &placements)
    }

    /// [`NativeKafka::start_cluster_of`] with a broker at each of `placements` (node id 1 at
    /// the first): on loopback, or each in its namespace on the run's network.
    pub fn start_cluster_placed(
        found: &crate::layout::KafkaLibs,
        parent: &Path,
        placements: &[Placement],
    ) -> Result<Vec<NativeKafka>> {
        NativeKafka::start_cluster_secured(found, parent, placements, None)
    }

    /// [`NativeKafka::start_cluster_placed`], secured when `security` is given: `SASL_SSL`
    /// listeners, its users created with the storage, the `StandardAuthorizer` with no access
    /// but what ACLs grant ([`SecuredKafka`](super::SecuredKafka)). The nodes' endpoints then
    /// log in as the admin user.
    pub fn start_cluster_secured(
        found: &crate::layout::KafkaLibs,
        parent: &Path,
        placements: &[Placement],
        security: Option<&super::SecuredKafka>,
    ) -> Result<Vec<NativeKafka>> {
        tracing::debug!(dir = %found.dir.display(), found_by = found.found_by, version = %found.version, "Kafka jars");
        let java = server::java()?;
        let brokers = placements.len().max(1) as u32;
        let ports = placements
            .iter()
            .map(|place| {
                Ok(KafkaPorts {
                    host: place.host,
                    client: ports::free_port()?,
                    controller: ports::free_port()?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let cluster_id = cluster_id()?;
        let started = Instant::now();
        let mut nodes = prepare_nodes(parent, &java, found, &ports, &cluster_id, security)?;
        for (node, place) in nodes.iter_mut().zip(placements) {
            node.server.set_namespace(place.namespace.clone());
        }
        for node in &mut nodes {
            node.server.spawn()?;
        }
        let bootstrap = nodes
            .iter()
            .map(|n| n.endpoint.bootstrap.clone())
            .collect::<Vec<_>>()
            .join(",");
        let readiness = Readiness::new("kafka", started, START_TIMEOUT, "port not open yet");
        let cluster = KafkaEndpoint {
            bootstrap: bootstrap.clone(),
            version: found.version.clone(),
            security: nodes[0].endpoint.security.clone(),
        };
        server::block_on(wait_listed(&mut nodes, &cluster, readiness))?;
        tracing::info!(%bootstrap, brokers, version = %found.version, ms = started.elapsed().as_millis() as u64, "kafka ready");
        Ok(nodes)
    }

    /// Writes the node's configuration and formats its storage (not started yet).
    fn prepare(
        parent: &Path,
        java: &Path,
        libs: &crate::layout::KafkaLibs,
        node_id: u32,
        all_ports: &[KafkaPorts],
        cluster_id: &str,
        security: Option<&super::SecuredKafka>,
    ) -> Result<NativeKafka> {
        let own = all_ports[node_id as usize - 1];
        let name = if all_ports.len() == 1 {
            "kafka".to_owned()
        } else {
            format!("kafka-{node_id}")
        };
        let dir = ManagedServer::create_dir(parent, &name, "Kafka")?;
        let properties = dir.path().join("server.properties");
        let mut text = server_properties(dir.path(), node_id, all_ports, security);
        push_extra_properties(&mut text);
        match security {
            // It holds the broker's password.
            Some(_) => super::kafka_security::write_private(&properties, &text)?,
            None => write_file(&properties, &text)?,
        }
        let log4j = dir.path().join("log4j2.properties");
        write_file(
            &log4j,
            &log4j_properties(&dir.path().join("server.log"), "INFO", KAFKA_LOGGERS),
        )?;
        let jvm_common = [
            format!("-Dlog4j2.configurationFile={}", log4j.display()),
            "-Djava.awt.headless=true".to_owned(),
            "-cp".to_owned(),
            format!("{}/*", libs.dir.display()),
        ];
        format_storage(
            java,
            &jvm_common,
            &properties,
            cluster_id,
            all_ports.len() == 1,
            &security.map(|s| s.format_arguments()).unwrap_or_default(),
            &dir.path().join("format.log"),
        )?;
        let args = broker_args(jvm_common, &properties);
        Ok(NativeKafka {
            server: ManagedServer::new(name, dir, java.to_owned(), args).appending_output(),
            endpoint: KafkaEndpoint {
                bootstrap: format!("{}:{}", own.host, own.client),
                version: libs.version.clone(),
                security: security.map(|s| s.security_for(super::KafkaUser::Admin)),
            },
            node_id,
            listener: SocketAddr::from((own.host, own.client)),
        })
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

    /// Starts the stopped broker again on its ports and data (does nothing while it runs) and
    /// returns once a metadata request to `bootstrap` (the cluster's, or its own) lists it,
    /// without blocking the thread.
    pub async fn start_again(&mut self, bootstrap: &str) -> Result<()> {
        if self.running() {
            return Ok(());
        }
        let name = self.name().to_owned();
        self.come_back(bootstrap, &name).await
    }

    /// Starts the broker again on the same ports and data after a
    /// [`stop`](ManagedServer::stop) (or stops it first); returns once its own metadata lists
    /// it. Blocks the thread: in a runtime, see [`start_again`](Self::start_again).
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        let bootstrap = self.endpoint.bootstrap.clone();
        server::block_on(self.come_back(&bootstrap, "kafka"))
    }

    /// Starts the broker's JVM and waits until a metadata request to `bootstrap` lists it
    /// (`name` names it in the error when it does not).
    async fn come_back(&mut self, bootstrap: &str, name: &str) -> Result<()> {
        let started = Instant::now();
        self.server.spawn()?;
        let readiness = Readiness::new(name, started, START_TIMEOUT, "port not open yet");
        let cluster = KafkaEndpoint {
            bootstrap: bootstrap.to_owned(),
            ..self.endpoint.clone()
        };
        wait_listed(std::slice::from_mut(self), &cluster, readiness).await?;
        tracing::info!(name = %self.name(), ms = started.elapsed().as_millis() as u64, "kafka broker back");
        Ok(())
    }
}

server::managed_server!(NativeKafka);

/// Writes every node's configuration and formats its storage: a JVM per node, in parallel
/// (they take a second or two).
fn prepare_nodes(
    parent: &Path,
    java: &Path,
    libs: &crate::layout::KafkaLibs,
    ports: &[KafkaPorts],
    cluster_id: &str,
    security: Option<&super::SecuredKafka>,
) -> Result<Vec<NativeKafka>> {
    let formatted: Vec<Result<NativeKafka>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (1..=ports.len() as u32)
            .map(|node_id| {
                scope.spawn(move || {
                    NativeKafka::prepare(parent, java, libs, node_id, ports, cluster_id, security)
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
    formatted.into_iter().collect()
}

/// Formats a node's storage, as KRaft needs before the first start: a single node as a
/// standalone (dynamic) quorum, a cluster with the static voters of its properties.
fn format_storage(
    java: &Path,
    jvm_common: &[String],
    properties: &Path,
    cluster_id: &str,
    standalone: bool,
    users: &[String],
    format_log: &Path,
) -> Result<()> {
    let mut format_args = vec!["-Xmx256m".to_owned(), "-XX:TieredStopAtLevel=1".to_owned()];
    format_args.extend(jvm_common.iter().cloned());
    format_args.extend(["kafka.tools.StorageTool", "format"].map(str::to_owned));
    if standalone {
        format_args.push("--standalone".to_owned());
    }
    format_args.extend(["-t", cluster_id, "-c"].map(str::to_owned));
    format_args.push(properties.display().to_string());
    format_args.extend(users.iter().cloned());
    let status = std::process::Command::new(java)
        .args(&format_args)
        .stdout(std::fs::File::create(format_log).map_err(|e| Error::io("create format log", e))?)
        .stderr(std::process::Stdio::null())
        .status()
        .map_err(|e| Error::io("run kafka StorageTool", e))?;
    if !status.success() {
        return Err(Error::ServerExited {
            name: "kafka storage format".into(),
            status: status.to_string(),
            log_tail: crate::process::tail_of(format_log, 20),
        });
    }
    Ok(())
}

/// The broker's JVM command line.
fn broker_args(jvm_common: [String; 4], properties: &Path) -> Vec<String> {
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
    args
}

/// Waits until `nodes` run and a metadata request to `bootstrap` lists every one of them.
async fn wait_listed(
    nodes: &mut [NativeKafka],
    cluster: &KafkaEndpoint,
    readiness: Readiness<'_>,
) -> Result<()> {
    let listeners: Vec<SocketAddr> = nodes.iter().map(|n| n.listener).collect();
    let ids: Vec<i32> = nodes.iter().map(|n| n.node_id as i32).collect();
    let mut servers: Vec<&mut ManagedServer> = nodes.iter_mut().map(|n| &mut n.server).collect();
    server::wait_until_ready(&mut servers, readiness, || {
        let open = listeners.iter().all(port_open);
        let (cluster, ids) = (cluster.clone(), ids.clone());
        async move {
            if !open {
                return Ok(Probe::NotYet(None));
            }
            let listed = crate::blocking("kafka probe", move || {
                kafka_admin::broker_ids(&cluster, Duration::from_secs(5))
            })
            .await?;
            Ok(match listed {
                Ok(listed) if ids.iter().all(|id| listed.contains(id)) => Probe::Ready(()),
                Ok(listed) => Probe::NotYet(Some(format!("metadata lists brokers {listed:?}"))),
                Err(e) => Probe::NotYet(Some(e.to_string())),
            })
        }
    })
    .await
}

fn port_open(listener: &SocketAddr) -> bool {
    TcpStream::connect_timeout(listener, Duration::from_millis(200)).is_ok()
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

/// Extra broker settings, for experiments: `EVBENCH_KAFKA_PROPERTIES`, `key=value` pairs
/// separated by `;` or newlines, appended to `text` (later lines win).
fn push_extra_properties(text: &mut String) {
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
}

fn server_properties(
    dir: &Path,
    node_id: u32,
    all: &[KafkaPorts],
    security: Option<&super::SecuredKafka>,
) -> String {
    let data = dir.join("data");
    let own = all[node_id as usize - 1];
    let (host, port, controller_port) = (own.host, own.client, own.controller);
    let brokers = all.len();
    // A single node is its own quorum (formatted `--standalone`); a cluster names its voters.
    let quorum = if brokers == 1 {
        format!("controller.quorum.bootstrap.servers={host}:{controller_port}")
    } else {
        let voters: Vec<String> = all
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{}@{}:{}", i + 1, p.host, p.controller))
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
    let listeners = match security {
        Some(secured) => secured.server_properties(host, port, controller_port),
        None => format!(
            "listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}
advertised.listeners=PLAINTEXT://{host}:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
"
        ),
    };
    format!(
        "# Generated by evbench's native provider: {kind} at {host}.
process.roles=broker,controller
node.id={node_id}
{listeners}{quorum}
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

/// The broker's own loggers (beside the root logger at `INFO`).
const KAFKA_LOGGERS: &[(&str, &str, &str)] = &[
    ("kafka", "kafka", "INFO"),
    ("state", "state.change.logger", "WARN"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_kafka_version_matches_ci_pom() {
        crate::assert_pom_pins("ci/kafka/pom.xml", "kafka.version", KAFKA_VERSION);
    }

    /// `ci/kafka/pom.xml` is the one place the release is chosen; the files that cannot read
    /// it from there must name the same one.
    #[test]
    fn every_other_pin_of_kafka_names_the_same_release() {
        crate::assert_pom_pins("engines/pom.xml", "kafka.version", KAFKA_VERSION);
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let compose = std::fs::read_to_string(root.join("docker-compose.yml")).unwrap();
        let images: Vec<&str> = compose
            .lines()
            .filter_map(|line| line.trim().strip_prefix("image: apache/kafka:"))
            .collect();
        assert!(
            !images.is_empty(),
            "docker-compose.yml runs no apache/kafka"
        );
        assert!(
            images.iter().all(|tag| *tag == KAFKA_VERSION),
            "docker-compose.yml runs apache/kafka:{images:?}, the pin is {KAFKA_VERSION}"
        );
        let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
        assert!(
            readme.contains(&format!("the Kafka {KAFKA_VERSION} and")),
            "README.md's set-up paragraph names another Kafka than {KAFKA_VERSION}"
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
