//! The files a TLS client is given by its settings: the CA it trusts and the certificate it
//! shows. Kafka's and ClickHouse's settings name them alike and are checked alike.

use std::path::PathBuf;

/// A client certificate and its key, as files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    pub certificate: PathBuf,
    pub key: PathBuf,
}

impl ClientCertificate {
    /// The two settings that name it, for a child process.
    pub(crate) fn to_env(&self, certificate: &str, key: &str) -> [(String, String); 2] {
        [
            (
                certificate.to_owned(),
                self.certificate.display().to_string(),
            ),
            (key.to_owned(), self.key.display().to_string()),
        ]
    }
}

/// The CA and client certificate that the settings `ca`, `certificate` and `key` (found with
/// `get`) name: each must be a file; a certificate needs its key and a key its certificate.
/// The error names the setting at fault.
pub(crate) fn from_settings(
    get: &impl Fn(&str) -> Option<String>,
    (ca, certificate, key): (&str, &str, &str),
) -> Result<(Option<PathBuf>, Option<ClientCertificate>), String> {
    let file = |name: &str| match get(name).map(PathBuf::from) {
        Some(path) if !path.is_file() => Err(format!("{name} {}: no such file", path.display())),
        other => Ok(other),
    };
    let ca_file = file(ca)?;
    let client = match (file(certificate)?, file(key)?) {
        (None, None) => None,
        (Some(certificate), Some(key)) => Some(ClientCertificate { certificate, key }),
        _ => {
            return Err(format!(
                "a client certificate needs both {certificate} and {key}"
            ));
        }
    };
    Ok((ca_file, client))
}
