//! The consuming side: one connection, one channel per consumer (its prefetch is that channel's
//! `basic.qos`), rebuilt as a whole after the broker comes back.
//!
//! Topology of a domain consumer `<queue>` (`<namespace>.<consumer name>`):
//! - `<queue>`: durable, bound to the events exchange by each pattern; what it rejects goes to
//!   the dead-letter exchange with routing key `<queue>`.
//! - `<queue>.retry.<ms>ms`, one per retry delay: a failed delivery is copied there with the
//!   delay as its expiration and the next attempt number in `x-comptoir-attempt`; on expiry the
//!   broker dead-letters it back to `<queue>` through the default exchange.
//! - `<queue>.dead`: bound to the dead-letter exchange by `<queue>`; the last failure is copied
//!   there with `x-comptoir-attempts`, `x-comptoir-error` and `x-comptoir-consumer`.
//!
//! A broadcast consumer gets an exclusive, server-named queue bound to the system exchange that
//! lives as long as its connection: every instance receives each broadcast once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use comptoir_eventbus::delivery::{self, Outcome, Registry};
use comptoir_eventbus::{Consumer, RetryPolicy, pattern};
use comptoir_kernel::{Error, EventEnvelope, Result};
use futures::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions, BasicRejectOptions,
    QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{Channel, Connection, ConnectionStatus};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::link::{self, Closing, Endpoint, Link, within};
use crate::local::Local;
use crate::names::{self, Names};
use crate::publisher::{Lane, declare_exchanges};
use crate::wire::{self, Outgoing, short};

/// How long `close` lets deliveries in progress finish.
const CLOSE_PATIENCE: Duration = Duration::from_secs(30);

/// What the consuming side is configured with.
pub(crate) struct Settings {
    pub endpoint: Arc<Endpoint>,
    pub names: Names,
    pub retry: RetryPolicy,
    pub prefetch: u16,
    pub quorum_queues: bool,
    pub local: Arc<Local>,
    pub closing: Closing,
}

/// A consumer and the queues it uses.
struct Subscription {
    consumer: Consumer,
    /// The durable queue (unused for a broadcast consumer, whose queue the broker names).
    queue: String,
    dead_queue: String,
    retry_queues: Vec<(Duration, String)>,
}

impl Subscription {
    fn new(consumer: Consumer, names: &Names, retry: &RetryPolicy) -> Result<Self> {
        let queue = names.queue(&consumer.name);
        let mut retry_queues: Vec<(Duration, String)> =
            retry.delays.iter().map(|delay| (*delay, names::retry_queue(&queue, *delay))).collect();
        retry_queues.sort();
        retry_queues.dedup();
        let subscription = Subscription { dead_queue: names::dead_queue(&queue), queue, consumer, retry_queues };
        for name in subscription.durable_queues() {
            short(&name)?;
        }
        Ok(subscription)
    }

    fn durable_queues(&self) -> Vec<String> {
        if self.consumer.broadcast {
            return Vec::new();
        }
        let mut queues = vec![self.queue.clone(), self.dead_queue.clone()];
        queues.extend(self.retry_queues.iter().map(|(_, name)| name.clone()));
        queues
    }
}

/// A consumer running on the current connection.
struct Running {
    channel: Channel,
    tag: ShortString,
    task: JoinHandle<()>,
}

#[derive(Default)]
struct State {
    connection: Option<Connection>,
    running: Vec<Running>,
    subscriptions: Vec<Arc<Subscription>>,
}

pub(crate) struct Consumers {
    settings: Arc<Settings>,
    state: tokio::sync::Mutex<State>,
    /// The current connection's status, readable without waiting for `state`.
    status: Mutex<Option<ConnectionStatus>>,
    /// Why the broker cannot be reached, as last seen.
    last_error: Arc<Mutex<String>>,
    kick: Arc<Notify>,
    active: Arc<Active>,
}

impl Consumers {
    pub fn new(settings: Arc<Settings>) -> Self {
        Consumers {
            settings,
            state: tokio::sync::Mutex::new(State::default()),
            status: Mutex::new(None),
            last_error: Arc::new(Mutex::new("not connected yet".to_string())),
            kick: Arc::new(Notify::new()),
            active: Arc::new(Active::default()),
        }
    }

