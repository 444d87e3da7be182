//! HTTPS to ClickHouse: which servers a client trusts, and the certificate it shows.
//!
//! An `https://` URL turns TLS on; the server's certificate must chain to the CA given
//! ([`ClickHouseTls::ca_file`]) or to one of the system's (a managed service's public
//! certificates), and name the address the client connects to. A server that asks for client
//! certificates gets the one given. TLS is OpenSSL's, through `native-tls` (the same library
//! librdkafka's TLS uses, so the build links one TLS stack).

use std::fmt;
use std::path::{Path, PathBuf};

use native_tls::{Certificate, Identity, TlsConnector};

pub use crate::tls_files::ClientCertificate;

/// The environment variables evbench's commands read ClickHouse's TLS settings from.
pub mod env {
    /// PEM file of the CA the servers' certificates chain to (default: the system's CAs).
    pub const CA_FILE: &str = "EVBENCH_CLICKHOUSE_CA_FILE";
    /// PEM file of the client's certificate, for a server that requires one…
    pub const CERT_FILE: &str = "EVBENCH_CLICKHOUSE_CERT_FILE";
    /// …and of its private key (PKCS#8).
    pub const KEY_FILE: &str = "EVBENCH_CLICKHOUSE_KEY_FILE";
    /// Every one of them.
    pub const ALL: [&str; 3] = [CA_FILE, CERT_FILE, KEY_FILE];
}

/// Why ClickHouse's TLS settings cannot be used: half a configuration, an unreadable file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ClickHouse TLS settings: {0}")]
pub struct TlsSettingsError(pub String);

/// How a client speaks TLS to ClickHouse: the CA it trusts beside the system's, the certificate
/// it shows, and the connector made of them (made once; every client of the endpoint shares it).
#[derive(Clone)]
pub struct ClickHouseTls {
    ca_file: Option<PathBuf>,
    client: Option<ClientCertificate>,
    connector: TlsConnector,
}

impl fmt::Debug for ClickHouseTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClickHouseTls")
            .field("ca_file", &self.ca_file)
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl ClickHouseTls {
    /// TLS trusting the system's CAs and `ca_file` (PEM), showing `client` when a server asks.
    pub fn new(
        ca_file: Option<&Path>,
        client: Option<ClientCertificate>,
    ) -> Result<ClickHouseTls, TlsSettingsError> {
        let read = |what: &str, path: &Path| {
            std::fs::read(path)
                .map_err(|e| TlsSettingsError(format!("{what} {}: {e}", path.display())))
        };
        let mut builder = TlsConnector::builder();
        if let Some(ca) = ca_file {
            let pem = read("the CA file", ca)?;
            let certificate = Certificate::from_pem(&pem)
                .map_err(|e| TlsSettingsError(format!("the CA file {}: {e}", ca.display())))?;
            builder.add_root_certificate(certificate);
        }
        if let Some(client) = &client {
            let certificate = read("the client certificate", &client.certificate)?;
            let key = read("the client key", &client.key)?;
            let identity = Identity::from_pkcs8(&certificate, &key).map_err(|e| {
                TlsSettingsError(format!(
                    "the client certificate {} with the key {}: {e}",
                    client.certificate.display(),
                    client.key.display()
                ))
            })?;
            builder.identity(identity);
        }
        let connector = builder
            .build()
            .map_err(|e| TlsSettingsError(format!("TLS could not be set up: {e}")))?;
        Ok(ClickHouseTls {
            ca_file: ca_file.map(Path::to_path_buf),
            client,
            connector,
        })
    }

    /// The CA trusted beside the system's.
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca_file.as_deref()
    }

    /// The certificate shown to servers that ask for one.
    pub fn client_certificate(&self) -> Option<&ClientCertificate> {
        self.client.as_ref()
    }

    /// The connector HTTPS connections are made with.
    pub(crate) fn connector(&self) -> tokio_native_tls::TlsConnector {
        self.connector.clone().into()
    }

    /// The settings for `urls` from the environment ([`env`]); see [`ClickHouseTls::for_urls`].
    pub fn from_env(urls: &[String]) -> Result<Option<ClickHouseTls>, TlsSettingsError> {
        ClickHouseTls::for_urls(urls, |name| {
            std::env::var(name).ok().filter(|v| !v.is_empty())
        })
    }

    /// TLS for `urls`, its files found with `get` (the [`env`] names): `None` for `http://`
    /// servers, the settings for `https://` ones. Refused: servers of both schemes, a CA or
    /// client certificate for `http://` servers (it would silently go unused), a certificate
    /// without its key or a key without its certificate, a file that is not there.
    pub fn for_urls(
        urls: &[String],
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<ClickHouseTls>, TlsSettingsError> {
        let https = urls.iter().filter(|u| is_https(u)).count();
        if https != 0 && https != urls.len() {
            return Err(TlsSettingsError(format!(
                "the servers {} mix http:// and https://: a cluster is spoken to one way",
                urls.join(", ")
            )));
        }
        let set: Vec<&str> = env::ALL
            .iter()
            .copied()
            .filter(|n| get(n).is_some())
            .collect();
        if https == 0 {
            return match set.is_empty() {
                true => Ok(None),
                false => Err(TlsSettingsError(format!(
                    "{} set, but the servers' URLs are http://: use https://",
                    set.join(", ")
                ))),
            };
        }
        let (ca, client) =
            crate::tls_files::from_settings(&get, (env::CA_FILE, env::CERT_FILE, env::KEY_FILE))
                .map_err(TlsSettingsError)?;
        ClickHouseTls::new(ca.as_deref(), client).map(Some)
    }

    /// The environment a child process reads these settings from ([`ClickHouseTls::from_env`]).
    pub fn to_env(&self) -> Vec<(String, String)> {
        let mut vars = Vec::new();
        if let Some(ca) = &self.ca_file {
            vars.push((env::CA_FILE.to_owned(), ca.display().to_string()));
        }
        if let Some(client) = &self.client {
            vars.extend(client.to_env(env::CERT_FILE, env::KEY_FILE));
        }
        vars
    }
}

