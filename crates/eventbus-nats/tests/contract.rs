//! The provider contract and NATS-specific checks, against a real nats-server with JetStream at
//! 127.0.0.1:4222 (`COMPTOIR_TEST_NATS_URL` names another). Each check works in a namespace of its
//! own and deletes its streams at the end. The checks that stop the server take the write side of
//! [`BROKER`]; every other check holds its read side, so none runs while the server is down.

use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer::pull};
use async_trait::async_trait;
use comptoir_eventbus::contract::{self, Fixture, Provider, event};
use comptoir_eventbus::{Consumer, EventBus, EventHandler, RetryPolicy};
use comptoir_eventbus_nats::{
    DEAD_LETTER_ATTEMPTS, DEAD_LETTER_CONSUMER, DEAD_LETTER_REASON, DEAD_LETTER_SUBJECT, NatsBus, NatsConfig, naming,
};
use comptoir_kernel::{Error, EventEnvelope};
use comptoir_storage::dead_letters;
use futures::StreamExt;
use tokio::sync::RwLock;

/// Held for reading by every check, for writing by the checks that stop the server.
static BROKER: RwLock<()> = RwLock::const_new(());

const DEFAULT_URL: &str = "nats://127.0.0.1:4222";
/// The address the local server listens on, for stopping and starting it.
const LOCAL_SERVER: &str = "127.0.0.1:4222";
const START_COMMAND: &[&str] = &[
    "start-stop-daemon",
    "--start",
    "--oknodo",
    "--background",
    "--exec",
    "/usr/sbin/nats-server",
    "--",
    "-a",
    "127.0.0.1",
    "-p",
    "4222",
    "-js",
    "-sd",
    "/var/lib/nats-server",
    "-l",
    "/var/log/nats-server.log",
];

fn url() -> String {
    std::env::var("COMPTOIR_TEST_NATS_URL").unwrap_or_else(|_| DEFAULT_URL.to_string())
}

fn server_missing(error: &dyn std::fmt::Display) -> ! {
    panic!(
        "these tests need nats-server with JetStream at {} and it cannot be reached: {error}. Start it with: {}",
        url(),
        START_COMMAND.join(" ")
    )
}

/// The bus as deployed: the event id as `Nats-Msg-Id`, de-duplicated by JetStream.
const NATS: Nats = Nats { deduplicate: true };

struct Nats {
    deduplicate: bool,
}

fn config(namespace: &str, retry: RetryPolicy, deduplicate: bool) -> NatsConfig {
    let defaults = NatsConfig::default();
    NatsConfig {
        url: url(),
        namespace: namespace.to_string(),
        retry,
        publish_timeout: Duration::from_secs(2),
        duplicate_window: if deduplicate { defaults.duplicate_window } else { Duration::ZERO },
        ..defaults
    }
}

async fn raw_client() -> async_nats::Client {
    async_nats::connect(url()).await.unwrap_or_else(|e| server_missing(&e))
}

#[async_trait]
impl Provider for Nats {
    fn name(&self) -> &'static str {
        "nats"
    }

    async fn connect(&self, namespace: &str, retry: RetryPolicy) -> Arc<dyn EventBus> {
        let bus = NatsBus::connect(config(namespace, retry, self.deduplicate)).await;
        Arc::new(bus.unwrap_or_else(|e| server_missing(&e)))
    }

    async fn stop_broker(&self) {
        stop_server().await;
    }

    async fn start_broker(&self) {
        start_server().await;
    }

    async fn broker_dead_letters(&self, namespace: &str, consumer: &str) -> Option<u64> {
        let js = jetstream::new(raw_client().await);
        let Ok(stream) = js.get_stream(naming::dead_letter_stream(namespace)).await else { return Some(0) };
        let subject = naming::dead_letter_subject(namespace, consumer);
        let mut subjects = stream.info_with_subjects(&subject).await.expect("dead-letter stream info");
        let mut count = 0;
        while let Some(entry) = subjects.next().await {
            let (name, messages) = entry.expect("dead-letter subjects");
            if name == subject {
                count += messages as u64;
            }
        }
        Some(count)
    }

    async fn cleanup(&self, namespace: &str) {
        let js = jetstream::new(raw_client().await);
        for stream in [naming::events_stream(namespace), naming::dead_letter_stream(namespace)] {
            let _ = js.delete_stream(&stream).await;
        }
    }
}

fn listening() -> bool {
    let address: SocketAddr = LOCAL_SERVER.parse().expect("a socket address");
    TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok()
}

