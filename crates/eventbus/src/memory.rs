//! The in-process provider: each consumer has its own queue and task, so a slow consumer never
//! holds up another. Retries wait on timers of their own, so a failing event does not block the
//! events behind it.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use comptoir_kernel::{Error, EventEnvelope, Result};
use comptoir_storage::dead_letters;
use tokio::sync::{Notify, RwLock, mpsc};
use uuid::Uuid;

use crate::{Consumer, EventBus, RetryPolicy, pattern};

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
    /// Deliveries handed to consumers and not yet finished (handled or dead-lettered).
    in_flight: AtomicI64,
    idle: Notify,
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
                in_flight: AtomicI64::new(0),
                idle: Notify::new(),
            }),
        }
    }

    /// Deliveries not yet finished, retries included.
    pub fn in_flight(&self) -> i64 {
        self.shared.in_flight.load(Ordering::SeqCst)
    }

    /// Waits until every delivery so far has been handled or dead-lettered, or `timeout` passes.
    /// Returns whether the bus became idle.
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, async {
            loop {
                let notified = self.shared.idle.notified();
                if self.in_flight() == 0 {
                    return;
                }
                notified.await;
            }
        })
        .await
        .is_ok()
    }
}

impl Shared {
    fn finish_delivery(&self) {
        if self.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle.notify_waiters();
        }
    }
}

#[async_trait]
impl EventBus for MemoryBus {
    async fn publish(&self, event: &EventEnvelope) -> Result<()> {
        let subscriptions = self.shared.subscriptions.read().await;
        for sub in subscriptions.iter() {
            if sub.consumer.patterns.iter().any(|p| pattern::matches(p, &event.event_type)) {
                self.shared.in_flight.fetch_add(1, Ordering::SeqCst);
                if sub.queue.send(Delivery { event: event.clone(), attempt: 1 }).is_err() {
                    self.shared.finish_delivery();
                    return Err(Error::unavailable(format!("consumer {} has stopped", sub.consumer.name)));
                }
            }
        }
        metrics::counter!("comptoir_events_published_total", "type" => event.event_type.clone()).increment(1);
        Ok(())
    }

    async fn subscribe(&self, consumer: Consumer) -> Result<()> {
        if let Some(bad) = consumer.patterns.iter().find(|p| !pattern::is_valid(p)) {
            return Err(Error::internal(format!("consumer {}: invalid pattern {bad:?}", consumer.name)));
        }
        let mut subscriptions = self.shared.subscriptions.write().await;
        if subscriptions.iter().any(|s| s.consumer.name == consumer.name) {
            return Err(Error::internal(format!("consumer {} is already subscribed", consumer.name)));
        }
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
        let letter = dead_letters::get(&consumer.db, dead_letter_id)
            .await?
            .ok_or_else(|| Error::not_found("dead letter", dead_letter_id))?;
        consumer
            .handler
            .handle(&letter.event)
            .await
            .map_err(|e| Error::conflict("replay-failed", format!("the consumer failed again: {e}")))?;
        dead_letters::delete(&consumer.db, dead_letter_id).await?;
        tracing::info!(consumer = %consumer.name, event_id = %letter.event.id, "dead letter replayed");
        Ok(())
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
    let event = &delivery.event;
    let started = std::time::Instant::now();
    let outcome = consumer.handler.handle(event).await;
    metrics::histogram!("comptoir_event_handling_seconds", "consumer" => consumer.name.clone())
        .record(started.elapsed().as_secs_f64());
    let error = match outcome {
        Ok(()) => {
            metrics::counter!("comptoir_events_handled_total", "consumer" => consumer.name.clone(), "outcome" => "ok")
                .increment(1);
            shared.finish_delivery();
            return;
        }
        Err(e) => e,
    };
    metrics::counter!("comptoir_events_handled_total", "consumer" => consumer.name.clone(), "outcome" => "error")
        .increment(1);
    match shared.retry.delay_after(delivery.attempt) {
        Some(delay) => {
            tracing::warn!(consumer = %consumer.name, event_id = %event.id, event_type = %event.event_type,
                correlation_id = %event.correlation_id, attempt = delivery.attempt, retry_in = ?delay,
                error = %error, "event handling failed; will retry");
            metrics::counter!("comptoir_event_retries_total", "consumer" => consumer.name.clone()).increment(1);
            let queue = retry_queue.clone();
            let shared = shared.clone();
            let next = Delivery { event: delivery.event, attempt: delivery.attempt + 1 };
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                if queue.send(next).is_err() {
                    shared.finish_delivery();
                }
            });
        }
        None => {
            tracing::error!(consumer = %consumer.name, event_id = %event.id, event_type = %event.event_type,
                correlation_id = %event.correlation_id, attempts = delivery.attempt, error = %error,
                "event handling failed for the last time; dead-lettered");
            metrics::counter!("comptoir_events_dead_lettered_total", "consumer" => consumer.name.clone()).increment(1);
            if let Err(store_error) =
                dead_letters::insert(&consumer.db, &consumer.name, event, &error.to_string(), delivery.attempt as i64)
                    .await
            {
                tracing::error!(consumer = %consumer.name, event_id = %event.id, error = %store_error,
                    "could not store the dead letter");
            }
            shared.finish_delivery();
        }
    }
}
