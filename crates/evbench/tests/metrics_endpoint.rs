//! `evbench aggregate` and `evbench sink` with `--metrics-addr`, on real Kafka and ClickHouse:
//! their endpoints serve every metric of `docs/metrics.md`, count what went through (dead
//! letters by reason included), and their consumer lag rises while the aggregator is paused
//! (SIGSTOP) with signals arriving, then falls back to 0 on every partition once it runs again.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use harness::{ProviderKind, Services};
use pipeline::produce::{self, ProduceOptions};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use schema::{Dialect, Schema};
use simulator::{Compression, FleetConfig, Pacer, Simulator};

/// `GET /metrics` on `addr`: the body.
fn scrape(addr: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect to the metrics endpoint");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    body.to_owned()
}

/// The samples of a scrape: `name{labels}` → value.
fn samples(body: &str) -> BTreeMap<String, f64> {
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// Sum of the samples whose series starts with `prefix`.
fn sum(samples: &BTreeMap<String, f64>, prefix: &str) -> f64 {
    samples
        .iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(_, v)| v)
        .sum()
}

fn spawn(args: &[&str], env: &[(&str, &str)]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_evbench"))
        .args(args)
        .envs(env.iter().copied())
        .env("EVBENCH_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start evbench")
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name}");
}

fn produce_fleet(services: &Services, start_ms: i64, chargers: u32, hours: i64) -> u64 {
    let config = FleetConfig {
        chargers,
        seed: 5,
        start_ms,
        span_ms: hours * 3_600_000,
        ..FleetConfig::default()
    };
    let mut sim = Simulator::new(config).unwrap();
    let pacer = Pacer::new(Compression::Max, start_ms);
    produce::produce(
        &mut sim,
        &pacer,
        &services.kafka,
        &ProduceOptions::default(),
        &AtomicBool::new(false),
        &mut |_, _| {},
        &mut |_| {},
    )
    .unwrap()
    .events
}

