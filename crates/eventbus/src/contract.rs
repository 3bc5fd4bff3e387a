//! The contract every event bus provider passes, written once and run against each of them
//! (memory here; RabbitMQ, NATS and Kafka in their own crates' tests, against real brokers).
//!
//! Each check takes a [`Provider`] that connects buses under a namespace of the check's own, so
//! checks run side by side on one broker without seeing each other's events. Effects are real:
//! handlers claim the event in an inbox and write a row in the same transaction, on a real
//! database (SQLite, or PostgreSQL when `COMPTOIR_TEST_BACKEND=postgres`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use comptoir_kernel::{Error, EventEnvelope, RequestContext, Result};
use comptoir_storage::{Db, Migrations, dead_letters, outbox, query, testing};

use crate::{Consumer, EventBus, EventHandler, OutboxRelay, RetryPolicy};

/// How long a check waits for deliveries before failing.
const PATIENCE: Duration = Duration::from_secs(30);

/// A provider under test.
#[async_trait]
pub trait Provider: Send + Sync {
    fn name(&self) -> &'static str;
    /// A bus whose broker objects (exchanges, queues, streams, topics) are prefixed with
    /// `namespace`. Two buses with one namespace are two instances of one deployment.
    async fn connect(&self, namespace: &str, retry: RetryPolicy) -> Arc<dyn EventBus>;
    /// Whether there is a broker to stop (false for the in-process provider).
    fn has_broker(&self) -> bool {
        true
    }
    /// Stops the broker; returns once it no longer accepts connections.
    async fn stop_broker(&self) {}
    /// Starts the broker again; returns once it accepts connections.
    async fn start_broker(&self) {}
    /// Messages in the broker's dead-letter destination for `consumer`, if the provider can tell.
    async fn broker_dead_letters(&self, _namespace: &str, _consumer: &str) -> Option<u64> {
        None
    }
    /// Removes what buses under `namespace` created on the broker.
    async fn cleanup(&self, _namespace: &str) {}
}

const EFFECTS: &[(i64, &str, &str)] = &[(
    1,
    "effects",
    "CREATE TABLE effects (event_id TEXT NOT NULL, consumer TEXT NOT NULL, event_type TEXT NOT NULL)",
)];
const MIGRATIONS: Migrations = Migrations { sqlite: EFFECTS, postgres: EFFECTS };

/// Records each event once per consumer (inbox claim + effect in one transaction); can be told
/// to fail a number of times, always, or once right after its effect committed (a crash before
/// the acknowledgement).
pub struct Recorder {
    name: String,
    db: Db,
    pub calls: AtomicUsize,
    fail_next: AtomicUsize,
    always_fail: AtomicBool,
    fail_after_commit_once: AtomicBool,
}

#[async_trait]
impl EventHandler for Recorder {
    async fn handle(&self, event: &EventEnvelope) -> Result<()> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.always_fail.load(Ordering::SeqCst) {
            return Err(Error::unavailable("downstream is down"));
        }
        if self.fail_next.load(Ordering::SeqCst) > 0 {
            self.fail_next.fetch_sub(1, Ordering::SeqCst);
            return Err(Error::unavailable("a passing failure"));
        }
        let mut uow = self.db.begin().await?;
        if !uow.claim_inbox(&self.name, event.id).await? {
            return Ok(());
        }
        query("INSERT INTO effects (event_id, consumer, event_type) VALUES ($1, $2, $3)")
            .bind(event.id.to_string())
            .bind(&self.name)
            .bind(&event.event_type)
            .execute(&mut *uow)
            .await
            .map_err(comptoir_storage::db_error)?;
        uow.commit().await?;
        if self.fail_after_commit_once.swap(false, Ordering::SeqCst) {
            return Err(Error::unavailable("crashed before acknowledging"));
        }
        Ok(())
    }
}

/// One check's world: a source module database with an outbox, a sink database for effects, and
/// a namespace of its own on the broker.
pub struct Fixture<'p> {
    pub provider: &'p dyn Provider,
    pub namespace: String,
    pub source: Db,
    pub sink: Db,
    _databases: [testing::TestDb; 2],
}

