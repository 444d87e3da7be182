//! `evbench simulate`: the study's charging stations, to Kafka or to a file.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use clap::Args;
use endpoints::KafkaEndpoint;
use events::human_duration::HumanDuration;
use pipeline::produce::{self, ProduceOptions};
use simulator::{Compression, FleetConfig, Pacer, Profile, Simulator};

use crate::Failure;

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Number of charging stations (`charger-1` … `charger-N`).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    chargers: u32,
    /// Simulated span during which vehicles arrive (visits under way then run to completion),
    /// e.g. `2h`, `10m`; longer than zero.
    #[arg(long, default_value = "2h")]
    span: HumanDuration,
    /// How fast simulated time runs against the wall clock: `1` (real time), `60` (the study's
    /// speed), any factor, or `max` (unpaced). Only for `--brokers`; files are always unpaced.
    #[arg(long, default_value_t = Compression::Max)]
    time_compression: Compression,
    /// Seed of every random stream: the same arguments give the same events, byte for byte.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Built-in profile: `study` (the study's numbers, 1 s of its code ≈ 1 simulated minute) or
    /// `study-literal` (its code's numbers in seconds).
    #[arg(long, default_value = "study")]
    profile: String,
    /// Simulated start, RFC 3339 (default 2026-01-01T00:00:00Z).
    #[arg(long)]
    start: Option<String>,
    /// Produce to this Kafka cluster (`host:port[,…]`), topic `charger-station-signals`.
    /// A secured cluster's login comes from the environment: EVBENCH_KAFKA_SASL_USERNAME,
    /// EVBENCH_KAFKA_SASL_PASSWORD (or _PASSWORD_FILE), EVBENCH_KAFKA_SASL_MECHANISM
    /// (SCRAM-SHA-512 by default) and EVBENCH_KAFKA_CA_FILE; SASL over TLS whenever a user is set.
    #[arg(long, conflicts_with = "out", required_unless_present = "out")]
    brokers: Option<String>,
    /// Write the events here, one JSON object per line.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write the ground truth here: one charging session per line (docs/model.md). Written
    /// under a temporary name and renamed when complete, so a failed run leaves no truth file.
    #[arg(long)]
    truth: Option<PathBuf>,
    /// With `--brokers`: at most this many partitions (one per charger up to it).
    #[arg(long, default_value_t = ProduceOptions::default().max_partitions)]
    max_partitions: u32,
    /// With `--brokers`: how long the producer waits to fill a batch (`linger.ms`); longer
    /// batches carry more signals per request when many partitions share the load.
    #[arg(long, default_value_t = HumanDuration(ProduceOptions::default().linger))]
    linger: HumanDuration,
    /// With `--brokers`: `compression.type` of the producer (`none`, `gzip`, `snappy`, `lz4`).
    #[arg(long, default_value_t = ProduceOptions::default().compression)]
    kafka_compression: String,
}

pub async fn run(args: SimulateArgs) -> Result<(), Failure> {
    let config = fleet(&args)?;
    if let (Some(truth), Some(out)) = (&args.truth, &args.out)
        && same_file(truth, out)
    {
        return Err(Failure::input(anyhow::anyhow!(
            "--truth and --out name the same file ({})",
            out.display()
        )));
    }
    let truth = args.truth.as_deref().map(PendingFile::create).transpose()?;
    let outcome = match (&args.out, &args.brokers) {
        (Some(path), _) => to_file(&config, path, truth.as_ref().map(PendingFile::writer)),
        (None, Some(brokers)) => {
            to_kafka(
                config,
                &args,
                brokers,
                truth.as_ref().map(PendingFile::writer),
            )
            .await
        }
        (None, None) => Err(Failure::input(anyhow::anyhow!("give --brokers or --out"))),
    };
    match (outcome, truth) {
        (Ok(()), Some(truth)) => truth.finish(),
        (outcome, truth) => {
            if let Some(truth) = truth {
                truth.abandon();
            }
            outcome
        }
    }
}

/// The simulator's configuration from the arguments; bad values are bad input.
fn fleet(args: &SimulateArgs) -> Result<FleetConfig, Failure> {
    let profile = Profile::builtin(&args.profile).map_err(Failure::input)?;
    if args.span.0.is_zero() {
        return Err(Failure::input(anyhow::anyhow!(
            "--span must be longer than zero"
        )));
    }
    let span_ms = i64::try_from(args.span.0.as_millis())
        .map_err(|_| Failure::input(anyhow::anyhow!("--span is too long")))?;
    let start_ms = match &args.start {
        Some(text) => events::time::from_text(text)
            .map_err(|e| Failure::input(anyhow::anyhow!("--start: {e}")))?,
        None => simulator::DEFAULT_START_MS,
    };
    let config = FleetConfig {
        chargers: args.chargers,
        seed: args.seed,
        start_ms,
        span_ms,
        profile,
    };
    Simulator::new(config.clone()).map_err(Failure::input)?;
    Ok(config)
}

