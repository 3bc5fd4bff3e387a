//! The broker for these tests: tansu (a Kafka-protocol broker written in Rust, in-memory
//! storage), started once per test binary on a free port, stopped and started again in place by
//! the restart checks, and killed with the test process. Plus raw-client helpers to look at
//! what the bus left on the broker.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use comptoir_eventbus::EventBus;
use comptoir_eventbus::RetryPolicy;
use comptoir_eventbus::contract::Provider;
use comptoir_eventbus_kafka::testing::INSTALL;
pub use comptoir_eventbus_kafka::testing::broker;
use comptoir_eventbus_kafka::{KafkaBus, KafkaConfig};
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::OwnedMessage;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

/// Ordinary checks hold this for reading; checks that restart the broker hold it for writing,
/// as a restart disrupts every check running at that moment.
/// How long a raw-client request may take.
const ASK: Duration = Duration::from_secs(10);

static BROKER_IN_USE: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// For an ordinary check: the broker stays up while this is held.
pub async fn shared_broker() -> tokio::sync::RwLockReadGuard<'static, ()> {
    BROKER_IN_USE.read().await
}

/// For a check that stops and starts the broker: no other check runs meanwhile, and the broker
/// is running again afterwards even if the check failed half way.
pub async fn exclusive_broker() -> ExclusiveBroker {
    ExclusiveBroker { _guard: BROKER_IN_USE.write().await }
}

pub struct ExclusiveBroker {
    _guard: tokio::sync::RwLockWriteGuard<'static, ()>,
}

impl Drop for ExclusiveBroker {
    fn drop(&mut self) {
        broker().start();
    }
}

/// Logs of the code under test, shown with a failing test's output (`RUST_LOG` filters them).
fn init_logs() {
    static LOGS: OnceLock<()> = OnceLock::new();
    LOGS.get_or_init(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,comptoir_eventbus_kafka=info"));
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    });
}

/// A bus on the test broker under `namespace`, with the tests' quick retries.
pub async fn connect(namespace: &str, retry: RetryPolicy) -> KafkaBus {
    init_logs();
    let config =
        KafkaConfig { brokers: broker().address(), namespace: namespace.to_string(), retry, ..KafkaConfig::default() };
    KafkaBus::connect(config).await.unwrap_or_else(|e| {
        panic!("Kafka (tansu) at {} is not answering: {e}; is `{INSTALL}` installed?", broker().address())
    })
}

/// The contract's view of Kafka on tansu.
pub struct Kafka;

#[async_trait::async_trait]
impl Provider for Kafka {
    fn name(&self) -> &'static str {
        "kafka"
    }

    async fn connect(&self, namespace: &str, retry: RetryPolicy) -> Arc<dyn EventBus> {
        Arc::new(connect(namespace, retry).await)
    }

    async fn stop_broker(&self) {
        tokio::task::spawn_blocking(|| broker().stop()).await.unwrap();
    }

    async fn start_broker(&self) {
        tokio::task::spawn_blocking(|| broker().start()).await.unwrap();
    }

    async fn broker_dead_letters(&self, namespace: &str, consumer: &str) -> Option<u64> {
        let topic = format!("{namespace}.comptoir.dead-letter.{consumer}");
        Some(tokio::task::spawn_blocking(move || count_records(&topic)).await.unwrap())
    }

    async fn cleanup(&self, namespace: &str) {
        delete_namespace(namespace).await;
    }
}

fn raw_config() -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", broker().address());
    config
}

fn raw_consumer() -> BaseConsumer {
    // librdkafka wants a group even for a consumer that assigns its partitions and commits nothing.
    let group = format!("comptoir-tests-raw-{}", uuid::Uuid::new_v4().simple());
    raw_config().set("group.id", group).set("enable.auto.commit", "false").create().expect("a raw Kafka consumer")
}

/// Records in a topic (0 when it does not exist).
pub fn count_records(topic: &str) -> u64 {
    let consumer = raw_consumer();
    let Ok(metadata) = consumer.fetch_metadata(Some(topic), ASK) else { return 0 };
    let mut total = 0;
    for partition in metadata.topics().iter().filter(|t| t.error().is_none()).flat_map(|t| t.partitions()) {
        if let Ok((low, high)) = consumer.fetch_watermarks(topic, partition.id(), ASK) {
            total += (high - low).max(0) as u64;
        }
    }
    total
}

/// Every record of a topic, read with a plain consumer outside any group.
pub fn read_topic(topic: &str) -> Vec<OwnedMessage> {
    let consumer = raw_consumer();
    let metadata = consumer.fetch_metadata(Some(topic), ASK).expect("topic metadata");
    let mut list = TopicPartitionList::new();
    let mut remaining = 0;
    for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
        let (low, high) = consumer.fetch_watermarks(topic, partition.id(), ASK).expect("watermarks");
        remaining += (high - low).max(0);
        list.add_partition_offset(topic, partition.id(), Offset::Beginning).unwrap();
    }
    consumer.assign(&list).expect("assign");
    let mut records = Vec::new();
    let deadline = Instant::now() + ASK;
    while (records.len() as i64) < remaining && Instant::now() < deadline {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) {
            records.push(message.detach());
        }
    }
    records
}

/// Produces a record that is not a Comptoir event.
pub fn produce_raw(topic: &str, partition: i32, value: &[u8]) {
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let producer: BaseProducer = raw_config().create().expect("a raw Kafka producer");
    producer.send(BaseRecord::<(), [u8]>::to(topic).partition(partition).payload(value)).expect("queued");
    producer.flush(ASK).expect("the broker took the raw record");
}

/// A record's header as text.
pub fn header(message: &OwnedMessage, name: &str) -> Option<String> {
    use rdkafka::message::Headers;
    let headers = message.headers()?;
    headers.iter().find(|h| h.key == name).and_then(|h| h.value).map(|v| String::from_utf8_lossy(v).into_owned())
}

/// The topics of a namespace on the broker.
pub fn topics_of(namespace: &str) -> Vec<String> {
    let prefix = format!("{namespace}.");
    let metadata = raw_consumer().fetch_metadata(None, ASK).expect("cluster metadata");
    metadata.topics().iter().map(|t| t.name().to_string()).filter(|t| t.starts_with(&prefix)).collect()
}

/// Deletes the topics and consumer groups of a namespace (best effort).
pub async fn delete_namespace(namespace: &str) {
    let prefix = format!("{namespace}.");
    let (topics, groups) = {
        let namespace = namespace.to_string();
        tokio::task::spawn_blocking(move || {
            let groups: Vec<String> = raw_consumer()
                .fetch_group_list(None, ASK)
                .map(|l| l.groups().iter().map(|g| g.name().to_string()).filter(|g| g.starts_with(&prefix)).collect())
                .unwrap_or_default();
            (topics_of(&namespace), groups)
        })
        .await
        .unwrap()
    };
    let admin: AdminClient<DefaultClientContext> = raw_config().create().expect("a raw admin client");
    let options = AdminOptions::new().request_timeout(Some(ASK));
    if !topics.is_empty() {
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        let _ = admin.delete_topics(&names, &options).await;
    }
    if !groups.is_empty() {
        let names: Vec<&str> = groups.iter().map(String::as_str).collect();
        let _ = admin.delete_groups(&names, &options).await;
    }
}