    /// Starts `consumer` now if the broker is there, else when it is back. Errors from the
    /// broker about the consumer's own queues (arguments that differ from an existing queue's)
    /// are returned.
    pub async fn subscribe(&self, consumer: Consumer, registry: &Registry) -> Result<()> {
        if let Some(bad) = consumer.patterns.iter().find(|p| !pattern::is_valid(p)) {
            return Err(Error::internal(format!("consumer {}: invalid pattern {bad:?}", consumer.name)));
        }
        let subscription = Arc::new(Subscription::new(consumer, &self.settings.names, &self.settings.retry)?);
        let mut state = self.state.lock().await;
        if self.settings.closing.is_closed() {
            return Err(Error::unavailable("the RabbitMQ event bus is closed"));
        }
        if registry.get(&subscription.consumer.name).is_ok() {
            return Err(Error::internal(format!("consumer {} is already subscribed", subscription.consumer.name)));
        }
        let connection = state.connection.as_ref().filter(|c| c.status().connected());
        match connection {
            Some(connection) => match self.start(connection, &subscription).await {
                Ok(running) => state.running.push(running),
                Err(e) if connection.status().connected() => return Err(e),
                Err(e) => tracing::warn!(consumer = %subscription.consumer.name, error = %e,
                    "RabbitMQ went away while the consumer started; it starts when the broker is back"),
            },
            None => tracing::warn!(consumer = %subscription.consumer.name,
                "RabbitMQ is unreachable; the consumer starts when the broker is back"),
        }
        registry.add(subscription.consumer.clone())?;
        state.subscriptions.push(subscription);
        Ok(())
    }

    /// The durable queues of every consumer subscribed so far.
    pub async fn durable_queues(&self) -> Vec<String> {
        let state = self.state.lock().await;
        state.subscriptions.iter().flat_map(|s| s.durable_queues()).collect()
    }

    /// For `/readyz`: whether the consuming connection is up.
    pub fn check(&self) -> Result<()> {
        let connected = self.status.lock().expect("consumer status lock").as_ref().is_some_and(|s| s.connected());
        if connected {
            return Ok(());
        }
        Err(Error::unavailable(format!(
            "RabbitMQ at {} is unreachable; consumers are waiting for it: {}",
            self.settings.endpoint.address,
            self.last_error.lock().expect("consumer error lock")
        )))
    }

    /// Cancels every consumer, lets the deliveries in progress finish, then closes the
    /// connection; unacknowledged messages go back to their queues.
    pub async fn close(&self) {
        let mut state = self.state.lock().await;
        for running in &state.running {
            let cancel = running.channel.basic_cancel(running.tag.clone(), BasicCancelOptions::default());
            let _ = within("basic.cancel", cancel).await;
        }
        for running in state.running.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(5), running.task).await;
        }
        if !self.active.wait_idle(CLOSE_PATIENCE).await {
            tracing::warn!(
                in_progress = self.active.count(),
                "deliveries still in progress at close; they will be redelivered"
            );
        }
        *self.status.lock().expect("consumer status lock") = None;
        if let Some(connection) = state.connection.take() {
            link::close_quietly(&connection).await;
        }
    }

    /// Declares the consumer's queues and bindings and starts consuming on a channel of its own.
    async fn start(&self, connection: &Connection, subscription: &Arc<Subscription>) -> Result<Running> {
        let lane = Lane::open(connection).await?;
        match self.start_on(&lane, subscription).await {
            Ok((tag, stream)) => {
                let channel = lane.channel().clone();
                let handler =
                    Arc::new(Handler { subscription: subscription.clone(), settings: self.settings.clone(), lane });
                let watch = Watch { kick: self.kick.clone(), last_error: self.last_error.clone() };
                let task = tokio::spawn(consume(handler, stream, self.active.clone(), watch));
                Ok(Running { channel, tag, task })
            }
            Err(e) => {
                if lane.channel().status().connected() {
                    let _ = within("channel.close", lane.channel().close(200, "not started".into())).await;
                }
                Err(e)
            }
        }
    }

    async fn start_on(&self, lane: &Lane, subscription: &Subscription) -> Result<(ShortString, lapin::Consumer)> {
        let channel = lane.channel();
        let names = &self.settings.names;
        let consumer = &subscription.consumer;
        within("basic.qos", channel.basic_qos(self.settings.prefetch.max(1), BasicQosOptions { global: false }))
            .await?;
        declare_exchanges(channel, names).await?;
        let queue = if consumer.broadcast {
            let options = QueueDeclareOptions { exclusive: true, auto_delete: true, ..Default::default() };
            let queue =
                within("queue.declare", channel.queue_declare("".into(), options, FieldTable::default())).await?;
            let queue = queue.name().clone();
            bind(channel, &queue, &names.system(), "").await?;
            queue
        } else {
            self.declare_durable_queues(channel, subscription).await?
        };
        let tag = short(&format!("{}.{}", consumer.name, uuid::Uuid::new_v4().simple()))?;
        let stream = within(
            &format!("basic.consume {queue}"),
            channel.basic_consume(queue, tag.clone(), BasicConsumeOptions::default(), FieldTable::default()),
        )
        .await?;
        Ok((tag, stream))
    }

    async fn declare_durable_queues(&self, channel: &Channel, subscription: &Subscription) -> Result<ShortString> {
        let names = &self.settings.names;
        let quorum = self.settings.quorum_queues;
        let queue = short(&subscription.queue)?;
        declare(channel, &subscription.dead_queue, durable_arguments(quorum)).await?;
        bind(channel, &short(&subscription.dead_queue)?, &names.dead_letter(), &subscription.queue).await?;
        for (_, retry_queue) in &subscription.retry_queues {
            let mut arguments = durable_arguments(quorum);
            dead_letter_to(&mut arguments, "", &subscription.queue, quorum);
            declare(channel, retry_queue, arguments).await?;
        }
        let mut arguments = durable_arguments(quorum);
        dead_letter_to(&mut arguments, &names.dead_letter(), &subscription.queue, quorum);
        declare(channel, &subscription.queue, arguments).await?;
        for pattern in &subscription.consumer.patterns {
            bind(channel, &queue, &names.events(), pattern).await?;
        }
        Ok(queue)
    }
}

