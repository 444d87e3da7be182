//! The scenario file as the documentation lists it is the scenario file the code reads: every
//! key of `docs/scenarios.md`'s listing exists, and every key the code reads is listed there
//! (profile keys in `docs/simulator.md`, fault keys in `docs/faults.md`).
//!
//! Keys with a default show up when the documented file is read and written back; optional keys
//! (`Option` fields, absent unless set) are caught by destructuring their structs with every
//! field named: a new field does not compile here until it is given a place in the test, and
//! then fails it until the documentation lists it.

use std::collections::BTreeSet;

use scenario::Scenario;
use scenario::faults::spec::FaultSpec;
use scenario::file::{Checks, Fleet, Load, Run};
use simulator::ProfileSpec;

mod common;
use common::repo;

/// The fenced blocks of `lang` in a Markdown file.
fn blocks(doc: &str, lang: &str) -> Vec<String> {
    let text = std::fs::read_to_string(repo().join(doc)).unwrap();
    let mut found = Vec::new();
    let mut open: Option<String> = None;
    for line in text.lines() {
        match (&mut open, line.trim_start().strip_prefix("```")) {
            (None, Some(l)) if l.trim() == lang => open = Some(String::new()),
            (None, Some(_)) => open = Some(String::from("\u{0}")),
            (Some(block), Some(_)) => {
                if !block.starts_with('\u{0}') {
                    found.push(std::mem::take(block));
                }
                open = None;
            }
            (Some(block), None) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, None) => {}
        }
    }
    found
}

/// Dotted key paths of a TOML or JSON document's tables (arrays of tables as `key[]`).
fn keys(value: &serde_json::Value, prefix: &str, out: &mut BTreeSet<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                match v {
                    serde_json::Value::Object(_) => keys(v, &path, out),
                    serde_json::Value::Array(items)
                        if items.iter().all(|i| i.is_object()) && !items.is_empty() =>
                    {
                        for item in items {
                            keys(item, &format!("{path}[]"), out);
                        }
                    }
                    _ => {
                        out.insert(path);
                    }
                }
            }
        }
        _ => panic!("not a table: {value}"),
    }
}

fn toml_keys(text: &str) -> BTreeSet<String> {
    let value: toml::Value = toml::from_str(text).unwrap();
    let mut out = BTreeSet::new();
    keys(&serde_json::to_value(value).unwrap(), "", &mut out);
    out
}

/// The listing in docs/scenarios.md, read as the code reads a scenario (no semantic checks: the
/// listing shows keys that a real file would not combine, such as `load.rate` beside
/// `run.time_compression`).
fn documented_scenario() -> (String, Scenario) {
    let listing = blocks("docs/scenarios.md", "toml")
        .into_iter()
        .next()
        .expect("docs/scenarios.md lists the file in a toml block");
    let scenario: Scenario = toml::from_str(&listing)
        .unwrap_or_else(|e| panic!("docs/scenarios.md lists a key the code does not read: {e}"));
    (listing, scenario)
}

#[test]
fn every_documented_scenario_key_is_read_and_every_read_key_is_documented() {
    let (listing, scenario) = documented_scenario();
    let outside = |k: &String| k.starts_with("profile.") || k.starts_with("faults[]");
    let documented: BTreeSet<String> = toml_keys(&listing)
        .into_iter()
        .filter(|k| !outside(k))
        .collect();
    let mut read = BTreeSet::new();
    keys(&serde_json::to_value(&scenario).unwrap(), "", &mut read);
    let read: BTreeSet<String> = read.into_iter().filter(|k| !outside(k)).collect();
    let undocumented: Vec<_> = read.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "keys the code reads that docs/scenarios.md does not list: {undocumented:?}"
    );
    assert_eq!(documented, read);

    // Optional keys are only written back when set: the listing must set every one.
    let Scenario {
        fleet,
        run,
        load,
        checks,
        ..
    } = &scenario;
    let Fleet {
        chargers: _,
        max_partitions: _,
        start,
    } = fleet;
    let Run {
        span: _,
        time_compression: _,
        ingestion: _,
        provider: _,
        drain_timeout: _,
        kafka_compression: _,
        linger: _,
        services_dir,
    } = run;
    let Load {
        rate,
        warmup: _,
        clickhouse_poll: _,
        floors: _,
    } = load;
    let Checks {
        sessions_exact: _,
        raw_counts: _,
        kpis: _,
        min_events_per_s,
        max_p99_session_ms,
        max_p99_clickhouse_ms,
    } = checks;
    for (key, set) in [
        ("fleet.start", start.is_some()),
        ("run.services_dir", services_dir.is_some()),
        ("load.rate", rate.is_some()),
        ("checks.min_events_per_s", min_events_per_s.is_some()),
        ("checks.max_p99_session_ms", max_p99_session_ms.is_some()),
        (
            "checks.max_p99_clickhouse_ms",
            max_p99_clickhouse_ms.is_some(),
        ),
    ] {
        assert!(set, "docs/scenarios.md does not list `{key}`");
    }
}

