//! A secured native Kafka, as production clusters are: `SASL_SSL` with SCRAM-SHA-512 for every
//! client, TLS with client certificates between the nodes' controllers, KRaft's
//! `StandardAuthorizer` with no access where no ACL grants it, and one user per part of the
//! pipeline holding only what that part does.
//!
//! The users and their passwords exist from the first start: they are written into the
//! metadata when the storage is formatted (`kafka-storage format --add-scram`), so no client
//! ever talks to an open broker. The controller listener cannot use SCRAM (its credentials live
//! in the metadata the controllers serve), so it is TLS with a required client certificate: the
//! nodes present the run's server certificate ([`super::tls`]), whose subject is a super user.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use endpoints::{KafkaSecurity, SaslMechanism, Secret};

use super::tls::{SERVER_SUBJECT, TlsFiles};
use crate::{Error, Result};

/// The mechanism of every user of a secured native Kafka.
pub const MECHANISM: SaslMechanism = SaslMechanism::ScramSha512;

/// Who talks to a secured Kafka.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum KafkaUser {
    /// Topic and ACL administration; nothing of the pipeline runs as it.
    Admin,
    /// The nodes themselves (replication); a super user.
    Broker,
    /// The load's producer: writes the signals.
    Producer,
    /// Reads signals; writes sessions and dead letters in transactions of its own ids.
    Aggregator,
    /// Reads signals and sessions for ClickHouse.
    Sink,
    /// evbench's observers: read sessions and dead letters.
    Observer,
}

impl KafkaUser {
    /// Every user, in a stable order.
    pub const ALL: [KafkaUser; 6] = [
        KafkaUser::Admin,
        KafkaUser::Broker,
        KafkaUser::Producer,
        KafkaUser::Aggregator,
        KafkaUser::Sink,
        KafkaUser::Observer,
    ];

    /// The user's name (its principal is `User:<name>`).
    pub fn name(self) -> &'static str {
        match self {
            KafkaUser::Admin => "admin",
            KafkaUser::Broker => "broker",
            KafkaUser::Producer => "producer",
            KafkaUser::Aggregator => "aggregator",
            KafkaUser::Sink => "sink",
            KafkaUser::Observer => "observer",
        }
    }
}

/// One ACL: `operations` on the resources named (literally, or every name with the prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub user: KafkaUser,
    pub operations: &'static [&'static str],
    /// `topic`, `group` or `transactional-id` (AclCommand's option names).
    pub resource: &'static str,
    pub names: Vec<String>,
    pub prefixed: bool,
}

/// The names the pipeline's parts use, which their grants cover.
#[derive(Debug, Clone)]
pub struct PipelineNames {
    pub signals_topic: String,
    pub sessions_topic: String,
    pub dead_letter_topic: String,
    /// The aggregator's consumer group; its transactional ids start with it too.
    pub aggregator_group: String,
    /// The sink's consumer group (instances may add a suffix).
    pub sink_group: String,
    /// Prefix of the groups of ClickHouse's Kafka engine, which ingests as the sink does (and
    /// logs in as it).
    pub kafka_engine_group_prefix: String,
    /// Prefix of the observers' groups.
    pub observer_group_prefix: String,
    /// Whether the aggregator may also read its output topics: Flink's Kafka sink lists the
    /// transactions left open on them when it starts (`DescribeProducers`), which Kafka allows
    /// readers only. `false` for evbench's own aggregator, which needs no such thing.
    pub aggregator_reads_outputs: bool,
    /// Whether the aggregator may create and use topics whose names start with its group:
    /// Kafka Streams makes its internal (changelog, repartition) topics so, named for its
    /// application id. `false` for the other engines, which may create no topic at all.
    pub aggregator_internal_topics: bool,
}

