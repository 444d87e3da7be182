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
}
