//! `evbench schema print | apply`: the ClickHouse schema for a server version, and migrations.

use anyhow::Context;
use std::fmt::Write as _;

use clap::Subcommand;
use endpoints::{ClickHouseEndpoint, Secret};
use schema::kafka_engine::{self, KafkaEngineConfig};
use schema::{Dialect, Schema, migrate, users};

use crate::Failure;

#[derive(Debug, Subcommand)]
pub enum SchemaCommand {
    /// Print every statement of the schema for a server version (bootstrap, then each migration),
    /// optionally the Kafka-engine tables and the users, without connecting anywhere.
    Print {
        /// The ClickHouse version the SQL is for (`18.16` = the portable core; 22.3 and later get
        /// codecs, DateTime64, LowCardinality).
        #[arg(long, default_value = "18.16")]
        server_version: String,
        /// The database.
        #[arg(long, default_value = schema::DEFAULT_DATABASE)]
        database: String,
        /// Also print the Kafka engine tables and views reading these brokers.
        #[arg(long)]
        kafka_brokers: Option<String>,
        /// The SQL for this ClickHouse cluster (as named in the servers' `remote_servers`):
        /// `ON CLUSTER`, replicated tables `<table>_local`, `Distributed` tables over them.
        #[arg(long, env = "EVBENCH_CLICKHOUSE_CLUSTER")]
        cluster: Option<String>,
        /// Also print the users (`users.d` XML for old servers, SQL for modern ones), with the
        /// SHA-256 of EVBENCH_INGEST_PASSWORD and EVBENCH_GRAFANA_PASSWORD.
        #[arg(long)]
        users: bool,
    },
    /// Apply the missing migrations to a server (its version is detected) and print them.
    Apply {
        /// The server's HTTP URL; `https://…` speaks TLS, trusting the system's CAs and
        /// EVBENCH_CLICKHOUSE_CA_FILE (a client certificate: EVBENCH_CLICKHOUSE_CERT_FILE and
        /// EVBENCH_CLICKHOUSE_KEY_FILE).
        #[arg(long, env = "EVBENCH_CLICKHOUSE_URL")]
        url: String,
        /// An administrative user (DDL rights).
        #[arg(long, env = "EVBENCH_CLICKHOUSE_USER", default_value = "default")]
        user: String,
        /// Its password.
        #[arg(
            long,
            env = "EVBENCH_CLICKHOUSE_PASSWORD",
            hide_env_values = true,
            default_value = ""
        )]
        password: String,
        /// …or a file whose first line is its password (keeps it out of the environment and
        /// the command line).
        #[arg(long, env = "EVBENCH_CLICKHOUSE_PASSWORD_FILE")]
        password_file: Option<std::path::PathBuf>,
        /// The database.
        #[arg(long, default_value = schema::DEFAULT_DATABASE)]
        database: String,
        /// Apply it on this ClickHouse cluster (`ON CLUSTER`; replicated tables and
        /// `Distributed` tables over them; the servers need a ZooKeeper and the macros
        /// `{shard}` and `{replica}`).
        #[arg(long, env = "EVBENCH_CLICKHOUSE_CLUSTER")]
        cluster: Option<String>,
        /// On servers with SQL access control, also create the `ingest` and `grafana` users
        /// (passwords from EVBENCH_INGEST_PASSWORD and EVBENCH_GRAFANA_PASSWORD).
        #[arg(long)]
        users: bool,
    },
}

pub async fn run(command: SchemaCommand) -> Result<(), Failure> {
    match command {
        SchemaCommand::Print {
            server_version,
            database,
            kafka_brokers,
            cluster,
            users,
        } => print(
            &server_version,
            &database,
            cluster.as_deref(),
            kafka_brokers.as_deref(),
            users,
        ),
        SchemaCommand::Apply {
            url,
            user,
            password,
            password_file,
            database,
            cluster,
            users,
        } => {
            let password = Secret::from_value_or_file(
                Some(password),
                password_file.as_deref(),
                ("--password", "--password-file"),
            )
            .map_err(|e| input(anyhow::anyhow!(e)))?;
            apply(url, user, password, &database, cluster.as_deref(), users).await
        }
    }
}

fn input(error: impl Into<anyhow::Error>) -> Failure {
    Failure::Input(error.into())
}

