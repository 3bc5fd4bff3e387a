//! What every provider does with one delivery: run the consumer's handler, count it, and decide
//! between done, retry later and dead letter. Providers only map the outcome onto their broker
//! (ack, delayed redelivery, dead-letter exchange/stream/topic), so retries, dead letters, replay
//! and metrics behave the same on all of them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use comptoir_kernel::{Error, EventEnvelope, Result};
use comptoir_storage::dead_letters;
use tokio::sync::Notify;
use tracing::Instrument;
use uuid::Uuid;

use crate::{Consumer, RetryPolicy, pattern};

/// What became of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Handled (or already handled before): acknowledge.
    Handled,
    /// Failed; deliver again after this wait as attempt `attempt + 1`.
    Retry(Duration),
    /// Failed for the last time and filed in the consumer's dead-letter store: acknowledge, and
    /// move the message to the broker's dead-letter destination with this reason.
    DeadLettered { reason: String },
}

/// Runs `consumer`'s handler on the `attempt`-th delivery (1-based) of `event`.
pub async fn deliver(consumer: &Consumer, event: &EventEnvelope, attempt: u32, retry: &RetryPolicy) -> Outcome {
    let Err(error) = run_handler(consumer, event).await else {
        return Outcome::Handled;
    };
    if let Some(delay) = retry.delay_after(attempt.max(1)) {
        tracing::warn!(consumer = %consumer.name, event_id = %event.id, event_type = %event.event_type,
            correlation_id = %event.correlation_id, attempt, retry_in = ?delay, error = %error,
            "event handling failed; will retry");
        metrics::counter!("comptoir_event_retries_total", "consumer" => consumer.name.clone()).increment(1);
        return Outcome::Retry(delay);
    }
    let reason = error.to_string();
    if let Err(store_error) = dead_letters::insert(&consumer.db, &consumer.name, event, &reason, attempt as i64).await {
        // Not filed: keep the message on the broker and try again rather than lose it.
        tracing::error!(consumer = %consumer.name, event_id = %event.id, error = %store_error,
            "could not store the dead letter; the event stays on the bus");
        return Outcome::Retry(retry.delays.last().copied().unwrap_or(Duration::from_secs(1)));
    }
    tracing::error!(consumer = %consumer.name, event_id = %event.id, event_type = %event.event_type,
        correlation_id = %event.correlation_id, attempts = attempt, error = %reason,
        "event handling failed for the last time; dead-lettered");
    metrics::counter!("comptoir_events_dead_lettered_total", "consumer" => consumer.name.clone()).increment(1);
    Outcome::DeadLettered { reason }
}

/// Runs a broadcast consumer's handler once: broadcasts are neither retried nor dead-lettered,
/// since they announce a state that the next broadcast (or a restart) brings again.
pub async fn deliver_broadcast(consumer: &Consumer, event: &EventEnvelope) {
    if let Err(error) = run_handler(consumer, event).await {
        tracing::warn!(consumer = %consumer.name, event_id = %event.id, event_type = %event.event_type,
            correlation_id = %event.correlation_id, error = %error,
            "broadcast handling failed; broadcasts are not retried");
    }
}

/// Runs the handler in a span of the emitter's trace, timing and counting it.
async fn run_handler(consumer: &Consumer, event: &EventEnvelope) -> Result<()> {
    let waited = (comptoir_kernel::time::now() - event.timestamp).to_std().unwrap_or_default();
    metrics::histogram!("comptoir_event_lag_seconds", "consumer" => consumer.name.clone()).record(waited.as_secs_f64());
    let span = tracing::info_span!("event.handle",
        otel.name = %format!("{} handle {}", consumer.name, event.event_type),
        otel.kind = "consumer",
        messaging.consumer.group.name = %consumer.name,
        // Consumers are named `<module>.<purpose>`: the handling is the module's load.
        module = consumer.name.split('.').next().unwrap_or_default(),
        messaging.message.id = %event.id,
        event_type = %event.event_type,
        correlation_id = %event.correlation_id,
        otel.status_code = tracing::field::Empty,
    );
    comptoir_telemetry::propagation::continue_from(&span, |name| match name {
        comptoir_telemetry::propagation::TRACEPARENT => event.traceparent.clone(),
        _ => None,
    });
    let started = std::time::Instant::now();
    let outcome = consumer.handler.handle(event).instrument(span.clone()).await;
    if outcome.is_err() {
        span.record("otel.status_code", "ERROR");
    }
    metrics::histogram!("comptoir_event_handling_seconds", "consumer" => consumer.name.clone())
        .record(started.elapsed().as_secs_f64());
    let label = if outcome.is_ok() { "ok" } else { "error" };
    metrics::counter!("comptoir_events_handled_total", "consumer" => consumer.name.clone(), "outcome" => label)
        .increment(1);
    outcome
}

