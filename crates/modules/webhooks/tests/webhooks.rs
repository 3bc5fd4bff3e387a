//! The webhooks module against a real database (SQLite, or PostgreSQL when
//! COMPTOIR_TEST_BACKEND=postgres) and a real HTTP receiver on 127.0.0.1 that checks every
//! signature exactly as docs/WEBHOOKS.md tells third-party developers to. Events are handed to the
//! consumer's handler directly, as the bus would; dispatchers run as background tasks.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use comptoir_contracts::webhooks::events::{self, SubscriptionChanged, SubscriptionDeleted, SubscriptionDisabled};
use comptoir_contracts::webhooks::{
    Delivery, DeliveryFilter, DeliveryStatus, NewSubscription, SubscriptionPatch, SubscriptionWithSecret, WebhooksPort,
};
use comptoir_kernel::{Actor, Error, EventEnvelope, PageRequest, RequestContext};
use comptoir_storage::{outbox, query_scalar, testing};
use comptoir_webhooks::{DELIVERIES, MIGRATIONS, WebhooksConfig, WebhooksModule};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use uuid::Uuid;

// ---- Signature verification, copied from docs/WEBHOOKS.md --------------------------------------

fn verify(secret: &str, header: &str, raw_body: &[u8], now_secs: i64, tolerance_secs: i64) -> bool {
    let mut t = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => t = Some(value),
            Some(("v1", value)) => signatures.push(value),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    let Ok(t_secs) = t.parse::<i64>() else { return false };
    if (now_secs - t_secs).abs() > tolerance_secs {
        return false;
    }
    signatures.iter().any(|signature| {
        let Ok(signature) = hex::decode(signature) else { return false };
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(t.as_bytes());
        mac.update(b".");
        mac.update(raw_body);
        mac.verify_slice(&signature).is_ok() // constant-time comparison
    })
}

fn unix_now() -> i64 {
    comptoir_kernel::time::now().timestamp()
}

// ---- The receiver ------------------------------------------------------------------------------

/// One POST the receiver got.
#[derive(Debug, Clone)]
struct Hit {
    endpoint: String,
    at: Instant,
    headers: HeaderMap,
    body: Bytes,
    signature_valid: bool,
}

impl Hit {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Default)]
struct ReceiverState {
    hits: Mutex<Vec<Hit>>,
    /// The secret each endpoint verifies with.
    secrets: Mutex<BTreeMap<String, String>>,
    /// Statuses to answer next, per endpoint; 200 once they run out.
    script: Mutex<BTreeMap<String, VecDeque<u16>>>,
    /// Answer every request with this status instead (when set).
    always: Mutex<Option<u16>>,
    delay: Mutex<Duration>,
}

struct Receiver {
    base: String,
    state: Arc<ReceiverState>,
    server: JoinHandle<()>,
}

