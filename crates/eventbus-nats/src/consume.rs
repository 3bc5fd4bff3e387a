//! The consumer loops: a durable pull consumer per domain consumer, a core subscription per
//! broadcast consumer, each handling up to `prefetch` deliveries at once.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull};
use async_nats::jetstream::context::ConsumerInfoErrorKind;
use async_nats::jetstream::stream::ConsumerErrorKind;
use async_nats::jetstream::{self, AckKind};
use async_nats::{HeaderMap, Subscriber};
use comptoir_eventbus::delivery::{self, Outcome};
use comptoir_eventbus::{Consumer, cloudevents};
use comptoir_kernel::{Error, EventEnvelope, Result};
use futures::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::{
    DEAD_LETTER_ATTEMPTS, DEAD_LETTER_CONSUMER, DEAD_LETTER_REASON, DEAD_LETTER_SUBJECT, PROVIDER, Shared, naming,
};

/// Unacknowledged deliveries come back after this long; handlers that run longer keep their
/// deliveries with progress acknowledgements.
const ACK_WAIT: Duration = Duration::from_secs(30);
/// How long one pull request waits on the server for messages.
const PULL_EXPIRES: Duration = Duration::from_secs(5);
/// Backoff between attempts to re-create a consumer's pull subscription.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Creates `consumer`'s durable consumer, or updates it to the current settings.
pub(crate) async fn ensure_consumer(shared: &Shared, consumer: &Consumer) -> Result<PullConsumer> {
    let namespace = &shared.config.namespace;
    let url = &shared.config.url;
    let stream_name = naming::events_stream(namespace);
    let durable = naming::durable_name(namespace, &consumer.name);
    let failed = |what: &str, e: &dyn std::fmt::Display| {
        Error::unavailable(format!("NATS at {url}: cannot {what} consumer {durable} on {stream_name}: {e}"))
    };
    let stream =
        shared.jetstream.get_stream_no_info(&stream_name).await.map_err(|e| failed("find the stream of", &e))?;
    let mut config = pull::Config {
        durable_name: Some(durable.clone()),
        description: Some(format!("Comptoir consumer {} of {}", consumer.name, consumer.patterns.join(", "))),
        // A new consumer starts with the events published from now on, as a new queue would.
        deliver_policy: DeliverPolicy::New,
        ack_policy: AckPolicy::Explicit,
        ack_wait: ACK_WAIT,
        filter_subject: naming::filter_subject(namespace, &consumer.patterns),
        max_ack_pending: shared.config.prefetch as i64,
        ..Default::default()
    };
    let bridge = format!("{durable}__bridge");
    match stream.consumer_info(&durable).await {
        Ok(existing) if existing.config.filter_subject != config.filter_subject => {
            // nats-server 2.9 cannot change a consumer's filter: replace the consumer, starting
            // where the old one had acknowledged everything (handlers are idempotent). Deleting
            // it would let the interest-retention stream drop the events only it still held, so
            // a bridge consumer with the new filter holds them meanwhile.
            let start_sequence = existing.ack_floor.stream_sequence + 1;
            tracing::warn!(consumer = %consumer.name, durable = %durable, old = %existing.config.filter_subject,
                new = %config.filter_subject, start_sequence, "the consumer's patterns changed; re-creating it");
            config.deliver_policy = DeliverPolicy::ByStartSequence { start_sequence };
            let bridge_config = pull::Config {
                durable_name: Some(bridge.clone()),
                description: Some(format!("Holds {durable}'s events while it is re-created")),
                ..config.clone()
            };
            delete_bridge(&stream, &bridge).await;
            stream.create_consumer(bridge_config).await.map_err(|e| failed("bridge", &e))?;
            stream.delete_consumer(&durable).await.map_err(|e| failed("replace", &e))?;
        }
        // Where a consumer starts cannot be changed, only read.
        Ok(existing) => config.deliver_policy = existing.config.deliver_policy,
        Err(e) if e.kind() == ConsumerInfoErrorKind::NotFound => {
            // A re-creation interrupted after the old consumer was deleted: start where its bridge does.
            if let Ok(interrupted) = stream.consumer_info(&bridge).await {
                config.deliver_policy = interrupted.config.deliver_policy;
            }
        }
        Err(e) => return Err(failed("read", &e)),
    }
    let created = stream.create_consumer(config).await.map_err(|e| failed("create", &e))?;
    // The bridge of a re-creation (or of one interrupted earlier) is no longer needed.
    delete_bridge(&stream, &bridge).await;
    Ok(created)
}

