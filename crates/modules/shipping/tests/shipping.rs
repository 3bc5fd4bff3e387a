//! The shipping module against a real database: SQLite, or PostgreSQL when
//! COMPTOIR_TEST_BACKEND=postgres.

use comptoir_contracts::address::PostalAddress;
use comptoir_contracts::ordering::events::{self as ordering, OrderPlaced};
use comptoir_contracts::ordering::{OrderLine, OrderSnapshot, OrderTotals, ShippingChoice};
use comptoir_contracts::shipping::events::{self, ShipmentEvent};
use comptoir_contracts::shipping::{
    NewShippingMethod, NewZone, QuoteRequest, Rate, Shipment, ShipmentStatus, ShippingPort, TrackingUpdate,
    WeightBracket,
};
use comptoir_kernel::{Currency, Error, EventEnvelope, Money, PageRequest, RequestContext, time};
use comptoir_shipping::{MIGRATIONS, SHIPMENTS, ShippingConfig, ShippingModule, TOLERANCE_SECONDS, sign_webhook};
use comptoir_storage::outbox;
use comptoir_storage::testing::{self, TestDb};
use uuid::Uuid;

const SECRET: &str = "whsec-test";

struct Shop {
    db: TestDb,
    shipping: ShippingModule,
}

fn address(name: &str, country: &str) -> PostalAddress {
    PostalAddress {
        name: name.into(),
        line1: "1 rue de Rivoli".into(),
        line2: Some("Bâtiment B".into()),
        city: "Paris".into(),
        postal_code: "75001".into(),
        region: None,
        country: country.into(),
        phone: None,
    }
}

fn config(secret: &str) -> ShippingConfig {
    ShippingConfig { webhook_secret: secret.into(), ship_from: address("Comptoir Warehouse", "FR") }
}

async fn open() -> Shop {
    let db = testing::open("shipping", &MIGRATIONS).await;
    let shipping = ShippingModule::new(db.db.clone(), config(SECRET));
    Shop { db, shipping }
}

fn ctx() -> RequestContext {
    RequestContext::system()
}

fn eur(amount: i64) -> Money {
    Money::new(amount, Currency::EUR)
}

fn field(e: &Error) -> &str {
    e.field_errors().first().map(|f| f.field.as_str()).unwrap_or("")
}

fn message(e: &Error) -> &str {
    e.field_errors().first().map(|f| f.message.as_str()).unwrap_or("")
}

fn line(sku: &str, quantity: i64, weight_grams: Option<i64>) -> OrderLine {
    OrderLine {
        sku: sku.into(),
        product_id: Uuid::now_v7(),
        product_name: sku.into(),
        quantity,
        unit_price: eur(1000),
        tax_rate: Default::default(),
        net: eur(1000 * quantity),
        tax: eur(0),
        gross: eur(1000 * quantity),
        weight_grams,
    }
}

/// A confirmed order of two 300 g tees and a weightless gift card, shipped Standard by Colissimo.
fn order(number: &str) -> OrderSnapshot {
    OrderSnapshot {
        order_id: Uuid::now_v7(),
        number: number.into(),
        customer_id: None,
        email: "ann@example.com".into(),
        channel: "web".into(),
        currency: Currency::EUR,
        prices_include_tax: true,
        lines: vec![line("TEE-M", 2, Some(300)), line("GIFT", 1, None)],
        shipping: ShippingChoice {
            method: "standard".into(),
            name: "Standard".into(),
            carrier: "Colissimo".into(),
            net: eur(408),
            tax: eur(82),
            gross: eur(490),
        },
        shipping_address: address("Ann Martin", "FR"),
        billing_address: address("Ann Martin", "FR"),
        totals: OrderTotals { net: eur(3000), tax: eur(0), gross: eur(3490) },
        placed_at: time::now(),
    }
}

fn checkout_completed(order: &OrderSnapshot) -> EventEnvelope {
    let data = OrderPlaced { order: order.clone(), cart_id: None, reservation_id: None, payment_id: None };
    EventEnvelope::new(&ctx(), "ordering", ordering::CHECKOUT_COMPLETED, data)
}

fn request(country: &str, weight_grams: i64, subtotal: Money) -> QuoteRequest {
    QuoteRequest { country: country.into(), region: None, weight_grams, subtotal }
}

