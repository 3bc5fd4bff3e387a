//! What the bus leaves on the broker, read back with a plain AMQP client: the wire format of an
//! event, the dead-letter queue's copy, malformed messages, quorum queues, and how the bus
//! behaves while the broker is down.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use comptoir_eventbus::contract::{self, Fixture};
use comptoir_eventbus::{Consumer, EventBus, EventHandler, RetryPolicy};
use comptoir_eventbus_rabbitmq::{RabbitBus, RabbitConfig};
use comptoir_kernel::{Error, EventEnvelope, Result};
use lapin::message::BasicGetMessage;
use lapin::options::{BasicGetOptions, BasicPublishOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel};

use super::{BROKER, RestartOnPanic, bus, messages_in, rabbit, raw, remove, start_broker, stop_broker};

/// Fails its first `failures` calls, then succeeds; counts every call.
struct Flaky {
    failures: usize,
    calls: AtomicUsize,
}

impl Flaky {
    fn new(failures: usize) -> Arc<Flaky> {
        Arc::new(Flaky { failures, calls: AtomicUsize::new(0) })
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl EventHandler for Flaky {
    async fn handle(&self, _event: &EventEnvelope) -> Result<()> {
        if self.calls.fetch_add(1, Ordering::SeqCst) < self.failures {
            return Err(Error::unavailable("the ledger is down"));
        }
        Ok(())
    }
}

/// Takes its time over each event, counting the handlings started and finished.
#[derive(Default)]
struct Slow {
    started: AtomicUsize,
    finished: AtomicUsize,
}

#[async_trait]
impl EventHandler for Slow {
    async fn handle(&self, _event: &EventEnvelope) -> Result<()> {
        self.started.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(500)).await;
        self.finished.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(Instant::now() < deadline, "{what} did not happen within 30 s");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn get(channel: &Channel, queue: &str) -> BasicGetMessage {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let options = BasicGetOptions { no_ack: true };
        if let Some(message) = channel.basic_get(queue.into(), options).await.unwrap() {
            return message;
        }
        assert!(Instant::now() < deadline, "nothing arrived in {queue}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn header<'m>(message: &'m BasicGetMessage, name: &str) -> &'m AMQPValue {
    let headers = message.delivery.properties.headers().as_ref().expect("the message has headers");
    headers.inner().get(name).unwrap_or_else(|| panic!("no {name} header in {headers:?}"))
}

fn text(message: &BasicGetMessage, name: &str) -> String {
    match header(message, name) {
        AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        AMQPValue::ShortString(s) => s.to_string(),
        other => panic!("{name} is not text: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_event_is_a_persistent_cloudevent_on_the_wire() {
    let _broker = BROKER.read().await;
    let provider = rabbit();
    let f = Fixture::new(&provider).await;
    let bus = f.bus(&[50]).await;
    let (connection, channel) = raw().await;
    let options = QueueDeclareOptions { exclusive: true, auto_delete: true, ..Default::default() };
    let queue = channel.queue_declare("".into(), options, FieldTable::default()).await.unwrap().name().clone();
    let exchange = format!("{}.comptoir.events", f.namespace);
    channel
        .queue_bind(
            queue.clone(),
            exchange.into(),
            "order.#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();

    let sent = contract::event("order.checkout.completed");
    bus.publish(&sent).await.unwrap();
    let message = get(&channel, queue.as_str()).await;

    let properties = &message.delivery.properties;
    assert_eq!(properties.delivery_mode(), &Some(2), "persistent");
    assert_eq!(properties.content_type().as_ref().map(|c| c.as_str()), Some("application/json"));
    assert_eq!(properties.message_id().as_ref().map(|m| m.to_string()), Some(sent.id.to_string()));
    assert_eq!(properties.correlation_id().as_ref().map(|c| c.as_str()), Some("contract-correlation"));
    assert_eq!(message.delivery.routing_key.as_str(), "order.checkout.completed");
    assert_eq!(text(&message, "ce-specversion"), "1.0");
    assert_eq!(text(&message, "ce-id"), sent.id.to_string());
    assert_eq!(text(&message, "ce-type"), "order.checkout.completed");
    assert_eq!(text(&message, "ce-source"), "source");
    assert_eq!(text(&message, "ce-correlationid"), "contract-correlation");
    assert_eq!(text(&message, "ce-dataversion"), "1");
    assert_eq!(text(&message, "ce-actortype"), "user");
    assert_eq!(text(&message, "ce-actorid"), "contract-user");
    assert!(text(&message, "ce-time").ends_with('Z'));
    let data: serde_json::Value = serde_json::from_slice(&message.delivery.data).unwrap();
    assert_eq!(data, sent.data, "the body is the event's data");

    let _ = connection.close(200, "done".into()).await;
    f.finish(&[&bus]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dead_letter_queue_keeps_the_reason_and_the_attempt_count() {
    let _broker = BROKER.read().await;
    let provider = rabbit();
    let f = Fixture::new(&provider).await;
    let bus = f.bus(&[50, 50]).await;
    let broken = Flaky::new(usize::MAX);
    bus.subscribe(Consumer::new("billing.ledger", &["order.#"], f.sink.clone(), broken.clone())).await.unwrap();
    let sent = contract::event("order.checkout.completed");
    bus.publish(&sent).await.unwrap();

    let dead_queue = format!("{}.billing.ledger.dead", f.namespace);
    eventually("the dead letter on the broker", || async { messages_in(&dead_queue).await == Some(1) }).await;
    assert_eq!(broken.calls(), 3);
    assert_eq!(comptoir_storage::dead_letters::count(&f.sink).await.unwrap(), 1, "filed in the module database too");
    let (connection, channel) = raw().await;
    let message = get(&channel, &dead_queue).await;
    assert_eq!(header(&message, "x-comptoir-attempts"), &AMQPValue::LongLongInt(3));
    assert!(
        text(&message, "x-comptoir-error").contains("the ledger is down"),
        "{}",
        text(&message, "x-comptoir-error")
    );
    assert_eq!(text(&message, "x-comptoir-consumer"), "billing.ledger");
    assert_eq!(text(&message, "ce-id"), sent.id.to_string(), "the event travels whole");
    assert_eq!(message.delivery.properties.delivery_mode(), &Some(2));
    // The two retries went through the retry queue and back, as the broker's own record shows.
    let AMQPValue::FieldArray(deaths) = header(&message, "x-death") else { panic!("x-death is not an array") };
    let retried: i64 = deaths
        .as_slice()
        .iter()
        .filter_map(|death| match death {
            AMQPValue::FieldTable(death) => match (death.inner().get("reason"), death.inner().get("count")) {
                (Some(AMQPValue::LongString(reason)), Some(AMQPValue::LongLongInt(count)))
                    if reason.as_bytes() == b"expired" =>
                {
                    Some(*count)
                }
                _ => None,
            },
            _ => None,
        })
        .sum();
    assert_eq!(retried, 2, "{deaths:?}");

    let _ = connection.close(200, "done".into()).await;
    f.finish(&[&bus]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_message_is_dead_lettered_and_the_consumer_goes_on() {
    let _broker = BROKER.read().await;
    let provider = rabbit();
    let f = Fixture::new(&provider).await;
    let bus = f.bus(&[50]).await;
    let audit = Flaky::new(0);
    bus.subscribe(Consumer::new("audit.all", &["#"], f.sink.clone(), audit.clone())).await.unwrap();
    let (connection, channel) = raw().await;
    let exchange = format!("{}.comptoir.events", f.namespace);
    channel
        .basic_publish(
            exchange.into(),
            "order.checkout.completed".into(),
            BasicPublishOptions::default(),
            b"not a cloudevent",
            BasicProperties::default(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    bus.publish(&contract::event("order.checkout.completed")).await.unwrap();

    let dead_queue = format!("{}.audit.all.dead", f.namespace);
    eventually("the malformed message in the dead-letter queue", || async {
        messages_in(&dead_queue).await == Some(1)
    })
    .await;
    eventually("the good event handled", || async { audit.calls() == 1 }).await;
    let message = get(&channel, &dead_queue).await;
    assert_eq!(message.delivery.data, b"not a cloudevent");

    let _ = connection.close(200, "done".into()).await;
    f.finish(&[&bus]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quorum_queues_carry_events_and_retries() {
    let _broker = BROKER.read().await;
    let provider = rabbit();
    let f = Fixture::new(&provider).await;
    let namespace = f.namespace.clone();
    let bus = bus(&namespace, RetryPolicy { delays: vec![Duration::from_millis(50)] }, true).await;
    let flaky = Flaky::new(1);
    bus.subscribe(Consumer::new("shipping.orders", &["order.#"], f.sink.clone(), flaky.clone())).await.unwrap();
    bus.publish(&contract::event("order.checkout.completed")).await.unwrap();
    eventually("the retried event handled", || async { flaky.calls() == 2 }).await;
    assert!(bus.wait_idle(Duration::from_secs(10)).await);

    let queues = tokio::task::spawn_blocking(|| {
        std::process::Command::new("rabbitmqctl").args(["list_queues", "-q", "name", "type"]).output()
    })
    .await
    .unwrap()
    .expect("rabbitmqctl list_queues");
    let listing = String::from_utf8_lossy(&queues.stdout);
    for queue in ["shipping.orders", "shipping.orders.dead", "shipping.orders.retry.50ms"] {
        let line = listing.lines().find(|l| l.split_whitespace().next() == Some(&format!("{namespace}.{queue}")));
        assert!(line.is_some_and(|l| l.ends_with("quorum")), "{queue} is not a quorum queue: {line:?}");
    }
    bus.close().await;
    remove(&[bus]).await;
    f.finish(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_lets_the_deliveries_in_progress_finish() {
    let _broker = BROKER.read().await;
    let provider = rabbit();
    let f = Fixture::new(&provider).await;
    let bus = f.bus(&[50]).await;
    let slow = Arc::new(Slow::default());
    bus.subscribe(Consumer::new("reporting.orders", &["order.#"], f.sink.clone(), slow.clone())).await.unwrap();
    for _ in 0..3 {
        bus.publish(&contract::event("order.checkout.completed")).await.unwrap();
    }
    eventually("three handlings under way", || async { slow.started.load(Ordering::SeqCst) == 3 }).await;
    bus.close().await;
    assert_eq!(slow.finished.load(Ordering::SeqCst), 3, "close waited for the handlings in progress");
    assert!(bus.publish(&contract::event("order.checkout.completed")).await.is_err(), "a closed bus refuses events");
    assert!(bus.check().await.is_err(), "a closed bus is not ready");
    f.finish(&[&bus]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_to_an_absent_broker_fails_at_once_naming_it() {
    let config = RabbitConfig { url: "amqp://guest:guest@127.0.0.1:1/%2f".to_string(), ..Default::default() };
    let started = Instant::now();
    let error = RabbitBus::connect(config).await.err().expect("no broker listens on port 1");
    assert!(started.elapsed() < Duration::from_secs(6), "took {:?}", started.elapsed());
    let message = error.to_string();
    assert!(message.contains("cannot reach RabbitMQ at amqp://127.0.0.1:1/%2f"), "{message}");
    assert!(!message.contains("guest:guest"), "no credentials in errors: {message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_broker_is_down_publishing_fails_fast_and_readiness_says_why() {
    let _broker = BROKER.write().await;
    let _restart = RestartOnPanic;
    let provider = rabbit();
    let f = Fixture::new(&provider).await;
    let bus = f.bus(&[50]).await;
    let ops = Flaky::new(0);
    bus.subscribe(Consumer::new("ops.all", &["#"], f.sink.clone(), ops.clone())).await.unwrap();
    bus.publish(&contract::event("order.checkout.completed")).await.unwrap();
    eventually("the first event handled", || async { ops.calls() == 1 }).await;
    bus.check().await.unwrap();

    stop_broker().await;
    eventually("readiness to notice", || async { bus.check().await.is_err() }).await;
    let reason = bus.check().await.unwrap_err().to_string();
    assert!(reason.contains("127.0.0.1:5672"), "{reason}");
    let started = Instant::now();
    assert!(bus.publish(&contract::event("order.checkout.completed")).await.is_err());
    assert!(started.elapsed() < Duration::from_secs(3), "a publish took {:?} to fail", started.elapsed());

    start_broker().await;
    eventually("readiness to recover", || async { bus.check().await.is_ok() }).await;
    eventually("a publish to go through", || async {
        bus.publish(&contract::event("order.checkout.completed")).await.is_ok()
    })
    .await;
    eventually("the consumer to be back", || async { ops.calls() >= 2 }).await;
    f.finish(&[&bus]).await;
}