async fn delete_bridge(stream: &jetstream::stream::Stream<()>, bridge: &str) {
    if let Err(e) = stream.delete_consumer(bridge).await
        && !matches!(e.kind(), ConsumerErrorKind::JetStream(ref js_error)
            if js_error.error_code() == jetstream::ErrorCode::CONSUMER_NOT_FOUND)
    {
        tracing::warn!(durable = %bridge, error = %e, "could not delete a bridge consumer");
    }
}

/// Tells apart the first failure of an outage (logged as a warning) from the following ones.
struct Outage<'a> {
    consumer: &'a str,
    failures: u32,
}

impl Outage<'_> {
    fn failed(&mut self, error: &dyn std::fmt::Display) -> Duration {
        self.failures += 1;
        if self.failures == 1 {
            tracing::warn!(consumer = self.consumer, provider = PROVIDER, error = %error,
                "consumer lost its subscription; re-creating it with backoff");
        } else {
            tracing::debug!(consumer = self.consumer, error = %error, failures = self.failures, "still re-creating");
        }
        FIRST_BACKOFF.saturating_mul(2u32.saturating_pow(self.failures.min(10) - 1)).min(MAX_BACKOFF)
    }

    fn recovered(&mut self) {
        if self.failures > 0 {
            tracing::info!(consumer = self.consumer, provider = PROVIDER, "consumer resumed");
            self.failures = 0;
        }
    }
}

/// Runs `consumer` until the bus closes, handling up to `prefetch` deliveries at once (as many as
/// its durable consumer's `max_ack_pending` lets JetStream hand out).
///
/// The pull loop: an inbox subscription, one pull request for `prefetch` messages at a time, sent
/// again when it is fulfilled or has expired; each message goes to a task of its own as soon as a
/// slot is free. After a failure the consumer is looked up again and the inbox renewed, with
/// backoff while failures repeat; when the connection comes back the request is sent again (a
/// restarted server has forgotten it).
///
/// Hand-made rather than async-nats' `messages()` stream or `batch()`: against nats-server 2.9
/// under load, the stream now and then stopped receiving until its missed-heartbeat check
/// restarted it seconds later, and `batch()` subscribes a new inbox for every request, which
/// halved the throughput.
pub(crate) async fn deliveries(shared: Arc<Shared>, consumer: Consumer, durable: PullConsumer) {
    let prefetch = shared.config.prefetch;
    let slots = Arc::new(Semaphore::new(prefetch));
    let mut outage = Outage { consumer: &consumer.name, failures: 0 };
    let mut closing = shared.closing.subscribe();
    let mut connections = shared.connections.subscribe();
    let mut durable = Some(durable);
    'subscription: loop {
        let current = match durable.take() {
            Some(current) => Ok(current),
            None => ensure_consumer(&shared, &consumer).await,
        };
        let inbox = async_nats::Subject::from(shared.client.new_inbox());
        let subscribed = match current {
            Ok(current) => shared
                .client
                .subscribe(inbox.clone())
                .await
                .map(|messages| (current, messages))
                .map_err(|e| Error::unavailable(e.to_string())),
            Err(e) => Err(e),
        };
        let failure = match subscribed {
            Err(e) => e.to_string(),
            Ok((current, mut inbox_messages)) => 'requests: loop {
                connections.mark_unchanged();
                let request = pull::BatchConfig { batch: prefetch, expires: Some(PULL_EXPIRES), ..Default::default() };
                if let Err(e) = current.request_batch(request, inbox.clone()).await {
                    break e.to_string();
                }
                // Should the server's answer to an expired request be lost, ask again anyway.
                let overdue = tokio::time::sleep(PULL_EXPIRES + Duration::from_secs(2));
                tokio::pin!(overdue);
                let mut outstanding = prefetch;
                while outstanding > 0 {
                    let slot = tokio::select! {
                        _ = closing.wait_for(|closing| *closing) => break 'subscription,
                        slot = slots.clone().acquire_owned() => slot.expect("the slots are never closed"),
                    };
                    let message = tokio::select! {
                        _ = closing.wait_for(|closing| *closing) => break 'subscription,
                        _ = connections.changed() => continue 'requests,
                        _ = &mut overdue => continue 'requests,
                        message = inbox_messages.next() => message,
                    };
                    let Some(message) = message else { break 'requests "the inbox subscription ended".to_string() };
                    match message.status {
                        None | Some(async_nats::StatusCode::OK) => {
                            outstanding -= 1;
                            outage.recovered();
                            let message = jetstream::Message { message, context: shared.jetstream.clone() };
                            tokio::spawn(handle(shared.clone(), consumer.clone(), message, slot));
                        }
                        Some(async_nats::StatusCode::IDLE_HEARTBEAT) => {}
                        // The request expired with fewer messages than asked for.
                        Some(async_nats::StatusCode::TIMEOUT) => continue 'requests,
                        Some(status) => {
                            break 'requests format!(
                                "pull request refused: {status} {}",
                                message.description.as_deref().unwrap_or_default()
                            );
                        }
                    }
                }
            },
        };
        let backoff = outage.failed(&failure);
        tokio::select! {
            _ = closing.wait_for(|closing| *closing) => break 'subscription,
            _ = tokio::time::sleep(backoff) => {}
        }
    }
    // Deliveries in progress finish before the bus reports itself closed.
    let _ = slots.acquire_many(prefetch as u32).await;
}