async fn declare(channel: &Channel, queue: &str, arguments: FieldTable) -> Result<()> {
    let options = QueueDeclareOptions { durable: true, ..Default::default() };
    within(&format!("queue.declare {queue}"), channel.queue_declare(short(queue)?, options, arguments)).await?;
    Ok(())
}

async fn bind(channel: &Channel, queue: &ShortString, exchange: &str, routing_key: &str) -> Result<()> {
    let bind = channel.queue_bind(
        queue.clone(),
        short(exchange)?,
        short(routing_key)?,
        QueueBindOptions::default(),
        FieldTable::default(),
    );
    within(&format!("queue.bind {queue} to {exchange} by {routing_key:?}"), bind).await
}

fn durable_arguments(quorum: bool) -> FieldTable {
    let mut arguments = FieldTable::default();
    if quorum {
        arguments.insert("x-queue-type".into(), AMQPValue::LongString("quorum".into()));
    }
    arguments
}

/// Where the broker sends what a queue rejects or expires. Quorum queues dead-letter at most
/// once unless told otherwise; at least once needs publishers refused rather than messages
/// dropped when a queue is full.
fn dead_letter_to(arguments: &mut FieldTable, exchange: &str, routing_key: &str, quorum: bool) {
    arguments.insert("x-dead-letter-exchange".into(), AMQPValue::LongString(exchange.into()));
    arguments.insert("x-dead-letter-routing-key".into(), AMQPValue::LongString(routing_key.into()));
    if quorum {
        arguments.insert("x-dead-letter-strategy".into(), AMQPValue::LongString("at-least-once".into()));
        arguments.insert("x-overflow".into(), AMQPValue::LongString("reject-publish".into()));
    }
}

