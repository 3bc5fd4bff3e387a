//! The recommendations module served over gRPC and driven through `RecommendationsClient`,
//! against the same module in process: every port method answers the same values (lists with
//! their counts, confidences, lifts and scores, rebuild reports), and every refusal the same
//! status, code, fields and message. The counts come from `order.checkout.completed` events given
//! to the consumer's handler, and from a rebuild over an ordering double. SQLite by default,
//! PostgreSQL with COMPTOIR_TEST_BACKEND=postgres.

use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};
use comptoir_contracts::address::PostalAddress;
use comptoir_contracts::cart::CartAccess;
use comptoir_contracts::ordering::events::{CHECKOUT_COMPLETED, OrderPlaced};
use comptoir_contracts::ordering::{
    CancelInput, CartEstimate, Checkout, DailySales, EstimateRequest, Order, OrderAccess, OrderFilter, OrderLine,
    OrderReturn, OrderSnapshot, OrderStatus, OrderTotals, OrderTransition, OrderingPort, RefundInput, ReturnInput,
    SalesQuery, ShippingChoice,
};
use comptoir_contracts::recommendations::{RebuildReport, RecommendationsPort};
use comptoir_grpc::server::ServiceSet;
use comptoir_grpc::{Remote, RemoteSettings, from_status};
use comptoir_kernel::{Actor, Currency, Error, EventEnvelope, Money, Page, PageRequest, RequestContext, Result};
use comptoir_recommendations::{MIGRATIONS, ORDERS, RecommendationsModule};
use comptoir_recommendations_grpc::{RecommendationsClient, pb, service};
use comptoir_storage::testing::{self, TestDb};
use rust_decimal::Decimal;
use tokio::net::TcpListener;
use tonic::transport::{Channel, Endpoint};
use uuid::Uuid;

fn ctx() -> RequestContext {
    RequestContext::new("corr-recommendations-grpc", Actor::user("staff-7"))
}

fn eur(amount: i64) -> Money {
    Money::new(amount, Currency::EUR)
}

fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap() + Duration::minutes(minutes)
}

fn address() -> PostalAddress {
    PostalAddress {
        name: "Ada".into(),
        line1: "1 rue de la Paix".into(),
        line2: None,
        city: "Paris".into(),
        postal_code: "75002".into(),
        region: None,
        country: "FR".into(),
        phone: None,
    }
}

/// A confirmed order of one unit of each product, placed `minutes` after the first.
fn order(products: &[(Uuid, &str)], minutes: i64) -> OrderSnapshot {
    let lines: Vec<OrderLine> = products
        .iter()
        .map(|(id, name)| OrderLine {
            sku: name.to_uppercase(),
            product_id: *id,
            product_name: name.to_string(),
            quantity: 1,
            unit_price: eur(600),
            tax_rate: Decimal::new(20, 2),
            net: eur(500),
            tax: eur(100),
            gross: eur(600),
            weight_grams: None,
        })
        .collect();
    let gross = 600 * lines.len() as i64;
    OrderSnapshot {
        order_id: Uuid::now_v7(),
        number: format!("CO-{minutes:06}"),
        customer_id: None,
        email: "ada@example.com".into(),
        channel: "online".into(),
        currency: Currency::EUR,
        prices_include_tax: true,
        lines,
        shipping: ShippingChoice {
            method: "standard".into(),
            name: "Standard".into(),
            carrier: "post".into(),
            net: eur(0),
            tax: eur(0),
            gross: eur(0),
        },
        shipping_address: address(),
        billing_address: address(),
        totals: OrderTotals { net: eur(gross * 5 / 6), tax: eur(gross / 6), gross: eur(gross) },
        placed_at: at(minutes),
    }
}

fn listed(snapshot: &OrderSnapshot) -> Order {
    Order {
        id: snapshot.order_id,
        number: snapshot.number.clone(),
        customer_id: snapshot.customer_id,
        email: snapshot.email.clone(),
        channel: snapshot.channel.clone(),
        currency: snapshot.currency,
        status: OrderStatus::Delivered,
        prices_include_tax: true,
        lines: snapshot.lines.clone(),
        shipping: snapshot.shipping.clone(),
        shipping_address: snapshot.shipping_address.clone(),
        billing_address: snapshot.billing_address.clone(),
        totals: snapshot.totals.clone(),
        refunded: eur(0),
        reservation_id: None,
        payment_id: None,
        cancellation_reason: None,
        timeline: vec![OrderTransition {
            from: Some(OrderStatus::Paid),
            to: OrderStatus::Confirmed,
            cause: "payment captured".into(),
            actor: "system".into(),
            at: snapshot.placed_at,
        }],
        created_at: snapshot.placed_at,
        updated_at: snapshot.placed_at,
    }
}

/// Ordering as a rebuild sees it: a fixed list of delivered orders.
struct FixedOrders(Vec<Order>);

fn not_used<T>() -> Result<T> {
    Err(Error::internal("not used by recommendations"))
}