fn method(code: &str, zone_id: Uuid, currency: Currency, rate: Rate, free_above: Option<i64>) -> NewShippingMethod {
    NewShippingMethod {
        code: code.into(),
        name: code.replace('-', " ").to_uppercase(),
        carrier: "Colissimo".into(),
        zone_id,
        currency,
        rate,
        free_above,
        delivery_days: Some(2),
    }
}

fn brackets(list: &[(i64, i64)]) -> Rate {
    Rate::WeightBased {
        brackets: list.iter().map(|&(up_to_grams, amount)| WeightBracket { up_to_grams, amount }).collect(),
    }
}

fn update(status: ShipmentStatus, note: Option<&str>) -> TrackingUpdate {
    TrackingUpdate { status, note: note.map(str::to_string) }
}

impl Shop {
    async fn deliver(&self, event: &EventEnvelope) {
        let consumers = self.shipping.consumers();
        assert_eq!(consumers.len(), 1);
        consumers[0].handler.handle(event).await.unwrap();
    }

    async fn zone(&self, name: &str, countries: &[&str]) -> Uuid {
        let input = NewZone { name: name.into(), countries: countries.iter().map(|c| c.to_string()).collect() };
        self.shipping.create_zone(&ctx(), input).await.unwrap().id
    }

    /// An order checked out: its shipment, as the consumer created it.
    async fn shipment(&self, number: &str) -> Shipment {
        let order = order(number);
        self.deliver(&checkout_completed(&order)).await;
        self.shipping.shipment_for_order(&ctx(), order.order_id).await.unwrap()
    }

    async fn events(&self, event_type: &str) -> Vec<ShipmentEvent> {
        outbox::pending(&self.db, 1000)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.event_type == event_type)
            .map(|e| {
                assert_eq!(e.source, "shipping");
                e.data_as().unwrap()
            })
            .collect()
    }

    async fn webhook(&self, body: &str, timestamp: i64) -> Result<(), Error> {
        let signature = sign_webhook(SECRET, timestamp, body.as_bytes());
        self.shipping.carrier_webhook(&ctx(), "colissimo", &signature, body.as_bytes()).await
    }

    async fn reload(&self, shipment: &Shipment) -> Shipment {
        self.shipping.shipment_for_order(&ctx(), shipment.order_id).await.unwrap()
    }
}

fn carrier_body(id: &str, tracking_number: &str, status: &str) -> String {
    serde_json::json!({"id": id, "tracking_number": tracking_number, "status": status, "note": "Scanned at hub"})
        .to_string()
}

fn now() -> i64 {
    time::now().timestamp()
}

#[tokio::test]
async fn zones_need_a_name_and_real_countries() {
    let shop = open().await;
    let zone = shop
        .shipping
        .create_zone(&ctx(), NewZone { name: " Europe ".into(), countries: vec!["fr".into(), "DE".into()] })
        .await
        .unwrap();
    assert_eq!((zone.name.as_str(), zone.countries.clone()), ("Europe", vec!["FR".to_string(), "DE".to_string()]));

    let e = shop.shipping.create_zone(&ctx(), NewZone { name: "".into(), countries: vec!["FR".into()] }).await;
    assert_eq!(field(&e.unwrap_err()), "name");
    let e = shop.shipping.create_zone(&ctx(), NewZone { name: "EU".into(), countries: vec![] }).await.unwrap_err();
    assert_eq!((e.status(), field(&e)), (422, "countries"));
    let e = shop
        .shipping
        .create_zone(&ctx(), NewZone { name: "EU".into(), countries: vec!["FR".into(), "UK".into()] })
        .await
        .unwrap_err();
    assert_eq!((e.status(), field(&e)), (422, "countries[1]"));

    shop.zone("Americas", &["US", "CA"]).await;
    let page = shop.shipping.list_zones(&ctx(), PageRequest::new(1, 1).unwrap()).await.unwrap();
    assert_eq!((page.total, page.items.len()), (2, 1), "refused zones were not written");
    assert_eq!(page.items[0].name, "Americas", "by name");
    assert_eq!(page.items[0].countries, ["US", "CA"], "countries in the order given");
    assert!(shop.shipping.list_zones(&ctx(), PageRequest { page: 0, per_page: 1 }).await.is_err());
}