impl Link for Consumers {
    fn role(&self) -> &'static str {
        "consumers"
    }

    fn address(&self) -> &str {
        &self.settings.endpoint.address
    }

    fn healthy(&self) -> bool {
        // Someone holding the state is subscribing or rebuilding: look again at the next poll.
        let Ok(state) = self.state.try_lock() else { return true };
        state.connection.as_ref().is_some_and(|c| c.status().connected())
            && state.running.iter().all(|r| !r.task.is_finished())
    }

    fn kicked(&self) -> &Notify {
        &self.kick
    }

    async fn take_down(&self) -> String {
        let mut state = self.state.lock().await;
        for running in state.running.drain(..) {
            running.task.abort();
        }
        *self.status.lock().expect("consumer status lock") = None;
        if let Some(connection) = state.connection.take() {
            link::close_quietly(&connection).await;
        }
        self.last_error.lock().expect("consumer error lock").clone()
    }

    async fn establish(&self) -> Result<()> {
        let mut state = self.state.lock().await;
        if self.settings.closing.is_closed() {
            return Err(Error::unavailable("the RabbitMQ event bus is closed"));
        }
        let connection = self.settings.endpoint.connect("consumers").await?;
        let mut running = Vec::with_capacity(state.subscriptions.len());
        for subscription in &state.subscriptions {
            match self.start(&connection, subscription).await {
                Ok(started) => running.push(started),
                Err(e) => {
                    for started in running {
                        started.task.abort();
                    }
                    link::close_quietly(&connection).await;
                    return Err(e);
                }
            }
        }
        *self.status.lock().expect("consumer status lock") = Some(connection.status().clone());
        *self.last_error.lock().expect("consumer error lock") = "the connection closed".to_string();
        state.connection = Some(connection);
        state.running = running;
        Ok(())
    }

    fn note_error(&self, error: String) {
        *self.last_error.lock().expect("consumer error lock") = error;
    }
}

/// Reads a consumer's deliveries and hands each to a task of its own: the broker's prefetch
/// bounds how many are in progress at once.
async fn consume(handler: Arc<Handler>, mut stream: lapin::Consumer, active: Arc<Active>, watch: Watch) {
    while let Some(next) = stream.next().await {
        match next {
            Ok(delivery) => {
                let guard = active.enter();
                let handler = handler.clone();
                tokio::spawn(async move {
                    handler.handle(delivery).await;
                    drop(guard);
                });
            }
            Err(e) => {
                tracing::debug!(consumer = %handler.subscription.consumer.name, error = %e, "consumer stream ended");
                *watch.last_error.lock().expect("consumer error lock") = e.to_string();
                break;
            }
        }
    }
    watch.kick.notify_one();
}

/// How a consumer's loop tells the supervisor that it stopped, and why.
struct Watch {
    kick: Arc<Notify>,
    last_error: Arc<Mutex<String>>,
}

/// Handles the deliveries of one consumer.
struct Handler {
    subscription: Arc<Subscription>,
    settings: Arc<Settings>,
    /// The consumer's channel: acknowledgements, and the retry and dead-letter copies (sent
    /// before the original is acknowledged, so that a failure in between duplicates rather than
    /// loses).
    lane: Lane,
}

impl Handler {
    async fn handle(&self, delivery: Delivery) {
        let consumer = &self.subscription.consumer;
        let event = match wire::decode(&delivery.properties, &delivery.data) {
            Ok(event) => event,
            Err(e) => {
                // A broadcast queue has no dead-letter exchange: the message is dropped there.
                tracing::error!(consumer = %consumer.name, error = %e,
                    message_id = ?delivery.properties.message_id(), routing_key = %delivery.routing_key,
                    "malformed message; moved to the dead-letter queue");
                metrics::counter!("comptoir_events_malformed_total", "provider" => "rabbitmq",
                    "consumer" => consumer.name.clone())
                .increment(1);
                settle(&consumer.name, delivery.acker.reject(BasicRejectOptions { requeue: false }).await);
                return;
            }
        };
        if consumer.broadcast {
            delivery::deliver_broadcast(consumer, &event).await;
            self.ack(&delivery, &event).await;
            return;
        }
        let attempt = wire::attempt(&delivery.properties);
        match delivery::deliver(consumer, &event, attempt, &self.settings.retry).await {
            Outcome::Handled => self.ack(&delivery, &event).await,
            Outcome::Retry(delay) => match self.retry_later(&delivery, attempt, delay).await {
                Ok(()) => self.settle_ack(&delivery).await,
                Err(e) => {
                    tracing::warn!(consumer = %consumer.name, event_id = %event.id,
                        correlation_id = %event.correlation_id, error = %e,
                        "could not schedule the retry; the message goes back to its queue after the delay");
                    tokio::time::sleep(delay).await;
                    let requeue = BasicNackOptions { multiple: false, requeue: true };
                    settle(&consumer.name, delivery.acker.nack(requeue).await);
                }
            },
            Outcome::DeadLettered { reason } => match self.dead_letter(&delivery, attempt, &reason).await {
                Ok(()) => self.ack(&delivery, &event).await,
                Err(e) => {
                    // The broker dead-letters a rejected message itself (with `x-death`).
                    tracing::warn!(consumer = %consumer.name, event_id = %event.id, error = %e,
                        "could not copy the dead letter; rejecting it to the dead-letter exchange instead");
                    settle(&consumer.name, delivery.acker.reject(BasicRejectOptions { requeue: false }).await);
                    self.settings.local.in_flight.finish(&consumer.name, event.id);
                }
            },
        }
    }

