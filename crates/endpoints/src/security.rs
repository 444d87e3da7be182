//! How a client proves who it is to a secured Kafka: SASL over TLS.
//!
//! A secured cluster has no anonymous door: every client names a user, sends its password only
//! inside TLS, and checks the brokers' certificates against a CA it was given (or the system's).
//! [`KafkaSecurity::apply`] puts exactly that into a librdkafka configuration; the password
//! never appears in `Debug` output or an error.

use std::fmt;
use std::path::PathBuf;

use rdkafka::ClientConfig;

use crate::Secret;
pub use crate::tls_files::ClientCertificate;

/// The SASL mechanism a secured Kafka listener accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslMechanism {
    /// SCRAM with SHA-512: the password itself never crosses the wire (Kafka's own users,
    /// Amazon MSK).
    ScramSha512,
    /// SCRAM with SHA-256.
    ScramSha256,
    /// The password in the clear inside TLS (Confluent Cloud's API keys).
    Plain,
}

impl SaslMechanism {
    /// The name Kafka and librdkafka use.
    pub fn as_str(self) -> &'static str {
        match self {
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::Plain => "PLAIN",
        }
    }
}

impl fmt::Display for SaslMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for SaslMechanism {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "SCRAM-SHA-512" => Ok(SaslMechanism::ScramSha512),
            "SCRAM-SHA-256" => Ok(SaslMechanism::ScramSha256),
            "PLAIN" => Ok(SaslMechanism::Plain),
            _ => Err(format!(
                "unknown SASL mechanism {s:?} (SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN)"
            )),
        }
    }
}

/// One Kafka user's way in: `SASL_SSL` with `mechanism`, checking the brokers against `ca_file`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaSecurity {
    pub mechanism: SaslMechanism,
    pub username: String,
    pub password: Secret,
    /// PEM file of the CA the brokers' certificates chain to; `None`: the system's CAs (a
    /// managed service's public certificates).
    pub ca_file: Option<PathBuf>,
    /// A client certificate shown beside the SASL login, for brokers that require one.
    pub client_certificate: Option<ClientCertificate>,
}

impl KafkaSecurity {
    /// The same way in as another user.
    pub fn as_user(&self, username: &str, password: Secret) -> KafkaSecurity {
        KafkaSecurity {
            username: username.to_owned(),
            password,
            ..self.clone()
        }
    }

    /// Sets `security.protocol=SASL_SSL`, the mechanism, the user and password and the CA on a
    /// librdkafka configuration. Brokers' host names (or addresses) are verified against their
    /// certificates.
    pub fn apply(&self, config: &mut ClientConfig) {
        config
            .set("security.protocol", "SASL_SSL")
            .set("sasl.mechanism", self.mechanism.as_str())
            .set("sasl.username", &self.username)
            .set("sasl.password", self.password.expose())
            .set("ssl.endpoint.identification.algorithm", "https");
        if let Some(ca) = &self.ca_file {
            config.set("ssl.ca.location", ca.display().to_string());
        }
        if let Some(client) = &self.client_certificate {
            config
                .set(
                    "ssl.certificate.location",
                    client.certificate.display().to_string(),
                )
                .set("ssl.key.location", client.key.display().to_string());
        }
    }
}

/// The environment variables a process reads its Kafka security from (evbench's own commands,
/// and what the runner gives the processes it starts).
pub mod env {
    /// `SCRAM-SHA-512` (default), `SCRAM-SHA-256` or `PLAIN`.
    pub const MECHANISM: &str = "EVBENCH_KAFKA_SASL_MECHANISM";
    /// The SASL user.
    pub const USERNAME: &str = "EVBENCH_KAFKA_SASL_USERNAME";
    /// Its password…
    pub const PASSWORD: &str = "EVBENCH_KAFKA_SASL_PASSWORD";
    /// …or a file holding it (first line), which keeps it out of the process's environment.
    pub const PASSWORD_FILE: &str = "EVBENCH_KAFKA_SASL_PASSWORD_FILE";
    /// PEM file of the CA the brokers' certificates chain to (default: the system's CAs).
    pub const CA_FILE: &str = "EVBENCH_KAFKA_CA_FILE";
    /// PEM file of a client certificate, for brokers that require one (beside the SASL login)…
    pub const CERT_FILE: &str = "EVBENCH_KAFKA_CERT_FILE";
    /// …and of its private key.
    pub const KEY_FILE: &str = "EVBENCH_KAFKA_KEY_FILE";
    /// Every one of them.
    pub const ALL: [&str; 7] = [
        MECHANISM,
        USERNAME,
        PASSWORD,
        PASSWORD_FILE,
        CA_FILE,
        CERT_FILE,
        KEY_FILE,
    ];
}

