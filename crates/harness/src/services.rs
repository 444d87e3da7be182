//! One interface over the three providers, and the nodes of a native cluster.

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use endpoints::{ClickHouseEndpoint, KafkaEndpoint, Secret};

use crate::native::{ClickHousePorts, ClusterRole};
use crate::server::{Probe, Readiness};
use crate::topology::{NodeRef, Topology, TopologyError};
use crate::zookeeper::NativeZooKeeper;
use crate::{Error, NativeClickHouse, NativeKafka, Result, docker, external};

/// Where the servers come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Started here from the machine's installs (Kafka jars from `ci/setup`, `clickhouse-server`).
    #[default]
    Native,
    /// Containers (`apache/kafka`, `clickhouse/clickhouse-server`) where a Docker engine answers.
    Docker,
    /// A cluster the user runs: `EVBENCH_KAFKA_BOOTSTRAP`, `EVBENCH_CLICKHOUSE_URL`,
    /// `EVBENCH_CLICKHOUSE_USER`, `EVBENCH_CLICKHOUSE_PASSWORD`.
    External,
}

impl ProviderKind {
    /// The provider's name as written in scenarios and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Native => "native",
            ProviderKind::Docker => "docker",
            ProviderKind::External => "external",
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A provider name that is none of `native`, `docker`, `external`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown provider {0:?} (expected native, docker or external)")]
pub struct UnknownProvider(pub String);

impl FromStr for ProviderKind {
    type Err = UnknownProvider;
    fn from_str(s: &str) -> Result<Self, UnknownProvider> {
        match s {
            "native" => Ok(ProviderKind::Native),
            "docker" => Ok(ProviderKind::Docker),
            "external" => Ok(ProviderKind::External),
            other => Err(UnknownProvider(other.to_owned())),
        }
    }
}

/// Running Kafka and ClickHouse. Dropping it stops what the provider started.
///
/// With the native provider the services may be clusters ([`Services::start_topology`]):
/// several brokers, ClickHouse shards and replicas with a ZooKeeper. Every server is then a
/// [`NodeRef`] that fault injection can stop and start again ([`Services::stop_node`],
/// [`Services::start_node`]).
#[derive(Debug)]
pub struct Services {
    pub provider: ProviderKind,
    /// The brokers: `bootstrap` lists every one of a cluster.
    pub kafka: KafkaEndpoint,
    /// The ClickHouse server clients talk to first; for a cluster, with its name and the other
    /// servers as failover (every server answers for the whole cluster).
    pub clickhouse: ClickHouseEndpoint,
    /// How many servers of each kind there are.
    pub topology: Topology,
    /// Where native servers keep their data (`None` for the other providers).
    pub storage: Option<crate::storage::StorageInfo>,
    backend: Backend,
}

#[derive(Debug)]
enum Backend {
    // Boxed: the servers' handles are large, the external backend holds nothing.
    Native(Box<NativeCluster>),
    /// The containers are removed when this drops.
    Docker {
        _containers: Box<docker::DockerServices>,
    },
    External,
}

/// The native servers. Drop order matters: ClickHouse before Kafka (its Kafka engine tables
/// stall its shutdown once the broker is gone) and before ZooKeeper.
#[derive(Debug)]
struct NativeCluster {
    /// Shard by shard, replica by replica.
    clickhouse: Vec<NativeClickHouse>,
    /// By node id.
    kafka: Vec<NativeKafka>,
    zookeeper: Option<NativeZooKeeper>,
    bootstrap: String,
    topology: Topology,
    /// The jars the brokers run (their tools too).
    kafka_libs: std::path::PathBuf,
    /// A secured Kafka's users and TLS files, and the directory holding them (removed with it).
    security: Option<crate::SecuredKafka>,
    _security_dir: Option<tempfile::TempDir>,
    /// The run's network when the brokers have their own addresses. Last: removed once every
    /// server is down.
    network: Option<crate::netns::RunNetwork>,
}

impl Drop for NativeCluster {
    fn drop(&mut self) {
        // Each kind all at once: servers of a cluster stopped one by one wait for the others.
        let mut clickhouse: Vec<_> = self
            .clickhouse
            .iter_mut()
            .filter_map(|server| server.take_process())
            .collect();
        crate::process::stop_all(&mut clickhouse);
        let mut kafka: Vec<_> = self
            .kafka
            .iter_mut()
            .filter_map(|broker| broker.take_process())
            .collect();
        crate::process::stop_all(&mut kafka);
        if let Some(zookeeper) = &mut self.zookeeper {
            zookeeper.stop();
        }
    }
}

impl Services {
    /// Starts (or, for `external`, connects to) Kafka and ClickHouse and waits until both answer.
    /// Native servers keep their data under [`crate::storage::services_dir`].
    pub async fn start(provider: ProviderKind) -> Result<Services> {
        Services::start_in(provider, &crate::storage::services_dir()).await
    }

