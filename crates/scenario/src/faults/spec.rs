//! The `[[faults]]` list of a scenario file.
//!
//! ```toml
//! [[faults]]
//! kind = "kill-aggregator"   # SIGKILL, restarted after `for`
//! at = "5s"                  # into the load
//! for = "2s"
//!
//! [[faults]]
//! kind = "reorder"           # a data fault: a share of the signals
//! share = 0.02
//! by = "2s"
//! ```
//!
//! The older `[faults]` table (`duplicate_share`, `malformed_share`) is still read, with a
//! deprecation warning.

use std::fmt;
use std::time::Duration;

use pipeline::produce::FaultOptions;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// SIGKILL of an aggregator instance (the JVM process of the `flink` and `kafka-streams`
    /// engines), restarted after `for`.
    KillAggregator,
    /// SIGKILL of a sink instance, restarted after `for`.
    KillSink,
    /// The Kafka broker stopped, started again after `for` on the same ports and data.
    RestartKafka,
    /// ClickHouse stopped, started again after `for`.
    RestartClickhouse,
    /// The Kafka broker frozen (SIGSTOP) for `for`.
    PauseKafka,
    /// ClickHouse frozen (SIGSTOP) for `for`.
    PauseClickhouse,
    /// One broker of the cluster (`node`, its id from 1; default 1) stopped cleanly, started
    /// again after `for` on the same ports and data.
    StopBroker,
    /// One broker of the cluster (`node`) killed (SIGKILL: no controlled shutdown, no leader
    /// hand-over, its log recovered at start), started again after `for`.
    KillBroker,
    /// One server of a ClickHouse cluster (`node = "s1r2"`: shard 1, replica 2; default
    /// `s1r1`) stopped cleanly, started again after `for` (it then fetches what it missed from
    /// the other replica).
    StopClickhouse,
    /// One server of a ClickHouse cluster (`node`) killed (SIGKILL), started again after `for`.
    KillClickhouse,
    /// The ZooKeeper of a ClickHouse cluster stopped (replicated tables turn read-only: inserts
    /// wait), started again after `for`.
    StopZookeeper,
    /// One server cut off the network for `for` (`node`: a broker's id, default 1; a ClickHouse
    /// server `"s1r2"`; `"zookeeper"`): from `from` (node names; default every other node and
    /// evbench itself), both ways unless `direction` says one. Needs `[services] network =
    /// "own-addresses"`.
    Partition,
    /// One server's (`node`, as for `partition`) link capped at `rate` (e.g. `"1mbit"`) each
    /// way for `for`. Needs `[services] network = "own-addresses"`.
    SlowLink,
    /// `delay` (± `jitter`) added for `for` on one sink instance's path to ClickHouse (`node =
    /// "sink-1"`: a proxy sits on that path for the whole run and holds every chunk each way).
    Latency,
    /// A share of signals followed by a malformed record (six kinds in turn).
    Malformed,
    /// A share of signals sent twice.
    Duplicate,
    /// A share of signals sent after the charger's next one, at most `by` later in event time.
    Reorder,
    /// A share of signals sent again once the charger is more than `by` further in event time.
    Late,
    /// `chargers` chargers whose clocks run `by` ahead.
    ClockSkew,
}

