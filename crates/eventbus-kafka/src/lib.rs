//! The Kafka event bus provider.
//!
//! Topics per domain: events of type `order.checkout.completed` go to `<ns>comptoir.order`,
//! broadcasts (`system.*`) to `<ns>comptoir.system`, keyed by event id, as CloudEvents in binary
//! content mode (`ce-*` headers, the data as the value). Topics are created explicitly (the
//! configured partition count, replication 1), never left to broker auto-creation.
//!
//! Each durable consumer is a consumer group named after it (`<ns><consumer name>`), shared by
//! all its instances. It subscribes to the domain topics its patterns can reach (all of them, by
//! regular expression, when a pattern starts with a wildcard) and keeps only the events its
//! patterns match. Up to the prefetch of messages are handled at once; offsets are committed by
//! hand, only up to the first message not finished on each partition, so a crash never skips
//! one. A new group starts at the earliest retained offset: nothing published before its first
//! assignment is missed (consumers are idempotent).
//!
//! A failed handling is retried through the consumer's retry topic
//! (`<ns>comptoir.retry.<consumer>`, with the attempt number and a not-before time in headers):
//! the consumer reads it alongside its domain topics and holds each record until it is due,
//! without holding up the records behind it. After the last attempt the event is filed in the
//! consumer's dead-letter store and copied to `<ns>comptoir.dead-letter.<consumer>` with the
//! reason and attempt count in headers.
//!
//! Broadcast consumers read the system topic from its end at subscription, in a group of their
//! own per instance, with no retries and no dead letters.
//!
//! While the broker is away, a publish fails within the publish timeout (the outbox keeps the
//! event), librdkafka reconnects by itself and the outage is logged once. Consumers stop fetching
//! until the broker answers again; one that comes back without its topics (a broker that lost
//! its data, as a test broker kept in memory does on restart) gets them created again, and its
//! consumers and producer start afresh, since it no longer knows their group members or
//! producer ids.

mod broadcast;
mod client;
mod consumer;
mod naming;
mod progress;
mod publisher;
mod topics;
mod wire;

#[cfg(feature = "testing")]
pub mod testing;

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use comptoir_eventbus::delivery::{self, InFlight, Registry};
use comptoir_eventbus::{BatchFailure, Consumer, DEFAULT_PREFETCH, EventBus, RetryPolicy};
use comptoir_kernel::{Error, EventEnvelope, Result};
use rdkafka::admin::AdminClient;
use rdkafka::config::FromClientConfigAndContext;
use rdkafka::producer::Producer;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::client::{BusContext, Connectivity, base_config, is_missing_topic};
use crate::naming::Names;
use crate::publisher::Publisher;
use crate::topics::Topics;
use crate::wire::Outgoing;

/// Comptoir's own record headers, next to the CloudEvents `ce-*` ones.
pub mod headers {
    /// On a retry record: which delivery this is (2 for the first retry).
    pub const ATTEMPT: &str = "comptoir-attempt";
    /// On a retry record: when it is due, in milliseconds since the Unix epoch.
    pub const NOT_BEFORE: &str = "comptoir-not-before";
    /// On a dead-letter record: the last handling error.
    pub const DEAD_LETTER_REASON: &str = "comptoir-dead-letter-reason";
    /// On a dead-letter record: how many times the consumer tried.
    pub const ATTEMPTS: &str = "comptoir-attempts";
}

/// Where the Kafka cluster is and how the bus uses it.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// Bootstrap servers, `host:port` separated by commas.
    pub brokers: String,
    /// Prefixes every topic and consumer group (`<namespace>.comptoir.order`), so that several
    /// deployments can share a cluster; empty for none.
    pub namespace: String,
    /// Deliveries a consumer handles at once.
    pub prefetch: usize,
    /// Partitions of the topics the bus creates: the most instances of one consumer that can
    /// share its work.
    pub partitions: i32,
    /// Waits between attempts before an event is dead-lettered.
    pub retry: RetryPolicy,
    /// How long a publish (and any other request to the broker: connecting, creating topics)
    /// may take before it fails, so that the outbox keeps the event while the broker is away.
    pub publish_timeout: Duration,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: "127.0.0.1:9092".to_string(),
            namespace: String::new(),
            prefetch: DEFAULT_PREFETCH,
            partitions: 3,
            retry: RetryPolicy::default(),
            publish_timeout: Duration::from_secs(5),
        }
    }
}

/// How long `subscribe` waits for the consumer's first partition assignment before letting it
/// join its group in the background.
const ASSIGNMENT_WAIT: Duration = Duration::from_secs(15);
/// How long `close` lets deliveries in progress finish.
const CLOSE_GRACE: Duration = Duration::from_secs(30);

/// What the bus's consumers share with it.
pub(crate) struct Shared {
    config: KafkaConfig,
    names: Names,
    /// Names this process's broadcast groups.
    instance: Uuid,
    context: BusContext,
    publisher: Arc<Publisher>,
    topics: Topics,
    in_flight: InFlight,
    shutdown: watch::Sender<bool>,
}

