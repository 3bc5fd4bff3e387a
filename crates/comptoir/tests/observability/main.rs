//! What operators see of a checkout: one connected trace, received over OTLP by a collector
//! running in this test, and log lines that carry the correlation id and never a secret.
//!
//! Runs in whichever topology `COMPTOIR_TEST_TOPOLOGY` names: in the distributed one the trace
//! crosses the gateway, gRPC calls between services and the broker's message headers.

#[allow(dead_code)]
#[path = "../api/support.rs"]
mod support;

#[allow(dead_code)]
#[path = "../api/shop.rs"]
mod shop;

mod collector;
mod process;

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use comptoir_telemetry::{LogSettings, Telemetry, TracesSettings};
use serde_json::{Value, json};

use comptoir::extraction::Loads;

use crate::collector::{Collector, ReceivedSpan};
use crate::shop::{cart_with, checkout_body, fulfilment};
use crate::support::{TestApp, Topology, spawn_app, topology};

/// Logs and traces are process-wide: installed once for every test of this binary.
struct Observed {
    collector: Collector,
    telemetry: Telemetry,
    logs: Arc<Mutex<Vec<u8>>>,
}

/// The telemetry, and this test's turn: metrics and logs are process-wide, so each test reads
/// them while no other runs.
async fn observed() -> (&'static Observed, tokio::sync::MutexGuard<'static, ()>) {
    static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let turn = TURN.lock().await;
    (telemetry(), turn)
}

fn telemetry() -> &'static Observed {
    static OBSERVED: OnceLock<Observed> = OnceLock::new();
    OBSERVED.get_or_init(|| {
        let collector = Collector::start();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        let telemetry = comptoir_telemetry::init_with_writer(
            // Debug for Comptoir and its SQL: as much as an operator could turn on.
            &LogSettings { format: "json".into(), level: "info,comptoir=debug,sqlx=debug".into() },
            &TracesSettings {
                endpoint: Some(collector.endpoint()),
                service_name: "comptoir-test".into(),
                sample_ratio: 1.0,
                batch_delay: Duration::from_millis(100),
            },
            true,
            move || LogSink(sink.clone()),
        )
        .expect("telemetry starts");
        Observed { collector, telemetry, logs }
    })
}

struct LogSink(Arc<Mutex<Vec<u8>>>);