    /// [`Services::start`] with the native servers' data under `services_dir`.
    pub async fn start_in(provider: ProviderKind, services_dir: &Path) -> Result<Services> {
        Services::start_topology(provider, services_dir, &Topology::single()).await
    }

    /// Starts the services in the shape `topology` gives, with the native servers' data under
    /// `services_dir`:
    /// * native: a KRaft cluster of `kafka_brokers` nodes; with more than one ClickHouse server,
    ///   a ZooKeeper first (a server with replicated tables refuses to start without it), then
    ///   the `shards × replicas` servers of the cluster [`crate::CLICKHOUSE_CLUSTER`]
    ///   (`remote_servers`, macros `{shard}`, `{replica}`, `{cluster}`, distributed DDL), all at
    ///   once. Each on free loopback ports, in its own directory and process group.
    /// * external: the user's servers (`EVBENCH_KAFKA_BOOTSTRAP`, `EVBENCH_CLICKHOUSE_URL`, a
    ///   comma-separated list for a cluster, `EVBENCH_CLICKHOUSE_CLUSTER`), checked against the
    ///   topology: at least as many brokers, the cluster's shards and replicas.
    /// * docker: single nodes only.
    pub async fn start_topology(
        provider: ProviderKind,
        services_dir: &Path,
        topology: &Topology,
    ) -> Result<Services> {
        Services::start_with(provider, services_dir, topology, None).await
    }

    /// [`Services::start_topology`] running Kafka release `kafka_version` (its jars in
    /// `ci/setup`'s cache: [`crate::layout::kafka_libs_of_version`]) instead of the jars found
    /// on the machine. Only the native provider runs a release of evbench's choosing: the others
    /// refuse a version.
    pub async fn start_with(
        provider: ProviderKind,
        services_dir: &Path,
        topology: &Topology,
        kafka_version: Option<&str>,
    ) -> Result<Services> {
        Services::start_placed(
            provider,
            services_dir,
            topology,
            kafka_version,
            false,
            false,
        )
        .await
    }

