//! The in-process provider: each consumer has its own queue and task, so a slow consumer never
//! holds up another. Retries wait on timers of their own, so a failing event does not block the
//! events behind it.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use comptoir_kernel::{Error, EventEnvelope, Result};
use tokio::sync::{RwLock, mpsc};
use uuid::Uuid;

use crate::delivery::{self, InFlight, Outcome, Registry};
use crate::{Consumer, EventBus, RetryPolicy};

/// Deliveries a consumer handles at once unless told otherwise (RabbitMQ's usual prefetch).
pub const DEFAULT_PREFETCH: usize = 10;

struct Delivery {
    event: EventEnvelope,
    attempt: u32,
}

struct Subscription {
    consumer: Consumer,
    queue: mpsc::UnboundedSender<Delivery>,
}

struct Shared {
    subscriptions: RwLock<Vec<Subscription>>,
    retry: RetryPolicy,
    prefetch: usize,
    in_flight: InFlight,
}

#[derive(Clone)]
pub struct MemoryBus {
    shared: Arc<Shared>,
}

impl MemoryBus {
    /// Each consumer handles up to [`DEFAULT_PREFETCH`] events at once.
    pub fn new(retry: RetryPolicy) -> Self {
        Self::with_prefetch(retry, DEFAULT_PREFETCH)
    }

    pub fn with_prefetch(retry: RetryPolicy, prefetch: usize) -> Self {
        MemoryBus {
            shared: Arc::new(Shared {
                subscriptions: RwLock::new(Vec::new()),
                retry,
                prefetch: prefetch.max(1),
                in_flight: InFlight::default(),
            }),
        }
    }
}

#[async_trait]
impl EventBus for MemoryBus {
    async fn publish(&self, event: &EventEnvelope) -> Result<()> {
        let subscriptions = self.shared.subscriptions.read().await;
        for sub in subscriptions.iter().filter(|s| s.consumer.matches(&event.event_type)) {
            let name = &sub.consumer.name;
            self.shared.in_flight.expect(std::slice::from_ref(name), event.id);
            if sub.queue.send(Delivery { event: event.clone(), attempt: 1 }).is_err() {
                self.shared.in_flight.finish(name, event.id);
                return Err(Error::unavailable(format!("consumer {name} has stopped")));
            }
        }
        metrics::counter!("comptoir_events_published_total", "type" => event.event_type.clone()).increment(1);
        Ok(())
    }

    async fn subscribe(&self, consumer: Consumer) -> Result<()> {
        let mut subscriptions = self.shared.subscriptions.write().await;
        let registry = Registry::default();
        for existing in subscriptions.iter() {
            registry.add(existing.consumer.clone())?;
        }
        registry.add(consumer.clone())?;
        let (queue, mut deliveries) = mpsc::unbounded_channel::<Delivery>();
        let shared = self.shared.clone();
        let retry_queue = queue.clone();
        let worker = consumer.clone();
        // Up to `prefetch` deliveries of this consumer are handled at once, as a broker's prefetch
        // would allow: a handler waiting for its database does not hold up the events behind it.
        // Handlers are idempotent and must not rely on the order of events.
        let slots = Arc::new(tokio::sync::Semaphore::new(self.shared.prefetch));
        tokio::spawn(async move {
            while let Some(delivery) = deliveries.recv().await {
                let Ok(slot) = slots.clone().acquire_owned().await else { break };
                let (shared, worker, retry_queue) = (shared.clone(), worker.clone(), retry_queue.clone());
                tokio::spawn(async move {
                    handle(&shared, &worker, &retry_queue, delivery).await;
                    drop(slot);
                });
            }
        });
        subscriptions.push(Subscription { consumer, queue });
        Ok(())
    }

    async fn replay(&self, consumer: &str, dead_letter_id: Uuid) -> Result<()> {
        let consumer = {
            let subscriptions = self.shared.subscriptions.read().await;
            subscriptions
                .iter()
                .find(|s| s.consumer.name == consumer)
                .map(|s| s.consumer.clone())
                .ok_or_else(|| Error::not_found("consumer", consumer))?
        };
        delivery::replay(&consumer, dead_letter_id).await
    }

    fn in_flight(&self) -> usize {
        self.shared.in_flight.count()
    }

    async fn wait_idle(&self, timeout: Duration) -> bool {
        self.shared.in_flight.wait_idle(timeout).await
    }

    fn provider(&self) -> &'static str {
        "memory"
    }
}

async fn handle(
    shared: &Arc<Shared>,
    consumer: &Consumer,
    retry_queue: &mpsc::UnboundedSender<Delivery>,
    delivery: Delivery,
) {
    let event_id = delivery.event.id;
    match delivery::deliver(consumer, &delivery.event, delivery.attempt, &shared.retry).await {
        Outcome::Handled | Outcome::DeadLettered { .. } => shared.in_flight.finish(&consumer.name, event_id),
        Outcome::Retry(delay) => {
            let queue = retry_queue.clone();
            let shared = shared.clone();
            let name = consumer.name.clone();
            let next = Delivery { event: delivery.event, attempt: delivery.attempt + 1 };
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                if queue.send(next).is_err() {
                    shared.in_flight.finish(&name, event_id);
                }
            });
        }
    }
}