#[tokio::test]
async fn methods_are_validated_and_their_codes_unique() {
    let shop = open().await;
    let eu = shop.zone("EU", &["FR"]).await;
    let standard = method("standard", eu, Currency::EUR, Rate::Flat { amount: 490 }, Some(5000));
    let created = shop.shipping.create_method(&ctx(), standard).await.unwrap();
    assert!(created.active);
    assert_eq!(created.rate, Rate::Flat { amount: 490 });

    let duplicate = method("standard", eu, Currency::EUR, Rate::Flat { amount: 100 }, None);
    let e = shop.shipping.create_method(&ctx(), duplicate).await.unwrap_err();
    assert_eq!((e.status(), e.code(), field(&e)), (409, "duplicate-shipping-method", "code"));

    let e = shop
        .shipping
        .create_method(&ctx(), method("express", Uuid::now_v7(), Currency::EUR, Rate::Flat { amount: 990 }, None))
        .await
        .unwrap_err();
    assert_eq!((e.status(), field(&e)), (422, "zone_id"));

    let cases = [
        (method("Not A Slug", eu, Currency::EUR, Rate::Flat { amount: 1 }, None), "code"),
        (
            NewShippingMethod { name: " ".into(), ..method("m1", eu, Currency::EUR, Rate::Flat { amount: 1 }, None) },
            "name",
        ),
        (
            NewShippingMethod { carrier: "".into(), ..method("m2", eu, Currency::EUR, Rate::Flat { amount: 1 }, None) },
            "carrier",
        ),
        (method("m3", eu, Currency::EUR, Rate::Flat { amount: -1 }, None), "rate.amount"),
        (method("m4", eu, Currency::EUR, brackets(&[]), None), "rate.brackets"),
        (method("m5", eu, Currency::EUR, brackets(&[(1000, 500), (1000, 700)]), None), "rate.brackets[1].up_to_grams"),
        (method("m6", eu, Currency::EUR, brackets(&[(0, 500)]), None), "rate.brackets[0].up_to_grams"),
        (method("m7", eu, Currency::EUR, brackets(&[(500, 500), (900, -1)]), None), "rate.brackets[1].amount"),
        (method("m8", eu, Currency::EUR, Rate::Flat { amount: 1 }, Some(-1)), "free_above"),
        (
            NewShippingMethod {
                delivery_days: Some(-1),
                ..method("m9", eu, Currency::EUR, Rate::Flat { amount: 1 }, None)
            },
            "delivery_days",
        ),
    ];
    for (input, expected) in cases {
        let e = shop.shipping.create_method(&ctx(), input).await.unwrap_err();
        assert_eq!((e.status(), field(&e)), (422, expected));
    }

    let page = shop.shipping.list_methods(&ctx(), PageRequest::default()).await.unwrap();
    assert_eq!(page.total, 1, "nothing refused was written");
    assert_eq!(page.items[0].code, "standard");
    assert_eq!(page.items[0].free_above, Some(5000));
}

/// EU (FR, DE): `standard` flat 4.90 EUR, free from 50 EUR; `express` by weight, 9.90 up to 1 kg and
/// 14.90 up to 5 kg; `eu-dollar` flat 3.00 USD. North America (US): `us-standard` flat 15.00 USD.
async fn priced_shop() -> Shop {
    let shop = open().await;
    let eu = shop.zone("EU", &["FR", "DE"]).await;
    let na = shop.zone("North America", &["US"]).await;
    let methods = [
        method("standard", eu, Currency::EUR, Rate::Flat { amount: 490 }, Some(5000)),
        method("express", eu, Currency::EUR, brackets(&[(1000, 990), (5000, 1490)]), None),
        method("eu-dollar", eu, Currency::USD, Rate::Flat { amount: 300 }, None),
        method("us-standard", na, Currency::USD, Rate::Flat { amount: 1500 }, None),
    ];
    for m in methods {
        shop.shipping.create_method(&ctx(), m).await.unwrap();
    }
    shop
}

