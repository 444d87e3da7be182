//! The aggregator under test: whatever turns `charger-station-signals` into
//! `charging-sessions` (and dead letters), started as child processes and held to the same
//! checks whoever wrote it.
//!
//! * `evbench`: `evbench aggregate`, exactly once (transactions with the consumed offsets);
//! * `command`: any program the scenario names. It is told where everything is through the
//!   environment (the contract in `docs/engines.md`, built by [`environment`]) and says it is
//!   consuming by creating the file `EVBENCH_READY_FILE` (optionally holding the number of
//!   input partitions it was assigned);
//! * `flink`: the Flink job of `engines/flink` (built by `ci/setup`), a `command` engine whose
//!   command evbench knows: `java -cp <libs>/*:<job jar> dev.evbench.flink.SessionizerJob`;
//! * `kafka-streams`: the Kafka Streams application of `engines/kafka-streams`, likewise
//!   (`dev.evbench.streams.StreamsApp`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aggregator::SessionizerConfig;
use pipeline::aggregate::AggregateSnapshot;
use serde::Serialize;

use crate::component::{Component, Launch, Readiness};
use crate::file::{AggregatorSettings, EngineKind};
use crate::{Error, Result};

/// Consumer group of the aggregator under test (the transactional ids derive from it).
pub const GROUP_ID: &str = "evbench-aggregator";

/// The Flink release `engines/flink/pom.xml` pins (a test keeps the two equal).
pub const FLINK_VERSION: &str = "2.2.1";

/// The Flink engine's main class.
const FLINK_MAIN: &str = "dev.evbench.flink.SessionizerJob";

/// The Kafka Streams engine's main class.
const KAFKA_STREAMS_MAIN: &str = "dev.evbench.streams.StreamsApp";

/// Where `ci/setup` builds the Flink engine: `$EVBENCH_FLINK_HOME`, else
/// `<cache>/flink-<version>` (with `evbench-flink.jar` and `libs/`).
pub fn flink_home() -> PathBuf {
    match std::env::var_os("EVBENCH_FLINK_HOME") {
        Some(dir) => PathBuf::from(dir),
        None => harness::cache_dir().join(format!("flink-{FLINK_VERSION}")),
    }
}

/// Where `ci/setup` builds the Kafka Streams engine, at the broker's Kafka version:
/// `$EVBENCH_KAFKA_STREAMS_HOME`, else `<cache>/kafka-streams-<version>` (with
/// `evbench-kafka-streams.jar` and `libs/`).
pub fn kafka_streams_home() -> PathBuf {
    match std::env::var_os("EVBENCH_KAFKA_STREAMS_HOME") {
        Some(dir) => PathBuf::from(dir),
        None => harness::cache_dir().join(format!("kafka-streams-{}", harness::KAFKA_VERSION)),
    }
}

/// A JVM engine built by `ci/setup` into `home` (its jar and `libs/`), run as
/// `java -Xmx… -cp <libs>/*:<jar> <main>`.
fn jvm_engine(
    what: &str,
    home: &Path,
    jar: &str,
    main: &str,
    home_variable: &str,
    env: Vec<(String, String)>,
) -> Result<Launch> {
    let jar = home.join(jar);
    if !jar.is_file() || !home.join("libs").join(".complete").is_file() {
        return Err(Error::Component {
            component: format!("the {what} engine"),
            problem: format!(
                "is not built in {} (run ci/setup, or set {home_variable})",
                home.display()
            ),
        });
    }
    let classpath = format!("{}/*:{}", home.join("libs").display(), jar.display());
    Ok(Launch {
        program: PathBuf::from("java"),
        args: vec![
            // A fixed heap keeps the figures comparable between machines (the Flink
            // MiniCluster and its job need a few hundred MB).
            "-Xmx768m".into(),
            "-cp".into(),
            classpath,
            main.into(),
        ],
        env,
        metrics_addr: None,
        placement: None,
    })
}

/// What an engine is told about the run.
#[derive(Debug, Clone)]
pub struct EngineContext {
    pub bootstrap: String,
    /// How the aggregator logs in to a secured Kafka ([`endpoints::security::env`]); empty
    /// on a plaintext one.
    pub kafka_env: Vec<(String, String)>,
    pub signals_topic: String,
    pub sessions_topic: String,
    pub dead_letter_topic: String,
    pub group_id: String,
    pub sessionizer: SessionizerConfig,
    pub commit_interval: Duration,
    pub idle_timeout: Duration,
    pub exactly_once: bool,
    /// Flink's checkpoint interval (its commits).
    pub checkpoint_interval: Duration,
    pub parallelism: u32,
    /// The evbench binary (for the `evbench` engine).
    pub evbench: PathBuf,
    /// Each instance's own place on the run's network (`evbench` and `command` engines, when
    /// the servers have their own addresses); empty: the machine's own network.
    pub placements: Vec<harness::Placement>,
}

