//! A secured native Kafka against real clients: SASL_SSL with SCRAM-SHA-512, the
//! `StandardAuthorizer` and the pipeline's least-privilege ACLs. Every refusal is paired with
//! the same client doing its own job, so a refusal cannot come from a broken setup.

use std::net::Ipv4Addr;
use std::time::Duration;

use endpoints::{KafkaEndpoint, Secret, kafka_admin};
use harness::{KafkaUser, NativeKafka, PipelineNames, Placement, SecuredKafka};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};

const WAIT: Duration = Duration::from_secs(10);

struct Secured {
    _dir: tempfile::TempDir,
    _nodes: Vec<NativeKafka>,
    secured: SecuredKafka,
    admin: KafkaEndpoint,
    names: PipelineNames,
}

impl Secured {
    fn as_user(&self, user: KafkaUser) -> KafkaEndpoint {
        KafkaEndpoint {
            security: Some(self.secured.security_for(user)),
            ..self.admin.clone()
        }
    }
}

async fn start() -> Secured {
    let dir = tempfile::tempdir().unwrap();
    let libs = harness::layout::find_kafka_libs().expect("Kafka jars (run ci/setup)");
    let secured = SecuredKafka::create(&dir.path().join("security"), &[Ipv4Addr::LOCALHOST])
        .expect("the run's CA and users");
    let nodes = {
        let (libs, parent, secured) = (libs.clone(), dir.path().to_owned(), secured.clone());
        tokio::task::spawn_blocking(move || {
            NativeKafka::start_cluster_secured(
                &libs,
                &parent,
                &[Placement::loopback()],
                Some(&secured),
            )
        })
        .await
        .unwrap()
        .expect("a secured broker starts")
    };
    let admin = nodes[0].endpoint().clone();
    assert_eq!(
        admin.security.as_ref().map(|s| s.username.as_str()),
        Some("admin")
    );
    let names = PipelineNames::default();
    for (topic, partitions) in [
        (&names.signals_topic, 4),
        (&names.sessions_topic, 2),
        (&names.dead_letter_topic, 1),
    ] {
        kafka_admin::ensure_topic(&admin, topic, kafka_admin::TopicSpec::single(partitions))
            .await
            .expect("the admin creates the topics");
    }
    {
        let (secured, libs, bootstrap, log) = (
            secured.clone(),
            libs.clone(),
            admin.bootstrap.clone(),
            dir.path().join("acl.log"),
        );
        let grants = harness::grants(&names);
        tokio::task::spawn_blocking(move || secured.grant(&libs.dir, &bootstrap, &grants, &log))
            .await
            .unwrap()
            .expect("the admin adds the ACLs");
    }
    Secured {
        _dir: dir,
        _nodes: nodes,
        secured,
        admin,
        names,
    }
}

/// Produces one record, idempotently as the pipeline does, or not (then a refusal is the
/// topic's own: an idempotent producer without the right to write anything is stopped earlier,
/// when it asks for a producer id).
async fn produce(kafka: &KafkaEndpoint, topic: &str, idempotent: bool) -> Result<(), KafkaError> {
    let producer: FutureProducer = kafka
        .client_config()
        .set("enable.idempotence", idempotent.to_string())
        .set("acks", "all")
        .set("message.timeout.ms", "10000")
        .create()
        .unwrap();
    producer
        .send(FutureRecord::to(topic).key("c-1").payload("{}"), WAIT)
        .await
        .map(|_| ())
        .map_err(|(e, _)| e)
}

/// A consumer in `group` that is assigned its partitions and commits nothing.
fn assigned_consumer(kafka: &KafkaEndpoint, group: &str) -> BaseConsumer {
    kafka
        .client_config()
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()
        .unwrap()
}

