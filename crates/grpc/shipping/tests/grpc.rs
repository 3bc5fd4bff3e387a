//! The shipping module served over gRPC and driven through `ShippingClient`: every port method
//! answers what the module answers in process, errors included (status, code, field errors).
//! SQLite by default, PostgreSQL when COMPTOIR_TEST_BACKEND=postgres.

use std::fmt::Debug;
use std::sync::Arc;

use comptoir_contracts::address::PostalAddress;
use comptoir_contracts::ordering::events::{self as ordering, OrderPlaced};
use comptoir_contracts::ordering::{OrderLine, OrderSnapshot, OrderTotals, ShippingChoice};
use comptoir_contracts::shipping::events as shipping_events;
use comptoir_contracts::shipping::{
    NewShippingMethod, NewZone, QuoteRequest, Rate, Shipment, ShipmentStatus, ShippingPort, TrackingUpdate,
    WeightBracket,
};
use comptoir_grpc::server::ServiceSet;
use comptoir_grpc::{RemoteSettings, from_status};
use comptoir_kernel::{Actor, Currency, Error, EventEnvelope, Money, PageRequest, RequestContext, Result, time};
use comptoir_shipping::{MIGRATIONS, ShippingConfig, ShippingModule, sign_webhook};
use comptoir_shipping_grpc::pb::shipping_service_client::ShippingServiceClient;
use comptoir_shipping_grpc::{ShippingClient, pb, service};
use comptoir_storage::outbox;
use comptoir_storage::testing::{self, TestDb};
use serde::Serialize;
use tonic::transport::Channel;
use uuid::Uuid;

const SECRET: &str = "whsec-grpc-test";

/// The module on a fresh database, served on a local port, and a client of that service.
struct Harness {
    db: TestDb,
    /// In process: what the remote answers are compared with.
    local: ShippingModule,
    remote: ShippingClient,
    url: String,
}

fn address(name: &str) -> PostalAddress {
    PostalAddress {
        name: name.into(),
        line1: "1 rue de Rivoli".into(),
        line2: Some("Bâtiment B".into()),
        city: "Paris".into(),
        postal_code: "75001".into(),
        region: Some(String::new()),
        country: "FR".into(),
        phone: None,
    }
}

