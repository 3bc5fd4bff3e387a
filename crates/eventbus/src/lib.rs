//! The event bus.
//!
//! Modules write events to their outbox inside their own transactions; an [`OutboxRelay`] per
//! module database publishes them to the bus after commit. Consumers subscribe with AMQP-style
//! topic patterns (`*` one word, `#` zero or more) and handle each event idempotently (an inbox
//! claim in the consumer's own transaction). A failed handling is retried with backoff, then
//! dead-lettered into the consumer's module database, from where it can be listed and replayed.
//!
//! Providers implement [`EventBus`]; [`MemoryBus`] is the in-process default, the broker providers
//! live in crates of their own (`comptoir-eventbus-rabbitmq`, `-nats`, `-kafka`) and share
//! [`delivery`] (handling, retries, dead letters) and [`cloudevents`] (the wire format).
//! [`DualWriteBus`] publishes to two providers at once while a deployment moves to a broker.
//!
//! Events whose type starts with `system.` (`system.instance.stopping`, `system.config.updated`)
//! are broadcasts: every running instance's broadcast consumers receive them, once per instance.

pub mod cloudevents;
mod consumer;
mod dead_letter_office;
pub mod delivery;
mod dual;
mod memory;
pub mod pattern;
mod relay;

#[cfg(feature = "contract")]
pub mod contract;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use comptoir_kernel::{EventEnvelope, Result};
use comptoir_storage::Db;

pub use consumer::RetryPolicy;
pub use dead_letter_office::{DeadLetterOffice, DeadLetterSource, Filed, LocalDeadLetters, ModuleOutbox};
pub use dual::{AUDIT_CONSUMER, DualWriteBus, DualWriteCounts};
pub use memory::{DEFAULT_PREFETCH, MemoryBus};
pub use relay::OutboxRelay;

/// Reacts to events. Implementations claim the event in their inbox within the same transaction
/// as their effect, so a redelivered event has no second effect.
#[async_trait]
pub trait EventHandler: Send + Sync {
    async fn handle(&self, event: &EventEnvelope) -> Result<()>;
}

/// A named, durable subscription: `<module>.<purpose>` (`inventory.catalog-skus`).
#[derive(Clone)]
pub struct Consumer {
    pub name: String,
    pub patterns: Vec<String>,
    pub handler: Arc<dyn EventHandler>,
    /// The consumer's module database, where its dead letters are kept.
    pub db: Db,
    /// A broadcast consumer receives every `system.*` event once per running instance, on a
    /// queue of its own that lives as long as the instance; no retries, no dead letters.
    pub broadcast: bool,
}

/// The domain of broadcast events.
pub const SYSTEM_PREFIX: &str = "system.";

impl Consumer {
    pub fn new(name: impl Into<String>, patterns: &[&str], db: Db, handler: Arc<dyn EventHandler>) -> Self {
        Consumer {
            name: name.into(),
            patterns: patterns.iter().map(|p| p.to_string()).collect(),
            handler,
            db,
            broadcast: false,
        }
    }

    /// A consumer of every `system.*` broadcast, once per instance.
    pub fn broadcast(name: impl Into<String>, db: Db, handler: Arc<dyn EventHandler>) -> Self {
        Consumer { broadcast: true, ..Consumer::new(name, &["system.#"], db, handler) }
    }

    /// Whether this consumer receives events of `event_type`.
    pub fn matches(&self, event_type: &str) -> bool {
        self.broadcast == is_broadcast(event_type) && self.patterns.iter().any(|p| pattern::matches(p, event_type))
    }
}

/// Whether events of this type are broadcasts to every instance (`system.*`).
pub fn is_broadcast(event_type: &str) -> bool {
    event_type.starts_with(SYSTEM_PREFIX)
}

/// A batch publish that stopped: the first `accepted` events were taken, the rest were not.
#[derive(Debug)]
pub struct BatchFailure {
    pub accepted: usize,
    pub error: comptoir_kernel::Error,
}

#[async_trait]
pub trait EventBus: Send + Sync {
    /// Hands an event to every consumer whose patterns match its type. Returns once the bus has
    /// taken responsibility for it (a broker's publisher confirm).
    async fn publish(&self, event: &EventEnvelope) -> Result<()>;
    /// Publishes events in order. On failure, says how many leading events were accepted; the
    /// rest are published again later (consumers are idempotent). Brokers override this to have
    /// many publishes awaiting confirmation at once.
    async fn publish_batch(&self, events: &[EventEnvelope]) -> std::result::Result<(), BatchFailure> {
        for (accepted, event) in events.iter().enumerate() {
            self.publish(event).await.map_err(|error| BatchFailure { accepted, error })?;
        }
        Ok(())
    }
    /// Registers a consumer; events published afterwards reach it.
    async fn subscribe(&self, consumer: Consumer) -> Result<()>;
    /// Delivers a dead-lettered event to its consumer again; on success the dead letter is removed.
    async fn replay(&self, consumer: &str, dead_letter_id: uuid::Uuid) -> Result<()>;
    /// The provider's name, for `/readyz` and logs.
    fn provider(&self) -> &'static str;
    /// Whether the broker can be reached, for `/readyz`; the error says why not.
    async fn check(&self) -> Result<()> {
        Ok(())
    }
    /// Deliveries published from this process to its own consumers and not yet finished.
    fn in_flight(&self) -> usize;
    /// Waits until [`EventBus::in_flight`] is zero or `timeout` passes; returns whether it is.
    async fn wait_idle(&self, timeout: Duration) -> bool;
    /// Stops consuming at shutdown: deliveries in progress finish, the rest stay on the broker.
    async fn close(&self) {}
}
