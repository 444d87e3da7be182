//! `evbench sink`: the Rust consumer from Kafka into ClickHouse, until Ctrl-C or SIGTERM.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use endpoints::{KafkaEndpoint, Secret};
use pipeline::SinkConfig;

use crate::Failure;

#[derive(Debug, Args)]
pub struct SinkArgs {
    /// Kafka bootstrap servers, `host:port[,host:port…]`.
    #[arg(long, env = "EVBENCH_KAFKA_BOOTSTRAP")]
    brokers: String,
    /// ClickHouse HTTP URL.
    #[arg(long, env = "EVBENCH_CLICKHOUSE_URL")]
    clickhouse: String,
    /// The user the sink inserts as (never `default`).
    #[arg(long, default_value = schema::users::INGEST_USER)]
    user: String,
    /// Its password.
    #[arg(long, env = "EVBENCH_INGEST_PASSWORD", hide_env_values = true)]
    password: String,
    /// A TOML file of sink settings (group_id, topics, database, batch_rows, batch_bytes,
    /// batch_period = "500ms", retry_initial, retry_max, insert_timeout, progress_interval,
    /// shutdown_grace, [kafka] librdkafka settings); flags below override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Consumer group.
    #[arg(long)]
    group: Option<String>,
    /// The ClickHouse database.
    #[arg(long)]
    database: Option<String>,
    /// Rows per insert at most.
    #[arg(long)]
    batch_rows: Option<usize>,
    /// Longest time a row waits before its batch is written (e.g. `500ms`).
    #[arg(long, value_parser = humantime::parse_duration)]
    batch_period: Option<Duration>,
}

pub async fn run(args: SinkArgs) -> Result<(), Failure> {
    let mut config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))
                .map_err(Failure::Input)?;
            toml::from_str::<SinkConfig>(&text)
                .with_context(|| format!("sink settings in {}", path.display()))
                .map_err(Failure::Input)?
        }
        None => SinkConfig::default(),
    };
    if let Some(group) = args.group {
        config.group_id = group;
    }
    if let Some(database) = args.database {
        config.database = database;
    }
    if let Some(rows) = args.batch_rows {
        config.batch_rows = rows;
    }
    if let Some(period) = args.batch_period {
        config.batch_period = period;
    }
    config.validate().map_err(|e| Failure::Input(e.into()))?;
    if args.user == "default" {
        return Err(Failure::Input(anyhow::anyhow!(
            "the sink never inserts as `default`: use the `ingest` user"
        )));
    }
    let endpoint =
        super::schema::connect(args.clickhouse, args.user, Secret::new(args.password)).await?;
    let kafka = KafkaEndpoint {
        bootstrap: args.brokers,
        version: "unknown".into(),
    };
    let sink =
        pipeline::Sink::new(config, &kafka, endpoint.client()).context("starting the sink")?;
    let progress = sink.progress();
    let reporter = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        tick.tick().await;
        loop {
            tick.tick().await;
            let s = progress.snapshot();
            eprintln!(
                "sink: {} signals, {} sessions, {} dead letters, {:.0} rows/s{}",
                s.signals_written,
                s.sessions_written,
                s.dead_letters_written,
                s.rows_per_s,
                if s.holding {
                    " (holding: ClickHouse refuses inserts, retrying)"
                } else {
                    ""
                }
            );
        }
    });
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    let shutdown = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
        eprintln!("sink: stopping (writing what is buffered)");
    };
    let stats = sink.run(shutdown).await.context("sink")?;
    reporter.abort();
    println!(
        "{}",
        serde_json::to_string_pretty(&stats).context("stats as JSON")?
    );
    Ok(())
}