impl FaultKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::KillAggregator => "kill-aggregator",
            FaultKind::KillSink => "kill-sink",
            FaultKind::RestartKafka => "restart-kafka",
            FaultKind::RestartClickhouse => "restart-clickhouse",
            FaultKind::PauseKafka => "pause-kafka",
            FaultKind::PauseClickhouse => "pause-clickhouse",
            FaultKind::StopBroker => "stop-broker",
            FaultKind::KillBroker => "kill-broker",
            FaultKind::StopClickhouse => "stop-clickhouse",
            FaultKind::KillClickhouse => "kill-clickhouse",
            FaultKind::StopZookeeper => "stop-zookeeper",
            FaultKind::Partition => "partition",
            FaultKind::SlowLink => "slow-link",
            FaultKind::Latency => "latency",
            FaultKind::Malformed => "malformed",
            FaultKind::Duplicate => "duplicate",
            FaultKind::Reorder => "reorder",
            FaultKind::Late => "late",
            FaultKind::ClockSkew => "clock-skew",
        }
    }

    /// A fault of a process (at a moment, for a while), as opposed to a fault of the data.
    pub fn is_process(self) -> bool {
        matches!(
            self,
            FaultKind::KillAggregator
                | FaultKind::KillSink
                | FaultKind::RestartKafka
                | FaultKind::RestartClickhouse
                | FaultKind::PauseKafka
                | FaultKind::PauseClickhouse
                | FaultKind::StopBroker
                | FaultKind::KillBroker
                | FaultKind::StopClickhouse
                | FaultKind::KillClickhouse
                | FaultKind::StopZookeeper
                | FaultKind::Partition
                | FaultKind::SlowLink
                | FaultKind::Latency
        )
    }

    /// A fault of the network between the nodes (needs the nodes on their own addresses).
    pub fn is_network(self) -> bool {
        matches!(self, FaultKind::Partition | FaultKind::SlowLink)
    }

    /// A fault of one server of a cluster, named by `node`.
    pub fn is_node(self) -> bool {
        matches!(
            self,
            FaultKind::StopBroker
                | FaultKind::KillBroker
                | FaultKind::StopClickhouse
                | FaultKind::KillClickhouse
                | FaultKind::StopZookeeper
        )
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of `[[faults]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    pub kind: FaultKind,
    /// Process faults: when, counted from the first signal of the load.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "events::human_duration::option"
    )]
    pub at: Option<Duration>,
    /// Process faults: how long the part stays down or frozen (default 2 s).
    #[serde(
        rename = "for",
        default,
        skip_serializing_if = "Option::is_none",
        with = "events::human_duration::option"
    )]
    pub duration: Option<Duration>,
    /// Data faults (not clock-skew): the share of signals affected, 0 … 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share: Option<f64>,
    /// `reorder`: how much later in event time the signal it is sent after may be (default: half
    /// the aggregator's reorder tolerance); `late`: how far behind the charger the copy is at
    /// least (default: twice the tolerance); `clock-skew`: how far ahead the clocks run.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "events::human_duration::option"
    )]
    pub by: Option<Duration>,
    /// `clock-skew`: how many chargers (the first ones) have a skewed clock (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chargers: Option<u32>,
    /// `kill-aggregator`, `kill-sink`: which instance (0 … `instances` − 1 of the aggregator or
    /// of the sink; the scenario checks the range).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<u32>,
    /// `stop-broker`, `kill-broker`: which broker, by its node id (from 1; default 1);
    /// `stop-clickhouse`, `kill-clickhouse`: which server, `"s<shard>r<replica>"` (default
    /// `"s1r1"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<FaultNode>,
    /// `partition`: the nodes the server is cut off from, by name (`"kafka-2"`, `"kafka"` for a
    /// single broker, `"clickhouse-s1r2"`, `"clickhouse"`, `"zookeeper"`; `"evbench"`: evbench
    /// itself and the pipeline); default: every other node and evbench.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Vec<String>>,
    /// `partition`: `"both"` (default), `"outgoing"` (only what the broker sends is dropped) or
    /// `"incoming"` (only what it receives).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<PartitionDirection>,
    /// `slow-link`: the cap, each way, as `"<n>kbit"`, `"<n>mbit"` or `"<n>gbit"` (bits per
    /// second; at least 8 kbit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<String>,
    /// `latency`: the delay added each way (at most 10 s).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "events::human_duration::option"
    )]
    pub delay: Option<Duration>,
    /// `latency`: how much each chunk's delay may vary, up or down (at most `delay`; default 0).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "events::human_duration::option"
    )]
    pub jitter: Option<Duration>,
}

/// Which way a `partition` cuts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PartitionDirection {
    Both,
    Outgoing,
    Incoming,
}

impl From<PartitionDirection> for harness::netns::Direction {
    fn from(direction: PartitionDirection) -> Self {
        match direction {
            PartitionDirection::Both => harness::netns::Direction::Both,
            PartitionDirection::Outgoing => harness::netns::Direction::Outgoing,
            PartitionDirection::Incoming => harness::netns::Direction::Incoming,
        }
    }
}

