//! The NATS JetStream event bus provider (nats-server 2.9 and later).
//!
//! - Domain events are published to `<ns>events.<event type>` and stored in the file-backed stream
//!   `<NS>_COMPTOIR_EVENTS` (interest retention: a message stays until every durable consumer
//!   whose filter takes it has acknowledged it, or `stream_max_age` passes). `publish` returns
//!   once JetStream's PubAck says the message is stored; `publish_batch` sends the whole batch and
//!   then awaits the PubAcks together. The event id travels as `Nats-Msg-Id`, so a second publish
//!   of one event within `duplicate_window` (an outbox relay that stopped between the PubAck and
//!   marking the event published) is dropped by the server.
//! - Each consumer is one durable pull consumer named after it ([`naming::durable_name`]), shared by
//!   every instance, with `max_ack_pending` = prefetch. nats-server 2.9 takes one filter subject
//!   per consumer, so a consumer whose patterns have no exact single filter (several patterns,
//!   `#`) gets the narrowest filter covering them all ([`naming::filter_subject`]) and skips, with
//!   an acknowledgement, what its patterns do not match. One durable per pattern was the other
//!   choice: it would deliver an event matched by two patterns twice and split the consumer's
//!   prefetch and retry accounting.
//! - Attempt n of a delivery is JetStream's delivery count. A failed handling is negatively
//!   acknowledged with the retry policy's delay; after the last attempt the event is filed in the
//!   consumer's dead-letter store ([`comptoir_eventbus::delivery`]), copied with its headers, the
//!   reason and the attempt count to the stream `<NS>_COMPTOIR_DEAD` on `<ns>dead.<consumer>`,
//!   and acknowledged. A message waiting for its retry still counts against `max_ack_pending`
//!   (JetStream keeps it pending until redelivery), so at most `prefetch` messages of one consumer
//!   wait for a retry at a time.
//! - Broadcasts (`system.*`) go over core NATS on `<ns><event type>`: every running instance's
//!   broadcast consumers receive them, nothing is stored, retried or dead-lettered.
//! - async-nats reconnects by itself; consumer loops re-create their pull subscriptions with
//!   backoff, and publishing while disconnected fails at once so the outbox keeps the event.

pub mod naming;

mod consume;

use std::collections::HashMap;
use std::future::IntoFuture;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use async_nats::connection::State;
use async_nats::jetstream::{self, stream};
use async_nats::{HeaderMap, ServerAddr};
use async_trait::async_trait;
use comptoir_eventbus::delivery::{self, InFlight, Registry};
use comptoir_eventbus::{BatchFailure, Consumer, EventBus, RetryPolicy, cloudevents, is_broadcast, pattern};
use comptoir_kernel::{Error, EventEnvelope, Result};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// The provider's name in logs, metrics and `/readyz`.
pub const PROVIDER: &str = "nats";

/// Why the event was dead-lettered (the handler's last error), on the dead-letter copy.
pub const DEAD_LETTER_REASON: &str = "comptoir-dead-letter-reason";
/// How many deliveries were attempted, on the dead-letter copy.
pub const DEAD_LETTER_ATTEMPTS: &str = "comptoir-dead-letter-attempts";
/// The consumer that gave up, on the dead-letter copy.
pub const DEAD_LETTER_CONSUMER: &str = "comptoir-dead-letter-consumer";
/// The subject the event was first published on, on the dead-letter copy.
pub const DEAD_LETTER_SUBJECT: &str = "comptoir-dead-letter-subject";

/// How to reach NATS and how the bus uses JetStream.
#[derive(Debug, Clone)]
pub struct NatsConfig {
    /// The server, or several separated by commas (`nats://a:4222,nats://b:4222`).
    pub url: String,
    /// Prefixes every subject, stream and durable consumer, so that several deployments (or test
    /// runs) share one server; empty for none. Words of letters, digits, `-` and `_`, separated by dots.
    pub namespace: String,
    /// Deliveries a consumer handles at once; also its durable consumer's `max_ack_pending`.
    pub prefetch: usize,
    /// Waits before redeliveries; after the last, the event is dead-lettered.
    pub retry: RetryPolicy,
    /// How long a publish (and any JetStream API call) may wait for the server before failing, so
    /// the outbox keeps the event instead of hanging; also the connect timeout.
    pub publish_timeout: Duration,
    /// How long a stored event waits for consumers that have not acknowledged it (zero: forever).
    pub stream_max_age: Duration,
    /// How long dead-letter copies are kept on the broker (zero: forever).
    pub dead_letter_max_age: Duration,
    /// How long JetStream remembers event ids to drop a second publish of one event. Zero sends no
    /// `Nats-Msg-Id`, turning the de-duplication off.
    pub duplicate_window: Duration,
    /// Stream replicas in a JetStream cluster (1 on a single server).
    pub replicas: usize,
}

