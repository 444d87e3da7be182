//! `evbench aggregate` (the service) and `evbench sessionize` (the same core over a file).

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aggregator::SessionizerConfig;
use anyhow::Context;
use clap::Args;
use endpoints::KafkaEndpoint;
use pipeline::aggregate::{self, AggregateOptions, AggregateStats};

use crate::Failure;

/// How imperfect input is treated; shared by `aggregate` and `sessionize`.
#[derive(Debug, Args)]
pub struct SessionizerArgs {
    /// Idle time after charging beyond which a visit is an overstay (the profile's grace; the
    /// `study` profile's is 6m, `study-literal`'s 6s).
    #[arg(long, default_value = "6m", value_parser = humantime::parse_duration)]
    overstay_grace: Duration,
    /// Signals out of order by up to this much event time are put back in order; later ones
    /// go to the dead-letter output.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    reorder_tolerance: Duration,
    /// A visit whose charger is silent this long (event time) is closed and flagged.
    #[arg(long, default_value = "2h", value_parser = humantime::parse_duration)]
    inactivity_gap: Duration,
}

impl SessionizerArgs {
    fn config(&self) -> Result<SessionizerConfig, Failure> {
        let config = SessionizerConfig {
            overstay_grace: self.overstay_grace,
            reorder_tolerance: self.reorder_tolerance,
            inactivity_gap: self.inactivity_gap,
            ..SessionizerConfig::default()
        };
        config.validate().map_err(|e| Failure::Input(e.into()))?;
        Ok(config)
    }
}

#[derive(Debug, Args)]
pub struct AggregateArgs {
    /// Kafka bootstrap servers, `host:port[,…]`.
    #[arg(long, env = "EVBENCH_KAFKA_BOOTSTRAP")]
    brokers: String,
    /// This instance's name: unique among running instances, the same across its restarts
    /// (it names the transactional id, so a restart fences its previous incarnation).
    #[arg(long, default_value = "0")]
    instance: String,
    /// Consumer group shared by all instances.
    #[arg(long, default_value = "evbench-aggregator")]
    group: String,
    /// How often the transaction (sessions + consumed offsets) is committed.
    #[arg(long, default_value = "100ms", value_parser = humantime::parse_duration)]
    commit_interval: Duration,
    #[command(flatten)]
    sessionizer: SessionizerArgs,
}

pub async fn aggregate(args: AggregateArgs) -> Result<(), Failure> {
    let options = AggregateOptions {
        group_id: args.group.clone(),
        instance: args.instance.clone(),
        commit_interval: args.commit_interval,
        sessionizer: args.sessionizer.config()?,
        ..AggregateOptions::default()
    };
    let kafka = KafkaEndpoint {
        bootstrap: args.brokers.clone(),
        version: "unknown".into(),
    };
    aggregate::prepare_topics(&kafka, &options)
        .await
        .context("creating the output topics")?;
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(AggregateStats::default());
    let worker = aggregate::spawn(kafka, options, Arc::clone(&stop), Arc::clone(&stats))?;
    eprintln!(
        "aggregating {} -> {} (instance {}, group {}); Ctrl-C stops",
        events::SIGNALS_TOPIC,
        events::SESSIONS_TOPIC,
        args.instance,
        args.group
    );
    let mut ticker = tokio::time::interval(Duration::from_secs(5));
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("SIGTERM handler")?;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = terminate.recv() => break,
            _ = ticker.tick() => {
                if worker.is_finished() {
                    break;
                }
                tracing::info!(
                    signals = stats.signals.load(Ordering::Relaxed),
                    sessions = stats.sessions.load(Ordering::Relaxed),
                    dead_letters = stats.dead_letters.load(Ordering::Relaxed),
                    transactions = stats.transactions.load(Ordering::Relaxed),
                    "progress"
                );
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let result = tokio::task::spawn_blocking(move || worker.join())
        .await
        .context("joining the aggregator")?;
    match result {
        Ok(outcome) => outcome.context("the aggregator")?,
        Err(_) => {
            return Err(Failure::Check(anyhow::anyhow!(
                "the aggregator thread panicked"
            )));
        }
    }
    eprintln!(
        "{} signals, {} sessions, {} dead letters, {} transactions",
        stats.signals.load(Ordering::Relaxed),
        stats.sessions.load(Ordering::Relaxed),
        stats.dead_letters.load(Ordering::Relaxed),
        stats.transactions.load(Ordering::Relaxed)
    );
    Ok(())
}

#[derive(Debug, Args)]
pub struct SessionizeArgs {
    /// Signals, one JSON object per line (e.g. from `evbench simulate --out`).
    input: PathBuf,
    /// Write the sessions here (default: standard output).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write the dead letters here, one JSON object per line with the line number and reason.
    #[arg(long)]
    dead_letters: Option<PathBuf>,
    #[command(flatten)]
    sessionizer: SessionizerArgs,
}

pub fn sessionize(args: SessionizeArgs) -> Result<(), Failure> {
    let config = args.sessionizer.config()?;
    let input = File::open(&args.input)
        .with_context(|| format!("opening {}", args.input.display()))
        .map_err(Failure::Input)?;
    let input = BufReader::with_capacity(1 << 16, input);
    let dead = match &args.dead_letters {
        Some(path) => Some(BufWriter::new(
            File::create(path)
                .with_context(|| format!("creating {}", path.display()))
                .map_err(Failure::Input)?,
        )),
        None => None,
    };
    let summary = match &args.out {
        Some(path) => {
            let out = File::create(path)
                .with_context(|| format!("creating {}", path.display()))
                .map_err(Failure::Input)?;
            aggregator::sessionize_jsonl(input, out, dead, config)?
        }
        None => aggregator::sessionize_jsonl(input, std::io::stdout().lock(), dead, config)?,
    };
    eprintln!(
        "{} signals, {} sessions, {} dead letters, {} duplicates ignored, {} chargers",
        summary.signals,
        summary.sessions,
        summary.dead_letters,
        summary.duplicates,
        summary.chargers
    );
    Ok(())
}