async fn start() -> Harness {
    let db = testing::open("shipping", &MIGRATIONS).await;
    let config = ShippingConfig { webhook_secret: SECRET.into(), ship_from: address("Comptoir Warehouse") };
    let local = ShippingModule::new(db.db.clone(), config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let services = ServiceSet::new().add(service(Arc::new(local.clone())));
    tokio::spawn(services.serve(listener, std::future::pending()));
    let remote =
        ShippingClient::new(comptoir_grpc::Remote::connect("shipping", &url, RemoteSettings::default()).unwrap());
    Harness { db, local, remote, url }
}

fn ctx() -> RequestContext {
    RequestContext::new("corr-shipping-grpc", Actor::user("staff-7"))
}

fn eur(amount: i64) -> Money {
    Money::new(amount, Currency::EUR)
}

/// Both values as JSON: the contract types serialize every field, so equal JSON is an equal value.
fn assert_same<T: Serialize>(remote: &T, local: &T) {
    assert_eq!(serde_json::to_value(remote).unwrap(), serde_json::to_value(local).unwrap());
}

/// The remote call failed exactly as the in-process one did; returns the remote error.
fn assert_same_error<T: Debug>(remote: Result<T>, local: Result<T>) -> Error {
    let (remote, local) = (remote.unwrap_err(), local.unwrap_err());
    assert_eq!(
        (remote.status(), remote.code(), remote.field_errors(), remote.to_string()),
        (local.status(), local.code(), local.field_errors(), local.to_string())
    );
    remote
}

fn fields(e: &Error) -> Vec<&str> {
    e.field_errors().iter().map(|f| f.field.as_str()).collect()
}

fn zone(name: &str, countries: &[&str]) -> NewZone {
    NewZone { name: name.into(), countries: countries.iter().map(|c| c.to_string()).collect() }
}

fn method(
    code: &str,
    zone_id: Uuid,
    rate: Rate,
    free_above: Option<i64>,
    delivery_days: Option<i64>,
) -> NewShippingMethod {
    NewShippingMethod {
        code: code.into(),
        name: code.to_uppercase(),
        carrier: "Colissimo".into(),
        zone_id,
        currency: Currency::EUR,
        rate,
        free_above,
        delivery_days,
    }
}

fn brackets(list: &[(i64, i64)]) -> Rate {
    Rate::WeightBased {
        brackets: list.iter().map(|&(up_to_grams, amount)| WeightBracket { up_to_grams, amount }).collect(),
    }
}

fn query(country: &str, region: Option<&str>, weight_grams: i64, subtotal: Money) -> QuoteRequest {
    QuoteRequest { country: country.into(), region: region.map(str::to_string), weight_grams, subtotal }
}

fn update(status: ShipmentStatus, note: Option<&str>) -> TrackingUpdate {
    TrackingUpdate { status, note: note.map(str::to_string) }
}

/// A confirmed order of two 300 g tees, shipped Standard by Colissimo.
fn order(number: &str) -> OrderSnapshot {
    let line = OrderLine {
        sku: "TEE-M".into(),
        product_id: Uuid::now_v7(),
        product_name: "Tee".into(),
        quantity: 2,
        unit_price: eur(1000),
        tax_rate: Default::default(),
        net: eur(2000),
        tax: eur(0),
        gross: eur(2000),
        weight_grams: Some(300),
    };
    OrderSnapshot {
        order_id: Uuid::now_v7(),
        number: number.into(),
        customer_id: None,
        email: "ann@example.com".into(),
        channel: "web".into(),
        currency: Currency::EUR,
        prices_include_tax: true,
        lines: vec![line],
        shipping: ShippingChoice {
            method: "standard".into(),
            name: "Standard".into(),
            carrier: "Colissimo".into(),
            net: eur(408),
            tax: eur(82),
            gross: eur(490),
        },
        shipping_address: address("Ann Martin"),
        billing_address: address("Ann Martin"),
        totals: OrderTotals { net: eur(2000), tax: eur(0), gross: eur(2490) },
        placed_at: time::now(),
    }
}

impl Harness {
    /// EU (FR, DE): `standard` flat 4.90 EUR, free from 50 EUR; `express` 9.90 up to 1 kg, 14.90 up to 5 kg.
    async fn priced(&self) -> Uuid {
        let eu = self.remote.create_zone(&ctx(), zone("EU", &["FR", "DE"])).await.unwrap().id;
        let standard = method("standard", eu, Rate::Flat { amount: 490 }, Some(5000), None);
        let express = method("express", eu, brackets(&[(1000, 990), (5000, 1490)]), None, Some(0));
        self.remote.create_method(&ctx(), standard).await.unwrap();
        self.remote.create_method(&ctx(), express).await.unwrap();
        eu
    }

    /// Shipments are created by the module's consumer when a checkout completes, as in production.
    async fn shipment(&self, number: &str) -> Shipment {
        let order = order(number);
        let placed = OrderPlaced { order: order.clone(), cart_id: None, reservation_id: None, payment_id: None };
        let event = EventEnvelope::new(&ctx(), "ordering", ordering::CHECKOUT_COMPLETED, placed);
        self.local.consumers()[0].handler.handle(&event).await.unwrap();
        self.local.shipment_for_order(&ctx(), order.order_id).await.unwrap()
    }

    async fn webhook(&self, port: &dyn ShippingPort, body: &str, signature: Option<&str>) -> Result<()> {
        let signed = sign_webhook(SECRET, time::now().timestamp(), body.as_bytes());
        port.carrier_webhook(&ctx(), "Colissimo", signature.unwrap_or(&signed), body.as_bytes()).await
    }

    async fn raw(&self) -> ShippingServiceClient<Channel> {
        ShippingServiceClient::connect(self.url.clone()).await.unwrap()
    }
}

fn carrier_body(id: &str, tracking_number: &str, status: &str) -> String {
    serde_json::json!({"id": id, "tracking_number": tracking_number, "status": status, "note": "Hub"}).to_string()
}

#[tokio::test]
async fn zones_and_methods_cross_unchanged() {
    let h = start().await;

    // Countries travel as typed: the module trims and upper-cases them on the other side.
    let europe = h.remote.create_zone(&ctx(), zone(" Europe ", &["fr", "DE", "FR"])).await.unwrap();
    assert_eq!((europe.name.as_str(), europe.countries.clone()), ("Europe", vec!["FR".to_string(), "DE".to_string()]));
    h.remote.create_zone(&ctx(), zone("Americas", &["US", "CA"])).await.unwrap();

    let first = h.remote.list_zones(&ctx(), PageRequest::new(1, 1).unwrap()).await.unwrap();
    assert_eq!((first.total, first.page, first.per_page, first.items.len()), (2, 1, 1, 1));
    assert_eq!(first.items[0].name, "Americas");
    assert_same(&first, &h.local.list_zones(&ctx(), PageRequest::new(1, 1).unwrap()).await.unwrap());
    let second = h.remote.list_zones(&ctx(), PageRequest::new(2, 1).unwrap()).await.unwrap();
    assert_eq!(second.items[0].id, europe.id);
    assert_same(&second, &h.local.list_zones(&ctx(), PageRequest::new(2, 1).unwrap()).await.unwrap());

    let bad_zone = || zone("", &["FR", "UK"]);
    let e = assert_same_error(
        h.remote.create_zone(&ctx(), bad_zone()).await,
        h.local.create_zone(&ctx(), bad_zone()).await,
    );
    assert_eq!((e.status(), fields(&e)), (422, vec!["name", "countries[1]"]));
    let bad_page = PageRequest { page: 0, per_page: 1 };
    let e = assert_same_error(h.remote.list_zones(&ctx(), bad_page).await, h.local.list_zones(&ctx(), bad_page).await);
    assert_eq!(e.status(), 422);

    // Absent stays absent and zero stays zero.
    let standard = method("standard", europe.id, Rate::Flat { amount: 490 }, Some(5000), None);
    let standard = h.remote.create_method(&ctx(), standard).await.unwrap();
    assert_eq!(
        (standard.rate.clone(), standard.free_above, standard.delivery_days),
        (Rate::Flat { amount: 490 }, Some(5000), None)
    );
    let express = method("express", europe.id, brackets(&[(1000, 990), (5000, 1490)]), Some(0), Some(0));
    let express = h.remote.create_method(&ctx(), express).await.unwrap();
    assert_eq!(express.rate, brackets(&[(1000, 990), (5000, 1490)]));
    assert_eq!((express.free_above, express.delivery_days, express.active), (Some(0), Some(0), true));
    assert_eq!((express.zone_id, express.currency), (europe.id, Currency::EUR));

    let duplicate = || method("standard", europe.id, Rate::Flat { amount: 1 }, None, None);
    let e = assert_same_error(
        h.remote.create_method(&ctx(), duplicate()).await,
        h.local.create_method(&ctx(), duplicate()).await,
    );
    assert_eq!((e.status(), e.code(), fields(&e)), (409, "duplicate-shipping-method", vec!["code"]));
    let invalid = || NewShippingMethod {
        name: " ".into(),
        ..method("Not A Slug", europe.id, brackets(&[(500, 100), (500, -1)]), Some(-1), Some(-2))
    };
    let e = assert_same_error(
        h.remote.create_method(&ctx(), invalid()).await,
        h.local.create_method(&ctx(), invalid()).await,
    );
    assert_eq!(
        fields(&e),
        ["code", "name", "rate.brackets[1].up_to_grams", "rate.brackets[1].amount", "free_above", "delivery_days"]
    );
    let missing_zone = Uuid::now_v7();
    let nowhere = || method("nowhere", missing_zone, Rate::Flat { amount: 1 }, None, None);
    let e = assert_same_error(
        h.remote.create_method(&ctx(), nowhere()).await,
        h.local.create_method(&ctx(), nowhere()).await,
    );
    assert_eq!((e.status(), fields(&e)), (422, vec!["zone_id"]));

    let methods = h.remote.list_methods(&ctx(), PageRequest::default()).await.unwrap();
    assert_eq!(methods.total, 2, "nothing refused was written");
    assert_same(&methods, &h.local.list_methods(&ctx(), PageRequest::default()).await.unwrap());

    let off = h.remote.set_method_active(&ctx(), "express", false).await.unwrap();
    assert_eq!((off.code.as_str(), off.active), ("express", false));
    assert!(h.remote.set_method_active(&ctx(), "express", true).await.unwrap().active);
    let e = assert_same_error(
        h.remote.set_method_active(&ctx(), "nope", false).await,
        h.local.set_method_active(&ctx(), "nope", false).await,
    );
    assert_eq!((e.status(), e.to_string().as_str()), (404, "shipping method nope not found"));
}

#[tokio::test]
async fn quotes_cross_unchanged() {
    let h = start().await;
    h.priced().await;

    let request = || query("fr", Some("IDF"), 1200, eur(1000));
    let quotes = h.remote.quotes(&ctx(), request()).await.unwrap();
    assert_eq!(quotes, h.local.quotes(&ctx(), request()).await.unwrap());
    let priced: Vec<_> = quotes.iter().map(|q| (q.method.as_str(), q.price, q.delivery_days)).collect();
    assert_eq!(priced, [("standard", eur(490), None), ("express", eur(1490), Some(0))], "cheapest first");
    let free = h.remote.quotes(&ctx(), query("DE", None, 100, eur(5000))).await.unwrap();
    assert_eq!(free[0].price, eur(0), "free from 50 EUR");
    assert!(h.remote.quotes(&ctx(), query("JP", None, 100, eur(1000))).await.unwrap().is_empty());

    let quote = h.remote.quote(&ctx(), "express", query("FR", Some(""), 900, eur(1000))).await.unwrap();
    assert_eq!(quote, h.local.quote(&ctx(), "express", query("FR", Some(""), 900, eur(1000))).await.unwrap());
    assert_eq!((quote.name.as_str(), quote.carrier.as_str(), quote.price), ("EXPRESS", "Colissimo", eur(990)));

    let bad = || query("XX", None, -1, Money::new(-5, Currency::USD));
    let e = assert_same_error(h.remote.quotes(&ctx(), bad()).await, h.local.quotes(&ctx(), bad()).await);
    assert_eq!((e.status(), fields(&e)), (422, vec!["country", "weight_grams", "subtotal.amount"]));
    for (code, request) in [
        ("overnight", query("FR", None, 100, eur(1000))),
        ("standard", query("JP", None, 100, eur(1000))),
        ("express", query("FR", None, 5001, eur(1000))),
        ("standard", query("FR", None, 100, Money::new(1000, Currency::USD))),
    ] {
        let e = assert_same_error(
            h.remote.quote(&ctx(), code, request.clone()).await,
            h.local.quote(&ctx(), code, request).await,
        );
        assert_eq!((e.status(), fields(&e)), (422, vec!["shipping_method"]), "{code}");
    }
}

#[tokio::test]
async fn shipments_tracking_and_labels_cross_unchanged() {
    let h = start().await;
    let first = h.shipment("CO-000001").await;
    let shipment = h.shipment("CO-000002").await;

    let fetched = h.remote.shipment_for_order(&ctx(), shipment.order_id).await.unwrap();
    assert_same(&fetched, &shipment);
    assert_eq!((fetched.status, fetched.weight_grams, fetched.events.len()), (ShipmentStatus::LabelCreated, 600, 1));
    assert_eq!(fetched.destination, address("Ann Martin"), "an empty region stays empty, a missing phone missing");
    let unknown = Uuid::now_v7();
    let e = assert_same_error(
        h.remote.shipment_for_order(&ctx(), unknown).await,
        h.local.shipment_for_order(&ctx(), unknown).await,
    );
    assert_eq!(e.status(), 404);

    let page = h.remote.list_shipments(&ctx(), PageRequest::new(1, 1).unwrap()).await.unwrap();
    assert_eq!((page.total, page.items[0].id), (2, shipment.id), "newest first");
    assert_same(&page, &h.local.list_shipments(&ctx(), PageRequest::new(1, 1).unwrap()).await.unwrap());

    let shipped =
        h.remote.track(&ctx(), shipment.id, update(ShipmentStatus::Shipped, Some(" Picked up "))).await.unwrap();
    assert_eq!((shipped.status, shipped.events[1].note.as_deref()), (ShipmentStatus::Shipped, Some("Picked up")));
    assert_same(
        &h.remote.shipment_for_order(&ctx(), shipment.order_id).await.unwrap(),
        &h.local.shipment_for_order(&ctx(), shipment.order_id).await.unwrap(),
    );
    let announced = outbox::pending(&h.db, 100).await.unwrap();
    let announced = announced.iter().find(|e| e.event_type == shipping_events::SHIPMENT_SHIPPED).unwrap();
    assert_eq!(announced.correlation_id, "corr-shipping-grpc", "the caller's context reached the module");
    assert_eq!(announced.metadata.actor_id.as_deref(), Some("staff-7"));

    let backwards = || update(ShipmentStatus::LabelCreated, None);
    let e = assert_same_error(
        h.remote.track(&ctx(), shipment.id, backwards()).await,
        h.local.track(&ctx(), shipment.id, backwards()).await,
    );
    assert_eq!((e.status(), e.code(), fields(&e)), (409, "invalid-tracking-transition", vec!["status"]));
    let long_note = "x".repeat(501);
    let too_long = || update(ShipmentStatus::Shipped, Some(&long_note));
    let e = assert_same_error(
        h.remote.track(&ctx(), first.id, too_long()).await,
        h.local.track(&ctx(), first.id, too_long()).await,
    );
    assert_eq!((e.status(), fields(&e)), (422, vec!["note"]));
    let e = assert_same_error(
        h.remote.track(&ctx(), unknown, backwards()).await,
        h.local.track(&ctx(), unknown, backwards()).await,
    );
    assert_eq!(e.status(), 404);

    let pdf = h.remote.label_pdf(&ctx(), shipment.id).await.unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    assert!(pdf.windows(5).any(|w| w == b"%%EOF"), "a complete file");
    let tracking_number = format!("({}) Tj", shipment.tracking_number);
    assert!(pdf.windows(tracking_number.len()).any(|w| w == tracking_number.as_bytes()), "the shipment's own label");
    let e = assert_same_error(h.remote.label_pdf(&ctx(), unknown).await, h.local.label_pdf(&ctx(), unknown).await);
    assert_eq!(e.status(), 404);
}

#[tokio::test]
async fn carrier_webhooks_cross_byte_for_byte() {
    let h = start().await;
    let shipment = h.shipment("CO-000001").await;
    let tn = &shipment.tracking_number;

    // The signature covers the exact bytes: it verifies only if the body arrived unchanged.
    let body = carrier_body("evt-1", tn, "in_transit");
    h.webhook(&h.remote, &body, None).await.unwrap();
    h.webhook(&h.remote, &body, None).await.unwrap(); // redelivered: applied once
    let after = h.local.shipment_for_order(&ctx(), shipment.order_id).await.unwrap();
    assert_eq!((after.status, after.events.len()), (ShipmentStatus::InTransit, 2));
    assert_eq!(after.events[1].note.as_deref(), Some("Hub"));

    let forged = sign_webhook("not-the-secret", time::now().timestamp(), body.as_bytes());
    let e = assert_same_error(
        h.webhook(&h.remote, &body, Some(&forged)).await,
        h.webhook(&h.local, &body, Some(&forged)).await,
    );
    assert_eq!(e.status(), 401);
    let e =
        assert_same_error(h.webhook(&h.remote, "{\"id\": ", None).await, h.webhook(&h.local, "{\"id\": ", None).await);
    assert_eq!(e.status(), 400);
    let unknown = carrier_body("evt-2", "COL000000000000", "delivered");
    let e = assert_same_error(h.webhook(&h.remote, &unknown, None).await, h.webhook(&h.local, &unknown, None).await);
    assert_eq!(e.status(), 404);
    let label = carrier_body("evt-3", tn, "label_created");
    let e = assert_same_error(h.webhook(&h.remote, &label, None).await, h.webhook(&h.local, &label, None).await);
    assert_eq!((e.status(), fields(&e)), (422, vec!["status"]));
}

/// A peer that does not speak the contract gets a bad request naming the field, not a panic.
#[tokio::test]
async fn malformed_messages_are_bad_requests() {
    let h = start().await;
    let mut raw = h.raw().await;
    let refused = |status: tonic::Status| {
        let e = from_status("shipping", &status);
        assert_eq!(e.status(), 400, "{e}");
        e.to_string()
    };

    let message = pb::ShipmentForOrderRequest { order_id: "not-a-uuid".into() };
    assert!(refused(raw.shipment_for_order(message).await.unwrap_err()).contains("order_id"));
    for status in [pb::ShipmentStatus::Unspecified as i32, 42] {
        let update = pb::TrackingUpdate { status, note: None };
        let message = pb::TrackRequest { shipment_id: Uuid::now_v7().to_string(), update: Some(update) };
        assert!(refused(raw.track(message).await.unwrap_err()).contains("update.status"));
    }
    let message = pb::TrackRequest { shipment_id: Uuid::now_v7().to_string(), update: None };
    assert!(refused(raw.track(message).await.unwrap_err()).contains("update"));
    let message = pb::CreateMethodRequest {
        code: "m".into(),
        name: "M".into(),
        carrier: "C".into(),
        zone_id: Uuid::now_v7().to_string(),
        currency: "EUR".into(),
        rate: Some(pb::Rate { kind: None }),
        free_above: None,
        delivery_days: None,
    };
    assert!(refused(raw.create_method(message.clone()).await.unwrap_err()).contains("rate"));
    let unknown_currency = pb::CreateMethodRequest {
        currency: "ZZZ".into(),
        rate: Some(pb::Rate { kind: Some(pb::rate::Kind::Flat(pb::FlatRate { amount: 1 })) }),
        ..message
    };
    assert!(refused(raw.create_method(unknown_currency).await.unwrap_err()).contains("currency"));
    assert!(refused(raw.quotes(pb::QuotesRequest { query: None }).await.unwrap_err()).contains("query"));
    let no_subtotal = pb::QuoteQuery { country: "FR".into(), region: None, weight_grams: 1, subtotal: None };
    let message = pb::QuoteRequest { method: "standard".into(), query: Some(no_subtotal) };
    assert!(refused(raw.quote(message).await.unwrap_err()).contains("subtotal"));
    let message = pb::LabelPdfRequest { shipment_id: String::new() };
    assert!(refused(raw.label_pdf(message).await.unwrap_err()).contains("shipment_id"));
}