fn print(
    version: &str,
    database: &str,
    cluster: Option<&str>,
    brokers: Option<&str>,
    with_users: bool,
) -> Result<(), Failure> {
    let dialect = Dialect::parse_version(version).ok_or_else(|| {
        input(anyhow::anyhow!(
            "unreadable server version {version:?} (e.g. 18.16 or 26.9)"
        ))
    })?;
    let schema = schema_for(dialect, database, cluster)?;
    // Everything that can fail is done before the first line is printed.
    let passwords = if with_users {
        Some(users::Passwords::from_env().map_err(input)?)
    } else {
        None
    };
    let engine = match brokers {
        Some(brokers) => Some(
            kafka_engine::statements(&schema, &KafkaEngineConfig::new(brokers)).map_err(input)?,
        ),
        None => None,
    };
    // Built whole, then written: a reader that stops early (`| head`) is not an error.
    let mut text = String::new();
    match cluster {
        Some(cluster) => writeln!(
            text,
            "-- evbench schema for {dialect}, database {database}, cluster {cluster}"
        )?,
        None => writeln!(text, "-- evbench schema for {dialect}, database {database}")?,
    }
    for statement in schema.bootstrap_statements() {
        writeln!(text, "{statement};\n")?;
    }
    for migration in schema.migrations() {
        writeln!(
            text,
            "-- migration {}: {} (checksum {})",
            migration.version,
            migration.name,
            migration.checksum()
        )?;
        for statement in &migration.statements {
            writeln!(text, "{statement};\n")?;
        }
    }
    if let Some(statements) = engine {
        writeln!(text, "-- Kafka engine ingestion (the study's path)")?;
        for statement in statements {
            writeln!(text, "{statement};\n")?;
        }
    }
    if let Some(passwords) = passwords {
        if dialect.sql_access {
            writeln!(text, "-- users")?;
            for statement in users::users_sql(&schema, &passwords) {
                writeln!(text, "{statement};")?;
            }
        } else {
            writeln!(
                text,
                "-- users: save as users.d/{} on the server\n{}",
                users::USERS_FILE,
                users::users_xml(&schema, &passwords)
            )?;
        }
    }
    write_stdout(&text)?;
    Ok(())
}

/// Writes `text` to stdout; a closed pipe (`| head`) ends the output quietly.
fn write_stdout(text: &str) -> Result<(), Failure> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Failure::CouldNotRun(
            anyhow::Error::new(e).context("writing to stdout"),
        )),
        _ => Ok(()),
    }
}

/// Refuses what cannot be a ClickHouse HTTP URL (`http(s)://host[:port][/]`).
fn check_url(url: &str) -> Result<(), Failure> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    let host = rest.map(|r| r.split(['/', ':']).next().unwrap_or(""));
    match host {
        Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => Ok(()),
        _ => Err(input(anyhow::anyhow!(
            "{url:?} is not a ClickHouse HTTP URL (write e.g. http://127.0.0.1:8123)"
        ))),
    }
}

/// Connects to `url` as `user`, detects its version, and returns its endpoint. An `https://`
/// URL speaks TLS with the settings of the environment (`EVBENCH_CLICKHOUSE_CA_FILE`,
/// `_CERT_FILE`, `_KEY_FILE`). A malformed URL or half-configured TLS is bad input; a server
/// that does not answer means the command could not run.
pub(crate) async fn connect(
    url: String,
    user: String,
    password: Secret,
) -> Result<ClickHouseEndpoint, Failure> {
    check_url(&url)?;
    let tls = endpoints::ClickHouseTls::from_env(std::slice::from_ref(&url)).map_err(input)?;
    let probe = endpoints::client_for(&url, &user, &password, None, tls.as_ref());
    let version = endpoints::clickhouse_server_version(&probe)
        .await
        .with_context(|| format!("connecting to ClickHouse at {url} as {user}"))?;
    let mut endpoint = ClickHouseEndpoint::single(url, user, password, version);
    endpoint.tls = tls;
    Ok(endpoint)
}

/// The schema of `database`, on `cluster` when one is named.
fn schema_for(dialect: Dialect, database: &str, cluster: Option<&str>) -> Result<Schema, Failure> {
    let schema = Schema::new(dialect)
        .with_database(database)
        .map_err(input)?;
    match cluster {
        Some(cluster) => schema.on_cluster(cluster).map_err(input),
        None => Ok(schema),
    }
}

async fn apply(
    url: String,
    user: String,
    password: Secret,
    database: &str,
    cluster: Option<&str>,
    with_users: bool,
) -> Result<(), Failure> {
    let endpoint = connect(url, user, password).await?;
    let dialect = Dialect::for_server(&endpoint.version);
    let schema = schema_for(dialect, database, cluster)?;
    let client = endpoint.client();
    let applied = migrate::apply(&client, &schema)
        .await
        .context("applying migrations")?;
    if applied.is_empty() {
        println!("{database}: up to date ({dialect})");
    }
    for a in &applied {
        println!("applied {} {}", a.version, a.name);
    }
    if with_users {
        if !dialect.sql_access {
            return Err(input(anyhow::anyhow!(
                "{dialect} keeps users in XML: `evbench schema print --users` prints users.d/{}",
                users::USERS_FILE
            )));
        }
        let passwords = users::Passwords::from_env().map_err(input)?;
        users::apply_sql(&client, &schema, &passwords)
            .await
            .context("creating users")?;
        println!(
            "users {} and {} ready",
            users::INGEST_USER,
            users::GRAFANA_USER
        );
    }
    Ok(())
}
