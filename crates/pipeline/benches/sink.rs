//! `cargo bench -p pipeline --bench sink`: the sink's rows/s into the real ClickHouse beside
//! `clickhouse-client` inserting the same rows as JSONEachRow (same server, same run), and bytes
//! on disk per raw signal and per session after `OPTIMIZE … FINAL`, on this server (18.16 here)
//! and under chDB (modern, codecs on). Environment: `EVBENCH_BENCH_CHARGERS` (default 4000),
//! `EVBENCH_BENCH_HOURS` (default 4), `EVBENCH_BENCH_SINK` (sink settings as JSON, to compare),
//! `EVBENCH_LOG=pipeline=debug` (the sink's consumer accounting).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use endpoints::kafka_admin::{self, TopicSpec};
use harness::{ProviderKind, Services};
use pipeline::{Sink, SinkConfig};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use schema::users::{self, INGEST_USER, Passwords};
use schema::{Dialect, Schema, migrate, store};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn scalar(client: &clickhouse::Client, sql: &str) -> u64 {
    client
        .query_raw(sql)
        .fetch_one::<u64>()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn main() {
    // EVBENCH_LOG=pipeline=debug shows the sink's own accounting.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("EVBENCH_LOG")
                .unwrap_or_else(|_| "warn,rdkafka::client=off".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(bench());
}

async fn bench() {
    let chargers = env_or("EVBENCH_BENCH_CHARGERS", 4000) as u32;
    let hours = env_or("EVBENCH_BENCH_HOURS", 4) as i64;
    let mut services = Services::start(ProviderKind::Native)
        .await
        .expect("services");
    let schema = Schema::new(Dialect::for_server(&services.clickhouse.version));
    let admin = services.clickhouse.client();
    migrate::apply(&admin, &schema).await.expect("migrations");
    let passwords = Passwords::from_env_or_generate().unwrap();
    let native = services.native_clickhouse().unwrap();
    users::install_native(native, &schema, &passwords)
        .await
        .unwrap();
    let config_xml = std::fs::read_to_string(native.dir().join("config.xml")).unwrap();
    let tcp_port: u16 = config_xml
        .split("<tcp_port>")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .and_then(|s| s.parse().ok())
        .expect("tcp port in config.xml");
    let partitions = 64;
    let bootstrap = services.kafka.bootstrap.clone();
    kafka_admin::ensure_topic(
        &bootstrap,
        events::SIGNALS_TOPIC,
        TopicSpec::single(partitions),
    )
    .await
    .unwrap();
    kafka_admin::ensure_topic(&bootstrap, events::SESSIONS_TOPIC, TopicSpec::single(8))
        .await
        .unwrap();

    // Simulate and produce (not timed).
    let mut sim = simulator::Simulator::new(simulator::FleetConfig {
        chargers,
        seed: 1,
        span_ms: hours * 3_600_000,
        ..simulator::FleetConfig::default()
    })
    .unwrap();
    let producer: ThreadedProducer<DefaultProducerContext> = services
        .kafka
        .client_config()
        .set("linger.ms", "20")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .unwrap();
    let mut json = Vec::new();
    let mut signals = 0u64;
    let mut sessions = Vec::new();
    while let Some(meta) = sim.next_event(&mut json) {
        let key = sim.charger_id(meta.charger_index).to_owned();
        let partition = (meta.charger_index % partitions as u32) as i32;
        loop {
            let record = BaseRecord::to(events::SIGNALS_TOPIC)
                .key(&key)
                .payload(&json)
                .partition(partition);
            match producer.send(record) {
                Ok(()) => break,
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        json.clear();
        signals += 1;
        sim.take_completed_sessions(|s| sessions.push(s));
    }
    sim.take_completed_sessions(|s| sessions.push(s));
    for s in &sessions {
        let payload = serde_json::to_vec(s).unwrap();
        loop {
            match producer.send(
                BaseRecord::to(events::SESSIONS_TOPIC)
                    .key(&s.charger_id)
                    .payload(&payload),
            ) {
                Ok(()) => break,
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    }
    producer.flush(Duration::from_secs(120)).unwrap();
    println!(
        "produced {signals} signals and {} sessions ({chargers} chargers, {hours} simulated hours)",
        sessions.len()
    );

    // 1. The sink: from the first message to the last row acknowledged.
    let ingest = services
        .clickhouse
        .client_as(INGEST_USER, &passwords.ingest);
    // EVBENCH_BENCH_SINK='{"batch_rows": 20000, "kafka": {"fetch.wait.max.ms": "50"}}': other
    // sink settings to compare (JSON, the keys of the `[sink]` section).
    let config: SinkConfig = match std::env::var("EVBENCH_BENCH_SINK") {
        Ok(json) => serde_json::from_str(&json).expect("EVBENCH_BENCH_SINK: sink settings as JSON"),
        Err(_) => SinkConfig::default(),
    };
    let sink = Sink::new(config, &services.kafka, ingest).unwrap();
    let progress = sink.progress();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(sink.run(async move {
        let _ = stopped.await;
    }));
    // Time from the first message received (the group join before it is not ingestion).
    while progress.snapshot().messages_consumed == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let started = Instant::now();
    let total = signals + sessions.len() as u64;
    let mut consumed_s = None;
    while {
        let s = progress.snapshot();
        if consumed_s.is_none() && s.messages_consumed >= total {
            consumed_s = Some(started.elapsed().as_secs_f64());
        }
        s.signals_written + s.sessions_written < total
    } {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let sink_s = started.elapsed().as_secs_f64();
    let s = progress.snapshot();
    println!(
        "sink: all consumed after {:.2} s, {} inserts; the consumer waited {:?} for Kafka, {:?} for ClickHouse",
        consumed_s.unwrap_or(sink_s),
        s.batches,
        s.consumer_waited_for_kafka,
        s.consumer_waited_for_writers,
    );
    stop.send(()).unwrap();
    handle.await.unwrap().unwrap();
    let sink_rate = total as f64 / sink_s;
    assert_eq!(
        store::count_signals(&admin, &schema).await.unwrap(),
        signals
    );

    // 2. The peer: clickhouse-client inserting the same rows as JSONEachRow into a twin table.
    admin
        .query_raw("CREATE TABLE evbench.signals_peer AS evbench.signals")
        .execute()
        .await
        .unwrap();
    let columns = "timestamp_ms, charger_id, sensor, vehicle_detected, plate, user_id, price, user_connection, recharging, energy_delivered, seq, kafka_partition, kafka_offset";
    let dump = tempfile::NamedTempFile::new().unwrap();
    let status = Command::new("clickhouse-client")
        .args([
            "--port",
            &tcp_port.to_string(),
            "--query",
            &format!("SELECT {columns} FROM evbench.signals FORMAT JSONEachRow"),
        ])
        .stdout(dump.reopen().unwrap())
        .status()
        .expect("clickhouse-client");
    assert!(status.success());
    let started = Instant::now();
    let status = Command::new("clickhouse-client")
        .args([
            "--port",
            &tcp_port.to_string(),
            "--query",
            &format!("INSERT INTO evbench.signals_peer ({columns}) FORMAT JSONEachRow"),
        ])
        .stdin(dump.reopen().unwrap())
        .stdout(Stdio::null())
        .status()
        .expect("clickhouse-client");
    let client_s = started.elapsed().as_secs_f64();
    assert!(status.success());
    let client_rate = signals as f64 / client_s;

    // 3. Bytes on disk after OPTIMIZE … FINAL.
    for t in ["signals", "sessions"] {
        admin
            .query_raw(&format!("OPTIMIZE TABLE evbench.{t} FINAL"))
            .execute()
            .await
            .unwrap();
    }
    let bytes = |t: &str| {
        format!(
            "SELECT toUInt64(sum(bytes_on_disk)) FROM system.parts WHERE active AND database = 'evbench' AND table = '{t}'"
        )
    };
    let signal_bytes = scalar(&admin, &bytes("signals")).await;
    let session_bytes = scalar(&admin, &bytes("sessions")).await;
    let version = services.clickhouse.version.clone();
    println!(
        "sink ({version}):             {total} rows in {sink_s:.2} s = {sink_rate:.0} rows/s (Kafka → ClickHouse, acknowledged, from the first message)"
    );
    println!(
        "clickhouse-client JSONEachRow: {signals} rows in {client_s:.2} s = {client_rate:.0} rows/s (file → ClickHouse)"
    );
    println!(
        "ratio sink / clickhouse-client: {:.2}",
        sink_rate / client_rate
    );
    println!(
        "bytes on disk ({version}, LZ4, after OPTIMIZE FINAL): {:.1} per signal, {:.1} per session",
        signal_bytes as f64 / signals as f64,
        session_bytes as f64 / sessions.len() as f64
    );

    // 4. The same rows under chDB (modern dialect, codecs on).
    let dir = tempfile::tempdir().unwrap();
    let modern = Schema::new(Dialect::modern());
    std::fs::write(
        dir.path().join("statements.json"),
        serde_json::to_vec(&modern.all_statements()).unwrap(),
    )
    .unwrap();
    let mut jsonl = Vec::new();
    for s in &sessions {
        serde_json::to_writer(&mut jsonl, s).unwrap();
        jsonl.push(b'\n');
    }
    std::fs::write(dir.path().join("sessions.jsonl"), jsonl).unwrap();
    std::fs::copy(dump.path(), dir.path().join("signals.jsonl")).unwrap();
    let script = r#"
import json, os, sys, tempfile
from chdb import session
d = sys.argv[1]
s = session.Session(tempfile.mkdtemp())
for st in json.load(open(os.path.join(d, 'statements.json'))):
    s.query(st)
cols = "timestamp_ms, charger_id, sensor, vehicle_detected, plate, user_id, price, user_connection, recharging, energy_delivered, seq, kafka_partition, kafka_offset"
s.query(f"INSERT INTO evbench.signals ({cols}) SELECT * FROM file('{os.path.join(d, 'signals.jsonl')}', JSONEachRow, 'timestamp_ms Int64, charger_id String, sensor String, vehicle_detected Nullable(UInt8), plate Nullable(String), user_id Nullable(String), price Nullable(Float64), user_connection Nullable(UInt8), recharging Nullable(UInt8), energy_delivered Nullable(UInt32), seq Nullable(UInt64), kafka_partition Int32, kafka_offset Int64')")
scols = "session_id, charger_id, plate, arrived_at, identified_at, user_id, price_eur_per_kwh, charge_started_at, charge_ended_at, power_kw, departed_at, energy_kwh, revenue_eur, dwell_ms, charging_ms, idle_after_charge_ms, outcome, overstay, flags"
s.query(f"INSERT INTO evbench.sessions ({scols}) FORMAT JSONEachRow\n" + open(os.path.join(d, 'sessions.jsonl')).read())
out = {}
for t in ('signals', 'sessions'):
    s.query(f"OPTIMIZE TABLE evbench.{t} FINAL")
    r = str(s.query(f"SELECT sum(bytes_on_disk), sum(rows) FROM system.parts WHERE active AND database='evbench' AND table='{t}'", 'TabSeparated')).split()
    out[t] = int(r[0]) / int(r[1])
print(json.dumps(out))
"#;
    match Command::new("python3")
        .args(["-c", script])
        .arg(dir.path())
        .output()
    {
        Ok(out) if out.status.success() => {
            let figures: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            println!(
                "bytes on disk (chDB 26.x, codecs, after OPTIMIZE FINAL): {:.1} per signal, {:.1} per session",
                figures["signals"].as_f64().unwrap(),
                figures["sessions"].as_f64().unwrap()
            );
        }
        Ok(out) => println!(
            "chDB figures skipped: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => println!("chDB figures skipped: python3: {e}"),
    }
    services.stop();
}