fn server_pids() -> Vec<String> {
    let output = Command::new("pgrep").args(["-x", "nats-server"]).output().expect("pgrep runs");
    String::from_utf8_lossy(&output.stdout).split_whitespace().map(str::to_string).collect()
}

/// Stops the local server and waits until it has exited (its file store written) and the port is closed.
async fn stop_server() {
    let pids = server_pids();
    assert!(!pids.is_empty(), "no nats-server process to stop");
    for pid in &pids {
        let _ = Command::new("kill").arg(pid).status();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while listening() || !server_pids().is_empty() {
        assert!(Instant::now() < deadline, "nats-server did not stop within 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Starts the local server and waits until it accepts connections.
async fn start_server() {
    start_server_blocking();
}

fn start_server_blocking() {
    let status = Command::new(START_COMMAND[0]).args(&START_COMMAND[1..]).status().expect("start-stop-daemon runs");
    assert!(status.success(), "starting nats-server failed: {status}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !listening() {
        assert!(Instant::now() < deadline, "nats-server did not start listening on {LOCAL_SERVER} within 30 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts the server again if a check that stopped it fails half-way.
struct RestartOnDrop;

impl Drop for RestartOnDrop {
    fn drop(&mut self) {
        if !listening() {
            start_server_blocking();
        }
    }
}

macro_rules! contract_checks {
    ($($check:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $check() {
            let _broker = BROKER.read().await;
            contract::$check(&NATS).await;
        }
    )*};
}

contract_checks!(
    patterns_route_each_event_to_its_consumers,
    every_consumer_receives_its_own_copy,
    instances_of_a_consumer_share_its_queue,
    a_failed_handling_is_redelivered,
    the_last_failure_is_dead_lettered_then_replayed,
    broadcasts_reach_every_instance,
);

/// Once as deployed (JetStream drops the second publish of one event id: the redelivery after the
/// handler's failure is what the inbox absorbs), and once with de-duplication off, so that the
/// second publish is delivered too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_event_has_no_second_effect() {
    let _broker = BROKER.read().await;
    contract::a_redelivered_event_has_no_second_effect(&NATS).await;
    contract::a_redelivered_event_has_no_second_effect(&Nats { deduplicate: false }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_across_a_broker_restart() {
    let _broker = BROKER.write().await;
    let _restart = RestartOnDrop;
    contract::nothing_is_lost_across_a_broker_restart(&NATS).await;
}

// ---- NATS-specific checks, on the raw server ----

fn namespace() -> String {
    format!("nats-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

fn header(message: &async_nats::Message, name: &str) -> String {
    let headers = message.headers.as_ref().expect("the message has headers");
    headers.get(name).unwrap_or_else(|| panic!("header {name} is missing")).as_str().to_string()
}

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(Instant::now() < deadline, "{what} did not happen within 20 s");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A reader of `subject` on `stream` that sees everything stored there.
async fn raw_reader(stream: &str, subject: String) -> jetstream::consumer::PullConsumer {
    let js = jetstream::new(raw_client().await);
    let stream = js.get_stream(stream).await.expect("the stream exists");
    stream
        .create_consumer(pull::Config {
            durable_name: Some("raw-reader".to_string()),
            filter_subject: subject,
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ..Default::default()
        })
        .await
        .expect("a raw reader")
}

async fn read_all(reader: &jetstream::consumer::PullConsumer, wait: Duration) -> Vec<jetstream::Message> {
    let mut batch = reader.fetch().max_messages(10).expires(wait).messages().await.expect("a fetch");
    let mut messages = Vec::new();
    while let Some(message) = batch.next().await {
        let message = message.expect("a message");
        message.ack().await.expect("an ack");
        messages.push(message);
    }
    messages
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_events_carry_ce_headers_and_their_id_as_nats_msg_id() {
    let _broker = BROKER.read().await;
    let namespace = namespace();
    let bus = NATS.connect(&namespace, RetryPolicy::default()).await;
    // The events stream keeps messages only for the consumers there are: the reader comes first.
    let reader =
        raw_reader(&naming::events_stream(&namespace), naming::event_subject(&namespace, "order.checkout.completed"))
            .await;
    let sent = event("order.checkout.completed");
    bus.publish(&sent).await.unwrap();
    bus.publish(&sent).await.unwrap();

    let messages = read_all(&reader, Duration::from_secs(1)).await;
    assert_eq!(messages.len(), 1, "the second publish of one event is dropped by JetStream");
    let message = &messages[0];
    assert_eq!(message.subject.as_str(), format!("{namespace}.events.order.checkout.completed"));
    assert_eq!(header(message, "Nats-Msg-Id"), sent.id.to_string());
    assert_eq!(header(message, "ce-id"), sent.id.to_string());
    assert_eq!(header(message, "ce-type"), "order.checkout.completed");
    assert_eq!(header(message, "ce-source"), "source");
    assert_eq!(header(message, "ce-specversion"), "1.0");
    assert_eq!(header(message, "ce-correlationid"), "contract-correlation");
    assert_eq!(header(message, "ce-actorid"), "contract-user");
    assert_eq!(header(message, "content-type"), "application/json");
    assert!(header(message, "ce-time").ends_with('Z'));
    let body: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
    assert_eq!(body, sent.data, "the body is the event's data");
    bus.close().await;
    NATS.cleanup(&namespace).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_is_a_durable_of_its_own_on_file_backed_streams() {
    let _broker = BROKER.read().await;
    let f = Fixture::new(&NATS).await;
    let bus = f.bus(&[50]).await;
    f.subscribe(&bus, "inventory.order-events", &["order.checkout.*"]).await;
    let js = jetstream::new(raw_client().await);
    for name in [naming::events_stream(&f.namespace), naming::dead_letter_stream(&f.namespace)] {
        let stream = js.get_stream(&name).await.unwrap();
        assert_eq!(stream.cached_info().config.storage, jetstream::stream::StorageType::File, "{name}");
    }
    let stream = js.get_stream(naming::events_stream(&f.namespace)).await.unwrap();
    let durable = format!("{}_inventory_order-events", f.namespace);
    let info = stream.consumer_info(&durable).await.expect("the durable consumer, named without dots");
    assert_eq!(info.config.durable_name.as_deref(), Some(durable.as_str()));
    assert_eq!(info.config.filter_subject, format!("{}.events.order.checkout.*", f.namespace));
    assert_eq!(info.config.max_ack_pending, 10, "max_ack_pending is the prefetch");
    f.finish(&[&bus]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_publish_of_one_event_is_dropped_by_jetstream() {
    let _broker = BROKER.read().await;
    let f = Fixture::new(&NATS).await;
    let bus = f.bus(&[50]).await;
    let recorder = f.subscribe(&bus, "inventory.orders", &["order.#"]).await;
    let once = event("order.checkout.completed");
    bus.publish(&once).await.unwrap();
    bus.publish(&once).await.unwrap();
    f.wait_for_effects("inventory.orders", 1).await;
    assert!(bus.wait_idle(Duration::from_secs(5)).await, "the dropped publish is not waited for");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(recorder.calls.load(Ordering::SeqCst), 1, "one delivery");
    f.finish(&[&bus]).await;
}

struct AlwaysFails;

#[async_trait]
impl EventHandler for AlwaysFails {
    async fn handle(&self, _event: &EventEnvelope) -> comptoir_kernel::Result<()> {
        Err(Error::unavailable("downstream is down"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dead_letter_stream_holds_the_message_with_its_reason_and_attempt_count() {
    let _broker = BROKER.read().await;
    let f = Fixture::new(&NATS).await;
    let bus = f.bus(&[20, 20]).await;
    bus.subscribe(Consumer::new("billing.broken", &["order.#"], f.sink.clone(), Arc::new(AlwaysFails))).await.unwrap();
    let sent = event("order.checkout.completed");
    bus.publish(&sent).await.unwrap();
    eventually("dead-lettering", || async { dead_letters::count(&f.sink).await.unwrap() == 1 }).await;

    let reader = raw_reader(
        &naming::dead_letter_stream(&f.namespace),
        naming::dead_letter_subject(&f.namespace, "billing.broken"),
    )
    .await;
    let mut messages = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while messages.is_empty() && Instant::now() < deadline {
        messages = read_all(&reader, Duration::from_millis(500)).await;
    }
    assert_eq!(messages.len(), 1, "one copy on the dead-letter stream");
    let letter = &messages[0];
    assert_eq!(letter.subject.as_str(), format!("{}.dead.billing.broken", f.namespace));
    assert!(
        header(letter, DEAD_LETTER_REASON).contains("downstream is down"),
        "{}",
        header(letter, DEAD_LETTER_REASON)
    );
    assert_eq!(header(letter, DEAD_LETTER_ATTEMPTS), "3");
    assert_eq!(header(letter, DEAD_LETTER_CONSUMER), "billing.broken");
    assert_eq!(header(letter, DEAD_LETTER_SUBJECT), naming::event_subject(&f.namespace, "order.checkout.completed"));
    assert_eq!(header(letter, "ce-id"), sent.id.to_string());
    assert_eq!(header(letter, "ce-type"), "order.checkout.completed");
    let body: serde_json::Value = serde_json::from_slice(&letter.payload).unwrap();
    assert_eq!(body, sent.data);
    f.finish(&[&bus]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_message_is_terminated_and_the_consumer_goes_on() {
    let _broker = BROKER.read().await;
    let f = Fixture::new(&NATS).await;
    let bus = f.bus(&[50]).await;
    let recorder = f.subscribe(&bus, "sink.all", &["#"]).await;
    let js = jetstream::new(raw_client().await);
    js.publish(naming::event_subject(&f.namespace, "order.checkout.completed"), "not a CloudEvent".into())
        .await
        .unwrap()
        .await
        .unwrap();
    bus.publish(&event("order.checkout.completed")).await.unwrap();
    f.wait_for_effects("sink.all", 1).await;
    let stream = js.get_stream(naming::events_stream(&f.namespace)).await.unwrap();
    let durable = naming::durable_name(&f.namespace, "sink.all");
    eventually("both messages settled", || async {
        let info = stream.consumer_info(&durable).await.unwrap();
        info.num_ack_pending == 0 && info.num_pending == 0
    })
    .await;
    assert_eq!(recorder.calls.load(Ordering::SeqCst), 1, "the malformed message never reaches the handler");
    f.finish(&[&bus]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_whose_patterns_changed_keeps_the_events_waiting_for_it() {
    let _broker = BROKER.read().await;
    let f = Fixture::new(&NATS).await;
    let before = f.bus(&[50]).await;
    f.subscribe(&before, "sink.moving", &["order.checkout.completed"]).await;
    before.close().await;
    // Published while the consumer is not running, for its old patterns and its new ones.
    let publisher = f.bus(&[50]).await;
    publisher.publish(&event("order.checkout.completed")).await.unwrap();
    publisher.publish(&event("product.item.created")).await.unwrap();

    let after = f.bus(&[50]).await;
    f.subscribe(&after, "sink.moving", &["order.#", "product.item.*"]).await;
    f.wait_for_effects("sink.moving", 1).await;
    let js = jetstream::new(raw_client().await);
    let stream = js.get_stream(naming::events_stream(&f.namespace)).await.unwrap();
    let info = stream.consumer_info(naming::durable_name(&f.namespace, "sink.moving")).await.unwrap();
    assert_eq!(info.config.filter_subject, format!("{}.events.>", f.namespace));
    let bridge = format!("{}__bridge", naming::durable_name(&f.namespace, "sink.moving"));
    assert!(stream.consumer_info(&bridge).await.is_err(), "the bridge consumer is gone");
    after.publish(&event("product.item.created")).await.unwrap();
    f.wait_for_effects("sink.moving", 2).await;
    f.finish(&[&publisher, &after]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_to_an_absent_server_fails_naming_it() {
    let started = Instant::now();
    let error = NatsBus::connect(NatsConfig { url: "nats://127.0.0.1:1".to_string(), ..NatsConfig::default() })
        .await
        .err()
        .expect("no server listens on port 1");
    assert!(error.to_string().contains("nats://127.0.0.1:1"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(6), "took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_server_is_down_publish_fails_fast_and_check_says_why() {
    let _broker = BROKER.write().await;
    let _restart = RestartOnDrop;
    let f = Fixture::new(&NATS).await;
    let bus = f.bus(&[50]).await;
    f.subscribe(&bus, "sink.all", &["#"]).await;
    bus.check().await.expect("connected");

    stop_server().await;
    let started = Instant::now();
    let error = bus.publish(&event("order.checkout.completed")).await.expect_err("the server is down");
    assert!(started.elapsed() < Duration::from_secs(3), "publish took {:?}", started.elapsed());
    assert!(error.to_string().contains(&url()), "{error}");
    eventually("check reporting the outage", || async { bus.check().await.is_err() }).await;
    let reason = bus.check().await.unwrap_err().to_string();
    assert!(reason.contains(&url()), "{reason}");

    start_server().await;
    eventually("reconnection", || async { bus.check().await.is_ok() }).await;
    let resent = event("order.checkout.completed");
    eventually("a publish after the restart", || async { bus.publish(&resent).await.is_ok() }).await;
    f.wait_for_effects("sink.all", 1).await;
    f.finish(&[&bus]).await;
}