#[tokio::test]
async fn quotes_price_every_method_serving_the_destination() {
    let shop = priced_shop().await;
    let quotes = |country: &'static str, weight: i64, subtotal: Money| {
        let shipping = shop.shipping.clone();
        async move {
            let quotes = shipping.quotes(&ctx(), request(country, weight, subtotal)).await.unwrap();
            quotes.into_iter().map(|q| (q.method, q.price.amount)).collect::<Vec<_>>()
        }
    };
    let pair = |code: &str, amount: i64| (code.to_string(), amount);

    assert_eq!(quotes("FR", 500, eur(1000)).await, [pair("standard", 490), pair("express", 990)], "cheapest first");
    assert_eq!(quotes("de", 1000, eur(1000)).await, [pair("standard", 490), pair("express", 990)], "up to 1000 g");
    assert_eq!(quotes("FR", 1001, eur(1000)).await, [pair("standard", 490), pair("express", 1490)]);
    assert_eq!(quotes("FR", 5000, eur(4999)).await, [pair("standard", 490), pair("express", 1490)]);
    assert_eq!(quotes("FR", 5000, eur(5000)).await, [pair("standard", 0), pair("express", 1490)], "free from 50 EUR");
    assert_eq!(quotes("FR", 5001, eur(1000)).await, [pair("standard", 490)], "too heavy for express");
    assert_eq!(quotes("FR", 0, Money::new(1000, Currency::USD)).await, [pair("eu-dollar", 300)], "same currency only");
    assert_eq!(quotes("US", 500, Money::new(1000, Currency::USD)).await, [pair("us-standard", 1500)]);
    assert!(quotes("JP", 500, eur(1000)).await.is_empty(), "no zone covers Japan");

    let full = shop.shipping.quotes(&ctx(), request("FR", 500, eur(1000))).await.unwrap();
    assert_eq!(
        (full[1].name.as_str(), full[1].carrier.as_str(), full[1].delivery_days),
        ("EXPRESS", "Colissimo", Some(2))
    );

    let e = shop.shipping.quotes(&ctx(), request("XX", 500, eur(1000))).await.unwrap_err();
    assert_eq!((e.status(), field(&e)), (422, "country"));
    let e = shop.shipping.quotes(&ctx(), request("FR", -1, eur(1000))).await.unwrap_err();
    assert_eq!((e.status(), field(&e)), (422, "weight_grams"));
}

#[tokio::test]
async fn one_method_is_quoted_or_refused_with_a_reason() {
    let shop = priced_shop().await;
    let quote = |code: &'static str, country: &'static str, weight: i64, subtotal: Money| {
        let shipping = shop.shipping.clone();
        async move { shipping.quote(&ctx(), code, request(country, weight, subtotal)).await }
    };

    let q = quote("express", "FR", 1200, eur(1000)).await.unwrap();
    assert_eq!((q.method.as_str(), q.price), ("express", eur(1490)));
    assert_eq!(quote("standard", "FR", 1200, eur(6000)).await.unwrap().price, eur(0));

    for (code, country, weight, subtotal, reason) in [
        ("overnight", "FR", 100, eur(1000), "no shipping method"),
        ("standard", "JP", 100, eur(1000), "does not deliver to JP"),
        ("express", "FR", 5001, eur(1000), "at most 5000 g"),
        ("standard", "FR", 100, Money::new(1000, Currency::USD), "priced in EUR"),
    ] {
        let e = quote(code, country, weight, subtotal).await.unwrap_err();
        assert_eq!((e.status(), field(&e)), (422, "shipping_method"), "{code} to {country}");
        assert!(message(&e).contains(reason), "{:?} should say {reason:?}", message(&e));
    }
    let e = quote("standard", "XX", 100, eur(1000)).await.unwrap_err();
    assert_eq!(field(&e), "country", "the request is checked first");

    // A method taken off the list is neither offered nor quoted, until it is back.
    let off = shop.shipping.set_method_active(&ctx(), "express", false).await.unwrap();
    assert!(!off.active);
    let e = quote("express", "FR", 100, eur(1000)).await.unwrap_err();
    assert_eq!(field(&e), "shipping_method");
    let offered = shop.shipping.quotes(&ctx(), request("FR", 100, eur(1000))).await.unwrap();
    assert_eq!(offered.iter().map(|q| q.method.as_str()).collect::<Vec<_>>(), ["standard"]);
    shop.shipping.set_method_active(&ctx(), "express", true).await.unwrap();
    assert!(quote("express", "FR", 100, eur(1000)).await.is_ok());
    assert_eq!(shop.shipping.set_method_active(&ctx(), "nope", false).await.unwrap_err().status(), 404);
}

