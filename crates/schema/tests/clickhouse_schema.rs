//! The schema on the real ClickHouse of this machine (18.16 here): migrations, users, KPI SQL.

mod common;

use harness::{ProviderKind, Services};
use schema::users::{self, GRAFANA_USER, INGEST_USER, Passwords};
use schema::{Dialect, Schema, kpi, migrate, store};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_apply_once_and_users_are_refused_what_they_may_not_do() {
    let mut services = Services::start(ProviderKind::Native)
        .await
        .expect("services");
    let dialect = Dialect::for_server(&services.clickhouse.version);
    let schema = Schema::new(dialect);
    let admin = services.clickhouse.client();

    let first = migrate::apply(&admin, &schema).await.expect("first apply");
    assert_eq!(first.len(), schema.migrations().len(), "all migrations ran");
    let second = migrate::apply(&admin, &schema).await.expect("second apply");
    assert!(second.is_empty(), "second apply is a no-op: {second:?}");
    let recorded = migrate::recorded(&admin, &schema).await.unwrap();
    assert_eq!(recorded.len(), schema.migrations().len());

    // A database the pipeline users must not see.
    for sql in [
        "CREATE DATABASE IF NOT EXISTS other",
        "CREATE TABLE IF NOT EXISTS other.secret (x UInt8) ENGINE = Memory",
    ] {
        admin.query(sql).execute().await.unwrap();
    }

    let passwords = Passwords::from_env_or_generate().unwrap();
    users::install_native(services.native_clickhouse().unwrap(), &schema, &passwords)
        .await
        .expect("users installed");
    let ingest = services
        .clickhouse
        .client_as(INGEST_USER, &passwords.ingest);
    let grafana = services
        .clickhouse
        .client_as(GRAFANA_USER, &passwords.grafana);

    // ingest: inserts, but no DDL and nothing outside its database.
    ingest
        .query("INSERT INTO evbench.dead_letters (topic, partition, offset, reason, payload) VALUES ('t', 0, 1, 'test', 'x')")
        .execute()
        .await
        .expect("ingest may insert");
    common::assert_refused(
        &ingest,
        "DROP TABLE evbench.signals",
        "DDL queries are prohibited",
    )
    .await;
    common::assert_refused(
        &ingest,
        "CREATE TABLE evbench.x (a UInt8) ENGINE = Memory",
        "DDL queries are prohibited",
    )
    .await;
    common::assert_refused(
        &ingest,
        "SELECT * FROM other.secret",
        "Access denied to database other",
    )
    .await;
    common::assert_refused(
        &ingest,
        "INSERT INTO other.secret VALUES (1)",
        "Access denied to database other",
    )
    .await;

    // grafana: reads its database, may set max_execution_time, cannot insert or drop.
    let n: u64 = grafana
        .query("SELECT count() FROM evbench.dead_letters")
        .with_setting("max_execution_time", "5")
        .fetch_one()
        .await
        .expect("grafana reads and sets max_execution_time");
    assert_eq!(n, 1);
    common::assert_refused(&grafana, "INSERT INTO evbench.dead_letters (topic, partition, offset, reason, payload) VALUES ('t', 0, 2, 'x', 'y')", "readonly").await;
    common::assert_refused(&grafana, "DROP TABLE evbench.signals", "readonly").await;
    common::assert_refused(
        &grafana,
        "SELECT * FROM other.secret",
        "Access denied to database other",
    )
    .await;

    // The KPI SQL runs on this server and matches Rust on hand-made sessions.
    let sessions = common::simulated_sessions(40, 2);
    common::insert_sessions_json(&admin, &sessions).await;
    let params = common::window_of(&sessions);
    let expected = kpi::compute(&sessions, &params);
    let actual = kpi::fetch(&grafana, &schema, &params)
        .await
        .expect("KPIs as grafana");
    let diffs = kpi::compare(&expected, &actual, &kpi::queries(&schema));
    assert!(diffs.is_empty(), "KPI differences: {diffs:#?}");
    let stored = store::fetch_sessions(&admin, &schema).await.unwrap();
    assert_eq!(stored.len(), sessions.len());
    // The hourly rollup (filled by its view) agrees with the sessions when nothing was replayed.
    let (rolled, occupied): (u64, i64) = admin
        .query("SELECT sum(sessions), sum(occupied_ms) FROM evbench.station_hourly")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(rolled, sessions.len() as u64);
    assert_eq!(occupied, sessions.iter().map(|s| s.dwell_ms).sum::<i64>());
    services.stop();
}
