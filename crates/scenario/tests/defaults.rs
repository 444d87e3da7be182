//! Every default has one source, in Rust: the sessionizer's `SessionizerConfig::default()`, the
//! aggregator's `AggregateOptions::default()`, the scenario's `AggregatorSettings::default()` and
//! the simulator's built-in profiles. Whatever restates a default — the JVM engines'
//! `Config.java`, the tables of `docs/` and the scenario listing — is held to it here, so a
//! default changed in one place alone fails this test.

use std::collections::BTreeMap;
use std::time::Duration;

use aggregator::SessionizerConfig;
use scenario::Scenario;
use scenario::file::AggregatorSettings;
use simulator::{Profile, ProfileSpec};

mod common;
use common::read;

fn ms(d: Duration) -> String {
    d.as_millis().to_string()
}

/// What the environment contract's defaults are, by variable, from the Rust sources.
fn contract_defaults() -> BTreeMap<&'static str, String> {
    let sessionizer = SessionizerConfig::default();
    let aggregator = AggregatorSettings::default();
    BTreeMap::from([
        ("EVBENCH_SIGNALS_TOPIC", events::SIGNALS_TOPIC.to_owned()),
        ("EVBENCH_SESSIONS_TOPIC", events::SESSIONS_TOPIC.to_owned()),
        (
            "EVBENCH_DEAD_LETTER_TOPIC",
            events::DEAD_LETTER_TOPIC.to_owned(),
        ),
        ("EVBENCH_OVERSTAY_GRACE_MS", ms(sessionizer.overstay_grace)),
        (
            "EVBENCH_REORDER_TOLERANCE_MS",
            ms(sessionizer.reorder_tolerance),
        ),
        ("EVBENCH_INACTIVITY_GAP_MS", ms(sessionizer.inactivity_gap)),
        ("EVBENCH_MAX_CLOCK_SKEW_MS", ms(sessionizer.max_clock_skew)),
        ("EVBENCH_IDLE_TIMEOUT_MS", ms(aggregator.idle_timeout)),
        ("EVBENCH_COMMIT_INTERVAL_MS", ms(aggregator.commit_interval)),
        (
            "EVBENCH_CHECKPOINT_INTERVAL_MS",
            ms(aggregator.checkpoint_interval),
        ),
        ("EVBENCH_PARALLELISM", aggregator.parallelism.to_string()),
        ("EVBENCH_EXACTLY_ONCE", aggregator.exactly_once.to_string()),
    ])
}

#[test]
fn the_overstay_grace_is_the_study_profiles() {
    assert_eq!(
        SessionizerConfig::default().overstay_grace,
        Profile::study().overstay_grace
    );
    assert_eq!(
        Profile::study().overstay_grace,
        events::STUDY_OVERSTAY_GRACE
    );
}

#[test]
fn the_jvm_engines_defaults_are_the_rust_ones() {
    let java = read("engines/core/src/main/java/dev/evbench/core/Config.java");
    // `public long overstayGraceMs = 360_000;` → overstayGraceMs: 360000
    let mut fields = BTreeMap::new();
    for line in java.lines() {
        let Some(rest) = line.trim().strip_prefix("public ") else {
            continue;
        };
        let mut words = rest.splitn(2, ' ');
        let (Some(ty), Some(rest)) = (words.next(), words.next()) else {
            continue;
        };
        if !["long", "int", "boolean", "String"].contains(&ty) {
            continue;
        }
        if let Some((name, value)) = rest.trim_end_matches(';').split_once(" = ") {
            fields.insert(
                name.trim().to_owned(),
                value.trim().trim_matches('"').replace('_', ""),
            );
        }
    }
    let by_variable = [
        ("EVBENCH_SIGNALS_TOPIC", "signalsTopic"),
        ("EVBENCH_SESSIONS_TOPIC", "sessionsTopic"),
        ("EVBENCH_DEAD_LETTER_TOPIC", "deadLetterTopic"),
        ("EVBENCH_OVERSTAY_GRACE_MS", "overstayGraceMs"),
        ("EVBENCH_REORDER_TOLERANCE_MS", "reorderToleranceMs"),
        ("EVBENCH_INACTIVITY_GAP_MS", "inactivityGapMs"),
        ("EVBENCH_MAX_CLOCK_SKEW_MS", "maxClockSkewMs"),
        ("EVBENCH_IDLE_TIMEOUT_MS", "idleTimeoutMs"),
        ("EVBENCH_COMMIT_INTERVAL_MS", "commitIntervalMs"),
        ("EVBENCH_CHECKPOINT_INTERVAL_MS", "checkpointIntervalMs"),
        ("EVBENCH_PARALLELISM", "parallelism"),
        ("EVBENCH_EXACTLY_ONCE", "exactlyOnce"),
    ];
    let rust = contract_defaults();
    assert_eq!(
        by_variable.len(),
        rust.len(),
        "every default of the contract is compared"
    );
    for (variable, field) in by_variable {
        let java_value = fields
            .get(field)
            .unwrap_or_else(|| panic!("Config.java has no default for {field}: {fields:?}"));
        assert_eq!(
            java_value, &rust[variable],
            "engines/core Config.java's {field} against the Rust default of {variable}"
        );
    }
}

