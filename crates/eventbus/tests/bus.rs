//! The in-process bus with the outbox relay, against real module databases (SQLite, or PostgreSQL
//! when COMPTOIR_TEST_BACKEND=postgres): an event written
//! in a transaction reaches every matching consumer once; a failing handler is retried, then
//! dead-lettered, and a replay after the fix delivers it; nothing is lost on the way.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use comptoir_eventbus::{Consumer, EventBus, EventHandler, MemoryBus, OutboxRelay, RetryPolicy};
use comptoir_kernel::{Error, EventEnvelope, PageRequest, RequestContext, Result};
use comptoir_storage::{Db, Migrations, dead_letters, query, testing};

const EFFECTS: &[(i64, &str, &str)] =
    &[(1, "effects", "CREATE TABLE effects (event_id TEXT NOT NULL, consumer TEXT NOT NULL)")];
const MIGRATIONS: Migrations = Migrations { sqlite: EFFECTS, postgres: EFFECTS };

/// A handler that records its effect with an inbox claim, and can be told to fail.
struct RecordingHandler {
    name: &'static str,
    db: Db,
    failing: AtomicBool,
    calls: AtomicUsize,
}

#[async_trait]
impl EventHandler for RecordingHandler {
    async fn handle(&self, event: &EventEnvelope) -> Result<()> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.failing.load(Ordering::SeqCst) {
            return Err(Error::unavailable("downstream is down"));
        }
        let mut uow = self.db.begin().await?;
        if !uow.claim_inbox(self.name, event.id).await? {
            return Ok(());
        }
        query("INSERT INTO effects (event_id, consumer) VALUES ($1, $2)")
            .bind(event.id.to_string())
            .bind(self.name)
            .execute(&mut *uow)
            .await
            .map_err(comptoir_storage::db_error)?;
        uow.commit().await
    }
}

struct World {
    _databases: [testing::TestDb; 2],
    source: Db,
    sink: Db,
    bus: MemoryBus,
}

async fn world(retry_ms: &[u64]) -> World {
    let source_db = testing::open("source", &MIGRATIONS).await;
    let sink_db = testing::open("sink", &MIGRATIONS).await;
    let bus = MemoryBus::new(RetryPolicy { delays: retry_ms.iter().map(|ms| Duration::from_millis(*ms)).collect() });
    World { source: source_db.db.clone(), sink: sink_db.db.clone(), _databases: [source_db, sink_db], bus }
}

fn handler(name: &'static str, db: &Db) -> Arc<RecordingHandler> {
    Arc::new(RecordingHandler { name, db: db.clone(), failing: AtomicBool::new(false), calls: AtomicUsize::new(0) })
}

async fn emit(db: &Db, event_type: &str) -> EventEnvelope {
    let event = EventEnvelope::new(&RequestContext::system(), "source", event_type, serde_json::json!({}));
    let mut uow = db.begin().await.unwrap();
    uow.emit(&event).await.unwrap();
    uow.commit().await.unwrap();
    event
}

async fn effects(db: &Db, consumer: &str) -> i64 {
    comptoir_storage::query_scalar("SELECT COUNT(*) FROM effects WHERE consumer = $1")
        .bind(consumer)
        .fetch_one(db.reader())
        .await
        .unwrap()
}

#[tokio::test]
async fn events_fan_out_to_every_matching_pattern_once() {
    let w = world(&[10]).await;
    let items = handler("sink.items", &w.sink);
    let all = handler("sink.all", &w.sink);
    let orders = handler("sink.orders", &w.sink);
    w.bus.subscribe(Consumer::new("sink.items", &["product.item.*"], w.sink.clone(), items.clone())).await.unwrap();
    w.bus.subscribe(Consumer::new("sink.all", &["#"], w.sink.clone(), all.clone())).await.unwrap();
    w.bus.subscribe(Consumer::new("sink.orders", &["order.#"], w.sink.clone(), orders.clone())).await.unwrap();

    let bus: Arc<dyn EventBus> = Arc::new(w.bus.clone());
    let relay = tokio::spawn(OutboxRelay::new(w.source.clone(), bus).run());
    emit(&w.source, "product.item.created").await;
    emit(&w.source, "product.collection.created").await;
    // Woken on commit: the relay publishes without waiting for its poll.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(w.bus.wait_idle(Duration::from_secs(5)).await);
    relay.abort();

    assert_eq!(effects(&w.sink, "sink.items").await, 1);
    assert_eq!(effects(&w.sink, "sink.all").await, 2);
    assert_eq!(effects(&w.sink, "sink.orders").await, 0);
}

