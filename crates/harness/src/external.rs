//! The external provider: servers the user already runs.

use std::time::Duration;

use endpoints::{
    ClickHouseEndpoint, KafkaEndpoint, Secret, ServerVersion, client_with_failover, kafka_admin,
};

use crate::{Error, Result, Topology};

fn var(name: &str) -> Result<String> {
    std::env::var(name).map_err(|_| Error::Missing(format!("the external provider needs {name}")))
}

/// Reads the endpoints from the environment and checks that both servers answer, and that they
/// have the shape `topology` asks for: at least as many brokers; for a ClickHouse cluster, the
/// cluster `EVBENCH_CLICKHOUSE_CLUSTER` with those shards and replicas. Returns the shape found.
pub(crate) async fn connect(
    topology: &Topology,
) -> Result<(KafkaEndpoint, ClickHouseEndpoint, Topology)> {
    let bootstrap = var("EVBENCH_KAFKA_BOOTSTRAP")?;
    // One URL, or several servers of one cluster (the first is asked first, the others on
    // failure).
    let urls: Vec<String> = var("EVBENCH_CLICKHOUSE_URL")?
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
        .collect();
    let Some((url, failover)) = urls.split_first() else {
        return Err(Error::Missing(
            "EVBENCH_CLICKHOUSE_URL names no server".into(),
        ));
    };
    let cluster = std::env::var("EVBENCH_CLICKHOUSE_CLUSTER")
        .ok()
        .filter(|c| !c.trim().is_empty());
    let user = std::env::var("EVBENCH_CLICKHOUSE_USER").unwrap_or_else(|_| "default".into());
    let password = Secret::new(std::env::var("EVBENCH_CLICKHOUSE_PASSWORD").unwrap_or_default());

    let probe = bootstrap.clone();
    let brokers = tokio::task::spawn_blocking(move || {
        kafka_admin::broker_count(&probe, Duration::from_secs(10))
    })
    .await
    .map_err(|e| Error::Other(e.to_string()))??;
    if brokers == 0 {
        return Err(Error::Other(format!(
            "Kafka at {bootstrap} lists no broker"
        )));
    }
    if (brokers as u32) < topology.kafka_brokers {
        return Err(Error::Topology(format!(
            "Kafka at {bootstrap} lists {brokers} broker(s); the scenario asks for {}",
            topology.kafka_brokers
        )));
    }
    let client = client_with_failover(url, failover, &user, &password, None);
    let text: String = client.query("SELECT version()").fetch_one().await?;
    let version = ServerVersion::parse(&text)
        .ok_or_else(|| Error::Other(format!("unreadable ClickHouse version {text:?}")))?;
    let mut found = Topology {
        kafka_brokers: brokers as u32,
        clickhouse_shards: 1,
        clickhouse_replicas: 1,
    };
    match &cluster {
        Some(name) => {
            let (shards, replicas): (u32, u32) = client
                .query("SELECT toUInt32(uniqExact(shard_num)), toUInt32(max(replica_num)) FROM system.clusters WHERE cluster = ?")
                .bind(name.as_str())
                .fetch_one()
                .await?;
            if shards == 0 {
                return Err(Error::Topology(format!(
                    "EVBENCH_CLICKHOUSE_CLUSTER={name}, but the server at {url} has no such cluster in system.clusters"
                )));
            }
            found.clickhouse_shards = shards;
            found.clickhouse_replicas = replicas;
            if topology.clickhouse_cluster()
                && (shards, replicas) != (topology.clickhouse_shards, topology.clickhouse_replicas)
            {
                return Err(Error::Topology(format!(
                    "the ClickHouse cluster {name} has {shards} shard(s) × {replicas} replica(s); the scenario asks for {} × {}",
                    topology.clickhouse_shards, topology.clickhouse_replicas
                )));
            }
        }
        None if topology.clickhouse_cluster() => {
            return Err(Error::Topology(format!(
                "the scenario asks for a ClickHouse cluster of {} × {}: name it in EVBENCH_CLICKHOUSE_CLUSTER (its servers need the macros {{shard}} and {{replica}})",
                topology.clickhouse_shards, topology.clickhouse_replicas
            )));
        }
        None => {}
    }
    // Kafka does not report its release over the protocol; say so rather than guess.
    let kafka = KafkaEndpoint {
        bootstrap,
        version: "unknown (external)".into(),
    };
    let clickhouse = ClickHouseEndpoint {
        url: url.clone(),
        user,
        password,
        version,
        cluster,
        failover: failover.to_vec(),
    };
    Ok((kafka, clickhouse, found))
}