/// `aggregator-<n>` or `sink-<n>`: a pipeline instance's name on the run's network.
fn is_pipeline_instance(name: &str) -> bool {
    ["aggregator-", "sink-"].iter().any(|prefix| {
        name.strip_prefix(prefix)
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
    })
}

/// Bits per second of a `slow-link` rate: `"512kbit"`, `"1mbit"`, `"1gbit"`.
pub fn parse_rate(text: &str) -> Option<u64> {
    let text = text.trim().to_ascii_lowercase();
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit())?);
    let number: u64 = number.parse().ok()?;
    let scale = match unit {
        "kbit" => 1_000,
        "mbit" => 1_000_000,
        "gbit" => 1_000_000_000,
        _ => return None,
    };
    number.checked_mul(scale)
}

/// The `node` of a node fault: a broker's id, or a ClickHouse server as `"s1r2"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FaultNode {
    /// A Kafka broker's node id.
    Id(u32),
    /// A ClickHouse server: `s<shard>r<replica>`.
    Name(String),
}

impl FaultNode {
    /// `(shard, replica)` of `"s<shard>r<replica>"` (both from 1).
    fn clickhouse(&self) -> Option<(u32, u32)> {
        let FaultNode::Name(name) = self else {
            return None;
        };
        let (shard, replica) = name.strip_prefix('s')?.split_once('r')?;
        let (shard, replica) = (shard.parse().ok()?, replica.parse().ok()?);
        (shard > 0 && replica > 0).then_some((shard, replica))
    }
}

/// How long a process fault lasts when `for` is not given.
pub const DEFAULT_FAULT_DURATION: Duration = Duration::from_secs(2);

impl FaultSpec {
    /// A data fault with a share.
    pub fn share_of(kind: FaultKind, share: f64) -> FaultSpec {
        FaultSpec {
            kind,
            at: None,
            duration: None,
            share: Some(share),
            by: None,
            chargers: None,
            instance: None,
            node: None,
            from: None,
            direction: None,
            rate: None,
            delay: None,
            jitter: None,
        }
    }

    /// The server a node fault stops or kills, `None` for the other kinds (and for a `node`
    /// the kind cannot read, which [`FaultSpec::validate`] refuses).
    pub fn node(&self) -> Option<harness::NodeRef> {
        use harness::NodeRef;
        match (self.kind, &self.node) {
            (
                FaultKind::StopBroker
                | FaultKind::KillBroker
                | FaultKind::Partition
                | FaultKind::SlowLink,
                None,
            ) => Some(NodeRef::KafkaBroker(1)),
            (
                FaultKind::StopBroker
                | FaultKind::KillBroker
                | FaultKind::Partition
                | FaultKind::SlowLink,
                Some(FaultNode::Id(id)),
            ) => Some(NodeRef::KafkaBroker(*id)),
            (FaultKind::StopClickhouse | FaultKind::KillClickhouse, None) => {
                Some(NodeRef::ClickHouseReplica {
                    shard: 1,
                    replica: 1,
                })
            }
            (FaultKind::StopClickhouse | FaultKind::KillClickhouse, Some(node)) => node
                .clickhouse()
                .map(|(shard, replica)| NodeRef::ClickHouseReplica { shard, replica }),
            (FaultKind::Partition | FaultKind::SlowLink, Some(FaultNode::Name(name)))
                if name == "zookeeper" =>
            {
                Some(NodeRef::ZooKeeper)
            }
            (FaultKind::Partition | FaultKind::SlowLink, Some(node)) => node
                .clickhouse()
                .map(|(shard, replica)| NodeRef::ClickHouseReplica { shard, replica }),
            (FaultKind::StopZookeeper, None) => Some(NodeRef::ZooKeeper),
            _ => None,
        }
    }

    /// The name on the run's network of the node a network fault cuts or slows: a server's
    /// (as [`harness::network_node_name`] gives it) or a pipeline instance's (`"aggregator-1"`,
    /// `"sink-0"`, as written); `None` for other kinds.
    pub fn network_node_name(&self, topology: &harness::Topology) -> Option<String> {
        if !self.kind.is_network() {
            return None;
        }
        if let Some(node) = self.node() {
            return Some(harness::network_node_name(&node, topology));
        }
        match &self.node {
            Some(FaultNode::Name(name)) if is_pipeline_instance(name) => Some(name.clone()),
            _ => None,
        }
    }