/// The first record (key, payload) `kafka` reads from any of `topic`'s first `partitions`, as a
/// member of `group` (assigned, committing nothing, `read_committed`), or the error.
async fn first_record(
    kafka: &KafkaEndpoint,
    group: &str,
    topic: &str,
    partitions: i32,
) -> Result<(Vec<u8>, Vec<u8>), KafkaError> {
    let (kafka, group, topic) = (kafka.clone(), group.to_owned(), topic.to_owned());
    tokio::task::spawn_blocking(move || {
        let consumer = assigned_consumer(&kafka, &group);
        let mut assignment = TopicPartitionList::new();
        for p in 0..partitions {
            assignment
                .add_partition_offset(&topic, p, Offset::Beginning)
                .unwrap();
        }
        consumer.assign(&assignment).unwrap();
        let deadline = std::time::Instant::now() + WAIT;
        while std::time::Instant::now() < deadline {
            if let Some(m) = consumer.poll(Duration::from_millis(200)) {
                return m.map(|m| {
                    (
                        m.key().unwrap_or_default().to_vec(),
                        m.payload().unwrap_or_default().to_vec(),
                    )
                });
            }
        }
        Err(KafkaError::MessageConsumption(
            RDKafkaErrorCode::OperationTimedOut,
        ))
    })
    .await
    .unwrap()
}

/// Whether `kafka` may see `topic` (its metadata): reading or writing it needs that first.
fn sees(kafka: &KafkaEndpoint, topic: &str) -> Result<(), RDKafkaErrorCode> {
    let consumer: BaseConsumer = kafka.client_config().create().unwrap();
    let metadata = consumer.fetch_metadata(Some(topic), WAIT).unwrap();
    let found = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .unwrap();
    match found.error() {
        None => Ok(()),
        Some(error) => Err(error.into()),
    }
}

