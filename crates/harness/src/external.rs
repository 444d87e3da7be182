//! The external provider: servers the user already runs.

use std::time::Duration;

use endpoints::{
    ClickHouseEndpoint, KafkaEndpoint, Secret, ServerVersion, client_for, kafka_admin,
};

use crate::{Error, Result};

fn var(name: &str) -> Result<String> {
    std::env::var(name).map_err(|_| Error::Missing(format!("the external provider needs {name}")))
}

/// Reads the endpoints from the environment and checks that both servers answer.
pub(crate) async fn connect() -> Result<(KafkaEndpoint, ClickHouseEndpoint)> {
    let bootstrap = var("EVBENCH_KAFKA_BOOTSTRAP")?;
    let url = var("EVBENCH_CLICKHOUSE_URL")?;
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
    let text: String = client_for(&url, &user, &password, None)
        .query("SELECT version()")
        .fetch_one()
        .await?;
    let version = ServerVersion::parse(&text)
        .ok_or_else(|| Error::Other(format!("unreadable ClickHouse version {text:?}")))?;
    // Kafka does not report its release over the protocol; say so rather than guess.
    let kafka = KafkaEndpoint {
        bootstrap,
        version: "unknown (external)".into(),
    };
    Ok((
        kafka,
        ClickHouseEndpoint {
            url,
            user,
            password,
            version,
        },
    ))
}