    /// The sink instance a `latency` fault delays (`node = "sink-<n>"`), `None` otherwise.
    pub fn delayed_sink(&self) -> Option<u32> {
        match (&self.kind, &self.node) {
            (FaultKind::Latency, Some(FaultNode::Name(name))) => {
                name.strip_prefix("sink-")?.parse().ok()
            }
            _ => None,
        }
    }

    /// How long the fault lasts (process faults).
    pub fn lasts(&self) -> Duration {
        self.duration.unwrap_or(DEFAULT_FAULT_DURATION)
    }

    /// Checks the keys the kind needs and refuses those it does not read; `tolerance` is the
    /// aggregator's reorder tolerance.
    pub fn validate(&self, n: usize, tolerance: Duration) -> Result<(), FaultError> {
        self.problem(tolerance)
            .map_err(|problem| FaultError::Entry {
                index: n,
                kind: self.kind,
                problem,
            })
    }

    /// What is wrong with this entry, if anything.
    fn problem(&self, tolerance: Duration) -> Result<(), FaultProblem> {
        if self.kind.is_process() {
            self.process_problem()
        } else {
            self.data_problem(tolerance)
        }
    }

    /// A process fault: when, for how long, and which part.
    fn process_problem(&self) -> Result<(), FaultProblem> {
        if self.at.is_none() {
            return Err(FaultProblem::Missing {
                key: "at",
                hint: "when, into the load, e.g. \"5s\"",
            });
        }
        refuse(self.share.is_some(), "share")?;
        refuse(self.by.is_some(), "by")?;
        refuse(self.chargers.is_some(), "chargers")?;
        refuse(
            self.from.is_some() && self.kind != FaultKind::Partition,
            "from",
        )?;
        refuse(
            self.direction.is_some() && self.kind != FaultKind::Partition,
            "direction",
        )?;
        refuse(
            self.rate.is_some() && self.kind != FaultKind::SlowLink,
            "rate",
        )?;
        refuse(
            self.delay.is_some() && self.kind != FaultKind::Latency,
            "delay",
        )?;
        refuse(
            self.jitter.is_some() && self.kind != FaultKind::Latency,
            "jitter",
        )?;
        if self.kind == FaultKind::Latency {
            if self.delayed_sink().is_none() {
                return Err(FaultProblem::Missing {
                    key: "node",
                    hint: "the sink instance whose path to ClickHouse is delayed, e.g. \"sink-1\"",
                });
            }
            let delay = self.delay.ok_or(FaultProblem::Missing {
                key: "delay",
                hint: "the delay added each way, e.g. \"50ms\"",
            })?;
            if delay.is_zero() || delay > Duration::from_secs(10) {
                return Err(out_of_range(
                    "delay",
                    "must be longer than zero and at most 10s".into(),
                ));
            }
            if self.jitter.is_some_and(|j| j > delay) {
                return Err(out_of_range("jitter", "must be at most `delay`".into()));
            }
        }
        if self.kind == FaultKind::SlowLink {
            let rate = self.rate.as_deref().ok_or(FaultProblem::Missing {
                key: "rate",
                hint: "the cap each way, e.g. \"1mbit\"",
            })?;
            match parse_rate(rate) {
                Some(bits) if bits >= 8_000 => {}
                _ => {
                    return Err(out_of_range(
                        "rate",
                        format!(
                            "{rate:?} must be \"<n>kbit\", \"<n>mbit\" or \"<n>gbit\", at least 8kbit"
                        ),
                    ));
                }
            }
        }
        if let Some(from) = &self.from
            && from.is_empty()
        {
            return Err(out_of_range(
                "from",
                "names no node to cut the broker from".into(),
            ));
        }
        refuse(
            self.instance.is_some()
                && !matches!(self.kind, FaultKind::KillAggregator | FaultKind::KillSink),
            "instance",
        )?;
        refuse(
            self.node.is_some()
                && !matches!(
                    self.kind,
                    FaultKind::StopBroker
                        | FaultKind::KillBroker
                        | FaultKind::StopClickhouse
                        | FaultKind::KillClickhouse
                        | FaultKind::Partition
                        | FaultKind::SlowLink
                        | FaultKind::Latency
                ),
            "node",
        )?;
        let pipeline_instance = (self.kind.is_network() || self.kind == FaultKind::Latency)
            && matches!(&self.node, Some(FaultNode::Name(name)) if is_pipeline_instance(name));
        if self.node.is_some() && self.node().is_none() && !pipeline_instance {
            let expected = match self.kind {
                FaultKind::StopClickhouse | FaultKind::KillClickhouse => {
                    "a ClickHouse server as \"s<shard>r<replica>\", e.g. \"s1r2\""
                }
                FaultKind::Partition | FaultKind::SlowLink => {
                    "a broker's node id (e.g. 2), a ClickHouse server as \"s<shard>r<replica>\" (\"s1r1\" for a single server), \"zookeeper\", or a pipeline instance (\"aggregator-1\", \"sink-0\")"
                }
                _ => "a broker's node id, e.g. 2",
            };
            return Err(out_of_range("node", format!("must be {expected}")));
        }
        if self.node == Some(FaultNode::Id(0)) {
            return Err(out_of_range("node", "counts from 1".into()));
        }
        if self.lasts().is_zero() || self.lasts() > Duration::from_secs(600) {
            return Err(out_of_range(
                "for",
                "must be longer than zero and at most 10m".into(),
            ));
        }
        Ok(())
    }