/// Whether `url` asks for TLS.
pub fn is_https(url: &str) -> bool {
    url.get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(vars: &'a [(&'a str, String)]) -> impl Fn(&str) -> Option<String> + 'a {
        |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn plain_http_needs_no_settings_and_refuses_tls_files() {
        let http = ["http://127.0.0.1:8123".to_owned()];
        assert!(
            ClickHouseTls::for_urls(&http, lookup(&[]))
                .unwrap()
                .is_none()
        );
        let ca = tempfile::NamedTempFile::new().unwrap();
        let vars = [(env::CA_FILE, ca.path().display().to_string())];
        let refused = ClickHouseTls::for_urls(&http, lookup(&vars)).unwrap_err();
        assert!(refused.0.contains("use https://"), "{refused}");
    }

    #[test]
    fn half_configured_tls_is_refused() {
        let https = ["https://127.0.0.1:8443".to_owned()];
        let mixed = [
            "https://127.0.0.1:8443".to_owned(),
            "http://127.0.0.1:8123".to_owned(),
        ];
        assert!(
            ClickHouseTls::for_urls(&mixed, lookup(&[]))
                .unwrap_err()
                .0
                .contains("mix")
        );
        let cert = tempfile::NamedTempFile::new().unwrap();
        let only_cert = [(env::CERT_FILE, cert.path().display().to_string())];
        assert!(
            ClickHouseTls::for_urls(&https, lookup(&only_cert))
                .unwrap_err()
                .0
                .contains("needs both")
        );
        let missing = [(env::CA_FILE, "/nonexistent/ca.pem".to_owned())];
        assert!(
            ClickHouseTls::for_urls(&https, lookup(&missing))
                .unwrap_err()
                .0
                .contains("no such file")
        );
        // A file that is no certificate is refused when it is read, naming it.
        let refused = ClickHouseTls::for_urls(
            &https,
            lookup(&[(env::CA_FILE, cert.path().display().to_string())]),
        )
        .unwrap_err();
        assert!(
            refused.0.contains(&cert.path().display().to_string()),
            "{refused}"
        );
    }

    #[test]
    fn https_with_the_system_cas_alone_is_enough() {
        let https = ["HTTPS://clickhouse.example:8443".to_owned()];
        let tls = ClickHouseTls::for_urls(&https, lookup(&[]))
            .unwrap()
            .expect("https turns TLS on");
        assert!(tls.ca_file().is_none() && tls.client_certificate().is_none());
        assert!(tls.to_env().is_empty());
        assert!(!is_https("http://a") && is_https("https://a"));
    }
}