fn is_authorization(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::TopicAuthorizationFailed
                | RDKafkaErrorCode::TransactionalIdAuthorizationFailed
        )
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secured_kafka_lets_each_part_do_its_job_and_nothing_else() {
    let kafka = start().await;
    let names = &kafka.names;
    let bootstrap = kafka.admin.bootstrap.clone();

    // Who may not come in at all.
    let probe = |cluster: rdkafka::ClientConfig| async move {
        tokio::task::spawn_blocking(move || {
            kafka_admin::broker_count(&cluster, Duration::from_secs(5))
        })
        .await
        .unwrap()
    };
    let plaintext = kafka_admin::AdminTarget::admin_config(bootstrap.as_str());
    assert!(
        probe(plaintext).await.is_err(),
        "a plaintext client without credentials got metadata from the SASL_SSL listener"
    );
    let mut wrong_password = kafka_admin::AdminTarget::admin_config(&kafka.admin);
    kafka
        .secured
        .security_for(KafkaUser::Producer)
        .as_user("producer", Secret::new("not-the-password"))
        .apply(&mut wrong_password);
    assert!(
        probe(wrong_password).await.is_err(),
        "a wrong password was let in"
    );
    let mut unknown_ca = kafka_admin::AdminTarget::admin_config(&kafka.admin);
    unknown_ca.set("ssl.ca.location", "/etc/ssl/certs/ca-certificates.crt");
    assert!(
        probe(unknown_ca).await.is_err(),
        "a client trusting only the system's CAs accepted the run's broker certificate"
    );
    let right = kafka_admin::AdminTarget::admin_config(&kafka.as_user(KafkaUser::Producer));
    assert_eq!(probe(right).await.expect("the producer logs in"), 1);
    // PLAIN is there for the sink's user alone (ClickHouse's Kafka engine): another user's
    // right password over PLAIN is refused.
    let mut plain_sink = kafka_admin::AdminTarget::admin_config(&kafka.admin);
    kafka.secured.plain_security().apply(&mut plain_sink);
    assert_eq!(
        probe(plain_sink)
            .await
            .expect("the sink logs in with PLAIN"),
        1
    );
    let mut plain_producer = kafka_admin::AdminTarget::admin_config(&kafka.admin);
    endpoints::KafkaSecurity {
        mechanism: endpoints::SaslMechanism::Plain,
        ..kafka.secured.security_for(KafkaUser::Producer)
    }
    .apply(&mut plain_producer);
    assert!(
        probe(plain_producer).await.is_err(),
        "the producer was let in with PLAIN"
    );

    // The producer writes signals; it may not even see sessions.
    let producer = kafka.as_user(KafkaUser::Producer);
    produce(&producer, &names.signals_topic, true)
        .await
        .expect("the producer writes a signal");
    assert_eq!(sees(&producer, &names.signals_topic), Ok(()));
    assert_eq!(
        sees(&producer, &names.sessions_topic),
        Err(RDKafkaErrorCode::TopicAuthorizationFailed),
        "the producer may see (and so read) sessions"
    );

    // The sink reads the signal; it may not produce sessions.
    let sink = kafka.as_user(KafkaUser::Sink);
    // Partition 0 may be empty (the key chose another): read every partition's first.
    let found = first_record(&sink, "evbench-sink-check", &names.signals_topic, 4).await;
    assert_eq!(found.expect("the sink reads signals").1, b"{}");
    let refused = produce(&sink, &names.sessions_topic, false)
        .await
        .unwrap_err();
    assert!(
        is_authorization(&refused),
        "sink producing sessions: {refused}"
    );

    // The aggregator writes sessions in a transaction of its own ids; it may not create a
    // topic, nor use another transactional id.
    let aggregator = kafka.as_user(KafkaUser::Aggregator);
    {
        let config = {
            let mut c = aggregator.client_config();
            c.set(
                "transactional.id",
                format!("{}-0-0", names.aggregator_group),
            );
            c
        };
        let topic = names.sessions_topic.clone();
        tokio::task::spawn_blocking(move || {
            let producer: rdkafka::producer::BaseProducer = config.create().unwrap();
            producer.init_transactions(WAIT)?;
            producer.begin_transaction()?;
            producer
                .send(
                    rdkafka::producer::BaseRecord::to(&topic)
                        .key("s-1")
                        .payload("{}"),
                )
                .map_err(|(e, _)| e)?;
            producer.commit_transaction(WAIT)
        })
        .await
        .unwrap()
        .expect("the aggregator commits a session in its transaction");
    }
    {
        let config = {
            let mut c = aggregator.client_config();
            c.set("transactional.id", "someone-else-0");
            c
        };
        let refused = tokio::task::spawn_blocking(move || {
            let producer: rdkafka::producer::BaseProducer = config.create().unwrap();
            producer.init_transactions(WAIT)
        })
        .await
        .unwrap()
        .unwrap_err();
        assert!(
            is_authorization(&refused),
            "another transactional id: {refused}"
        );
    }
    let admin_client: AdminClient<DefaultClientContext> =
        aggregator.client_config().create().unwrap();
    let created = admin_client
        .create_topics(
            [&NewTopic::new(
                "made-by-the-aggregator",
                1,
                TopicReplication::Fixed(1),
            )],
            &AdminOptions::new().operation_timeout(Some(WAIT)),
        )
        .await
        .expect("the request is answered");
    assert!(
        matches!(
            created[0],
            Err((
                _,
                RDKafkaErrorCode::TopicAuthorizationFailed
                    | RDKafkaErrorCode::ClusterAuthorizationFailed
            ))
        ),
        "the aggregator created a topic: {created:?}"
    );
    let exists = {
        let admin = kafka.admin.clone();
        tokio::task::spawn_blocking(move || {
            kafka_admin::partition_count(&admin, "made-by-the-aggregator", WAIT)
        })
        .await
        .unwrap()
        .unwrap()
    };
    assert_eq!(exists, None, "the topic exists after all");

    // The observer reads the session the aggregator committed; it may not write anything.
    let observer = kafka.as_user(KafkaUser::Observer);
    let read = first_record(
        &observer,
        "evbench-run-observer-check",
        &names.sessions_topic,
        2,
    )
    .await;
    assert_eq!(read.expect("the observer reads sessions").0, b"s-1");
    let refused = produce(&observer, &names.signals_topic, false)
        .await
        .unwrap_err();
    assert!(
        is_authorization(&refused),
        "observer producing signals: {refused}"
    );
}
