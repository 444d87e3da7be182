//! The broker's own latency floor: Kafka's `org.apache.kafka.tools.EndToEndLatency` (in the
//! jars the native provider runs) against a broker, so that a run can set its pipeline's
//! latency beside what the same broker gives on the same machine at the same moment.
//!
//! The tool produces one record at a time with the given `acks`, waits until a consumer of the
//! same topic has read it back, and prints the average and the 50th, 99th and 99.9th
//! percentiles in whole milliseconds: one record in flight, no batching, so it is the round
//! trip's floor, not the broker's latency under the pipeline's load.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::{Error, Result};

/// What the tool measured.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EndToEndLatency {
    /// Records sent and read back, one at a time.
    pub messages: u32,
    /// Each record's size in bytes.
    pub record_bytes: u32,
    /// The producer's `acks`.
    pub acks: String,
    /// Mean produce → consume time.
    pub mean_ms: f64,
    /// Percentiles, in the whole milliseconds the tool prints.
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    /// How long the tool ran, JVM start included.
    pub took_s: f64,
}

/// Runs `EndToEndLatency` from the jars in `kafka_libs` (the brokers' own:
/// [`crate::Services::kafka_tools_dir`]) against `bootstrap` on `topic` (which should exist with
/// the replication the pipeline's topics have; the tool creates a 1-replica topic otherwise),
/// its clients configured by `client_properties` when given (a secured cluster's login).
pub fn end_to_end_latency(
    kafka_libs: &std::path::Path,
    bootstrap: &str,
    topic: &str,
    messages: u32,
    acks: &str,
    record_bytes: u32,
    client_properties: Option<&std::path::Path>,
) -> Result<EndToEndLatency> {
    let java = crate::server::java()?;
    let classpath: PathBuf = kafka_libs.join("*");
    let started = Instant::now();
    let output = Command::new(java)
        .arg("-Xmx256m")
        .arg("-cp")
        .arg(&classpath)
        .arg("org.apache.kafka.tools.EndToEndLatency")
        .args([bootstrap, topic])
        .arg(messages.to_string())
        .arg(acks)
        .arg(record_bytes.to_string())
        // The tool's sixth argument: a properties file for its producer, consumer and admin.
        .args(client_properties)
        .output()
        .map_err(|e| Error::io("run Kafka's EndToEndLatency", e))?;
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(Error::io(
            "Kafka's EndToEndLatency",
            std::io::Error::other(format!(
                "exited with {}: {}",
                output.status,
                last_lines(&format!("{stdout}{stderr}"), 5)
            )),
        ));
    }
    parse(&stdout, messages, acks, record_bytes, took).ok_or_else(|| {
        Error::io(
            "Kafka's EndToEndLatency",
            std::io::Error::other(format!(
                "no latency figures in its output: {}",
                last_lines(&stdout, 5)
            )),
        )
    })
}

/// Reads `Avg latency: 1.8989 ms` and `Percentiles: 50th = 1, 99th = 8, 99.9th = 31`.
fn parse(
    stdout: &str,
    messages: u32,
    acks: &str,
    record_bytes: u32,
    took: Duration,
) -> Option<EndToEndLatency> {
    let mean_ms = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("Avg latency:"))?
        .trim()
        .trim_end_matches("ms")
        .trim()
        .parse()
        .ok()?;
    let percentiles = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("Percentiles:"))?;
    let mut values = [None; 3];
    for part in percentiles.split(',') {
        let (name, value) = part.split_once('=')?;
        let slot = match name.trim() {
            "50th" => 0,
            "99th" => 1,
            "99.9th" => 2,
            _ => continue,
        };
        values[slot] = value.trim().parse::<f64>().ok();
    }
    Some(EndToEndLatency {
        messages,
        record_bytes,
        acks: acks.to_owned(),
        mean_ms,
        p50_ms: values[0]?,
        p99_ms: values[1]?,
        p999_ms: values[2]?,
        took_s: took.as_secs_f64(),
    })
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_tools_summary() {
        let out = "Topic \"t\" does not exist. Will create topic with 1 partition(s)\n0\t115.8\n1000\t1.26\nAvg latency: 1.8989 ms\nPercentiles: 50th = 1, 99th = 8, 99.9th = 31\n";
        let floor = parse(out, 2000, "all", 112, Duration::from_secs(5)).unwrap();
        assert_eq!(
            (floor.mean_ms, floor.p50_ms, floor.p99_ms, floor.p999_ms),
            (1.8989, 1.0, 8.0, 31.0)
        );
        assert_eq!((floor.messages, floor.record_bytes), (2000, 112));
        assert!(parse("Avg latency: 1 ms\n", 1, "1", 1, Duration::ZERO).is_none());
        assert!(
            parse(
                "Percentiles: 50th = 1, 99th = x, 99.9th = 3\nAvg latency: 1 ms",
                1,
                "1",
                1,
                Duration::ZERO
            )
            .is_none()
        );
    }
}