    /// A data fault: how much of the stream, and how far.
    fn data_problem(&self, tolerance: Duration) -> Result<(), FaultProblem> {
        refuse(self.at.is_some(), "at")?;
        refuse(self.duration.is_some(), "for")?;
        refuse(self.instance.is_some(), "instance")?;
        refuse(self.node.is_some(), "node")?;
        refuse(self.from.is_some(), "from")?;
        refuse(self.direction.is_some(), "direction")?;
        refuse(self.rate.is_some(), "rate")?;
        refuse(self.delay.is_some(), "delay")?;
        refuse(self.jitter.is_some(), "jitter")?;
        if self.kind == FaultKind::ClockSkew {
            refuse(self.share.is_some(), "share")?;
            let by = self.by.ok_or(FaultProblem::Missing {
                key: "by",
                hint: "how far ahead, e.g. \"90s\"",
            })?;
            if by.is_zero() {
                return Err(out_of_range("by", "must be longer than zero".into()));
            }
            if self.chargers == Some(0) {
                return Err(out_of_range("chargers", "must be at least 1".into()));
            }
            return Ok(());
        }
        refuse(self.chargers.is_some(), "chargers")?;
        let share = self.share.ok_or(FaultProblem::Missing {
            key: "share",
            hint: "of signals, e.g. 0.01",
        })?;
        if !(share > 0.0 && share <= 1.0) {
            return Err(out_of_range(
                "share",
                format!("must be in (0, 1], not {share}"),
            ));
        }
        let tolerance_text = humantime::format_duration(tolerance);
        match self.kind {
            FaultKind::Reorder => {
                let by = self.reorder_within(tolerance);
                if by.is_zero() || by > tolerance {
                    return Err(out_of_range(
                        "by",
                        format!(
                            "must be longer than zero and within the aggregator's reorder_tolerance ({tolerance_text}): a reordering beyond it is a late signal"
                        ),
                    ));
                }
            }
            FaultKind::Late => {
                if self.late_by(tolerance) <= tolerance {
                    return Err(out_of_range(
                        "by",
                        format!(
                            "must be beyond the aggregator's reorder_tolerance ({tolerance_text})"
                        ),
                    ));
                }
            }
            _ => refuse(self.by.is_some(), "by")?,
        }
        Ok(())
    }

    fn reorder_within(&self, tolerance: Duration) -> Duration {
        self.by.unwrap_or(tolerance / 2)
    }

    fn late_by(&self, tolerance: Duration) -> Duration {
        self.by.unwrap_or(tolerance * 2)
    }
}

