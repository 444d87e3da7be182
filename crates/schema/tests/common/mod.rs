//! Helpers shared by the integration tests.
#![allow(dead_code)]

use events::Session;
use schema::kpi::KpiParams;

/// Ground-truth sessions of a simulated fleet (the study profile), sorted by id.
pub fn simulated_sessions(chargers: u32, hours: i64) -> Vec<Session> {
    let (_, sessions) = simulate(chargers, hours);
    sessions
}

/// Signals (key, JSON) and ground-truth sessions of a simulated fleet.
pub fn simulate(chargers: u32, hours: i64) -> (Vec<(String, Vec<u8>)>, Vec<Session>) {
    let mut sim = simulator::Simulator::new(simulator::FleetConfig {
        chargers,
        seed: 7,
        span_ms: hours * 3_600_000,
        ..simulator::FleetConfig::default()
    })
    .expect("simulator");
    let mut signals = Vec::new();
    let mut json = Vec::new();
    let mut sessions = Vec::new();
    loop {
        json.clear();
        let Some(meta) = sim.next_event(&mut json) else {
            break;
        };
        signals.push((sim.charger_id(meta.charger_index).to_owned(), json.clone()));
        sim.take_completed_sessions(|s| sessions.push(s));
    }
    sim.take_completed_sessions(|s| sessions.push(s));
    sessions.sort_by(|a, b| a.session_id.cmp(&b.session_id));
    (signals, sessions)
}

/// A window covering every session, with a top list long enough to hold every station.
pub fn window_of(sessions: &[Session]) -> KpiParams {
    let from = sessions.iter().map(|s| s.arrived_at).min().unwrap_or(0);
    let to = sessions.iter().map(|s| s.departed_at).max().unwrap_or(0) + 1;
    // A window that cuts visits on both ends exercises the overlap rule.
    let mut params = KpiParams::window(from + 600_000, to - 600_000);
    params.top = 1_000;
    params.bucket_ms = 900_000;
    params
}

/// Inserts sessions as JSONEachRow through `client` (the admin path, not the sink).
pub async fn insert_sessions_json(client: &clickhouse::Client, sessions: &[Session]) {
    let mut body = Vec::new();
    for s in sessions {
        serde_json::to_writer(&mut body, s).unwrap();
        body.push(b'\n');
    }
    let mut insert = client.insert_formatted_with(
        "INSERT INTO evbench.sessions (session_id, charger_id, plate, arrived_at, identified_at, user_id, price_eur_per_kwh, charge_started_at, charge_ended_at, power_kw, departed_at, energy_kwh, revenue_eur, dwell_ms, charging_ms, idle_after_charge_ms, outcome, overstay, flags) FORMAT JSONEachRow",
    );
    insert.send(body.into()).await.expect("send sessions");
    insert.end().await.expect("insert sessions");
}

/// Asserts that the server refuses `sql` with an error containing `needle`.
pub async fn assert_refused(client: &clickhouse::Client, sql: &str, needle: &str) {
    match client.query(sql).execute().await {
        Ok(()) => panic!("the server accepted {sql:?}"),
        Err(e) => assert!(
            e.to_string().contains(needle),
            "{sql:?} refused, but not with {needle:?}: {e}"
        ),
    }
}

/// Messages the sink must dead-letter, for the signals topic (valid JSON or not).
pub const BAD_SIGNALS: &[&[u8]] = &[
    b"{not json",
    br#"{"timestamp":1767225600000,"charger_id":"charger-1"}"#,
    br#"{"timestamp":1767225600000,"charger_id":"charger-1","user_connection":true,"price":-1}"#,
    b"",
];
/// A session the sink must dead-letter.
pub const BAD_SESSION: &[u8] = br#"{"session_id":"x@1","charger_id":"x"}"#;

fn producer(bootstrap: &str, transactional_id: Option<&str>) -> rdkafka::producer::FutureProducer {
    let mut config = rdkafka::ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set("log_level", "3");
    if let Some(id) = transactional_id {
        config.set("transactional.id", id);
    }
    config.create().expect("producer")
}