/// Why the environment's Kafka security settings cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Kafka security settings: {0}")]
pub struct SettingsError(pub String);

impl KafkaSecurity {
    /// The settings in the environment ([`env`]): `None` when none is set (plaintext), an error
    /// when they are half there (a user without a password, a password or CA without a user,
    /// both a password and a password file, an unknown mechanism, an unreadable file). Nothing
    /// read is printed.
    pub fn from_env() -> Result<Option<KafkaSecurity>, SettingsError> {
        KafkaSecurity::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// [`KafkaSecurity::from_env`] over any lookup (tests).
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<KafkaSecurity>, SettingsError> {
        let set: Vec<&str> = env::ALL
            .iter()
            .copied()
            .filter(|n| get(n).is_some())
            .collect();
        if set.is_empty() {
            return Ok(None);
        }
        let Some(username) = get(env::USERNAME) else {
            return Err(SettingsError(format!(
                "{} set without {}: a secured cluster needs a user",
                set.join(", "),
                env::USERNAME
            )));
        };
        let password = match (get(env::PASSWORD), get(env::PASSWORD_FILE)) {
            (Some(_), Some(_)) => {
                return Err(SettingsError(format!(
                    "both {} and {} are set: give one",
                    env::PASSWORD,
                    env::PASSWORD_FILE
                )));
            }
            (Some(password), None) => password,
            (None, Some(file)) => std::fs::read_to_string(&file)
                .map_err(|e| SettingsError(format!("{} {file}: {e}", env::PASSWORD_FILE)))?
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned(),
            (None, None) => {
                return Err(SettingsError(format!(
                    "{} is set but neither {} nor {}",
                    env::USERNAME,
                    env::PASSWORD,
                    env::PASSWORD_FILE
                )));
            }
        };
        if password.is_empty() {
            return Err(SettingsError(format!(
                "the password of {username} is empty"
            )));
        }
        let mechanism = match get(env::MECHANISM) {
            Some(name) => name.parse().map_err(SettingsError)?,
            None => SaslMechanism::ScramSha512,
        };
        let (ca_file, client_certificate) =
            crate::tls_files::from_settings(&get, (env::CA_FILE, env::CERT_FILE, env::KEY_FILE))
                .map_err(SettingsError)?;
        Ok(Some(KafkaSecurity {
            mechanism,
            username,
            password: Secret::new(password),
            ca_file,
            client_certificate,
        }))
    }

    /// The environment a child process reads these settings from ([`KafkaSecurity::from_env`]).
    pub fn to_env(&self) -> Vec<(String, String)> {
        let mut vars = vec![
            (
                env::MECHANISM.to_owned(),
                self.mechanism.as_str().to_owned(),
            ),
            (env::USERNAME.to_owned(), self.username.clone()),
            (env::PASSWORD.to_owned(), self.password.expose().to_owned()),
        ];
        if let Some(ca) = &self.ca_file {
            vars.push((env::CA_FILE.to_owned(), ca.display().to_string()));
        }
        if let Some(client) = &self.client_certificate {
            vars.extend(client.to_env(env::CERT_FILE, env::KEY_FILE));
        }
        vars
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scram() -> KafkaSecurity {
        KafkaSecurity {
            mechanism: SaslMechanism::ScramSha512,
            username: "sink".into(),
            password: Secret::new("hunter2-but-longer"),
            ca_file: Some(PathBuf::from("/run/ca.pem")),
            client_certificate: None,
        }
    }

    #[test]
    fn apply_sets_sasl_over_tls_with_the_ca() {
        let mut config = ClientConfig::new();
        scram().apply(&mut config);
        assert_eq!(config.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(config.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert_eq!(config.get("sasl.username"), Some("sink"));
        assert_eq!(config.get("sasl.password"), Some("hunter2-but-longer"));
        assert_eq!(config.get("ssl.ca.location"), Some("/run/ca.pem"));
        let mut system_cas = ClientConfig::new();
        KafkaSecurity {
            ca_file: None,
            ..scram()
        }
        .apply(&mut system_cas);
        assert_eq!(system_cas.get("ssl.ca.location"), None);
        assert_eq!(system_cas.get("ssl.certificate.location"), None);
        let mut with_certificate = ClientConfig::new();
        KafkaSecurity {
            client_certificate: Some(ClientCertificate {
                certificate: "/run/client.pem".into(),
                key: "/run/client.key".into(),
            }),
            ..scram()
        }
        .apply(&mut with_certificate);
        assert_eq!(
            with_certificate.get("ssl.certificate.location"),
            Some("/run/client.pem")
        );
        assert_eq!(
            with_certificate.get("ssl.key.location"),
            Some("/run/client.key")
        );
    }

    #[test]
    fn the_password_is_never_in_debug_output() {
        let text = format!("{:?}", scram().as_user("grafana", Secret::new("s3cret-pw")));
        assert!(!text.contains("s3cret-pw"), "{text}");
        assert!(
            text.contains("grafana") && text.contains("<redacted>"),
            "{text}"
        );
    }

    #[test]
    fn mechanisms_read_as_kafka_names_them() {
        for m in [
            SaslMechanism::ScramSha512,
            SaslMechanism::ScramSha256,
            SaslMechanism::Plain,
        ] {
            assert_eq!(m.as_str().parse::<SaslMechanism>(), Ok(m));
        }
        assert_eq!("scram-sha-512".parse(), Ok(SaslMechanism::ScramSha512));
        assert!("GSSAPI".parse::<SaslMechanism>().is_err());
    }

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn nothing_set_is_plaintext_and_the_environment_round_trips() {
        assert_eq!(KafkaSecurity::from_lookup(lookup(&[])), Ok(None));
        let ca = tempfile::NamedTempFile::new().unwrap();
        let given = KafkaSecurity {
            ca_file: Some(ca.path().to_owned()),
            ..scram()
        };
        let vars = given.to_env();
        let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(KafkaSecurity::from_lookup(lookup(&pairs)), Ok(Some(given)));
    }

    #[test]
    fn half_configured_settings_are_refused() {
        let refused =
            |vars: &[(&str, &str)]| KafkaSecurity::from_lookup(lookup(vars)).unwrap_err().0;
        assert!(refused(&[(env::PASSWORD, "pw")]).contains("without EVBENCH_KAFKA_SASL_USERNAME"));
        assert!(refused(&[(env::CA_FILE, "/tmp/ca.pem")]).contains("needs a user"));
        assert!(refused(&[(env::USERNAME, "sink")]).contains("neither"));
        assert!(
            refused(&[
                (env::USERNAME, "sink"),
                (env::PASSWORD, "a"),
                (env::PASSWORD_FILE, "/f")
            ])
            .contains("give one")
        );
        assert!(
            refused(&[
                (env::USERNAME, "sink"),
                (env::PASSWORD, "pw"),
                (env::MECHANISM, "GSSAPI")
            ])
            .contains("unknown SASL mechanism")
        );
        let missing_ca = refused(&[
            (env::USERNAME, "sink"),
            (env::PASSWORD, "pw"),
            (env::CA_FILE, "/nonexistent/ca.pem"),
        ]);
        assert!(missing_ca.contains("no such file"), "{missing_ca}");
        assert!(!missing_ca.contains("pw"));
        let certificate = tempfile::NamedTempFile::new().unwrap();
        let certificate = certificate.path().to_str().unwrap();
        assert!(
            refused(&[
                (env::USERNAME, "sink"),
                (env::PASSWORD, "pw"),
                (env::CERT_FILE, certificate)
            ])
            .contains("needs both")
        );
        assert!(refused(&[(env::KEY_FILE, certificate)]).contains("needs a user"));
    }

    #[test]
    fn a_password_file_keeps_the_password_out_of_the_environment() {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), "from-the-file\n").unwrap();
        let path = file.path().display().to_string();
        let read = KafkaSecurity::from_lookup(lookup(&[
            (env::USERNAME, "sink"),
            (env::PASSWORD_FILE, &path),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(read.password.expose(), "from-the-file");
    }
}