    /// [`Services::start_with`]; with `own_addresses`, each native server (broker, ClickHouse
    /// server, ZooKeeper) runs in a network namespace of its own on the run's network
    /// ([`crate::netns`]: root on Linux only; names: [`network_node_names`]), so that network
    /// faults can cut it off ([`Services::network_mut`]).
    pub async fn start_placed(
        provider: ProviderKind,
        services_dir: &Path,
        topology: &Topology,
        kafka_version: Option<&str>,
        own_addresses: bool,
        secured: bool,
    ) -> Result<Services> {
        topology.validate()?;
        if secured && provider != ProviderKind::Native {
            return Err(Error::SecurityNotNative {
                provider: provider.as_str(),
            });
        }
        if own_addresses && provider != ProviderKind::Native {
            return Err(Error::NetworkUnavailable(format!(
                "the {} provider's servers are not evbench's to place on a network",
                provider.as_str()
            )));
        }
        if own_addresses {
            crate::netns::availability().map_err(Error::NetworkUnavailable)?;
        }
        if let (Some(version), ProviderKind::Docker | ProviderKind::External) =
            (kafka_version, provider)
        {
            return Err(Error::KafkaVersionNotNative {
                version: version.to_owned(),
                provider: provider.as_str(),
            });
        }
        match provider {
            ProviderKind::Native => {
                std::fs::create_dir_all(services_dir).map_err(|e| {
                    crate::Error::io(format!("create {}", services_dir.display()), e)
                })?;
                let libs = match kafka_version {
                    Some(version) => crate::layout::kafka_libs_of_version(version)?,
                    None => crate::layout::find_kafka_libs()?,
                };
                let network = if own_addresses {
                    let names = network_node_names(topology);
                    let making = crate::blocking("the run's network", move || {
                        let names: Vec<&str> = names.iter().map(String::as_str).collect();
                        crate::netns::RunNetwork::create(&names)
                    });
                    Some(making.await??)
                } else {
                    None
                };
                let cluster = start_native(services_dir, topology, &libs, network, secured).await?;
                let kafka = KafkaEndpoint {
                    bootstrap: cluster.bootstrap.clone(),
                    version: libs.version.clone(),
                    security: cluster
                        .security
                        .as_ref()
                        .map(|s| s.security_for(crate::KafkaUser::Admin)),
                };
                let mut clickhouse = cluster.clickhouse[0].endpoint().clone();
                clickhouse.failover = cluster.clickhouse[1..]
                    .iter()
                    .map(|c| c.endpoint().url.clone())
                    .collect();
                Ok(Services {
                    provider,
                    kafka,
                    clickhouse,
                    topology: *topology,
                    storage: Some(crate::storage::describe(services_dir)),
                    backend: Backend::Native(Box::new(cluster)),
                })
            }
            ProviderKind::Docker => {
                if topology.is_cluster() {
                    return Err(TopologyError::DockerSingleNodes(*topology).into());
                }
                let containers = docker::start().await?;
                Ok(Services {
                    provider,
                    kafka: containers.kafka.clone(),
                    clickhouse: containers.clickhouse.clone(),
                    topology: *topology,
                    storage: None,
                    backend: Backend::Docker {
                        _containers: Box::new(containers),
                    },
                })
            }
            ProviderKind::External => {
                let (kafka, clickhouse, found) = external::connect(topology).await?;
                Ok(Services {
                    provider,
                    kafka,
                    clickhouse,
                    topology: found,
                    storage: None,
                    backend: Backend::External,
                })
            }
        }
    }

    /// The Kafka jars whose tools (`EndToEndLatency`, …) go with these brokers: those the
    /// native brokers run, else the ones found on this machine ([`crate::kafka_libs_dir`]).
    pub fn kafka_tools_dir(&self) -> std::path::PathBuf {
        match self.native() {
            Some(cluster) => cluster.kafka_libs.clone(),
            None => crate::kafka_libs_dir(),
        }
    }

    /// The native protocol's address of the native ClickHouse server clients talk to first
    /// (`clickhouse-client --host --port`); `None` for the other providers.
    pub fn clickhouse_tcp_address(&self) -> Option<std::net::SocketAddr> {
        self.native()
            .and_then(|c| c.clickhouse.first())
            .map(NativeClickHouse::tcp_address)
    }

    /// A secured Kafka's users and TLS files (`None`: plaintext).
    pub fn kafka_security(&self) -> Option<&crate::SecuredKafka> {
        self.native().and_then(|c| c.security.as_ref())
    }

    /// How `user` reaches Kafka: its own login on a secured cluster, else the cluster's
    /// endpoint as it is.
    pub fn kafka_for(&self, user: crate::KafkaUser) -> KafkaEndpoint {
        match self.kafka_security() {
            Some(secured) => KafkaEndpoint {
                security: Some(secured.security_for(user)),
                ..self.kafka.clone()
            },
            None => self.kafka.clone(),
        }
    }