impl Default for PipelineNames {
    fn default() -> Self {
        PipelineNames {
            signals_topic: "charger-station-signals".into(),
            sessions_topic: "charging-sessions".into(),
            dead_letter_topic: "charger-station-signals-dead-letter".into(),
            aggregator_group: "evbench-aggregator".into(),
            sink_group: "evbench-sink".into(),
            kafka_engine_group_prefix: "evbench-clickhouse".into(),
            observer_group_prefix: "evbench-run-observer".into(),
            aggregator_reads_outputs: false,
            aggregator_internal_topics: false,
        }
    }
}

/// Least privilege, per part. Reading or writing a topic implies describing it; creating,
/// deleting or altering anything is the admin's alone, but for the topics Kafka Streams makes
/// for itself ([`PipelineNames::aggregator_internal_topics`]).
pub fn grants(names: &PipelineNames) -> Vec<Grant> {
    let topic = |user, operations, list: &[&String]| Grant {
        user,
        operations,
        resource: "topic",
        names: list.iter().map(|n| (*n).clone()).collect(),
        prefixed: false,
    };
    let prefixed = |user, operations, resource, name: &String| Grant {
        user,
        operations,
        resource,
        names: vec![name.clone()],
        prefixed: true,
    };
    let aggregator_reads: Vec<&String> = match names.aggregator_reads_outputs {
        true => vec![
            &names.signals_topic,
            &names.sessions_topic,
            &names.dead_letter_topic,
        ],
        false => vec![&names.signals_topic],
    };
    let internal_topics = names.aggregator_internal_topics.then(|| {
        prefixed(
            KafkaUser::Aggregator,
            &["All"],
            "topic",
            &names.aggregator_group,
        )
    });
    let mut grants = vec![
        topic(KafkaUser::Producer, &["Write"], &[&names.signals_topic]),
        topic(KafkaUser::Aggregator, &["Read"], &aggregator_reads),
        topic(
            KafkaUser::Aggregator,
            &["Write"],
            &[&names.sessions_topic, &names.dead_letter_topic],
        ),
        prefixed(
            KafkaUser::Aggregator,
            &["Read"],
            "group",
            &names.aggregator_group,
        ),
        prefixed(
            KafkaUser::Aggregator,
            &["Write", "Describe"],
            "transactional-id",
            &names.aggregator_group,
        ),
        topic(
            KafkaUser::Sink,
            &["Read"],
            &[&names.signals_topic, &names.sessions_topic],
        ),
        prefixed(KafkaUser::Sink, &["Read"], "group", &names.sink_group),
        prefixed(
            KafkaUser::Sink,
            &["Read"],
            "group",
            &names.kafka_engine_group_prefix,
        ),
        topic(
            KafkaUser::Observer,
            &["Read"],
            &[&names.sessions_topic, &names.dead_letter_topic],
        ),
        prefixed(
            KafkaUser::Observer,
            &["Read"],
            "group",
            &names.observer_group_prefix,
        ),
    ];
    grants.extend(internal_topics);
    grants
}

/// A secured Kafka's material for one run: the TLS files and every user's password.
#[derive(Debug, Clone)]
pub struct SecuredKafka {
    pub tls: TlsFiles,
    passwords: BTreeMap<KafkaUser, Secret>,
    /// The admin's client properties for Kafka's Java tools (mode 0600).
    admin_properties: PathBuf,
}

impl SecuredKafka {
    /// A new CA and server certificate for `addresses` and a new password for every user, in
    /// `dir`.
    pub fn create(dir: &Path, addresses: &[Ipv4Addr]) -> Result<SecuredKafka> {
        let tls = TlsFiles::create(&dir.join("tls"), addresses)?;
        let mut passwords = BTreeMap::new();
        for user in KafkaUser::ALL {
            passwords.insert(user, new_password()?);
        }
        let secured = SecuredKafka {
            admin_properties: dir.join("admin.properties"),
            tls,
            passwords,
        };
        write_private(
            &secured.admin_properties,
            &secured.java_client_properties(KafkaUser::Admin),
        )?;
        for user in KafkaUser::ALL {
            write_private(
                &secured.password_file(user),
                &format!("{}\n", secured.password(user).expose()),
            )?;
        }
        Ok(secured)
    }

