//! Dual write, for moving a running shop from one provider to another (in-process to a broker):
//! every event is published to both, consumers are served by the primary, and an audit consumer on
//! each side counts what arrived, so an operator can see that both received the same events before
//! switching the primary.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use comptoir_kernel::{EventEnvelope, Result};
use comptoir_storage::Db;
use serde::Serialize;
use uuid::Uuid;

use crate::{Consumer, EventBus, EventHandler};

/// The audit consumer's name on both sides.
pub const AUDIT_CONSUMER: &str = "eventbus.dual-write-audit";

pub struct DualWriteBus {
    primary: Arc<dyn EventBus>,
    secondary: Arc<dyn EventBus>,
    counts: Arc<Counters>,
}

#[derive(Default)]
struct Counters {
    published: AtomicU64,
    received_primary: AtomicU64,
    received_secondary: AtomicU64,
}

/// What each side has seen since start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DualWriteCounts {
    pub primary: &'static str,
    pub secondary: &'static str,
    /// Events published to both.
    pub published: u64,
    pub received_by_primary: u64,
    pub received_by_secondary: u64,
}

struct Audit {
    counts: Arc<Counters>,
    primary: bool,
    provider: &'static str,
}

#[async_trait]
impl EventHandler for Audit {
    async fn handle(&self, _event: &EventEnvelope) -> Result<()> {
        let counter = if self.primary { &self.counts.received_primary } else { &self.counts.received_secondary };
        counter.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("comptoir_dual_write_received_total", "provider" => self.provider).increment(1);
        Ok(())
    }
}

impl DualWriteBus {
    /// Subscribes the audit consumers (their dead letters, should there be any, go to `audit_db`).
    pub async fn new(primary: Arc<dyn EventBus>, secondary: Arc<dyn EventBus>, audit_db: Db) -> Result<Self> {
        let counts = Arc::new(Counters::default());
        for (bus, is_primary) in [(&primary, true), (&secondary, false)] {
            let audit = Audit { counts: counts.clone(), primary: is_primary, provider: bus.provider() };
            bus.subscribe(Consumer::new(AUDIT_CONSUMER, &["#"], audit_db.clone(), Arc::new(audit))).await?;
        }
        Ok(DualWriteBus { primary, secondary, counts })
    }

    pub fn counts(&self) -> DualWriteCounts {
        DualWriteCounts {
            primary: self.primary.provider(),
            secondary: self.secondary.provider(),
            published: self.counts.published.load(Ordering::Relaxed),
            received_by_primary: self.counts.received_primary.load(Ordering::Relaxed),
            received_by_secondary: self.counts.received_secondary.load(Ordering::Relaxed),
        }
    }
}

#[async_trait]
impl EventBus for DualWriteBus {
    /// Publishes to the broker side first (the one that can be unreachable), then the in-process
    /// side. A failure on either fails the publish, so the outbox keeps the event and publishes it
    /// to both again: neither side misses an event, and an unreachable broker causes no duplicate
    /// on the other side (a duplicate would have no effect anyway: consumers are idempotent).
    async fn publish(&self, event: &EventEnvelope) -> Result<()> {
        let (first, second) = if self.primary.provider() == "memory" {
            (&self.secondary, &self.primary)
        } else {
            (&self.primary, &self.secondary)
        };
        first.publish(event).await?;
        second.publish(event).await?;
        if !crate::is_broadcast(&event.event_type) {
            self.counts.published.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("comptoir_dual_write_published_total").increment(1);
        }
        Ok(())
    }

    async fn subscribe(&self, consumer: Consumer) -> Result<()> {
        self.primary.subscribe(consumer).await
    }

    async fn replay(&self, consumer: &str, dead_letter_id: Uuid) -> Result<()> {
        self.primary.replay(consumer, dead_letter_id).await
    }

    fn provider(&self) -> &'static str {
        "dual-write"
    }

    async fn check(&self) -> Result<()> {
        self.primary.check().await?;
        self.secondary.check().await
    }

    fn in_flight(&self) -> usize {
        self.primary.in_flight() + self.secondary.in_flight()
    }

    async fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        self.primary.wait_idle(timeout).await
            && self.secondary.wait_idle(deadline.saturating_duration_since(tokio::time::Instant::now())).await
    }

    async fn close(&self) {
        self.primary.close().await;
        self.secondary.close().await;
    }
}
