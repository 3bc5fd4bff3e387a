//! The recommendations module fed with ordering's events as the bus would deliver them (the
//! consumer's handler called directly), and rebuilt from an ordering double that lists a fixed
//! set of orders. SQLite by default, PostgreSQL with COMPTOIR_TEST_BACKEND=postgres.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};
use comptoir_contracts::address::PostalAddress;
use comptoir_contracts::cart::CartAccess;
use comptoir_contracts::ordering::events::{
    CHECKOUT_COMPLETED, ORDER_CANCELLED, ORDER_REFUNDED, OrderCancelled, OrderPlaced, OrderRefunded,
};
use comptoir_contracts::ordering::{
    CancelInput, CartEstimate, Checkout, DailySales, EstimateRequest, Order, OrderAccess, OrderFilter, OrderLine,
    OrderReturn, OrderSnapshot, OrderStatus, OrderTotals, OrderTransition, OrderingPort, RefundInput, ReturnInput,
    SalesQuery, ShippingChoice,
};
use comptoir_contracts::recommendations::{Recommendation, RecommendationsPort};
use comptoir_eventbus::Consumer;
use comptoir_kernel::{Currency, Error, EventEnvelope, Money, Page, PageRequest, RequestContext, Result};
use comptoir_recommendations::{MIGRATIONS, ORDERS, RecommendationsModule};
use comptoir_storage::testing::{TestDb, open};
use rust_decimal::Decimal;
use uuid::Uuid;

fn ctx() -> RequestContext {
    RequestContext::system()
}

fn eur(amount: i64) -> Money {
    Money::new(amount, Currency::EUR)
}

fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap() + Duration::minutes(minutes)
}

/// A product as order lines name it.
#[derive(Clone)]
struct P {
    id: Uuid,
    name: String,
}

fn product(name: &str) -> P {
    P { id: Uuid::now_v7(), name: name.into() }
}