#[tokio::test]
async fn a_completed_checkout_creates_the_shipment_once() {
    let shop = open().await;
    let consumers = shop.shipping.consumers();
    assert_eq!(consumers[0].name, SHIPMENTS);
    assert_eq!(consumers[0].patterns, [ordering::CHECKOUT_COMPLETED]);

    let order = order("CO-000001");
    let e = shop.shipping.shipment_for_order(&ctx(), order.order_id).await.unwrap_err();
    assert_eq!(e.status(), 404, "no shipment before the checkout completes");

    // Another order event reaching the handler does nothing.
    let placed = OrderPlaced { order: order.clone(), cart_id: None, reservation_id: None, payment_id: None };
    shop.deliver(&EventEnvelope::new(&ctx(), "ordering", ordering::ORDER_PLACED, placed)).await;
    assert!(shop.shipping.shipment_for_order(&ctx(), order.order_id).await.is_err());

    let completed = checkout_completed(&order);
    shop.deliver(&completed).await;
    shop.deliver(&completed).await; // redelivered by the bus
    shop.deliver(&checkout_completed(&order)).await; // the same order announced again under a new id

    let shipment = shop.shipping.shipment_for_order(&ctx(), order.order_id).await.unwrap();
    assert_eq!(shipment.order_number, "CO-000001");
    assert_eq!((shipment.method.as_str(), shipment.carrier.as_str()), ("standard", "Colissimo"));
    assert_eq!(shipment.destination, order.shipping_address);
    assert_eq!(shipment.weight_grams, 600, "two tees of 300 g; the gift card weighs nothing");
    assert_eq!(shipment.status, ShipmentStatus::LabelCreated);
    assert_eq!(shipment.events.len(), 1);
    assert_eq!(shipment.events[0].status, ShipmentStatus::LabelCreated);
    let tn = &shipment.tracking_number;
    assert!(tn.starts_with("COL") && tn.len() == 15 && tn[3..].bytes().all(|b| b.is_ascii_digit()), "{tn}");

    let list = shop.shipping.list_shipments(&ctx(), PageRequest::default()).await.unwrap();
    assert_eq!(list.total, 1, "one shipment whatever the redeliveries");
    let created = shop.events(events::SHIPMENT_CREATED).await;
    assert_eq!(created.len(), 1);
    assert_eq!((created[0].shipment_id, created[0].order_id), (shipment.id, order.order_id));
    assert_eq!((created[0].tracking_number.as_str(), created[0].status), (tn.as_str(), ShipmentStatus::LabelCreated));

    // Each shipment has its own tracking number.
    let other = shop.shipment("CO-000002").await;
    assert_ne!(other.tracking_number, shipment.tracking_number);
}

#[tokio::test]
async fn shipments_are_listed_newest_first() {
    let shop = open().await;
    for n in 1..=3 {
        shop.shipment(&format!("CO-00000{n}")).await;
    }
    let first = shop.shipping.list_shipments(&ctx(), PageRequest::new(1, 2).unwrap()).await.unwrap();
    let numbers: Vec<_> = first.items.iter().map(|s| s.order_number.as_str()).collect();
    assert_eq!((numbers, first.total), (vec!["CO-000003", "CO-000002"], 3));
    assert_eq!(first.items[0].events.len(), 1, "with their tracking history");
    let second = shop.shipping.list_shipments(&ctx(), PageRequest::new(2, 2).unwrap()).await.unwrap();
    assert_eq!(second.items[0].order_number, "CO-000001");
}

