//! Prometheus, scraping the pipeline's processes (`evbench run --keep`, and the test of the
//! dashboards' and alert rules' PromQL).
//!
//! Debian's `prometheus` package (`ci/setup` installs it), one server on a free loopback port
//! with its data in a temporary directory. Ready = `GET /-/ready` answers 200.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::server::{self, ManagedServer, Probe, Readiness, write_file};
use crate::{Error, Result, ports};

/// How long Prometheus may take to answer after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A process to scrape: the `job` it belongs to (`aggregator`, `sink`), its `instance` label
/// (`aggregator-0`) and its `host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScrapeTarget {
    pub job: String,
    pub instance: String,
    pub addr: String,
}

/// A Prometheus server on loopback. Its process methods are its server's.
#[derive(Debug)]
pub struct NativePrometheus {
    server: ManagedServer,
    port: u16,
}

impl NativePrometheus {
    /// Writes `prometheus.yml` (every target scraped each second, `rule_files` loaded) in a new
    /// directory under `parent` and starts the server; returns once it is ready. Blocks the
    /// thread.
    pub fn start_in(
        parent: &Path,
        targets: &[ScrapeTarget],
        rule_files: &[PathBuf],
    ) -> Result<NativePrometheus> {
        let program = server::which("prometheus").ok_or(Error::NotOnPath {
            program: "prometheus",
            hint: "Debian's prometheus package; ci/setup installs it",
        })?;
        let dir = ManagedServer::create_dir(parent, "prometheus", "Prometheus")?;
        let port = ports::free_port()?;
        let config = dir.path().join("prometheus.yml");
        write_file(&config, &config_yaml(targets, rule_files))?;
        let args = vec![
            format!("--config.file={}", config.display()),
            format!("--storage.tsdb.path={}", dir.path().join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--log.level=warn".to_owned(),
        ];
        let mut prometheus = NativePrometheus {
            server: ManagedServer::new("prometheus".into(), dir, program, args)
                .logging_to("server.log"),
            port,
        };
        let started = Instant::now();
        prometheus.server.spawn()?;
        server::block_on(prometheus.wait_ready(started))?;
        Ok(prometheus)
    }

    async fn wait_ready(&mut self, started: Instant) -> Result<()> {
        let port = self.port;
        let readiness = Readiness::new("prometheus", started, START_TIMEOUT, "/-/ready not 200");
        server::wait_until_ready(&mut [&mut self.server], readiness, || {
            std::future::ready(Ok(
                if get(port, "/-/ready").is_some_and(|(status, _)| status == 200) {
                    Probe::Ready(())
                } else {
                    Probe::NotYet(None)
                },
            ))
        })
        .await?;
        tracing::info!(
            port,
            ms = started.elapsed().as_millis() as u64,
            "prometheus ready"
        );
        Ok(())
    }

    /// Its URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `GET path` on it (`/api/v1/query?query=…`, percent-encoded by the caller): the status
    /// and the body.
    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        get(self.port, path)
    }
}

server::managed_server!(NativePrometheus);

/// The configuration: each target its own static config, so that `job` and `instance` are
/// evbench's names rather than addresses.
fn config_yaml(targets: &[ScrapeTarget], rule_files: &[PathBuf]) -> String {
    let mut yaml = String::from("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n");
    if !rule_files.is_empty() {
        yaml.push_str("rule_files:\n");
        for file in rule_files {
            yaml.push_str(&format!("  - '{}'\n", file.display()));
        }
    }
    yaml.push_str("scrape_configs:\n");
    let mut jobs: Vec<&str> = targets.iter().map(|t| t.job.as_str()).collect();
    jobs.dedup();
    for job in jobs {
        yaml.push_str(&format!("  - job_name: '{job}'\n    static_configs:\n"));
        for target in targets.iter().filter(|t| t.job == job) {
            yaml.push_str(&format!(
                "      - targets: ['{}']\n        labels:\n          instance: '{}'\n",
                target.addr, target.instance
            ));
        }
    }
    yaml
}

/// A plain HTTP/1.1 GET on loopback: status and body.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Some((status, body))
}

/// The body of a chunked HTTP/1.1 response (Java's HTTP servers, Prometheus' and Flink's
/// reporter's among them, answer so).
pub fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_names_every_target_and_rule_file() {
        let target = |job: &str, instance: &str, addr: &str| ScrapeTarget {
            job: job.into(),
            instance: instance.into(),
            addr: addr.into(),
        };
        let yaml = config_yaml(
            &[
                target("aggregator", "aggregator-0", "127.0.0.1:1"),
                target("sink", "sink-0", "127.0.0.1:2"),
            ],
            &[PathBuf::from("/x/alerts.yml")],
        );
        for part in [
            "scrape_interval: 1s",
            "- '/x/alerts.yml'",
            "job_name: 'aggregator'",
            "targets: ['127.0.0.1:1']",
            "instance: 'sink-0'",
        ] {
            assert!(yaml.contains(part), "{part} missing from:\n{yaml}");
        }
    }

    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(dechunk("4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n"), "Wikipedia");
    }
}