impl Default for NatsConfig {
    fn default() -> Self {
        NatsConfig {
            url: "nats://127.0.0.1:4222".to_string(),
            namespace: String::new(),
            prefetch: comptoir_eventbus::DEFAULT_PREFETCH,
            retry: RetryPolicy::default(),
            publish_timeout: Duration::from_secs(5),
            stream_max_age: Duration::from_secs(7 * 24 * 3600),
            dead_letter_max_age: Duration::from_secs(30 * 24 * 3600),
            duplicate_window: Duration::from_secs(120),
            replicas: 1,
        }
    }
}

/// The event bus on NATS JetStream. Clones share one connection.
#[derive(Clone)]
pub struct NatsBus {
    shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) config: NatsConfig,
    pub(crate) client: async_nats::Client,
    pub(crate) jetstream: jetstream::Context,
    pub(crate) registry: Registry,
    pub(crate) in_flight: InFlightLease,
    /// Turns true when the bus closes; consumer loops stop taking deliveries.
    pub(crate) closing: watch::Sender<bool>,
    /// Counts (re)connections, so consumer loops renew pull requests a restarted server forgot.
    pub(crate) connections: Arc<watch::Sender<u64>>,
    loops: Mutex<Vec<JoinHandle<()>>>,
}

impl NatsBus {
    /// Connects and makes sure the namespace's streams exist. Fails, saying which server, when
    /// NATS cannot be reached or has no JetStream.
    pub async fn connect(config: NatsConfig) -> Result<NatsBus> {
        if !naming::is_valid_namespace(&config.namespace) {
            return Err(Error::internal(format!(
                "NATS namespace {:?}: use words of letters, digits, '-' and '_' separated by dots",
                config.namespace
            )));
        }
        let config = NatsConfig { prefetch: config.prefetch.max(1), ..config };
        let servers = config
            .url
            .split(',')
            .map(|url| url.trim().parse::<ServerAddr>())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::internal(format!("NATS url {:?}: {e}", config.url)))?;
        let url = config.url.clone();
        let connections = Arc::new(watch::channel(0u64).0);
        let connected = connections.clone();
        let client = async_nats::ConnectOptions::new()
            .name("comptoir")
            .connection_timeout(config.publish_timeout)
            .request_timeout(Some(config.publish_timeout))
            .reconnect_delay_callback(reconnect_delay)
            .event_callback(move |event| {
                if matches!(event, async_nats::Event::Connected) {
                    connected.send_modify(|count| *count += 1);
                }
                let url = url.clone();
                async move { log_connection_event(&url, event) }
            })
            .connect(servers)
            .await
            .map_err(|e| {
                Error::unavailable(format!(
                    "cannot connect to the NATS server at {}: {e} (is nats-server running, with JetStream: -js?)",
                    config.url
                ))
            })?;
        let jetstream = jetstream::ContextBuilder::new()
            .timeout(config.publish_timeout)
            .backpressure_on_inflight(true)
            .build(client.clone());
        let namespace = &config.namespace;
        ensure_stream(&jetstream, &config.url, events_stream_config(&config)).await?;
        ensure_stream(
            &jetstream,
            &config.url,
            stream::Config {
                name: naming::dead_letter_stream(namespace),
                description: Some("Comptoir dead letters: events a consumer failed to handle".to_string()),
                subjects: vec![naming::dead_letter_subjects(namespace)],
                retention: stream::RetentionPolicy::Limits,
                storage: stream::StorageType::File,
                max_age: config.dead_letter_max_age,
                num_replicas: config.replicas,
                ..Default::default()
            },
        )
        .await?;
        tracing::info!(url = %config.url, namespace = %namespace, stream = %naming::events_stream(namespace),
            "event bus on NATS JetStream");
        let in_flight = InFlightLease::take(&config.url, namespace);
        Ok(NatsBus {
            shared: Arc::new(Shared {
                config,
                client,
                jetstream,
                registry: Registry::default(),
                in_flight,
                closing: watch::channel(false).0,
                connections,
                loops: Mutex::new(Vec::new()),
            }),
        })
    }

    fn unreachable(&self) -> Option<Error> {
        match self.shared.client.connection_state() {
            State::Connected => None,
            state => Some(Error::unavailable(format!(
                "the NATS server at {} cannot be reached (connection {state})",
                self.shared.config.url
            ))),
        }
    }

    fn headers(&self, event: &EventEnvelope) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in cloudevents::headers(event) {
            headers.insert(name, value);
        }
        if !self.shared.config.duplicate_window.is_zero() {
            headers.insert(async_nats::header::NATS_MESSAGE_ID, event.id.to_string());
        }
        headers
    }
}

