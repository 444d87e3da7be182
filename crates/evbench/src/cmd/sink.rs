//! `evbench sink`: the Rust consumer from Kafka into ClickHouse, until Ctrl-C or SIGTERM.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use endpoints::{KafkaEndpoint, Secret};
use events::human_duration::HumanDuration;
use pipeline::SinkConfig;

use crate::Failure;
use crate::cmd::status_file;

#[derive(Debug, Args)]
pub struct SinkArgs {
    /// Kafka bootstrap servers, `host:port[,host:port…]`.
    /// A secured cluster's login comes from the environment: EVBENCH_KAFKA_SASL_USERNAME,
    /// EVBENCH_KAFKA_SASL_PASSWORD (or _PASSWORD_FILE), EVBENCH_KAFKA_SASL_MECHANISM
    /// (SCRAM-SHA-512 by default) and EVBENCH_KAFKA_CA_FILE; SASL over TLS whenever a user is set.
    #[arg(long, env = "EVBENCH_KAFKA_BOOTSTRAP")]
    brokers: String,
    /// ClickHouse HTTP URL; `https://…` speaks TLS, trusting the system's CAs and
    /// EVBENCH_CLICKHOUSE_CA_FILE (a client certificate: EVBENCH_CLICKHOUSE_CERT_FILE and
    /// EVBENCH_CLICKHOUSE_KEY_FILE).
    #[arg(long, env = "EVBENCH_CLICKHOUSE_URL")]
    clickhouse: String,
    /// The user the sink inserts as (never `default` unless `--allow-admin-user`).
    #[arg(long, default_value = schema::users::INGEST_USER)]
    user: String,
    /// Its password.
    #[arg(long, env = "EVBENCH_INGEST_PASSWORD", hide_env_values = true)]
    password: String,
    /// Let the sink insert as an administrative user such as `default`: only for servers on
    /// which the `ingest` user cannot be created.
    #[arg(long)]
    allow_admin_user: bool,
    /// A TOML file of sink settings (group_id, topics, database, batch_rows, batch_bytes,
    /// batch_period = "500ms", min_insert_interval = "20ms", signals_min_insert_interval = "500ms",
    /// retry_initial, retry_max, insert_timeout, progress_interval,
    /// shutdown_grace, a `[kafka]` table of librdkafka settings); flags below override it.
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
    #[arg(long)]
    batch_period: Option<HumanDuration>,
    /// Once caught up, a batch of sessions goes to ClickHouse as soon as the table's previous
    /// insert is done, but no sooner than this after it (each insert is a part to merge later).
    #[arg(long)]
    min_insert_interval: Option<HumanDuration>,
    /// The same for raw signals (nobody waits for them: fewer, bigger inserts).
    #[arg(long)]
    signals_min_insert_interval: Option<HumanDuration>,
    /// Write the number of partitions this sink holds to this file whenever it changes.
    #[arg(long)]
    ready_file: Option<PathBuf>,
    /// Write the counters as JSON to this file every second and at exit.
    #[arg(long)]
    stats_file: Option<PathBuf>,
    /// Serve Prometheus metrics (counters, consumer lag per partition, insert durations) at
    /// `http://HOST:PORT/metrics`; port 0 picks a free one. Off unless given; `evbench run`
    /// turns it on. The names are in docs/metrics.md.
    #[arg(long, value_name = "HOST:PORT")]
    metrics_addr: Option<String>,
}

fn settings(args: &SinkArgs) -> Result<SinkConfig, Failure> {
    let mut config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))
                .map_err(Failure::input)?;
            toml::from_str::<SinkConfig>(&text)
                .with_context(|| format!("sink settings in {}", path.display()))
                .map_err(Failure::input)?
        }
        None => SinkConfig::default(),
    };
    if let Some(group) = &args.group {
        config.group_id = group.clone();
    }
    if let Some(database) = &args.database {
        config.database = database.clone();
    }
    if let Some(rows) = args.batch_rows {
        config.batch_rows = rows;
    }
    if let Some(period) = args.batch_period {
        config.batch_period = period.0;
    }
    if let Some(interval) = args.min_insert_interval {
        config.min_insert_interval = interval.0;
    }
    if let Some(interval) = args.signals_min_insert_interval {
        config.signals_min_insert_interval = interval.0;
    }
    config.validate().map_err(Failure::input)?;
    if args.user == "default" && !args.allow_admin_user {
        return Err(Failure::input(anyhow::anyhow!(
            "the sink never inserts as `default`: use the `ingest` user (or --allow-admin-user)"
        )));
    }
    Ok(config)
}

pub async fn run(args: SinkArgs) -> Result<(), Failure> {
    let config = settings(&args)?;
    let group = config.group_id.clone();
    let kafka = KafkaEndpoint {
        bootstrap: args.brokers.clone(),
        version: "unknown".into(),
        security: super::kafka_security()?,
    };
    let endpoint = super::schema::connect(
        args.clickhouse.clone(),
        args.user.clone(),
        Secret::new(args.password.clone()),
    )
    .await?;
    let sink =
        pipeline::Sink::new(config, &kafka, endpoint.client()).context("starting the sink")?;
    let progress = sink.progress();
    let _metrics = super::serve_metrics(
        args.metrics_addr.as_deref(),
        "sink",
        pipeline::sink::SinkMetrics {
            group,
            progress: std::sync::Arc::clone(&progress),
        },
    )?;
    let (ready_file, stats_file) = (args.ready_file.clone(), args.stats_file.clone());
    let reporter = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        let (mut last_log, mut last_stats) = (Instant::now(), Instant::now());
        let mut assigned_written = None;
        loop {
            tick.tick().await;
            let assigned = progress.assigned_partitions();
            if let Some(path) = &ready_file
                && assigned_written != Some(assigned)
            {
                if let Err(e) = status_file::write(path, &assigned.to_string()) {
                    tracing::warn!(error = %format!("{e:#}"), "ready file");
                }
                assigned_written = Some(assigned);
            }
            if let Some(path) = &stats_file
                && last_stats.elapsed() >= Duration::from_secs(1)
            {
                last_stats = Instant::now();
                if let Err(e) = status_file::write_json(path, &progress.snapshot()) {
                    tracing::warn!(error = %format!("{e:#}"), "stats file");
                }
            }
            if last_log.elapsed() >= Duration::from_secs(5) {
                last_log = Instant::now();
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
    if let Some(path) = &args.stats_file {
        status_file::write_json(path, &stats)?;
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&stats).context("stats as JSON")?
    );
    Ok(())
}