/// Whether two paths name one file (the same path, or the same existing file).
fn same_file(a: &Path, b: &Path) -> bool {
    if a == b {
        return true;
    }
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// A file written under `<name>.partial` and renamed to its name only when complete.
struct PendingFile {
    path: PathBuf,
    partial: PathBuf,
    writer: Arc<Mutex<BufWriter<File>>>,
}

impl PendingFile {
    fn create(path: &Path) -> Result<PendingFile, Failure> {
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let file = File::create(&partial)
            .with_context(|| format!("creating {}", path.display()))
            .map_err(Failure::input)?;
        Ok(PendingFile {
            path: path.to_owned(),
            partial,
            writer: Arc::new(Mutex::new(BufWriter::with_capacity(1 << 16, file))),
        })
    }

    fn writer(&self) -> Arc<Mutex<BufWriter<File>>> {
        Arc::clone(&self.writer)
    }

    fn finish(self) -> Result<(), Failure> {
        let mut writer = self
            .writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        writer
            .flush()
            .with_context(|| format!("writing {}", self.path.display()))?;
        std::fs::rename(&self.partial, &self.path)
            .with_context(|| format!("writing {}", self.path.display()))?;
        Ok(())
    }

    fn abandon(self) {
        drop(self.writer);
        let _ = std::fs::remove_file(&self.partial);
    }
}

fn to_file(
    config: &FleetConfig,
    path: &Path,
    truth: Option<Arc<Mutex<BufWriter<File>>>>,
) -> Result<(), Failure> {
    let file = File::create(path)
        .with_context(|| format!("creating {}", path.display()))
        .map_err(Failure::input)?;
    let mut out = BufWriter::with_capacity(1 << 16, file);
    let started = std::time::Instant::now();
    let summary = match truth {
        Some(truth) => {
            let mut truth = truth
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            simulator::write_jsonl(config, &mut out, Some(&mut *truth))
        }
        None => simulator::write_jsonl(config, &mut out, None::<&mut Vec<u8>>),
    }
    .with_context(|| format!("writing {}", path.display()))?;
    out.flush()
        .with_context(|| format!("writing {}", path.display()))?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{} events, {} visits ({} charged, {} no-charge, {} overstays) in {:.2} s: {:.0} events/s -> {}",
        summary.events,
        summary.sessions,
        summary.charged,
        summary.no_charge,
        summary.overstays,
        secs,
        summary.events as f64 / secs.max(1e-9),
        path.display()
    );
    Ok(())
}

async fn to_kafka(
    config: FleetConfig,
    args: &SimulateArgs,
    brokers: &str,
    truth: Option<Arc<Mutex<BufWriter<File>>>>,
) -> Result<(), Failure> {
    let kafka = KafkaEndpoint {
        bootstrap: brokers.to_owned(),
        version: "unknown".into(),
        security: super::kafka_security()?,
    };
    let options = ProduceOptions {
        max_partitions: args.max_partitions,
        compression: args.kafka_compression.clone(),
        linger: args.linger.0,
        ..ProduceOptions::default()
    };
    let partitions = produce::prepare_topic(&kafka, &options, config.chargers)
        .await
        .context("preparing the topic")?;
    eprintln!("topic {} has {partitions} partitions", options.topic);
    let stop = Arc::new(AtomicBool::new(false));
    let stop_on_signal = Arc::clone(&stop);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            stop_on_signal.store(true, Ordering::Relaxed);
        }
    });
    let compression = args.time_compression;
    let span_end = config.start_ms + config.span_ms;
    let report = tokio::task::spawn_blocking(move || {
        let mut sim = Simulator::new(config)?;
        let pacer = Pacer::new(compression, sim.config().start_ms);
        let bar = crate::progress::bar(
            u64::try_from(span_end - sim.config().start_ms).unwrap_or(0),
            "simulated",
        );
        let origin = sim.config().start_ms;
        let mut truth_error = None;
        let mut truth = truth
            .as_ref()
            .map(|t| t.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        let report = produce::produce(
            &mut sim,
            &pacer,
            &kafka,
            &options,
            &stop,
            &mut |session, _| {
                if let Some(out) = truth.as_mut() {
                    let out = &mut **out;
                    let written = serde_json::to_writer(&mut *out, &session)
                        .map_err(std::io::Error::from)
                        .and_then(|()| out.write_all(b"\n"));
                    if let Err(e) = written {
                        truth_error.get_or_insert(e);
                    }
                }
            },
            &mut |p| {
                bar.set_position(u64::try_from(p.sim_time_ms - origin).unwrap_or(0));
                bar.set_message(format!(
                    "{} events, {} delivered, {} failed",
                    p.events, p.delivered, p.failed
                ));
            },
        );
        bar.finish_and_clear();
        if let Some(out) = truth.as_mut() {
            out.flush().context("writing the truth file")?;
        }
        if let Some(e) = truth_error {
            return Err(anyhow::Error::from(e).context("writing the truth file"));
        }
        Ok::<_, anyhow::Error>(report?)
    })
    .await
    .context("the producer thread")??;
    println!(
        "{} events, {} visits, {:.0} events/s, {} delivered, {} failed{}",
        report.events,
        report.sessions,
        report.events_per_s,
        report.delivered,
        report.failed,
        if report.interrupted {
            " (interrupted)"
        } else {
            ""
        }
    );
    if report.failed > 0 {
        return Err(Failure::Check(anyhow::anyhow!(
            "{} deliveries failed; first error: {}",
            report.failed,
            report.first_error.unwrap_or_default()
        )));
    }
    Ok(())
}