    /// How `user` logs in (its password, the run's CA).
    pub fn security_for(&self, user: KafkaUser) -> KafkaSecurity {
        KafkaSecurity {
            mechanism: MECHANISM,
            username: user.name().to_owned(),
            password: self.password(user),
            ca_file: Some(self.tls.ca.clone()),
            client_certificate: None,
        }
    }

    /// How [`PLAIN_USER`] logs in with `PLAIN` (the password itself, inside TLS): for clients
    /// whose SCRAM Kafka 4 rejects (ClickHouse 18.16's Kafka engine).
    pub fn plain_security(&self) -> KafkaSecurity {
        KafkaSecurity {
            mechanism: endpoints::SaslMechanism::Plain,
            ..self.security_for(PLAIN_USER)
        }
    }

    /// The file holding `user`'s password (mode 0600): what a child process is given, so the
    /// password stays out of its environment and command line.
    pub fn password_file(&self, user: KafkaUser) -> PathBuf {
        self.admin_properties
            .with_file_name(format!("{}.password", user.name()))
    }

    /// The environment a child process running as `user` reads its login from
    /// ([`KafkaSecurity::from_env`]): mechanism, user, password file, CA.
    pub fn env_for(&self, user: KafkaUser) -> Vec<(String, String)> {
        use endpoints::security::env;
        vec![
            (env::MECHANISM.to_owned(), MECHANISM.as_str().to_owned()),
            (env::USERNAME.to_owned(), user.name().to_owned()),
            (
                env::PASSWORD_FILE.to_owned(),
                self.password_file(user).display().to_string(),
            ),
            (env::CA_FILE.to_owned(), self.tls.ca.display().to_string()),
        ]
    }

    fn password(&self, user: KafkaUser) -> Secret {
        self.passwords.get(&user).cloned().unwrap_or_default()
    }

    /// The admin's client properties file, for Kafka's Java tools (`--command-config`).
    pub fn admin_properties(&self) -> &Path {
        &self.admin_properties
    }

    /// The broker's settings that replace its plaintext listeners (`host`: its address).
    pub(crate) fn server_properties(
        &self,
        host: Ipv4Addr,
        port: u16,
        controller_port: u16,
    ) -> String {
        let mechanism = MECHANISM.as_str();
        let lower = mechanism.to_ascii_lowercase();
        format!(
            "listeners=SASL_SSL://{host}:{port},CONTROLLER://{host}:{controller_port}
advertised.listeners=SASL_SSL://{host}:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_SSL
listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:SSL
sasl.enabled.mechanisms={mechanism},PLAIN
sasl.mechanism.inter.broker.protocol={mechanism}
listener.name.sasl_ssl.{lower}.sasl.jaas.config={jaas}
listener.name.sasl_ssl.plain.sasl.jaas.config={plain}
ssl.keystore.type=PEM
ssl.keystore.location={keystore}
ssl.truststore.type=PEM
ssl.truststore.location={ca}
listener.name.controller.ssl.client.auth=required
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:{admin};User:{broker};User:{SERVER_SUBJECT}
",
            jaas = jaas(KafkaUser::Broker.name(), &self.password(KafkaUser::Broker)),
            plain = plain_jaas(PLAIN_USER.name(), &self.password(PLAIN_USER)),
            keystore = self.tls.server_keystore.display(),
            ca = self.tls.ca.display(),
            admin = KafkaUser::Admin.name(),
            broker = KafkaUser::Broker.name(),
        )
    }

    /// `kafka-storage format` arguments that create every user.
    pub(crate) fn format_arguments(&self) -> Vec<String> {
        KafkaUser::ALL
            .iter()
            .flat_map(|user| {
                [
                    "--add-scram".to_owned(),
                    format!(
                        "{}=[name={},password={}]",
                        MECHANISM.as_str(),
                        user.name(),
                        self.password(*user).expose()
                    ),
                ]
            })
            .collect()
    }

