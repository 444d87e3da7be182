//! The Grafana dashboard's SQL, run on a real ClickHouse: every panel's query, with the plugin's
//! macros expanded as the plugin does, returns rows over a simulated day, and the totals agree
//! with the ground truth.

use harness::NativeClickHouse;
use schema::{Dialect, Schema};
use simulator::{FleetConfig, Simulator};

const DASHBOARD: &str = include_str!("../../../grafana/dashboards/evbench-kpis.json");

/// `$__timeFilter(col)`, `$__fromTime`, `$__toTime` as the ClickHouse plugin expands them.
fn expand(sql: &str, from_s: i64, to_s: i64) -> String {
    let mut out = sql
        .replace("$__fromTime", &format!("toDateTime({from_s})"))
        .replace("$__toTime", &format!("toDateTime({to_s})"));
    while let Some(start) = out.find("$__timeFilter(") {
        let rest = &out[start + "$__timeFilter(".len()..];
        let end = rest.find(')').unwrap();
        let column = rest[..end].to_owned();
        let filter = format!("{column} >= toDateTime({from_s}) AND {column} <= toDateTime({to_s})");
        out.replace_range(start..start + "$__timeFilter(".len() + end + 1, &filter);
    }
    out
}

fn time_text(epoch_ms: i64) -> String {
    events::time::format_utc(epoch_ms)[..19].to_owned()
}

#[tokio::test]
async fn every_panel_query_runs_and_agrees_with_the_truth() {
    let server = NativeClickHouse::start().await.unwrap();
    let client = server.endpoint().client();
    let schema = Schema::new(Dialect::for_server(&server.endpoint().version));
    schema::migrate::apply(&client, &schema).await.unwrap();

    // A simulated day of 50 chargers, stored as the sink would store it.
    let config = FleetConfig {
        chargers: 50,
        seed: 4,
        span_ms: 20 * 3_600_000,
        ..FleetConfig::default()
    };
    let (from_s, to_s) = (config.start_ms / 1000, config.start_ms / 1000 + 24 * 3600);
    let mut sim = Simulator::new(config).unwrap();
    let (mut json, mut signals) = (Vec::new(), String::new());
    let mut offset = 0;
    while sim.next_event(&mut json).is_some() {
        let mut row: serde_json::Value = serde_json::from_slice(&json).unwrap();
        let object = row.as_object_mut().unwrap();
        let sensor = if object.contains_key("vehicle_detected") {
            "parking"
        } else if object.contains_key("user_connection") {
            "user_data"
        } else {
            "charger"
        };
        object.insert("timestamp_ms".into(), object["timestamp"].clone());
        // 18.16 fills omitted JSONEachRow fields with zeros, not their DEFAULT expressions.
        object.insert(
            "event_time".into(),
            time_text(object["timestamp"].as_i64().unwrap()).into(),
        );
        object.remove("timestamp");
        object.insert("sensor".into(), sensor.into());
        for flag in ["vehicle_detected", "user_connection", "recharging"] {
            if let Some(v) = object.get(flag).and_then(|v| v.as_bool()) {
                object.insert(flag.into(), u8::from(v).into());
            }
        }
        object.insert("kafka_partition".into(), 0.into());
        object.insert("kafka_offset".into(), offset.into());
        offset += 1;
        signals.push_str(&row.to_string());
        signals.push('\n');
    }
    let mut truth = Vec::new();
    sim.take_completed_sessions(|s| truth.push(s));
    let mut sessions = String::new();
    for session in &truth {
        let mut row = serde_json::to_value(session).unwrap();
        let flag = u8::from(session.overstay);
        row["overstay"] = flag.into();
        row["kafka_partition"] = 0.into();
        row["kafka_offset"] = 0.into();
        row["arrived_time"] = time_text(session.arrived_at).into();
        row["departed_time"] = time_text(session.departed_at).into();
        sessions.push_str(&row.to_string());
        sessions.push('\n');
    }
    client
        .query(&format!(
            "INSERT INTO evbench.signals FORMAT JSONEachRow\n{signals}"
        ))
        .execute()
        .await
        .unwrap();
    client
        .query(&format!(
            "INSERT INTO evbench.sessions FORMAT JSONEachRow\n{sessions}"
        ))
        .execute()
        .await
        .unwrap();

    let dashboard: serde_json::Value = serde_json::from_str(DASHBOARD).unwrap();
    let panels = dashboard["panels"].as_array().unwrap();
    assert!(panels.len() >= 6);
    for panel in panels {
        let title = panel["title"].as_str().unwrap();
        let sql = expand(
            panel["targets"][0]["rawSql"].as_str().unwrap(),
            from_s,
            to_s,
        );
        let bytes = client
            .query(&sql)
            .fetch_bytes("TSVWithNames")
            .unwrap_or_else(|e| panic!("{title}: {e}"))
            .collect()
            .await
            .unwrap_or_else(|e| panic!("{title}: {e}\n{sql}"));
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        let mut lines = text.lines();
        let header = lines.next().unwrap_or_default();
        let rows: Vec<&str> = lines.collect();
        assert!(!rows.is_empty(), "{title}: no rows\n{sql}");
        if header.starts_with("time\t") {
            assert!(
                rows.windows(2).all(|w| w[0] <= w[1]),
                "{title}: time series in order"
            );
        }
        if title.starts_with("Completed charging sessions") {
            let total: u64 = rows
                .iter()
                .map(|r| r.split('\t').nth(1).unwrap().parse::<u64>().unwrap())
                .sum();
            let departed_in_window = truth
                .iter()
                .filter(|s| s.departed_at / 1000 <= to_s)
                .count() as u64;
            assert_eq!(total, departed_in_window, "{title}: sessions of the day");
        }
        if title.starts_with("Revenue per day") {
            let total: f64 = rows
                .iter()
                .map(|r| r.split('\t').nth(1).unwrap().parse::<f64>().unwrap())
                .sum();
            let expected: f64 = truth
                .iter()
                .filter(|s| s.departed_at / 1000 <= to_s)
                .map(|s| s.revenue_eur)
                .sum();
            assert!(
                (total - expected).abs() <= 1e-6 * expected.max(1.0),
                "{title}: {total} vs {expected}"
            );
        }
    }
}
