//! Modern ClickHouse (26.x, in-process through chDB): every migration of the modern dialect, every
//! KPI query against the Rust KPIs, and the Kafka-engine views over stand-in tables. Runs
//! `ci/chdb_conformance.py`; skips, saying why, only when `import chdb` fails.

mod common;

use std::path::Path;
use std::process::Command;

use schema::kafka_engine::{self, KafkaEngineConfig};
use schema::kpi::{self, KpiValues};
use schema::{Dialect, Schema};

fn chdb_missing() -> Option<String> {
    match Command::new("python3").args(["-c", "import chdb"]).output() {
        Ok(out) if out.status.success() => None,
        Ok(out) => Some(String::from_utf8_lossy(&out.stderr).trim().to_owned()),
        Err(e) => Some(format!("python3: {e}")),
    }
}

#[test]
fn modern_schema_and_kpis_conform_under_chdb() {
    if let Some(reason) = chdb_missing() {
        eprintln!(
            "SKIPPED chDB conformance: `import chdb` fails ({reason}); ci/setup installs chdb-core"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| std::fs::write(dir.path().join(name), bytes).unwrap();
    let schema = Schema::new(Dialect::modern());
    let (signals, sessions) = common::simulate(120, 3);
    let params = common::window_of(&sessions);

    write(
        "statements.json",
        &serde_json::to_vec(&schema.all_statements()).unwrap(),
    );
    let stand_in =
        kafka_engine::stand_in_statements(&schema, &KafkaEngineConfig::new("unused:9092")).unwrap();
    write("stand_in.json", &serde_json::to_vec(&stand_in).unwrap());
    let kpis: Vec<serde_json::Value> = kpi::queries(&schema)
        .iter()
        .map(|q| {
            serde_json::json!({
                "name": q.name,
                "sql": q.render(&params),
                "columns": q.columns.iter().map(|(n, k)| (n, k)).collect::<Vec<_>>(),
                "key_columns": q.key_columns,
            })
        })
        .collect();
    write("kpis.json", &serde_json::to_vec(&kpis).unwrap());
    let passwords = schema::users::Passwords {
        ingest: endpoints::Secret::new("conformance-ingest"),
        grafana: endpoints::Secret::new("conformance-grafana"),
    };
    write(
        "users.json",
        &serde_json::to_vec(&schema::users::users_sql(&schema, &passwords)).unwrap(),
    );
    let expected = kpi::compute(&sessions, &params);
    write("expected.json", &serde_json::to_vec(&expected).unwrap());
    let mut jsonl = Vec::new();
    for s in &sessions {
        serde_json::to_writer(&mut jsonl, s).unwrap();
        jsonl.push(b'\n');
    }
    write("sessions.jsonl", &jsonl);
    let mut raw = Vec::new();
    for (_, json) in &signals {
        raw.extend_from_slice(json);
        raw.push(b'\n');
    }
    let bad = [
        &b"{not json"[..],
        br#"{"timestamp":1767225600000,"charger_id":"charger-1"}"#,
        br#"{"timestamp":1767225600000,"charger_id":"charger-1","user_connection":true,"price":-1}"#,
    ];
    for b in bad {
        raw.extend_from_slice(b);
        raw.push(b'\n');
    }
    write("signals.jsonl", &raw);
    write(
        "expect.json",
        &serde_json::to_vec(&serde_json::json!({
            "signals": signals.len(), "sessions": sessions.len(), "dead_letters": bad.len(),
        }))
        .unwrap(),
    );

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ci/chdb_conformance.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(dir.path())
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}{stderr}");
    assert!(
        out.status.success(),
        "chDB conformance failed ({})",
        out.status
    );

    // The same comparison once more on the Rust side, with the crate's own comparator.
    let actual: KpiValues =
        serde_json::from_slice(&std::fs::read(dir.path().join("actual.json")).unwrap()).unwrap();
    let diffs = kpi::compare(&expected, &actual, &kpi::queries(&schema));
    assert!(diffs.is_empty(), "{diffs:#?}");
}
