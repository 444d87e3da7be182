//! Where evbench's servers are, what versions they run, and clients configured for them.
//!
//! The small crate every part that talks to Kafka or ClickHouse shares (the storage layer, the
//! pipeline, the runner, the service launcher), so none of them pulls in another's machinery:
//! * [`KafkaEndpoint`] and [`ClickHouseEndpoint`]: addresses, versions, configured clients;
//! * [`Secret`]: passwords that are never printed; [`ServerVersion`], and a ClickHouse
//!   server's ([`clickhouse_server_version`]);
//! * [`kafka_admin`]: explicit topics, partition counts, consumer-group assignments;
//! * [`ManagedClickHouse`]: a server whose configuration files evbench may write;
//! * [`failover`]: clients of a ClickHouse cluster that move to another server when theirs stops;
//! * [`security`] and [`clickhouse_tls`]: logging in to a secured Kafka (SASL over TLS) and
//!   speaking HTTPS to ClickHouse.

pub mod clickhouse_admin;
pub mod clickhouse_tls;
pub mod failover;
pub mod kafka_admin;
pub mod security;
pub mod smoke;
mod tls_files;

use std::fmt;
use std::future::Future;

use rdkafka::ClientConfig;

pub use clickhouse_tls::ClickHouseTls;
pub use security::{KafkaSecurity, SaslMechanism};

/// Errors of endpoint and administration calls.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("kafka: {operation} {topic}: {code}")]
    Topic {
        operation: &'static str,
        topic: String,
        code: rdkafka::types::RDKafkaErrorCode,
    },
    #[error("kafka: too many partitions: {0}")]
    TooManyPartitions(usize),
    #[error("kafka: {what} not done within {waited_s} s")]
    Timeout { what: String, waited_s: u64 },
    #[error("a blocking Kafka call did not complete")]
    Join(#[from] tokio::task::JoinError),
    #[error(transparent)]
    ClickHouse(#[from] clickhouse::error::Error),
    /// A ClickHouse server answered `SELECT version()` with something that is not a version.
    #[error("unreadable ClickHouse version {text:?}")]
    UnreadableVersion { text: String },
    #[error("{context}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    /// A managed server's own failure (it did not restart, say), with its cause.
    #[error(transparent)]
    Server(Box<dyn std::error::Error + Send + Sync>),
    /// A produced message's delivery was cancelled (the producer went away).
    #[error("kafka delivery cancelled")]
    DeliveryCancelled,
    /// Fewer messages came back than were produced.
    #[error("kafka round trip: {got} of {expected} messages came back")]
    KafkaRoundTrip { got: usize, expected: usize },
    /// Another message came back than the one produced at its place.
    #[error("kafka round trip: expected {expected:?}, got {got:?}")]
    KafkaMismatch {
        expected: String,
        got: Option<String>,
    },
    /// The rows read back are not those inserted.
    #[error(
        "clickhouse round trip: read back {count} rows summing to {sum}, expected {expected_count} and {expected_sum}"
    )]
    ClickHouseRoundTrip {
        count: u64,
        sum: f64,
        expected_count: u64,
        expected_sum: f64,
    },
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A password or other secret: never printed, in `Debug` or anywhere else.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }
    /// The value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A password given either as a value or as a file whose first line it is (`names`: the
    /// two settings, for the error): both given is refused, neither is an empty password. The
    /// error never holds the value.
    pub fn from_value_or_file(
        value: Option<String>,
        file: Option<&std::path::Path>,
        names: (&str, &str),
    ) -> std::result::Result<Secret, String> {
        match (value.filter(|v| !v.is_empty()), file) {
            (Some(_), Some(_)) => Err(format!(
                "both {} and {} are set: give one",
                names.0, names.1
            )),
            (Some(value), None) => Ok(Secret(value)),
            (None, Some(file)) => std::fs::read_to_string(file)
                .map(|text| Secret(text.lines().next().unwrap_or_default().to_owned()))
                .map_err(|e| format!("{} {}: {e}", names.1, file.display())),
            (None, None) => Ok(Secret::default()),
        }
    }

    /// A new password: 24 random alphanumeric characters from the operating system's
    /// generator.
    pub fn generate() -> Result<Secret, getrandom::Error> {
        const ALPHABET: &[u8; 62] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let mut bytes = [0u8; 24];
        getrandom::fill(&mut bytes)?;
        Ok(Secret(
            bytes
                .iter()
                .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
                .collect(),
        ))
    }

    /// Its SHA-256, lowercase hex: what ClickHouse keeps of a password (`password_sha256_hex`).
    pub fn sha256_hex(&self) -> String {
        use sha2::Digest;
        sha2::Sha256::digest(self.0.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "<empty>"
        } else {
            "<redacted>"
        })
    }
}

/// A server version, `major.minor.patch`, as reported by the server.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServerVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
    /// The version string exactly as the server printed it.
    pub text: String,
}

