//! `evbench compare BASE NEW`: two runs figure by figure, and a gate on the second.

use std::path::PathBuf;

use analysis::baseline::{Side, Tolerances, compare, parse_percent};
use clap::Args;

use crate::Failure;

#[derive(Debug, Args)]
#[command(after_help = "\
Every figure of the two reports is listed with its change: end-to-end throughput, each latency \
percentile of each path, wall time, the aggregator's commit timings, the CPU one signal cost \
each process and all together, CPU seconds and peak memory of each process, and the size of the \
load. A figure that only one report has (an older report) \
is shown and never judged. Notes name what differs between the runs besides their figures \
(scenario, load, machine, build, settings).

Exit 0: nothing regressed. Exit 1: end-to-end throughput (throughput.events_per_s, \
sessions_per_s) fell by more than its tolerance, a watched latency percentile rose by more \
than its tolerance and by more than the slack, the CPU one signal cost all parts together \
(cost_per_signal.total_cpu_us) rose by more than its tolerance, or the new run failed a check \
the base passed. \
Exit 2: a file that is not an evbench report.

CI's coarse gate (ci/run: throughput below 0.3 times the baseline's, p99 above five times, CPU \
per signal above twice):
  evbench compare bench/baselines/steady-latency.json out/steady/report.json \\
      --throughput-tolerance 70% --latency-tolerance 400% --cost-tolerance 100% --percentiles p99")]
pub struct CompareArgs {
    /// The baseline: a report.json, a reduced report (bench/baselines/*.json, median-run.json)
    /// or a repeat.json (then its medians are compared).
    base: PathBuf,
    /// The run to judge, the same kinds of file.
    new: PathBuf,
    /// How much worse a figure may get, in percent: throughput may fall, latency percentiles
    /// may rise by this much; other figures are flagged beyond it (never a failure).
    #[arg(long, default_value = "10%", value_parser = parse_percent, value_name = "PERCENT")]
    tolerance: f64,
    /// The tolerance for end-to-end throughput alone (`70%`: fail below 0.3 times the base).
    #[arg(long, value_parser = parse_percent, value_name = "PERCENT")]
    throughput_tolerance: Option<f64>,
    /// The tolerance for latency percentiles alone (`400%`: fail above five times the base).
    #[arg(long, value_parser = parse_percent, value_name = "PERCENT")]
    latency_tolerance: Option<f64>,
    /// The tolerance for the CPU one signal costs all parts together
    /// (`cost_per_signal.total_cpu_us`) alone (`50%`: fail above 1.5 times the base).
    #[arg(long, value_parser = parse_percent, value_name = "PERCENT")]
    cost_tolerance: Option<f64>,
    /// The latency percentiles the gate watches, in every latency path.
    #[arg(long, value_delimiter = ',', default_value = "p50,p90,p99,p999", value_parser = percentile)]
    percentiles: Vec<String>,
    /// Latency rises of at most this many milliseconds never fail (the histograms' and the
    /// ClickHouse poll's resolution make smaller changes noise).
    #[arg(long, default_value_t = 1.0, value_name = "MS")]
    latency_slack_ms: f64,
}

fn percentile(text: &str) -> Result<String, String> {
    if analysis::figures::is_percentile(text) {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "{text:?} is not a percentile: p50, p90, p99, p999, …"
        ))
    }
}

pub fn run(args: CompareArgs) -> Result<(), Failure> {
    if !(args.latency_slack_ms.is_finite() && args.latency_slack_ms >= 0.0) {
        return Err(Failure::input(anyhow::anyhow!(
            "--latency-slack-ms must be a number of at least 0"
        )));
    }
    let tolerances = Tolerances {
        throughput: args.throughput_tolerance.unwrap_or(args.tolerance),
        latency: args.latency_tolerance.unwrap_or(args.tolerance),
        cost: args.cost_tolerance.unwrap_or(args.tolerance),
        other: args.tolerance,
        percentiles: args.percentiles,
        latency_slack_ms: args.latency_slack_ms,
    };
    let base = Side::read(&args.base).map_err(crate::cmd::run::bench_failure)?;
    let new = Side::read(&args.new).map_err(crate::cmd::run::bench_failure)?;
    let comparison = compare(base, new, &tolerances);
    print!("{}", comparison.render());
    if comparison.passed() {
        Ok(())
    } else {
        let what: Vec<&str> = comparison
            .regressions
            .iter()
            .map(|r| r.split(':').next().unwrap_or(r))
            .collect();
        Err(Failure::Check(anyhow::anyhow!(
            "{} regressed against {} (see the table): {}",
            args.new.display(),
            args.base.display(),
            what.join(", ")
        )))
    }
}
