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
use events::human_duration::HumanDuration;
use pipeline::aggregate::{self, AggregateOptions, AggregateStats};

use crate::Failure;
use crate::cmd::status_file;

/// How imperfect input is treated; shared by `aggregate` and `sessionize`. The defaults are the
/// sessionizer's own (`aggregator::SessionizerConfig::default()`).
#[derive(Debug, Args)]
pub struct SessionizerArgs {
    /// Idle time after charging beyond which a visit is an overstay (the profile's grace; the
    /// `study` profile's is 6m, `study-literal`'s 6s).
    #[arg(long, default_value_t = HumanDuration(SessionizerConfig::default().overstay_grace))]
    overstay_grace: HumanDuration,
    /// Signals out of order by up to this much event time are put back in order; later ones
    /// go to the dead-letter output.
    #[arg(long, default_value_t = HumanDuration(SessionizerConfig::default().reorder_tolerance))]
    reorder_tolerance: HumanDuration,
    /// A visit whose charger is silent this long (event time) is closed and flagged.
    #[arg(long, default_value_t = HumanDuration(SessionizerConfig::default().inactivity_gap))]
    inactivity_gap: HumanDuration,
    /// A signal whose timestamp is this far ahead of the stream's event time is dead-lettered.
    #[arg(long, default_value_t = HumanDuration(SessionizerConfig::default().max_clock_skew))]
    max_clock_skew: HumanDuration,
}

impl SessionizerArgs {
    fn config(&self) -> Result<SessionizerConfig, Failure> {
        let config = SessionizerConfig {
            overstay_grace: self.overstay_grace.0,
            reorder_tolerance: self.reorder_tolerance.0,
            inactivity_gap: self.inactivity_gap.0,
            max_clock_skew: self.max_clock_skew.0,
        };
        config.validate().map_err(Failure::input)?;
        Ok(config)
    }
}

#[derive(Debug, Args)]
pub struct AggregateArgs {
    /// Kafka bootstrap servers, `host:port[,…]`.
    /// A secured cluster's login comes from the environment: EVBENCH_KAFKA_SASL_USERNAME,
    /// EVBENCH_KAFKA_SASL_PASSWORD (or _PASSWORD_FILE), EVBENCH_KAFKA_SASL_MECHANISM
    /// (SCRAM-SHA-512 by default) and EVBENCH_KAFKA_CA_FILE; SASL over TLS whenever a user is set.
    #[arg(long, env = "EVBENCH_KAFKA_BOOTSTRAP")]
    brokers: String,
    /// This instance's name: unique among running instances, the same across its restarts
    /// (it names the transactional id, so a restart fences its previous incarnation).
    #[arg(long, default_value_t = AggregateOptions::default().instance)]
    instance: String,
    /// Consumer group shared by all instances.
    #[arg(long, default_value_t = AggregateOptions::default().group_id)]
    group: String,
    /// How often the transaction (sessions + consumed offsets) is committed.
    #[arg(long, default_value_t = HumanDuration(AggregateOptions::default().commit_interval))]
    commit_interval: HumanDuration,
    /// After this long without input, visits held back for late signals are emitted (a fleet
    /// that goes quiet keeps no completed visit to itself). Make it longer than a signal may
    /// be late in wall-clock time.
    #[arg(long, default_value_t = HumanDuration(AggregateOptions::default().idle_timeout))]
    idle_timeout: HumanDuration,
    /// At least once instead of exactly once: no transactions; outputs are sent at once and
    /// the offsets committed after their delivery, so a crash can repeat outputs. For
    /// measuring what exactly-once costs.
    #[arg(long)]
    no_transactions: bool,
    #[command(flatten)]
    sessionizer: SessionizerArgs,
    /// Write the number of input partitions this instance holds to this file whenever it
    /// changes (a supervisor waits for it before sending load).
    #[arg(long)]
    ready_file: Option<PathBuf>,
    /// Write the counters (signals, sessions, dead letters, transactions and their timings)
    /// as JSON to this file every second and at exit.
    #[arg(long)]
    stats_file: Option<PathBuf>,
    /// Serve Prometheus metrics (counters, consumer lag per partition, commit durations) at
    /// `http://HOST:PORT/metrics`; port 0 picks a free one. Off unless given; `evbench run`
    /// turns it on. The names are in docs/metrics.md.
    #[arg(long, value_name = "HOST:PORT")]
    metrics_addr: Option<String>,
}

