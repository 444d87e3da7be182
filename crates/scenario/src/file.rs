//! The scenario file: what to run, how fast, on which services, and what must hold.
//!
//! ```toml
//! name = "quickstart"
//! seed = 42
//!
//! [fleet]
//! chargers = 100
//!
//! [profile]
//! base = "study"                  # every probability and duration range overridable
//!
//! [run]
//! span = "2h"                     # simulated time during which vehicles arrive
//! time_compression = "max"        # 1 = real time, 60 = the study's speed, "max" = unpaced
//! ingestion = "sink"              # or "kafka-engine"
//!
//! [checks]
//! sessions_exact = true
//! ```
//!
//! Every default comes from the component it configures (the sessionizer's, the aggregator
//! runner's, the producer's, the sink's own `Default`), so a scenario, the command line and the
//! library never disagree. `docs/scenarios.md` describes every key.

use std::path::Path;
use std::time::Duration;

use aggregator::SessionizerConfig;
use harness::{ProviderKind, Topology};
use pipeline::SinkConfig;
use pipeline::aggregate::AggregateOptions;
use pipeline::produce::ProduceOptions;
use serde::{Deserialize, Serialize};
use simulator::{Compression, FleetConfig, ProfileSpec};

use crate::{Error, Result};

/// One scenario file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name, used in reports.
    pub name: String,
    /// What the scenario is for, in a sentence.
    #[serde(default)]
    pub description: String,
    /// Seed of every random stream: the same scenario and seed give the same events.
    pub seed: u64,
    pub fleet: Fleet,
    /// The visit profile: a built-in (`base`) with any overrides; `study` when absent.
    #[serde(default)]
    pub profile: ProfileSpec,
    pub run: Run,
    /// The offered load and the warm-up (`[load]`).
    #[serde(default)]
    pub load: Load,
    /// The aggregator under test and how it treats imperfect input.
    #[serde(default)]
    pub aggregator: AggregatorSettings,
    /// evbench's sink (the `sink` ingestion).
    #[serde(default)]
    pub sink: SinkSettings,
    /// How many servers of each kind (`[services.kafka] brokers`, `[services.clickhouse]
    /// shards`, `replicas`); one of each when absent (and then left out of reports).
    #[serde(default, skip_serializing_if = "ServicesSettings::is_default")]
    pub services: ServicesSettings,
    /// What goes wrong during the run (`[[faults]]`; see [`crate::faults`]).
    #[serde(default)]
    pub faults: crate::faults::FaultList,
    #[serde(default)]
    pub checks: Checks,
    /// Keys read under a name that is going away, with what to write instead.
    #[serde(skip)]
    pub deprecations: Vec<String>,
}

/// The charging stations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fleet {
    /// Number of chargers, `charger-1` … `charger-N`.
    pub chargers: u32,
    /// At most this many partitions in `charger-station-signals` (one per charger up to it).
    #[serde(default = "default_max_partitions")]
    pub max_partitions: u32,
    /// Simulated start, RFC 3339; 2026-01-01T00:00:00Z when absent.
    #[serde(default)]
    pub start: Option<String>,
}

fn default_max_partitions() -> u32 {
    ProduceOptions::default().max_partitions
}

/// The shape of the services: `[services.kafka] brokers = 3` starts a KRaft cluster (topics with
/// 3 replicas and `min.insync.replicas = 2`); `[services.clickhouse] shards`, `replicas` a
/// ClickHouse cluster with a ZooKeeper; `[services] network` where they are on the network.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServicesSettings {
    #[serde(default)]
    pub kafka: KafkaServices,
    #[serde(default)]
    pub clickhouse: ClickHouseServices,
    /// `"loopback"` (default): every server on 127.0.0.1. `"own-addresses"`: each server (the
    /// brokers, the ClickHouse servers, ZooKeeper) in a network namespace of its own, on a
    /// private network of the run (198.18.0.0/15), which `partition` and `slow-link` faults cut
    /// or slow. Native provider, root on Linux.
    #[serde(default)]
    pub network: NetworkPlacement,
    /// `"none"` (default): plaintext Kafka open to anyone. `"sasl-ssl"`: the servers as
    /// production clusters run them — TLS, SCRAM-SHA-512 users, ACLs giving each part of the
    /// pipeline only what it does, ClickHouse on HTTPS only (docs/security.md). Native provider,
    /// one ClickHouse server; every engine and ingestion.
    #[serde(default)]
    pub security: SecurityMode,
}

/// How Kafka is secured (`[services] security`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SecurityMode {
    /// Plaintext, no users, no ACLs.
    #[default]
    None,
    /// `SASL_SSL` listeners, SCRAM-SHA-512, the `StandardAuthorizer` and per-part ACLs.
    SaslSsl,
}

impl SecurityMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SecurityMode::None => "none",
            SecurityMode::SaslSsl => "sasl-ssl",
        }
    }
}

/// Where the servers are on the network (`[services] network`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NetworkPlacement {
    /// Every server on the machine's loopback.
    #[default]
    Loopback,
    /// Each server in its own network namespace, on the run's own network.
    OwnAddresses,
}

impl NetworkPlacement {
    pub fn as_str(self) -> &'static str {
        match self {
            NetworkPlacement::Loopback => "loopback",
            NetworkPlacement::OwnAddresses => "own-addresses",
        }
    }
}

/// `[services.kafka]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaServices {
    /// Brokers (each also a KRaft controller); 1 by default.
    #[serde(default = "one")]
    pub brokers: u32,
    /// The Kafka release the native provider runs (`"4.1.1"`: its jars in `ci/setup`'s cache,
    /// fetched with `EVBENCH_KAFKA_VERSIONS=4.1.1 ci/setup`); unset, the pinned release or the
    /// jars found on the machine. The report's `versions.kafka` says which ran.
    #[serde(default)]
    pub version: Option<String>,
}

/// `[services.clickhouse]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClickHouseServices {
    /// Shards; 1 by default.
    #[serde(default = "one")]
    pub shards: u32,
    /// Replicas of each shard; 1 by default.
    #[serde(default = "one")]
    pub replicas: u32,
}

fn one() -> u32 {
    1
}

impl Default for KafkaServices {
    fn default() -> Self {
        KafkaServices {
            brokers: 1,
            version: None,
        }
    }
}

impl Default for ClickHouseServices {
    fn default() -> Self {
        ClickHouseServices {
            shards: 1,
            replicas: 1,
        }
    }
}

impl ServicesSettings {
    /// The harness's topology of these settings.
    pub fn topology(&self) -> Topology {
        Topology {
            kafka_brokers: self.kafka.brokers,
            clickhouse_shards: self.clickhouse.shards,
            clickhouse_replicas: self.clickhouse.replicas,
        }
    }

    /// The names of the nodes on the run's network (`[services] network = "own-addresses"`):
    /// the brokers (`kafka`, or `kafka-1` … in a cluster), the ClickHouse servers
    /// (`clickhouse`, or `clickhouse-s1r1` …), `zookeeper` with a ClickHouse cluster, and
    /// `evbench` itself.
    pub fn network_nodes(&self) -> Vec<String> {
        let mut nodes = harness::network_node_names(&self.topology());
        nodes.push(harness::netns::HOST.to_owned());
        nodes
    }