#[test]
fn the_jvm_engines_docs_tables_state_the_rust_defaults() {
    let rust = contract_defaults();
    for page in ["docs/flink.md", "docs/kafka-streams.md"] {
        let doc = read(page);
        let mut compared = 0;
        for line in doc.lines() {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            if cells.len() < 4 {
                continue;
            }
            let variable = cells[1].trim_matches('`');
            if let Some(expected) = rust.get(variable) {
                let stated = cells[2].trim_matches('`');
                assert_eq!(stated, expected, "{page}: the default of {variable}");
                compared += 1;
            }
        }
        assert_eq!(
            compared,
            rust.len(),
            "{page}'s contract table states every default"
        );
    }
}

#[test]
fn the_aggregator_docs_table_states_the_sessionizers_defaults() {
    let doc = read("docs/aggregator.md");
    let config = SessionizerConfig::default();
    let expected = [
        ("overstay_grace", config.overstay_grace),
        ("reorder_tolerance", config.reorder_tolerance),
        ("inactivity_gap", config.inactivity_gap),
        ("max_clock_skew", config.max_clock_skew),
    ];
    for (key, default) in expected {
        let row = doc
            .lines()
            .find(|l| l.starts_with(&format!("| `{key}` |")))
            .unwrap_or_else(|| panic!("docs/aggregator.md has no row for {key}"));
        let stated = row.split('|').nth(2).unwrap().trim().trim_matches('`');
        assert_eq!(
            humantime::parse_duration(stated).unwrap(),
            default,
            "docs/aggregator.md: the default of {key}"
        );
    }
}

#[test]
fn the_simulator_docs_table_states_the_builtin_profiles() {
    // Each column of the table, read as a profile's overrides, must give the built-in itself.
    for (column, builtin) in [(2, Profile::study()), (3, Profile::study_literal())] {
        let listing = common::profile_listing(column);
        let spec: ProfileSpec = toml::from_str(&listing).unwrap();
        assert_eq!(
            spec.resolve().unwrap(),
            builtin,
            "docs/simulator.md's column {column} against the built-in profile:\n{listing}"
        );
    }
}

#[test]
fn the_scenario_listing_shows_the_defaults() {
    // The listing in docs/scenarios.md says its values are the defaults; these keys show an
    // example instead (they have no default, or the example is the point).
    let examples = [
        "name",
        "description",
        "seed",
        "fleet.chargers",
        "fleet.start",
        "profile.base",
        "profile.charging_duration",
        "run.span",
        "run.services_dir",
        "load.rate",
        "load.warmup",
        "services.kafka.brokers",
        // Shown with its default; the resolved scenario leaves default services out.
        "services.network",
        "services.security",
        "checks.min_events_per_s",
        "checks.max_p99_session_ms",
        "checks.max_p99_clickhouse_ms",
    ];
    let doc = read("docs/scenarios.md");
    let listing = doc
        .split("```toml")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .unwrap();
    let listed: toml::Table = toml::from_str(listing).unwrap();
    let minimal: Scenario =
        toml::from_str("name = \"x\"\nseed = 1\n[fleet]\nchargers = 1\n[run]\nspan = \"1m\"\n")
            .unwrap();
    let defaults = serde_json::to_value(&minimal).unwrap();
    let mut compared = 0;
    for (section, value) in &listed {
        let toml::Value::Table(keys) = value else {
            continue;
        };
        for (key, shown) in keys {
            let path = format!("{section}.{key}");
            if examples.contains(&path.as_str()) || shown.is_table() {
                continue;
            }
            let default = &defaults[section.as_str()][key.as_str()];
            let shown = serde_json::to_value(shown).unwrap();
            let same = match (&shown, default) {
                // Durations are written as people write them: compare what they mean.
                (serde_json::Value::String(a), serde_json::Value::String(b)) => {
                    a == b
                        || humantime::parse_duration(a).ok().is_some()
                            && humantime::parse_duration(a).ok()
                                == humantime::parse_duration(b).ok()
                }
                (a, b) => a == b || a.as_f64().is_some() && a.as_f64() == b.as_f64(),
            };
            assert!(
                same,
                "docs/scenarios.md shows {path} = {shown}, but its default is {default}"
            );
            compared += 1;
        }
    }
    assert!(compared > 20, "only {compared} defaults compared");
}