    /// On a secured Kafka, grants each part of the pipeline what it does with `names`
    /// ([`crate::grants`]), as the admin; nothing on a plaintext one.
    pub async fn grant_kafka(&self, names: &crate::PipelineNames) -> Result<()> {
        let (Some(secured), Some(cluster)) = (self.kafka_security(), self.native()) else {
            return Ok(());
        };
        let (libs, secured, bootstrap, grants) = (
            cluster.kafka_libs.clone(),
            secured.clone(),
            self.kafka.bootstrap.clone(),
            crate::grants(names),
        );
        let log = secured.admin_properties().with_file_name("acl.log");
        crate::blocking("kafka ACLs", move || {
            secured.grant(&libs, &bootstrap, &grants, &log)
        })
        .await?
    }

    /// The run's network, when the servers have their own addresses.
    pub fn network(&self) -> Option<&crate::netns::RunNetwork> {
        self.native().and_then(|c| c.network.as_ref())
    }

    /// Where the pipeline's process `name` (`aggregator-0`, `sink-1`) is to run: a namespace of
    /// its own on the run's network when the servers have their own addresses (made now), else
    /// `None` (the machine's own network).
    pub fn place(&mut self, name: &str) -> Result<Option<crate::Placement>> {
        let Some(network) = self.network_mut() else {
            return Ok(None);
        };
        let node = network.add_node(name)?;
        Ok(Some(crate::Placement {
            host: node.address,
            namespace: Some(node.namespace),
        }))
    }

    /// The run's network, to cut or slow its links.
    pub fn network_mut(&mut self) -> Option<&mut crate::netns::RunNetwork> {
        match &mut self.backend {
            Backend::Native(cluster) => cluster.network.as_mut(),
            _ => None,
        }
    }

    fn native(&self) -> Option<&NativeCluster> {
        match &self.backend {
            Backend::Native(cluster) => Some(cluster),
            Backend::Docker { .. } | Backend::External => None,
        }
    }

    fn native_mut(&mut self) -> Option<&mut NativeCluster> {
        match &mut self.backend {
            Backend::Native(cluster) => Some(cluster),
            Backend::Docker { .. } | Backend::External => None,
        }
    }

    /// The native ClickHouse server (the first of a cluster), for fault injection (stop,
    /// restart) and extra users.
    pub fn native_clickhouse(&mut self) -> Option<&mut NativeClickHouse> {
        self.native_mut().and_then(|c| c.clickhouse.first_mut())
    }

    /// Every native ClickHouse server, shard by shard (empty for the other providers): files
    /// such as the pipeline's users go to each.
    pub fn native_clickhouse_servers(&mut self) -> &mut [NativeClickHouse] {
        match self.native_mut() {
            Some(cluster) => &mut cluster.clickhouse,
            None => &mut [],
        }
    }

    /// The native Kafka broker (the first of a cluster), for its directory and process group.
    pub fn native_kafka(&mut self) -> Option<&mut NativeKafka> {
        self.native_mut().and_then(|c| c.kafka.first_mut())
    }

    /// Every server the native provider started, in start order (empty for the others).
    pub fn nodes(&self) -> Vec<NodeRef> {
        match self.native() {
            Some(cluster) => cluster.topology.nodes(),
            None => Vec::new(),
        }
    }

    /// Each native server's name for resource accounts and its process group while it runs:
    /// `kafka` and `clickhouse` for single nodes, the [`NodeRef::name`]s in a cluster. A server
    /// that was restarted has a new process group.
    pub fn process_groups(&self) -> Vec<(String, u32)> {
        let Some(cluster) = self.native() else {
            return Vec::new();
        };
        let mut groups = Vec::new();
        if let Some(pgid) = cluster.zookeeper.as_ref().and_then(|z| z.pgid()) {
            groups.push(("zookeeper".to_owned(), pgid));
        }
        for server in &cluster.clickhouse {
            if let Some(pgid) = server.pgid() {
                groups.push((server.name().to_owned(), pgid));
            }
        }
        for broker in &cluster.kafka {
            if let Some(pgid) = broker.pgid() {
                groups.push((broker.name().to_owned(), pgid));
            }
        }
        groups
    }

    fn check_node(&self, node: &NodeRef) -> Result<()> {
        if self.native().is_none() {
            return Err(Error::NotManaged {
                node: *node,
                provider: self.provider,
            });
        }
        if !self.topology.contains(node) {
            return Err(Error::NoSuchNode {
                node: *node,
                topology: self.topology,
            });
        }
        Ok(())
    }