#[tokio::test]
async fn a_redelivered_event_has_no_second_effect() {
    let w = world(&[10]).await;
    let h = handler("sink.all", &w.sink);
    w.bus.subscribe(Consumer::new("sink.all", &["#"], w.sink.clone(), h.clone())).await.unwrap();
    let event = emit(&w.source, "product.item.created").await;
    w.bus.publish(&event).await.unwrap();
    w.bus.publish(&event).await.unwrap();
    assert!(w.bus.wait_idle(Duration::from_secs(5)).await);
    assert_eq!(h.calls.load(Ordering::SeqCst), 2);
    assert_eq!(effects(&w.sink, "sink.all").await, 1);
}

#[tokio::test]
async fn a_failing_handler_is_retried_then_dead_lettered_then_replayed() {
    let w = world(&[10, 20, 30]).await;
    let h = handler("sink.flaky", &w.sink);
    h.failing.store(true, Ordering::SeqCst);
    w.bus.subscribe(Consumer::new("sink.flaky", &["#"], w.sink.clone(), h.clone())).await.unwrap();

    let event = emit(&w.source, "order.checkout.completed").await;
    let relay = OutboxRelay::new(w.source.clone(), Arc::new(w.bus.clone()));
    assert_eq!(relay.relay_pending().await.unwrap(), 1);
    assert!(w.bus.wait_idle(Duration::from_secs(5)).await);

    assert_eq!(h.calls.load(Ordering::SeqCst), 4, "first attempt and three retries");
    assert_eq!(effects(&w.sink, "sink.flaky").await, 0);
    let letters = dead_letters::list(&w.sink, PageRequest::default()).await.unwrap();
    assert_eq!(letters.total, 1);
    let letter = &letters.items[0];
    assert_eq!(letter.event, event);
    assert_eq!(letter.attempts, 4);
    assert!(letter.error.contains("downstream is down"));

    // A replay while the cause persists fails and keeps the dead letter.
    assert!(w.bus.replay("sink.flaky", letter.id).await.is_err());
    assert_eq!(dead_letters::count(&w.sink).await.unwrap(), 1);

    h.failing.store(false, Ordering::SeqCst);
    w.bus.replay("sink.flaky", letter.id).await.unwrap();
    assert_eq!(effects(&w.sink, "sink.flaky").await, 1);
    assert_eq!(dead_letters::count(&w.sink).await.unwrap(), 0);
    assert!(matches!(w.bus.replay("sink.flaky", letter.id).await, Err(Error::NotFound { .. })));
}

#[tokio::test]
async fn a_handler_that_recovers_during_retries_is_not_dead_lettered() {
    let w = world(&[50, 50]).await;
    let h = handler("sink.flaky", &w.sink);
    h.failing.store(true, Ordering::SeqCst);
    w.bus.subscribe(Consumer::new("sink.flaky", &["#"], w.sink.clone(), h.clone())).await.unwrap();
    let event = emit(&w.source, "order.checkout.completed").await;
    w.bus.publish(&event).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    h.failing.store(false, Ordering::SeqCst);
    assert!(w.bus.wait_idle(Duration::from_secs(5)).await);
    assert_eq!(effects(&w.sink, "sink.flaky").await, 1);
    assert_eq!(dead_letters::count(&w.sink).await.unwrap(), 0);
}

