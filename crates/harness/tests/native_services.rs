//! The native provider against real servers: Kafka round trip, ClickHouse insert/select,
//! isolation of parallel harnesses, and teardown that leaves no process behind.

use std::collections::HashMap;
use std::time::Duration;

use endpoints::kafka_admin::{self, TopicSpec};
use harness::{ProviderKind, Services};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};

const PARTITIONS: usize = 100;
const MESSAGES: usize = 10_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_round_trip_and_clickhouse_insert_select() {
    let services = Services::start(ProviderKind::Native)
        .await
        .expect("native services start");
    assert_eq!(services.kafka.version, harness::KAFKA_VERSION);
    assert!(
        services.clickhouse.version.major > 0,
        "version detected: {}",
        services.clickhouse.version
    );

    // Kafka: 100 partitions through the Admin API, 10 000 keyed messages, all back, in order.
    let bootstrap = services.kafka.bootstrap.clone();
    kafka_admin::ensure_topic(&bootstrap, "round-trip", TopicSpec::single(PARTITIONS))
        .await
        .unwrap();
    assert_eq!(
        kafka_admin::partition_count(&bootstrap, "round-trip", Duration::from_secs(5)).unwrap(),
        Some(PARTITIONS)
    );

    let producer: FutureProducer = services
        .kafka
        .client_config()
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()
        .unwrap();
    let mut deliveries = Vec::with_capacity(MESSAGES);
    for i in 0..MESSAGES {
        let key = format!("key-{}", i % PARTITIONS);
        let value = format!("{}:{}", i % PARTITIONS, i / PARTITIONS);
        let record = FutureRecord::to("round-trip").key(&key).payload(&value);
        deliveries.push(
            producer
                .send_result(record)
                .map_err(|(e, _)| e)
                .expect("enqueue"),
        );
    }
    for delivery in deliveries {
        delivery.await.expect("delivery future").expect("delivered");
    }

    let consumer: BaseConsumer = services
        .kafka
        .client_config()
        .set("group.id", "round-trip-check")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    for p in 0..PARTITIONS as i32 {
        assignment
            .add_partition_offset("round-trip", p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let received = tokio::task::spawn_blocking(move || {
        // key -> (partition, next expected sequence number)
        let mut per_key: HashMap<String, (i32, usize)> = HashMap::new();
        let mut count = 0;
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while count < MESSAGES && std::time::Instant::now() < deadline {
            let Some(message) = consumer.poll(Duration::from_millis(200)) else {
                continue;
            };
            let message = message.expect("consume");
            let key = String::from_utf8(message.key().unwrap().to_vec()).unwrap();
            let value = std::str::from_utf8(message.payload().unwrap()).unwrap();
            let seq: usize = value.split(':').nth(1).unwrap().parse().unwrap();
            let entry = per_key
                .entry(key.clone())
                .or_insert((message.partition(), 0));
            assert_eq!(entry.0, message.partition(), "key {key} moved partitions");
            assert_eq!(entry.1, seq, "key {key} out of order");
            entry.1 += 1;
            count += 1;
        }
        (count, per_key)
    })
    .await
    .unwrap();
    assert_eq!(received.0, MESSAGES, "every message consumed back");
    assert_eq!(received.1.len(), PARTITIONS);
    let partitions_used: std::collections::HashSet<i32> =
        received.1.values().map(|(p, _)| *p).collect();
    assert!(
        partitions_used.len() > PARTITIONS / 2,
        "keys spread over partitions: {}",
        partitions_used.len()
    );

    // ClickHouse: a MergeTree table, 100 000 rows through the clickhouse crate, count and sum back.
    #[derive(clickhouse::Row, serde::Serialize)]
    struct Row {
        id: u64,
        value: f64,
    }
    let client = services.clickhouse.client();
    client
        .query("DROP TABLE IF EXISTS round_trip")
        .execute()
        .await
        .unwrap();
    client
        .query("CREATE TABLE round_trip (id UInt64, value Float64) ENGINE = MergeTree ORDER BY id")
        .execute()
        .await
        .unwrap();
    let mut insert = client.insert::<Row>("round_trip").await.unwrap();
    for id in 0..100_000u64 {
        insert
            .write(&Row {
                id,
                value: id as f64 * 0.5,
            })
            .await
            .unwrap();
    }
    insert.end().await.unwrap();
    let (count, sum): (u64, f64) = client
        .query("SELECT count(), sum(value) FROM round_trip")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(count, 100_000);
    assert_eq!(sum, (0..100_000u64).map(|i| i as f64 * 0.5).sum::<f64>());
    services.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_harnesses_use_different_ports_and_directories() {
    let (mut a, mut b) = tokio::join!(
        Services::start(ProviderKind::Native),
        Services::start(ProviderKind::Native)
    );
    let (a_ref, b_ref) = (a.as_mut().unwrap(), b.as_mut().unwrap());
    assert_ne!(a_ref.kafka.bootstrap, b_ref.kafka.bootstrap);
    assert_ne!(a_ref.clickhouse.url, b_ref.clickhouse.url);
    let a_dirs = (
        a_ref.native_kafka().unwrap().dir().to_owned(),
        a_ref.native_clickhouse().unwrap().dir().to_owned(),
    );
    let b_dirs = (
        b_ref.native_kafka().unwrap().dir().to_owned(),
        b_ref.native_clickhouse().unwrap().dir().to_owned(),
    );
    assert_ne!(a_dirs.0, b_dirs.0);
    assert_ne!(a_dirs.1, b_dirs.1);
    // Both really answer, each on its own ports.
    for services in [a_ref, b_ref] {
        let n =
            kafka_admin::broker_count(&services.kafka.bootstrap, Duration::from_secs(5)).unwrap();
        assert_eq!(n, 1);
        let one: u8 = services
            .clickhouse
            .client()
            .query("SELECT 1")
            .fetch_one()
            .await
            .unwrap();
        assert_eq!(one, 1);
    }
    let dirs = [a_dirs.0, a_dirs.1, b_dirs.0, b_dirs.1];
    drop(a);
    drop(b);
    for dir in dirs {
        assert!(!dir.exists(), "{} removed on drop", dir.display());
    }
}

fn group_alive(pgid: u32) -> bool {
    // Signal 0 checks existence only.
    nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid as i32), None).is_ok()
}

#[test]
fn a_panic_while_services_run_leaves_no_process() {
    let (tx, rx) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let mut services = Services::start(ProviderKind::Native).await.unwrap();
            let groups = [
                services.native_kafka().unwrap().pgid().unwrap(),
                services.native_clickhouse().unwrap().pgid().unwrap(),
            ];
            tx.send(groups).unwrap();
            panic!("a test failing while its services run");
        })
    });
    let groups = rx.recv().expect("services started before the panic");
    assert!(worker.join().is_err(), "the worker panicked");
    for pgid in groups {
        assert!(
            !group_alive(pgid),
            "process group {pgid} still alive after the panic"
        );
    }
}