impl Shared {
    /// Produces one record and waits for the broker to confirm it. A topic the broker lost is
    /// created again and the record sent once more.
    async fn produce(&self, record: &Outgoing) -> Result<()> {
        let mut last_error = None;
        for _ in 0..2 {
            self.topics.ensure(std::slice::from_ref(&record.topic)).await?;
            let sent = match self.publisher.send(record) {
                Ok(sent) => self.publisher.confirmed(sent).await,
                Err(error) => Err(error),
            };
            match sent {
                Ok(()) => {
                    self.context.connectivity.restored();
                    return Ok(());
                }
                Err(error) => {
                    // Whatever went wrong, check the topic exists before the next use: a broker
                    // that restarted empty answers with timeouts as often as "unknown topic".
                    self.topics.forget(&record.topic);
                    let again = is_missing_topic(&error);
                    last_error = Some(error);
                    if !again {
                        break;
                    }
                }
            }
        }
        let error = last_error.expect("a failed attempt left its error");
        Err(Error::unavailable(format!("Kafka: {} not confirmed by {}: {error}", record.topic, self.config.brokers)))
    }

    fn connectivity(&self) -> &Connectivity {
        &self.context.connectivity
    }
}

/// The event bus on Kafka.
#[derive(Clone)]
pub struct KafkaBus {
    shared: Arc<Shared>,
    registry: Registry,
    subscribing: Arc<tokio::sync::Mutex<()>>,
    consumers: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl KafkaBus {
    /// Connects to the cluster; fails with the reason when no broker answers within the
    /// publish timeout.
    pub async fn connect(config: KafkaConfig) -> Result<KafkaBus> {
        let context = BusContext { connectivity: Connectivity::new(&config.brokers) };
        let publisher = Arc::new(Publisher::new(&config.brokers, config.publish_timeout, context.clone())?);
        let admin = AdminClient::from_config_and_context(
            &base_config(&config.brokers, config.publish_timeout),
            context.clone(),
        )
        .map_err(|e| Error::internal(format!("Kafka admin client: {e}")))?;
        let bus = KafkaBus {
            shared: Arc::new(Shared {
                names: Names::new(&config.namespace),
                instance: Uuid::new_v4(),
                publisher,
                topics: Topics::new(admin, config.partitions, config.publish_timeout),
                in_flight: in_flight_of(&config.namespace),
                shutdown: watch::Sender::new(false),
                context,
                config,
            }),
            registry: Registry::default(),
            subscribing: Arc::default(),
            consumers: Arc::default(),
        };
        bus.probe(bus.shared.config.publish_timeout).await.map_err(|e| {
            Error::unavailable(format!("{e} (is a Kafka broker running at {}?)", bus.shared.config.brokers))
        })?;
        tracing::info!(provider = "kafka", brokers = %bus.shared.config.brokers,
            namespace = %bus.shared.config.namespace, "connected to Kafka");
        Ok(bus)
    }
}

impl KafkaBus {
    /// Whether the broker answers a metadata request within `timeout`.
    async fn probe(&self, timeout: Duration) -> Result<()> {
        let producer =
            self.shared.publisher.producer().map_err(|e| Error::unavailable(format!("Kafka producer failed: {e}")))?;
        let answer = tokio::task::spawn_blocking(move || producer.client().fetch_metadata(None, timeout).map(|_| ()))
            .await
            .map_err(|e| Error::internal(format!("Kafka check: {e}")))?;
        match answer {
            Ok(()) => {
                self.shared.connectivity().restored();
                Ok(())
            }
            Err(error) => {
                self.shared.connectivity().lost(&error.to_string());
                Err(Error::unavailable(format!("Kafka broker at {} unreachable: {error}", self.shared.config.brokers)))
            }
        }
    }
}

/// Resolves once the bus shuts down (or is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Deliveries in flight are counted per process and namespace, not per bus: two buses of one
/// namespace in a process are two instances of one deployment, and a delivery published
/// through one may well be handled by the other's instance of the consumer.
fn in_flight_of(namespace: &str) -> InFlight {
    static BY_NAMESPACE: LazyLock<Mutex<HashMap<String, InFlight>>> = LazyLock::new(Mutex::default);
    BY_NAMESPACE.lock().expect("in-flight registry lock").entry(namespace.to_string()).or_default().clone()
}

#[async_trait]
impl EventBus for KafkaBus {
    async fn publish(&self, event: &EventEnvelope) -> Result<()> {
        let topic = self.shared.names.topic_for(&event.event_type)?;
        let local = self.registry.matching(&event.event_type);
        // Counted before sending: a quick consumer may finish before the confirmation is back.
        self.shared.in_flight.expect(&local, event.id);
        if let Err(error) = self.shared.produce(&Outgoing::event(topic, event)).await {
            for name in &local {
                self.shared.in_flight.finish(name, event.id);
            }
            return Err(error);
        }
        metrics::counter!("comptoir_events_published_total", "type" => event.event_type.clone(), "provider" => "kafka")
            .increment(1);
        Ok(())
    }

