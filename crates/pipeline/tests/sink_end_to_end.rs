//! The sink end to end on real Kafka and ClickHouse: exact rows, sessions and KPIs, dead letters,
//! `read_committed`, and exact counts across crashes of the sink and an outage of ClickHouse.

// The storage tests' helpers (simulated fleets, KPI windows, producing to topics).
#[path = "../../schema/tests/common/mod.rs"]
mod common;

use std::time::Duration;

use endpoints::kafka_admin::{self, TopicSpec};
use harness::{ProviderKind, Services};
use pipeline::{Sink, SinkConfig};
use schema::users::{self, INGEST_USER, Passwords};
use schema::{Dialect, Schema, kpi, migrate, store, table};

const WAIT: Duration = Duration::from_secs(120);

struct Setup {
    services: Services,
    schema: Schema,
    passwords: Passwords,
}

async fn setup(signal_partitions: usize) -> Setup {
    let mut services = Services::start(ProviderKind::Native)
        .await
        .expect("services");
    let schema = Schema::new(Dialect::for_server(&services.clickhouse.version));
    migrate::apply(&services.clickhouse.client(), &schema)
        .await
        .expect("migrations");
    let passwords = Passwords::from_env_or_generate().unwrap();
    users::install_native(services.native_clickhouse().unwrap(), &schema, &passwords)
        .await
        .expect("users");
    let bootstrap = &services.kafka.bootstrap;
    kafka_admin::ensure_topic(
        bootstrap,
        events::SIGNALS_TOPIC,
        TopicSpec::single(signal_partitions),
    )
    .await
    .unwrap();
    kafka_admin::ensure_topic(bootstrap, events::SESSIONS_TOPIC, TopicSpec::single(8))
        .await
        .unwrap();
    Setup {
        services,
        schema,
        passwords,
    }
}

fn config() -> SinkConfig {
    SinkConfig {
        batch_rows: 1_000,
        batch_period: Duration::from_millis(200),
        retry_initial: Duration::from_millis(100),
        retry_max: Duration::from_secs(1),
        insert_timeout: Duration::from_secs(5),
        ..SinkConfig::default()
    }
}

fn spawn_sink(
    setup: &Setup,
) -> (
    tokio::task::JoinHandle<pipeline::Result<pipeline::SinkStats>>,
    tokio::sync::oneshot::Sender<()>,
    std::sync::Arc<pipeline::SinkProgress>,
) {
    spawn_sink_with(setup, config())
}

fn spawn_sink_with(
    setup: &Setup,
    config: SinkConfig,
) -> (
    tokio::task::JoinHandle<pipeline::Result<pipeline::SinkStats>>,
    tokio::sync::oneshot::Sender<()>,
    std::sync::Arc<pipeline::SinkProgress>,
) {
    let ingest = setup
        .services
        .clickhouse
        .client_as(INGEST_USER, &setup.passwords.ingest);
    let sink = Sink::new(config, &setup.services.kafka, ingest).expect("sink");
    let progress = sink.progress();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(sink.run(async move {
        let _ = stopped.await;
    }));
    (handle, stop, progress)
}

async fn wait_all(setup: &Setup, signals: u64, sessions: u64, dead: u64) {
    let admin = setup.services.clickhouse.client();
    let schema = &setup.schema;
    common::wait_for_count("signals", signals, WAIT, || {
        store::count_signals(&admin, schema)
    })
    .await;
    common::wait_for_count("sessions", sessions, WAIT, || {
        store::count_sessions(&admin, schema)
    })
    .await;
    common::wait_for_count("dead letters", dead, WAIT, || {
        store::count_dead_letters(&admin, schema)
    })
    .await;
}

async fn assert_sessions_and_kpis(setup: &Setup, truth: &[events::Session]) {
    let admin = setup.services.clickhouse.client();
    let stored = store::fetch_sessions(&admin, &setup.schema).await.unwrap();
    assert_eq!(stored.len(), truth.len(), "session count");
    for (got, want) in stored.iter().zip(truth) {
        assert_eq!(got.session_id, want.session_id);
        let diff = got.differing_fields(want);
        assert!(
            diff.is_empty(),
            "session {} differs in {diff:?}:\n{got:?}\n{want:?}",
            want.session_id
        );
    }
    let params = common::window_of(truth);
    let expected = kpi::compute(truth, &params);
    let actual = kpi::fetch(&admin, &setup.schema, &params).await.unwrap();
    let diffs = kpi::compare(&expected, &actual, &kpi::queries(&setup.schema));
    assert!(diffs.is_empty(), "KPI differences: {diffs:#?}");
}