/// Produces signals, each to partition `charger index % partitions`, plus `bad` messages.
pub async fn produce_signals(
    bootstrap: &str,
    topic: &str,
    signals: &[(String, Vec<u8>)],
    partitions: i32,
    bad: &[&[u8]],
) {
    use rdkafka::producer::FutureRecord;
    let producer = producer(bootstrap, None);
    let mut deliveries = Vec::with_capacity(signals.len() + bad.len());
    for (key, json) in signals {
        let index = simulator::charger_index_of(key).expect("charger key");
        let record = FutureRecord::to(topic)
            .key(key.as_str())
            .payload(json.as_slice())
            .partition((index as i32) % partitions);
        deliveries.push(
            producer
                .send_result(record)
                .map_err(|(e, _)| e)
                .expect("enqueue"),
        );
    }
    for payload in bad {
        let record = FutureRecord::<str, [u8]>::to(topic)
            .key("charger-1")
            .payload(payload)
            .partition(0);
        deliveries.push(
            producer
                .send_result(record)
                .map_err(|(e, _)| e)
                .expect("enqueue"),
        );
    }
    for d in deliveries {
        d.await.expect("delivery").expect("delivered");
    }
}

/// Produces sessions in one committed transaction (as the aggregator does), after an aborted
/// transaction of `aborted` junk sessions that a `read_committed` reader must never see.
pub async fn produce_sessions(
    bootstrap: &str,
    topic: &str,
    sessions: &[Session],
    aborted: usize,
    bad: bool,
) {
    use rdkafka::producer::{FutureRecord, Producer};
    use std::time::Duration;
    let producer = producer(
        bootstrap,
        Some(&format!("test-sessions-{}", std::process::id())),
    );
    producer
        .init_transactions(Duration::from_secs(30))
        .expect("init transactions");
    if aborted > 0 {
        producer.begin_transaction().unwrap();
        let mut pending = Vec::new();
        for i in 0..aborted {
            let mut junk = sessions[i % sessions.len()].clone();
            junk.session_id = format!("aborted-{i}");
            let json = serde_json::to_vec(&junk).unwrap();
            let key = junk.charger_id.clone();
            pending.push(
                producer
                    .send_result(FutureRecord::to(topic).key(&key).payload(&json))
                    .map_err(|(e, _)| e)
                    .unwrap(),
            );
        }
        producer.flush(Duration::from_secs(30)).unwrap();
        producer
            .abort_transaction(Duration::from_secs(30))
            .expect("abort");
        drop(pending);
    }
    producer.begin_transaction().unwrap();
    let mut deliveries = Vec::new();
    for s in sessions {
        let json = serde_json::to_vec(s).unwrap();
        deliveries.push(
            producer
                .send_result(FutureRecord::to(topic).key(&s.charger_id).payload(&json))
                .map_err(|(e, _)| e)
                .unwrap(),
        );
    }
    if bad {
        deliveries.push(
            producer
                .send_result(FutureRecord::to(topic).key("x").payload(BAD_SESSION))
                .map_err(|(e, _)| e)
                .unwrap(),
        );
    }
    producer
        .commit_transaction(Duration::from_secs(60))
        .expect("commit");
    for d in deliveries {
        d.await.expect("delivery").expect("delivered");
    }
}

/// Waits until `count()` (a FINAL count) reaches `expected`; panics after `timeout`.
pub async fn wait_for_count<F, Fut>(
    what: &str,
    expected: u64,
    timeout: std::time::Duration,
    mut count: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = schema::Result<u64>>,
{
    let deadline = std::time::Instant::now() + timeout;
    let mut last = 0;
    loop {
        match count().await {
            Ok(n) if n == expected => return,
            Ok(n) => {
                assert!(
                    n < expected,
                    "{what}: {n} stored, more than the {expected} expected"
                );
                last = n;
            }
            Err(e) => eprintln!("{what}: count failed (retrying): {e}"),
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: {last} of {expected} after {timeout:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