#[async_trait]
impl OrderingPort for FixedOrders {
    async fn estimate(&self, _: &RequestContext, _: Uuid, _: &CartAccess, _: EstimateRequest) -> Result<CartEstimate> {
        not_used()
    }
    async fn checkout(&self, _: &RequestContext, _: Checkout) -> Result<Order> {
        not_used()
    }
    async fn get_order(&self, _: &RequestContext, _: Uuid, _: OrderAccess) -> Result<Order> {
        not_used()
    }
    async fn customer_orders(&self, _: &RequestContext, _: Uuid, _: PageRequest) -> Result<Page<Order>> {
        not_used()
    }
    async fn search_orders(&self, _: &RequestContext, filter: OrderFilter, page: PageRequest) -> Result<Page<Order>> {
        let matching: Vec<Order> =
            self.0.iter().filter(|o| filter.status.is_none_or(|s| s == o.status)).cloned().collect();
        let total = matching.len() as u64;
        let skip = ((page.page.max(1) - 1) * page.per_page) as usize;
        let items = matching.into_iter().skip(skip).take(page.per_page as usize).collect();
        Ok(Page { items, page: page.page, per_page: page.per_page, total })
    }
    async fn cancel(&self, _: &RequestContext, _: Uuid, _: OrderAccess, _: CancelInput) -> Result<Order> {
        not_used()
    }
    async fn refund(&self, _: &RequestContext, _: Uuid, _: RefundInput) -> Result<Order> {
        not_used()
    }
    async fn request_return(&self, _: &RequestContext, _: Uuid, _: OrderAccess, _: ReturnInput) -> Result<OrderReturn> {
        not_used()
    }
    async fn receive_return(&self, _: &RequestContext, _: Uuid) -> Result<OrderReturn> {
        not_used()
    }
    async fn returns_for_order(&self, _: &RequestContext, _: Uuid, _: OrderAccess) -> Result<Vec<OrderReturn>> {
        not_used()
    }
    async fn daily_sales(&self, _: &RequestContext, _: SalesQuery) -> Result<Vec<DailySales>> {
        not_used()
    }
}

struct Ids {
    tea: Uuid,
    mug: Uuid,
    biscuits: Uuid,
    honey: Uuid,
}

struct Shop {
    /// The module in process, for the answers the client must match.
    local: RecommendationsModule,
    /// The same module through its server.
    remote: RecommendationsClient,
    address: SocketAddr,
    ids: Ids,
    _db: TestDb,
}

/// Every field, compared through the JSON form.
fn assert_same<T: serde::Serialize>(remote: &T, local: &T) {
    assert_eq!(serde_json::to_value(remote).unwrap(), serde_json::to_value(local).unwrap());
}

fn fields(error: &Error) -> Vec<&str> {
    error.field_errors().iter().map(|f| f.field.as_str()).collect()
}

fn counted(report: &RebuildReport) -> (u64, u64) {
    (report.orders, report.pairs)
}

/// Tea with a mug three times, with biscuits once, with honey twice; honey with biscuits once.
/// Counted from the orders' checkout events; ordering lists the same orders for a rebuild.
async fn shop() -> Shop {
    let ids = Ids { tea: Uuid::now_v7(), mug: Uuid::now_v7(), biscuits: Uuid::now_v7(), honey: Uuid::now_v7() };
    let (tea, mug, biscuits, honey) =
        ((ids.tea, "Tea"), (ids.mug, "Mug"), (ids.biscuits, "Biscuits"), (ids.honey, "Honey"));
    let orders = [
        order(&[tea, mug], 0),
        order(&[tea, mug], 1),
        order(&[mug, tea], 2),
        order(&[tea, biscuits], 3),
        order(&[tea, honey], 4),
        order(&[honey, tea, biscuits], 5),
        order(&[mug], 6),
    ];
    let db = testing::open("recommendations", &MIGRATIONS).await;
    let ordering = Arc::new(FixedOrders(orders.iter().map(listed).collect()));
    let local = RecommendationsModule::new(db.db.clone(), ordering);
    let consumer = local.consumers().into_iter().find(|c| c.name == ORDERS).expect("the orders consumer");
    for order in &orders {
        let placed = OrderPlaced { order: order.clone(), cart_id: None, reservation_id: None, payment_id: None };
        consumer.handler.handle(&EventEnvelope::new(&ctx(), "ordering", CHECKOUT_COMPLETED, placed)).await.unwrap();
    }

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(ServiceSet::new().add(service(Arc::new(local.clone()))).serve(listener, std::future::pending()));
    let remote = Remote::connect("recommendations", &format!("http://{address}"), RemoteSettings::default()).unwrap();
    Shop { local, remote: RecommendationsClient::new(remote), address, ids, _db: db }
}