fn events_stream_config(config: &NatsConfig) -> stream::Config {
    let mut duplicate_window = config.duplicate_window;
    if !config.stream_max_age.is_zero() {
        duplicate_window = duplicate_window.min(config.stream_max_age);
    }
    stream::Config {
        name: naming::events_stream(&config.namespace),
        description: Some("Comptoir domain events".to_string()),
        subjects: vec![naming::events_subjects(&config.namespace)],
        retention: stream::RetentionPolicy::Interest,
        storage: stream::StorageType::File,
        max_age: config.stream_max_age,
        duplicate_window,
        num_replicas: config.replicas,
        ..Default::default()
    }
}

/// Creates the stream, or brings the settings the bus owns up to date on an existing one.
async fn ensure_stream(js: &jetstream::Context, url: &str, wanted: stream::Config) -> Result<()> {
    let name = wanted.name.clone();
    let failed = |what: &str, e: &dyn std::fmt::Display| {
        Error::unavailable(format!(
            "NATS at {url}: cannot {what} stream {name}: {e} (is JetStream enabled, nats-server -js?)"
        ))
    };
    for _ in 0..3 {
        match js.get_stream(&name).await {
            Ok(mut stream) => {
                let current = stream.info().await.map_err(|e| failed("read", &e))?.config.clone();
                if current.subjects != wanted.subjects {
                    return Err(Error::internal(format!(
                        "NATS stream {name} holds {:?}, not {:?}: two namespaces map to one stream name",
                        current.subjects, wanted.subjects
                    )));
                }
                if current.retention != wanted.retention {
                    tracing::warn!(stream = %name, current = ?current.retention, wanted = ?wanted.retention,
                        "the stream's retention cannot be changed; keeping it");
                    return Ok(());
                }
                let outdated = current.max_age != wanted.max_age
                    || current.num_replicas != wanted.num_replicas
                    || (!wanted.duplicate_window.is_zero() && current.duplicate_window != wanted.duplicate_window);
                if outdated {
                    js.update_stream(&wanted).await.map_err(|e| failed("update", &e))?;
                }
                return Ok(());
            }
            Err(e) => {
                let missing = matches!(e.kind(), jetstream::context::GetStreamErrorKind::JetStream(ref js_error)
                    if js_error.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND);
                if !missing {
                    return Err(failed("read", &e));
                }
            }
        }
        match js.create_stream(wanted.clone()).await {
            Ok(_) => return Ok(()),
            // Another instance created it in between: read it again.
            Err(e)
                if matches!(e.kind(), jetstream::context::CreateStreamErrorKind::JetStream(ref js_error)
                if js_error.error_code() == jetstream::ErrorCode::STREAM_NAME_EXIST) => {}
            Err(e) => return Err(failed("create", &e)),
        }
    }
    Err(Error::unavailable(format!("NATS at {url}: stream {name} keeps changing under us")))
}

/// Reconnect at once, then back off up to two seconds, so a restarted server is found quickly.
fn reconnect_delay(attempts: usize) -> Duration {
    if attempts <= 1 {
        return Duration::ZERO;
    }
    let exponent = (attempts - 2).min(5) as u32;
    Duration::from_millis(100 * 2u64.pow(exponent)).min(Duration::from_secs(2))
}

/// async-nats reports each change once, so this logs once per outage, not per reconnect attempt.
fn log_connection_event(url: &str, event: async_nats::Event) {
    match event {
        async_nats::Event::Connected => tracing::info!(url, "connected to NATS"),
        async_nats::Event::Disconnected => {
            metrics::counter!("comptoir_eventbus_disconnects_total", "provider" => PROVIDER).increment(1);
            tracing::warn!(url, "lost the connection to NATS; reconnecting in the background")
        }
        async_nats::Event::Closed | async_nats::Event::Draining => {
            tracing::info!(url, event = %event, "NATS connection closing")
        }
        other => tracing::warn!(url, event = %other, "NATS connection event"),
    }
}