    /// Every setting its default (left out of the resolved scenario).
    pub fn is_default(&self) -> bool {
        *self == ServicesSettings::default()
    }

    /// One broker and one ClickHouse server (the default).
    pub fn is_single(&self) -> bool {
        !self.topology().is_cluster()
    }
}

/// How the run is played.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Run {
    /// Simulated span during which vehicles arrive (visits under way then complete).
    #[serde(with = "events::human_duration")]
    pub span: Duration,
    /// Simulated time against the wall clock: a factor (`1`, `60`) or `"max"` (unpaced).
    /// Formerly `compression` (still read, with a deprecation warning).
    #[serde(default, alias = "compression")]
    pub time_compression: Compression,
    /// How sessions and raw signals reach ClickHouse.
    #[serde(default)]
    pub ingestion: Ingestion,
    /// Where Kafka and ClickHouse come from.
    #[serde(default)]
    pub provider: ProviderKind,
    /// How long the pipeline may take to drain after the last signal before the run fails.
    #[serde(default = "default_drain_timeout", with = "events::human_duration")]
    pub drain_timeout: Duration,
    /// `compression.type` of the signal producer: `none`, `gzip`, `snappy` or `lz4`.
    #[serde(default = "default_kafka_compression")]
    pub kafka_compression: String,
    /// How long the signal producer waits to fill a batch (`linger.ms`): short for latency,
    /// longer for throughput when many partitions share the load.
    #[serde(default = "default_linger", with = "events::human_duration")]
    pub linger: Duration,
    /// Where native Kafka and ClickHouse keep their data during the run (each in a directory of
    /// its own, removed afterwards). Default: `EVBENCH_SERVICES_DIR`, else the system's temporary
    /// directory. A tmpfs such as `/dev/shm` takes the disk out of the figures; the report's
    /// `environment.services_storage` says what it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services_dir: Option<std::path::PathBuf>,
}

/// The offered load.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Load {
    /// Signals per second on average: the time compression that gives this rate for the fleet
    /// and profile is derived (by counting the simulator's events), so `run.time_compression`
    /// is not set with it. Sweep it to draw latency against offered load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// Sessions completed in this first stretch of the load (wall time) are left out of the
    /// latency figures, so that start-up (connections, JIT, caches) does not count.
    #[serde(default, with = "events::human_duration")]
    pub warmup: Duration,
    /// How often the run asks ClickHouse which sessions became visible (the latency to
    /// ClickHouse), or `"off"`: each poll is a query the server under test answers, so this is
    /// the knob for measuring the observer's own effect (`docs/measurement.md`).
    #[serde(default)]
    pub clickhouse_poll: ClickHousePoll,
    /// After the load, measure the broker's own latency floor on the same broker (Kafka's
    /// `EndToEndLatency`: one record of the signals' mean size at a time, `acks=all`) and report
    /// it beside the pipeline's latency (`floors` in `report.json`).
    #[serde(default)]
    pub floors: bool,
}

/// How often the run polls ClickHouse for newly visible sessions: `"10ms"` (the default) …
/// `"10s"`, or `"off"` (no latency to ClickHouse is measured).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClickHousePoll {
    Every(Duration),
    Off,
}

impl Default for ClickHousePoll {
    fn default() -> Self {
        ClickHousePoll::Every(Duration::from_millis(10))
    }
}

impl ClickHousePoll {
    /// The interval, `None` when off.
    pub fn interval(self) -> Option<Duration> {
        match self {
            ClickHousePoll::Every(every) => Some(every),
            ClickHousePoll::Off => None,
        }
    }
}

impl Serialize for ClickHousePoll {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ClickHousePoll::Every(every) => {
                serializer.collect_str(&humantime::format_duration(*every))
            }
            ClickHousePoll::Off => serializer.serialize_str("off"),
        }
    }
}

impl<'de> Deserialize<'de> for ClickHousePoll {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let text = String::deserialize(deserializer)?;
        if text.trim() == "off" {
            return Ok(ClickHousePoll::Off);
        }
        let every = humantime::parse_duration(text.trim()).map_err(|e| {
            D::Error::custom(format!(
                "invalid clickhouse_poll {text:?} (a duration from \"1ms\" to \"10s\", or \"off\"): {e}"
            ))
        })?;
        if every < Duration::from_millis(1) || every > Duration::from_secs(10) {
            return Err(D::Error::custom(format!(
                "clickhouse_poll {text:?} must be from 1ms to 10s, or \"off\""
            )));
        }
        Ok(ClickHousePoll::Every(every))
    }
}

fn default_linger() -> Duration {
    ProduceOptions::default().linger
}

fn default_drain_timeout() -> Duration {
    Duration::from_secs(120)
}

fn default_kafka_compression() -> String {
    ProduceOptions::default().compression
}

/// The producer codecs this build of librdkafka has.
pub const KAFKA_CODECS: [&str; 4] = ["none", "gzip", "snappy", "lz4"];

/// The ingestion path into ClickHouse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ingestion {
    /// evbench's Rust consumer writing batches with the `clickhouse` crate.
    #[default]
    Sink,
    /// The study's way: ClickHouse Kafka engine tables and materialized views.
    KafkaEngine,
}

impl Ingestion {
    /// The name as written in scenarios.
    pub fn as_str(self) -> &'static str {
        match self {
            Ingestion::Sink => "sink",
            Ingestion::KafkaEngine => "kafka-engine",
        }
    }
}

/// Which aggregator turns signals into sessions between the two topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EngineKind {
    /// evbench's own aggregator (`evbench aggregate`), exactly once.
    #[default]
    Evbench,
    /// Any program the user names in `aggregator.command` (a Flink job, a Kafka Streams app, a
    /// script), told where the topics are through the environment (see `docs/engines.md`).
    Command,
    /// The study's own stack: the Flink job of `engines/flink` in a local MiniCluster
    /// (`docs/flink.md`), exactly once through checkpoints and a transactional Kafka sink.
    Flink,
    /// The Kafka Streams application of `engines/kafka-streams` (`docs/kafka-streams.md`):
    /// `exactly_once_v2`, the chargers' states in a persistent (RocksDB) store.
    KafkaStreams,
}

impl EngineKind {
    /// The name as written in scenarios.
    pub fn as_str(self) -> &'static str {
        match self {
            EngineKind::Evbench => "evbench",
            EngineKind::Command => "command",
            EngineKind::Flink => "flink",
            EngineKind::KafkaStreams => "kafka-streams",
        }
    }
}