/// The environment every engine gets: where the topics are, and how the sessionizer must
/// treat imperfect input, in milliseconds.
pub fn environment(
    context: &EngineContext,
    instance: u32,
    state_dir: &Path,
    metrics_port: u16,
) -> Vec<(String, String)> {
    let ms = |d: Duration| d.as_millis().to_string();
    let s = &context.sessionizer;
    [
        ("EVBENCH_KAFKA_BOOTSTRAP", context.bootstrap.clone()),
        ("EVBENCH_SIGNALS_TOPIC", context.signals_topic.clone()),
        ("EVBENCH_SESSIONS_TOPIC", context.sessions_topic.clone()),
        (
            "EVBENCH_DEAD_LETTER_TOPIC",
            context.dead_letter_topic.clone(),
        ),
        ("EVBENCH_GROUP_ID", context.group_id.clone()),
        ("EVBENCH_INSTANCE", instance.to_string()),
        ("EVBENCH_OVERSTAY_GRACE_MS", ms(s.overstay_grace)),
        ("EVBENCH_REORDER_TOLERANCE_MS", ms(s.reorder_tolerance)),
        ("EVBENCH_INACTIVITY_GAP_MS", ms(s.inactivity_gap)),
        ("EVBENCH_MAX_CLOCK_SKEW_MS", ms(s.max_clock_skew)),
        ("EVBENCH_COMMIT_INTERVAL_MS", ms(context.commit_interval)),
        ("EVBENCH_IDLE_TIMEOUT_MS", ms(context.idle_timeout)),
        ("EVBENCH_EXACTLY_ONCE", context.exactly_once.to_string()),
        (
            "EVBENCH_CHECKPOINT_INTERVAL_MS",
            ms(context.checkpoint_interval),
        ),
        ("EVBENCH_PARALLELISM", context.parallelism.to_string()),
        ("EVBENCH_METRICS_PORT", metrics_port.to_string()),
        ("EVBENCH_STATE_DIR", state_dir.display().to_string()),
        (
            "EVBENCH_READY_FILE",
            state_dir.join("ready").display().to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .chain(context.kafka_env.iter().cloned())
    .collect()
}

fn launch(
    settings: &AggregatorSettings,
    context: &EngineContext,
    instance: u32,
    state_dir: &Path,
) -> Result<Launch> {
    let metrics_port = harness::ports::free_port()?;
    let env = environment(context, instance, state_dir, metrics_port);
    match settings.engine {
        EngineKind::Evbench => {
            let human = |d: Duration| humantime::format_duration(d).to_string();
            let s = &context.sessionizer;
            let flags = vec![
                ("--brokers", context.bootstrap.clone()),
                ("--group", context.group_id.clone()),
                ("--instance", instance.to_string()),
                ("--commit-interval", human(context.commit_interval)),
                ("--idle-timeout", human(context.idle_timeout)),
                ("--overstay-grace", human(s.overstay_grace)),
                ("--reorder-tolerance", human(s.reorder_tolerance)),
                ("--inactivity-gap", human(s.inactivity_gap)),
                ("--max-clock-skew", human(s.max_clock_skew)),
                (
                    "--ready-file",
                    state_dir.join("ready").display().to_string(),
                ),
                (
                    "--stats-file",
                    state_dir.join("stats.json").display().to_string(),
                ),
            ];
            let mut launch = Launch::subcommand(&context.evbench, "aggregate", flags, env)
                .placed(context.placements.get(instance as usize).cloned())
                .with_metrics()?;
            if !context.exactly_once {
                launch.args.push("--no-transactions".into());
            }
            Ok(launch)
        }
        EngineKind::Command => Ok(Launch {
            program: PathBuf::from(&settings.command[0]),
            args: settings.command[1..].to_vec(),
            env,
            metrics_addr: None,
            placement: context.placements.get(instance as usize).cloned(),
        }),
        // Flink's own Prometheus reporter serves on EVBENCH_METRICS_PORT (docs/flink.md).
        EngineKind::Flink => jvm_engine(
            "Flink",
            &flink_home(),
            "evbench-flink.jar",
            FLINK_MAIN,
            "EVBENCH_FLINK_HOME",
            env,
        )
        .map(|launch| Launch {
            metrics_addr: Some(format!("127.0.0.1:{metrics_port}")),
            ..launch
        }),
        EngineKind::KafkaStreams => jvm_engine(
            "Kafka Streams",
            &kafka_streams_home(),
            "evbench-kafka-streams.jar",
            KAFKA_STREAMS_MAIN,
            "EVBENCH_KAFKA_STREAMS_HOME",
            env,
        ),
    }
}

/// The engine's instances, running.
#[derive(Debug)]
pub struct Engine {
    kind: EngineKind,
    /// `[aggregator] exactly_once`, as asked of the engine.
    exactly_once_requested: bool,
    instances: Vec<Component>,
}

/// How the engine ended and what it said about itself.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EngineOutcome {
    pub engine: String,
    /// Whether the engine is known to deliver exactly once: evbench's, Flink's and Kafka
    /// Streams' when the
    /// scenario asks for it; `false` for `command` engines, whose guarantee evbench cannot know.
    /// The checks do not depend on it: `sessions-topic-exactly-once` judges every engine.
    pub exactly_once: bool,
    /// What the scenario asked every engine for (`[aggregator] exactly_once`, told to the
    /// engine as `EVBENCH_EXACTLY_ONCE`).
    pub exactly_once_requested: bool,
    /// Instances that exited on their own before the run stopped them, with how.
    pub exits: Vec<String>,
    /// The evbench aggregator's counters and transaction timings, of its first instance
    /// (`aggregator-0`; other engines keep their own).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats: Option<AggregateSnapshot>,
    /// Where each instance's log is.
    pub logs: Vec<PathBuf>,
}

impl Engine {
    /// Starts `[aggregator] instances` instances of the engine, `aggregator-0` … (each its
    /// state under `work`, its log in `logs`), in one consumer group.
    pub fn start(
        settings: &AggregatorSettings,
        context: &EngineContext,
        work: &Path,
        logs: &Path,
    ) -> Result<Engine> {
        let mut instances = Vec::with_capacity(settings.instances as usize);
        for instance in 0..settings.instances.max(1) {
            let name = format!("aggregator-{instance}");
            let state_dir = work.join(&name);
            let launch = launch(settings, context, instance, &state_dir)?;
            instances.push(Component::start(
                &name,
                launch,
                &state_dir,
                logs,
                Duration::from_secs(20),
            )?);
        }
        Ok(Engine {
            kind: settings.engine,
            exactly_once_requested: context.exactly_once,
            instances,
        })
    }

    /// Waits until every instance says it is consuming and, where they count them, together
    /// hold all `partitions` input partitions. Fails when an instance exits or `timeout` passes.
    pub async fn wait_ready(&mut self, partitions: u32, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some((name, how)) = self.first_exit() {
                return Err(Error::Component {
                    component: name,
                    problem: format!("exited while starting: {how}"),
                });
            }
            let states: Vec<Readiness> = self.instances.iter().map(Component::readiness).collect();
            let all_ready = states.iter().all(|r| matches!(r, Readiness::Ready(_)));
            let counted: Option<u64> = states
                .iter()
                .map(|r| match r {
                    Readiness::Ready(n) => *n,
                    Readiness::Starting => None,
                })
                .sum();
            if all_ready && counted.is_none_or(|held| held >= u64::from(partitions)) {
                return Ok(());
            }
            if Instant::now() > deadline {
                let log = self
                    .instances
                    .first()
                    .map(|c| c.log_path().display().to_string())
                    .unwrap_or_default();
                return Err(Error::Component {
                    component: format!("the {} engine", self.kind.as_str()),
                    problem: format!(
                        "did not start consuming all {partitions} partitions within {} ({}; log: {log})",
                        humantime::format_duration(timeout),
                        match counted {
                            Some(held) if all_ready => format!("{held} held"),
                            _ => "no ready file".to_owned(),
                        }
                    ),
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The instance `index`, to kill and restart (faults).
    pub(crate) fn instance_mut(&mut self, index: usize) -> Option<&mut Component> {
        self.instances.get_mut(index)
    }

    /// Name and metrics address of each instance that serves metrics.
    pub(crate) fn metrics_targets(&self) -> Vec<crate::lag::Target> {
        self.instances
            .iter()
            .filter_map(|c| {
                Some(crate::lag::Target {
                    name: c.name().to_owned(),
                    addr: c.metrics_addr()?.to_owned(),
                })
            })
            .collect()
    }

    /// The engine's name (`evbench`, `flink`, …).
    pub(crate) fn kind(&self) -> EngineKind {
        self.kind
    }

    /// Name and process group of each running instance.
    pub(crate) fn process_groups(&self) -> Vec<(String, u32)> {
        self.instances
            .iter()
            .filter_map(|c| Some((c.name().to_owned(), c.pgid()?)))
            .collect()
    }

    fn first_exit(&mut self) -> Option<(String, String)> {
        self.instances
            .iter_mut()
            .find_map(|c| c.exited().map(|how| (c.name().to_owned(), how)))
    }

    /// Whether every instance has exited (nothing is consuming any more).
    pub fn all_exited(&mut self) -> bool {
        self.instances.iter_mut().all(|c| c.exited().is_some())
    }

    /// Stops every instance (a clean shutdown: the evbench aggregator commits what it has) and
    /// collects what they said.
    pub async fn stop(mut self) -> EngineOutcome {
        let mut exits = Vec::new();
        for component in &mut self.instances {
            if let Some(how) = component.exited() {
                exits.push(format!("{}: {how}", component.name()));
            }
        }
        let instances = std::mem::take(&mut self.instances);
        let kind = self.kind;
        let exactly_once_requested = self.exactly_once_requested;
        // A command engine promises what it promises; evbench cannot know.
        let exactly_once = kind != EngineKind::Command && exactly_once_requested;
        tokio::task::spawn_blocking(move || {
            let mut instances = instances;
            for component in &mut instances {
                component.stop();
            }
            let stats = match kind {
                EngineKind::Evbench => instances.first().and_then(Component::stats),
                EngineKind::Command | EngineKind::Flink | EngineKind::KafkaStreams => None,
            };
            EngineOutcome {
                engine: kind.as_str().to_owned(),
                exactly_once,
                exactly_once_requested,
                exits,
                stats,
                logs: instances.iter().map(|c| c.log_path().to_owned()).collect(),
            }
        })
        .await
        .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flink_version_matches_the_engines_pom() {
        let pom = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../engines/flink/pom.xml"
        ))
        .unwrap();
        assert!(
            pom.contains(&format!("<flink.version>{FLINK_VERSION}</flink.version>")),
            "engines/flink/pom.xml pins another Flink"
        );
    }

    #[test]
    fn the_kafka_streams_engine_defaults_to_the_brokers_kafka() {
        // ci/setup builds it with -Dkafka.version from ci/kafka/pom.xml; the reactor's own
        // default is what a by-hand `mvn package` uses.
        let pom = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../engines/pom.xml"
        ))
        .unwrap();
        let version = harness::KAFKA_VERSION;
        assert!(
            pom.contains(&format!("<kafka.version>{version}</kafka.version>")),
            "engines/pom.xml defaults to another Kafka than {version}"
        );
        assert!(
            kafka_streams_home().ends_with(format!("kafka-streams-{version}"))
                || std::env::var_os("EVBENCH_KAFKA_STREAMS_HOME").is_some()
        );
    }

    fn test_context() -> EngineContext {
        EngineContext {
            bootstrap: "127.0.0.1:9092".into(),
            kafka_env: Vec::new(),
            signals_topic: "s".into(),
            sessions_topic: "t".into(),
            dead_letter_topic: "d".into(),
            group_id: "g".into(),
            sessionizer: SessionizerConfig::default(),
            commit_interval: Duration::from_millis(100),
            idle_timeout: Duration::from_secs(2),
            exactly_once: true,
            checkpoint_interval: Duration::from_millis(200),
            parallelism: 2,
            evbench: PathBuf::from("/bin/evbench"),
            placements: Vec::new(),
        }
    }

    #[test]
    fn the_documented_contract_is_the_environment_the_runner_sets() {
        let doc = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/engines.md"),
        )
        .unwrap();
        let documented: std::collections::BTreeSet<String> = doc
            .lines()
            .filter_map(|l| l.strip_prefix("| `EVBENCH_"))
            .map(|rest| format!("EVBENCH_{}", rest.split('`').next().unwrap()))
            .collect();
        let set: std::collections::BTreeSet<String> =
            environment(&test_context(), 0, Path::new("/state"), 9464)
                .into_iter()
                .map(|(k, _)| k)
                .collect();
        assert_eq!(
            documented, set,
            "docs/engines.md's contract table against what every engine is given"
        );
    }

    #[test]
    fn every_engine_gets_the_contract() {
        let context = test_context();
        let env = environment(&context, 0, Path::new("/state"), 9464);
        let get = |k: &str| {
            env.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("EVBENCH_KAFKA_BOOTSTRAP"), Some("127.0.0.1:9092"));
        assert_eq!(get("EVBENCH_READY_FILE"), Some("/state/ready"));
        assert_eq!(get("EVBENCH_INACTIVITY_GAP_MS"), Some("21600000"));
        assert_eq!(get("EVBENCH_CHECKPOINT_INTERVAL_MS"), Some("200"));
        let settings = AggregatorSettings {
            engine: EngineKind::Command,
            command: vec!["python3".into(), "x.py".into()],
            ..AggregatorSettings::default()
        };
        let command = launch(&settings, &context, 0, Path::new("/state")).unwrap();
        assert_eq!(command.program, PathBuf::from("python3"));
        assert_eq!(command.args, vec!["x.py".to_owned()]);
        let evbench = launch(&AggregatorSettings::default(), &context, 0, Path::new("/s")).unwrap();
        assert_eq!(evbench.args[0], "aggregate");
        assert!(
            evbench
                .args
                .windows(2)
                .any(|w| w == ["--inactivity-gap", "6h"])
        );
    }
}