fn line(p: &P, quantity: i64) -> OrderLine {
    OrderLine {
        sku: format!("SKU-{}", p.name.to_uppercase().replace(' ', "-")),
        product_id: p.id,
        product_name: p.name.clone(),
        quantity,
        unit_price: eur(500),
        tax_rate: Decimal::new(20, 2),
        net: eur(500 * quantity),
        tax: eur(100 * quantity),
        gross: eur(600 * quantity),
        weight_grams: None,
    }
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

/// A confirmed order of these lines, placed `minutes` after the first.
fn snapshot(lines: Vec<OrderLine>, minutes: i64) -> OrderSnapshot {
    let gross: i64 = lines.iter().map(|l| l.gross.amount).sum();
    OrderSnapshot {
        order_id: Uuid::now_v7(),
        number: "CO-000001".into(),
        customer_id: Some(Uuid::now_v7()),
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

/// An order of one unit of each product.
fn basket(products: &[&P], minutes: i64) -> OrderSnapshot {
    snapshot(products.iter().map(|p| line(p, 1)).collect(), minutes)
}

fn completed(order: &OrderSnapshot) -> EventEnvelope {
    let placed = OrderPlaced {
        order: order.clone(),
        cart_id: Some(Uuid::now_v7()),
        reservation_id: Some(Uuid::now_v7()),
        payment_id: Some(Uuid::now_v7()),
    };
    EventEnvelope::new(&ctx(), "ordering", CHECKOUT_COMPLETED, placed)
}

fn refunded(order: &OrderSnapshot, amount: i64) -> EventEnvelope {
    let refund = OrderRefunded {
        order_id: order.order_id,
        number: order.number.clone(),
        email: order.email.clone(),
        amount: eur(amount),
        restock: vec![],
        reservation_id: None,
        reason: Some("returned".into()),
    };
    EventEnvelope::new(&ctx(), "ordering", ORDER_REFUNDED, refund)
}

fn cancelled(order: &OrderSnapshot, before_confirmation: bool) -> EventEnvelope {
    let cancelled = OrderCancelled {
        order_id: order.order_id,
        number: order.number.clone(),
        email: order.email.clone(),
        customer_id: order.customer_id,
        reason: "changed my mind".into(),
        reservation_id: None,
        before_confirmation,
    };
    EventEnvelope::new(&ctx(), "ordering", ORDER_CANCELLED, cancelled)
}

/// The order as ordering lists it, in `status`.
fn listed(snapshot: &OrderSnapshot, status: OrderStatus) -> Order {
    let mut timeline = vec![OrderTransition {
        from: None,
        to: OrderStatus::Pending,
        cause: "checkout".into(),
        actor: "system".into(),
        at: snapshot.placed_at,
    }];
    if status != OrderStatus::Pending {
        timeline.push(OrderTransition {
            from: Some(OrderStatus::Paid),
            to: OrderStatus::Confirmed,
            cause: "payment captured".into(),
            actor: "system".into(),
            at: snapshot.placed_at,
        });
    }
    Order {
        id: snapshot.order_id,
        number: snapshot.number.clone(),
        customer_id: snapshot.customer_id,
        email: snapshot.email.clone(),
        channel: snapshot.channel.clone(),
        currency: snapshot.currency,
        status,
        prices_include_tax: snapshot.prices_include_tax,
        lines: snapshot.lines.clone(),
        shipping: snapshot.shipping.clone(),
        shipping_address: snapshot.shipping_address.clone(),
        billing_address: snapshot.billing_address.clone(),
        totals: snapshot.totals.clone(),
        refunded: match status {
            OrderStatus::Refunded => snapshot.totals.gross,
            _ => eur(0),
        },
        reservation_id: None,
        payment_id: None,
        cancellation_reason: None,
        timeline,
        created_at: snapshot.placed_at,
        updated_at: snapshot.placed_at,
    }
}

/// Ordering as a rebuild sees it: a fixed list of orders, newest first, a page at a time.
#[derive(Default)]
struct FixedOrders {
    orders: Mutex<Vec<Order>>,
}

impl FixedOrders {
    fn set(&self, orders: Vec<Order>) {
        *self.orders.lock().unwrap() = orders;
    }
}

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
        page.validate()?;
        let mut matching: Vec<Order> = self
            .orders
            .lock()
            .unwrap()
            .iter()
            .filter(|o| filter.status.is_none_or(|s| s == o.status))
            .cloned()
            .collect();
        matching.sort_by_key(|o| std::cmp::Reverse(o.created_at));
        let total = matching.len() as u64;
        let skip = ((page.page - 1) * page.per_page) as usize;
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

struct Shop {
    module: RecommendationsModule,
    ordering: Arc<FixedOrders>,
    consumer: Consumer,
    _db: TestDb,
}

impl Shop {
    async fn open() -> Shop {
        let db = open("recommendations", &MIGRATIONS).await;
        let ordering = Arc::new(FixedOrders::default());
        let module = RecommendationsModule::new(db.db.clone(), ordering.clone());
        let consumer = module.consumers().into_iter().find(|c| c.name == ORDERS).expect("the orders consumer");
        Shop { module, ordering, consumer, _db: db }
    }

    async fn deliver(&self, event: &EventEnvelope) {
        self.consumer.handler.handle(event).await.unwrap();
    }

    async fn confirm(&self, orders: &[&OrderSnapshot]) {
        for order in orders {
            self.deliver(&completed(order)).await;
        }
    }

    async fn with(&self, p: &P) -> Vec<Recommendation> {
        self.module.bought_together(&ctx(), p.id, 20).await.unwrap()
    }

    async fn cart(&self, products: &[&P]) -> Vec<Recommendation> {
        self.module.for_cart(&ctx(), products.iter().map(|p| p.id).collect(), 20).await.unwrap()
    }
}

/// Name, orders together and confidence of each, best first.
fn summary(list: &[Recommendation]) -> Vec<(String, u64, f64)> {
    list.iter().map(|r| (r.product_name.clone(), r.orders_together, r.confidence)).collect()
}

fn s(name: &str, together: u64, confidence: f64) -> (String, u64, f64) {
    (name.to_string(), together, confidence)
}

fn field(error: &Error) -> Vec<&str> {
    error.field_errors().iter().map(|f| f.field.as_str()).collect()
}

struct Tea {
    tea: P,
    mug: P,
    biscuits: P,
    orders: Vec<OrderSnapshot>,
}

/// Tea with a mug in 3 orders (one with two lines of tea and six mugs), tea with biscuits in 1,
/// a mug alone in 1.
fn tea_shop() -> Tea {
    let (tea, mug, biscuits) = (product("Tea"), product("Mug"), product("Biscuits"));
    let orders = vec![
        basket(&[&tea, &mug], 0),
        snapshot(vec![line(&tea, 2), line(&mug, 6), line(&tea, 1)], 1),
        basket(&[&mug, &tea], 2),
        basket(&[&tea, &biscuits], 3),
        basket(&[&mug], 4),
    ];
    Tea { tea, mug, biscuits, orders }
}

#[tokio::test]
async fn the_product_most_often_bought_with_another_comes_first() {
    let shop = Shop::open().await;
    let t = tea_shop();
    shop.confirm(&t.orders.iter().collect::<Vec<_>>()).await;

    let with_tea = shop.with(&t.tea).await;
    assert_eq!(summary(&with_tea), [s("Mug", 3, 0.75), s("Biscuits", 1, 0.25)]);
    assert_eq!(with_tea[0].product_id, t.mug.id);
    assert!(with_tea[0].score > with_tea[1].score, "{with_tea:?}");
    // 5 orders: the mug is in 4 of them, the biscuits in 1.
    assert_eq!((with_tea[0].lift, with_tea[1].lift), (0.9375, 1.25));
    // Quantities and repeated lines do not matter: the second order is "tea and mug" once.
    assert_eq!(summary(&shop.with(&t.mug).await), [s("Tea", 3, 0.75)]);
    assert_eq!(summary(&shop.with(&t.biscuits).await), [s("Tea", 1, 1.0)]);
    assert!(shop.with(&t.tea).await.iter().all(|r| r.product_id != t.tea.id), "never the product itself");

    let first = shop.module.bought_together(&ctx(), t.tea.id, 1).await.unwrap();
    assert_eq!(summary(&first), [s("Mug", 3, 0.75)]);
    assert!(shop.with(&product("Never ordered")).await.is_empty());
}

#[tokio::test]
async fn a_product_is_named_as_the_latest_order_line_named_it() {
    let shop = Shop::open().await;
    let (tea, mug) = (product("Tea"), product("Mug"));
    let renamed = P { name: "Stoneware Mug".into(), ..mug.clone() };
    let older = P { name: "Old Mug".into(), ..mug.clone() };
    shop.confirm(&[&basket(&[&tea, &mug], 10), &basket(&[&tea, &renamed], 20)]).await;
    // Delivered late, placed earlier: the name stays the latest.
    shop.confirm(&[&basket(&[&tea, &older], 5)]).await;
    assert_eq!(summary(&shop.with(&tea).await), [s("Stoneware Mug", 3, 1.0)]);
}

#[tokio::test]
async fn for_a_cart_scores_are_summed_and_its_own_products_left_out() {
    let shop = Shop::open().await;
    let t = tea_shop();
    let (teapot, honey) = (product("Teapot"), product("Honey"));
    let mut orders = t.orders.clone();
    orders.extend([
        basket(&[&teapot, &t.biscuits], 5),
        basket(&[&teapot, &honey], 6),
        basket(&[&teapot, &honey], 7),
        basket(&[&t.tea, &honey], 8),
    ]);
    shop.confirm(&orders.iter().collect::<Vec<_>>()).await;

    let with_tea = shop.with(&t.tea).await;
    let with_teapot = shop.with(&teapot).await;
    let cart = shop.cart(&[&t.tea, &teapot]).await;
    let names: Vec<&str> = cart.iter().map(|r| r.product_name.as_str()).collect();
    assert!(!names.contains(&"Tea") && !names.contains(&"Teapot"), "{names:?}");
    assert_eq!(names.len(), 3, "{names:?}");
    // Honey and biscuits go with both: their scores are summed.
    let score_of = |list: &[Recommendation], name: &str| {
        list.iter().find(|r| r.product_name == name).map(|r| r.score).unwrap_or(0.0)
    };
    for name in ["Honey", "Biscuits", "Mug"] {
        let summed = score_of(&with_tea, name) + score_of(&with_teapot, name);
        assert!((score_of(&cart, name) - summed).abs() <= 2e-4, "{name}: {} vs {summed}", score_of(&cart, name));
    }
    assert!(cart.windows(2).all(|w| w[0].score >= w[1].score), "best first: {cart:?}");
    let honey = cart.iter().find(|r| r.product_name == "Honey").unwrap();
    assert_eq!(honey.orders_together, 2, "the most with any one of the cart's products");
    // Honey and biscuits both go with each, honey twice with the teapot: honey first of the two.
    assert!(names.iter().position(|n| *n == "Honey") < names.iter().position(|n| *n == "Biscuits"), "{names:?}");

    // A cart of one product is that product's list; a product twice counts once.
    assert_eq!(shop.cart(&[&t.tea]).await, with_tea);
    assert_eq!(shop.cart(&[&t.tea, &t.tea]).await, with_tea);
    let without_mug = shop.cart(&[&t.tea, &t.mug]).await;
    assert!(without_mug.iter().all(|r| r.product_id != t.mug.id && r.product_id != t.tea.id));
    assert!(shop.cart(&[]).await.is_empty(), "an empty cart gets nothing");
    let limited = shop.module.for_cart(&ctx(), vec![t.tea.id, teapot.id], 2).await.unwrap();
    assert_eq!(limited, cart[..2]);
}

#[tokio::test]
async fn an_order_is_counted_once_whatever_brings_it_again() {
    let shop = Shop::open().await;
    let t = tea_shop();
    shop.confirm(&t.orders.iter().collect::<Vec<_>>()).await;
    let before = (shop.with(&t.tea).await, shop.with(&t.mug).await);

    // The same event redelivered, and the same order under another event id.
    let event = completed(&t.orders[0]);
    shop.deliver(&event).await;
    shop.deliver(&event).await;
    shop.deliver(&EventEnvelope { id: Uuid::now_v7(), ..event.clone() }).await;
    shop.confirm(&[&t.orders[1], &t.orders[4]]).await;
    assert_eq!((shop.with(&t.tea).await, shop.with(&t.mug).await), before);
}

#[tokio::test]
async fn single_product_orders_count_as_bought_but_make_no_pair() {
    let shop = Shop::open().await;
    let (tea, mug, candle) = (product("Tea"), product("Mug"), product("Candle"));
    shop.confirm(&[&basket(&[&tea], 0), &basket(&[&tea], 1), &basket(&[&tea, &mug], 2), &basket(&[&candle], 3)]).await;
    let with_tea = shop.with(&tea).await;
    assert_eq!(summary(&with_tea), [s("Mug", 1, 0.3333)]);
    assert_eq!(with_tea[0].lift, 1.3333, "the mug is in 1 of 4 orders");
    assert_eq!(summary(&shop.with(&mug).await), [s("Tea", 1, 1.0)]);
    assert!(shop.with(&candle).await.is_empty(), "bought alone: nothing to recommend with it");
}

#[tokio::test]
async fn only_the_first_fifty_products_of_a_bulk_order_make_pairs() {
    let shop = Shop::open().await;
    let products: Vec<P> = (0..60).map(|i| product(&format!("Item {i:02}"))).collect();
    let bulk = snapshot(products.iter().map(|p| line(p, 1)).collect(), 0);
    shop.confirm(&[&bulk]).await;

    let with_first = shop.with(&products[0]).await;
    assert_eq!(with_first.len(), 20);
    assert!(with_first.iter().all(|r| r.orders_together == 1 && r.confidence == 1.0));
    let beyond: Vec<Uuid> = products[50..].iter().map(|p| p.id).collect();
    let with_last_paired = shop.with(&products[49]).await;
    assert!(with_last_paired.iter().all(|r| !beyond.contains(&r.product_id)), "{with_last_paired:?}");
    assert!(shop.with(&products[50]).await.is_empty(), "the 51st product makes no pair");
    let paired_cart = shop.module.for_cart(&ctx(), products[..50].iter().map(|p| p.id).collect(), 20).await.unwrap();
    assert!(paired_cart.is_empty(), "the paired products only go with each other: {paired_cart:?}");

    // The products past the cap were still bought: they count in their order numbers.
    let candle = product("Candle");
    shop.confirm(&[&basket(&[&products[55], &candle], 1)]).await;
    assert_eq!(summary(&shop.with(&products[55]).await), [s("Candle", 1, 0.5)]);

    // A rebuild caps the same way: 50 × 49 / 2 pairs, plus the candle's.
    shop.ordering.set(vec![listed(&bulk, OrderStatus::Delivered)]);
    let report = shop.module.rebuild(&ctx()).await.unwrap();
    assert_eq!((report.orders, report.pairs), (1, 1225));
    assert!(shop.with(&products[50]).await.is_empty());
}

#[tokio::test]
async fn a_limit_outside_one_to_twenty_or_an_oversized_cart_is_refused_naming_the_field() {
    let shop = Shop::open().await;
    let tea = product("Tea");
    for limit in [0, 21] {
        let e = shop.module.bought_together(&ctx(), tea.id, limit).await.unwrap_err();
        assert!(matches!(e, Error::Validation { .. }), "{e:?}");
        assert_eq!((e.status(), field(&e)), (422, vec!["limit"]));
        let e = shop.module.for_cart(&ctx(), vec![tea.id], limit).await.unwrap_err();
        assert_eq!((e.status(), field(&e)), (422, vec!["limit"]));
    }
    let too_many: Vec<Uuid> = (0..101).map(|_| Uuid::now_v7()).collect();
    let e = shop.module.for_cart(&ctx(), too_many, 5).await.unwrap_err();
    assert_eq!((e.status(), field(&e)), (422, vec!["product_ids"]));
    assert!(shop.module.bought_together(&ctx(), tea.id, 20).await.unwrap().is_empty());
}

#[tokio::test]
async fn cancelled_and_fully_refunded_orders_leave_the_counts_partly_refunded_ones_stay() {
    let shop = Shop::open().await;
    let (tea, mug, biscuits) = (product("Tea"), product("Mug"), product("Biscuits"));
    let kept = basket(&[&tea, &mug], 0);
    let partly = basket(&[&tea, &mug], 1);
    let refunded_in_two = basket(&[&tea, &biscuits], 2);
    let cancelled_after = basket(&[&tea, &biscuits], 3);
    shop.confirm(&[&kept, &partly, &refunded_in_two, &cancelled_after]).await;
    // A tie (same numbers both ways) goes by name.
    assert_eq!(summary(&shop.with(&tea).await), [s("Biscuits", 2, 0.5), s("Mug", 2, 0.5)]);

    shop.deliver(&refunded(&partly, 600)).await;
    shop.deliver(&refunded(&refunded_in_two, 600)).await;
    assert_eq!(summary(&shop.with(&tea).await), [s("Biscuits", 2, 0.5), s("Mug", 2, 0.5)], "partial refunds");
    let last_refund = refunded(&refunded_in_two, 600);
    shop.deliver(&last_refund).await;
    shop.deliver(&last_refund).await;
    assert_eq!(summary(&shop.with(&tea).await), [s("Mug", 2, 0.6667), s("Biscuits", 1, 0.3333)]);
    // Cancellation after confirmation emits the cancellation and the refund of everything.
    shop.deliver(&cancelled(&cancelled_after, false)).await;
    shop.deliver(&refunded(&cancelled_after, 1200)).await;
    assert_eq!(summary(&shop.with(&tea).await), [s("Mug", 2, 1.0)]);
    assert!(shop.with(&biscuits).await.is_empty(), "no order of biscuits left");
    // Redelivered under another id: a removed order never counts again.
    shop.confirm(&[&refunded_in_two, &cancelled_after]).await;
    assert_eq!(summary(&shop.with(&tea).await), [s("Mug", 2, 1.0)]);

    // A refund or a cancellation that comes before the order's own event.
    let early_refund = basket(&[&tea, &biscuits], 4);
    shop.deliver(&refunded(&early_refund, 1200)).await;
    let early_cancel = basket(&[&tea, &biscuits], 5);
    shop.deliver(&cancelled(&early_cancel, false)).await;
    let small_refund = basket(&[&tea, &biscuits], 6);
    shop.deliver(&refunded(&small_refund, 100)).await;
    shop.confirm(&[&early_refund, &early_cancel, &small_refund]).await;
    assert_eq!(summary(&shop.with(&tea).await), [s("Mug", 2, 0.6667), s("Biscuits", 1, 0.3333)]);
    // An order cancelled before its confirmation was never counted.
    shop.deliver(&cancelled(&basket(&[&tea, &mug], 7), true)).await;
    assert_eq!(summary(&shop.with(&tea).await), [s("Mug", 2, 0.6667), s("Biscuits", 1, 0.3333)]);
}

#[tokio::test]
async fn a_rebuild_from_ordering_gives_what_the_events_gave_and_replaces_the_counts() {
    let by_events = Shop::open().await;
    let t = tea_shop();
    by_events.confirm(&t.orders.iter().collect::<Vec<_>>()).await;

    // Ordering holds the same orders in confirmed, shipped and delivered states, plus orders
    // that must not count: pending, cancelled before confirmation, fully refunded.
    let statuses = [
        OrderStatus::Confirmed,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
        OrderStatus::PartiallyRefunded,
        OrderStatus::Confirmed,
    ];
    let mut listed_orders: Vec<Order> = t.orders.iter().zip(statuses).map(|(o, s)| listed(o, s)).collect();
    let pending = basket(&[&t.tea, &t.biscuits], 10);
    let refunded_order = basket(&[&t.tea, &t.biscuits], 11);
    let mut unconfirmed = listed(&basket(&[&t.tea, &t.biscuits], 12), OrderStatus::Cancelled);
    unconfirmed.timeline.truncate(1);
    listed_orders.extend([
        listed(&pending, OrderStatus::Pending),
        listed(&refunded_order, OrderStatus::Refunded),
        unconfirmed,
    ]);
    // More than a page of ordering's orders: 150 more single-candle orders, delivered.
    let candle = product("Candle");
    for i in 0..150 {
        listed_orders.push(listed(&basket(&[&candle], 100 + i), OrderStatus::Delivered));
    }

    let by_rebuild = Shop::open().await;
    by_rebuild.ordering.set(listed_orders.clone());
    let report = by_rebuild.module.rebuild(&ctx()).await.unwrap();
    assert_eq!((report.orders, report.pairs), (155, 2));
    // The candles change the number of orders, hence the lift: the events' shop gets them too.
    for i in 0..150 {
        by_events.confirm(&[&basket(&[&candle], 100 + i)]).await;
    }
    for p in [&t.tea, &t.mug, &t.biscuits, &candle] {
        assert_eq!(by_rebuild.with(p).await, by_events.with(p).await, "{}", p.name);
    }
    assert_eq!(by_rebuild.cart(&[&t.tea, &candle]).await, by_events.cart(&[&t.tea, &candle]).await);

    // A rebuild replaces what events counted, it does not add to it.
    let before = by_events.with(&t.tea).await;
    by_events.ordering.set(listed_orders.clone());
    by_events.module.rebuild(&ctx()).await.unwrap();
    assert_eq!(by_events.with(&t.tea).await, before);
    // And an order it counted is not counted again when its event comes once more.
    by_events.confirm(&[&t.orders[0]]).await;
    by_events.deliver(&completed(&refunded_order)).await;
    assert_eq!(by_events.with(&t.tea).await, before);

    // Ordering now holds fewer orders: the rebuild forgets the rest.
    by_events.ordering.set(vec![listed(&t.orders[3], OrderStatus::Delivered)]);
    let report = by_events.module.rebuild(&ctx()).await.unwrap();
    assert_eq!((report.orders, report.pairs), (1, 1));
    assert_eq!(summary(&by_events.with(&t.tea).await), [s("Biscuits", 1, 1.0)]);
    assert!(by_events.with(&t.mug).await.is_empty());
}
