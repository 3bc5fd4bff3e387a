//! The RabbitMQ (AMQP 0-9-1) event bus provider.
//!
//! Topology, every name prefixed by `<namespace>.` when a namespace is configured:
//! - `comptoir.events`: durable topic exchange of domain events, routed by event type (AMQP topic
//!   patterns are Comptoir's: `*` one word, `#` zero or more);
//! - `comptoir.system`: durable fanout exchange of `system.*` broadcasts;
//! - `comptoir.dead-letter`: durable direct exchange of dead letters;
//! - per consumer, a durable queue named after it, bound by each of its patterns, with retry
//!   queues (one per delay, `<queue>.retry.<ms>ms`) that return failed deliveries to it after
//!   their delay, and a `<queue>.dead` queue bound to the dead-letter exchange.
//!
//! Messages are persistent CloudEvents (binary mode: `ce-*` headers, JSON body). A publish
//! returns once the broker confirmed it; batches have all their messages awaiting confirmation
//! at once. Both connections (publishing, consuming) come back by themselves after an outage,
//! consumers re-declared and re-subscribed.

mod consumers;
mod link;
mod local;
mod names;
mod publisher;
mod wire;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use comptoir_eventbus::delivery::{self, Registry};
use comptoir_eventbus::{BatchFailure, Consumer, EventBus, RetryPolicy, is_broadcast};
use comptoir_kernel::{EventEnvelope, Result};
use tokio::sync::watch;
use uuid::Uuid;

use crate::consumers::{Consumers, Settings};
use crate::link::{Closing, Endpoint, Link};
use crate::local::Local;
use crate::names::Names;
use crate::publisher::Publisher;
use crate::wire::Outgoing;

/// How to reach RabbitMQ and how to use it.
#[derive(Debug, Clone)]
pub struct RabbitConfig {
    /// AMQP URI with credentials and virtual host (`%2f` is `/`). Append `?heartbeat=10` to
    /// notice a silently dead broker sooner than the server's default of 60 s.
    pub url: String,
    /// Prefix of every exchange and queue (`<namespace>.`), so that several deployments share
    /// one broker; empty for none.
    pub namespace: String,
    /// Deliveries each consumer has in progress at once (`basic.qos`).
    pub prefetch: u16,
    /// Declare durable queues as quorum queues (replicated, for clusters). Queue types cannot
    /// change in place: switching needs the queues deleted (drained) first.
    pub quorum_queues: bool,
    /// Waits before each retry of a failed handling; after the last, the event is dead-lettered.
    pub retry: RetryPolicy,
    /// How long connecting may take before the broker counts as unreachable.
    pub connect_timeout: Duration,
}