/// The aggregator under test and its settings (the overstay grace comes from the profile).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AggregatorSettings {
    /// `evbench`, `command`, `flink` or `kafka-streams`.
    pub engine: EngineKind,
    /// With `engine = "command"`: the program and its arguments.
    pub command: Vec<String>,
    /// Signals out of order by up to this much event time are put back in order.
    #[serde(with = "events::human_duration")]
    pub reorder_tolerance: Duration,
    /// A visit with no signal for this long (event time) is closed and flagged.
    #[serde(with = "events::human_duration")]
    pub inactivity_gap: Duration,
    /// A timestamp further than this ahead of the stream's event time is dead-lettered.
    #[serde(with = "events::human_duration")]
    pub max_clock_skew: Duration,
    /// How often the aggregator commits its transaction (latency against overhead).
    #[serde(with = "events::human_duration")]
    pub commit_interval: Duration,
    /// After this long without input, visits held back for late signals are emitted.
    #[serde(with = "events::human_duration")]
    pub idle_timeout: Duration,
    /// Exactly-once output (transactions, checkpoints); `false`: at least once.
    pub exactly_once: bool,
    /// Partitions of `charging-sessions` and of the dead-letter topic (each transaction writes
    /// a commit marker to every one it touched).
    pub output_partitions: u32,
    /// How long the engine may take to start consuming before the run gives up.
    #[serde(with = "events::human_duration")]
    pub startup_timeout: Duration,
    /// Flink: how often a checkpoint commits the job's output (and so makes it visible).
    #[serde(with = "events::human_duration")]
    pub checkpoint_interval: Duration,
    /// Flink: the parallelism of every operator; Kafka Streams: its stream threads (also told
    /// to `command` engines).
    pub parallelism: u32,
    /// Processes of the engine in one consumer group (`aggregator-0` … `aggregator-<N−1>`),
    /// each told its `EVBENCH_INSTANCE`. The Flink engine scales by `parallelism` instead.
    pub instances: u32,
}

/// The most instances of the aggregator, and of the sink, a scenario may run.
const MAX_INSTANCES: u32 = 16;

impl Default for AggregatorSettings {
    fn default() -> Self {
        let sessionizer = SessionizerConfig::default();
        AggregatorSettings {
            engine: EngineKind::default(),
            command: Vec::new(),
            reorder_tolerance: sessionizer.reorder_tolerance,
            inactivity_gap: sessionizer.inactivity_gap,
            max_clock_skew: sessionizer.max_clock_skew,
            commit_interval: AggregateOptions::default().commit_interval,
            idle_timeout: AggregateOptions::default().idle_timeout,
            exactly_once: AggregateOptions::default().exactly_once,
            output_partitions: AggregateOptions::default().output_partitions,
            startup_timeout: Duration::from_secs(60),
            checkpoint_interval: Duration::from_millis(200),
            parallelism: 2,
            instances: 1,
        }
    }
}

impl AggregatorSettings {
    /// The sessionizer's settings, with the profile's overstay grace.
    pub fn sessionizer(&self, overstay_grace: Duration) -> SessionizerConfig {
        SessionizerConfig {
            overstay_grace,
            reorder_tolerance: self.reorder_tolerance,
            inactivity_gap: self.inactivity_gap,
            max_clock_skew: self.max_clock_skew,
        }
    }
}

/// evbench's sink, for `ingestion = "sink"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SinkSettings {
    /// The longest a row waits in the sink before its batch is written.
    #[serde(with = "events::human_duration")]
    pub batch_period: Duration,
    /// Once the sink has caught up, the least time between two inserts of sessions.
    #[serde(with = "events::human_duration")]
    pub min_insert_interval: Duration,
    /// The same for raw signals (fewer, bigger inserts: nobody waits for them).
    #[serde(with = "events::human_duration")]
    pub signals_min_insert_interval: Duration,
    /// Sink processes in one consumer group (`sink-0` … `sink-<N−1>`).
    pub instances: u32,
}

impl Default for SinkSettings {
    fn default() -> Self {
        let sink = SinkConfig::default();
        SinkSettings {
            batch_period: sink.batch_period,
            min_insert_interval: sink.min_insert_interval,
            signals_min_insert_interval: sink.signals_min_insert_interval,
            instances: 1,
        }
    }
}

/// What must hold for the run to pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Checks {
    /// Every ground-truth session in ClickHouse with the same fields; none missing, extra or twice.
    pub sessions_exact: bool,
    /// Raw signals stored = signals produced.
    pub raw_counts: bool,
    /// KPI queries in ClickHouse = KPIs computed from the ground truth.
    pub kpis: bool,
    /// Minimum end-to-end signal rate (signals per second of wall time), load scenarios only.
    pub min_events_per_s: Option<f64>,
    /// Maximum p99 latency from signal to `charging-sessions`, milliseconds.
    pub max_p99_session_ms: Option<f64>,
    /// Maximum p99 latency from signal to queryable in ClickHouse, milliseconds.
    pub max_p99_clickhouse_ms: Option<f64>,
}

impl Default for Checks {
    fn default() -> Self {
        Checks {
            sessions_exact: true,
            raw_counts: true,
            kpis: true,
            min_events_per_s: None,
            max_p99_session_ms: None,
            max_p99_clickhouse_ms: None,
        }
    }
}

/// Why a scenario is refused: which key or setting, and, where another part found the problem
/// (the profile, the sessionizer, the services' topology, a time), its error as the source.
/// The `Display` of each variant names what is wrong; its source says why.
#[derive(Debug, thiserror::Error)]
pub enum Invalid {
    /// Not a scenario as TOML reads it: syntax, an unknown key, a wrong type (with its line).
    /// toml's own error is kept, not chained: its text (several lines, with a snippet) says
    /// again what `message` says.
    #[error("line {line}: {message} (in `{text}`)")]
    Syntax {
        line: usize,
        message: String,
        /// The line as written.
        text: String,
        /// Boxed: it is large, and every validation result would carry its size.
        toml: Box<toml::de::Error>,
    },
    /// The same, where toml cannot say where.
    #[error("{message}")]
    Unplaced {
        message: String,
        toml: Box<toml::de::Error>,
    },
    /// `load.rate` that no time compression gives.
    #[error("`load.rate`: no time compression gives {rate} signals/s")]
    UnreachableRate {
        rate: f64,
        #[source]
        source: simulator::Error,
    },
    /// A value outside the range its key accepts.
    #[error("`{key}` {rule}")]
    OutOfRange { key: &'static str, rule: String },
    /// `name` is empty.
    #[error("`name` is empty")]
    EmptyName,
    /// `load.rate` and `run.time_compression` both set.
    #[error(
        "set `load.rate` or `run.time_compression`, not both: the rate decides the time compression"
    )]
    RateAndTimeCompression,
    /// A Kafka codec this build does not know.
    #[error("`run.kafka_compression` is {codec:?}; this build knows {known}")]
    UnknownCodec { codec: String, known: String },
    /// `engine = "command"` without a program.
    #[error(
        "`aggregator.engine = \"command\"` needs `aggregator.command`, e.g. [\"python3\", \"my_aggregator.py\"]"
    )]
    CommandMissing,
    /// A program for an engine that runs none.
    #[error("`aggregator.command` is only read with `aggregator.engine = \"command\"`")]
    CommandNotRead,
    /// `[profile]` does not make a profile.
    #[error("[profile]")]
    Profile(#[source] simulator::Error),
    /// The sessionizer's settings do not fit together.
    #[error("[aggregator]")]
    Sessionizer(#[source] aggregator::Error),
    /// `[services]` is not a topology the harness can start.
    #[error("[services]")]
    Services(#[source] harness::TopologyError),
    /// A Kafka release that is no release name, or asked of a provider that runs its own.
    #[error(
        "[services.kafka] version = {version:?}: a release such as \"4.1.1\", for the native provider only (the {provider} provider was asked for)"
    )]
    KafkaVersion {
        version: String,
        provider: ProviderKind,
    },
    /// A cluster asked of the docker provider.
    #[error("[services]: the docker provider starts single nodes only, not {topology}")]
    DockerCluster { topology: String },
    /// An entry of `[[faults]]`, or the list.
    #[error(transparent)]
    Fault(#[from] crate::faults::spec::FaultError),
    /// A fault naming a server the scenario does not start.
    #[error("`{fault}` names {node}, which is not a server of {topology}")]
    NoSuchNode {
        fault: crate::faults::FaultKind,
        node: String,
        topology: String,
    },
    /// A network fault with the servers on loopback.
    #[error(
        "`{0}` faults cut or slow the links between nodes: they need `[services] network = \"own-addresses\"` (each broker on its own address)"
    )]
    NetworkFaultOnLoopback(crate::faults::FaultKind),
    /// Nodes on their own addresses from a provider evbench does not start.
    #[error(
        "`[services] network = \"own-addresses\"` places the servers evbench starts: it needs the native provider, not {0}"
    )]
    OwnAddressesNotNative(ProviderKind),
    /// A secured run asked of something that cannot run secured yet.
    #[error("`[services] security = \"sasl-ssl\"` {0}")]
    SecurityUnsupported(String),
    /// A `partition` cutting a server from a node the run does not have.
    #[error("`{fault}` names {node:?}, which is not a node of this run (its nodes: {known})")]
    NoSuchNetworkNode {
        fault: crate::faults::FaultKind,
        node: String,
        known: String,
    },
    /// `kill-sink` without evbench's sink.
    #[error("`kill-sink` faults need `run.ingestion = \"sink\"`")]
    KillSinkWithoutSink,
    /// `fleet.start` is not a time.
    #[error("`fleet.start`")]
    Start(#[source] events::Error),
}

