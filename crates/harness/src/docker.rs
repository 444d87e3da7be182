//! The docker provider: `apache/kafka` and `clickhouse/clickhouse-server` containers, where a
//! Docker engine answers.
//!
//! Driven through the `docker` command line (no extra crates), or through testcontainers-rs
//! with the `testcontainers` cargo feature (`ci/run` builds and tests it): each container
//! publishes its port
//! on a free loopback port reserved here, and Kafka advertises exactly that host port (the
//! container's own port would be unreachable from the host: a known pitfall of Kafka in
//! containers). Containers run with `--rm` and are removed on drop. Machines without an engine
//! (a `docker` client alone is not enough) get a clear reason and callers skip; nothing here
//! pretends a container ran.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::{Error, PROBE_INTERVAL, Result, ports};
use endpoints::{ClickHouseEndpoint, KafkaEndpoint, Secret, client_for, kafka_admin};

/// The images, pinned: the broker matches the native provider's Kafka.
pub const KAFKA_IMAGE: &str = "apache/kafka:4.4.0";
/// A modern ClickHouse (the native provider has Debian's 18.16 here).
pub const CLICKHOUSE_IMAGE: &str = "clickhouse/clickhouse-server:24.8";

const START_TIMEOUT: Duration = Duration::from_secs(180);

/// Why docker cannot be used here, or `None` when an engine answers.
pub fn engine_problem() -> Option<String> {
    match Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
    {
        Err(e) => Some(format!("no docker client ({e})")),
        Ok(out) if out.status.success() && !out.stdout.trim_ascii().is_empty() => None,
        Ok(out) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let first = stderr
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("no answer");
            Some(format!("no Docker engine answers: {}", first.trim()))
        }
    }
}

/// A running container, removed (`docker rm -f`) on drop.
#[derive(Debug)]
pub struct Container {
    id: String,
}