impl ServerVersion {
    /// Reads `18.16.1`, `24.3.2.23`, `4.1.1`; missing parts are 0.
    pub fn parse(text: &str) -> Option<ServerVersion> {
        let text = text.trim();
        let mut parts = text
            .split(|c: char| !c.is_ascii_digit())
            .filter(|p| !p.is_empty());
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        let patch = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        Some(ServerVersion {
            major,
            minor,
            patch,
            text: text.to_owned(),
        })
    }

    /// At least `major.minor`.
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }
}

impl fmt::Display for ServerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Asks a ClickHouse server its version (`SELECT version()`): fails with the client's error
/// when it does not answer, with [`Error::UnreadableVersion`] when the answer is no version.
pub async fn clickhouse_server_version(client: &clickhouse::Client) -> Result<ServerVersion> {
    let text: String = client.query("SELECT version()").fetch_one().await?;
    ServerVersion::parse(&text).ok_or(Error::UnreadableVersion { text })
}

/// A Kafka cluster to talk to.
#[derive(Debug, Clone)]
pub struct KafkaEndpoint {
    /// `host:port[,host:port…]`.
    pub bootstrap: String,
    /// The broker's version, where the provider can tell it.
    pub version: String,
    /// How clients log in to a secured cluster; `None` for plaintext.
    pub security: Option<KafkaSecurity>,
}

impl KafkaEndpoint {
    /// An open (plaintext) cluster at `bootstrap`.
    pub fn plaintext(bootstrap: impl Into<String>, version: impl Into<String>) -> KafkaEndpoint {
        KafkaEndpoint {
            bootstrap: bootstrap.into(),
            version: version.into(),
            security: None,
        }
    }

    /// A client configuration with the bootstrap servers and the security settings set; add
    /// what the client needs.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap);
        if let Some(security) = &self.security {
            security.apply(&mut config);
        }
        config
    }
}

/// A ClickHouse server to talk to over HTTP(S), or a cluster of them.
#[derive(Debug, Clone)]
pub struct ClickHouseEndpoint {
    /// `http://host:port` or `https://host:port`: the server clients talk to first.
    pub url: String,
    /// The administrative user the harness uses (schema migrations, checks).
    pub user: String,
    pub password: Secret,
    pub version: ServerVersion,
    /// The cluster (its name in the servers' `remote_servers`) the schema spreads over:
    /// replicated tables on every server, `Distributed` tables in front (see the schema crate).
    /// `None` for a single server.
    pub cluster: Option<String>,
    /// The cluster's other servers (`http://host:port`), which answer for it as well: clients
    /// connect to the next of them that answers when `url`'s server does not.
    pub failover: Vec<String>,
    /// How clients speak TLS to `https://` servers; `None` for `http://` ones.
    pub tls: Option<ClickHouseTls>,
}

impl ClickHouseEndpoint {
    /// A single server at `url` (no cluster, no failover).
    pub fn single(url: String, user: String, password: Secret, version: ServerVersion) -> Self {
        ClickHouseEndpoint {
            url,
            user,
            password,
            version,
            cluster: None,
            failover: Vec::new(),
            tls: None,
        }
    }

    /// Every server clients may talk to: `url`, then the failover servers.
    pub fn urls(&self) -> Vec<String> {
        std::iter::once(self.url.clone())
            .chain(self.failover.iter().cloned())
            .collect()
    }

    /// The same endpoint with the server at `urls()[index]` (modulo their number) first and
    /// the others as its failover, so that several clients spread over the cluster.
    pub fn rotated(&self, index: usize) -> ClickHouseEndpoint {
        let mut urls = self.urls();
        let first = index % urls.len();
        urls.rotate_left(first);
        let url = urls.remove(0);
        ClickHouseEndpoint {
            url,
            failover: urls,
            ..self.clone()
        }
    }

    /// A client for this server as the administrative user, configured for its version.
    pub fn client(&self) -> clickhouse::Client {
        self.client_as(&self.user, &self.password)
    }

    /// A client for this server as `user`, configured for its version.
    ///
    /// Row validation needs `RowBinaryWithNamesAndTypes`, which old servers (18.16) lack, so it
    /// is off there; compression is never requested (18.16 answers `compress=1` with empty bodies).
    pub fn client_as(&self, user: &str, password: &Secret) -> clickhouse::Client {
        client_with_failover(
            &self.url,
            &self.failover,
            user,
            password,
            Some(&self.version),
            self.tls.as_ref(),
        )
    }
}

/// A client for `url`; validation only where the server is known to support it (see
/// [`ClickHouseEndpoint::client_as`]); over `tls` when it is given (an `https://` URL needs it).
pub fn client_for(
    url: &str,
    user: &str,
    password: &Secret,
    version: Option<&ServerVersion>,
    tls: Option<&ClickHouseTls>,
) -> clickhouse::Client {
    client_with_failover(url, &[], user, password, version, tls)
}

/// [`client_for`], connecting to the first of `failover` that answers when `url`'s server does
/// not (see [`failover::FailoverConnector`]).
pub fn client_with_failover(
    url: &str,
    failover: &[String],
    user: &str,
    password: &Secret,
    version: Option<&ServerVersion>,
    tls: Option<&ClickHouseTls>,
) -> clickhouse::Client {
    let modern = version.is_some_and(|v| v.at_least(24, 0));
    base_client(failover, tls)
        .with_url(url)
        .with_user(user)
        .with_password(password.expose())
        .with_compression(clickhouse::Compression::None)
        .with_validation(modern)
}