#[tokio::test]
async fn tracking_only_moves_forward() {
    let shop = open().await;
    let shipment = shop.shipment("CO-000001").await;

    let picked_up = update(ShipmentStatus::Shipped, Some(" Picked up "));
    let shipped = shop.shipping.track(&ctx(), shipment.id, picked_up).await.unwrap();
    assert_eq!(shipped.status, ShipmentStatus::Shipped);
    assert_eq!(shipped.events.len(), 2);
    assert_eq!(shipped.events[1].note.as_deref(), Some("Picked up"));

    for backwards in [ShipmentStatus::Shipped, ShipmentStatus::LabelCreated] {
        let e = shop.shipping.track(&ctx(), shipment.id, update(backwards, None)).await.unwrap_err();
        assert_eq!((e.status(), e.code(), field(&e)), (409, "invalid-tracking-transition", "status"));
    }
    // Skipping `in_transit` is fine: not every carrier reports it.
    let delivered = shop.shipping.track(&ctx(), shipment.id, update(ShipmentStatus::Delivered, None)).await.unwrap();
    assert_eq!(delivered.status, ShipmentStatus::Delivered);
    let e = shop.shipping.track(&ctx(), shipment.id, update(ShipmentStatus::InTransit, None)).await.unwrap_err();
    assert_eq!(e.code(), "invalid-tracking-transition");

    let e = shop.shipping.track(&ctx(), Uuid::now_v7(), update(ShipmentStatus::Shipped, None)).await.unwrap_err();
    assert_eq!(e.status(), 404);
    let long_note = "x".repeat(501);
    let other = shop.shipment("CO-000002").await;
    let e = shop.shipping.track(&ctx(), other.id, update(ShipmentStatus::Shipped, Some(&long_note))).await.unwrap_err();
    assert_eq!((e.status(), field(&e)), (422, "note"));

    let stored = shop.reload(&shipment).await;
    let history: Vec<_> = stored.events.iter().map(|e| e.status).collect();
    assert_eq!(history, [ShipmentStatus::LabelCreated, ShipmentStatus::Shipped, ShipmentStatus::Delivered]);
    assert_eq!(shop.reload(&other).await.events.len(), 1, "a refused update writes nothing");

    let shipped_events = shop.events(events::SHIPMENT_SHIPPED).await;
    assert_eq!(shipped_events.len(), 1);
    assert_eq!((shipped_events[0].shipment_id, shipped_events[0].status), (shipment.id, ShipmentStatus::Shipped));
    assert!(shop.events(events::SHIPMENT_IN_TRANSIT).await.is_empty());
    let delivered_events = shop.events(events::SHIPMENT_DELIVERED).await;
    assert_eq!(delivered_events.len(), 1);
    assert_eq!(delivered_events[0].order_number, "CO-000001");
}