#[test]
fn every_profile_key_is_in_the_simulator_docs_table() {
    // docs/simulator.md's table of built-in profiles, its `study` column.
    let listing = common::profile_listing(2);
    let spec: ProfileSpec = toml::from_str(&listing).unwrap_or_else(|e| {
        panic!("docs/simulator.md lists a profile key the code does not read: {e}\n{listing}")
    });
    let ProfileSpec {
        base,
        arrival_tick,
        arrival_probability,
        no_charge_probability,
        no_charge_wait,
        identification_delay,
        charge_start_delay,
        charging_duration,
        overstay_probability,
        overstay_idle,
        normal_idle,
        overstay_grace,
        price_cents,
        power_kw,
    } = &spec;
    for (key, set) in [
        ("base", base.is_some()),
        ("arrival_tick", arrival_tick.is_some()),
        ("arrival_probability", arrival_probability.is_some()),
        ("no_charge_probability", no_charge_probability.is_some()),
        ("no_charge_wait", no_charge_wait.is_some()),
        ("identification_delay", identification_delay.is_some()),
        ("charge_start_delay", charge_start_delay.is_some()),
        ("charging_duration", charging_duration.is_some()),
        ("overstay_probability", overstay_probability.is_some()),
        ("overstay_idle", overstay_idle.is_some()),
        ("normal_idle", normal_idle.is_some()),
        ("overstay_grace", overstay_grace.is_some()),
        ("price_cents", price_cents.is_some()),
        ("power_kw", power_kw.is_some()),
    ] {
        assert!(
            set,
            "docs/simulator.md's profile table does not list `{key}`"
        );
    }
}

#[test]
fn every_fault_key_is_in_the_faults_docs() {
    let mut faults: Vec<FaultSpec> = Vec::new();
    for block in blocks("docs/faults.md", "toml") {
        #[derive(serde::Deserialize)]
        struct Listing {
            faults: Vec<FaultSpec>,
        }
        let listing: Listing = toml::from_str(&block).unwrap_or_else(|e| {
            panic!("docs/faults.md lists a fault key the code does not read: {e}")
        });
        faults.extend(listing.faults);
    }
    let mut listed = BTreeSet::new();
    for fault in &faults {
        let FaultSpec {
            kind: _,
            at,
            duration,
            share,
            by,
            chargers,
            instance,
            node,
            from,
            direction,
            rate,
            delay,
            jitter,
        } = fault;
        for (key, set) in [
            ("at", at.is_some()),
            ("for", duration.is_some()),
            ("share", share.is_some()),
            ("by", by.is_some()),
            ("chargers", chargers.is_some()),
            ("instance", instance.is_some()),
            ("node", node.is_some()),
            ("from", from.is_some()),
            ("direction", direction.is_some()),
            ("rate", rate.is_some()),
            ("delay", delay.is_some()),
            ("jitter", jitter.is_some()),
        ] {
            if set {
                listed.insert(key);
            }
        }
    }
    let every = [
        "at",
        "for",
        "share",
        "by",
        "chargers",
        "instance",
        "node",
        "from",
        "direction",
        "rate",
        "delay",
        "jitter",
    ];
    let missing: Vec<_> = every.iter().filter(|k| !listed.contains(*k)).collect();
    assert!(
        missing.is_empty(),
        "docs/faults.md's listings never show {missing:?}"
    );
}