    /// A Java client's properties for `user` (Kafka's tools, the JVM engines).
    pub fn java_client_properties(&self, user: KafkaUser) -> String {
        format!(
            "security.protocol=SASL_SSL
sasl.mechanism={}
sasl.jaas.config={}
ssl.truststore.type=PEM
ssl.truststore.location={}
",
            MECHANISM.as_str(),
            jaas(user.name(), &self.password(user)),
            self.tls.ca.display()
        )
    }
}

impl SecuredKafka {
    /// Adds `grants` to the cluster at `bootstrap` as the admin, with Kafka's own `AclCommand`
    /// on the jars in `libs` (one JVM per grant; blocking). `log` receives its output.
    pub fn grant(&self, libs: &Path, bootstrap: &str, grants: &[Grant], log: &Path) -> Result<()> {
        let java = crate::server::java()?;
        for grant in grants {
            let mut args = vec![
                "-Xmx128m".to_owned(),
                "-XX:TieredStopAtLevel=1".to_owned(),
                "-cp".to_owned(),
                format!("{}/*", libs.display()),
                "org.apache.kafka.tools.AclCommand".to_owned(),
                "--bootstrap-server".to_owned(),
                bootstrap.to_owned(),
                "--command-config".to_owned(),
                self.admin_properties.display().to_string(),
                "--add".to_owned(),
                "--allow-principal".to_owned(),
                format!("User:{}", grant.user.name()),
            ];
            for operation in grant.operations {
                args.extend(["--operation".to_owned(), (*operation).to_owned()]);
            }
            for name in &grant.names {
                args.extend([format!("--{}", grant.resource), name.clone()]);
            }
            if grant.prefixed {
                args.extend(["--resource-pattern-type".to_owned(), "prefixed".to_owned()]);
            }
            let output = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .map_err(|e| Error::io("open the ACL log", e))?;
            let errors = output
                .try_clone()
                .map_err(|e| Error::io("open the ACL log", e))?;
            let status = std::process::Command::new(&java)
                .args(&args)
                .stdout(output)
                .stderr(errors)
                .status()
                .map_err(|e| Error::io("run Kafka's AclCommand", e))?;
            if !status.success() {
                return Err(Error::ServerExited {
                    name: format!("kafka AclCommand for {}", grant.user.name()),
                    status: status.to_string(),
                    log_tail: crate::process::tail_of(log, 20),
                });
            }
        }
        tracing::debug!(grants = grants.len(), "kafka ACLs added");
        Ok(())
    }
}

/// Kafka's JAAS line for a SCRAM user.
/// The one user that may also log in with `PLAIN` (its password inside TLS): the sink's, for
/// ClickHouse's Kafka engine, which ingests as the sink does. ClickHouse 18.16 links Debian's
/// librdkafka 2.0.2, whose SCRAM Kafka 4 rejects (a nonce sent twice; fixed in librdkafka 2.6.1,
/// confluentinc/librdkafka#4895); every other client uses SCRAM.
pub const PLAIN_USER: KafkaUser = KafkaUser::Sink;

/// The broker's `PLAIN` users: [`PLAIN_USER`] alone, with its password.
fn plain_jaas(user: &str, password: &Secret) -> String {
    format!(
        "org.apache.kafka.common.security.plain.PlainLoginModule required user_{user}=\"{}\";",
        password.expose()
    )
}

fn jaas(user: &str, password: &Secret) -> String {
    format!(
        "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"{user}\" password=\"{}\";",
        password.expose()
    )
}

/// Writes a file only its owner may read (it holds a password).
pub(crate) fn write_private(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| Error::io(format!("write {}", path.display()), e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| Error::io(format!("restrict {} to its owner", path.display()), e))
}

