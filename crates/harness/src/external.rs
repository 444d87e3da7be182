//! The external provider: servers the user already runs.

use std::time::Duration;

use endpoints::{ClickHouseEndpoint, KafkaEndpoint, Secret, client_with_failover, kafka_admin};

use crate::{Error, Result, Topology, TopologyError};

fn var(name: &'static str) -> Result<String> {
    std::env::var(name).map_err(|_| Error::ExternalUnset(name))
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
        return Err(Error::NoClickHouseUrl);
    };
    let cluster = std::env::var("EVBENCH_CLICKHOUSE_CLUSTER")
        .ok()
        .filter(|c| !c.trim().is_empty());
    let user = std::env::var("EVBENCH_CLICKHOUSE_USER").unwrap_or_else(|_| "default".into());
    let password = Secret::from_value_or_file(
        std::env::var("EVBENCH_CLICKHOUSE_PASSWORD").ok(),
        std::env::var_os("EVBENCH_CLICKHOUSE_PASSWORD_FILE")
            .filter(|f| !f.is_empty())
            .as_deref()
            .map(std::path::Path::new),
        (
            "EVBENCH_CLICKHOUSE_PASSWORD",
            "EVBENCH_CLICKHOUSE_PASSWORD_FILE",
        ),
    )
    .map_err(Error::ClickHousePassword)?;

    // A secured cluster's login (EVBENCH_KAFKA_SASL_*): every part of the pipeline uses it.
    let kafka = KafkaEndpoint {
        bootstrap,
        version: "unknown (external)".into(),
        security: endpoints::KafkaSecurity::from_env()?,
    };
    // HTTPS when the URLs say so (EVBENCH_CLICKHOUSE_CA_FILE, _CERT_FILE, _KEY_FILE).
    let tls = endpoints::ClickHouseTls::from_env(&urls)?;
    let brokers = kafka_brokers(&kafka, topology).await?;
    let client = client_with_failover(url, failover, &user, &password, None, tls.as_ref());
    let version = endpoints::clickhouse_server_version(&client).await?;
    let (clickhouse_shards, clickhouse_replicas) =
        clickhouse_shape(&client, url, cluster.as_deref(), topology).await?;
    let found = Topology {
        kafka_brokers: brokers,
        clickhouse_shards,
        clickhouse_replicas,
    };
    // Kafka does not report its release over the protocol: its version says so rather than
    // guess.
    let clickhouse = ClickHouseEndpoint {
        url: url.clone(),
        user,
        password,
        version,
        cluster,
        failover: failover.to_vec(),
        tls,
    };
    Ok((kafka, clickhouse, found))
}

/// How many brokers the Kafka at `bootstrap` lists: at least one, and as many as `topology`
/// asks for.
async fn kafka_brokers(kafka: &KafkaEndpoint, topology: &Topology) -> Result<u32> {
    let (probe, bootstrap) = (kafka.clone(), kafka.bootstrap.as_str());
    let brokers = crate::blocking("kafka probe", move || {
        kafka_admin::broker_count(&probe, Duration::from_secs(10))
    })
    .await?? as u32;
    if brokers == 0 {
        return Err(Error::NoBroker {
            bootstrap: bootstrap.to_owned(),
        });
    }
    if brokers < topology.kafka_brokers {
        return Err(TopologyError::TooFewBrokers {
            bootstrap: bootstrap.to_owned(),
            brokers,
            wanted: topology.kafka_brokers,
        }
        .into());
    }
    Ok(brokers)
}

/// The shards and replicas of the ClickHouse cluster `cluster` as the server at `url` (asked
/// through `client`) has it in `system.clusters` (1 × 1 without a cluster), checked against the
/// cluster `topology` asks for.
async fn clickhouse_shape(
    client: &clickhouse::Client,
    url: &str,
    cluster: Option<&str>,
    topology: &Topology,
) -> Result<(u32, u32)> {
    let Some(name) = cluster else {
        if topology.clickhouse_cluster() {
            return Err(TopologyError::ClusterUnnamed {
                shards: topology.clickhouse_shards,
                replicas: topology.clickhouse_replicas,
            }
            .into());
        }
        return Ok((1, 1));
    };
    let (shards, replicas): (u32, u32) = client
        .query("SELECT toUInt32(uniqExact(shard_num)), toUInt32(max(replica_num)) FROM system.clusters WHERE cluster = ?")
        .bind(name)
        .fetch_one()
        .await?;
    if shards == 0 {
        return Err(TopologyError::NoSuchCluster {
            name: name.to_owned(),
            url: url.to_owned(),
        }
        .into());
    }
    if topology.clickhouse_cluster()
        && (shards, replicas) != (topology.clickhouse_shards, topology.clickhouse_replicas)
    {
        return Err(TopologyError::ClusterShape {
            name: name.to_owned(),
            shards,
            replicas,
            wanted_shards: topology.clickhouse_shards,
            wanted_replicas: topology.clickhouse_replicas,
        }
        .into());
    }
    Ok((shards, replicas))
}