/// What is wrong with one entry of `[[faults]]`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FaultProblem {
    /// A key the kind needs is absent.
    #[error("needs `{key}` ({hint})")]
    Missing {
        key: &'static str,
        hint: &'static str,
    },
    /// A key the kind does not read is present.
    #[error("`{key}` does not apply to this kind")]
    DoesNotApply { key: &'static str },
    /// A value outside what its key accepts.
    #[error("`{key}` {rule}")]
    OutOfRange { key: &'static str, rule: String },
}

/// Why `[[faults]]` is refused: one entry, or the list as a whole.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FaultError {
    /// Entry `index` (from 0), of `kind`.
    #[error("`faults[{index}]` ({kind}): {problem}")]
    Entry {
        index: usize,
        kind: FaultKind,
        problem: FaultProblem,
    },
    /// A data fault listed more than once.
    #[error("`faults`: `{0}` is listed twice; give it once (with the share you want)")]
    Twice(FaultKind),
}

/// `key` given to a kind that does not read it.
fn refuse(present: bool, key: &'static str) -> Result<(), FaultProblem> {
    if present {
        Err(FaultProblem::DoesNotApply { key })
    } else {
        Ok(())
    }
}

fn out_of_range(key: &'static str, rule: String) -> FaultProblem {
    FaultProblem::OutOfRange { key, rule }
}

/// The scenario's faults.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultList(pub Vec<FaultSpec>);

impl FaultList {
    pub fn iter(&self) -> impl Iterator<Item = &FaultSpec> {
        self.0.iter()
    }

    /// The process faults, in the order they happen.
    pub fn process_faults(&self) -> Vec<FaultSpec> {
        let mut faults: Vec<FaultSpec> = self
            .0
            .iter()
            .filter(|f| f.kind.is_process())
            .cloned()
            .collect();
        faults.sort_by_key(|f| f.at);
        faults
    }

    /// Whether any fault is of `kind`.
    pub fn has(&self, kind: FaultKind) -> bool {
        self.0.iter().any(|f| f.kind == kind)
    }

    /// Checks every entry; `tolerance` is the aggregator's reorder tolerance.
    pub fn validate(&self, tolerance: Duration) -> Result<(), FaultError> {
        for (n, fault) in self.0.iter().enumerate() {
            fault.validate(n, tolerance)?;
        }
        for kind in [
            FaultKind::Malformed,
            FaultKind::Duplicate,
            FaultKind::Reorder,
            FaultKind::Late,
            FaultKind::ClockSkew,
        ] {
            if self.0.iter().filter(|f| f.kind == kind).count() > 1 {
                return Err(FaultError::Twice(kind));
            }
        }
        Ok(())
    }

    /// The producer's share of the faults (the data faults), drawn from `seed`.
    pub fn produce_options(&self, seed: u64, tolerance: Duration) -> FaultOptions {
        let mut options = FaultOptions {
            seed,
            ..FaultOptions::default()
        };
        for fault in &self.0 {
            let share = fault.share.unwrap_or(0.0);
            match fault.kind {
                FaultKind::Malformed => options.malformed_share = share,
                FaultKind::Duplicate => options.duplicate_share = share,
                FaultKind::Reorder => {
                    options.reorder_share = share;
                    options.reorder_within = fault.reorder_within(tolerance);
                }
                FaultKind::Late => {
                    options.late_share = share;
                    options.late_by = fault.late_by(tolerance);
                }
                FaultKind::ClockSkew => {
                    options.skewed_chargers = fault.chargers.unwrap_or(1);
                    options.clock_skew = fault.by.unwrap_or_default();
                }
                _ => {}
            }
        }
        options
    }
}

impl Serialize for FaultList {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// The older `[faults]` table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LegacyFaults {
    #[serde(default)]
    duplicate_share: f64,
    #[serde(default)]
    malformed_share: f64,
}