/// A publish sent and awaiting its confirmation.
enum Sent {
    Stored(jetstream::context::PublishAckFuture),
    Broadcast,
}

#[async_trait]
impl EventBus for NatsBus {
    async fn publish(&self, event: &EventEnvelope) -> Result<()> {
        self.publish_batch(std::slice::from_ref(event)).await.map_err(|failure| failure.error)
    }

    async fn publish_batch(&self, events: &[EventEnvelope]) -> std::result::Result<(), BatchFailure> {
        if let Some(error) = self.unreachable() {
            metrics::counter!("comptoir_eventbus_publish_failures_total", "provider" => PROVIDER).increment(1);
            return Err(BatchFailure { accepted: 0, error });
        }
        let shared = &self.shared;
        let namespace = &shared.config.namespace;
        // Each event with the local consumers expecting it, counted before it can be delivered.
        let mut sent: Vec<(Sent, Vec<String>)> = Vec::with_capacity(events.len());
        let mut send_error = None;
        for event in events {
            let expected = shared.registry.matching(&event.event_type);
            shared.in_flight.expect(&expected, event.id);
            let headers = self.headers(event);
            let body = bytes::Bytes::from(cloudevents::body(event));
            let result = if is_broadcast(&event.event_type) {
                shared
                    .client
                    .publish_with_headers(naming::broadcast_subject(namespace, &event.event_type), headers, body)
                    .await
                    .map(|()| Sent::Broadcast)
                    .map_err(|e| e.to_string())
            } else {
                let message = jetstream::message::PublishMessage::build().payload(body).headers(headers);
                shared
                    .jetstream
                    .send_publish(naming::event_subject(namespace, &event.event_type), message)
                    .await
                    .map(Sent::Stored)
                    .map_err(|e| e.to_string())
            };
            match result {
                Ok(pending) => sent.push((pending, expected)),
                Err(e) => {
                    shared.in_flight.finish_all(&expected, event.id);
                    send_error = Some(publish_error(&shared.config.url, event, &e));
                    break;
                }
            }
        }
        // Broadcasts are not stored: a round trip to the server confirms it has them.
        let broadcasts_flushed = if sent.iter().any(|(s, _)| matches!(s, Sent::Broadcast)) {
            match tokio::time::timeout(shared.config.publish_timeout, shared.client.flush()).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("no answer from the server".to_string()),
            }
        } else {
            Ok(())
        };
        let (kinds, expectations): (Vec<Sent>, Vec<Vec<String>>) = sent.into_iter().unzip();
        let confirmations = futures::future::join_all(kinds.into_iter().map(|kind| {
            let broadcasts_flushed = broadcasts_flushed.clone();
            async move {
                match kind {
                    Sent::Stored(ack) => ack.into_future().await.map(|ack| ack.duplicate).map_err(|e| e.to_string()),
                    Sent::Broadcast => broadcasts_flushed.map(|()| false),
                }
            }
        }))
        .await;
        let mut failure = None;
        let mut accepted = 0;
        for ((event, confirmation), expected) in events.iter().zip(confirmations).zip(expectations) {
            match confirmation {
                Ok(duplicate) => {
                    if duplicate {
                        // JetStream already had it (and delivered it): no second delivery to wait for.
                        shared.in_flight.finish_all(&expected, event.id);
                    }
                    metrics::counter!("comptoir_events_published_total", "type" => event.event_type.clone(),
                        "provider" => PROVIDER)
                    .increment(1);
                    if failure.is_none() {
                        accepted += 1;
                    }
                }
                Err(e) => {
                    shared.in_flight.finish_all(&expected, event.id);
                    failure.get_or_insert_with(|| publish_error(&shared.config.url, event, &e));
                }
            }
        }
        match failure.or(send_error) {
            None => Ok(()),
            Some(error) => {
                metrics::counter!("comptoir_eventbus_publish_failures_total", "provider" => PROVIDER).increment(1);
                Err(BatchFailure { accepted, error })
            }
        }
    }

    async fn subscribe(&self, consumer: Consumer) -> Result<()> {
        if let Some(bad) = consumer.patterns.iter().find(|p| !pattern::is_valid(p)) {
            return Err(Error::internal(format!("consumer {}: invalid pattern {bad:?}", consumer.name)));
        }
        if self.shared.registry.get(&consumer.name).is_ok() {
            return Err(Error::internal(format!("consumer {} is already subscribed", consumer.name)));
        }
        let shared = self.shared.clone();
        let worker = if consumer.broadcast {
            let subject = naming::broadcast_subjects(&shared.config.namespace);
            let subscriber = shared.client.subscribe(subject.clone()).await.map_err(|e| {
                Error::unavailable(format!("NATS at {}: cannot subscribe to {subject}: {e}", shared.config.url))
            })?;
            // The server has the subscription once it answered a ping sent after it.
            tokio::time::timeout(shared.config.publish_timeout, shared.client.flush())
                .await
                .map_err(|_| Error::unavailable(format!("NATS at {} did not answer", shared.config.url)))?
                .map_err(|e| Error::unavailable(format!("NATS at {}: {e}", shared.config.url)))?;
            self.shared.registry.add(consumer.clone())?;
            tokio::spawn(consume::broadcasts(shared, consumer, subscriber))
        } else {
            let durable = consume::ensure_consumer(&shared, &consumer).await?;
            self.shared.registry.add(consumer.clone())?;
            tokio::spawn(consume::deliveries(shared, consumer, durable))
        };
        self.shared.loops.lock().expect("consumer loops lock").push(worker);
        Ok(())
    }

    async fn replay(&self, consumer: &str, dead_letter_id: Uuid) -> Result<()> {
        delivery::replay(&self.shared.registry.get(consumer)?, dead_letter_id).await
    }

    fn provider(&self) -> &'static str {
        PROVIDER
    }

    async fn check(&self) -> Result<()> {
        match self.unreachable() {
            None => Ok(()),
            Some(error) => Err(error),
        }
    }

    fn in_flight(&self) -> usize {
        self.shared.in_flight.count()
    }

    async fn wait_idle(&self, timeout: Duration) -> bool {
        self.shared.in_flight.wait_idle(timeout).await
    }

    async fn close(&self) {
        self.shared.closing.send_replace(true);
        let loops = std::mem::take(&mut *self.shared.loops.lock().expect("consumer loops lock"));
        for worker in loops {
            let _ = worker.await;
        }
        // Acknowledgements of the last deliveries go out before the connection closes.
        let _ = tokio::time::timeout(self.shared.config.publish_timeout, self.shared.client.flush()).await;
        let _ = self.shared.client.drain().await;
    }
}