impl<'p> Fixture<'p> {
    pub async fn new(provider: &'p dyn Provider) -> Fixture<'p> {
        let source = testing::open("source", &MIGRATIONS).await;
        let sink = testing::open("sink", &MIGRATIONS).await;
        let id = uuid::Uuid::new_v4().simple().to_string();
        Fixture {
            provider,
            namespace: format!("contract-{}", &id[..12]),
            source: source.db.clone(),
            sink: sink.db.clone(),
            _databases: [source, sink],
        }
    }

    pub async fn bus(&self, retry_ms: &[u64]) -> Arc<dyn EventBus> {
        let retry = RetryPolicy { delays: retry_ms.iter().map(|ms| Duration::from_millis(*ms)).collect() };
        self.provider.connect(&self.namespace, retry).await
    }

    pub fn recorder(&self, name: &str) -> Arc<Recorder> {
        Arc::new(Recorder {
            name: name.to_string(),
            db: self.sink.clone(),
            calls: AtomicUsize::new(0),
            fail_next: AtomicUsize::new(0),
            always_fail: AtomicBool::new(false),
            fail_after_commit_once: AtomicBool::new(false),
        })
    }

    pub async fn subscribe(&self, bus: &Arc<dyn EventBus>, name: &str, patterns: &[&str]) -> Arc<Recorder> {
        let recorder = self.recorder(name);
        bus.subscribe(Consumer::new(name, patterns, self.sink.clone(), recorder.clone())).await.unwrap();
        recorder
    }

    /// Writes an event to the source's outbox, as a module does.
    pub async fn emit(&self, event_type: &str) -> EventEnvelope {
        let event = event(event_type);
        let mut uow = self.source.begin().await.unwrap();
        uow.emit(&event).await.unwrap();
        uow.commit().await.unwrap();
        event
    }

    /// Effects recorded by `consumer`.
    pub async fn effects(&self, consumer: &str) -> i64 {
        comptoir_storage::query_scalar("SELECT COUNT(*) FROM effects WHERE consumer = $1")
            .bind(consumer)
            .fetch_one(self.sink.reader())
            .await
            .unwrap()
    }

    /// Waits until `consumer` has recorded `expected` effects; fails the check after a while.
    pub async fn wait_for_effects(&self, consumer: &str, expected: i64) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let found = self.effects(consumer).await;
            if found >= expected {
                assert_eq!(found, expected, "{consumer}: more effects than events");
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{}: {consumer} recorded {found} of {expected} effects after {PATIENCE:?}",
                self.provider.name()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Gives stray deliveries a moment to arrive, so that "exactly n" checks mean something.
    pub async fn quiet(&self, bus: &Arc<dyn EventBus>) {
        bus.wait_idle(PATIENCE).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    pub async fn finish(self, buses: &[&Arc<dyn EventBus>]) {
        for bus in buses {
            bus.close().await;
        }
        self.provider.cleanup(&self.namespace).await;
    }
}

/// An event as a traced request emits it: the dead-letter case checks that the whole envelope,
/// trace context included, survives the trip through the broker.
pub fn event(event_type: &str) -> EventEnvelope {
    let event = EventEnvelope::new(
        &RequestContext::new("contract-correlation", comptoir_kernel::Actor::user("contract-user")),
        "source",
        event_type,
        serde_json::json!({ "sku": "SKU-1", "quantity": 2 }),
    );
    EventEnvelope { traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()), ..event }
}

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "{what} did not happen within {PATIENCE:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// `*` matches one word, `#` any number; each consumer receives exactly what its patterns match.
pub async fn patterns_route_each_event_to_its_consumers(provider: &dyn Provider) {
    let f = Fixture::new(provider).await;
    let bus = f.bus(&[50]).await;
    f.subscribe(&bus, "sink.items", &["product.item.*"]).await;
    f.subscribe(&bus, "sink.orders", &["order.#"]).await;
    f.subscribe(&bus, "sink.all", &["#"]).await;
    f.subscribe(&bus, "sink.two", &["auth.user.registered", "inventory.stock.low"]).await;
    for event_type in
        ["product.item.created", "product.collection.created", "order.checkout.completed", "inventory.stock.low"]
    {
        bus.publish(&event(event_type)).await.unwrap();
    }
    f.wait_for_effects("sink.all", 4).await;
    f.wait_for_effects("sink.items", 1).await;
    f.wait_for_effects("sink.orders", 1).await;
    f.wait_for_effects("sink.two", 1).await;
    f.quiet(&bus).await;
    assert_eq!(f.effects("sink.items").await, 1);
    assert_eq!(f.effects("sink.orders").await, 1);
    assert_eq!(f.effects("sink.two").await, 1);
    f.finish(&[&bus]).await;
}

/// Two consumers of one pattern each receive every event (fan-out), through the outbox relay.
pub async fn every_consumer_receives_its_own_copy(provider: &dyn Provider) {
    let f = Fixture::new(provider).await;
    let bus = f.bus(&[50]).await;
    f.subscribe(&bus, "inventory.orders", &["order.checkout.completed"]).await;
    f.subscribe(&bus, "notification.orders", &["order.checkout.completed"]).await;
    let relay = tokio::spawn(OutboxRelay::new(f.source.clone(), bus.clone()).run());
    for _ in 0..20 {
        f.emit("order.checkout.completed").await;
    }
    f.wait_for_effects("inventory.orders", 20).await;
    f.wait_for_effects("notification.orders", 20).await;
    relay.abort();
    assert_eq!(outbox::backlog(&f.source).await.unwrap().0, 0, "every event marked published");
    f.finish(&[&bus]).await;
}

/// Two running instances of one consumer share its queue: each event is handled once in all.
pub async fn instances_of_a_consumer_share_its_queue(provider: &dyn Provider) {
    if !provider.has_broker() {
        return; // one process is one instance
    }
    let f = Fixture::new(provider).await;
    let first = f.bus(&[50]).await;
    let second = f.bus(&[50]).await;
    let a = f.subscribe(&first, "billing.orders", &["order.#"]).await;
    let b = f.subscribe(&second, "billing.orders", &["order.#"]).await;
    for _ in 0..40 {
        first.publish(&event("order.checkout.completed")).await.unwrap();
    }
    f.wait_for_effects("billing.orders", 40).await;
    f.quiet(&first).await;
    let calls = a.calls.load(Ordering::SeqCst) + b.calls.load(Ordering::SeqCst);
    assert_eq!(calls, 40, "each event handled by one instance only");
    f.finish(&[&first, &second]).await;
}

/// A handler that fails is given the event again (after the policy's delays) until it succeeds.
pub async fn a_failed_handling_is_redelivered(provider: &dyn Provider) {
    let f = Fixture::new(provider).await;
    let bus = f.bus(&[50, 100, 100]).await;
    let flaky = f.recorder("shipping.orders");
    flaky.fail_next.store(2, Ordering::SeqCst);
    bus.subscribe(Consumer::new("shipping.orders", &["order.#"], f.sink.clone(), flaky.clone())).await.unwrap();
    bus.publish(&event("order.checkout.completed")).await.unwrap();
    f.wait_for_effects("shipping.orders", 1).await;
    f.quiet(&bus).await;
    assert_eq!(flaky.calls.load(Ordering::SeqCst), 3, "two failures, then success");
    assert_eq!(dead_letters::count(&f.sink).await.unwrap(), 0);
    f.finish(&[&bus]).await;
}

/// After the last attempt the event is dead-lettered (kept with its error and attempt count, and
/// on the broker's dead-letter destination); a replay while the cause persists keeps it, a replay
/// after the fix delivers it once.
pub async fn the_last_failure_is_dead_lettered_then_replayed(provider: &dyn Provider) {
    let f = Fixture::new(provider).await;
    let bus = f.bus(&[50, 50]).await;
    let broken = f.recorder("billing.invoices");
    broken.always_fail.store(true, Ordering::SeqCst);
    bus.subscribe(Consumer::new("billing.invoices", &["order.#"], f.sink.clone(), broken.clone())).await.unwrap();
    let sent = event("order.checkout.completed");
    bus.publish(&sent).await.unwrap();

    eventually("dead-lettering", || async { dead_letters::count(&f.sink).await.unwrap() == 1 }).await;
    f.quiet(&bus).await;
    assert_eq!(broken.calls.load(Ordering::SeqCst), 3, "first attempt and two retries");
    let letters = dead_letters::list(&f.sink, Default::default()).await.unwrap();
    let letter = &letters.items[0];
    assert_eq!(letter.event, sent, "the dead letter keeps the whole envelope");
    assert_eq!(letter.consumer, "billing.invoices");
    assert_eq!(letter.attempts, 3);
    assert!(letter.error.contains("downstream is down"), "{}", letter.error);
    if provider.broker_dead_letters(&f.namespace, "billing.invoices").await.is_some() {
        eventually("the broker's dead-letter copy", || async {
            provider.broker_dead_letters(&f.namespace, "billing.invoices").await == Some(1)
        })
        .await;
    }

    assert!(bus.replay("billing.invoices", letter.id).await.is_err(), "replay while still failing");
    assert_eq!(dead_letters::count(&f.sink).await.unwrap(), 1, "kept after a failed replay");
    broken.always_fail.store(false, Ordering::SeqCst);
    bus.replay("billing.invoices", letter.id).await.unwrap();
    assert_eq!(f.effects("billing.invoices").await, 1);
    assert_eq!(dead_letters::count(&f.sink).await.unwrap(), 0);
    f.finish(&[&bus]).await;
}

/// An event delivered again (published twice, or redelivered because the handler failed after
/// its effect committed) has one effect. A broker that drops the second publish of one event id
/// (JetStream de-duplication) delivers it twice instead of three times; both are right.
pub async fn a_redelivered_event_has_no_second_effect(provider: &dyn Provider) {
    let f = Fixture::new(provider).await;
    let bus = f.bus(&[50]).await;
    let crashing = f.recorder("inventory.orders");
    crashing.fail_after_commit_once.store(true, Ordering::SeqCst);
    bus.subscribe(Consumer::new("inventory.orders", &["order.#"], f.sink.clone(), crashing.clone())).await.unwrap();
    let once = event("order.checkout.completed");
    bus.publish(&once).await.unwrap();
    bus.publish(&once).await.unwrap();
    eventually("a redelivery", || async { crashing.calls.load(Ordering::SeqCst) >= 2 }).await;
    f.quiet(&bus).await;
    assert_eq!(f.effects("inventory.orders").await, 1);
    assert_eq!(dead_letters::count(&f.sink).await.unwrap(), 0);
    f.finish(&[&bus]).await;
}

/// Events relayed before the broker stops, written while it is down (the outbox keeps them) and
/// after it is back all arrive, each with one effect.
pub async fn nothing_is_lost_across_a_broker_restart(provider: &dyn Provider) {
    if !provider.has_broker() {
        return;
    }
    let f = Fixture::new(provider).await;
    let bus = f.bus(&[100, 200, 400, 800, 1600, 3200]).await;
    f.subscribe(&bus, "notification.all", &["#"]).await;
    let relay =
        tokio::spawn(OutboxRelay::new(f.source.clone(), bus.clone()).poll_every(Duration::from_millis(200)).run());
    for _ in 0..5 {
        f.emit("order.checkout.completed").await;
    }
    f.wait_for_effects("notification.all", 5).await;

    provider.stop_broker().await;
    for _ in 0..5 {
        f.emit("payment.refund.completed").await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(outbox::backlog(&f.source).await.unwrap().0 > 0, "the outbox keeps events while the broker is down");
    provider.start_broker().await;
    for _ in 0..5 {
        f.emit("auth.user.registered").await;
    }
    f.wait_for_effects("notification.all", 15).await;
    eventually("an empty outbox", || async { outbox::backlog(&f.source).await.unwrap().0 == 0 }).await;
    relay.abort();
    f.finish(&[&bus]).await;
}

/// `system.*` events reach the broadcast consumer of every instance, and no domain consumer.
pub async fn broadcasts_reach_every_instance(provider: &dyn Provider) {
    let f = Fixture::new(provider).await;
    let first = f.bus(&[50]).await;
    let second = f.bus(&[50]).await;
    let a = f.recorder("instance-a.system");
    let b = f.recorder("instance-b.system");
    first.subscribe(Consumer::broadcast("instance-a.system", f.sink.clone(), a.clone())).await.unwrap();
    second.subscribe(Consumer::broadcast("instance-b.system", f.sink.clone(), b.clone())).await.unwrap();
    let domain = f.subscribe(&first, "sink.all", &["#"]).await;
    first.publish(&event("system.maintenance.started")).await.unwrap();
    f.wait_for_effects("instance-a.system", 1).await;
    if provider.has_broker() {
        // In-process buses are separate processes' worth of instances only with a broker between.
        f.wait_for_effects("instance-b.system", 1).await;
    }
    f.quiet(&first).await;
    assert_eq!(domain.calls.load(Ordering::SeqCst), 0, "broadcasts are not domain events");
    f.finish(&[&first, &second]).await;
}

/// Every check, in order; a provider's test calls each (one `#[tokio::test]` per check reads
/// better in test output; this is for a quick run).
pub async fn run_all(provider: &dyn Provider) {
    patterns_route_each_event_to_its_consumers(provider).await;
    every_consumer_receives_its_own_copy(provider).await;
    instances_of_a_consumer_share_its_queue(provider).await;
    a_failed_handling_is_redelivered(provider).await;
    the_last_failure_is_dead_lettered_then_replayed(provider).await;
    a_redelivered_event_has_no_second_effect(provider).await;
    broadcasts_reach_every_instance(provider).await;
    nothing_is_lost_across_a_broker_restart(provider).await;
}
