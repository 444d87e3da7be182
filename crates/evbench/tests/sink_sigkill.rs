//! `evbench sink` killed with SIGKILL twice mid-run and restarted: ClickHouse still holds every
//! raw signal and every session exactly once (counts before merges, with `FINAL`), field by field.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use harness::{ProviderKind, Services};
use pipeline::aggregate::{self, AggregateOptions, AggregateStats};
use pipeline::produce::{self, ProduceOptions};
use schema::{Dialect, Schema};
use simulator::{Compression, FleetConfig, Pacer, Simulator};

fn start_sink(bootstrap: &str, url: &str, password: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_evbench"))
        .args([
            "sink",
            "--brokers",
            bootstrap,
            "--clickhouse",
            url,
            "--batch-period",
            "200ms",
        ])
        .env("EVBENCH_INGEST_PASSWORD", password)
        .env("EVBENCH_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start evbench sink")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_twice_still_stores_everything_exactly_once() {
    let mut services = Services::start(ProviderKind::Native).await.unwrap();
    let schema = Schema::new(Dialect::for_server(&services.clickhouse.version));
    let admin = services.clickhouse.client();
    schema::migrate::apply(&admin, &schema).await.unwrap();
    let passwords = schema::users::Passwords::from_env_or_generate().unwrap();
    schema::users::install_native(services.native_clickhouse().unwrap(), &schema, &passwords)
        .await
        .unwrap();

    let chargers = 300;
    produce::prepare_topic(&services.kafka, &ProduceOptions::default(), chargers)
        .await
        .unwrap();
    let aggregate_options = AggregateOptions::default();
    aggregate::prepare_topics(&services.kafka, &aggregate_options)
        .await
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let aggregator = aggregate::spawn(
        services.kafka.clone(),
        aggregate_options,
        Arc::clone(&stop),
        Arc::new(AggregateStats::default()),
    )
    .unwrap();

    // 300 chargers, 30 simulated minutes, paced to about 15 s of wall time.
    let kafka = services.kafka.clone();
    let producer = std::thread::spawn(move || {
        let config = FleetConfig {
            chargers,
            seed: 17,
            span_ms: 30 * 60_000,
            ..FleetConfig::default()
        };
        let mut sim = Simulator::new(config).unwrap();
        let (start, end) = (sim.config().start_ms, sim.end_ms());
        let pacer = Pacer::new(
            Compression::factor((end - start) as f64 / 15_000.0).unwrap(),
            start,
        );
        let mut truth = Vec::new();
        let report = produce::produce(
            &mut sim,
            &pacer,
            &kafka,
            &ProduceOptions::default(),
            &AtomicBool::new(false),
            &mut |s, _| truth.push(s),
            &mut |_| {},
        )
        .unwrap();
        (report.events, truth)
    });

    let url = services.clickhouse.url.clone();
    let password = passwords.ingest.expose().to_owned();
    let mut sink = start_sink(&services.kafka.bootstrap, &url, &password);
    for pause in [4, 5] {
        tokio::time::sleep(Duration::from_secs(pause)).await;
        sink.kill().unwrap(); // SIGKILL, mid-batch or mid-commit, wherever it is
        sink.wait().unwrap();
        sink = start_sink(&services.kafka.bootstrap, &url, &password);
    }
    let (produced, truth) = tokio::task::spawn_blocking(move || producer.join().unwrap())
        .await
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(90);
    let (mut signals, mut sessions) = (0, 0);
    while Instant::now() < deadline {
        signals = schema::store::count_signals(&admin, &schema).await.unwrap();
        sessions = schema::store::count_sessions(&admin, &schema)
            .await
            .unwrap();
        if signals >= produced && sessions >= truth.len() as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let _ = sink.kill();
    let _ = sink.wait();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    aggregator.join().unwrap().unwrap();

    assert_eq!(signals, produced, "raw signals stored exactly once");
    assert_eq!(sessions, truth.len() as u64, "sessions stored exactly once");
    let physical = schema::store::count_physical_rows(&admin, &schema, schema::table::SIGNALS)
        .await
        .unwrap();
    eprintln!(
        "{produced} signals produced, {physical} rows written before merges (replays after the kills), {signals} distinct"
    );
    let mut stored = schema::store::fetch_sessions(&admin, &schema)
        .await
        .unwrap();
    let mut expected = truth;
    stored.sort_by(|a, b| a.session_id.cmp(&b.session_id));
    expected.sort_by(|a, b| a.session_id.cmp(&b.session_id));
    assert_eq!(
        stored, expected,
        "sessions in ClickHouse equal the ground truth field by field"
    );
}