/// One delivery: decode, skip what the patterns do not match, handle, then acknowledge, retry
/// later, or dead-letter.
async fn handle(shared: Arc<Shared>, consumer: Consumer, message: jetstream::Message, _slot: OwnedSemaphorePermit) {
    let attempt = match message.info() {
        Ok(info) => u32::try_from(info.delivered).unwrap_or(u32::MAX).max(1),
        Err(e) => {
            tracing::warn!(consumer = %consumer.name, subject = %message.subject, error = %e,
                "a delivery without JetStream metadata; ignored");
            return;
        }
    };
    let event = match decode(message.headers.as_ref(), &message.payload) {
        Ok(event) => event,
        Err(e) => {
            malformed(&consumer, &message.subject, &e);
            acknowledge(&consumer, &message, AckKind::Term).await;
            return;
        }
    };
    if !consumer.matches(&event.event_type) {
        // Taken by the broader filter only (see `naming::filter_subject`).
        acknowledge(&consumer, &message, AckKind::Ack).await;
        return;
    }
    let outcome = with_progress(&message, delivery::deliver(&consumer, &event, attempt, &shared.config.retry)).await;
    match outcome {
        Outcome::Handled => {
            acknowledge(&consumer, &message, AckKind::Ack).await;
            shared.in_flight.finish(&consumer.name, event.id);
        }
        Outcome::Retry(delay) => acknowledge(&consumer, &message, AckKind::Nak(Some(delay))).await,
        Outcome::DeadLettered { reason } => {
            copy_to_dead_letters(&shared, &consumer, &event, &message, attempt, &reason).await;
            acknowledge(&consumer, &message, AckKind::Ack).await;
            shared.in_flight.finish(&consumer.name, event.id);
        }
    }
}

/// Runs `work`, telling JetStream now and then that the delivery is still being handled, so a
/// slow handler does not get its delivery sent again.
async fn with_progress<F: Future>(message: &jetstream::Message, work: F) -> F::Output {
    tokio::pin!(work);
    let every = ACK_WAIT / 3;
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            output = &mut work => return output,
            _ = ticks.tick() => {
                let _ = message.ack_with(AckKind::Progress).await;
            }
        }
    }
}

async fn acknowledge(consumer: &Consumer, message: &jetstream::Message, kind: AckKind) {
    if let Err(e) = message.ack_with(kind).await {
        // JetStream delivers it again after the ack wait; handlers are idempotent.
        tracing::warn!(consumer = %consumer.name, subject = %message.subject, error = %e, ack = ?kind,
            "could not acknowledge a delivery");
    }
}