pub async fn aggregate(args: AggregateArgs) -> Result<(), Failure> {
    let options = AggregateOptions {
        group_id: args.group.clone(),
        instance: args.instance.clone(),
        commit_interval: args.commit_interval.0,
        idle_timeout: args.idle_timeout.0,
        exactly_once: !args.no_transactions,
        sessionizer: args.sessionizer.config()?,
        ..AggregateOptions::default()
    };
    if options.commit_interval.is_zero() {
        return Err(Failure::input(anyhow::anyhow!(
            "--commit-interval must be longer than zero"
        )));
    }
    let kafka = KafkaEndpoint {
        bootstrap: args.brokers.clone(),
        version: "unknown".into(),
        security: super::kafka_security()?,
    };
    aggregate::prepare_topics(&kafka, &options)
        .await
        .context("creating the output topics")?;
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(AggregateStats::default());
    let _metrics = super::serve_metrics(
        args.metrics_addr.as_deref(),
        "aggregator",
        aggregate::AggregateMetrics {
            group: args.group.clone(),
            stats: Arc::clone(&stats),
        },
    )?;
    let worker = aggregate::spawn(kafka, options, Arc::clone(&stop), Arc::clone(&stats))?;
    eprintln!(
        "aggregating {} -> {} (instance {}, group {}, {}); Ctrl-C stops",
        events::SIGNALS_TOPIC,
        events::SESSIONS_TOPIC,
        args.instance,
        args.group,
        if args.no_transactions {
            "at least once"
        } else {
            "exactly once"
        }
    );
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("SIGTERM handler")?;
    let mut assigned_written = None;
    let mut last_stats = std::time::Instant::now();
    let mut last_log = std::time::Instant::now();
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = terminate.recv() => break,
            _ = tick.tick() => {
                if worker.is_finished() {
                    break;
                }
                let assigned = stats.assigned_partitions.load(Ordering::Relaxed);
                if let Some(path) = &args.ready_file
                    && assigned_written != Some(assigned)
                {
                    status_file::write(path, &assigned.to_string())?;
                    assigned_written = Some(assigned);
                }
                if let Some(path) = &args.stats_file
                    && last_stats.elapsed() >= Duration::from_secs(1)
                {
                    status_file::write_json(path, &stats.snapshot())?;
                    last_stats = std::time::Instant::now();
                }
                if last_log.elapsed() >= Duration::from_secs(5) {
                    last_log = std::time::Instant::now();
                    let s = stats.snapshot();
                    tracing::info!(
                        signals = s.signals,
                        sessions = s.sessions,
                        dead_letters = s.dead_letters,
                        transactions = s.transactions,
                        "progress"
                    );
                }
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let result = tokio::task::spawn_blocking(move || worker.join())
        .await
        .context("joining the aggregator")?;
    if let Some(path) = &args.stats_file {
        status_file::write_json(path, &stats.snapshot())?;
    }
    match result {
        Ok(outcome) => outcome.context("the aggregator")?,
        Err(_) => return Err(anyhow::anyhow!("the aggregator thread panicked").into()),
    }
    let s = stats.snapshot();
    eprintln!(
        "{} signals, {} sessions, {} dead letters, {} transactions",
        s.signals, s.sessions, s.dead_letters, s.transactions
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
    if args.input.is_dir() {
        return Err(Failure::input(anyhow::anyhow!(
            "{} is a directory; give a file of signals (one JSON object per line)",
            args.input.display()
        )));
    }
    if args.out.is_some() && args.out == args.dead_letters {
        return Err(Failure::input(anyhow::anyhow!(
            "--out and --dead-letters name the same file"
        )));
    }
    let input = File::open(&args.input)
        .with_context(|| format!("opening {}", args.input.display()))
        .map_err(Failure::input)?;
    let input = BufReader::with_capacity(1 << 16, input);
    let dead = match &args.dead_letters {
        Some(path) => Some(BufWriter::new(
            File::create(path)
                .with_context(|| format!("creating {}", path.display()))
                .map_err(Failure::input)?,
        )),
        None => None,
    };
    let summary = match &args.out {
        Some(path) => {
            let out = File::create(path)
                .with_context(|| format!("creating {}", path.display()))
                .map_err(Failure::input)?;
            aggregator::sessionize_jsonl(input, out, dead, config)
        }
        None => aggregator::sessionize_jsonl(input, std::io::stdout().lock(), dead, config),
    }
    .context("sessionizing")?;
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