    /// Whether `node` runs (it was not stopped, or was started again).
    pub fn node_running(&self, node: &NodeRef) -> Result<bool> {
        self.check_node(node)?;
        let cluster = self.native().expect("checked");
        Ok(match *node {
            NodeRef::KafkaBroker(id) => cluster.kafka[id as usize - 1].running(),
            NodeRef::ClickHouseReplica { shard, replica } => {
                cluster.clickhouse[self.topology.clickhouse_index(shard, replica)].running()
            }
            NodeRef::ZooKeeper => cluster.zookeeper.as_ref().is_some_and(|z| z.running()),
        })
    }

    /// The process group of `node` while it runs (a restart gives it a new one).
    pub fn node_pgid(&self, node: &NodeRef) -> Option<u32> {
        self.check_node(node).ok()?;
        let cluster = self.native()?;
        match *node {
            NodeRef::KafkaBroker(id) => cluster.kafka.get(id as usize - 1)?.pgid(),
            NodeRef::ClickHouseReplica { shard, replica } => cluster
                .clickhouse
                .get(self.topology.clickhouse_index(shard, replica))?
                .pgid(),
            NodeRef::ZooKeeper => cluster.zookeeper.as_ref()?.pgid(),
        }
    }

    /// Where `node` keeps its configuration, data and logs.
    pub fn node_dir(&self, node: &NodeRef) -> Option<&Path> {
        self.check_node(node).ok()?;
        let cluster = self.native()?;
        match *node {
            NodeRef::KafkaBroker(id) => Some(cluster.kafka.get(id as usize - 1)?.dir()),
            NodeRef::ClickHouseReplica { shard, replica } => Some(
                cluster
                    .clickhouse
                    .get(self.topology.clickhouse_index(shard, replica))?
                    .dir(),
            ),
            NodeRef::ZooKeeper => Some(cluster.zookeeper.as_ref()?.dir()),
        }
    }

    /// The endpoint of one ClickHouse server alone (no failover), e.g. to look at a replica's
    /// local tables.
    pub fn clickhouse_server(&self, shard: u32, replica: u32) -> Option<&ClickHouseEndpoint> {
        let node = NodeRef::ClickHouseReplica { shard, replica };
        self.check_node(&node).ok()?;
        self.native()?
            .clickhouse
            .get(self.topology.clickhouse_index(shard, replica))
            .map(NativeClickHouse::endpoint)
    }

    /// Stops `node` cleanly (SIGTERM: a broker's controlled shutdown, ClickHouse's and
    /// ZooKeeper's own), keeping its data and ports for [`start_node`](Self::start_node).
    /// Stopping a stopped node does nothing. Returns once its processes are gone (a broker may
    /// take some seconds to hand its partitions over).
    ///
    /// What the rest of the cluster does meanwhile is the point of the fault: with one broker
    /// of three down, topics of 3 replicas with `min.insync.replicas=2` still take `acks=all`
    /// writes; with one replica of a shard down, inserts and reads through the `Distributed`
    /// tables go to the other; with ZooKeeper down, replicated tables are read-only (inserts
    /// fail, reads work).
    pub async fn stop_node(&mut self, node: &NodeRef) -> Result<()> {
        self.check_node(node)?;
        let index = self.index_of(node);
        let cluster = self.native_mut().expect("checked");
        match node {
            NodeRef::KafkaBroker(_) => cluster.kafka[index].stop_async().await,
            NodeRef::ClickHouseReplica { .. } => cluster.clickhouse[index].stop_async().await,
            NodeRef::ZooKeeper => {
                if let Some(zookeeper) = &mut cluster.zookeeper {
                    zookeeper.stop_async().await;
                }
            }
        }
        tracing::info!(%node, "node stopped");
        Ok(())
    }