impl Invalid {
    /// toml's error where it cannot say the line (a table built in memory, say).
    pub fn unplaced(toml: toml::de::Error) -> Invalid {
        Invalid::Unplaced {
            message: toml.message().trim().to_owned(),
            toml: Box::new(toml),
        }
    }
}

/// Keys that were renamed: (section, old name, new name).
const RENAMED: [(&str, &str, &str); 1] = [("run", "compression", "time_compression")];

impl Scenario {
    /// Reads and validates a scenario file. Errors name the file, the key and its line.
    pub fn load(path: &Path) -> Result<Scenario> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.display().to_string(),
            source,
        })?;
        Scenario::parse(&text).map_err(|source| Error::Invalid {
            path: path.display().to_string(),
            source: Box::new(source),
        })
    }

    /// Parses and validates scenario text.
    pub fn parse(text: &str) -> Result<Scenario, Invalid> {
        let mut scenario: Scenario =
            toml::from_str(text).map_err(|e| describe_toml_error(text, e))?;
        scenario.deprecations = renamed_keys_in(text);
        scenario.validate()?;
        Ok(scenario)
    }

    /// Checks what serde cannot: ranges, the profile, consistency; everything a run would
    /// otherwise refuse later.
    pub fn validate(&self) -> Result<(), Invalid> {
        let out_of_range = |key, rule: &str| Invalid::OutOfRange {
            key,
            rule: rule.to_owned(),
        };
        if self.name.trim().is_empty() {
            return Err(Invalid::EmptyName);
        }
        if let Some(rate) = self.load.rate {
            if !(rate.is_finite() && rate > 0.0 && rate <= 1e8) {
                return Err(out_of_range(
                    "load.rate",
                    &format!("must be a number of signals per second above 0, not {rate}"),
                ));
            }
            if self.run.time_compression != Compression::Max {
                return Err(Invalid::RateAndTimeCompression);
            }
        }
        if self.load.clickhouse_poll == ClickHousePoll::Off
            && self.checks.max_p99_clickhouse_ms.is_some()
        {
            return Err(out_of_range(
                "checks.max_p99_clickhouse_ms",
                "needs the latency to ClickHouse, which `load.clickhouse_poll = \"off\"` does not \
                 measure",
            ));
        }
        if self.load.warmup > Duration::from_secs(3600) {
            return Err(out_of_range("load.warmup", "must be at most 1h"));
        }
        if self.fleet.chargers == 0 {
            return Err(out_of_range("fleet.chargers", "must be at least 1"));
        }
        if self.fleet.max_partitions == 0 {
            return Err(out_of_range("fleet.max_partitions", "must be at least 1"));
        }
        self.validate_durations()?;
        if !KAFKA_CODECS.contains(&self.run.kafka_compression.as_str()) {
            return Err(Invalid::UnknownCodec {
                codec: self.run.kafka_compression.clone(),
                known: KAFKA_CODECS.join(", "),
            });
        }
        self.validate_aggregator()?;
        self.validate_services()?;
        self.faults.validate(self.aggregator.reorder_tolerance)?;
        for fault in self.faults.iter() {
            if let Some(node) = fault.node()
                && !self.services.topology().contains(&node)
            {
                return Err(Invalid::NoSuchNode {
                    fault: fault.kind,
                    node: node.to_string(),
                    topology: self.services.topology().to_string(),
                });
            }
        }
        self.validate_network()?;
        self.validate_security()?;
        if self.run.ingestion != Ingestion::Sink
            && self.faults.has(crate::faults::FaultKind::KillSink)
        {
            return Err(Invalid::KillSinkWithoutSink);
        }
        self.validate_thresholds()?;
        self.fleet_config()?;
        Ok(())
    }

    /// Every duration in its range: positive (or zero where that means "no wait"), and not
    /// absurdly long.
    fn validate_durations(&self) -> Result<(), Invalid> {
        let day = Duration::from_secs(24 * 3600);
        let durations = [
            ("run.span", self.run.span, 366 * day),
            ("run.drain_timeout", self.run.drain_timeout, day),
            ("run.linger", self.run.linger, Duration::from_secs(900)),
            (
                "aggregator.commit_interval",
                self.aggregator.commit_interval,
                Duration::from_secs(3600),
            ),
            (
                "aggregator.startup_timeout",
                self.aggregator.startup_timeout,
                day,
            ),
            ("aggregator.idle_timeout", self.aggregator.idle_timeout, day),
            (
                "aggregator.checkpoint_interval",
                self.aggregator.checkpoint_interval,
                Duration::from_secs(3600),
            ),
            (
                "sink.batch_period",
                self.sink.batch_period,
                Duration::from_secs(3600),
            ),
            (
                "sink.min_insert_interval",
                self.sink.min_insert_interval,
                Duration::from_secs(3600),
            ),
            (
                "sink.signals_min_insert_interval",
                self.sink.signals_min_insert_interval,
                Duration::from_secs(3600),
            ),
        ];
        for (key, value, most) in durations {
            check_duration(
                key,
                value,
                most,
                matches!(
                    key,
                    "run.linger" | "sink.min_insert_interval" | "sink.signals_min_insert_interval"
                ),
            )?;
        }
        Ok(())
    }

    fn validate_aggregator(&self) -> Result<(), Invalid> {
        let settings = &self.aggregator;
        match (settings.engine, settings.command.is_empty()) {
            (EngineKind::Command, true) => return Err(Invalid::CommandMissing),
            (EngineKind::Evbench | EngineKind::Flink | EngineKind::KafkaStreams, false) => {
                return Err(Invalid::CommandNotRead);
            }
            _ => {}
        }
        let ranges = [
            (
                "aggregator.output_partitions",
                settings.output_partitions,
                1000,
            ),
            ("aggregator.parallelism", settings.parallelism, 64),
            ("aggregator.instances", settings.instances, MAX_INSTANCES),
            ("sink.instances", self.sink.instances, MAX_INSTANCES),
        ];
        for (key, value, most) in ranges {
            if !(1..=most).contains(&value) {
                return Err(Invalid::OutOfRange {
                    key,
                    rule: format!("must be between 1 and {most}, not {value}"),
                });
            }
        }
        if settings.engine == EngineKind::Flink && settings.instances > 1 {
            return Err(Invalid::OutOfRange {
                key: "aggregator.instances",
                rule: "must be 1 for the flink engine, which scales by `parallelism` (its task \
                       slots) instead"
                    .into(),
            });
        }
        if self.run.ingestion != Ingestion::Sink && self.sink.instances > 1 {
            return Err(Invalid::OutOfRange {
                key: "sink.instances",
                rule: "must be 1 unless `run.ingestion = \"sink\"` (there is no sink to run)"
                    .into(),
            });
        }
        for fault in self.faults.iter() {
            let (key, count) = match fault.kind {
                crate::faults::FaultKind::KillAggregator => {
                    ("aggregator.instances", settings.instances)
                }
                crate::faults::FaultKind::KillSink => ("sink.instances", self.sink.instances),
                _ => continue,
            };
            if let Some(instance) = fault.instance
                && instance >= count
            {
                return Err(Invalid::OutOfRange {
                    key: "faults.instance",
                    rule: format!(
                        "a {} fault names instance {instance}, but `{key}` runs {count} (0 … {})",
                        fault.kind,
                        count - 1
                    ),
                });
            }
        }
        let profile = self.profile.resolve().map_err(Invalid::Profile)?;
        settings
            .sessionizer(profile.overstay_grace)
            .validate()
            .map_err(Invalid::Sessionizer)
    }

    fn validate_services(&self) -> Result<(), Invalid> {
        let topology = self.services.topology();
        topology.validate().map_err(Invalid::Services)?;
        if topology.is_cluster() && self.run.provider == ProviderKind::Docker {
            return Err(Invalid::DockerCluster {
                topology: topology.to_string(),
            });
        }
        if let Some(version) = &self.services.kafka.version {
            // It names a directory of the cache: digits, letters, dots and dashes only.
            let shaped = !version.is_empty()
                && version
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
            if !shaped || self.run.provider != ProviderKind::Native {
                return Err(Invalid::KafkaVersion {
                    version: version.clone(),
                    provider: self.run.provider,
                });
            }
        }
        Ok(())
    }

    /// Network faults need the nodes on their own addresses, and name nodes the run has.
    /// A secured Kafka is the native provider's; the parts that log in to it so far are
    /// evbench's own.
    fn validate_security(&self) -> Result<(), Invalid> {
        if self.services.security == SecurityMode::None {
            return Ok(());
        }
        let refuse = |why: String| Err(Invalid::SecurityUnsupported(why));
        if self.run.provider != ProviderKind::Native {
            return refuse(format!(
                "makes a secured Kafka of the native provider; the {} provider's security is its own (EVBENCH_KAFKA_SASL_*)",
                self.run.provider.as_str()
            ));
        }
        if self.services.topology().clickhouse_cluster() {
            return refuse(
                "runs on a single ClickHouse server only: a cluster's servers would need the administrative password between them".into(),
            );
        }
        Ok(())
    }

    fn validate_network(&self) -> Result<(), Invalid> {
        let own = self.services.network == NetworkPlacement::OwnAddresses;
        if own && self.run.provider != ProviderKind::Native {
            return Err(Invalid::OwnAddressesNotNative(self.run.provider));
        }
        let sinks: Vec<String> = (0..self.sink.instances.max(1))
            .map(|i| format!("sink-{i}"))
            .collect();
        for fault in self
            .faults
            .iter()
            .filter(|f| f.kind == crate::faults::FaultKind::Latency)
        {
            if let Some(instance) = fault.delayed_sink()
                && (self.run.ingestion != Ingestion::Sink || instance >= self.sink.instances.max(1))
            {
                return Err(Invalid::NoSuchNetworkNode {
                    fault: fault.kind,
                    node: format!("sink-{instance}"),
                    known: if self.run.ingestion == Ingestion::Sink {
                        sinks.join(", ")
                    } else {
                        "no sink: `run.ingestion` is not \"sink\"".into()
                    },
                });
            }
        }
        let known = self.network_nodes();
        for fault in self.faults.iter().filter(|f| f.kind.is_network()) {
            if !own {
                return Err(Invalid::NetworkFaultOnLoopback(fault.kind));
            }
            let cut = fault.network_node_name(&self.services.topology());
            for node in fault.from.iter().flatten().chain(cut.as_ref()) {
                if !known.contains(node) {
                    return Err(Invalid::NoSuchNetworkNode {
                        fault: fault.kind,
                        node: node.clone(),
                        known: known.join(", "),
                    });
                }
            }
        }
        Ok(())
    }

    /// The names of the nodes on the run's network: the servers
    /// ([`ServicesSettings::network_nodes`]) and the pipeline's instances that get addresses of
    /// their own (`aggregator-<n>` of the `evbench` and `command` engines, `sink-<n>`).
    pub fn network_nodes(&self) -> Vec<String> {
        let mut nodes = self.services.network_nodes();
        if matches!(
            self.aggregator.engine,
            EngineKind::Evbench | EngineKind::Command
        ) {
            nodes.extend((0..self.aggregator.instances.max(1)).map(|i| format!("aggregator-{i}")));
        }
        if self.run.ingestion == Ingestion::Sink {
            nodes.extend((0..self.sink.instances.max(1)).map(|i| format!("sink-{i}")));
        }
        nodes
    }

    fn validate_thresholds(&self) -> Result<(), Invalid> {
        let thresholds = [
            ("checks.min_events_per_s", self.checks.min_events_per_s),
            ("checks.max_p99_session_ms", self.checks.max_p99_session_ms),
            (
                "checks.max_p99_clickhouse_ms",
                self.checks.max_p99_clickhouse_ms,
            ),
        ];
        for (key, value) in thresholds {
            if let Some(v) = value
                && !(v.is_finite() && v >= 0.0)
            {
                return Err(Invalid::OutOfRange {
                    key,
                    rule: format!("must be a number of at least 0, not {v}"),
                });
            }
        }
        Ok(())
    }

    /// The simulator's configuration for this scenario.
    pub fn fleet_config(&self) -> Result<FleetConfig, Invalid> {
        let start_ms = match &self.fleet.start {
            Some(text) => events::time::from_text(text).map_err(Invalid::Start)?,
            None => simulator::DEFAULT_START_MS,
        };
        let span_ms =
            i64::try_from(self.run.span.as_millis()).map_err(|_| Invalid::OutOfRange {
                key: "run.span",
                rule: "is too long".to_owned(),
            })?;
        Ok(FleetConfig {
            chargers: self.fleet.chargers,
            seed: self.seed,
            start_ms,
            span_ms,
            profile: self.profile.resolve().map_err(Invalid::Profile)?,
        })
    }

    /// Every key with its effective value, defaults filled in (for reports).
    pub fn resolved(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let (Some(profile), Ok(resolved)) = (value.get_mut("profile"), self.profile.resolve())
            && let Ok(resolved) = serde_json::to_value(&resolved)
        {
            *profile = resolved;
        }
        value
    }
}

