//! A real Prometheus against a real run: `evbench run --keep`'s Prometheus scrapes the
//! aggregator and the sink of the quickstart scenario, loads `grafana/prometheus/alerts.yml`,
//! and then every PromQL query of the dashboards' Prometheus panels and of the alert rules
//! parses and returns series through its HTTP API, and every rule evaluates without error.
//! (The ClickHouse panels' SQL is checked the same way by `crates/schema/tests/grafana_dashboard.rs`.)

use std::path::{Path, PathBuf};

use scenario::file::Scenario;
use scenario::run::{RunContext, run_keeping};
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Percent-encodes a query parameter.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Every PromQL query of the dashboards' Prometheus panels: (where, query).
fn dashboard_queries() -> Vec<(String, String)> {
    let mut queries = Vec::new();
    for entry in std::fs::read_dir(repo().join("grafana/dashboards")).unwrap() {
        let path = entry.unwrap().path();
        let dashboard: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        for panel in dashboard["panels"].as_array().unwrap() {
            if panel["datasource"]["type"] != "prometheus" {
                continue;
            }
            for target in panel["targets"].as_array().unwrap() {
                queries.push((
                    format!(
                        "{} / {}",
                        path.file_name().unwrap().to_string_lossy(),
                        panel["title"].as_str().unwrap()
                    ),
                    target["expr"].as_str().unwrap().to_owned(),
                ));
            }
        }
    }
    queries
}

/// Every alert rule's query, without its threshold: (alert, query).
fn alert_queries() -> Vec<(String, String)> {
    let mut queries = Vec::new();
    let mut alert = None;
    for line in scenario::run::ALERT_RULES.lines() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix("- alert:") {
            alert = Some(name.trim().to_owned());
        } else if let Some(expr) = line.strip_prefix("expr:") {
            let expr = expr.trim();
            let (query, threshold) = expr
                .rsplit_once(" > ")
                .or_else(|| expr.rsplit_once(" < "))
                .unwrap_or_else(|| panic!("{expr}: not `query > threshold`"));
            assert!(threshold.trim().parse::<f64>().is_ok(), "{expr}");
            queries.push((alert.clone().expect("expr before alert"), query.to_owned()));
        }
    }
    queries
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_and_alert_queries_return_series_from_a_real_run() {
    let dashboards = dashboard_queries();
    let alerts = alert_queries();
    assert!(dashboards.len() >= 4, "{dashboards:?}");
    assert_eq!(alerts.len(), 4, "{alerts:?}");

    let scenario = Scenario::load(&repo().join("scenarios/quickstart.toml")).unwrap();
    let logs = tempfile::tempdir().unwrap();
    let context = RunContext {
        evbench: PathBuf::from(env!("CARGO_BIN_EXE_evbench")),
        logs: logs.path().to_owned(),
        services_dir: None,
        prometheus: true,
    };
    let (report, kept) = run_keeping(&scenario, &context, &|_| {}).await.unwrap();
    assert!(report.passed, "{:#?}", report.checks);
    let prometheus = kept
        .prometheus
        .as_ref()
        .expect("a Prometheus was asked for");

    let now = scenario_now();
    let mut problems = Vec::new();
    for (source, query) in dashboards.iter().chain(&alerts) {
        let path = format!(
            "/api/v1/query_range?query={}&start={}&end={now}&step=1",
            encode(query),
            now - 300
        );
        let (status, body) = prometheus.get(&path).expect("Prometheus answers");
        let answer: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        if status != 200 || answer["status"] != "success" {
            problems.push(format!("{source}: `{query}` failed ({status}): {body}"));
            continue;
        }
        let series = answer["data"]["result"].as_array().map_or(0, Vec::len);
        if series == 0 {
            problems.push(format!("{source}: `{query}` returned no series"));
        }
    }
    let (_, body) = prometheus.get("/api/v1/rules").expect("Prometheus answers");
    let rules: Value = serde_json::from_str(&body).unwrap();
    let loaded: Vec<&Value> = rules["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .collect();
    assert_eq!(loaded.len(), alerts.len(), "{body}");
    for rule in loaded {
        if rule["health"] != "ok" {
            problems.push(format!(
                "rule {}: health {} ({})",
                rule["name"], rule["health"], rule["lastError"]
            ));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    drop(kept);
}

/// Seconds since the epoch.
fn scenario_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