impl Container {
    #[cfg_attr(feature = "testcontainers", allow(dead_code))]
    fn run(args: &[String]) -> Result<Container> {
        let out = Command::new("docker")
            .arg("run")
            .args(args)
            .output()
            .map_err(|e| Error::io("docker run", e))?;
        if !out.status.success() {
            return Err(Error::DockerUnavailable(format!(
                "docker run failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(Container {
            id: String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        })
    }

    /// The container's output, for start-up errors.
    fn logs(&self) -> String {
        Command::new("docker")
            .args(["logs", "--tail", "40", &self.id])
            .output()
            .map(|o| {
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                )
            })
            .unwrap_or_default()
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rm", "-f", &self.id]).output();
    }
}

/// The environment of a single-node KRaft broker container that advertises `host_port` on
/// loopback, as `NAME=value`.
pub fn kafka_env(host_port: u16) -> Vec<String> {
    vec![
        "KAFKA_NODE_ID=1".to_owned(),
        "KAFKA_PROCESS_ROLES=broker,controller".to_owned(),
        "KAFKA_LISTENERS=PLAINTEXT://0.0.0.0:9092,CONTROLLER://0.0.0.0:9093".to_owned(),
        format!("KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://127.0.0.1:{host_port}"),
        "KAFKA_CONTROLLER_LISTENER_NAMES=CONTROLLER".to_owned(),
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT".to_owned(),
        "KAFKA_CONTROLLER_QUORUM_VOTERS=1@localhost:9093".to_owned(),
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR=1".to_owned(),
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR=1".to_owned(),
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR=1".to_owned(),
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS=0".to_owned(),
        "KAFKA_AUTO_CREATE_TOPICS_ENABLE=false".to_owned(),
    ]
}

/// `docker run` arguments of a single-node KRaft broker that advertises `host_port` on loopback.
pub fn kafka_run_args(host_port: u16) -> Vec<String> {
    let mut args = vec![
        "-d".to_owned(),
        "--rm".to_owned(),
        "-p".to_owned(),
        format!("127.0.0.1:{host_port}:9092"),
    ];
    for e in kafka_env(host_port) {
        args.push("-e".to_owned());
        args.push(e);
    }
    args.push(KAFKA_IMAGE.to_owned());
    args
}

/// `docker run` arguments of a ClickHouse server whose HTTP port is published on `host_port`.
pub fn clickhouse_run_args(host_port: u16) -> Vec<String> {
    [
        "-d",
        "--rm",
        "-p",
        &format!("127.0.0.1:{host_port}:8123"),
        "-e",
        "CLICKHOUSE_SKIP_USER_SETUP=1",
        "--ulimit",
        "nofile=262144:262144",
        CLICKHOUSE_IMAGE,
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Kafka and ClickHouse containers, ready.
#[derive(Debug)]
pub struct DockerServices {
    pub kafka: KafkaEndpoint,
    pub clickhouse: ClickHouseEndpoint,
    // Dropped (removed) with the services.
    _containers: Held,
}

/// The two containers, started through the `docker` command line or (with the
/// `testcontainers` feature) through testcontainers; removed when dropped either way.
#[derive(Debug)]
enum Held {
    #[cfg_attr(feature = "testcontainers", allow(dead_code))]
    Cli(Vec<Container>),
    #[cfg(feature = "testcontainers")]
    Testcontainers(Vec<testcontainers::ContainerAsync<testcontainers::GenericImage>>),
}

impl Held {
    #[cfg(not(feature = "testcontainers"))]
    async fn launch(kafka_port: u16, http_port: u16) -> Result<Held> {
        Ok(Held::Cli(vec![
            Container::run(&kafka_run_args(kafka_port))?,
            Container::run(&clickhouse_run_args(http_port))?,
        ]))
    }

    #[cfg(feature = "testcontainers")]
    async fn launch(kafka_port: u16, http_port: u16) -> Result<Held> {
        Ok(Held::Testcontainers(vec![
            through_testcontainers::kafka(kafka_port).await?,
            through_testcontainers::clickhouse(http_port).await?,
        ]))
    }

    /// What the containers said, for start-up errors.
    fn logs(&self) -> String {
        match self {
            Held::Cli(containers) => containers
                .iter()
                .map(Container::logs)
                .collect::<Vec<_>>()
                .join("\n"),
            #[cfg(feature = "testcontainers")]
            Held::Testcontainers(containers) => containers
                .iter()
                .map(|c| format!("(container {}: see `docker logs {}`)", c.id(), c.id()))
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

/// The same containers through testcontainers-rs: the same images, environment and ulimits,
/// ports published on loopback only (testcontainers binds every interface unless told).
#[cfg(feature = "testcontainers")]
mod through_testcontainers {
    use testcontainers::core::IntoContainerPort;
    use testcontainers::runners::AsyncRunner;
    use testcontainers::{ContainerAsync, ContainerRequest, GenericImage, ImageExt};

    use super::{CLICKHOUSE_IMAGE, KAFKA_IMAGE, START_TIMEOUT, kafka_env};
    use crate::{Error, Result};

    fn image(reference: &str) -> GenericImage {
        let (name, tag) = reference.rsplit_once(':').unwrap_or((reference, "latest"));
        GenericImage::new(name, tag)
    }

    /// Binds the request's published ports on 127.0.0.1.
    fn on_loopback(request: ContainerRequest<GenericImage>) -> ContainerRequest<GenericImage> {
        request.with_host_config_modifier(|host_config| {
            for bindings in host_config
                .port_bindings
                .iter_mut()
                .flat_map(|m| m.values_mut())
            {
                for binding in bindings.iter_mut().flatten() {
                    binding.host_ip = Some("127.0.0.1".to_owned());
                }
            }
        })
    }

    async fn start(
        request: ContainerRequest<GenericImage>,
    ) -> Result<ContainerAsync<GenericImage>> {
        on_loopback(request.with_startup_timeout(START_TIMEOUT))
            .start()
            .await
            .map_err(Error::Testcontainers)
    }

    pub(super) async fn kafka(host_port: u16) -> Result<ContainerAsync<GenericImage>> {
        let mut request = image(KAFKA_IMAGE).with_mapped_port(host_port, 9092.tcp());
        for pair in kafka_env(host_port) {
            if let Some((name, value)) = pair.split_once('=') {
                request = request.with_env_var(name, value);
            }
        }
        start(request).await
    }

    pub(super) async fn clickhouse(host_port: u16) -> Result<ContainerAsync<GenericImage>> {
        let request = image(CLICKHOUSE_IMAGE)
            .with_mapped_port(host_port, 8123.tcp())
            .with_env_var("CLICKHOUSE_SKIP_USER_SETUP", "1")
            .with_ulimit("nofile", 262_144, Some(262_144));
        start(request).await
    }
}

/// Starts both containers and waits until Kafka answers a metadata request and ClickHouse a query.
pub(crate) async fn start() -> Result<DockerServices> {
    if let Some(reason) = engine_problem() {
        return Err(Error::DockerUnavailable(reason));
    }
    let (kafka_port, http_port) = (ports::free_port()?, ports::free_port()?);
    let held = Held::launch(kafka_port, http_port).await?;
    let kafka = KafkaEndpoint {
        bootstrap: format!("127.0.0.1:{kafka_port}"),
        version: KAFKA_IMAGE.rsplit(':').next().unwrap_or("").to_owned(),
        security: None,
    };
    let url = format!("http://127.0.0.1:{http_port}");
    let started = Instant::now();
    let version = loop {
        let probe = kafka.bootstrap.clone();
        let kafka_ok = crate::blocking("kafka probe", move || {
            kafka_admin::broker_count(&probe, Duration::from_secs(2))
        })
        .await
        .ok()
        .and_then(Result::ok)
        .is_some_and(|n| n > 0);
        // The first query right after start-up may be refused: keep asking.
        let client = client_for(&url, "default", &Secret::default(), None, None);
        match (
            kafka_ok,
            endpoints::clickhouse_server_version(&client).await,
        ) {
            (true, Ok(version)) => break version,
            (true, Err(e @ endpoints::Error::UnreadableVersion { .. })) => return Err(e.into()),
            _ => {}
        }
        if started.elapsed() > START_TIMEOUT {
            return Err(Error::NotReady {
                name: "docker containers".into(),
                waited_s: START_TIMEOUT.as_secs(),
                last_error: format!("kafka ready: {kafka_ok}"),
                log_tail: held.logs(),
            });
        }
        tokio::time::sleep(PROBE_INTERVAL * 5).await;
    };
    let clickhouse = ClickHouseEndpoint::single(url, "default".into(), Secret::default(), version);
    Ok(DockerServices {
        kafka,
        clickhouse,
        _containers: held,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_advertises_the_published_host_port() {
        let args = kafka_run_args(40123);
        assert!(args.contains(&"127.0.0.1:40123:9092".to_owned()));
        assert!(
            args.contains(&"KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://127.0.0.1:40123".to_owned())
        );
        assert_eq!(args.last().map(String::as_str), Some(KAFKA_IMAGE));
        assert!(
            KAFKA_IMAGE.ends_with(crate::KAFKA_VERSION),
            "docker and native run the same Kafka"
        );
    }

    #[test]
    fn clickhouse_publishes_http_on_loopback_only() {
        let args = clickhouse_run_args(40124);
        assert!(args.contains(&"127.0.0.1:40124:8123".to_owned()));
    }
}