/// A duration must be positive (or may be zero, where `zero_ok`) and at most `most`.
fn check_duration(
    key: &'static str,
    value: Duration,
    most: Duration,
    zero_ok: bool,
) -> Result<(), Invalid> {
    let show = |d: Duration| humantime::format_duration(d).to_string();
    if value.is_zero() && !zero_ok {
        return Err(Invalid::OutOfRange {
            key,
            rule: "must be longer than zero".to_owned(),
        });
    }
    if value > most {
        return Err(Invalid::OutOfRange {
            key,
            rule: format!(
                "is {}; at most {} makes sense here",
                show(value),
                show(most)
            ),
        });
    }
    Ok(())
}

/// Deprecation notes for the renamed keys that `text` uses.
fn renamed_keys_in(text: &str) -> Vec<String> {
    let Ok(table) = text.parse::<toml::Table>() else {
        return Vec::new();
    };
    let legacy_faults = table.get("faults").is_some_and(toml::Value::is_table);
    let mut found: Vec<String> = RENAMED
        .iter()
        .filter(|(section, old, _)| {
            table
                .get(*section)
                .and_then(toml::Value::as_table)
                .is_some_and(|t| t.contains_key(*old))
        })
        .map(|(section, old, new)| {
            format!("`{section}.{old}` is deprecated: write `{section}.{new}` (same values)")
        })
        .collect();
    if legacy_faults {
        found.push(
            "the `[faults]` table is deprecated: write one `[[faults]]` entry per kind, e.g. `kind = \"duplicate\"`, `share = 0.05`"
                .into(),
        );
    }
    found
}