impl Default for RabbitConfig {
    fn default() -> Self {
        RabbitConfig {
            url: "amqp://guest:guest@127.0.0.1:5672/%2f".to_string(),
            namespace: String::new(),
            prefetch: comptoir_eventbus::DEFAULT_PREFETCH as u16,
            quorum_queues: false,
            retry: RetryPolicy::default(),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// The exchanges and durable queues a bus declared, for tools that remove a deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declared {
    pub exchanges: Vec<String>,
    pub queues: Vec<String>,
}

/// The event bus on RabbitMQ. Clones share one pair of connections.
#[derive(Clone)]
pub struct RabbitBus {
    inner: Arc<Inner>,
}

struct Inner {
    id: u64,
    names: Names,
    registry: Registry,
    local: Arc<Local>,
    publisher: Arc<Publisher>,
    consumers: Arc<Consumers>,
    /// Dropping it (with the last clone of the bus) stops the supervisors too.
    closing: watch::Sender<bool>,
}

static NEXT_BUS: AtomicU64 = AtomicU64::new(1);

impl RabbitBus {
    /// Connects to the broker, failing with a readable error if it cannot be reached now; later
    /// outages are ridden out by reconnecting.
    pub async fn connect(config: RabbitConfig) -> Result<RabbitBus> {
        let endpoint = Arc::new(Endpoint::parse(&config.url, config.connect_timeout)?);
        let names = Names::new(&config.namespace);
        let (closing, closed) = Closing::new();
        let id = NEXT_BUS.fetch_add(1, Ordering::Relaxed);
        let registry = Registry::default();
        let local = Local::join(&format!("{} {}", endpoint.address, config.namespace), id, registry.clone());
        let publisher = Arc::new(Publisher::new(endpoint.clone(), names.clone(), closed.clone()));
        let consumers = Arc::new(Consumers::new(Arc::new(Settings {
            endpoint: endpoint.clone(),
            names: names.clone(),
            retry: config.retry,
            prefetch: config.prefetch,
            quorum_queues: config.quorum_queues,
            local: local.clone(),
            closing: closed.clone(),
        })));
        let connected = match publisher.establish().await {
            Ok(()) => consumers.establish().await,
            Err(e) => Err(e),
        };
        if let Err(e) = connected {
            publisher.close().await;
            local.leave(id);
            return Err(e);
        }
        tokio::spawn(link::supervise(publisher.clone(), closed.clone()));
        tokio::spawn(link::supervise(consumers.clone(), closed));
        tracing::info!(address = %endpoint.address, namespace = %config.namespace, "connected to RabbitMQ");
        Ok(RabbitBus { inner: Arc::new(Inner { id, names, registry, local, publisher, consumers, closing }) })
    }

    /// The exchanges and durable queues this bus declared so far.
    pub async fn declared(&self) -> Declared {
        Declared {
            exchanges: self.inner.names.exchanges().to_vec(),
            queues: self.inner.consumers.durable_queues().await,
        }
    }

    fn outgoing(&self, event: &EventEnvelope) -> Result<Outgoing> {
        let exchange =
            if is_broadcast(&event.event_type) { self.inner.names.system() } else { self.inner.names.events() };
        wire::outgoing(&exchange, event)
    }

    /// Counts the deliveries of `event` this process's consumers will make.
    fn expect(&self, event: &EventEnvelope) -> Vec<String> {
        let consumers = self.inner.local.matching(&event.event_type);
        self.inner.local.in_flight.expect(&consumers, event.id);
        consumers
    }

    /// Forgets the expected deliveries of an event that did not make it to the broker.
    fn forget(&self, event: &EventEnvelope, consumers: &[String]) {
        for consumer in consumers {
            self.inner.local.in_flight.finish(consumer, event.id);
        }
    }
}

#[async_trait]
impl EventBus for RabbitBus {
    async fn publish(&self, event: &EventEnvelope) -> Result<()> {
        self.publish_batch(std::slice::from_ref(event)).await.map_err(|failure| failure.error)
    }

    async fn publish_batch(&self, events: &[EventEnvelope]) -> std::result::Result<(), BatchFailure> {
        let mut messages = Vec::with_capacity(events.len());
        let mut unsendable = None;
        for event in events {
            match self.outgoing(event) {
                Ok(message) => messages.push(message),
                Err(e) => {
                    unsendable = Some(e);
                    break;
                }
            }
        }
        if messages.is_empty() {
            return unsendable.map_or(Ok(()), |error| Err(BatchFailure { accepted: 0, error }));
        }
        let expected: Vec<Vec<String>> = events[..messages.len()].iter().map(|e| self.expect(e)).collect();
        let (accepted, failure) = self.inner.publisher.publish(messages).await;
        for (event, consumers) in events.iter().zip(&expected).skip(accepted) {
            self.forget(event, consumers);
        }
        for event in &events[..accepted] {
            metrics::counter!("comptoir_events_published_total", "type" => event.event_type.clone(),
                "provider" => "rabbitmq")
            .increment(1);
        }
        match failure.or(unsendable) {
            Some(error) => Err(BatchFailure { accepted, error }),
            None => Ok(()),
        }
    }

    async fn subscribe(&self, consumer: Consumer) -> Result<()> {
        self.inner.consumers.subscribe(consumer, &self.inner.registry).await
    }

    async fn replay(&self, consumer: &str, dead_letter_id: Uuid) -> Result<()> {
        let consumer = self.inner.registry.get(consumer)?;
        delivery::replay(&consumer, dead_letter_id).await
    }

    fn provider(&self) -> &'static str {
        "rabbitmq"
    }

    async fn check(&self) -> Result<()> {
        self.inner.publisher.check()?;
        self.inner.consumers.check()
    }

    fn in_flight(&self) -> usize {
        self.inner.local.in_flight.count()
    }

    async fn wait_idle(&self, timeout: Duration) -> bool {
        self.inner.local.in_flight.wait_idle(timeout).await
    }

    async fn close(&self) {
        self.inner.closing.send_replace(true);
        self.inner.consumers.close().await;
        self.inner.publisher.close().await;
        self.inner.local.leave(self.inner.id);
    }
}
