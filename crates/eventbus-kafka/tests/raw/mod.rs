//! Checks on the raw broker: what the bus leaves in Kafka, read back with a plain rdkafka client.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use comptoir_eventbus::contract::{self, Fixture, Provider};
use comptoir_eventbus::{Consumer, EventBus, EventHandler, RetryPolicy};
use comptoir_eventbus_kafka::{KafkaBus, KafkaConfig, headers};
use comptoir_kernel::{Error, EventEnvelope, Result};
use rdkafka::Message;

use crate::support::{self, Kafka, count_records, exclusive_broker, header, read_topic, shared_broker};

const PATIENCE: Duration = Duration::from_secs(30);

async fn records_of(topic: String) -> Vec<rdkafka::message::OwnedMessage> {
    tokio::task::spawn_blocking(move || read_topic(&topic)).await.unwrap()
}

async fn wait_for_records(topic: &str, expected: u64) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let name = topic.to_string();
        let found = tokio::task::spawn_blocking(move || count_records(&name)).await.unwrap();
        if found >= expected {
            assert_eq!(found, expected, "{topic}: more records than expected");
            return;
        }
        assert!(Instant::now() < deadline, "{topic}: {found} of {expected} records after {PATIENCE:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_are_cloudevents_keyed_by_event_id_on_their_domain_topic() {
    let _broker = shared_broker().await;
    let f = Fixture::new(&Kafka).await;
    let bus = f.bus(&[50]).await;
    let event = contract::event("order.checkout.completed");
    let broadcast = contract::event("system.maintenance.started");
    bus.publish(&event).await.unwrap();
    bus.publish(&broadcast).await.unwrap();

    let records = records_of(format!("{}.comptoir.order", f.namespace)).await;
    assert_eq!(records.len(), 1);
    let record = &records[0];
    let id = event.id.to_string();
    assert_eq!(record.key(), Some(id.as_bytes()), "keyed by event id");
    assert_eq!(header(record, "ce-id").as_deref(), Some(id.as_str()));
    assert_eq!(header(record, "ce-specversion").as_deref(), Some("1.0"));
    assert_eq!(header(record, "ce-type").as_deref(), Some("order.checkout.completed"));
    assert_eq!(header(record, "ce-source").as_deref(), Some("source"));
    assert_eq!(header(record, "ce-correlationid").as_deref(), Some("contract-correlation"));
    assert_eq!(header(record, "ce-actorid").as_deref(), Some("contract-user"));
    assert_eq!(header(record, "ce-actortype").as_deref(), Some("user"));
    assert_eq!(header(record, "content-type").as_deref(), Some("application/json"));
    assert!(header(record, "ce-time").is_some_and(|t| t.ends_with('Z')));
    let body: serde_json::Value = serde_json::from_slice(record.payload().unwrap()).unwrap();
    assert_eq!(body, event.data, "binary content mode: the value is the event's data");

    let system = records_of(format!("{}.comptoir.system", f.namespace)).await;
    assert_eq!(system.len(), 1, "broadcasts go to the system topic");
    assert_eq!(header(&system[0], "ce-id"), Some(broadcast.id.to_string()));
    let namespace = f.namespace.clone();
    f.finish(&[&bus]).await;
    let remaining = tokio::task::spawn_blocking(move || support::topics_of(&namespace)).await.unwrap();
    assert!(remaining.is_empty(), "cleanup leaves no topic behind: {remaining:?}");
}

struct Broken;