/// 500 chargers, one simulated hour, one partition per charger (the study's layout).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sink_stores_every_signal_and_session_exactly() {
    let setup = setup(500).await;
    let (signals, sessions) = common::simulate(500, 1);
    let bootstrap = setup.services.kafka.bootstrap.clone();
    common::produce_signals(
        &bootstrap,
        events::SIGNALS_TOPIC,
        &signals,
        500,
        common::BAD_SIGNALS,
    )
    .await;
    common::produce_sessions(&bootstrap, events::SESSIONS_TOPIC, &sessions, 25, true).await;

    let (handle, stop, progress) = spawn_sink(&setup);
    let dead = common::BAD_SIGNALS.len() as u64 + 1;
    wait_all(&setup, signals.len() as u64, sessions.len() as u64, dead).await;
    stop.send(()).unwrap();
    let stats = handle.await.unwrap().expect("sink ran");
    assert_eq!(stats.signals_written, signals.len() as u64);
    assert_eq!(
        stats.sessions_written,
        sessions.len() as u64,
        "aborted sessions never read"
    );
    assert_eq!(stats.dead_letters_written, dead);
    assert_eq!(stats.abandoned_rows, 0);
    assert!(progress.snapshot().rows_per_s > 0.0);
    eprintln!("sink: {stats:?}");

    // Every signal field by field: the stored rows re-encode to the produced JSON.
    let admin = setup.services.clickhouse.client();
    let physical = store::count_physical_rows(&admin, &setup.schema, table::SIGNALS)
        .await
        .unwrap();
    assert_eq!(physical, signals.len() as u64, "no replays in a clean run");
    #[derive(clickhouse::Row, serde::Deserialize)]
    struct SignalRow {
        ts: i64,
        charger: String,
        sensor: String,
        vehicle: Option<u8>,
        plate: Option<String>,
        user: Option<String>,
        price: Option<f64>,
        connection: Option<u8>,
        recharging: Option<u8>,
        energy: Option<u32>,
        seq: Option<u64>,
    }
    let rows: Vec<SignalRow> = admin
        .query("SELECT timestamp_ms, charger_id, CAST(sensor, 'String'), vehicle_detected, plate, user_id, price, user_connection, recharging, energy_delivered, seq FROM evbench.signals FINAL")
        .fetch_all()
        .await
        .unwrap();
    let mut stored: Vec<Vec<u8>> = rows
        .into_iter()
        .map(
            |SignalRow {
                 ts,
                 charger,
                 sensor,
                 vehicle,
                 plate,
                 user,
                 price,
                 connection,
                 recharging,
                 energy,
                 seq,
             }| {
                use std::borrow::Cow;
                let reading = match sensor.as_str() {
                    "parking" => events::Reading::Parking {
                        vehicle_detected: vehicle == Some(1),
                        plate: plate.map(Cow::Owned),
                    },
                    "user_data" => events::Reading::UserData {
                        user_connection: connection == Some(1),
                        user_id: user.map(Cow::Owned),
                        price,
                    },
                    _ => events::Reading::Charger {
                        recharging: recharging == Some(1),
                        energy_delivered: energy.unwrap_or(0),
                    },
                };
                let mut out = Vec::new();
                events::encode_into(
                    &events::Signal {
                        timestamp_ms: ts,
                        charger_id: Cow::Owned(charger),
                        seq,
                        reading,
                    },
                    &mut out,
                );
                out
            },
        )
        .collect();
    let mut produced: Vec<Vec<u8>> = signals.into_iter().map(|(_, json)| json).collect();
    stored.sort();
    produced.sort();
    assert!(
        stored == produced,
        "stored signals differ from the produced ones"
    );

    assert_sessions_and_kpis(&setup, &sessions).await;
    setup.services.stop();
}