impl<'de> Deserialize<'de> for FaultList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ListOrTable;

        impl<'de> Visitor<'de> for ListOrTable {
            type Value = FaultList;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a [[faults]] list (or the older [faults] table)")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<FaultList, A::Error> {
                Vec::<FaultSpec>::deserialize(de::value::SeqAccessDeserializer::new(seq))
                    .map(FaultList)
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<FaultList, A::Error> {
                let legacy = LegacyFaults::deserialize(de::value::MapAccessDeserializer::new(map))?;
                let mut list = Vec::new();
                if legacy.duplicate_share > 0.0 {
                    list.push(FaultSpec::share_of(
                        FaultKind::Duplicate,
                        legacy.duplicate_share,
                    ));
                }
                if legacy.malformed_share > 0.0 {
                    list.push(FaultSpec::share_of(
                        FaultKind::Malformed,
                        legacy.malformed_share,
                    ));
                }
                Ok(FaultList(list))
            }
        }

        deserializer.deserialize_any(ListOrTable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Doc {
        #[serde(default)]
        faults: FaultList,
    }

    fn parse(text: &str) -> Result<FaultList, String> {
        toml::from_str::<Doc>(text)
            .map(|d| d.faults)
            .map_err(|e| e.to_string())
    }

    const TOLERANCE: Duration = Duration::from_secs(5);

    #[test]
    fn the_list_reads_every_kind_and_validates() {
        let list = parse(
            r#"
            [[faults]]
            kind = "kill-aggregator"
            at = "5s"
            for = "3s"
            [[faults]]
            kind = "pause-clickhouse"
            at = "1s"
            [[faults]]
            kind = "reorder"
            share = 0.02
            by = "2s"
            [[faults]]
            kind = "clock-skew"
            by = "90s"
            chargers = 2
            "#,
        )
        .unwrap();
        list.validate(TOLERANCE).unwrap();
        let process = list.process_faults();
        assert_eq!(process[0].kind, FaultKind::PauseClickhouse);
        assert_eq!(process[0].lasts(), DEFAULT_FAULT_DURATION);
        assert_eq!(process[1].lasts(), Duration::from_secs(3));
        let options = list.produce_options(7, TOLERANCE);
        assert_eq!(options.reorder_share, 0.02);
        assert_eq!(options.reorder_within, Duration::from_secs(2));
        assert_eq!(
            (options.skewed_chargers, options.clock_skew),
            (2, Duration::from_secs(90))
        );
        assert_eq!(options.seed, 7);
    }

    #[test]
    fn the_older_table_still_reads() {
        let list = parse("[faults]\nduplicate_share = 0.05\nmalformed_share = 0.01\n").unwrap();
        assert_eq!(
            list.0,
            vec![
                FaultSpec::share_of(FaultKind::Duplicate, 0.05),
                FaultSpec::share_of(FaultKind::Malformed, 0.01)
            ]
        );
        let e = parse("[faults]\nduplicates = 0.05\n").unwrap_err();
        assert!(e.contains("unknown field"), "{e}");
    }

    #[test]
    fn mistakes_are_named() {
        let check = |text: &str| {
            parse(text)
                .and_then(|l| l.validate(TOLERANCE).map_err(|e| e.to_string()))
                .unwrap_err()
        };
        assert!(check("[[faults]]\nkind = \"kill-sink\"\n").contains("needs `at`"));
        assert!(check("[[faults]]\nkind = \"explode\"\n").contains("unknown variant"));
        assert!(
            check("[[faults]]\nkind = \"late\"\nshare = 0.1\nby = \"1s\"\n").contains("beyond")
        );
        assert!(
            check("[[faults]]\nkind = \"reorder\"\nshare = 0.1\nby = \"9s\"\n").contains("within")
        );
        assert!(check("[[faults]]\nkind = \"duplicate\"\nshare = 2\n").contains("share"));
        assert!(
            check("[[faults]]\nkind = \"duplicate\"\nshare = 0.1\nat = \"1s\"\n")
                .contains("`at` does not apply")
        );
        assert!(check("[[faults]]\nkind = \"clock-skew\"\n").contains("needs `by`"));
        assert!(
            check("[[faults]]\nkind = \"duplicate\"\nshare = 0.1\n[[faults]]\nkind = \"duplicate\"\nshare = 0.2\n")
                .contains("twice")
        );
        assert!(
            check("[[faults]]\nkind = \"pause-kafka\"\nat = \"1s\"\ninstance = 1\n")
                .contains("instance")
        );
        // Which instances exist is the scenario's to check (`aggregator.instances`, …).
        assert!(
            parse("[[faults]]\nkind = \"kill-sink\"\nat = \"1s\"\ninstance = 1\n")
                .unwrap()
                .validate(TOLERANCE)
                .is_ok()
        );
        assert!(
            parse("[[faults]]\nkind = \"kill-sink\"\nat = \"1s\"\ninstance = 0\n")
                .unwrap()
                .validate(TOLERANCE)
                .is_ok()
        );
    }
}