/// Scrapes until `done` holds for the samples, or panics after `timeout`; returns the samples
/// and the largest lag seen on the way.
fn scrape_until(
    addr: &str,
    timeout: Duration,
    what: &str,
    done: impl Fn(&BTreeMap<String, f64>) -> bool,
) -> (BTreeMap<String, f64>, f64) {
    let deadline = Instant::now() + timeout;
    let mut most_lag = 0.0f64;
    loop {
        let now = samples(&scrape(addr));
        most_lag = most_lag.max(sum(&now, "evbench_consumer_lag{"));
        if done(&now) {
            return (now, most_lag);
        }
        assert!(
            Instant::now() < deadline,
            "{what} within {timeout:?}: {now:#?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_the_pipeline_and_lag_follows_a_paused_aggregator() {
    let mut services = Services::start(ProviderKind::Native).await.unwrap();
    let schema = Schema::new(Dialect::for_server(&services.clickhouse.version));
    schema::migrate::apply(&services.clickhouse.client(), &schema)
        .await
        .unwrap();
    let passwords = schema::users::Passwords::from_env_or_generate().unwrap();
    schema::users::install_native(services.native_clickhouse().unwrap(), &schema, &passwords)
        .await
        .unwrap();
    let chargers = 200;
    produce::prepare_topic(&services.kafka, &ProduceOptions::default(), chargers)
        .await
        .unwrap();
    pipeline::aggregate::prepare_topics(
        &services.kafka,
        &pipeline::aggregate::AggregateOptions::default(),
    )
    .await
    .unwrap();

    let bootstrap = services.kafka.bootstrap.clone();
    let aggregator_addr = format!("127.0.0.1:{}", harness::ports::free_port().unwrap());
    let sink_addr = format!("127.0.0.1:{}", harness::ports::free_port().unwrap());
    let mut aggregator = spawn(
        &[
            "aggregate",
            "--brokers",
            &bootstrap,
            "--metrics-addr",
            &aggregator_addr,
        ],
        &[],
    );
    let mut sink = spawn(
        &[
            "sink",
            "--brokers",
            &bootstrap,
            "--clickhouse",
            &services.clickhouse.url,
            "--batch-period",
            "200ms",
            "--metrics-addr",
            &sink_addr,
        ],
        &[("EVBENCH_INGEST_PASSWORD", passwords.ingest.expose())],
    );

    // A first load, with one record that is no signal at all.
    let t0 = 1_767_225_600_000;
    let mut produced = produce_fleet(&services, t0, chargers, 6);
    let producer: ThreadedProducer<DefaultProducerContext> =
        services.kafka.client_config().create().unwrap();
    producer
        .send(
            BaseRecord::to(events::SIGNALS_TOPIC)
                .key("charger-1")
                .payload("not json"),
        )
        .map_err(|(e, _)| e)
        .unwrap();
    producer.flush(Duration::from_secs(10)).unwrap();
    produced += 1;

    let (first, _) = scrape_until(
        &aggregator_addr,
        Duration::from_secs(120),
        "the aggregator consumes every signal with no lag left",
        |s| {
            // Every assigned partition's lag: librdkafka's statistics list a partition only once
            // it is being fetched, so a snapshot right after the assignment may hold a few.
            let lags = s
                .keys()
                .filter(|k| k.starts_with("evbench_consumer_lag{"))
                .count();
            s.get("evbench_aggregator_records_consumed_total") == Some(&(produced as f64))
                && sum(s, "evbench_consumer_lag{") == 0.0
                && lags > 0
                && Some(&(lags as f64)) == s.get("evbench_aggregator_assigned_partitions")
        },
    );
    for name in [
        "evbench_build_info{component=\"aggregator\"",
        "evbench_aggregator_sessions_produced_total",
        "evbench_aggregator_dead_letters_total{reason=\"undecodable\"}",
        "evbench_aggregator_replayed_outputs_suppressed_total",
        "evbench_aggregator_commits_total",
        "evbench_aggregator_commit_duration_seconds_count",
        "evbench_aggregator_commit_duration_seconds_bucket{le=\"+Inf\"}",
        "evbench_aggregator_last_commit_age_seconds",
        "evbench_aggregator_rebalances_total",
        "evbench_aggregator_state_rebuilds_total",
        "evbench_aggregator_open_visits",
        "evbench_aggregator_assigned_partitions",
        "evbench_consumer_lag{group=\"evbench-aggregator\",topic=\"charger-station-signals\",partition=\"0\"}",
    ] {
        assert!(
            first.keys().any(|k| k.starts_with(name)),
            "{name} missing from the aggregator's metrics: {first:#?}"
        );
    }
    assert!(first["evbench_aggregator_sessions_produced_total"] > 100.0);
    assert_eq!(
        first["evbench_aggregator_dead_letters_total{reason=\"undecodable\"}"],
        1.0
    );
    assert!(first["evbench_aggregator_commits_total"] >= 1.0);
    assert_eq!(
        first["evbench_aggregator_commit_duration_seconds_count"],
        first["evbench_aggregator_commits_total"]
    );

    let (stored, _) = scrape_until(
        &sink_addr,
        Duration::from_secs(120),
        "the sink stores every signal with no lag left",
        |s| {
            s.get("evbench_sink_rows_inserted_total{table=\"signals\"}")
                == Some(&(produced as f64 - 1.0))
                && sum(s, "evbench_consumer_lag{") == 0.0
                && s.keys().any(|k| k.contains("topic=\"charging-sessions\""))
        },
    );
    for name in [
        "evbench_build_info{component=\"sink\"",
        "evbench_sink_records_consumed_total",
        "evbench_sink_rows_inserted_total{table=\"sessions\"}",
        "evbench_sink_rows_inserted_total{table=\"dead_letters\"}",
        "evbench_sink_insert_duration_seconds_count{table=\"signals\"}",
        "evbench_sink_batch_rows_sum{table=\"signals\"}",
        "evbench_sink_insert_retries_total",
        "evbench_sink_holding",
        "evbench_sink_last_commit_age_seconds",
        "evbench_sink_rebalances_total",
        "evbench_sink_assigned_partitions",
        "evbench_consumer_lag{group=\"evbench-sink\",topic=\"charging-sessions\"",
    ] {
        assert!(
            stored.keys().any(|k| k.starts_with(name)),
            "{name} missing from the sink's metrics: {stored:#?}"
        );
    }
    // The signals' batch sizes add up to the rows stored: every signal and the dead letter.
    assert_eq!(
        stored["evbench_sink_batch_rows_sum{table=\"signals\"}"],
        produced as f64
    );

    // Paused: signals keep coming, nothing consumes them. Enough of them that catching up
    // takes longer than the second in which the lag is refreshed.
    signal(&aggregator, "STOP");
    let more = produce_fleet(&services, t0 + 6 * 3_600_000, chargers, 96);
    signal(&aggregator, "CONT");
    let total = produced + more;
    let (_, most_lag) = scrape_until(
        &aggregator_addr,
        Duration::from_secs(180),
        "the aggregator catches up after the pause",
        |s| {
            s.get("evbench_aggregator_records_consumed_total") == Some(&(total as f64))
                && sum(s, "evbench_consumer_lag{") == 0.0
        },
    );
    eprintln!("the largest lag scraped after the pause: {most_lag} of {more} signals");
    assert!(
        most_lag > 0.0,
        "the lag never showed the {more} signals sent while the aggregator was paused"
    );

    for child in [&mut aggregator, &mut sink] {
        signal(child, "TERM");
        child.wait().unwrap();
    }
    services.stop();
}