impl Shop {
    /// Makes the same call through the client and in process: both must be refused alike (status,
    /// code, field names and messages, text). The remote error is returned for further checks.
    async fn refused<T: Debug>(&self, call: impl AsyncFn(&dyn RecommendationsPort) -> Result<T>) -> Error {
        let remote = call(&self.remote).await.expect_err("refused through the client");
        let local = call(&self.local).await.expect_err("refused in process");
        assert_eq!(
            (remote.status(), remote.code(), remote.field_errors(), remote.to_string()),
            (local.status(), local.code(), local.field_errors(), local.to_string()),
        );
        remote
    }

    /// A raw client of the generated service, to send messages `RecommendationsClient` never builds.
    fn raw(&self) -> pb::recommendations_service_client::RecommendationsServiceClient<Channel> {
        let channel = Endpoint::from_shared(format!("http://{}", self.address)).unwrap().connect_lazy();
        pb::recommendations_service_client::RecommendationsServiceClient::new(channel)
    }
}

#[tokio::test]
async fn bought_together_and_for_cart_answer_the_same_through_the_client() {
    let shop = shop().await;
    let ids = &shop.ids;
    for product in [ids.tea, ids.mug, ids.biscuits, ids.honey, Uuid::now_v7()] {
        for limit in [1, 2, 20] {
            let remote = shop.remote.bought_together(&ctx(), product, limit).await.unwrap();
            assert_same(&remote, &shop.local.bought_together(&ctx(), product, limit).await.unwrap());
            assert!(remote.len() <= limit as usize);
        }
    }
    let with_tea = shop.remote.bought_together(&ctx(), ids.tea, 20).await.unwrap();
    let summary: Vec<(&str, u64)> = with_tea.iter().map(|r| (r.product_name.as_str(), r.orders_together)).collect();
    assert_eq!(summary[0], ("Mug", 3), "{summary:?}");
    assert_eq!(summary.len(), 3, "{summary:?}");
    assert_eq!(with_tea[0].product_id, ids.mug);
    assert!(with_tea[0].confidence == 0.5 && with_tea[0].lift > 0.0 && with_tea[0].score > 0.0, "{with_tea:?}");

    for cart in [vec![ids.tea], vec![ids.tea, ids.honey], vec![ids.mug, ids.mug, ids.biscuits], vec![]] {
        let remote = shop.remote.for_cart(&ctx(), cart.clone(), 20).await.unwrap();
        assert_same(&remote, &shop.local.for_cart(&ctx(), cart.clone(), 20).await.unwrap());
        assert!(remote.iter().all(|r| !cart.contains(&r.product_id)), "{remote:?}");
    }
    let cart = shop.remote.for_cart(&ctx(), vec![ids.tea, ids.honey], 20).await.unwrap();
    let names: Vec<&str> = cart.iter().map(|r| r.product_name.as_str()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&"Mug") && names.contains(&"Biscuits"), "{names:?}");
}

#[tokio::test]
async fn a_rebuild_through_the_client_recounts_from_ordering_and_changes_no_answer() {
    let shop = shop().await;
    let before = shop.local.bought_together(&ctx(), shop.ids.tea, 20).await.unwrap();
    let report = shop.remote.rebuild(&ctx()).await.unwrap();
    assert_eq!(counted(&report), (7, 4));
    assert_same(&shop.remote.bought_together(&ctx(), shop.ids.tea, 20).await.unwrap(), &before);
    let again = shop.local.rebuild(&ctx()).await.unwrap();
    assert_eq!(counted(&again), counted(&report));
}

#[tokio::test]
async fn bad_limits_and_carts_are_refused_as_in_process_naming_the_field() {
    let shop = shop().await;
    let tea = shop.ids.tea;
    for limit in [0, 21] {
        let e = shop.refused(async |port| port.bought_together(&ctx(), tea, limit).await).await;
        assert!(matches!(e, Error::Validation { .. }), "{e:?}");
        assert_eq!((e.status(), fields(&e)), (422, vec!["limit"]));
        let e = shop.refused(async |port| port.for_cart(&ctx(), vec![tea], limit).await).await;
        assert_eq!((e.status(), fields(&e)), (422, vec!["limit"]));
    }
    let too_many: Vec<Uuid> = (0..101).map(|_| Uuid::now_v7()).collect();
    let e = shop.refused(async |port| port.for_cart(&ctx(), too_many.clone(), 5).await).await;
    assert_eq!((e.status(), fields(&e)), (422, vec!["product_ids"]));
}

#[tokio::test]
async fn malformed_messages_are_bad_requests_naming_the_field() {
    let shop = shop().await;
    let mut raw = shop.raw();
    let bad_request = |status: tonic::Status| {
        let e = from_status("recommendations", &status);
        assert_eq!(e.status(), 400, "{e}");
        e.to_string()
    };
    let message = pb::BoughtTogetherRequest { product_id: "nope".into(), limit: 5 };
    assert!(bad_request(raw.bought_together(message).await.unwrap_err()).contains("product_id"));
    let message = pb::ForCartRequest { product_ids: vec![shop.ids.tea.to_string(), String::new()], limit: 5 };
    assert!(bad_request(raw.for_cart(message).await.unwrap_err()).contains("product_ids"));
}
