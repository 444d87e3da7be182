//! Storage and topics for a run: the schema's migrations, the pipeline's users, and the three
//! topics created up front (one partition per charger up to the scenario's limit).

use endpoints::Secret;
use endpoints::kafka_admin;
use harness::Services;
use pipeline::aggregate::AggregateOptions;
use pipeline::produce::{self, ProduceOptions};
use schema::{Dialect, Schema, users};

use crate::Result;

/// The user the ingestion inserts as.
#[derive(Debug, Clone)]
pub(crate) struct IngestUser {
    pub user: String,
    pub password: Secret,
    /// True when no `ingest` user could be created and the administrative user inserts.
    pub administrative: bool,
}

/// The run's database and its clients.
#[derive(Debug, Clone)]
pub(crate) struct Storage {
    pub schema: Schema,
    /// The harness's administrative client (migrations, the Kafka engine's tables).
    pub admin: clickhouse::Client,
    /// What evbench's checks read with: the `grafana` user (`SELECT` only), as any observer
    /// of the run; the administrative client where that user could not be created.
    pub reader: clickhouse::Client,
    pub ingest: IngestUser,
    /// The `grafana` user's password (`evbench run --keep` says where to find it).
    pub grafana_password: endpoints::Secret,
}

/// Applies the migrations (`ON CLUSTER` on a ClickHouse cluster) and installs the `ingest` and
/// `grafana` users: as a `users.d` file on every native server, with SQL on external ones that
/// support it. Where neither is possible (an external 18.16), the administrative user inserts.
pub(crate) async fn prepare(services: &mut Services) -> Result<Storage> {
    let mut schema = Schema::new(Dialect::for_server(&services.clickhouse.version));
    if let Some(cluster) = &services.clickhouse.cluster {
        schema = schema.on_cluster(cluster)?;
    }
    let admin = services.clickhouse.client();
    schema::migrate::apply(&admin, &schema).await?;
    let passwords = users::Passwords::from_env_or_generate()?;
    let natives = services.native_clickhouse_servers();
    let installed = if let [first, ..] = natives {
        if schema.dialect().sql_access {
            // Created once (ON CLUSTER on a cluster).
            users::install_native(first, &schema, &passwords).await?;
        } else {
            for server in natives.iter() {
                users::install_native(server, &schema, &passwords).await?;
            }
        }
        true
    } else if schema.dialect().sql_access {
        users::apply_sql(&admin, &schema, &passwords).await?;
        true
    } else {
        false
    };
    let grafana_password = passwords.grafana.clone();
    let reader = match installed {
        true => services
            .clickhouse
            .client_as(users::GRAFANA_USER, &grafana_password),
        false => admin.clone(),
    };
    let ingest = if installed {
        IngestUser {
            user: users::INGEST_USER.to_owned(),
            password: passwords.ingest,
            administrative: false,
        }
    } else {
        IngestUser {
            user: services.clickhouse.user.clone(),
            password: services.clickhouse.password.clone(),
            administrative: true,
        }
    };
    Ok(Storage {
        schema,
        admin,
        reader,
        ingest,
        grafana_password,
    })
}

/// The partition counts of the run's topics.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Topics {
    pub signal_partitions: u32,
    pub session_partitions: u32,
}

/// Creates `charger-station-signals` for `chargers`, and the sessions and dead-letter topics
/// (replicated on a cluster of brokers: 3 replicas, `min.insync.replicas` 2).
pub(crate) async fn prepare_topics(
    services: &Services,
    produce_options: &ProduceOptions,
    chargers: u32,
    output_partitions: u32,
) -> Result<Topics> {
    let signal_partitions =
        produce::prepare_topic(&services.kafka, produce_options, chargers).await?;
    let output = AggregateOptions::default();
    for topic in [&output.sessions_topic, &output.dead_letter_topic] {
        kafka_admin::ensure_topic(
            &services.kafka,
            topic,
            kafka_admin::replicated_spec(&services.kafka, output_partitions as usize).await?,
        )
        .await?;
    }
    Ok(Topics {
        signal_partitions,
        session_partitions: output_partitions,
    })
}