    /// Kills `node` at once (SIGKILL), as a crash or a power cut would;
    /// [`start_node`](Self::start_node) brings it back (Kafka and ClickHouse recover their data).
    pub fn kill_node(&mut self, node: &NodeRef) -> Result<()> {
        self.check_node(node)?;
        let index = self.index_of(node);
        let cluster = self.native_mut().expect("checked");
        match node {
            NodeRef::KafkaBroker(_) => cluster.kafka[index].kill(),
            NodeRef::ClickHouseReplica { .. } => cluster.clickhouse[index].kill(),
            NodeRef::ZooKeeper => {
                if let Some(zookeeper) = &mut cluster.zookeeper {
                    zookeeper.kill();
                }
            }
        }
        tracing::info!(%node, "node killed");
        Ok(())
    }

    /// Starts a stopped (or killed) `node` again on its ports and data, respecting the start
    /// order, and returns once it serves:
    /// * a broker: once the cluster's metadata lists it again (it then catches up on the
    ///   partitions it missed: [`endpoints::kafka_admin::under_replicated`] says when);
    /// * a ClickHouse server: only while ZooKeeper runs (a server with replicated tables refuses
    ///   to start without it: [`Error::StartOrder`]); once it answers queries (it then fetches
    ///   the parts it missed from the other replica: [`sync_replicas`](Self::sync_replicas)
    ///   waits for that);
    /// * ZooKeeper: once it answers and every running ClickHouse server has its session back
    ///   (its replicated tables are writable again, which takes some seconds).
    ///
    /// Starting a running node does nothing.
    pub async fn start_node(&mut self, node: &NodeRef) -> Result<()> {
        self.check_node(node)?;
        let index = self.index_of(node);
        let cluster = self.native_mut().expect("checked");
        let bootstrap = cluster.bootstrap.clone();
        match node {
            NodeRef::KafkaBroker(_) => cluster.kafka[index].start_again(&bootstrap).await?,
            NodeRef::ClickHouseReplica { .. } => {
                if cluster.clickhouse[index].running() {
                    return Ok(());
                }
                if cluster.zookeeper.as_ref().is_some_and(|z| !z.running()) {
                    return Err(Error::StartOrder(*node));
                }
                cluster.clickhouse[index].restart().await?;
            }
            NodeRef::ZooKeeper => {
                let Some(zookeeper) = cluster.zookeeper.as_mut() else {
                    return Ok(());
                };
                if zookeeper.running() {
                    return Ok(());
                }
                zookeeper.restart().await?;
                for server in cluster.clickhouse.iter().filter(|s| s.running()) {
                    wait_for_coordination(server.endpoint()).await?;
                }
            }
        }
        tracing::info!(%node, "node started");
        Ok(())
    }

    fn index_of(&self, node: &NodeRef) -> usize {
        match *node {
            NodeRef::KafkaBroker(id) => id as usize - 1,
            NodeRef::ClickHouseReplica { shard, replica } => {
                self.topology.clickhouse_index(shard, replica)
            }
            NodeRef::ZooKeeper => 0,
        }
    }

    /// Waits until every running ClickHouse replica has fetched what its shard's other
    /// replicas hold (`SYSTEM SYNC REPLICA` of each replicated table), so that reads through
    /// the `Distributed` tables are the same whichever replica answers. Does nothing on a
    /// single server. Fails after `timeout` (a replica that waits for parts only a stopped
    /// replica has never catches up).
    pub async fn sync_replicas(&self, timeout: Duration) -> Result<()> {
        let servers: Vec<ClickHouseEndpoint> = match self.native() {
            Some(cluster) if self.topology.clickhouse_cluster() => cluster
                .clickhouse
                .iter()
                .filter(|s| s.running())
                .map(|s| s.endpoint().clone())
                .collect(),
            Some(_) => return Ok(()),
            None if self.clickhouse.cluster.is_some() => self
                .clickhouse
                .urls()
                .into_iter()
                .map(|url| ClickHouseEndpoint {
                    url,
                    failover: Vec::new(),
                    ..self.clickhouse.clone()
                })
                .collect(),
            None => return Ok(()),
        };
        let sync = async {
            for server in &servers {
                endpoints::clickhouse_admin::sync_replicas(&server.client()).await?;
            }
            Ok::<(), Error>(())
        };
        tokio::time::timeout(timeout, sync)
            .await
            .map_err(|_| Error::ReplicasBehind {
                waited_s: timeout.as_secs(),
            })?
    }