/// A new password ([`Secret::generate`]).
pub(crate) fn new_password() -> Result<Secret> {
    Secret::generate().map_err(Error::Random)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_part_may_create_alter_or_delete_anything() {
        for grant in grants(&PipelineNames::default()) {
            assert_ne!(grant.user, KafkaUser::Admin);
            for op in grant.operations {
                assert!(
                    ["Read", "Write", "Describe"].contains(op),
                    "{grant:?} grants {op}"
                );
            }
        }
    }

    #[test]
    fn the_jvm_engines_get_only_what_their_kafka_clients_need() {
        let evbench = grants(&PipelineNames::default());
        let flink = grants(&PipelineNames {
            aggregator_reads_outputs: true,
            ..PipelineNames::default()
        });
        let streams = grants(&PipelineNames {
            aggregator_internal_topics: true,
            ..PipelineNames::default()
        });
        let aggregator_reads = |grants: &[Grant]| -> Vec<String> {
            grants
                .iter()
                .filter(|g| g.user == KafkaUser::Aggregator && g.resource == "topic")
                .filter(|g| g.operations.contains(&"Read"))
                .flat_map(|g| g.names.clone())
                .collect()
        };
        let names = PipelineNames::default();
        assert_eq!(
            aggregator_reads(&evbench),
            std::slice::from_ref(&names.signals_topic)
        );
        assert_eq!(
            aggregator_reads(&flink),
            [
                names.signals_topic.clone(),
                names.sessions_topic.clone(),
                names.dead_letter_topic.clone()
            ]
        );
        // Kafka Streams: everything on the topics named for its application id, and on no other.
        let extra: Vec<&Grant> = streams.iter().filter(|g| !evbench.contains(g)).collect();
        assert_eq!(extra.len(), 1, "{extra:?}");
        assert_eq!(
            (extra[0].user, extra[0].resource, extra[0].prefixed),
            (KafkaUser::Aggregator, "topic", true)
        );
        assert_eq!(
            extra[0].names,
            std::slice::from_ref(&names.aggregator_group)
        );
        assert_eq!(extra[0].operations, ["All"]);
    }

    #[test]
    fn the_producer_writes_the_signals_and_nothing_else() {
        let names = PipelineNames::default();
        let producer: Vec<Grant> = grants(&names)
            .into_iter()
            .filter(|g| g.user == KafkaUser::Producer)
            .collect();
        assert_eq!(producer.len(), 1);
        assert_eq!(producer[0].operations, ["Write"]);
        assert_eq!(
            producer[0].names,
            std::slice::from_ref(&names.signals_topic)
        );
        // Only the aggregator writes sessions.
        let writers: Vec<KafkaUser> = grants(&names)
            .into_iter()
            .filter(|g| g.resource == "topic" && g.operations.contains(&"Write"))
            .filter(|g| g.names.contains(&names.sessions_topic))
            .map(|g| g.user)
            .collect();
        assert_eq!(writers, [KafkaUser::Aggregator]);
    }

    #[test]
    fn passwords_are_in_the_material_but_not_in_its_debug_output() {
        let dir = tempfile::tempdir().unwrap();
        let secured = SecuredKafka::create(dir.path(), &[Ipv4Addr::LOCALHOST]).unwrap();
        let admin = secured.password(KafkaUser::Admin);
        assert_eq!(admin.expose().len(), 24);
        assert_ne!(admin, secured.password(KafkaUser::Sink));
        assert!(!format!("{secured:?}").contains(admin.expose()));
        let properties = std::fs::read_to_string(secured.admin_properties()).unwrap();
        assert!(properties.contains(admin.expose()));
        let mode = std::fs::metadata(secured.admin_properties())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0);
        let server = secured.server_properties(Ipv4Addr::LOCALHOST, 9092, 9093);
        assert!(server.contains("listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:SSL"));
        assert!(server.contains("super.users=User:admin;User:broker;User:CN=evbench-server"));
        assert!(
            !server.contains(admin.expose()),
            "the admin's password is not the broker's business"
        );
        assert_eq!(secured.format_arguments().len(), 2 * KafkaUser::ALL.len());
    }
}