#[tokio::test]
async fn carrier_webhooks_are_signed_and_applied_once() {
    let shop = open().await;
    let shipment = shop.shipment("CO-000001").await;
    let tn = shipment.tracking_number.clone();
    let body = carrier_body("evt-1", &tn, "in_transit");

    // Wrong secret, altered body, stale or future timestamp, missing header: 401 and nothing changes.
    let forged = sign_webhook("not-the-secret", now(), body.as_bytes());
    let e = shop.shipping.carrier_webhook(&ctx(), "colissimo", &forged, body.as_bytes()).await.unwrap_err();
    assert_eq!(e.status(), 401);
    let signed = sign_webhook(SECRET, now(), body.as_bytes());
    let altered = body.replace("in_transit", "delivered");
    let e = shop.shipping.carrier_webhook(&ctx(), "colissimo", &signed, altered.as_bytes()).await.unwrap_err();
    assert_eq!(e.status(), 401);
    assert_eq!(shop.webhook(&body, now() - TOLERANCE_SECONDS - 1).await.unwrap_err().status(), 401, "stale");
    assert_eq!(shop.webhook(&body, now() + TOLERANCE_SECONDS + 60).await.unwrap_err().status(), 401, "future");
    let e = shop.shipping.carrier_webhook(&ctx(), "colissimo", "", body.as_bytes()).await.unwrap_err();
    assert_eq!(e.status(), 401);
    assert_eq!(shop.reload(&shipment).await.status, ShipmentStatus::LabelCreated);

    // A good signature: applied like staff tracking, then a redelivery changes nothing.
    shop.webhook(&body, now() - 60).await.unwrap();
    shop.webhook(&body, now()).await.unwrap();
    let after = shop.reload(&shipment).await;
    assert_eq!(after.status, ShipmentStatus::InTransit);
    assert_eq!(after.events.len(), 2);
    assert_eq!(after.events[1].note.as_deref(), Some("Scanned at hub"));
    assert_eq!(shop.events(events::SHIPMENT_IN_TRANSIT).await.len(), 1);

    // Another scan on the way joins the history without a second event; a late `shipped` is
    // acknowledged and ignored, so the carrier stops retrying it.
    shop.webhook(&carrier_body("evt-2", &tn, "in_transit"), now()).await.unwrap();
    shop.webhook(&carrier_body("evt-3", &tn, "shipped"), now()).await.unwrap();
    let after = shop.reload(&shipment).await;
    assert_eq!((after.status, after.events.len()), (ShipmentStatus::InTransit, 3));
    assert_eq!(shop.events(events::SHIPMENT_IN_TRANSIT).await.len(), 1);
    assert!(shop.events(events::SHIPMENT_SHIPPED).await.is_empty());

    shop.webhook(&carrier_body("evt-4", &tn, "delivered"), now()).await.unwrap();
    assert_eq!(shop.reload(&shipment).await.status, ShipmentStatus::Delivered);
    assert_eq!(shop.events(events::SHIPMENT_DELIVERED).await.len(), 1);

    // Signed but wrong inside.
    let e = shop.webhook(&carrier_body("evt-5", "COL000000000000", "delivered"), now()).await.unwrap_err();
    assert_eq!(e.status(), 404, "unknown tracking number");
    assert_eq!(shop.webhook("{\"id\": ", now()).await.unwrap_err().status(), 400, "malformed JSON");
    let e = shop.webhook(&carrier_body("evt-6", &tn, "lost"), now()).await.unwrap_err();
    assert_eq!(e.status(), 400, "not a status");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_scans_and_checkouts_lose_nothing() {
    let shop = open().await;
    let shipment = shop.shipment("CO-000001").await;
    let tn = shipment.tracking_number.clone();
    shop.webhook(&carrier_body("evt-0", &tn, "in_transit"), now()).await.unwrap();

    // Scans of one parcel arriving at once each join the history: none takes another's place.
    let scans = (1..=8).map(|n| {
        let (shipping, body) = (shop.shipping.clone(), carrier_body(&format!("evt-{n}"), &tn, "in_transit"));
        tokio::spawn(async move {
            let signature = sign_webhook(SECRET, now(), body.as_bytes());
            shipping.carrier_webhook(&ctx(), "colissimo", &signature, body.as_bytes()).await
        })
    });
    for scan in scans.collect::<Vec<_>>() {
        scan.await.unwrap().unwrap();
    }
    let after = shop.reload(&shipment).await;
    assert_eq!((after.status, after.events.len()), (ShipmentStatus::InTransit, 10), "label, evt-0 and eight scans");
    assert_eq!(shop.events(events::SHIPMENT_IN_TRANSIT).await.len(), 1);

    // One order announced several times at once still gets one shipment.
    let order = order("CO-000002");
    let deliveries = (0..4).map(|_| {
        let (handler, event) = (shop.shipping.consumers().remove(0).handler, checkout_completed(&order));
        tokio::spawn(async move { handler.handle(&event).await })
    });
    for delivery in deliveries.collect::<Vec<_>>() {
        delivery.await.unwrap().unwrap();
    }
    let list = shop.shipping.list_shipments(&ctx(), PageRequest::default()).await.unwrap();
    assert_eq!(list.total, 2);
    assert_eq!(shop.shipping.shipment_for_order(&ctx(), order.order_id).await.unwrap().events.len(), 1);
    assert_eq!(shop.events(events::SHIPMENT_CREATED).await.len(), 2);
}

#[tokio::test]
async fn without_a_secret_webhooks_are_refused() {
    let shop = open().await;
    let shipment = shop.shipment("CO-000001").await;
    let unconfigured = ShippingModule::new(shop.db.db.clone(), config(""));
    let body = carrier_body("evt-1", &shipment.tracking_number, "delivered");
    let signature = sign_webhook("", now(), body.as_bytes());
    let e = unconfigured.carrier_webhook(&ctx(), "colissimo", &signature, body.as_bytes()).await.unwrap_err();
    assert_eq!(e.status(), 401);
    assert_eq!(shop.reload(&shipment).await.status, ShipmentStatus::LabelCreated);
}

#[tokio::test]
async fn the_label_is_a_pdf_with_the_tracking_number() {
    let shop = open().await;
    let shipment = shop.shipment("CO-000042").await;
    let pdf = shop.shipping.label_pdf(&ctx(), shipment.id).await.unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    assert!(pdf.windows(5).any(|w| w == b"%%EOF"), "a complete file");
    // The content stream is written uncompressed, so the text operators can be read back.
    let contains = |text: &str| pdf.windows(text.len()).any(|w| w == text.as_bytes());
    assert!(contains(&format!("({}) Tj", shipment.tracking_number)), "tracking number drawn as text");
    for text in ["(Colissimo) Tj", "(Standard) Tj", "(Order CO-000042) Tj", "(Weight 0.600 kg) Tj", "(Ann Martin) Tj"] {
        assert!(contains(text), "{text}");
    }
    assert!(contains("(Comptoir Warehouse) Tj"), "sent from the shop");
    assert!(contains("/MediaBox"));

    let e = shop.shipping.label_pdf(&ctx(), Uuid::now_v7()).await.unwrap_err();
    assert_eq!(e.status(), 404);
}