/// The HTTP client under every ClickHouse client: the `clickhouse` crate's own, with
/// `TCP_NODELAY`. An insert streams its rows as chunks and ends with a tiny one; with Nagle's
/// algorithm on, that last chunk waits for the server's (delayed, ~40 ms) acknowledgement of
/// the previous one, and every insert took 40 ms or more longer than the server needed.
///
/// With `tls`, TLS wraps the (failover) connection; the server's certificate is checked against
/// the request's host, so a cluster's servers that stand in for each other present a
/// certificate naming all of them.
fn base_client(failover: &[String], tls: Option<&ClickHouseTls>) -> clickhouse::Client {
    let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_keepalive(Some(std::time::Duration::from_secs(60)));
    // The TLS layer above it takes `https://` URLs; without one, they are refused here.
    connector.enforce_http(tls.is_none());
    let mut builder =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new());
    // ClickHouse closes idle connections after 3 s by default.
    builder.pool_idle_timeout(std::time::Duration::from_secs(2));
    match tls {
        Some(tls) => {
            let connection = failover::FailoverConnector::new(connector, failover);
            let https = hyper_tls::HttpsConnector::from((connection, tls.connector()));
            clickhouse::Client::with_http_client(builder.build(https))
        }
        None if failover.is_empty() => {
            clickhouse::Client::with_http_client(builder.build(connector))
        }
        None => clickhouse::Client::with_http_client(
            builder.build(failover::FailoverConnector::new(connector, failover)),
        ),
    }
}

/// A ClickHouse server whose configuration evbench may change: it can add files to the
/// server's `config.d` and `users.d` and restart it so they apply. The native provider's servers
/// are such; external ones are not.
pub trait ManagedClickHouse {
    /// Where and as whom to reach it.
    fn endpoint(&self) -> &ClickHouseEndpoint;
    /// Writes `users.d/<name>` (the server rereads `users.d` by itself within seconds).
    fn add_users_file(&self, name: &str, xml: &str) -> Result<()>;
    /// Writes `config.d/<name>` (applies after a [`restart`](ManagedClickHouse::restart)).
    fn add_config_file(&self, name: &str, xml: &str) -> Result<()>;
    /// Stops and starts the server on the same ports and data; returns once it answers.
    fn restart(&mut self) -> impl Future<Output = Result<()>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_compare() {
        let old = ServerVersion::parse("18.16.1").unwrap();
        assert_eq!((old.major, old.minor, old.patch), (18, 16, 1));
        assert!(!old.at_least(20, 1));
        assert!(ServerVersion::parse("24.3.2.23").unwrap().at_least(24, 3));
        assert!(ServerVersion::parse("garbage").is_none());
    }

    #[test]
    fn a_password_comes_from_a_value_or_a_file_not_both() {
        let names = ("PASSWORD", "PASSWORD_FILE");
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), "from-the-file\nignored\n").unwrap();
        let read = |value: Option<&str>, file: Option<&std::path::Path>| {
            Secret::from_value_or_file(value.map(str::to_owned), file, names)
        };
        assert_eq!(
            read(None, Some(file.path())).unwrap().expose(),
            "from-the-file"
        );
        assert_eq!(read(Some("given"), None).unwrap().expose(), "given");
        assert_eq!(read(None, None).unwrap(), Secret::default());
        let both = read(Some("s3cret"), Some(file.path())).unwrap_err();
        assert!(
            both.contains("give one") && !both.contains("s3cret"),
            "{both}"
        );
        let missing = read(None, Some(std::path::Path::new("/nonexistent/pw"))).unwrap_err();
        assert!(
            missing.contains("PASSWORD_FILE /nonexistent/pw"),
            "{missing}"
        );
    }

    #[test]
    fn secrets_are_not_printed() {
        let endpoint = ClickHouseEndpoint::single(
            "http://127.0.0.1:1".into(),
            "ingest".into(),
            Secret::new("hunter2"),
            ServerVersion::parse("18.16.1").unwrap(),
        );
        assert!(!format!("{endpoint:?}").contains("hunter2"));
    }

    #[test]
    fn rotated_endpoints_spread_clients_over_the_cluster() {
        let endpoint = ClickHouseEndpoint {
            failover: vec!["http://b".into(), "http://c".into()],
            cluster: Some("evbench".into()),
            ..ClickHouseEndpoint::single(
                "http://a".into(),
                "default".into(),
                Secret::default(),
                ServerVersion::parse("18.16.1").unwrap(),
            )
        };
        assert_eq!(endpoint.urls(), ["http://a", "http://b", "http://c"]);
        let second = endpoint.rotated(1);
        assert_eq!(second.url, "http://b");
        assert_eq!(second.failover, ["http://c", "http://a"]);
        assert_eq!(endpoint.rotated(3).url, "http://a");
        assert_eq!(second.cluster.as_deref(), Some("evbench"));
    }
}