#[tokio::test]
async fn the_outbox_keeps_events_until_they_are_published() {
    let w = world(&[10]).await;
    for _ in 0..3 {
        emit(&w.source, "product.item.updated").await;
    }
    assert_eq!(comptoir_storage::outbox::backlog(&w.source).await.unwrap().0, 3);
    let h = handler("sink.all", &w.sink);
    w.bus.subscribe(Consumer::new("sink.all", &["#"], w.sink.clone(), h)).await.unwrap();
    let relay = OutboxRelay::new(w.source.clone(), Arc::new(w.bus.clone()));
    assert_eq!(relay.relay_pending().await.unwrap(), 3);
    assert!(w.bus.wait_idle(Duration::from_secs(5)).await);
    assert_eq!(effects(&w.sink, "sink.all").await, 3);
    assert_eq!(comptoir_storage::outbox::backlog(&w.source).await.unwrap().0, 0);
}

#[tokio::test]
async fn invalid_patterns_and_duplicate_consumers_are_refused() {
    let w = world(&[10]).await;
    let h = handler("sink.x", &w.sink);
    assert!(w.bus.subscribe(Consumer::new("sink.x", &["product..item"], w.sink.clone(), h.clone())).await.is_err());
    w.bus.subscribe(Consumer::new("sink.x", &["#"], w.sink.clone(), h.clone())).await.unwrap();
    assert!(w.bus.subscribe(Consumer::new("sink.x", &["#"], w.sink.clone(), h)).await.is_err());
}

/// A bus that refuses publishes while `down` is set, standing for a broker that is unreachable.
struct Unreachable {
    inner: MemoryBus,
    down: AtomicBool,
}

#[async_trait]
impl EventBus for Unreachable {
    async fn publish(&self, event: &EventEnvelope) -> Result<()> {
        if self.down.load(Ordering::SeqCst) {
            return Err(Error::unavailable("the broker is unreachable"));
        }
        self.inner.publish(event).await
    }
    async fn subscribe(&self, consumer: Consumer) -> Result<()> {
        self.inner.subscribe(consumer).await
    }
    async fn replay(&self, consumer: &str, id: uuid::Uuid) -> Result<()> {
        self.inner.replay(consumer, id).await
    }
    fn provider(&self) -> &'static str {
        "flaky-broker"
    }
    fn in_flight(&self) -> usize {
        self.inner.in_flight()
    }
    async fn wait_idle(&self, timeout: Duration) -> bool {
        self.inner.wait_idle(timeout).await
    }
}

#[tokio::test]
async fn dual_write_delivers_every_event_to_both_sides_and_counts_them() {
    let w = world(&[10]).await;
    let broker = Arc::new(Unreachable { inner: MemoryBus::new(RetryPolicy::default()), down: AtomicBool::new(false) });
    let dual = Arc::new(
        comptoir_eventbus::DualWriteBus::new(Arc::new(w.bus.clone()), broker.clone(), w.sink.clone()).await.unwrap(),
    );
    let h = handler("sink.all", &w.sink);
    dual.subscribe(Consumer::new("sink.all", &["#"], w.sink.clone(), h.clone())).await.unwrap();
    let relay = OutboxRelay::new(w.source.clone(), dual.clone());

    for _ in 0..3 {
        emit(&w.source, "order.checkout.completed").await;
    }
    assert_eq!(relay.relay_pending().await.unwrap(), 3);
    // While the broker is down the outbox keeps the events for both sides.
    broker.down.store(true, Ordering::SeqCst);
    emit(&w.source, "order.order.cancelled").await;
    emit(&w.source, "order.order.cancelled").await;
    assert!(relay.relay_pending().await.is_err());
    assert_eq!(comptoir_storage::outbox::backlog(&w.source).await.unwrap().0, 2);
    broker.down.store(false, Ordering::SeqCst);
    assert_eq!(relay.relay_pending().await.unwrap(), 2);
    assert!(dual.wait_idle(Duration::from_secs(5)).await);

    let counts = dual.counts();
    assert_eq!((counts.primary, counts.secondary), ("memory", "flaky-broker"));
    assert_eq!(counts.published, 5);
    assert_eq!(counts.received_by_secondary, 5, "{counts:?}");
    assert_eq!(counts.received_by_primary, 5, "the broker side is published first: no duplicate {counts:?}");
    assert_eq!(effects(&w.sink, "sink.all").await, 5, "consumers are served by the primary, once per event");
}