impl Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A trace begun by the test itself, as a browser's or an upstream proxy's would be.
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// A shop with a stocked product and a customer with a cart; returns (customer token, cart id).
async fn shop_with_a_cart(t: &TestApp, email: &str, sku_prefix: &str) -> (String, String) {
    let admin = t.admin_token().await;
    fulfilment(t, &admin).await;
    t.stocked_product(&admin, sku_prefix, 5).await;
    let (_, customer, _) = t.customer(email).await;
    let cart = cart_with(t, &customer, &format!("{sku_prefix}-S"), 2).await;
    (customer, cart)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkout_is_one_connected_trace_from_the_caller_to_the_event_handlers() {
    let (observed, _alone) = observed().await;
    let t = spawn_app().await;
    let (customer, cart) = shop_with_a_cart(&t, "trace@shop.test", "TRC").await;

    let traceparent = format!("00-{TRACE_ID}-{CALLER_SPAN}-01");
    check_out(&t, &customer, &cart, &[("idempotency-key", "traced-checkout"), ("traceparent", &traceparent)]).await;
    t.settle().await;

    // Every step of the saga and the handlers two hops down the event chain.
    let expected = [
        "POST /api/v1/checkout",
        "checkout",
        "checkout.price",
        "checkout.place_order",
        "checkout.reserve_stock",
        "checkout.take_payment",
        "checkout.confirm_order",
        "inventory.orders handle order.checkout.completed",
        "shipping.shipments handle order.checkout.completed",
        "cart.checkouts handle order.checkout.completed",
        "ordering.shipments handle shipping.shipment.created",
    ];
    let spans = wait_for_trace(observed, TRACE_ID, &expected).await;
    let names: HashSet<&str> = spans.iter().map(|s| s.name.as_str()).collect();

    // Connected: the request's span is the caller's child, and every other span's parent is a
    // span of the same trace.
    let ids: HashSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
    let request = spans.iter().find(|s| s.name == "POST /api/v1/checkout").unwrap();
    assert_eq!(request.parent_span_id, CALLER_SPAN, "the request continues the caller's trace");
    for span in &spans {
        if span.span_id != request.span_id {
            assert!(
                ids.contains(span.parent_span_id.as_str()),
                "span {:?} hangs from {:?}, which is not in the trace: {names:?}",
                span.name,
                span.parent_span_id
            );
        }
    }
    // The chain of causes: the handler of the shipment's event descends from the handler of the
    // confirmation, which descends from the saga's confirmation step.
    let by_id: HashMap<&str, &ReceivedSpan> = spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    let ancestors = |span: &ReceivedSpan| {
        let mut names = Vec::new();
        let mut parent = by_id.get(span.parent_span_id.as_str());
        while let Some(p) = parent {
            names.push(p.name.clone());
            parent = by_id.get(p.parent_span_id.as_str());
        }
        names
    };
    let shipment_handled =
        spans.iter().find(|s| s.name == "ordering.shipments handle shipping.shipment.created").unwrap();
    let chain = ancestors(shipment_handled);
    for step in
        ["shipping.shipments handle order.checkout.completed", "checkout.confirm_order", "POST /api/v1/checkout"]
    {
        assert!(chain.iter().any(|n| n == step), "{step} is not among the ancestors {chain:?}");
    }
    let handler = spans.iter().find(|s| s.name == "inventory.orders handle order.checkout.completed").unwrap();
    assert_eq!(handler.attribute("correlation_id"), request.attribute("correlation_id"));
    assert_eq!(handler.kind, "consumer");

    if topology() == Topology::Distributed {
        // Across processes: the gateway's gRPC call to ordering, answered by the ordering service
        // as the child of that call, which in turn calls inventory and payment.
        let client = spans.iter().find(|s| s.name == "ordering/Checkout").expect("the gateway calls ordering");
        let server = spans
            .iter()
            .find(|s| s.kind == "server" && s.name.ends_with("OrderingService/Checkout"))
            .expect("the ordering service answers");
        assert_eq!(server.parent_span_id, client.span_id);
        for call in ["inventory/Reserve", "payment/Charge"] {
            assert!(names.contains(call), "{call} missing from {names:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_lines_carry_the_correlation_id_and_never_a_secret() {
    let (observed, _alone) = observed().await;
    let t = spawn_app().await;
    let (customer, cart) = shop_with_a_cart(&t, "logs@shop.test", "LOG").await;
    check_out(
        &t,
        &customer,
        &cart,
        &[("idempotency-key", "logged-checkout"), ("x-correlation-id", "corr-logged-checkout")],
    )
    .await;
    // A refused login and a declined card are logged too.
    t.post("/api/v1/auth/login", None, json!({"email": "logs@shop.test", "password": "wrong-password-9"}))
        .await
        .expect(401);
    let refresh = t
        .post("/api/v1/auth/login", None, json!({"email": "logs@shop.test", "password": "customer-pass-1"}))
        .await
        .expect(200);
    t.settle().await;

    let logs = String::from_utf8(observed.logs.lock().unwrap().clone()).expect("UTF-8 logs");
    let lines: Vec<Value> = logs.lines().map(|l| serde_json::from_str(l).expect("every line is JSON")).collect();
    let of_checkout: Vec<&Value> =
        lines.iter().filter(|l| correlation_ids(l).contains("corr-logged-checkout")).collect();
    assert!(
        of_checkout.len() >= 10,
        "the checkout's SQL, saga and handlers log under its correlation id: {} lines",
        of_checkout.len()
    );
    let targets: HashSet<&str> = of_checkout.iter().filter_map(|l| l["target"].as_str()).collect();
    assert!(targets.iter().any(|t| t.starts_with("sqlx")), "{targets:?}");
    // Every line written inside a span (a request, a call, a handler) names its correlation id.
    for line in &lines {
        if line["spans"].as_array().is_some_and(|s| !s.is_empty()) {
            assert!(!correlation_ids(line).is_empty(), "a line without a correlation id: {line}");
        }
    }

    let secrets = [
        "customer-pass-1",
        "wrong-password-9",
        "staff-password-123",
        customer.as_str(),
        refresh["access_token"].as_str().unwrap(),
        refresh["refresh_token"].as_str().unwrap(),
        "tok_visa",
        "test-secret-test-secret",
    ];
    for secret in secrets {
        assert!(!logs.contains(secret), "a log line holds a secret ({}…)", &secret[..8]);
    }
    // Nor do the events the modules published.
    let events = every_event(&t).await;
    assert!(events.len() > 10, "{} events", events.len());
    for secret in secrets {
        assert!(!events.iter().any(|e| e.contains(secret)), "an event holds a secret ({}…)", &secret[..8]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_extraction_report_names_the_module_taking_the_load() {
    let (_, _alone) = observed().await;
    let t = spawn_app().await;
    let (customer, cart) = shop_with_a_cart(&t, "load@shop.test", "LOAD").await;
    let before = Loads::from_metrics(&metrics(&t).await);

    // Shoppers browse and search a lot, and one of them buys.
    for page in 0..150 {
        t.get(&format!("/api/v1/products?page={}", page % 3 + 1), None).await.expect(200);
        t.get(&format!("/api/v1/products?q=product+{page}"), None).await.expect(200);
    }
    check_out(&t, &customer, &cart, &[("idempotency-key", "loaded-checkout")]).await;
    t.settle().await;
    // The database time is sampled every 10 ms.
    tokio::time::sleep(Duration::from_millis(250)).await;

    let window = Loads::from_metrics(&metrics(&t).await).since(&before);
    let catalog = &window.0["catalog"];
    assert!(catalog.calls >= 300.0, "{catalog:?}");
    assert!(catalog.cpu_seconds > 0.0 && catalog.db_seconds > 0.0, "{catalog:?}");
    assert!(window.0["ordering"].events_emitted >= 2.0, "placed and completed: {:?}", window.0["ordering"]);
    assert!(window.0["inventory"].events_handled >= 1.0, "{:?}", window.0["inventory"]);
    let shares = window.shares();
    assert_eq!(shares[0].module, "catalog", "{shares:#?}");
    let report = comptoir::extraction::render(&window, "over the test");
    assert!(report.contains("First candidate to extract: catalog"), "{report}");
    assert!(report.contains("comptoir serve --service catalog"), "{report}");
}

/// Checks `cart` out with the test card, sending `headers` too; the order must be confirmed.
async fn check_out(t: &TestApp, customer: &str, cart: &str, headers: &[(&str, &str)]) {
    let order = t
        .call_with(
            reqwest::Method::POST,
            "/api/v1/checkout",
            Some(customer),
            Some(checkout_body(cart, "tok_visa")),
            headers,
        )
        .await
        .expect(201);
    assert_eq!(order["status"], "confirmed");
}

/// The text of the API process's `/metrics`.
async fn metrics(t: &TestApp) -> String {
    let reply = t.http.get(format!("{}/metrics", t.base)).send().await.expect("metrics answer");
    reply.text().await.expect("metrics text")
}

/// The correlation ids a JSON log line names, in its fields or its spans'.
fn correlation_ids(line: &Value) -> HashSet<String> {
    let mut ids = HashSet::new();
    let mut look = |fields: &Value| {
        if let Some(id) = fields["correlation_id"].as_str().filter(|id| !id.is_empty()) {
            ids.insert(id.to_string());
        }
    };
    look(&line["fields"]);
    for span in line["spans"].as_array().into_iter().flatten() {
        look(span);
    }
    ids
}

/// Every event still in the outboxes of every process (published ones are kept a day).
async fn every_event(t: &TestApp) -> Vec<String> {
    let processes = std::iter::once(&t.app).chain(t.services.iter().filter_map(|s| s.app.as_ref()));
    let mut events = Vec::new();
    for app in processes {
        for db in &app.databases {
            let rows: Vec<(String,)> =
                sqlx::query_as("SELECT envelope FROM outbox").fetch_all(db.reader()).await.expect("outbox readable");
            events.extend(rows.into_iter().map(|(envelope,)| envelope));
        }
    }
    events
}

/// The spans of `trace_id` once every expected name has arrived (spans leave in batches).
async fn wait_for_trace(observed: &Observed, trace_id: &str, expected: &[&str]) -> Vec<ReceivedSpan> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        observed.telemetry.flush();
        let spans = observed.collector.trace(trace_id);
        let names: HashSet<&str> = spans.iter().map(|s| s.name.as_str()).collect();
        let missing: Vec<&&str> = expected.iter().filter(|n| !names.contains(**n)).collect();
        if missing.is_empty() {
            return spans;
        }
        assert!(tokio::time::Instant::now() < deadline, "spans {missing:?} never arrived; the trace has {names:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