async fn receive(
    State(state): State<Arc<ReceiverState>>,
    Path(endpoint): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let delay = *state.delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let secret = state.secrets.lock().unwrap().get(&endpoint).cloned().unwrap_or_default();
    let signature = headers.get("comptoir-signature").and_then(|v| v.to_str().ok()).unwrap_or("");
    let signature_valid = verify(&secret, signature, &body, unix_now(), 300);
    let hit = Hit { endpoint: endpoint.clone(), at: Instant::now(), headers, body, signature_valid };
    state.hits.lock().unwrap().push(hit);
    let status = match *state.always.lock().unwrap() {
        Some(status) => status,
        None => state.script.lock().unwrap().get_mut(&endpoint).and_then(VecDeque::pop_front).unwrap_or(200),
    };
    if !signature_valid {
        return (StatusCode::BAD_REQUEST, "bad signature".into());
    }
    (StatusCode::from_u16(status).unwrap(), format!("answered {status}"))
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(ReceiverState::default());
        let app =
            axum::Router::new().route("/hooks/{endpoint}", axum::routing::post(receive)).with_state(state.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver { base, state, server }
    }

    fn url(&self, endpoint: &str) -> String {
        format!("{}/hooks/{endpoint}", self.base)
    }

    fn trust(&self, endpoint: &str, secret: &str) {
        self.state.secrets.lock().unwrap().insert(endpoint.into(), secret.into());
    }

    fn answer(&self, endpoint: &str, statuses: &[u16]) {
        self.state.script.lock().unwrap().insert(endpoint.into(), statuses.iter().copied().collect());
    }

    fn always(&self, status: Option<u16>) {
        *self.state.always.lock().unwrap() = status;
    }

    fn hits(&self, endpoint: &str) -> Vec<Hit> {
        self.state.hits.lock().unwrap().iter().filter(|h| h.endpoint == endpoint).cloned().collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

// ---- The shop ----------------------------------------------------------------------------------

struct Shop {
    db: testing::TestDb,
    hooks: WebhooksModule,
    dispatchers: Vec<JoinHandle<()>>,
}

impl Drop for Shop {
    fn drop(&mut self) {
        for dispatcher in &self.dispatchers {
            dispatcher.abort();
        }
    }
}

fn config() -> WebhooksConfig {
    WebhooksConfig {
        allow_http: true,
        allow_private_hosts: true,
        timeout: Duration::from_secs(3),
        retry_delays: vec![Duration::from_millis(150), Duration::from_millis(300)],
        disable_after_failures: 5,
        disable_after_failing_for: Duration::from_secs(3600),
        secret_grace: Duration::from_secs(3600),
        concurrency: 4,
    }
}

async fn open(config: WebhooksConfig) -> Shop {
    let db = testing::open("webhooks", &MIGRATIONS).await;
    let hooks = WebhooksModule::new(db.db.clone(), config);
    Shop { db, hooks, dispatchers: vec![] }
}

fn ctx() -> RequestContext {
    RequestContext::new("corr-webhooks", Actor::user("staff-1"))
}

fn event(event_type: &str) -> EventEnvelope {
    let data = serde_json::json!({"order_id": Uuid::now_v7(), "number": "CO-000042", "note": "café"});
    EventEnvelope::new(&ctx(), "ordering", event_type, data)
}

fn new_subscription(url: &str, patterns: &[&str]) -> NewSubscription {
    NewSubscription {
        url: url.into(),
        patterns: patterns.iter().map(|p| p.to_string()).collect(),
        description: "test endpoint".into(),
        enabled: true,
    }
}

fn all() -> PageRequest {
    PageRequest::new(1, 100).unwrap()
}

fn fields(e: &Error) -> Vec<&str> {
    e.field_errors().iter().map(|f| f.field.as_str()).collect()
}

/// Polls `check` until it holds, failing the test after 10 s.
async fn eventually<F: AsyncFn() -> bool>(what: &str, check: F) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl Shop {
    fn start_dispatcher(&mut self) {
        self.dispatchers.push(tokio::spawn(self.hooks.clone().run_dispatcher(Duration::from_millis(100))));
    }

    /// Hands the event to the consumer, as the bus would.
    async fn publish(&self, event: &EventEnvelope) {
        let consumers = self.hooks.consumers();
        let consumer = consumers.iter().find(|c| c.name == DELIVERIES).expect("the deliveries consumer");
        assert_eq!(consumer.patterns, ["#"]);
        consumer.handler.handle(event).await.unwrap();
    }

    async fn subscribe(&self, receiver: &Receiver, endpoint: &str, patterns: &[&str]) -> SubscriptionWithSecret {
        let created =
            self.hooks.create_subscription(&ctx(), new_subscription(&receiver.url(endpoint), patterns)).await.unwrap();
        receiver.trust(endpoint, &created.secret);
        created
    }

    async fn deliveries(&self, subscription_id: Uuid) -> Vec<Delivery> {
        self.hooks.deliveries(&ctx(), subscription_id, DeliveryFilter::default(), all()).await.unwrap().items
    }

    async fn events(&self, event_type: &str) -> Vec<EventEnvelope> {
        outbox::pending(&self.db, 1000).await.unwrap().into_iter().filter(|e| e.event_type == event_type).collect()
    }

    async fn count(&self, table: &str) -> i64 {
        query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
            .fetch_one(self.db.reader())
            .await
            .unwrap()
    }

    async fn status_of(&self, subscription_id: Uuid) -> Vec<DeliveryStatus> {
        self.deliveries(subscription_id).await.iter().map(|d| d.status).collect()
    }
}

// ---- Delivery ----------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matching_events_are_delivered_once_signed_with_the_envelope_as_body() {
    let receiver = Receiver::start().await;
    let mut shop = open(config()).await;
    let one_word = shop.subscribe(&receiver, "one-word", &["order.*"]).await;
    let orders = shop.subscribe(&receiver, "orders", &["order.#"]).await;
    let everything = shop.subscribe(&receiver, "everything", &["#"]).await;
    shop.start_dispatcher();

    let placed = event("order.order.placed");
    shop.publish(&placed).await;
    // The bus may deliver the same event again: still one delivery per subscription.
    shop.publish(&placed).await;
    let product = event("product.item.created");
    shop.publish(&product).await;

    eventually("both events reach `#` and the order reaches `order.#`", async || {
        receiver.hits("everything").len() == 2 && receiver.hits("orders").len() == 1
    })
    .await;
    // `*` is exactly one word: `order.*` wants two-word types, so no event of ours.
    assert!(shop.deliveries(one_word.subscription.id).await.is_empty());

    let deliveries = shop.deliveries(orders.subscription.id).await;
    assert_eq!(deliveries.len(), 1);
    let delivery = &deliveries[0];
    eventually("the delivery is recorded as delivered", async || {
        shop.hooks.delivery(&ctx(), delivery.id).await.unwrap().delivery.status == DeliveryStatus::Delivered
    })
    .await;
    let hit = &receiver.hits("orders")[0];
    assert!(hit.signature_valid, "the signature verifies as the documentation says");
    assert_eq!(hit.header("content-type"), "application/json");
    assert_eq!(hit.header("comptoir-webhook-id"), delivery.id.to_string());
    assert_eq!(hit.header("comptoir-event-id"), placed.id.to_string());
    assert_eq!(hit.header("comptoir-event-type"), "order.order.placed");
    assert_eq!(hit.header("comptoir-webhook-attempt"), "1");
    assert_eq!(hit.json(), serde_json::to_value(&placed).unwrap(), "the body is the envelope");
    for key in ["id", "type", "version", "timestamp", "source", "correlation_id", "data", "metadata"] {
        assert!(hit.json().get(key).is_some(), "the body has {key}");
    }
    assert!(!String::from_utf8_lossy(&hit.body).contains(&orders.secret));
    // A signature made with another secret, or too old, does not verify.
    let signature = hit.header("comptoir-signature");
    assert!(!verify(&everything.secret, signature, &hit.body, unix_now(), 300));
    assert!(!verify(&orders.secret, signature, &hit.body, unix_now() + 301, 300));
    assert!(!verify(&orders.secret, signature, b"{\"tampered\":true}", unix_now(), 300));

    let detail = shop.hooks.delivery(&ctx(), delivery.id).await.unwrap();
    assert_eq!((detail.delivery.attempts, detail.delivery.last_response_code), (1, Some(200)));
    assert!(detail.delivery.delivered_at.is_some() && detail.delivery.next_attempt_at.is_none());
    assert_eq!(detail.payload, serde_json::to_value(&placed).unwrap());
    let attempt = &detail.attempts[0];
    assert_eq!((attempt.number, attempt.manual, attempt.succeeded), (1, false, true));
    assert_eq!((attempt.response_code, attempt.response_body.as_deref()), (Some(200), Some("answered 200")));
    assert_eq!(attempt.error, None);

    let types: Vec<String> =
        receiver.hits("everything").iter().map(|h| h.header("comptoir-event-type").to_string()).collect();
    assert_eq!(
        types.iter().collect::<HashSet<_>>(),
        HashSet::from([&"order.order.placed".into(), &"product.item.created".into()])
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.hits("orders").len(), 1, "delivered once, never again");
    assert_eq!(receiver.hits("everything").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_retried_with_backoff_until_delivered() {
    let receiver = Receiver::start().await;
    let mut shop = open(config()).await;
    let sub = shop.subscribe(&receiver, "flaky", &["order.#"]).await;
    receiver.answer("flaky", &[500, 500]);
    shop.start_dispatcher();
    shop.publish(&event("order.checkout.completed")).await;

    let id = shop.deliveries(sub.subscription.id).await[0].id;
    eventually("the third attempt delivers", async || {
        shop.hooks.delivery(&ctx(), id).await.unwrap().delivery.status == DeliveryStatus::Delivered
    })
    .await;
    let detail = shop.hooks.delivery(&ctx(), id).await.unwrap();
    let codes: Vec<_> = detail.attempts.iter().map(|a| a.response_code).collect();
    assert_eq!(codes, [Some(500), Some(500), Some(200)]);
    assert_eq!(detail.attempts[0].response_body.as_deref(), Some("answered 500"));
    assert!(detail.attempts[0].error.as_deref().unwrap().contains("HTTP 500"));
    assert_eq!(detail.delivery.attempts, 3);

    // The backoff is respected: 150 ms, then 300 ms at least between attempts.
    let at: Vec<_> = detail.attempts.iter().map(|a| a.attempted_at).collect();
    assert!(at[1] - at[0] >= chrono::TimeDelta::milliseconds(150), "{at:?}");
    assert!(at[2] - at[1] >= chrono::TimeDelta::milliseconds(300), "{at:?}");
    let hits = receiver.hits("flaky");
    assert_eq!(hits.len(), 3);
    assert!(hits[1].at - hits[0].at >= Duration::from_millis(150));
    assert!(hits[2].at - hits[1].at >= Duration::from_millis(300));
    assert!(hits.iter().all(|h| h.header("comptoir-webhook-id") == id.to_string()), "one id for every retry");
    let attempts: Vec<_> = hits.iter().map(|h| h.header("comptoir-webhook-attempt").to_string()).collect();
    assert_eq!(attempts, ["1", "2", "3"]);
    assert!(hits.iter().all(|h| h.signature_valid));

    let subscription = shop.hooks.subscription(&ctx(), sub.subscription.id).await.unwrap();
    assert_eq!((subscription.consecutive_failures, subscription.failing_since), (0, None), "a success resets");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_endpoint_is_disabled_and_can_be_redelivered_to_once_it_works() {
    let receiver = Receiver::start().await;
    let mut shop = open(WebhooksConfig { retry_delays: vec![Duration::from_millis(50); 2], ..config() }).await;
    let sub = shop.subscribe(&receiver, "down", &["#"]).await;
    let id = sub.subscription.id;
    receiver.always(Some(500));
    shop.start_dispatcher();

    // Three attempts (one and two retries): the delivery fails; the subscription stays enabled.
    shop.publish(&event("order.order.placed")).await;
    eventually("the first delivery fails", async || shop.status_of(id).await == [DeliveryStatus::Failed]).await;
    let first = shop.deliveries(id).await[0].clone();
    assert_eq!((first.attempts, first.last_response_code), (3, Some(500)));
    let subscription = shop.hooks.subscription(&ctx(), id).await.unwrap();
    assert!(subscription.enabled);
    assert_eq!(subscription.consecutive_failures, 3);
    assert!(subscription.failing_since.is_some());

    // Two more failures make five: disabled, its pending delivery stopped, staff told.
    shop.publish(&event("order.order.cancelled")).await;
    eventually("the subscription is disabled", async || !shop.hooks.subscription(&ctx(), id).await.unwrap().enabled)
        .await;
    let subscription = shop.hooks.subscription(&ctx(), id).await.unwrap();
    assert_eq!(subscription.consecutive_failures, 5);
    assert!(subscription.disabled_reason.as_deref().unwrap().contains("5 consecutive failed"), "{subscription:?}");
    let second = shop.deliveries(id).await[0].clone();
    assert_eq!((second.status, second.attempts), (DeliveryStatus::Failed, 2));
    let disabled = shop.events(events::SUBSCRIPTION_DISABLED).await;
    assert_eq!(disabled.len(), 1);
    assert_eq!(disabled[0].source, "webhooks");
    let data: SubscriptionDisabled = disabled[0].data_as().unwrap();
    assert_eq!((data.subscription_id, data.url.as_str(), data.failures), (id, receiver.url("down").as_str(), 5));
    assert!(data.reason.contains("consecutive"));
    assert!(!serde_json::to_string(&disabled[0]).unwrap().contains(&sub.secret));

    // No further attempts, and new events are not recorded for it.
    let hits = receiver.hits("down").len();
    assert_eq!(hits, 5);
    shop.publish(&event("order.order.placed")).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(receiver.hits("down").len(), hits);
    assert_eq!(shop.deliveries(id).await.len(), 2);

    // Re-enabling starts the count again.
    let patch = SubscriptionPatch { enabled: Some(true), ..Default::default() };
    let enabled = shop.hooks.update_subscription(&ctx(), id, patch).await.unwrap();
    assert!(enabled.enabled);
    assert_eq!((enabled.consecutive_failures, enabled.failing_since, enabled.disabled_reason), (0, None, None));

    // Once the endpoint works, staff redeliver the first failed delivery: one attempt, now.
    receiver.always(None);
    let redelivered = shop.hooks.redeliver(&ctx(), first.id).await.unwrap();
    assert_eq!(redelivered.delivery.status, DeliveryStatus::Delivered);
    assert_eq!(redelivered.delivery.attempts, 4);
    let last = redelivered.attempts.last().unwrap();
    assert_eq!((last.number, last.manual, last.response_code, last.succeeded), (4, true, Some(200), true));
    assert_eq!(receiver.hits("down").len(), hits + 1);
    assert!(receiver.hits("down").last().unwrap().signature_valid);
    assert_eq!(receiver.hits("down").last().unwrap().header("comptoir-webhook-id"), first.id.to_string());

    let failed = shop
        .hooks
        .deliveries(&ctx(), id, DeliveryFilter { status: Some(DeliveryStatus::Failed) }, all())
        .await
        .unwrap();
    assert_eq!((failed.total, failed.items[0].id), (1, second.id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_endpoint_is_a_failed_attempt_with_the_reason() {
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/gone", closed.local_addr().unwrap());
    drop(closed);
    let mut shop = open(WebhooksConfig { retry_delays: vec![], disable_after_failures: 1, ..config() }).await;
    let sub = shop.hooks.create_subscription(&ctx(), new_subscription(&url, &["#"])).await.unwrap();
    shop.start_dispatcher();
    shop.publish(&event("order.order.placed")).await;

    let id = sub.subscription.id;
    eventually("the only attempt fails", async || shop.status_of(id).await == [DeliveryStatus::Failed]).await;
    let delivery = shop.hooks.delivery(&ctx(), shop.deliveries(id).await[0].id).await.unwrap();
    let attempt = &delivery.attempts[0];
    assert_eq!((attempt.response_code, attempt.succeeded), (None, false));
    assert!(attempt.error.as_deref().unwrap().to_lowercase().contains("connect"), "{:?}", attempt.error);
    eventually("one failure disables it", async || !shop.hooks.subscription(&ctx(), id).await.unwrap().enabled).await;
    assert_eq!(shop.events(events::SUBSCRIPTION_DISABLED).await.len(), 1);
}

// ---- Idempotence and concurrency ---------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_delivery_is_sent_once_whatever_the_redeliveries_and_dispatchers() {
    let receiver = Receiver::start().await;
    *receiver.state.delay.lock().unwrap() = Duration::from_millis(20);
    let mut shop = open(config()).await;
    let sub = shop.subscribe(&receiver, "busy", &["order.#"]).await;

    // Every event handed to the consumer twice, concurrently.
    let events: Vec<_> = (0..24).map(|_| event("order.order.placed")).collect();
    let handling = events.iter().flat_map(|e| [e.clone(), e.clone()]).map(|e| {
        let hooks = shop.hooks.clone();
        tokio::spawn(async move {
            let consumers = hooks.consumers();
            consumers[0].handler.handle(&e).await.unwrap();
        })
    });
    for handled in handling.collect::<Vec<_>>() {
        handled.await.unwrap();
    }
    assert_eq!(shop.deliveries(sub.subscription.id).await.len(), 24);
    assert_eq!(shop.count("inbox").await, 24);

    // Three dispatchers race for the same deliveries.
    for _ in 0..3 {
        shop.start_dispatcher();
    }
    let id = sub.subscription.id;
    eventually("every delivery is delivered", async || {
        shop.status_of(id).await.iter().all(|s| *s == DeliveryStatus::Delivered)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let hits = receiver.hits("busy");
    let ids: HashSet<_> = hits.iter().map(|h| h.header("comptoir-webhook-id").to_string()).collect();
    assert_eq!((hits.len(), ids.len()), (24, 24), "each delivery sent exactly once");
    assert!(hits.iter().all(|h| h.signature_valid));
    assert_eq!(shop.count("delivery_attempts").await, 24);
}

// ---- Managing subscriptions --------------------------------------------------------------------

#[tokio::test]
async fn bad_input_is_refused_naming_the_field_and_nothing_is_stored() {
    let shop = open(WebhooksConfig { allow_http: false, allow_private_hosts: false, ..config() }).await;
    let refused = [
        (new_subscription("http://hooks.example.com/in", &["#"]), vec!["url"]),
        (new_subscription("not a url", &["#"]), vec!["url"]),
        (new_subscription("https://user:secret@hooks.example.com/", &["#"]), vec!["url"]),
        (new_subscription("https://127.0.0.1/hook", &["#"]), vec!["url"]),
        (new_subscription("https://hooks.example.com/in", &[]), vec!["patterns"]),
        (
            new_subscription("https://hooks.example.com/in", &["order.*", "Order.*", "order..placed"]),
            vec!["patterns[1]", "patterns[2]"],
        ),
        (new_subscription("ftp://hooks.example.com/", &[""]), vec!["url", "patterns[0]"]),
    ];
    for (new, expected) in refused {
        let e = shop.hooks.create_subscription(&ctx(), new).await.unwrap_err();
        assert_eq!((e.status(), fields(&e)), (422, expected), "{e}");
    }
    let mut long = new_subscription("https://hooks.example.com/in", &["#"]);
    long.description = "x".repeat(501);
    let e = shop.hooks.create_subscription(&ctx(), long).await.unwrap_err();
    assert_eq!(fields(&e), ["description"]);

    assert_eq!(shop.hooks.subscriptions(&ctx(), all()).await.unwrap().total, 0);
    assert_eq!(shop.count("subscriptions").await, 0);
    assert!(outbox::pending(&shop.db, 100).await.unwrap().is_empty());

    // An update is checked whole before anything changes.
    let sub = shop.hooks.create_subscription(&ctx(), new_subscription("https://hooks.example.com/in", &["#"])).await;
    let sub = sub.unwrap().subscription;
    let patch = SubscriptionPatch {
        url: Some("http://hooks.example.com/in".into()),
        patterns: Some(vec!["BAD".into()]),
        description: Some("new".into()),
        enabled: Some(false),
    };
    let e = shop.hooks.update_subscription(&ctx(), sub.id, patch).await.unwrap_err();
    assert_eq!(fields(&e), ["url", "patterns[0]"]);
    let unchanged = shop.hooks.subscription(&ctx(), sub.id).await.unwrap();
    assert_eq!((unchanged.description.as_str(), unchanged.enabled), ("test endpoint", true));

    // Unknown ids are not found; bad pages name the field.
    let nobody = Uuid::now_v7();
    let not_found = [
        shop.hooks.subscription(&ctx(), nobody).await.unwrap_err(),
        shop.hooks.update_subscription(&ctx(), nobody, SubscriptionPatch::default()).await.unwrap_err(),
        shop.hooks.delete_subscription(&ctx(), nobody).await.unwrap_err(),
        shop.hooks.rotate_secret(&ctx(), nobody).await.unwrap_err(),
        shop.hooks.deliveries(&ctx(), nobody, DeliveryFilter::default(), all()).await.unwrap_err(),
        shop.hooks.delivery(&ctx(), nobody).await.unwrap_err(),
        shop.hooks.redeliver(&ctx(), nobody).await.unwrap_err(),
    ];
    for e in not_found {
        assert_eq!(e.status(), 404, "{e}");
    }
    let e = shop.hooks.subscriptions(&ctx(), PageRequest { page: 0, per_page: 10 }).await.unwrap_err();
    assert_eq!(fields(&e), ["page"]);
}

#[tokio::test]
async fn subscriptions_are_listed_changed_and_deleted_with_their_events() {
    let receiver = Receiver::start().await;
    let shop = open(config()).await;
    let first = shop.subscribe(&receiver, "a", &["order.#"]).await.subscription;
    let second = shop.subscribe(&receiver, "b", &["#"]).await.subscription;

    let listed = shop.hooks.subscriptions(&ctx(), PageRequest::new(1, 1).unwrap()).await.unwrap();
    assert_eq!((listed.total, listed.items.len(), listed.items[0].id), (2, 1, second.id), "newest first");

    // A patch that changes nothing announces nothing.
    let same = SubscriptionPatch { description: Some(" test endpoint ".into()), ..Default::default() };
    shop.hooks.update_subscription(&ctx(), first.id, same).await.unwrap();
    assert!(shop.events(events::SUBSCRIPTION_UPDATED).await.is_empty());

    let patch = SubscriptionPatch {
        url: Some(receiver.url("a2")),
        patterns: Some(vec!["order.order.*".into(), "shipping.#".into()]),
        description: Some("ERP".into()),
        enabled: Some(false),
    };
    let updated = shop.hooks.update_subscription(&ctx(), first.id, patch).await.unwrap();
    assert_eq!(updated.url, receiver.url("a2"));
    assert_eq!(updated.patterns, ["order.order.*", "shipping.#"]);
    assert_eq!((updated.description.as_str(), updated.enabled), ("ERP", false));
    assert_eq!(updated.disabled_reason.as_deref(), Some("disabled by staff"));
    // A staff-disabled subscription gets no deliveries.
    shop.publish(&event("order.order.placed")).await;
    assert!(shop.deliveries(first.id).await.is_empty());
    assert_eq!(shop.deliveries(second.id).await.len(), 1);

    let created: Vec<SubscriptionChanged> =
        shop.events(events::SUBSCRIPTION_CREATED).await.iter().map(|e| e.data_as().unwrap()).collect();
    assert_eq!(created.iter().map(|c| c.subscription_id).collect::<Vec<_>>(), [first.id, second.id]);
    let changes = shop.events(events::SUBSCRIPTION_UPDATED).await;
    assert_eq!(changes.len(), 1);
    assert_eq!((changes[0].correlation_id.as_str(), changes[0].source.as_str()), ("corr-webhooks", "webhooks"));
    let change: SubscriptionChanged = changes[0].data_as().unwrap();
    assert_eq!(change.changed, ["url", "patterns", "description", "enabled"]);

    shop.hooks.delete_subscription(&ctx(), second.id).await.unwrap();
    assert_eq!(shop.hooks.subscription(&ctx(), second.id).await.unwrap_err().status(), 404);
    assert_eq!(shop.count("deliveries").await, 0, "its deliveries went with it");
    let deleted: SubscriptionDeleted = shop.events(events::SUBSCRIPTION_DELETED).await[0].data_as().unwrap();
    assert_eq!((deleted.subscription_id, deleted.url), (second.id, receiver.url("b")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secret_is_shown_once_and_a_rotation_signs_with_both_for_a_while() {
    let receiver = Receiver::start().await;
    let mut shop = open(config()).await;
    let created = shop.subscribe(&receiver, "rotating", &["#"]).await;
    let old = created.secret.clone();
    assert!(old.starts_with("whsec_") && old.len() == 70, "{old}");
    assert_eq!(created.subscription.secret_hint, format!("whsec_…{}", &old[old.len() - 4..]));

    // Reads never show it, nor do the events.
    let read = shop.hooks.subscription(&ctx(), created.subscription.id).await.unwrap();
    let listed = shop.hooks.subscriptions(&ctx(), all()).await.unwrap();
    for shown in [serde_json::to_string(&read).unwrap(), serde_json::to_string(&listed).unwrap()] {
        assert!(!shown.contains(&old[6..]), "{shown}");
    }

    let rotated = shop.hooks.rotate_secret(&ctx(), created.subscription.id).await.unwrap();
    let new = rotated.secret.clone();
    assert_ne!(new, old);
    assert_eq!(rotated.subscription.secret_hint, format!("whsec_…{}", &new[new.len() - 4..]));
    for event in outbox::pending(&shop.db, 100).await.unwrap() {
        let text = serde_json::to_string(&event).unwrap();
        assert!(!text.contains(&old[6..]) && !text.contains(&new[6..]), "{text}");
    }
    let change: SubscriptionChanged = shop.events(events::SUBSCRIPTION_UPDATED).await[0].data_as().unwrap();
    assert_eq!(change.changed, ["secret"]);

    // During the grace period a receiver holding either secret accepts the delivery.
    receiver.trust("rotating", &new);
    shop.start_dispatcher();
    shop.publish(&event("order.order.placed")).await;
    eventually("the delivery arrives", async || receiver.hits("rotating").len() == 1).await;
    let hit = &receiver.hits("rotating")[0];
    let signature = hit.header("comptoir-signature");
    assert_eq!(signature.matches("v1=").count(), 2, "{signature}");
    assert!(verify(&new, signature, &hit.body, unix_now(), 300));
    assert!(verify(&old, signature, &hit.body, unix_now(), 300));

    // Without a grace period only the new secret signs.
    let shop = open(WebhooksConfig { secret_grace: Duration::ZERO, ..config() }).await;
    let created = shop.subscribe(&receiver, "strict", &["#"]).await;
    let rotated = shop.hooks.rotate_secret(&ctx(), created.subscription.id).await.unwrap();
    receiver.trust("strict", &rotated.secret);
    let mut shop = shop;
    shop.start_dispatcher();
    shop.publish(&event("order.order.placed")).await;
    eventually("the delivery arrives", async || receiver.hits("strict").len() == 1).await;
    let hit = &receiver.hits("strict")[0];
    assert_eq!(hit.header("comptoir-signature").matches("v1=").count(), 1);
    assert!(hit.signature_valid);
    assert!(!verify(&created.secret, hit.header("comptoir-signature"), &hit.body, unix_now(), 300));
}

#[tokio::test]
async fn a_redelivery_racing_a_dispatcher_is_refused_rather_than_sent_twice() {
    let receiver = Receiver::start().await;
    *receiver.state.delay.lock().unwrap() = Duration::from_millis(500);
    let shop = open(config()).await;
    let sub = shop.subscribe(&receiver, "slow", &["#"]).await;
    shop.publish(&event("order.order.placed")).await;
    let id = shop.deliveries(sub.subscription.id).await[0].id;

    let hooks = shop.hooks.clone();
    let round = tokio::spawn(async move { hooks.dispatch_due().await.unwrap() });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let e = shop.hooks.redeliver(&ctx(), id).await.unwrap_err();
    assert_eq!((e.status(), e.code()), (409, "delivery-in-progress"));
    assert_eq!(round.await.unwrap(), 1);
    assert_eq!(receiver.hits("slow").len(), 1);
    let detail = shop.hooks.delivery(&ctx(), id).await.unwrap();
    assert_eq!((detail.delivery.status, detail.attempts.len()), (DeliveryStatus::Delivered, 1));
}