/// toml's error with the line number spelled out (its spans are byte offsets).
pub(crate) fn describe_toml_error(text: &str, error: toml::de::Error) -> Invalid {
    let message = error.message().trim().to_owned();
    match error.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            Invalid::Syntax {
                line,
                message,
                text: text.lines().nth(line - 1).unwrap_or("").trim().to_owned(),
                toml: Box::new(error),
            }
        }
        None => Invalid::unplaced(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first fault of the scenario `text` (which must parse).
    fn first_fault(text: &str) -> crate::faults::FaultSpec {
        Scenario::parse(text)
            .unwrap()
            .faults
            .iter()
            .next()
            .unwrap()
            .clone()
    }

    /// Why `text` is refused, causes and all, as a person reads it.
    fn refusal(text: &str) -> String {
        crate::error_chain(&Scenario::parse(text).unwrap_err())
    }

    const MINIMAL: &str = r#"
name = "t"
seed = 1
[fleet]
chargers = 10
[run]
span = "10m"
"#;

    #[test]
    fn a_secured_run_refuses_what_cannot_log_in_yet_and_takes_every_engine() {
        let secured =
            format!("{MINIMAL}ingestion = \"sink\"\n[services]\nsecurity = \"sasl-ssl\"\n");
        let parsed = Scenario::parse(&secured).unwrap();
        assert_eq!(parsed.services.security, SecurityMode::SaslSsl);
        assert_eq!(parsed.resolved()["services"]["security"], "sasl-ssl");
        assert_eq!(
            Scenario::parse(MINIMAL).unwrap().services.security,
            SecurityMode::None
        );
        let flink = format!("{secured}[aggregator]\nengine = \"flink\"\n");
        assert!(Scenario::parse(&flink).is_ok(), "flink logs in");
        let streams = format!("{secured}[aggregator]\nengine = \"kafka-streams\"\n");
        assert!(Scenario::parse(&streams).is_ok(), "kafka streams logs in");
        let kafka_engine = secured.replace("ingestion = \"sink\"", "ingestion = \"kafka-engine\"");
        assert!(
            Scenario::parse(&kafka_engine).is_ok(),
            "the Kafka engine logs in"
        );
        let floors = format!("{secured}[load]\nfloors = true\n");
        assert!(Scenario::parse(&floors).is_ok(), "the floors log in");
        let clickhouse_cluster = format!("{secured}[services.clickhouse]\nshards = 2\n");
        assert!(refusal(&clickhouse_cluster).contains("single ClickHouse server"));
        let external = secured.replace("[run]\n", "[run]\nprovider = \"external\"\n");
        assert!(refusal(&external).contains("the external provider's security is its own"));
        assert!(
            refusal(&format!("{MINIMAL}[services]\nsecurity = \"tls\"\n"))
                .contains("unknown variant")
        );
    }

    #[test]
    fn network_faults_need_the_servers_on_their_own_addresses() {
        let partition = "[[faults]]\nkind = \"partition\"\nat = \"5s\"\nfor = \"15s\"\n";
        assert!(refusal(&format!("{MINIMAL}{partition}")).contains("own-addresses"));
        let own = "[services]\nnetwork = \"own-addresses\"\n[services.kafka]\nbrokers = 3\n";
        let parsed = Scenario::parse(&format!("{MINIMAL}{own}{partition}")).unwrap();
        assert_eq!(parsed.services.network, NetworkPlacement::OwnAddresses);
        assert_eq!(
            parsed.services.network_nodes(),
            ["kafka-1", "kafka-2", "kafka-3", "clickhouse", "evbench"]
        );
        assert_eq!(
            parsed.network_nodes()[5..],
            ["aggregator-0".to_owned(), "sink-0".to_owned()]
        );
        assert_eq!(parsed.resolved()["services"]["network"], "own-addresses");
        // `from` names nodes the run has; `node` a server it has.
        let from = format!("{MINIMAL}{own}{partition}from = [\"kafka-1\", \"zookeeper\"]\n");
        let refused = refusal(&from);
        assert!(refused.contains("\"zookeeper\""), "{refused}");
        assert!(
            refused
                .contains("kafka-1, kafka-2, kafka-3, clickhouse, evbench, aggregator-0, sink-0"),
            "{refused}"
        );
        assert!(refusal(&format!("{MINIMAL}{own}{partition}node = 4\n")).contains("kafka-4"));
        // A ClickHouse server or ZooKeeper by name; ZooKeeper only with a ClickHouse cluster.
        let s1r1 = format!("{MINIMAL}{own}{partition}node = \"s1r1\"\n");
        let fault = first_fault(&s1r1);
        assert_eq!(
            fault.node(),
            Some(harness::NodeRef::ClickHouseReplica {
                shard: 1,
                replica: 1
            })
        );
        assert!(
            refusal(&format!("{MINIMAL}{own}{partition}node = \"zookeeper\"\n"))
                .contains("zookeeper")
        );
        assert!(
            refusal(&format!("{MINIMAL}{own}{partition}node = \"broker\"\n"))
                .contains("s<shard>r<replica>")
        );
        // A pipeline instance by its name, if the run has it.
        let sink = format!("{MINIMAL}{own}{partition}node = \"sink-0\"\n");
        let fault = first_fault(&sink);
        assert_eq!(
            fault.network_node_name(&Topology::single()).as_deref(),
            Some("sink-0")
        );
        let absent = refusal(&format!("{MINIMAL}{own}{partition}node = \"sink-3\"\n"));
        assert!(
            absent.contains("\"sink-3\", which is not a node"),
            "{absent}"
        );
        let one_way = format!(
            "{MINIMAL}{own}{partition}node = 2\nfrom = [\"evbench\"]\ndirection = \"outgoing\"\n"
        );
        let fault = first_fault(&one_way);
        assert_eq!(
            fault.direction,
            Some(crate::faults::spec::PartitionDirection::Outgoing)
        );
        // A slow link needs its rate, in bits per second with a unit.
        let slow = "[[faults]]\nkind = \"slow-link\"\nat = \"5s\"\n";
        assert!(refusal(&format!("{MINIMAL}{own}{slow}")).contains("`rate`"));
        assert!(refusal(&format!("{MINIMAL}{own}{slow}rate = \"fast\"\n")).contains("kbit"));
        assert!(refusal(&format!("{MINIMAL}{own}{slow}rate = \"4kbit\"\n")).contains("8kbit"));
        Scenario::parse(&format!("{MINIMAL}{own}{slow}rate = \"2mbit\"\n")).unwrap();
        // One server of each on its own address: the resolved scenario still says so.
        let single = Scenario::parse(&format!(
            "{MINIMAL}[services]\nnetwork = \"own-addresses\"\n{slow}rate = \"2mbit\"\n"
        ))
        .unwrap();
        assert_eq!(single.resolved()["services"]["network"], "own-addresses");
        // Keys of other kinds are refused, and the docker provider cannot place servers.
        assert!(
            refusal(&format!(
                "{MINIMAL}{own}{slow}rate = \"2mbit\"\nfrom = [\"evbench\"]\n"
            ))
            .contains("from")
        );
        let docker = format!("{MINIMAL}provider = \"docker\"\n{own}")
            .replace("[services.kafka]\nbrokers = 3\n", "");
        assert!(
            refusal(&docker).contains("native provider"),
            "{}",
            refusal(&docker)
        );
    }

    #[test]
    fn rates_read_with_their_unit() {
        use crate::faults::spec::parse_rate;
        assert_eq!(parse_rate("512kbit"), Some(512_000));
        assert_eq!(parse_rate("1mbit"), Some(1_000_000));
        assert_eq!(parse_rate("2Gbit"), Some(2_000_000_000));
        assert_eq!(parse_rate("1.5mbit"), None);
        assert_eq!(parse_rate("mbit"), None);
        assert_eq!(parse_rate("10"), None);
        assert_eq!(parse_rate("10mb"), None);
    }

    #[test]
    fn services_default_to_single_nodes_left_out_of_reports() {
        let s = Scenario::parse(MINIMAL).unwrap();
        assert_eq!(s.services.topology(), Topology::single());
        assert!(s.resolved().get("services").is_none());
        let three = Scenario::parse(&format!(
            "{MINIMAL}[services.kafka]\nbrokers = 3\n[[faults]]\nkind = \"stop-broker\"\nat = \"5s\"\nfor = \"10s\"\nnode = 2\n"
        ))
        .unwrap();
        assert_eq!(three.services.topology().kafka_brokers, 3);
        assert_eq!(three.resolved()["services"]["kafka"]["brokers"], 3);
        let fault = three.faults.iter().next().unwrap();
        assert_eq!(fault.node(), Some(harness::NodeRef::KafkaBroker(2)));
        assert!(fault.kind.is_process());
    }

    #[test]
    fn services_out_of_reach_are_refused() {
        let err = |extra: &str| refusal(&format!("{MINIMAL}{extra}"));
        let cluster = "[services.clickhouse]\nshards = 2\nreplicas = 2\n";
        let engine = MINIMAL.replace("[run]\n", "[run]\ningestion = \"kafka-engine\"\n");
        // The Kafka engine's ingestion runs on a cluster too (a consumer on every server).
        let on_cluster = Scenario::parse(&format!("{engine}{cluster}")).unwrap();
        assert_eq!(on_cluster.run.ingestion, Ingestion::KafkaEngine);
        let fault = |kind: &str, node: &str| {
            format!("{MINIMAL}{cluster}[[faults]]\nkind = \"{kind}\"\nat = \"1s\"\n{node}")
        };
        let parsed = Scenario::parse(&fault("stop-clickhouse", "node = \"s2r1\"\n")).unwrap();
        assert_eq!(
            parsed.faults.iter().next().unwrap().node(),
            Some(harness::NodeRef::ClickHouseReplica {
                shard: 2,
                replica: 1
            })
        );
        let parsed = Scenario::parse(&fault("stop-zookeeper", "")).unwrap();
        assert_eq!(
            parsed.faults.iter().next().unwrap().node(),
            Some(harness::NodeRef::ZooKeeper)
        );
        assert!(
            refusal(&fault("kill-clickhouse", "node = \"s3r1\"\n")).contains("clickhouse-s3r1")
        );
        assert!(refusal(&fault("kill-clickhouse", "node = 2\n")).contains("s<shard>r<replica>"));
        assert!(refusal(&fault("stop-broker", "node = \"s1r1\"\n")).contains("node id"));
        assert!(refusal(&fault("stop-zookeeper", "node = 1\n")).contains("node"));
        assert!(err("[[faults]]\nkind = \"stop-zookeeper\"\nat = \"1s\"\n").contains("zookeeper"));
        assert!(err("[services.kafka]\nbrokers = 0\n").contains("Kafka brokers"));
        assert!(err("[services.kafka]\nbrokers = 3\ncontrollers = 3\n").contains("controllers"));
        assert!(
            err("[services.kafka]\nbrokers = 3\n[[faults]]\nkind = \"stop-broker\"\nat = \"1s\"\nnode = 4\n")
                .contains("kafka-4")
        );
        assert!(err("[[faults]]\nkind = \"kill-sink\"\nat = \"1s\"\nnode = 1\n").contains("node"));
        let docker = MINIMAL.replace("[run]\n", "[run]\nprovider = \"docker\"\n");
        let docker3 = format!("{docker}[services.kafka]\nbrokers = 3\n");
        assert!(refusal(&docker3).contains("docker provider"));
        let version = |v: &str| format!("{MINIMAL}[services.kafka]\nversion = \"{v}\"\n");
        assert_eq!(
            Scenario::parse(&version("4.1.1"))
                .unwrap()
                .services
                .kafka
                .version
                .as_deref(),
            Some("4.1.1")
        );
        assert!(refusal(&version("../../etc")).contains("a release such as"));
        assert!(
            refusal(&format!("{docker}[services.kafka]\nversion = \"4.1.1\"\n"))
                .contains("the docker provider was asked for")
        );
    }

    #[test]
    fn the_clickhouse_poll_is_a_duration_or_off() {
        let with = |load: &str| Scenario::parse(&format!("{MINIMAL}[load]\n{load}\n"));
        assert_eq!(
            with("").unwrap().load.clickhouse_poll,
            ClickHousePoll::Every(Duration::from_millis(10))
        );
        assert_eq!(
            with("clickhouse_poll = \"100ms\"")
                .unwrap()
                .load
                .clickhouse_poll,
            ClickHousePoll::Every(Duration::from_millis(100))
        );
        let off = with("clickhouse_poll = \"off\"").unwrap();
        assert_eq!(off.load.clickhouse_poll.interval(), None);
        // Written back as read.
        let back = toml::to_string(&off.load).unwrap();
        assert!(back.contains("clickhouse_poll = \"off\""), "{back}");
        assert!(with("clickhouse_poll = \"0ms\"").is_err());
        assert!(with("clickhouse_poll = \"soon\"").is_err());
        assert!(
            refusal(&format!(
                "{MINIMAL}[load]\nclickhouse_poll = \"off\"\n[checks]\nmax_p99_clickhouse_ms = 100.0\n"
            ))
            .contains("does not measure")
        );
    }

    #[test]
    fn instances_are_counted_and_faults_name_one_that_runs() {
        let err = |extra: &str| refusal(&format!("{MINIMAL}{extra}"));
        let kill_sink_1 = "[[faults]]\nkind = \"kill-sink\"\nat = \"1s\"\ninstance = 1\n";
        assert!(err(kill_sink_1).contains("`sink.instances` runs 1"));
        let two_sinks = format!("{MINIMAL}[sink]\ninstances = 2\n{kill_sink_1}");
        assert_eq!(Scenario::parse(&two_sinks).unwrap().sink.instances, 2);
        assert!(
            err("[aggregator]\ninstances = 2\n[[faults]]\nkind = \"kill-aggregator\"\nat = \"1s\"\ninstance = 2\n")
                .contains("0 … 1")
        );
        assert!(err("[aggregator]\ninstances = 0\n").contains("between 1 and 16"));
        assert!(err("[aggregator]\nengine = \"flink\"\ninstances = 2\n").contains("parallelism"));
        let kafka_engine = MINIMAL.replace("[run]\n", "[run]\ningestion = \"kafka-engine\"\n");
        assert!(refusal(&format!("{kafka_engine}[sink]\ninstances = 2\n")).contains("no sink"));
    }

    #[test]
    fn minimal_scenario_gets_the_components_defaults() {
        let s = Scenario::parse(MINIMAL).unwrap();
        assert_eq!(s.run.time_compression, Compression::Max);
        assert_eq!(s.run.ingestion, Ingestion::Sink);
        assert_eq!(s.run.provider, ProviderKind::Native);
        assert!(s.checks.sessions_exact && s.checks.raw_counts && s.checks.kpis);
        assert_eq!(s.fleet_config().unwrap().span_ms, 600_000);
        // One source for each default: the component's own.
        let sessionizer = SessionizerConfig::default();
        assert_eq!(s.aggregator.inactivity_gap, sessionizer.inactivity_gap);
        assert_eq!(
            s.aggregator.reorder_tolerance,
            sessionizer.reorder_tolerance
        );
        assert_eq!(
            s.aggregator.commit_interval,
            AggregateOptions::default().commit_interval
        );
        let produce = ProduceOptions::default();
        assert_eq!(s.run.linger, produce.linger);
        assert_eq!(s.run.kafka_compression, produce.compression);
        assert_eq!(s.fleet.max_partitions, produce.max_partitions);
        assert_eq!(s.sink.batch_period, SinkConfig::default().batch_period);
        assert_eq!(s.aggregator.engine, EngineKind::Evbench);
        assert!(s.deprecations.is_empty());
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let text = MINIMAL.replace("chargers = 10", "chargers = 10\nchargerz = 3");
        let err = refusal(&text);
        assert!(err.contains("chargerz"), "{err}");
        assert!(err.contains("line 6"), "{err}");
    }

    #[test]
    fn bad_values_are_explained() {
        let err = refusal(&MINIMAL.replace("\"10m\"", "\"soon\""));
        assert!(err.contains("soon") && err.contains("line 7"), "{err}");
        let err = refusal(&MINIMAL.replace("chargers = 10", "chargers = 0"));
        assert!(err.contains("fleet.chargers"), "{err}");
        // Typed: a caller can tell a bad profile from other refusals, and the chain says why.
        let err = Scenario::parse(&format!("{MINIMAL}[profile]\nbase = \"nope\"\n")).unwrap_err();
        assert!(matches!(err, Invalid::Profile(_)), "{err:?}");
        assert!(crate::error_chain(&err).contains("nope"), "{err}");
        let err = refusal(&format!("{MINIMAL}[faults]\nduplicate_share = 2.0\n"));
        assert!(err.contains("share"), "{err}");
        let old = Scenario::parse(&format!("{MINIMAL}[faults]\nduplicate_share = 0.1\n")).unwrap();
        assert!(
            old.deprecations.iter().any(|d| d.contains("[[faults]]")),
            "{:?}",
            old.deprecations
        );
    }

    #[test]
    fn everything_a_run_would_refuse_is_refused_up_front() {
        let cases = [
            ("span = \"10m\"", "span = \"0s\"", "run.span"),
            (
                "span = \"10m\"",
                "span = \"10m\"\ndrain_timeout = \"0s\"",
                "run.drain_timeout",
            ),
            ("span = \"10m\"", "span = \"5000days\"", "run.span"),
            (
                "span = \"10m\"",
                "span = \"10m\"\nkafka_compression = \"brotli\"",
                "kafka_compression",
            ),
            (
                "span = \"10m\"",
                "span = \"10m\"\n[aggregator]\ncommit_interval = \"0ms\"",
                "commit_interval",
            ),
            (
                "span = \"10m\"",
                "span = \"10m\"\n[aggregator]\nreorder_tolerance = \"7h\"",
                "reorder_tolerance",
            ),
            (
                "span = \"10m\"",
                "span = \"10m\"\n[aggregator]\nengine = \"command\"",
                "aggregator.command",
            ),
            (
                "span = \"10m\"",
                "span = \"10m\"\n[aggregator]\ncommand = [\"x\"]",
                "aggregator.engine",
            ),
            (
                "span = \"10m\"",
                "span = \"10m\"\n[checks]\nmax_p99_session_ms = -5.0",
                "max_p99_session_ms",
            ),
            (
                "span = \"10m\"",
                "span = \"10m\"\n[checks]\nmin_events_per_s = -1.0",
                "min_events_per_s",
            ),
        ];
        for (from, to, key) in cases {
            let text = MINIMAL.replace(from, to);
            let err = refusal(&text);
            assert!(err.contains(key), "{to}: {err}");
        }
    }

    #[test]
    fn the_old_compression_key_still_reads_with_a_deprecation() {
        let text = MINIMAL.replace("span = \"10m\"", "span = \"10m\"\ncompression = 60");
        let s = Scenario::parse(&text).unwrap();
        assert_eq!(s.run.time_compression, Compression::Factor(60.0));
        assert_eq!(s.deprecations.len(), 1);
        assert!(
            s.deprecations[0].contains("time_compression"),
            "{:?}",
            s.deprecations
        );
        let both = text.replace("compression = 60", "compression = 60\ntime_compression = 2");
        assert!(Scenario::parse(&both).is_err());
    }

    #[test]
    fn resolved_has_every_key_with_its_value() {
        let s = Scenario::parse(MINIMAL).unwrap();
        let resolved = s.resolved();
        assert_eq!(resolved["run"]["time_compression"], "max");
        assert_eq!(resolved["aggregator"]["inactivity_gap"], "6h");
        assert_eq!(resolved["fleet"]["max_partitions"], 1000);
        assert!(resolved["profile"].is_object());
    }

    #[test]
    fn shipped_scenarios_are_valid_and_use_no_deprecated_key() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scenarios");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let s = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
                assert!(
                    s.deprecations.is_empty(),
                    "{}: {:?}",
                    path.display(),
                    s.deprecations
                );
                seen += 1;
            }
        }
        assert!(seen >= 1, "no scenario in scenarios/");
    }
}