fn publish_error(url: &str, event: &EventEnvelope, error: &str) -> Error {
    Error::unavailable(format!(
        "NATS at {url} did not confirm event {} ({}): {error}; it stays in the outbox",
        event.id, event.event_type
    ))
}

/// The in-flight count of one namespace on one server, shared by every bus of this process
/// connected to it: an event published by one instance may be handled by another instance's
/// consumer (they share the durable consumer), and the count must still come down.
pub(crate) struct InFlightLease {
    key: Deployment,
    in_flight: InFlight,
}

/// The server url and namespace of a deployment.
type Deployment = (String, String);

/// Each deployment's in-flight count and how many buses of this process hold it.
static IN_FLIGHT: LazyLock<Mutex<HashMap<Deployment, (InFlight, usize)>>> = LazyLock::new(Default::default);

impl InFlightLease {
    fn take(url: &str, namespace: &str) -> InFlightLease {
        let key = (url.to_string(), namespace.to_string());
        let mut leases = IN_FLIGHT.lock().expect("in-flight leases lock");
        let (in_flight, holders) = leases.entry(key.clone()).or_default();
        *holders += 1;
        InFlightLease { key, in_flight: in_flight.clone() }
    }

    pub(crate) fn finish_all(&self, consumers: &[String], event: Uuid) {
        for consumer in consumers {
            self.in_flight.finish(consumer, event);
        }
    }
}

impl std::ops::Deref for InFlightLease {
    type Target = InFlight;
    fn deref(&self) -> &InFlight {
        &self.in_flight
    }
}

impl Drop for InFlightLease {
    fn drop(&mut self) {
        let mut leases = IN_FLIGHT.lock().expect("in-flight leases lock");
        if let Some((_, holders)) = leases.get_mut(&self.key) {
            *holders -= 1;
            if *holders == 0 {
                leases.remove(&self.key);
            }
        }
    }
}