#[tokio::test]
async fn docker_provider_round_trip_or_skip_with_a_reason() {
    match harness::docker::engine_problem() {
        Some(reason) => {
            eprintln!("SKIPPED docker provider: {reason}");
            let err = Services::start(ProviderKind::Docker).await.unwrap_err();
            assert!(err.to_string().contains("docker"), "{err}");
        }
        None => eprintln!(
            "a Docker engine answers; the docker provider's container tests are not written yet"
        ),
    }
}

/// The fault primitives: a broker restarted on the same ports keeps its data; a paused broker
/// and a paused ClickHouse answer nothing until resumed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_and_pause_keep_ports_and_data() {
    let mut services = Services::start(ProviderKind::Native)
        .await
        .expect("native services start");
    let bootstrap = services.kafka.bootstrap.clone();
    kafka_admin::ensure_topic(&bootstrap, "kept", TopicSpec::single(2))
        .await
        .unwrap();
    let endpoint = services.kafka.clone();
    let produce = |from: usize, to: usize| {
        let producer: FutureProducer = endpoint
            .client_config()
            .set("enable.idempotence", "true")
            .create()
            .unwrap();
        async move {
            for i in from..to {
                let value = i.to_string();
                producer
                    .send(
                        FutureRecord::to("kept").key("k").payload(&value),
                        Duration::from_secs(30),
                    )
                    .await
                    .expect("delivered");
            }
        }
    };
    produce(0, 100).await;

    let kafka = services.native_kafka().unwrap();
    let pgid = kafka.pgid().unwrap();
    tokio::task::block_in_place(|| kafka.restart()).expect("restart");
    assert_ne!(kafka.pgid().unwrap(), pgid, "a new process");
    produce(100, 200).await;

    tokio::task::block_in_place(|| {
        let kafka = services.native_kafka().unwrap();
        kafka.pause();
        let frozen = kafka_admin::broker_count(&bootstrap, Duration::from_secs(2));
        kafka.resume();
        assert!(
            frozen.is_err(),
            "a paused broker answers nothing: {frozen:?}"
        );
    });
    produce(200, 300).await;

    let consumer: BaseConsumer = services
        .kafka
        .client_config()
        .set("group.id", "kept-check")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&["kept"]).unwrap();
    let values = tokio::task::spawn_blocking(move || {
        let mut values = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while values.len() < 300 && std::time::Instant::now() < deadline {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
                values.push(
                    std::str::from_utf8(m.payload().unwrap())
                        .unwrap()
                        .parse::<usize>()
                        .unwrap(),
                );
            }
        }
        values
    })
    .await
    .unwrap();
    assert_eq!(
        values,
        (0..300).collect::<Vec<_>>(),
        "every message, once, in order"
    );

    let client = services.clickhouse.client();
    let clickhouse = services.native_clickhouse().unwrap();
    clickhouse.pause();
    let frozen = tokio::time::timeout(
        Duration::from_secs(2),
        client.query("SELECT 1").fetch_one::<u8>(),
    )
    .await;
    clickhouse.resume();
    assert!(frozen.is_err(), "a paused ClickHouse answers nothing");
    assert_eq!(client.query("SELECT 1").fetch_one::<u8>().await.unwrap(), 1);
    services.stop();
}
