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
//! compression = "max"             # 1 = real time, 60 = the study's speed, "max" = unpaced
//! ingestion = "sink"              # or "kafka-engine"
//!
//! [checks]
//! sessions_exact = true
//! ```

use std::path::Path;
use std::time::Duration;

use harness::ProviderKind;
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
    /// How the aggregator treats imperfect input.
    #[serde(default)]
    pub aggregator: AggregatorSettings,
    #[serde(default)]
    pub faults: Faults,
    #[serde(default)]
    pub checks: Checks,
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
    1_000
}

/// How the run is played.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Run {
    /// Simulated span during which vehicles arrive (visits under way then complete).
    #[serde(with = "events::human_duration")]
    pub span: Duration,
    /// Simulated time against the wall clock: a factor (`1`, `60`) or `"max"` (unpaced).
    #[serde(default = "default_compression")]
    pub compression: Compression,
    /// How sessions and raw signals reach ClickHouse.
    #[serde(default)]
    pub ingestion: Ingestion,
    /// Where Kafka and ClickHouse come from.
    #[serde(default)]
    pub provider: ProviderKind,
    /// How long the pipeline may take to drain after the last signal before the run fails.
    #[serde(default = "default_drain_timeout", with = "events::human_duration")]
    pub drain_timeout: Duration,
    /// `compression.type` of the signal producer.
    #[serde(default = "default_kafka_compression")]
    pub kafka_compression: String,
    /// How long the signal producer waits to fill a batch (`linger.ms`): short for latency,
    /// longer for throughput when many partitions share the load.
    #[serde(default = "default_linger", with = "events::human_duration")]
    pub linger: Duration,
}

fn default_linger() -> Duration {
    Duration::from_millis(5)
}

fn default_compression() -> Compression {
    Compression::Max
}

fn default_drain_timeout() -> Duration {
    Duration::from_secs(120)
}

fn default_kafka_compression() -> String {
    "lz4".into()
}

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

/// Aggregator settings a scenario may change (the overstay grace comes from the profile).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AggregatorSettings {
    /// Signals out of order by up to this much event time are put back in order.
    #[serde(with = "events::human_duration")]
    pub reorder_tolerance: Duration,
    /// A visit with no signal for this long (event time) is closed and flagged.
    #[serde(with = "events::human_duration")]
    pub inactivity_gap: Duration,
    /// How often the aggregator commits its transaction (latency against overhead).
    #[serde(with = "events::human_duration")]
    pub commit_interval: Duration,
}

impl Default for AggregatorSettings {
    fn default() -> Self {
        AggregatorSettings {
            reorder_tolerance: Duration::from_secs(5),
            inactivity_gap: Duration::from_secs(6 * 3600),
            commit_interval: Duration::from_millis(100),
        }
    }
}

/// Faults the producer injects during the run (seeded by the scenario's seed).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Faults {
    /// Share of signals sent twice (duplicates the aggregator must ignore).
    pub duplicate_share: f64,
    /// Share of signals followed by a malformed record (it must end as a dead letter).
    pub malformed_share: f64,
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

impl Scenario {
    /// Reads and validates a scenario file. Errors name the file, the key and its line.
    pub fn load(path: &Path) -> Result<Scenario> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Invalid {
            path: path.display().to_string(),
            message: format!("cannot read: {e}"),
        })?;
        Scenario::parse(&text).map_err(|message| Error::Invalid {
            path: path.display().to_string(),
            message,
        })
    }

    /// Parses and validates scenario text; the error is a message for people.
    pub fn parse(text: &str) -> Result<Scenario, String> {
        let scenario: Scenario = toml::from_str(text).map_err(|e| describe_toml_error(text, &e))?;
        scenario.validate()?;
        Ok(scenario)
    }

    /// Checks what serde cannot: ranges, the profile, consistency.
    pub fn validate(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("`name` is empty".into());
        }
        if self.fleet.chargers == 0 {
            return Err("`fleet.chargers` must be at least 1".into());
        }
        if self.fleet.max_partitions == 0 {
            return Err("`fleet.max_partitions` must be at least 1".into());
        }
        if self.run.span.is_zero() {
            return Err("`run.span` must be longer than zero".into());
        }
        for (key, share) in [
            ("faults.duplicate_share", self.faults.duplicate_share),
            ("faults.malformed_share", self.faults.malformed_share),
        ] {
            if !(0.0..=1.0).contains(&share) {
                return Err(format!("`{key}` must be between 0 and 1, not {share}"));
            }
        }
        self.profile
            .resolve()
            .map_err(|e| format!("[profile]: {e}"))?;
        self.fleet_config()?;
        Ok(())
    }

    /// The simulator's configuration for this scenario.
    pub fn fleet_config(&self) -> Result<FleetConfig, String> {
        let start_ms = match &self.fleet.start {
            Some(text) => {
                events::time::from_text(text).map_err(|e| format!("`fleet.start`: {e}"))?
            }
            None => simulator::DEFAULT_START_MS,
        };
        let span_ms = i64::try_from(self.run.span.as_millis())
            .map_err(|_| "`run.span` is too long".to_owned())?;
        Ok(FleetConfig {
            chargers: self.fleet.chargers,
            seed: self.seed,
            start_ms,
            span_ms,
            profile: self
                .profile
                .resolve()
                .map_err(|e| format!("[profile]: {e}"))?,
        })
    }
}

/// toml's message with the line number spelled out (its spans are byte offsets).
fn describe_toml_error(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim().to_owned();
    match error.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            let source_line = text.lines().nth(line - 1).unwrap_or("").trim();
            format!("line {line}: {message} (in `{source_line}`)")
        }
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
name = "t"
seed = 1
[fleet]
chargers = 10
[run]
span = "10m"
"#;

    #[test]
    fn minimal_scenario_gets_defaults() {
        let s = Scenario::parse(MINIMAL).unwrap();
        assert_eq!(s.run.compression, Compression::Max);
        assert_eq!(s.run.ingestion, Ingestion::Sink);
        assert_eq!(s.run.provider, ProviderKind::Native);
        assert!(s.checks.sessions_exact && s.checks.raw_counts && s.checks.kpis);
        assert_eq!(s.fleet_config().unwrap().span_ms, 600_000);
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let text = MINIMAL.replace("chargers = 10", "chargers = 10\nchargerz = 3");
        let err = Scenario::parse(&text).unwrap_err();
        assert!(err.contains("chargerz"), "{err}");
        assert!(err.contains("line 6"), "{err}");
    }

    #[test]
    fn bad_values_are_explained() {
        let err = Scenario::parse(&MINIMAL.replace("\"10m\"", "\"soon\"")).unwrap_err();
        assert!(err.contains("soon") && err.contains("line 7"), "{err}");
        let err = Scenario::parse(&MINIMAL.replace("chargers = 10", "chargers = 0")).unwrap_err();
        assert!(err.contains("fleet.chargers"), "{err}");
        let err = Scenario::parse(&format!("{MINIMAL}[profile]\nbase = \"nope\"\n")).unwrap_err();
        assert!(err.contains("nope"), "{err}");
        let err =
            Scenario::parse(&format!("{MINIMAL}[faults]\nduplicate_share = 2.0\n")).unwrap_err();
        assert!(err.contains("duplicate_share"), "{err}");
    }

    #[test]
    fn shipped_scenarios_are_valid() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scenarios");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
                seen += 1;
            }
        }
        assert!(seen >= 1, "no scenario in scenarios/");
    }
}
