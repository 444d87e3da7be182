//! The insert floor (`clickhouse-client` alone inserting a table's rows into a twin) against a
//! real native ClickHouse: every row is inserted, the figures add up, and the twin is gone
//! afterwards, whatever the table held.

use std::process::Command;

use harness::NativeClickHouse;

fn client(port: u16, query: &str) -> String {
    let output = Command::new("clickhouse-client")
        .args(["--port", &port.to_string(), "--query", query])
        .output()
        .expect("clickhouse-client");
    assert!(
        output.status.success(),
        "{query}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_client_inserts_every_row_into_a_twin_it_drops() {
    let dir = tempfile::tempdir().unwrap();
    let server = NativeClickHouse::start_in(dir.path())
        .await
        .expect("clickhouse");
    let tcp = server.tcp_address();
    let port = tcp.port();
    client(port, "CREATE DATABASE floor_check");
    client(
        port,
        "CREATE TABLE floor_check.signals (id UInt64, charger String, note String) ENGINE = MergeTree ORDER BY id",
    );
    // Text that JSON must escape, so a row that round-trips wrongly is a row that goes missing.
    client(
        port,
        "INSERT INTO floor_check.signals SELECT number, concat('charger-', toString(number % 97)), 'a \"quoted\" \\\\ note' FROM system.numbers LIMIT 25000",
    );
    let floor = tokio::task::spawn_blocking(move || {
        harness::insert_floor::client_insert(tcp, "floor_check", "signals")
    })
    .await
    .unwrap()
    .expect("the insert floor ran");
    assert_eq!(floor.rows, 25_000, "{floor:?}");
    assert_eq!(floor.table, "floor_check.signals");
    assert!(floor.seconds > 0.0, "{floor:?}");
    assert!(
        (floor.rows_per_s * floor.seconds - 25_000.0).abs() < 1.0,
        "{floor:?}"
    );
    assert_eq!(
        client(
            port,
            "SELECT count() FROM system.tables WHERE database = 'floor_check'"
        ),
        "1",
        "the twin table was left behind"
    );
    // A table that is not there: an error naming it, nothing left behind.
    let err = tokio::task::spawn_blocking(move || {
        harness::insert_floor::client_insert(tcp, "floor_check", "absent")
    })
    .await
    .unwrap()
    .unwrap_err();
    let err = format!("{err}: {}", std::error::Error::source(&err).unwrap());
    assert!(err.contains("floor_check.absent"), "{err}");
    assert_eq!(
        client(
            port,
            "SELECT count() FROM system.tables WHERE database = 'floor_check'"
        ),
        "1"
    );
}