/// Hands a dead-lettered event to its consumer again; on success the dead letter is removed.
pub async fn replay(consumer: &Consumer, dead_letter_id: Uuid) -> Result<()> {
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

/// The consumers subscribed in this process, by name.
#[derive(Clone, Default)]
pub struct Registry {
    consumers: Arc<Mutex<Vec<Consumer>>>,
}

impl Registry {
    /// Adds a consumer after checking its patterns and that its name is not taken.
    pub fn add(&self, consumer: Consumer) -> Result<()> {
        if let Some(bad) = consumer.patterns.iter().find(|p| !pattern::is_valid(p)) {
            return Err(Error::internal(format!("consumer {}: invalid pattern {bad:?}", consumer.name)));
        }
        let mut consumers = self.consumers.lock().expect("registry lock");
        if consumers.iter().any(|c| c.name == consumer.name) {
            return Err(Error::internal(format!("consumer {} is already subscribed", consumer.name)));
        }
        consumers.push(consumer);
        Ok(())
    }

    pub fn get(&self, name: &str) -> Result<Consumer> {
        let consumers = self.consumers.lock().expect("registry lock");
        consumers.iter().find(|c| c.name == name).cloned().ok_or_else(|| Error::not_found("consumer", name))
    }

    /// The names of the consumers whose patterns match `event_type`.
    pub fn matching(&self, event_type: &str) -> Vec<String> {
        let consumers = self.consumers.lock().expect("registry lock");
        consumers.iter().filter(|c| c.matches(event_type)).map(|c| c.name.clone()).collect()
    }

    pub fn all(&self) -> Vec<Consumer> {
        self.consumers.lock().expect("registry lock").clone()
    }
}

/// Deliveries to this process's own consumers that were published and not yet finished (handled
/// or dead-lettered). Exact when publisher and consumers share a process (the monolith, tests);
/// used to wait for the system to settle, not for correctness.
#[derive(Clone, Default)]
pub struct InFlight {
    pending: Arc<Mutex<HashMap<(String, Uuid), usize>>>,
    idle: Arc<Notify>,
}

impl InFlight {
    /// Counts one delivery of `event` to each consumer in `consumers`.
    pub fn expect(&self, consumers: &[String], event: Uuid) {
        let mut pending = self.pending.lock().expect("in-flight lock");
        for consumer in consumers {
            *pending.entry((consumer.clone(), event)).or_default() += 1;
        }
    }

    /// One delivery of `event` to `consumer` is finished. Redeliveries (after a broker restart,
    /// say) may finish more often than they were expected; the count never goes below zero.
    pub fn finish(&self, consumer: &str, event: Uuid) {
        let mut pending = self.pending.lock().expect("in-flight lock");
        let key = (consumer.to_string(), event);
        if let Some(count) = pending.get_mut(&key) {
            *count -= 1;
            if *count == 0 {
                pending.remove(&key);
            }
        }
        if pending.is_empty() {
            self.idle.notify_waiters();
        }
    }

    pub fn count(&self) -> usize {
        self.pending.lock().expect("in-flight lock").values().sum()
    }

    /// Waits until nothing is in flight or `timeout` passes; returns whether it became idle.
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, async {
            loop {
                let notified = self.idle.notified();
                if self.count() == 0 {
                    return;
                }
                // Also re-check now and then: a finish may race with registering the waiter.
                let _ = tokio::time::timeout(Duration::from_millis(50), notified).await;
            }
        })
        .await
        .is_ok()
    }
}