/// The sink aborted twice mid-run (no commit of what it was writing) and restarted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sink_killed_twice_mid_run_still_counts_exactly() {
    let setup = setup(50).await;
    let (signals, sessions) = common::simulate(200, 3);
    let bootstrap = setup.services.kafka.bootstrap.clone();
    common::produce_signals(&bootstrap, events::SIGNALS_TOPIC, &signals, 50, &[]).await;
    common::produce_sessions(&bootstrap, events::SESSIONS_TOPIC, &sessions, 0, false).await;
    let total = signals.len() as u64;
    assert!(
        total > 3 * config().batch_rows as u64,
        "too little data to kill mid-run"
    );
    for kill in 1..=2u64 {
        let (handle, _stop, progress) = spawn_sink(&setup);
        // Let it write a batch of its own (it starts from the offsets the previous one
        // committed), then kill it wherever it is.
        let deadline = std::time::Instant::now() + WAIT;
        while progress.snapshot().signals_written < config().batch_rows as u64 {
            assert!(
                std::time::Instant::now() < deadline,
                "sink made no progress"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        handle.abort();
        let _ = handle.await;
        eprintln!("killed sink {kill} after {:?}", progress.snapshot());
    }
    let (handle, stop, _) = spawn_sink(&setup);
    wait_all(&setup, total, sessions.len() as u64, 0).await;
    stop.send(()).unwrap();
    handle.await.unwrap().expect("sink");
    assert_sessions_and_kpis(&setup, &sessions).await;

    // A full replay (a new consumer group from the earliest offsets) writes everything again
    // (its progress counts every row): the FINAL counts, sessions and KPIs are unchanged.
    let replay = SinkConfig {
        group_id: "evbench-sink-replay".into(),
        ..config()
    };
    let (handle, stop, progress) = spawn_sink_with(&setup, replay);
    let deadline = std::time::Instant::now() + WAIT;
    while progress.snapshot().signals_written < total
        || progress.snapshot().sessions_written < sessions.len() as u64
    {
        assert!(
            std::time::Instant::now() < deadline,
            "replay incomplete: {:?}",
            progress.snapshot()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.send(()).unwrap();
    handle.await.unwrap().expect("replay sink");
    let admin = setup.services.clickhouse.client();
    let physical = store::count_physical_rows(&admin, &setup.schema, table::SIGNALS)
        .await
        .unwrap();
    eprintln!("signals: {total} distinct, {physical} physical rows (replays collapsed by FINAL)");
    // Background merges may already have collapsed some of the duplicates.
    assert!(physical >= total, "{physical}");
    assert_eq!(
        store::count_signals(&admin, &setup.schema).await.unwrap(),
        total
    );
    assert_sessions_and_kpis(&setup, &sessions).await;
    setup.services.stop();
}

/// ClickHouse stopped for 20 s while the sink runs and more data arrives, then restarted: the
/// sink holds and resumes. Then ClickHouse stops again and the sink is shut down during the
/// outage: what it could not write is abandoned uncommitted, and the next sink stores it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sink_holds_through_a_clickhouse_outage() {
    let mut setup = setup(50).await;
    let (signals, sessions) = common::simulate(200, 2);
    let bootstrap = setup.services.kafka.bootstrap.clone();
    let (third, two_thirds) = (signals.len() / 3, signals.len() * 2 / 3);
    common::produce_signals(
        &bootstrap,
        events::SIGNALS_TOPIC,
        &signals[..third],
        50,
        &[],
    )
    .await;
    let short_grace = SinkConfig {
        shutdown_grace: Duration::from_secs(1),
        ..config()
    };
    let (handle, stop, progress) = spawn_sink_with(&setup, short_grace.clone());
    let deadline = std::time::Instant::now() + WAIT;
    while progress.snapshot().signals_written == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "sink made no progress"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    setup.services.native_clickhouse().unwrap().stop();
    common::produce_signals(
        &bootstrap,
        events::SIGNALS_TOPIC,
        &signals[third..two_thirds],
        50,
        &[],
    )
    .await;
    common::produce_sessions(&bootstrap, events::SESSIONS_TOPIC, &sessions, 0, false).await;
    tokio::time::sleep(Duration::from_secs(20)).await;
    let during = progress.snapshot();
    assert!(
        during.holding,
        "the sink holds while ClickHouse is down: {during:?}"
    );
    assert!(during.insert_retries > 0);
    let native = setup.services.native_clickhouse().unwrap();
    native.restart().await.expect("restart");
    wait_all(&setup, two_thirds as u64, sessions.len() as u64, 0).await;

    // The second outage: the sink reads the last third, cannot write it, and is shut down.
    setup.services.native_clickhouse().unwrap().stop();
    let consumed = progress.snapshot().messages_consumed;
    common::produce_signals(
        &bootstrap,
        events::SIGNALS_TOPIC,
        &signals[two_thirds..],
        50,
        &[],
    )
    .await;
    let deadline = std::time::Instant::now() + WAIT;
    while progress.snapshot().messages_consumed < consumed + (signals.len() - two_thirds) as u64 {
        assert!(
            std::time::Instant::now() < deadline,
            "the sink did not read the last third"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send(()).unwrap();
    let stats = handle.await.unwrap().expect("sink");
    eprintln!("shut down during the second outage: {stats:?}");
    assert!(stats.abandoned_rows > 0, "{stats:?}");
    assert_eq!(stats.signals_written, two_thirds as u64, "{stats:?}");

    // Nothing abandoned was committed: the next sink, ClickHouse back, stores every row.
    let native = setup.services.native_clickhouse().unwrap();
    native.restart().await.expect("restart");
    let (handle, stop, _) = spawn_sink_with(&setup, short_grace);
    wait_all(&setup, signals.len() as u64, sessions.len() as u64, 0).await;
    stop.send(()).unwrap();
    handle.await.unwrap().expect("sink");
    assert_sessions_and_kpis(&setup, &sessions).await;
    setup.services.stop();
}