#[async_trait]
impl EventHandler for Broken {
    async fn handle(&self, _: &EventEnvelope) -> Result<()> {
        Err(Error::unavailable("the printer is on fire"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_and_the_dead_letter_go_through_the_consumers_own_topics() {
    let _broker = shared_broker().await;
    let f = Fixture::new(&Kafka).await;
    let bus = f.bus(&[50, 50]).await;
    bus.subscribe(Consumer::new("billing.printing", &["order.#"], f.sink.clone(), Arc::new(Broken))).await.unwrap();
    let event = contract::event("order.checkout.completed");
    bus.publish(&event).await.unwrap();

    let dead_letters = format!("{}.comptoir.dead-letter.billing.printing", f.namespace);
    wait_for_records(&dead_letters, 1).await;
    let letter = &records_of(dead_letters).await[0];
    assert_eq!(header(letter, "ce-id"), Some(event.id.to_string()));
    assert_eq!(header(letter, headers::ATTEMPTS).as_deref(), Some("3"), "first delivery and two retries");
    let reason = header(letter, headers::DEAD_LETTER_REASON).unwrap_or_default();
    assert!(reason.contains("the printer is on fire"), "{reason}");

    let retries = records_of(format!("{}.comptoir.retry.billing.printing", f.namespace)).await;
    let mut attempts: Vec<String> = retries.iter().filter_map(|r| header(r, headers::ATTEMPT)).collect();
    attempts.sort();
    assert_eq!(attempts, ["2", "3"]);
    assert!(retries.iter().all(|r| header(r, headers::NOT_BEFORE).is_some()));
    f.finish(&[&bus]).await;
}

/// Never finishes: a handler busy when its process dies.
struct Stuck {
    started: Arc<AtomicBool>,
}

#[async_trait]
impl EventHandler for Stuck {
    async fn handle(&self, _: &EventEnvelope) -> Result<()> {
        self.started.store(true, Ordering::SeqCst);
        std::future::pending().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_whose_handling_did_not_finish_is_delivered_again() {
    let _broker = shared_broker().await;
    let f = Fixture::new(&Kafka).await;
    let publisher = f.bus(&[50]).await;

    // The first instance runs in a runtime of its own, torn down mid-handling as a crashing
    // process would be: its tasks vanish, its consumer closes without finishing the handling.
    let started = Arc::new(AtomicBool::new(false));
    let (namespace, sink, flag) = (f.namespace.clone(), f.sink.clone(), started.clone());
    let (doomed, doomed_bus) = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let bus = runtime.block_on(async move {
            let bus = support::connect(&namespace, RetryPolicy::default()).await;
            let stuck = Arc::new(Stuck { started: flag });
            bus.subscribe(Consumer::new("shipping.labels", &["order.#"], sink, stuck)).await.unwrap();
            bus
        });
        (runtime, bus)
    })
    .join()
    .unwrap();
    let event = contract::event("order.checkout.completed");
    publisher.publish(&event).await.unwrap();
    let deadline = Instant::now() + PATIENCE;
    while !started.load(Ordering::SeqCst) {
        assert!(Instant::now() < deadline, "the first instance never started handling");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    doomed.shutdown_background();
    tokio::task::spawn_blocking(move || drop(doomed_bus)).await.unwrap();

    let second = f.bus(&[50]).await;
    f.subscribe(&second, "shipping.labels", &["order.#"]).await;
    f.wait_for_effects("shipping.labels", 1).await;
    f.finish(&[&publisher, &second]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_without_a_broker_fails_naming_the_address() {
    let nobody = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    let started = Instant::now();
    let config = KafkaConfig { brokers: nobody.clone(), publish_timeout: Duration::from_secs(2), ..Default::default() };
    let error = KafkaBus::connect(config).await.err().expect("no broker there");
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    assert!(error.to_string().contains(&nobody), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_fails_within_the_publish_timeout_while_the_broker_is_away_and_works_again_after() {
    let _broker = exclusive_broker().await;
    let f = Fixture::new(&Kafka).await;
    let publish_timeout = Duration::from_secs(2);
    let config = KafkaConfig {
        brokers: support::broker().address(),
        namespace: f.namespace.clone(),
        publish_timeout,
        ..KafkaConfig::default()
    };
    let bus = KafkaBus::connect(config).await.unwrap();
    bus.publish(&contract::event("order.checkout.completed")).await.unwrap();

    Kafka.stop_broker().await;
    let started = Instant::now();
    assert!(bus.publish(&contract::event("order.checkout.completed")).await.is_err());
    let took = started.elapsed();
    assert!(took < publish_timeout + Duration::from_secs(2), "publishing took {took:?} to fail");
    let error = bus.check().await.expect_err("the broker is away");
    assert!(error.to_string().contains(&support::broker().address()), "{error}");

    Kafka.start_broker().await;
    let deadline = Instant::now() + PATIENCE;
    while let Err(error) = bus.publish(&contract::event("order.checkout.completed")).await {
        assert!(Instant::now() < deadline, "publishing still fails {PATIENCE:?} after the broker came back: {error}");
    }
    bus.check().await.unwrap();
    bus.close().await;
    f.finish(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_record_is_skipped_and_the_ones_after_it_handled() {
    let _broker = shared_broker().await;
    let f = Fixture::new(&Kafka).await;
    let bus = f.bus(&[50]).await;
    f.subscribe(&bus, "sink.orders", &["order.#"]).await;
    let topic = format!("{}.comptoir.order", f.namespace);
    // Junk first: the consumer logs and skips it, and keeps going.
    tokio::task::spawn_blocking(move || support::produce_raw(&topic, 0, b"not a cloudevent")).await.unwrap();
    bus.publish(&contract::event("order.checkout.completed")).await.unwrap();
    f.wait_for_effects("sink.orders", 1).await;
    f.finish(&[&bus]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_of_every_domain_finds_topics_another_instance_created() {
    let _broker = shared_broker().await;
    let f = Fixture::new(&Kafka).await;
    let consuming = f.bus(&[50]).await;
    f.subscribe(&consuming, "search.everything", &["#"]).await;
    // Another instance publishes to a domain whose topic does not exist yet: this process
    // learns of it only from the broker's metadata.
    let elsewhere = f.bus(&[50]).await;
    elsewhere.publish(&contract::event("catalog.product.created")).await.unwrap();
    elsewhere.publish(&contract::event("review.comment.posted")).await.unwrap();
    f.wait_for_effects("search.everything", 2).await;
    f.finish(&[&consuming, &elsewhere]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_starts_over_on_a_topic_the_broker_lost_in_a_restart() {
    let _broker = exclusive_broker().await;
    let f = Fixture::new(&Kafka).await;
    let bus = f.bus(&[100, 200, 400, 800]).await;
    f.subscribe(&bus, "shipping.orders", &["order.#"]).await;
    for _ in 0..3 {
        bus.publish(&contract::event("order.checkout.completed")).await.unwrap();
    }
    f.wait_for_effects("shipping.orders", 3).await;

    // tansu keeps nothing across a restart: the topic, its offsets and the group are gone, and
    // the recreated topic counts from 0 again. The consumer must read it from its start, not
    // from where it stood before.
    Kafka.stop_broker().await;
    Kafka.start_broker().await;
    let deadline = Instant::now() + PATIENCE;
    let mut published = 0;
    while published < 10 {
        match bus.publish(&contract::event("order.checkout.completed")).await {
            Ok(()) => published += 1,
            Err(error) => assert!(Instant::now() < deadline, "publishing after the restart: {error}"),
        }
    }
    f.wait_for_effects("shipping.orders", 13).await;
    f.finish(&[&bus]).await;
}