    /// Sends every record, then awaits the confirmations: one round trip for the batch rather
    /// than one per event.
    async fn publish_batch(&self, events: &[EventEnvelope]) -> std::result::Result<(), BatchFailure> {
        let shared = &self.shared;
        let mut records = Vec::with_capacity(events.len());
        let mut refused = None;
        for event in events {
            match shared.names.topic_for(&event.event_type) {
                Ok(topic) => records.push(Outgoing::event(topic, event)),
                Err(error) => {
                    refused = Some(error);
                    break;
                }
            }
        }
        let mut topics: Vec<String> = records.iter().map(|r| r.topic.clone()).collect();
        topics.sort();
        topics.dedup();
        if let Err(error) = shared.topics.ensure(&topics).await {
            return Err(BatchFailure { accepted: 0, error });
        }
        let local: Vec<Vec<String>> = events[..records.len()]
            .iter()
            .map(|event| {
                let names = self.registry.matching(&event.event_type);
                shared.in_flight.expect(&names, event.id);
                names
            })
            .collect();
        let mut confirmations = Vec::with_capacity(records.len());
        for record in &records {
            match shared.publisher.send(record) {
                Ok(confirmation) => confirmations.push(confirmation),
                Err(error) => {
                    refused.get_or_insert(Error::unavailable(format!("Kafka: {} not sent: {error}", record.topic)));
                    break;
                }
            }
        }
        let results =
            futures::future::join_all(confirmations.into_iter().map(|sent| shared.publisher.confirmed(sent))).await;
        let mut accepted = None;
        let mut first_error = None;
        for (index, event) in events[..records.len()].iter().enumerate() {
            match results.get(index) {
                Some(Ok(())) => {
                    metrics::counter!("comptoir_events_published_total",
                        "type" => event.event_type.clone(), "provider" => "kafka")
                    .increment(1);
                    continue;
                }
                Some(Err(error)) => {
                    shared.topics.forget(&records[index].topic);
                    first_error.get_or_insert_with(|| {
                        Error::unavailable(format!(
                            "Kafka: {} not confirmed by {}: {error}",
                            records[index].topic, shared.config.brokers
                        ))
                    });
                }
                None => {}
            }
            accepted.get_or_insert(index);
            for name in &local[index] {
                shared.in_flight.finish(name, event.id);
            }
        }
        match (accepted, first_error.or(refused)) {
            (None, None) => {
                shared.connectivity().restored();
                Ok(())
            }
            (accepted, error) => Err(BatchFailure {
                accepted: accepted.unwrap_or(records.len()),
                error: error.unwrap_or_else(|| Error::internal("Kafka: batch stopped")),
            }),
        }
    }

    async fn subscribe(&self, consumer: Consumer) -> Result<()> {
        let _one_at_a_time = self.subscribing.lock().await;
        // Checks the patterns before anything is created on the broker.
        Registry::default().add(consumer.clone())?;
        if self.registry.get(&consumer.name).is_ok() {
            return Err(Error::internal(format!("consumer {} is already subscribed", consumer.name)));
        }
        let task = if consumer.broadcast {
            broadcast::start(self.shared.clone(), consumer.clone()).await?
        } else {
            consumer::start(self.shared.clone(), consumer.clone(), ASSIGNMENT_WAIT).await?
        };
        self.consumers.lock().expect("consumers lock").push(task);
        self.registry.add(consumer)
    }

    async fn replay(&self, consumer: &str, dead_letter_id: Uuid) -> Result<()> {
        delivery::replay(&self.registry.get(consumer)?, dead_letter_id).await
    }

    fn provider(&self) -> &'static str {
        "kafka"
    }

    /// Asks the broker for metadata, giving up after two seconds (or the publish timeout if
    /// shorter): a readiness probe wants a quick answer.
    async fn check(&self) -> Result<()> {
        self.probe(self.shared.config.publish_timeout.min(Duration::from_secs(2))).await
    }

    fn in_flight(&self) -> usize {
        self.shared.in_flight.count()
    }

    async fn wait_idle(&self, timeout: Duration) -> bool {
        self.shared.in_flight.wait_idle(timeout).await
    }

    /// Stops every consumer (deliveries in progress finish, their offsets are committed, the
    /// consumers leave their groups), then waits for records still on their way.
    async fn close(&self) {
        self.shared.shutdown.send_replace(true);
        let consumers: Vec<JoinHandle<()>> = std::mem::take(&mut *self.consumers.lock().expect("consumers lock"));
        for consumer in consumers {
            if let Err(error) = consumer.await {
                tracing::error!(provider = "kafka", error = %error, "a consumer task failed");
            }
        }
        self.shared.publisher.flush().await;
    }
}