    /// Stops what the provider started (also done on drop).
    pub fn stop(self) {}
}

/// Starts the native servers of `topology`: Kafka's JVMs beside ZooKeeper and ClickHouse,
/// ZooKeeper before ClickHouse.
/// The names of the brokers (their servers' and their network nodes'): `kafka` alone,
/// `kafka-<node id>` in a cluster.
fn kafka_node_names(brokers: u32) -> Vec<String> {
    if brokers <= 1 {
        vec!["kafka".to_owned()]
    } else {
        (1..=brokers).map(|id| format!("kafka-{id}")).collect()
    }
}

/// Every server's name on the run's network: the brokers, the ClickHouse servers
/// (`clickhouse`, or `clickhouse-s<shard>r<replica>`), and `zookeeper` for a ClickHouse
/// cluster. The same names the servers' processes and logs have.
pub fn network_node_names(topology: &Topology) -> Vec<String> {
    let mut names = kafka_node_names(topology.kafka_brokers);
    if topology.clickhouse_cluster() {
        for shard in 1..=topology.clickhouse_shards {
            for replica in 1..=topology.clickhouse_replicas {
                names.push(format!("clickhouse-s{shard}r{replica}"));
            }
        }
        names.push("zookeeper".to_owned());
    } else {
        names.push("clickhouse".to_owned());
    }
    names
}

/// The name on the run's network of the server `node` names.
pub fn network_node_name(node: &NodeRef, topology: &Topology) -> String {
    match node {
        NodeRef::KafkaBroker(_) if topology.kafka_brokers <= 1 => "kafka".to_owned(),
        NodeRef::ClickHouseReplica { .. } if !topology.clickhouse_cluster() => {
            "clickhouse".to_owned()
        }
        _ => node.name(),
    }
}

/// Where the server `name` runs: its namespace on `network`, or loopback without one.
fn placement_of(
    network: Option<&crate::netns::RunNetwork>,
    name: &str,
) -> Result<crate::Placement> {
    match network {
        Some(network) => crate::Placement::on(network, name),
        None => Ok(crate::Placement::loopback()),
    }
}

async fn start_native(
    services_dir: &Path,
    topology: &Topology,
    libs: &crate::layout::KafkaLibs,
    network: Option<crate::netns::RunNetwork>,
    secured: bool,
) -> Result<NativeCluster> {
    let kafka_dir = services_dir.to_path_buf();
    let placements = kafka_node_names(topology.kafka_brokers)
        .iter()
        .map(|name| placement_of(network.as_ref(), name))
        .collect::<Result<Vec<_>>>()?;
    let (security, security_dir) = if secured {
        // One server certificate for the run: every broker's address, ClickHouse's (a secured
        // run has one ClickHouse server), and the host's on the run's network (where a
        // `latency` fault's proxy stands in for ClickHouse).
        let addresses: Vec<std::net::Ipv4Addr> = placements
            .iter()
            .map(|p| p.host)
            .chain([placement_of(network.as_ref(), "clickhouse")?.host])
            .chain(network.as_ref().map(|n| n.host_address()))
            .collect();
        let dir =
            crate::ManagedServer::create_dir(services_dir, "kafka-security", "Kafka's security")?;
        (
            Some(crate::SecuredKafka::create(dir.path(), &addresses)?),
            Some(dir),
        )
    } else {
        (None, None)
    };
    let found = libs.clone();
    let secured_kafka = security.clone();
    // Started at once, awaited at the end.
    let kafka = crate::blocking("kafka start-up", move || {
        NativeKafka::start_cluster_secured(&found, &kafka_dir, &placements, secured_kafka.as_ref())
    });
    let (zookeeper, clickhouse) = if topology.clickhouse_cluster() {
        let zk_dir = services_dir.to_path_buf();
        let place = placement_of(network.as_ref(), "zookeeper")?;
        let zookeeper = crate::blocking("zookeeper start-up", move || {
            NativeZooKeeper::start_placed(&zk_dir, &place)
        })
        .await??;
        let servers = start_clickhouse_cluster(
            services_dir,
            topology,
            zookeeper.address(),
            network.as_ref(),
        )
        .await?;
        (Some(zookeeper), servers)
    } else {
        // ClickHouse starts in well under a second; Kafka's JVM starts beside it. A secured
        // run gives its administrative user a password (its file beside Kafka's users') and
        // speaks HTTPS only, with the run's certificate.
        let place = placement_of(network.as_ref(), "clickhouse")?;
        let admin_password = match (&security, &security_dir) {
            (Some(_), Some(dir)) => {
                let password = crate::native::new_password()?;
                crate::native::write_private(
                    &dir.path().join("clickhouse-admin.password"),
                    &format!("{}\n", password.expose()),
                )?;
                password
            }
            _ => Secret::default(),
        };
        (
            None,
            vec![
                NativeClickHouse::start_secured(
                    services_dir,
                    &place,
                    &admin_password,
                    security.as_ref().map(|s| &s.tls),
                )
                .await?,
            ],
        )
    };
    let kafka = kafka.await??;
    let bootstrap = kafka
        .iter()
        .map(|k| k.endpoint().bootstrap.clone())
        .collect::<Vec<_>>()
        .join(",");
    Ok(NativeCluster {
        clickhouse,
        kafka,
        zookeeper,
        bootstrap,
        topology: *topology,
        kafka_libs: libs.dir.clone(),
        security,
        _security_dir: security_dir,
        network,
    })
}

/// Writes every server's configuration, starts them all, and waits for each.
async fn start_clickhouse_cluster(
    services_dir: &Path,
    topology: &Topology,
    zookeeper: std::net::SocketAddr,
    network: Option<&crate::netns::RunNetwork>,
) -> Result<Vec<NativeClickHouse>> {
    let mut servers_ports = Vec::new();
    let mut placements = Vec::new();
    for shard in 1..=topology.clickhouse_shards {
        let mut replicas = Vec::new();
        for replica in 1..=topology.clickhouse_replicas {
            let place = placement_of(network, &format!("clickhouse-s{shard}r{replica}"))?;
            replicas.push(ClickHousePorts::free_on(place.host)?);
            placements.push(place);
        }
        servers_ports.push(replicas);
    }
    let mut servers = Vec::new();
    for shard in 1..=topology.clickhouse_shards {
        for replica in 1..=topology.clickhouse_replicas {
            let role = ClusterRole {
                shard,
                replica,
                zookeeper,
                servers: servers_ports.clone(),
            };
            let ports = servers_ports[shard as usize - 1][replica as usize - 1];
            servers.push(NativeClickHouse::create(
                services_dir,
                ports,
                Some(&role),
                &Secret::default(),
                None,
            )?);
        }
    }
    for (server, place) in servers.iter_mut().zip(placements) {
        server.place_in(place.namespace);
    }
    for server in &mut servers {
        server.spawn_process()?;
    }
    for server in &mut servers {
        server.wait_ready().await?;
    }
    Ok(servers)
}

/// Waits until `server` reaches ZooKeeper again and none of its replicated tables is
/// read-only.
async fn wait_for_coordination(server: &ClickHouseEndpoint) -> Result<()> {
    let client = &server.client();
    let name = format!("clickhouse at {}", server.url);
    let readiness = Readiness {
        interval: Duration::from_millis(200),
        ..Readiness::new(
            &name,
            Instant::now(),
            Duration::from_secs(90),
            "replicated tables still read-only after ZooKeeper came back",
        )
    };
    crate::server::wait_until_ready(&mut [], readiness, || async move {
        match endpoints::clickhouse_admin::readonly_replicas(client).await {
            Ok(0) => return Ok(Probe::Ready(())),
            Ok(n) => {
                tracing::debug!(url = %server.url, readonly = n, "replicas still read-only")
            }
            Err(e) => tracing::debug!(url = %server.url, error = %e, "no coordination yet"),
        }
        Ok(Probe::NotYet(None))
    })
    .await
}
