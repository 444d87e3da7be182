//! The schema on a real ClickHouse cluster (the native provider's 2 shards × 2 replicas with a
//! ZooKeeper; 18.16 here): migrations `ON CLUSTER`, the pipeline's users on every server, rows
//! written by the `ingest` user through the `Distributed` tables landing on their charger's
//! shard, and a replica stopped while rows (and replays of rows) keep coming: afterwards every
//! server reads every session exactly once, the replicas of each shard agree, and the KPI SQL
//! matches Rust.

mod common;

use std::time::{Duration, Instant};

use harness::{NodeRef, ProviderKind, Services, Topology};
use schema::users::{self, GRAFANA_USER, INGEST_USER, Passwords};
use schema::{Dialect, Schema, kpi, migrate, store};

async fn count(client: &clickhouse::Client, sql: &str) -> u64 {
    client.query(sql).fetch_one::<u64>().await.unwrap()
}

/// A replica that was down, or a record just written, reaches the others within moments.
async fn eventually(client: &clickhouse::Client, sql: &str, expected: u64) {
    let started = Instant::now();
    loop {
        let n = count(client, sql).await;
        if n == expected {
            return;
        }
        assert!(n < expected, "{sql}: {n}, more than {expected}");
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{sql}: {n}, not {expected} after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_stores_every_session_once_through_a_replica_outage() {
    let topology = Topology {
        kafka_brokers: 1,
        clickhouse_shards: 2,
        clickhouse_replicas: 2,
    };
    let mut services =
        Services::start_topology(ProviderKind::Native, &harness::services_dir(), &topology)
            .await
            .expect("the cluster starts");
    let cluster = services
        .clickhouse
        .cluster
        .clone()
        .expect("the endpoint names its cluster");
    let schema = Schema::new(Dialect::for_server(&services.clickhouse.version))
        .on_cluster(&cluster)
        .unwrap();
    let admin = services.clickhouse.client();

    // Migrations ON CLUSTER: recorded once, seen from every server (the record is replicated).
    let first = migrate::apply(&admin, &schema).await.expect("apply");
    assert_eq!(first.len(), schema.migrations().len());
    let far = services.clickhouse_server(2, 2).unwrap().client();
    eventually(
        &far,
        "SELECT count() FROM evbench.schema_migrations FINAL",
        schema.migrations().len() as u64,
    )
    .await;
    assert!(
        migrate::apply(&far, &schema).await.unwrap().is_empty(),
        "applied again from another server: nothing to do"
    );
    for (shard, replica) in [(1, 1), (1, 2), (2, 1), (2, 2)] {
        let server = services.clickhouse_server(shard, replica).unwrap().client();
        let tables = count(
            &server,
            "SELECT count() FROM system.tables WHERE database = 'evbench' AND (engine LIKE 'Replicated%' OR engine = 'Distributed')",
        )
        .await;
        // signals, sessions, dead_letters, station_hourly: local and distributed; the record.
        assert_eq!(tables, 9, "s{shard}r{replica}");
    }

    // The pipeline's users, on every server.
    let passwords = Passwords::from_env_or_generate().unwrap();
    for server in services.native_clickhouse_servers().iter() {
        users::install_native(server, &schema, &passwords)
            .await
            .expect("users on every server");
    }
    // As the sink writes: synchronously through the Distributed tables, first replica first.
    let ingest = services
        .clickhouse
        .client_as(INGEST_USER, &passwords.ingest)
        .with_setting("insert_distributed_sync", "1")
        .with_setting("load_balancing", "in_order");
    common::assert_refused(
        &ingest,
        "DROP TABLE evbench.sessions_local",
        "DDL queries are prohibited",
    )
    .await;

    let sessions = common::simulated_sessions(40, 4);
    let n = sessions.len();
    assert!(n > 200, "{n} sessions");
    common::insert_sessions_json(&ingest, &sessions[..n / 2]).await;

    // Shard 1's first replica (the endpoint's own server) down: inserts go on through the
    // others, replays of rows already stored included.
    let replica = NodeRef::ClickHouseReplica {
        shard: 1,
        replica: 1,
    };
    services.stop_node(&replica).await.unwrap();
    common::insert_sessions_json(&ingest, &sessions[n / 2..]).await;
    common::insert_sessions_json(&ingest, &sessions[..n / 4]).await;
    eventually(&far, "SELECT count() FROM evbench.sessions FINAL", n as u64).await;
    services.start_node(&replica).await.unwrap();

    // Every server reads each session once; the replicas of a shard agree; both shards hold
    // some (by charger), and together all.
    for (shard, replica) in [(1, 1), (1, 2), (2, 1), (2, 2)] {
        let server = services.clickhouse_server(shard, replica).unwrap().client();
        eventually(
            &server,
            "SELECT count() FROM evbench.sessions FINAL",
            n as u64,
        )
        .await;
    }
    let local = "SELECT count() FROM evbench.sessions_local FINAL";
    let mut per_shard = Vec::new();
    for shard in [1, 2] {
        let first = services.clickhouse_server(shard, 1).unwrap().client();
        let second = services.clickhouse_server(shard, 2).unwrap().client();
        let rows = count(&second, local).await;
        eventually(&first, local, rows).await;
        assert!(rows > 0, "shard {shard} holds sessions");
        per_shard.push(rows);
    }
    assert_eq!(per_shard.iter().sum::<u64>(), n as u64, "{per_shard:?}");
    let mut stored = store::fetch_sessions(&admin, &schema).await.unwrap();
    stored.sort_by(|a, b| a.session_id.cmp(&b.session_id));
    assert_eq!(stored.len(), n);
    // JSONEachRow's float parser on 18.16 may miss the last digit: compare floats to 1e-9.
    let rounded = |s: &events::Session| {
        let mut s = s.clone();
        for x in [&mut s.energy_kwh, &mut s.revenue_eur] {
            *x = (*x * 1e9).round() / 1e9;
        }
        s
    };
    for (got, want) in stored.iter().zip(&sessions) {
        assert_eq!(
            rounded(got),
            rounded(want),
            "stored as produced, through the Distributed table"
        );
    }

    // The KPI SQL through the Distributed tables, as Grafana's user, matches Rust.
    let grafana = services
        .clickhouse
        .client_as(GRAFANA_USER, &passwords.grafana);
    let params = common::window_of(&sessions);
    let expected = kpi::compute(&sessions, &params);
    let actual = kpi::fetch(&grafana, &schema, &params)
        .await
        .expect("KPIs as grafana");
    let diffs = kpi::compare(&expected, &actual, &kpi::queries(&schema));
    assert!(diffs.is_empty(), "KPI differences: {diffs:#?}");
}