    async fn ack(&self, delivery: &Delivery, event: &EventEnvelope) {
        self.settle_ack(delivery).await;
        self.settings.local.in_flight.finish(&self.subscription.consumer.name, event.id);
    }

    /// Acknowledges on the consumer's channel itself: one hop fewer than the delivery's acker,
    /// which goes through lapin's internal task; the channel is the one that delivered it.
    async fn settle_ack(&self, delivery: &Delivery) {
        let acked = self.lane.channel().basic_ack(delivery.delivery_tag, BasicAckOptions::default()).await;
        settle(&self.subscription.consumer.name, acked.map(|()| true));
    }

    /// Copies the delivery to the retry queue of `delay`, as attempt `attempt + 1`.
    async fn retry_later(&self, delivery: &Delivery, attempt: u32, delay: Duration) -> Result<()> {
        let (_, queue) = self
            .subscription
            .retry_queues
            .iter()
            .find(|(d, _)| *d == delay)
            .ok_or_else(|| Error::internal(format!("no retry queue waits {delay:?}")))?;
        let properties = wire::with_headers(&delivery.properties, |headers| {
            headers.insert(wire::ATTEMPT.into(), AMQPValue::LongLongInt(i64::from(attempt) + 1));
        })
        .with_expiration(delay.as_millis().to_string().into());
        self.send(Outgoing {
            exchange: "".into(),
            routing_key: short(queue)?,
            payload: delivery.data.clone(),
            properties,
            mandatory: true,
        })
        .await
    }

    /// Copies the delivery to the consumer's dead-letter queue with why and after how many
    /// attempts it was given up.
    async fn dead_letter(&self, delivery: &Delivery, attempts: u32, reason: &str) -> Result<()> {
        let consumer = self.subscription.consumer.name.as_str();
        let properties = wire::with_headers(&delivery.properties, |headers| {
            headers.remove(wire::ATTEMPT);
            headers.insert(wire::ATTEMPTS.into(), AMQPValue::LongLongInt(i64::from(attempts)));
            headers.insert(wire::ERROR.into(), AMQPValue::LongString(reason.into()));
            headers.insert(wire::CONSUMER.into(), AMQPValue::LongString(consumer.into()));
        });
        self.send(Outgoing {
            exchange: short(&self.settings.names.dead_letter())?,
            routing_key: short(&self.subscription.queue)?,
            payload: delivery.data.clone(),
            properties,
            mandatory: true,
        })
        .await
    }

    async fn send(&self, message: Outgoing) -> Result<()> {
        match self.lane.publish_all(vec![message]).await {
            (_, Some(e)) => Err(e),
            (_, None) => Ok(()),
        }
    }
}

/// An acknowledgement that fails means the channel is gone: the broker redelivers the message.
fn settle(consumer: &str, result: lapin::Result<bool>) {
    if let Err(e) = result {
        tracing::debug!(consumer, error = %e, "could not settle a delivery; the broker will redeliver it");
    }
}

/// Handler tasks in progress, so that `close` can wait for them.
#[derive(Default)]
struct Active {
    count: AtomicUsize,
    idle: Notify,
}

struct ActiveGuard(Arc<Active>);

impl Active {
    fn enter(self: &Arc<Self>) -> ActiveGuard {
        self.count.fetch_add(1, Ordering::SeqCst);
        ActiveGuard(self.clone())
    }

    fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    async fn wait_idle(&self, patience: Duration) -> bool {
        tokio::time::timeout(patience, async {
            loop {
                let idle = self.idle.notified();
                if self.count() == 0 {
                    return;
                }
                let _ = tokio::time::timeout(Duration::from_millis(50), idle).await;
            }
        })
        .await
        .is_ok()
    }
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}
