//! The event bus.
//!
//! Modules write events to their outbox inside their own transactions; an [`OutboxRelay`] per
//! module database publishes them to the bus after commit. Consumers subscribe with AMQP-style
//! topic patterns (`*` one word, `#` zero or more) and handle each event idempotently (an inbox
//! claim in the consumer's own transaction). A failed handling is retried with backoff, then
//! dead-lettered into the consumer's module database, from where it can be listed and replayed.
//!
//! Providers implement [`EventBus`]; [`MemoryBus`] is the in-process default.

mod consumer;
mod dead_letter_office;
mod memory;
pub mod pattern;
mod relay;

use std::sync::Arc;

use async_trait::async_trait;
use comptoir_kernel::{EventEnvelope, Result};
use comptoir_storage::Db;

pub use consumer::RetryPolicy;
pub use dead_letter_office::{DeadLetterOffice, Filed};
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
}

impl Consumer {
    pub fn new(name: impl Into<String>, patterns: &[&str], db: Db, handler: Arc<dyn EventHandler>) -> Self {
        Consumer { name: name.into(), patterns: patterns.iter().map(|p| p.to_string()).collect(), handler, db }
    }
}

#[async_trait]
pub trait EventBus: Send + Sync {
    /// Hands an event to every consumer whose patterns match its type.
    async fn publish(&self, event: &EventEnvelope) -> Result<()>;
    /// Registers a consumer; events published afterwards reach it.
    async fn subscribe(&self, consumer: Consumer) -> Result<()>;
    /// Delivers a dead-lettered event to its consumer again; on success the dead letter is removed.
    async fn replay(&self, consumer: &str, dead_letter_id: uuid::Uuid) -> Result<()>;
    /// The provider's name, for `/readyz` and logs.
    fn provider(&self) -> &'static str;
}
