//! The Kafka-engine ingestion path on this machine's ClickHouse (18.16): the parsing views over
//! stand-in tables (every message shape), then the real Kafka engine end to end.

mod common;

use std::time::Duration;

use endpoints::kafka_admin::{self, TopicSpec};
use harness::{ProviderKind, Services};
use schema::kafka_engine::{self, KafkaEngineConfig};
use schema::{Dialect, Schema, kpi, migrate, store};

async fn insert_raw(client: &clickhouse::Client, table: &str, messages: &[Vec<u8>]) {
    // One message per TabSeparated line, escaped as the format wants.
    let mut body = Vec::new();
    for m in messages {
        for &b in m {
            match b {
                b'\\' => body.extend_from_slice(b"\\\\"),
                b'\t' => body.extend_from_slice(b"\\t"),
                b'\n' => body.extend_from_slice(b"\\n"),
                b => body.push(b),
            }
        }
        body.push(b'\n');
    }
    let mut insert = client.insert_formatted_with(format!(
        "INSERT INTO evbench.{table} (raw) FORMAT TabSeparated"
    ));
    insert.send(body.into()).await.expect("send");
    insert.end().await.expect("insert through the views");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_parse_every_message_shape_like_the_sink() {
    let services = Services::start(ProviderKind::Native)
        .await
        .expect("services");
    let schema = Schema::new(Dialect::for_server(&services.clickhouse.version));
    let admin = services.clickhouse.client();
    migrate::apply(&admin, &schema).await.unwrap();
    let config = KafkaEngineConfig::new(&services.kafka.bootstrap);
    for statement in kafka_engine::stand_in_statements(&schema, &config).unwrap() {
        admin
            .query_raw(&statement)
            .execute()
            .await
            .unwrap_or_else(|e| panic!("{e}\n{statement}"));
    }
    let (signals, sessions) = common::simulate(30, 2);
    let mut messages: Vec<Vec<u8>> = signals.iter().map(|(_, j)| j.clone()).collect();
    // The study's generator: blanks after colons, seconds, date strings.
    messages.push(br#"{"timestamp": 1767225600, "charger_id": "study-1", "vehicle_detected": true, "plate": "AB12CD34"}"#.to_vec());
    messages.push(br#"{"timestamp": "2026-01-01 00:00:05", "charger_id": "study-1", "user_id": "U1", "price": 1.14, "user_connection": true}"#.to_vec());
    messages.push(br#"{"timestamp": 1767225610.25, "charger_id": "study-1", "recharging": true, "energy_delivered": 22}"#.to_vec());
    let good = messages.len();
    for bad in common::BAD_SIGNALS {
        messages.push(bad.to_vec());
    }
    insert_raw(&admin, "kafka_signals", &messages).await;
    let mut session_messages: Vec<Vec<u8>> = sessions
        .iter()
        .map(|s| serde_json::to_vec(s).unwrap())
        .collect();
    session_messages.push(common::BAD_SESSION.to_vec());
    insert_raw(&admin, "kafka_sessions", &session_messages).await;

    assert_eq!(
        store::count_signals(&admin, &schema).await.unwrap(),
        good as u64
    );
    assert_eq!(
        store::count_dead_letters(&admin, &schema).await.unwrap(),
        common::BAD_SIGNALS.len() as u64 + 1
    );
    let reasons: Vec<String> = admin
        .query("SELECT reason FROM evbench.dead_letters ORDER BY reason")
        .fetch_all()
        .await
        .unwrap();
    eprintln!("dead-letter reasons: {reasons:#?}");

    // The study-style messages decode as events::decode reads them.
    let study: Vec<(i64, Option<f64>)> = admin
        .query("SELECT timestamp_ms, price FROM evbench.signals FINAL WHERE charger_id = 'study-1' ORDER BY timestamp_ms")
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(
        study,
        vec![
            (1_767_225_600_000, None),
            (1_767_225_605_000, Some(1.14)),
            (1_767_225_610_250, None)
        ]
    );

    // Sessions field by field (floats bit for bit), and the KPIs.
    let stored = store::fetch_sessions(&admin, &schema).await.unwrap();
    assert_eq!(stored.len(), sessions.len());
    for (got, want) in stored.iter().zip(&sessions) {
        assert!(
            got.differing_fields(want).is_empty(),
            "{:?}\n{got:?}\n{want:?}",
            got.differing_fields(want)
        );
    }
    let params = common::window_of(&sessions);
    let diffs = kpi::compare(
        &kpi::compute(&sessions, &params),
        &kpi::fetch(&admin, &schema, &params).await.unwrap(),
        &kpi::queries(&schema),
    );
    assert!(diffs.is_empty(), "{diffs:#?}");
    services.stop();
}

/// The study's path for real: 500 chargers, one simulated hour, one partition per charger,
/// sessions from a transactional producer (with an aborted transaction that must stay unseen).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_engine_ingests_exactly_on_the_real_server() {
    let mut services = Services::start(ProviderKind::Native)
        .await
        .expect("services");
    let schema = Schema::new(Dialect::for_server(&services.clickhouse.version));
    let admin = services.clickhouse.client();
    migrate::apply(&admin, &schema).await.unwrap();
    let bootstrap = services.kafka.bootstrap.clone();
    kafka_admin::ensure_topic(&bootstrap, events::SIGNALS_TOPIC, TopicSpec::single(500))
        .await
        .unwrap();
    kafka_admin::ensure_topic(&bootstrap, events::SESSIONS_TOPIC, TopicSpec::single(8))
        .await
        .unwrap();
    let (signals, sessions) = common::simulate(500, 1);
    common::produce_signals(
        &bootstrap,
        events::SIGNALS_TOPIC,
        &signals,
        500,
        common::BAD_SIGNALS,
    )
    .await;
    common::produce_sessions(&bootstrap, events::SESSIONS_TOPIC, &sessions, 25, true).await;

    let config = KafkaEngineConfig::new(&bootstrap);
    let started = std::time::Instant::now();
    kafka_engine::install_native(services.native_clickhouse().unwrap(), &schema, &config)
        .await
        .expect("kafka engine installed");
    let admin = services.clickhouse.client();
    let wait = Duration::from_secs(120);
    common::wait_for_count("signals", signals.len() as u64, wait, || {
        store::count_signals(&admin, &schema)
    })
    .await;
    common::wait_for_count("sessions", sessions.len() as u64, wait, || {
        store::count_sessions(&admin, &schema)
    })
    .await;
    // Empty messages become empty TabSeparated rows, dead-lettered like the others.
    common::wait_for_count(
        "dead letters",
        common::BAD_SIGNALS.len() as u64 + 1,
        wait,
        || store::count_dead_letters(&admin, &schema),
    )
    .await;
    eprintln!(
        "kafka engine: {} signals and {} sessions in {:?}",
        signals.len(),
        sessions.len(),
        started.elapsed()
    );

    let stored = store::fetch_sessions(&admin, &schema).await.unwrap();
    assert_eq!(stored.len(), sessions.len());
    for (got, want) in stored.iter().zip(&sessions) {
        assert!(
            got.differing_fields(want).is_empty(),
            "{:?}\n{got:?}\n{want:?}",
            got.differing_fields(want)
        );
    }
    let params = common::window_of(&sessions);
    let diffs = kpi::compare(
        &kpi::compute(&sessions, &params),
        &kpi::fetch(&admin, &schema, &params).await.unwrap(),
        &kpi::queries(&schema),
    );
    assert!(diffs.is_empty(), "{diffs:#?}");
    // Drop the Kafka tables while the broker still runs (else 18.16's shutdown stalls).
    kafka_engine::drop(&admin, &schema).await.unwrap();
    services.stop();
}
