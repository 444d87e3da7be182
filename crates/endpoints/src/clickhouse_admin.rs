//! Administration of a ClickHouse cluster's replication, beside [`kafka_admin`](crate::kafka_admin):
//! what the harness asks a server while a cluster starts, stops a node or is checked.

use crate::Result;

/// Waits (server side) until every replicated table of the server fetched what its other
/// replicas hold: `SYSTEM SYNC REPLICA` for each.
pub async fn sync_replicas(client: &clickhouse::Client) -> Result<()> {
    let tables: Vec<String> = client
        .query(
            "SELECT concat(database, '.', name) FROM system.tables WHERE engine LIKE 'Replicated%'",
        )
        .fetch_all()
        .await?;
    for table in tables {
        client
            .query(&format!("SYSTEM SYNC REPLICA {table}"))
            .execute()
            .await?;
    }
    Ok(())
}

/// How many of the server's replicated tables are read-only (they are while it has lost its
/// coordination service); fails when the coordination service (ZooKeeper) cannot be reached.
pub async fn readonly_replicas(client: &clickhouse::Client) -> Result<u64> {
    client
        .query("SELECT count() FROM system.zookeeper WHERE path = '/'")
        .fetch_one::<u64>()
        .await?;
    Ok(client
        .query("SELECT count() FROM system.replicas WHERE is_readonly")
        .fetch_one::<u64>()
        .await?)
}
