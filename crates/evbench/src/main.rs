//! `evbench`: the EV-charging data platform and its benchmark harness, from one command.
//!
//! Exit codes, the same for every command: 0 = ok, 1 = a check failed, 2 = bad input
//! (arguments, files, scenarios), 3 = could not run (I/O failure, a server that would not start
//! or answer).

mod cmd;
mod progress;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// evbench: simulate a charging network's sensors, run the pipeline on real Kafka and ClickHouse,
/// prove every charging session came out right, and measure throughput and latency.
#[derive(Debug, Parser)]
#[command(
    name = "evbench",
    version,
    propagate_version = true,
    max_term_width = 100
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a scenario end to end on real Kafka and ClickHouse: check every session, measure
    /// throughput and latency, write report.json and report.html (`--repeat N`: N runs, each
    /// figure as median, min and max). Exit 0 when every check passed, 1 when one failed, 2
    /// when the scenario is malformed, 3 when it could not run.
    Run(cmd::run::RunArgs),
    /// Check scenario files without running them.
    Validate(cmd::run::ValidateArgs),
    /// Run a scenario once per point of a grid of settings (`--set KEY=V1,V2,…`): one report
    /// per point, DIR/sweep.json and DIR/sweep.html with throughput and latency against the
    /// swept key and against the offered load. Exit 1 when a point failed a check.
    Sweep(cmd::sweep::SweepArgs),
    /// Compare two reports figure by figure (throughput, every latency percentile, commit
    /// timings, CPU per signal, CPU and memory per process): exit 1 when throughput fell or a
    /// latency percentile or the CPU per signal rose beyond its tolerance, 2 when a file is not
    /// a report.
    Compare(cmd::compare::CompareArgs),
    /// Print or apply the ClickHouse schema (tables, migrations, users, KPI queries).
    #[command(subcommand)]
    Schema(cmd::schema::SchemaCommand),
    /// Run the sink: raw signals and sessions from Kafka into ClickHouse, offsets committed only
    /// after ClickHouse acknowledged.
    Sink(cmd::sink::SinkArgs),
    /// Start, check or keep running the Kafka broker and ClickHouse server the pipeline uses.
    #[command(subcommand)]
    Services(cmd::services::ServicesCommand),
    /// Simulate a fleet of charging stations (the study's three sensors) into Kafka or a file,
    /// with the ground-truth session of every visit.
    Simulate(cmd::simulate::SimulateArgs),
    /// Run the aggregator: signals from Kafka to one charging session per visit, exactly once.
    Aggregate(cmd::aggregate::AggregateArgs),
    /// Sessionize a file of signals with the aggregator's core (replay, debugging).
    Sessionize(cmd::aggregate::SessionizeArgs),
}

/// How a command ended, mapped to the process exit code.
#[derive(Debug)]
pub enum Failure {
    /// A check failed (exit 1).
    Check(anyhow::Error),
    /// Bad input: arguments, files, scenarios (exit 2).
    Input(anyhow::Error),
    /// The command could not do its work: I/O, a server that would not start or answer (exit 3).
    CouldNotRun(anyhow::Error),
}

impl Failure {
    /// Bad input, from any error.
    pub fn input(error: impl Into<anyhow::Error>) -> Failure {
        Failure::Input(error.into())
    }

    /// The process exit code of this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Check(_) => 1,
            Failure::Input(_) => 2,
            Failure::CouldNotRun(_) => 3,
        }
    }
}

/// Anything unclassified is a failure to run (an error is never taken for a failed check).
impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(error: E) -> Self {
        Failure::CouldNotRun(error.into())
    }
}

/// The error and its causes on one line, each said once: libraries whose message already
/// repeats their cause's (HTTP clients do) would otherwise print it twice.
pub fn chain(error: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

/// Logs to stderr, filtered by `EVBENCH_LOG` (e.g. `info`, `evbench=debug,librdkafka=info`).
/// `evbench run` keeps the Kafka clients' own complaints (a broker restarted by a fault makes
/// every client say so) out of the terminal unless `EVBENCH_LOG` asks for them: the checks say
/// what the run found, and the pipeline's processes log them in `OUT/logs/`.
fn init_logging(quiet_kafka_clients: bool) {
    let default = if quiet_kafka_clients {
        "warn,evbench=info,harness=info,librdkafka=off,rdkafka=off"
    } else {
        "warn,evbench=info,harness=info"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("EVBENCH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(matches!(cli.command, Command::Run(_)));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(3);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => cmd::run::run(args).await,
            Command::Validate(args) => cmd::run::validate(args),
            Command::Sweep(args) => cmd::sweep::run(args).await,
            Command::Compare(args) => cmd::compare::run(args),
            Command::Services(command) => cmd::services::run(command).await,
            Command::Schema(command) => cmd::schema::run(command).await,
            Command::Sink(args) => cmd::sink::run(args).await,
            Command::Simulate(args) => cmd::simulate::run(args).await,
            Command::Aggregate(args) => cmd::aggregate::aggregate(args).await,
            Command::Sessionize(args) => cmd::aggregate::sessionize(args),
        }
    });
    // What had to be cleaned up (servers, namespaces, child processes) was, when the command's
    // future ended or was dropped (Ctrl-C). A blocking task still waiting on a broker that is
    // gone (a producer's final flush) must not keep the process alive: it is abandoned.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            let code = failure.exit_code();
            let (Failure::Check(e) | Failure::Input(e) | Failure::CouldNotRun(e)) = failure;
            eprintln!("error: {}", chain(&e));
            ExitCode::from(code)
        }
    }
}
