//! The native provider's cluster mode against real servers: a 3-node KRaft Kafka and a 2 × 2
//! ClickHouse cluster with ZooKeeper, and each node stopped and started again under load.
//! One cluster for the whole story: starting one takes seconds, not milliseconds.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use endpoints::{KafkaEndpoint, kafka_admin};
use harness::{NodeRef, ProviderKind, Services, Topology};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};

const TOPIC: &str = "cluster-check";
const PARTITIONS: usize = 6;

/// Produces `count` messages with `acks=all`; all must be delivered.
async fn produce(services: &Services, from: usize, count: usize) {
    let producer: FutureProducer = services
        .kafka
        .client_config()
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "30000")
        .create()
        .unwrap();
    let mut deliveries = Vec::with_capacity(count);
    for i in from..from + count {
        let key = format!("key-{}", i % 50);
        let value = i.to_string();
        deliveries.push(
            producer
                .send_result(FutureRecord::to(TOPIC).key(&key).payload(&value))
                .map_err(|(e, _)| e)
                .expect("enqueue"),
        );
    }
    for delivery in deliveries {
        delivery
            .await
            .expect("delivery future")
            .expect("delivered with acks=all");
    }
}

/// Produces with `acks=all` (idempotent) in batches of 100, every message awaited, until
/// `stop` is set; every delivery must succeed. Returns the messages delivered, and how many of
/// them were acknowledged while `down` was set (a broker stopped).
async fn keep_producing(
    kafka: KafkaEndpoint,
    from: usize,
    stop: Arc<AtomicBool>,
    down: Arc<AtomicBool>,
) -> (usize, usize) {
    let producer: FutureProducer = kafka
        .client_config()
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "60000")
        .create()
        .unwrap();
    let (mut delivered, mut while_down) = (0, 0);
    while !stop.load(Ordering::Relaxed) {
        let mut batch = Vec::with_capacity(100);
        for i in from + delivered..from + delivered + 100 {
            let key = format!("key-{}", i % 50);
            let value = i.to_string();
            batch.push(
                producer
                    .send_result(FutureRecord::to(TOPIC).key(&key).payload(&value))
                    .map_err(|(e, _)| e)
                    .expect("enqueue"),
            );
        }
        for delivery in batch {
            delivery
                .await
                .expect("delivery future")
                .expect("delivered with acks=all while a broker is down");
            delivered += 1;
            if down.load(Ordering::Relaxed) {
                while_down += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (delivered, while_down)
}

/// Inserts batches of 100 new rows through the Distributed table until `stop` is set, each
/// batch retried until it goes in (a retried batch may have gone in before: the table replaces
/// rows of the same key, and counts are taken with FINAL). Returns the rows inserted (ids
/// `from..from + n`) and how many went in while `down` was set (a replica stopped).
async fn keep_inserting(
    client: clickhouse::Client,
    from: u32,
    stop: Arc<AtomicBool>,
    down: Arc<AtomicBool>,
) -> (u32, u32) {
    let (mut inserted, mut while_down) = (0, 0);
    while !stop.load(Ordering::Relaxed) {
        let ids = from + inserted..from + inserted + 100;
        let mut attempts = 0;
        while let Err(e) = insert(&client, ids.clone()).await {
            attempts += 1;
            // The first request after a stop may meet a connection the stopped server closed.
            assert!(attempts < 20, "insert {ids:?} keeps failing: {e}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        inserted += 100;
        if down.load(Ordering::Relaxed) {
            while_down += 100;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (inserted, while_down)
}

/// Messages in the topic (sum of the partitions' high watermarks).
fn messages_in_topic(services: &Services) -> i64 {
    let consumer: BaseConsumer = services
        .kafka
        .client_config()
        .set("group.id", "cluster-check")
        .create()
        .unwrap();
    let mut total = 0;
    for p in 0..PARTITIONS as i32 {
        let (low, high) = consumer
            .fetch_watermarks(TOPIC, p, Duration::from_secs(10))
            .unwrap();
        total += high - low;
    }
    total
}

async fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "{what} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn count(client: &clickhouse::Client, sql: &str) -> u64 {
    client.query(sql).fetch_one::<u64>().await.unwrap()
}

/// Reads through a `Distributed` table ask one replica per shard, which may not have fetched
/// the latest insert from the other yet: the count reaches `expected` within moments.
async fn eventually(client: &clickhouse::Client, sql: &str, expected: u64) {
    let started = Instant::now();
    loop {
        let n = count(client, sql).await;
        if n == expected {
            return;
        }
        assert!(n < expected, "{sql}: {n} rows, more than {expected}");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{sql}: {n} rows, not {expected}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn insert(
    client: &clickhouse::Client,
    ids: std::ops::Range<u32>,
) -> clickhouse::error::Result<()> {
    let values: Vec<String> = ids.map(|i| format!("('c-{}', {i})", i % 10)).collect();
    client
        .query(&format!(
            "INSERT INTO cluster_check.rows (charger_id, id) VALUES {}",
            values.join(",")
        ))
        .with_setting("insert_distributed_sync", "1")
        .execute()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_keeps_serving_while_a_node_is_down_and_takes_it_back() {
    let started = Instant::now();
    let mut services = Services::start_topology(
        ProviderKind::Native,
        &harness::services_dir(),
        &Topology::cluster(),
    )
    .await
    .expect("the cluster starts");
    eprintln!(
        "cluster started in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let mut phase = Instant::now();
    let mut lap = |what: &str| {
        eprintln!("{what}: {:.1} s", phase.elapsed().as_secs_f64());
        phase = Instant::now();
    };
    assert_eq!(services.topology, Topology::cluster());
    assert_eq!(services.kafka.bootstrap.split(',').count(), 3);
    assert_eq!(
        services.clickhouse.cluster.as_deref(),
        Some(harness::CLICKHOUSE_CLUSTER)
    );
    assert_eq!(services.clickhouse.failover.len(), 3);
    let names: Vec<String> = services
        .process_groups()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names.len(), 8, "{names:?}");
    assert!(names.contains(&"zookeeper".to_owned()) && names.contains(&"kafka-3".to_owned()));

    // Kafka: every broker in the metadata, a topic of 3 replicas with min.insync.replicas=2.
    let bootstrap = services.kafka.bootstrap.clone();
    assert_eq!(
        kafka_admin::broker_ids(&bootstrap, Duration::from_secs(5)).unwrap(),
        [1, 2, 3]
    );
    let spec = kafka_admin::replicated_spec(&bootstrap, PARTITIONS)
        .await
        .unwrap();
    assert_eq!(spec.replication, 3);
    kafka_admin::ensure_topic(&bootstrap, TOPIC, spec)
        .await
        .unwrap();
    produce(&services, 0, 1_000).await;

    lap("topic created, 1000 produced");
    // One broker down while a producer keeps writing: acks=all writes still go through (2
    // replicas in sync are enough), none is lost or doubled.
    let (stop, down) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let producer = tokio::spawn(keep_producing(
        services.kafka.clone(),
        1_000,
        Arc::clone(&stop),
        Arc::clone(&down),
    ));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let broker = NodeRef::KafkaBroker(2);
    services.stop_node(&broker).await.unwrap();
    down.store(true, Ordering::Relaxed);
    assert!(!services.node_running(&broker).unwrap());
    assert!(services.node_pgid(&broker).is_none());
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        kafka_admin::under_replicated(&bootstrap, Some(TOPIC), Duration::from_secs(5)).unwrap() > 0,
        "the stopped broker's replicas are out of sync"
    );
    lap("broker 2 stopped under load");
    // Back: listed again, and it catches up until every replica is in sync.
    down.store(false, Ordering::Relaxed);
    services.start_node(&broker).await.unwrap();
    assert!(services.node_running(&broker).unwrap());
    assert!(
        kafka_admin::broker_ids(&bootstrap, Duration::from_secs(5))
            .unwrap()
            .contains(&2)
    );
    wait_until(
        "broker 2 back in every ISR",
        Duration::from_secs(60),
        || {
            kafka_admin::under_replicated(&bootstrap, Some(TOPIC), Duration::from_secs(5)).unwrap()
                == 0
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    let (delivered, while_down) = producer.await.unwrap();
    eprintln!("produced {delivered} under load, {while_down} while broker 2 was down");
    assert!(
        while_down > 0,
        "acks=all writes went on while broker 2 was down"
    );
    assert_eq!(messages_in_topic(&services), 1_000 + delivered as i64);

    lap("broker 2 back in every ISR");
    // ClickHouse: the cluster as remote_servers describe it, replicated and distributed tables
    // created ON CLUSTER (through ZooKeeper's DDL queue).
    let client = services.clickhouse.client();
    let layout: Vec<(u32, u32)> = client
        .query("SELECT shard_num, replica_num FROM system.clusters WHERE cluster = 'evbench' ORDER BY shard_num, replica_num")
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(layout, [(1, 1), (1, 2), (2, 1), (2, 2)]);
    for sql in [
        "CREATE DATABASE IF NOT EXISTS cluster_check ON CLUSTER evbench",
        "CREATE TABLE IF NOT EXISTS cluster_check.rows_local ON CLUSTER evbench (charger_id String, id UInt32) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/cluster_check/rows', '{replica}') ORDER BY (charger_id, id)",
        "CREATE TABLE IF NOT EXISTS cluster_check.rows ON CLUSTER evbench AS cluster_check.rows_local ENGINE = Distributed(evbench, cluster_check, rows_local, cityHash64(charger_id))",
    ] {
        client.query(sql).execute().await.unwrap();
    }
    insert(&client, 0..1_000).await.unwrap();
    // Replays collapse: the same rows again, through another server.
    let other = services.clickhouse_server(2, 2).unwrap().client();
    insert(&other, 0..500).await.unwrap();
    let distinct = "SELECT count() FROM cluster_check.rows FINAL";
    eventually(&client, distinct, 1_000).await;

    lap("ClickHouse tables ON CLUSTER, 1500 rows inserted");
    // The first server (the endpoint's own) down while an inserter keeps writing: inserts and
    // reads through the Distributed table go on via the others; the other replica of shard 1
    // takes its rows.
    let (stop, down) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    const LOAD_FROM: u32 = 100_000;
    let inserter = tokio::spawn(keep_inserting(
        client.clone(),
        LOAD_FROM,
        Arc::clone(&stop),
        Arc::clone(&down),
    ));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let replica = NodeRef::ClickHouseReplica {
        shard: 1,
        replica: 1,
    };
    services.stop_node(&replica).await.unwrap();
    down.store(true, Ordering::Relaxed);
    let mut reads = 0;
    let reading = Instant::now();
    while reading.elapsed() < Duration::from_secs(3) {
        // Reads go on too (one retry: a connection the stopped server closed).
        let n = match client.query(distinct).fetch_one::<u64>().await {
            Ok(n) => n,
            Err(_) => count(&client, distinct).await,
        };
        assert!(n >= 1_000, "{n} rows read with s1r1 down");
        reads += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    lap("s1r1 stopped under load");
    // Back: it fetches what it missed from its shard's other replica.
    down.store(false, Ordering::Relaxed);
    services.start_node(&replica).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    let (loaded, while_down) = inserter.await.unwrap();
    eprintln!("inserted {loaded} rows under load, {while_down} while s1r1 was down; {reads} reads");
    assert!(while_down > 0, "inserts went on while s1r1 was down");
    let expected = 1_000 + u64::from(loaded);
    services
        .sync_replicas(Duration::from_secs(60))
        .await
        .unwrap();
    eventually(&client, distinct, expected).await;
    let local = "SELECT count() FROM cluster_check.rows_local FINAL";
    let s1r1 = count(&services.clickhouse_server(1, 1).unwrap().client(), local).await;
    let s1r2 = count(&services.clickhouse_server(1, 2).unwrap().client(), local).await;
    assert_eq!(s1r1, s1r2, "s1r1 caught up");
    assert!(
        s1r1 > 0 && s1r1 < expected,
        "shard 1 holds part of the rows: {s1r1}"
    );

    lap("s1r1 back and in sync");
    // ZooKeeper down: replicated tables are read-only (inserts fail, reads work), and a
    // ClickHouse server may not start before it is back.
    let last = NodeRef::ClickHouseReplica {
        shard: 2,
        replica: 2,
    };
    services.stop_node(&last).await.unwrap();
    services.stop_node(&NodeRef::ZooKeeper).await.unwrap();
    let mut accepted = 0;
    let refused = loop {
        match insert(&client, 5_000 + accepted * 10..5_010 + accepted * 10).await {
            Err(e) => break e,
            // ClickHouse notices the lost session within a moment.
            Ok(()) => {
                accepted += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    assert!(
        refused.to_string().contains("readonly") || refused.to_string().contains("ZooKeeper"),
        "{refused}"
    );
    assert!(count(&client, distinct).await >= expected);
    let err = services.start_node(&last).await.unwrap_err();
    assert!(matches!(err, harness::Error::StartOrder(_)), "{err}");
    services.start_node(&NodeRef::ZooKeeper).await.unwrap();
    insert(&client, 2_000..2_100)
        .await
        .expect("writable again once ZooKeeper is back");
    // The refused batch may have gone into one shard before the other refused it: in full now.
    insert(&client, 5_000 + accepted * 10..5_010 + accepted * 10)
        .await
        .expect("the refused batch again");
    services.start_node(&last).await.unwrap();
    services
        .sync_replicas(Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        count(&client, distinct).await,
        expected + 100 + 10 * u64::from(accepted + 1),
        "every replica in sync: the same count whichever answers"
    );

    lap("ZooKeeper stopped, started, s2r2 back");
    // Teardown: every process group gone, every directory removed.
    let groups = services.process_groups();
    let dirs: Vec<std::path::PathBuf> = services
        .nodes()
        .iter()
        .map(|n| services.node_dir(n).unwrap().to_owned())
        .collect();
    assert_eq!(dirs.len(), 8);
    drop(services);
    lap("teardown");
    for (name, pgid) in groups {
        assert!(
            nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid as i32), None).is_err(),
            "{name} still running"
        );
    }
    for dir in dirs {
        assert!(!dir.exists(), "{} removed", dir.display());
    }
}