/// Puts the message, with the reason and attempt count, on the dead-letter stream. The dead
/// letter is already filed in the consumer's database; this copy is for the broker's tools, so
/// after a few tries it is given up rather than holding the delivery.
async fn copy_to_dead_letters(
    shared: &Shared,
    consumer: &Consumer,
    event: &EventEnvelope,
    message: &jetstream::Message,
    attempts: u32,
    reason: &str,
) {
    let mut headers = message.headers.clone().unwrap_or_default();
    // One copy per consumer and event, even if this is tried again.
    headers.insert(async_nats::header::NATS_MESSAGE_ID, format!("{}:{}", event.id, consumer.name));
    headers.insert(DEAD_LETTER_REASON, header_value(reason));
    headers.insert(DEAD_LETTER_ATTEMPTS, attempts.to_string());
    headers.insert(DEAD_LETTER_CONSUMER, consumer.name.clone());
    headers.insert(DEAD_LETTER_SUBJECT, message.subject.to_string());
    let subject = naming::dead_letter_subject(&shared.config.namespace, &consumer.name);
    let mut wait = Duration::from_millis(200);
    for attempt in 1..=5 {
        let sent =
            shared.jetstream.publish_with_headers(subject.clone(), headers.clone(), message.payload.clone()).await;
        let stored = match sent {
            Ok(ack) => ack.await.map(|_| ()).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match stored {
            Ok(()) => return,
            Err(e) if attempt == 5 => {
                tracing::error!(consumer = %consumer.name, event_id = %event.id, correlation_id = %event.correlation_id,
                    error = %e, "could not copy the dead letter to the broker; it is kept in the consumer's database");
            }
            Err(_) => {
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
        }
    }
}

/// A header value on one line: NATS headers end at a line break.
fn header_value(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).take(2000).collect()
}

/// Runs a broadcast consumer until the bus closes. async-nats renews the subscription after a
/// reconnection by itself.
pub(crate) async fn broadcasts(shared: Arc<Shared>, consumer: Consumer, mut subscriber: Subscriber) {
    let prefetch = shared.config.prefetch;
    let slots = Arc::new(Semaphore::new(prefetch));
    let mut closing = shared.closing.subscribe();
    loop {
        let slot = tokio::select! {
            _ = closing.wait_for(|closing| *closing) => break,
            slot = slots.clone().acquire_owned() => slot.expect("the slots are never closed"),
        };
        let message = tokio::select! {
            _ = closing.wait_for(|closing| *closing) => break,
            message = subscriber.next() => message,
        };
        let Some(message) = message else { break };
        let (shared, consumer) = (shared.clone(), consumer.clone());
        tokio::spawn(async move {
            handle_broadcast(&shared, &consumer, message).await;
            drop(slot);
        });
    }
    let _ = subscriber.unsubscribe().await;
    let _ = slots.acquire_many(prefetch as u32).await;
}

/// Broadcasts are handled once, without retries or dead letters: they announce a state that the
/// next broadcast (or a restart) brings again.
async fn handle_broadcast(shared: &Shared, consumer: &Consumer, message: async_nats::Message) {
    let event = match decode(message.headers.as_ref(), &message.payload) {
        Ok(event) => event,
        Err(e) => return malformed(consumer, &message.subject, &e),
    };
    if !consumer.matches(&event.event_type) {
        return;
    }
    delivery::deliver_broadcast(consumer, &event).await;
    shared.in_flight.finish(&consumer.name, event.id);
}

fn decode(headers: Option<&HeaderMap>, body: &[u8]) -> Result<EventEnvelope> {
    cloudevents::decode(|name| headers.and_then(|h| h.get(name)).map(|v| v.as_str().to_string()), body)
}

fn malformed(consumer: &Consumer, subject: &str, error: &Error) {
    tracing::error!(consumer = %consumer.name, subject, error = %error, "malformed message dropped");
    metrics::counter!("comptoir_events_malformed_total", "consumer" => consumer.name.clone(), "provider" => PROVIDER)
        .increment(1);
}
