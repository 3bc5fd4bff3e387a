//! The reporting module served over gRPC and driven through `ReportingClient`, against the same
//! module in process: every port method answers the same values (sales in every grouping and
//! channel, refunds, stock values, conversion, rebuild reports), and every refusal the same
//! status, code, fields and message. The figures come from events given to the consumers'
//! handlers (online orders, a till sale and its return, carts, stock, a product), and from a
//! rebuild over doubles of ordering, the point of sale and catalog. SQLite by default,
//! PostgreSQL with COMPTOIR_TEST_BACKEND=postgres.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use comptoir_contracts::address::PostalAddress;
use comptoir_contracts::cart::CartAccess;
use comptoir_contracts::cart::events::{CART_CREATED, CartChanged};
use comptoir_contracts::catalog::events::{PRODUCT_CREATED, ProductChanged};
use comptoir_contracts::catalog::{
    CatalogPort, Category, CategoryNode, Channel as SalesChannel, ChannelPrice, Collection, CollectionPatch,
    NewCategory, NewCollection, NewProduct, NewVariant, PriceInput, Product, ProductFilter, ProductPatch,
    ProductStatus, SkuOffer, Variant, Visibility,
};
use comptoir_contracts::inventory::events::{STOCK_CHANGED, StockChanged};
use comptoir_contracts::ordering::events::{CHECKOUT_COMPLETED, ORDER_REFUNDED, OrderPlaced, OrderRefunded};
use comptoir_contracts::ordering::{
    CancelInput, CartEstimate, Checkout, DailySales, EstimateRequest, Order, OrderAccess, OrderFilter, OrderLine,
    OrderReturn, OrderSnapshot, OrderStatus, OrderTotals, OrderTransition, OrderingPort, RefundInput, ReturnInput,
    SalesQuery, ShippingChoice,
};
use comptoir_contracts::pos::events::{RETURN_COMPLETED, ReturnCompleted, SALE_COMPLETED, SaleCompleted};
use comptoir_contracts::pos::{
    Cashier, PosPort, ReturnedLine, Sale, SaleFilter, SaleLine, SaleStatus, SaleTotals, ScannedItem, Sell, Store,
    StoreInput, StoreReturn, TakeReturn, Tender, TenderMethod,
};
use comptoir_contracts::reporting::{ReportQuery, ReportingPort, SalesGrouping, StockValueQuery};
use comptoir_grpc::server::ServiceSet;
use comptoir_grpc::{Remote, RemoteSettings, from_status};
use comptoir_kernel::{Actor, Currency, Error, EventEnvelope, Money, Page, PageRequest, RequestContext, Result};
use comptoir_reporting::{MIGRATIONS, ReportingModule};
use comptoir_reporting_grpc::{ReportingClient, pb, service};
use comptoir_storage::testing::{self, TestDb};
use rust_decimal::Decimal;
use tokio::net::TcpListener;
use tonic::transport::{Channel, Endpoint};
use uuid::Uuid;

fn ctx() -> RequestContext {
    RequestContext::new("corr-reporting-grpc", Actor::user("staff-7"))
}

fn eur(amount: i64) -> Money {
    Money::new(amount, Currency::EUR)
}

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, day, hour, 0, 0).unwrap()
}

fn period(from: u32, to: u32, channel: Option<&str>) -> ReportQuery {
    ReportQuery {
        from: NaiveDate::from_ymd_opt(2026, 3, from).unwrap(),
        to: NaiveDate::from_ymd_opt(2026, 3, to).unwrap(),
        channel: channel.map(Into::into),
    }
}

fn event(event_type: &str, data: impl serde::Serialize, when: DateTime<Utc>) -> EventEnvelope {
    EventEnvelope { timestamp: when, ..EventEnvelope::new(&ctx(), "test", event_type, data) }
}

fn not_used<T>() -> Result<T> {
    Err(Error::internal("not used by reporting"))
}

fn paged<T>(items: Vec<T>, page: PageRequest) -> Page<T> {
    let total = items.len() as u64;
    let skip = ((page.page.max(1) - 1) * page.per_page) as usize;
    let items = items.into_iter().skip(skip).take(page.per_page as usize).collect();
    Page { items, page: page.page, per_page: page.per_page, total }
}

/// Catalog as reporting reads it: a fixed set of products, no categories.
struct FixedCatalog(Vec<Product>);

#[async_trait]
impl CatalogPort for FixedCatalog {
    async fn list_channels(&self, _: &RequestContext) -> Result<Vec<SalesChannel>> {
        Ok(vec![SalesChannel { code: "online".into(), name: "Online".into(), currency: Currency::EUR }])
    }
    async fn create_product(&self, _: &RequestContext, _: NewProduct) -> Result<Product> {
        not_used()
    }
    async fn update_product(&self, _: &RequestContext, _: Uuid, _: ProductPatch) -> Result<Product> {
        not_used()
    }
    async fn delete_product(&self, _: &RequestContext, _: Uuid) -> Result<()> {
        not_used()
    }
    async fn add_variant(&self, _: &RequestContext, _: Uuid, _: NewVariant) -> Result<Product> {
        not_used()
    }
    async fn set_prices(&self, _: &RequestContext, _: &str, _: Vec<PriceInput>) -> Result<Product> {
        not_used()
    }
    async fn publish(&self, _: &RequestContext, _: Uuid) -> Result<Product> {
        not_used()
    }
    async fn unpublish(&self, _: &RequestContext, _: Uuid) -> Result<Product> {
        not_used()
    }
    async fn get_product(&self, _: &RequestContext, id: &str, _: Visibility) -> Result<Product> {
        self.0.iter().find(|p| p.id.to_string() == id).cloned().ok_or_else(|| Error::not_found("product", id))
    }
    async fn list_products(
        &self,
        _: &RequestContext,
        _: ProductFilter,
        _: Visibility,
        page: PageRequest,
    ) -> Result<Page<Product>> {
        Ok(paged(self.0.clone(), page))
    }
    async fn create_category(&self, _: &RequestContext, _: NewCategory) -> Result<Category> {
        not_used()
    }
    async fn category_tree(&self, _: &RequestContext) -> Result<Vec<CategoryNode>> {
        Ok(vec![])
    }
    async fn create_collection(&self, _: &RequestContext, _: NewCollection) -> Result<Collection> {
        not_used()
    }
    async fn update_collection(&self, _: &RequestContext, _: Uuid, _: CollectionPatch) -> Result<Collection> {
        not_used()
    }
    async fn get_collection(&self, _: &RequestContext, _: &str) -> Result<Collection> {
        not_used()
    }
    async fn list_collections(&self, _: &RequestContext, _: PageRequest) -> Result<Page<Collection>> {
        not_used()
    }
    async fn offer(&self, _: &RequestContext, _: &str, _: &str) -> Result<SkuOffer> {
        not_used()
    }
}

/// Ordering as a rebuild sees it: fixed orders, newest first.
struct FixedOrders(Vec<Order>);

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
    async fn search_orders(&self, _: &RequestContext, _: OrderFilter, page: PageRequest) -> Result<Page<Order>> {
        let mut orders = self.0.clone();
        orders.sort_by_key(|o| std::cmp::Reverse(o.created_at));
        Ok(paged(orders, page))
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

/// The point of sale as a rebuild sees it: fixed sales and their returns.
struct FixedTill(Vec<Sale>, Vec<StoreReturn>);

#[async_trait]
impl PosPort for FixedTill {
    async fn upsert_store(&self, _: &RequestContext, _: StoreInput) -> Result<Store> {
        not_used()
    }
    async fn list_stores(&self, _: &RequestContext) -> Result<Vec<Store>> {
        not_used()
    }
    async fn scan(&self, _: &RequestContext, _: &str, _: &str) -> Result<ScannedItem> {
        not_used()
    }
    async fn sell(&self, _: &RequestContext, _: Sell) -> Result<Sale> {
        not_used()
    }
    async fn get_sale(&self, _: &RequestContext, _: Uuid) -> Result<Sale> {
        not_used()
    }
    async fn list_sales(&self, _: &RequestContext, _: SaleFilter, page: PageRequest) -> Result<Page<Sale>> {
        Ok(paged(self.0.clone(), page))
    }
    async fn take_return(&self, _: &RequestContext, _: TakeReturn) -> Result<StoreReturn> {
        not_used()
    }
    async fn returns_for_sale(&self, _: &RequestContext, sale_id: Uuid) -> Result<Vec<StoreReturn>> {
        Ok(self.1.iter().filter(|r| r.sale_id == sale_id).cloned().collect())
    }
    async fn receipt(&self, _: &RequestContext, _: Uuid) -> Result<String> {
        not_used()
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

/// An online order of `quantity` mugs at 12.00 (tax included), shipping 6.00.
fn order(mug: Uuid, quantity: i64, placed_at: DateTime<Utc>) -> OrderSnapshot {
    let goods = 1200 * quantity;
    OrderSnapshot {
        order_id: Uuid::now_v7(),
        number: "CO-000001".into(),
        customer_id: None,
        email: "ada@example.com".into(),
        channel: "online".into(),
        currency: Currency::EUR,
        prices_include_tax: true,
        lines: vec![OrderLine {
            sku: "MUG".into(),
            product_id: mug,
            product_name: "Mug".into(),
            quantity,
            unit_price: eur(1200),
            tax_rate: Decimal::new(20, 2),
            net: eur(goods * 5 / 6),
            tax: eur(goods / 6),
            gross: eur(goods),
            weight_grams: None,
        }],
        shipping: ShippingChoice {
            method: "standard".into(),
            name: "Standard".into(),
            carrier: "post".into(),
            net: eur(500),
            tax: eur(100),
            gross: eur(600),
        },
        shipping_address: address(),
        billing_address: address(),
        totals: OrderTotals { net: eur((goods + 600) * 5 / 6), tax: eur((goods + 600) / 6), gross: eur(goods + 600) },
        placed_at,
    }
}

fn listed(s: &OrderSnapshot, status: OrderStatus, refunded: i64, more: Vec<OrderTransition>) -> Order {
    let mut timeline = vec![OrderTransition {
        from: Some(OrderStatus::Paid),
        to: OrderStatus::Confirmed,
        cause: "checkout completed".into(),
        actor: "system".into(),
        at: s.placed_at,
    }];
    timeline.extend(more);
    Order {
        id: s.order_id,
        number: s.number.clone(),
        customer_id: s.customer_id,
        email: s.email.clone(),
        channel: s.channel.clone(),
        currency: s.currency,
        status,
        prices_include_tax: true,
        lines: s.lines.clone(),
        shipping: s.shipping.clone(),
        shipping_address: s.shipping_address.clone(),
        billing_address: s.billing_address.clone(),
        totals: s.totals.clone(),
        refunded: eur(refunded),
        reservation_id: None,
        payment_id: None,
        cancellation_reason: None,
        timeline,
        created_at: s.placed_at,
        updated_at: s.placed_at,
    }
}

/// A sale of one mug at 9.00 at the Lyon store's till.
fn till_sale(mug: Uuid, when: DateTime<Utc>) -> Sale {
    let cashier = Cashier { id: Uuid::now_v7(), name: "Camille".into() };
    Sale {
        id: Uuid::now_v7(),
        number: "LYON-STORE-000001".into(),
        location: "lyon-store".into(),
        channel: "store".into(),
        cashier,
        status: SaleStatus::Completed,
        lines: vec![SaleLine {
            sku: "MUG".into(),
            product_id: mug,
            product_name: "Mug".into(),
            quantity: 1,
            unit_price: eur(900),
            tax_rate: Decimal::new(20, 2),
            net: eur(750),
            tax: eur(150),
            gross: eur(900),
            returned: 0,
        }],
        totals: SaleTotals { net: eur(750), tax: eur(150), gross: eur(900) },
        tender: Tender {
            method: TenderMethod::Card,
            amount: eur(900),
            tendered: None,
            change: None,
            payment_id: Uuid::now_v7(),
        },
        refunded: eur(0),
        created_at: when,
    }
}

struct Shop {
    /// The module in process, for the answers the client must match.
    local: ReportingModule,
    /// The same module through its server.
    remote: ReportingClient,
    address: SocketAddr,
    _db: TestDb,
}

/// Two online orders (one refunded 6.00) and a till sale (returned) in March, two carts (one
/// ordered), a mug priced online and stocked in two locations. Counted from the events; the
/// doubles hold the same for a rebuild.
async fn shop() -> Shop {
    let mug = Uuid::now_v7();
    let mut product = Product {
        id: mug,
        seller_id: Uuid::now_v7(),
        slug: "mug".into(),
        name: "Mug".into(),
        description: String::new(),
        status: ProductStatus::Published,
        category_ids: vec![],
        attributes: BTreeMap::new(),
        variants: vec![Variant {
            id: Uuid::now_v7(),
            sku: "MUG".into(),
            options: BTreeMap::new(),
            weight_grams: None,
            prices: vec![ChannelPrice { channel: "online".into(), price: eur(1200) }],
        }],
        created_at: at(1, 8),
        updated_at: at(1, 8),
    };
    product.variants[0].prices.push(ChannelPrice { channel: "store".into(), price: eur(900) });
    let (first, second) = (order(mug, 2, at(2, 10)), order(mug, 1, at(3, 10)));
    let sale = till_sale(mug, at(2, 15));
    let store_return = StoreReturn {
        id: Uuid::now_v7(),
        sale_id: sale.id,
        sale_number: sale.number.clone(),
        location: sale.location.clone(),
        channel: sale.channel.clone(),
        cashier: sale.cashier.clone(),
        lines: vec![ReturnedLine { sku: "MUG".into(), product_id: mug, quantity: 1, amount: eur(900) }],
        amount: eur(900),
        reason: "chipped".into(),
        restocked: false,
        created_at: at(3, 11),
    };
    let cart = Uuid::now_v7();
    let refund_step = OrderTransition {
        from: Some(OrderStatus::Confirmed),
        to: OrderStatus::PartiallyRefunded,
        cause: "refunded 6.00 EUR".into(),
        actor: "system".into(),
        at: at(3, 12),
    };
    let orders = vec![
        listed(&first, OrderStatus::PartiallyRefunded, 600, vec![refund_step]),
        listed(&second, OrderStatus::Delivered, 0, vec![]),
    ];
    let mut returned_sale = sale.clone();
    returned_sale.status = SaleStatus::Returned;
    returned_sale.refunded = eur(900);

    let db = testing::open("reporting", &MIGRATIONS).await;
    let local = ReportingModule::new(
        db.db.clone(),
        Arc::new(FixedCatalog(vec![product.clone()])),
        Arc::new(FixedOrders(orders)),
        Arc::new(FixedTill(vec![returned_sale], vec![store_return.clone()])),
    );
    let changed = ProductChanged {
        product_id: mug,
        seller_id: product.seller_id,
        name: "Mug".into(),
        slug: "mug".into(),
        status: ProductStatus::Published,
        skus: vec!["MUG".into()],
    };
    let stock = |location: &str, on_hand| StockChanged {
        sku: "MUG".into(),
        location: location.into(),
        on_hand,
        reserved: 0,
        available: on_hand,
    };
    let created = |cart_id| CartChanged {
        cart_id,
        customer_id: None,
        channel: "online".into(),
        item_count: 1,
        subtotal: eur(1200),
    };
    let placed =
        |o: &OrderSnapshot, cart_id| OrderPlaced { order: o.clone(), cart_id, reservation_id: None, payment_id: None };
    let refund = OrderRefunded {
        order_id: first.order_id,
        number: first.number.clone(),
        email: first.email.clone(),
        amount: eur(600),
        restock: vec![],
        reservation_id: None,
        reason: None,
    };
    let events = [
        event(PRODUCT_CREATED, changed, at(1, 8)),
        event(STOCK_CHANGED, stock("paris-wh", 10), at(1, 9)),
        event(STOCK_CHANGED, stock("lyon-store", 3), at(1, 9)),
        event(CART_CREATED, created(cart), at(2, 9)),
        event(CART_CREATED, created(Uuid::now_v7()), at(2, 9)),
        event(CHECKOUT_COMPLETED, placed(&first, Some(cart)), first.placed_at),
        event(CHECKOUT_COMPLETED, placed(&second, None), second.placed_at),
        event(SALE_COMPLETED, SaleCompleted { sale }, at(2, 15)),
        event(ORDER_REFUNDED, refund, at(3, 12)),
        event(RETURN_COMPLETED, ReturnCompleted { store_return }, at(3, 11)),
    ];
    let consumers = local.consumers();
    for e in &events {
        for consumer in consumers.iter().filter(|c| c.matches(&e.event_type)) {
            consumer.handler.handle(e).await.unwrap();
        }
    }

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(ServiceSet::new().add(service(Arc::new(local.clone()))).serve(listener, std::future::pending()));
    let remote = Remote::connect("reporting", &format!("http://{address}"), RemoteSettings::default()).unwrap();
    Shop { local, remote: ReportingClient::new(remote), address, _db: db }
}

/// Every field, compared through the JSON form.
fn assert_same<T: serde::Serialize>(remote: &T, local: &T) {
    assert_eq!(serde_json::to_value(remote).unwrap(), serde_json::to_value(local).unwrap());
}

fn fields(error: &Error) -> Vec<&str> {
    error.field_errors().iter().map(|f| f.field.as_str()).collect()
}

impl Shop {
    /// Makes the same call through the client and in process: both must be refused alike (status,
    /// code, field names and messages, text). The remote error is returned for further checks.
    async fn refused<T: Debug>(&self, call: impl AsyncFn(&dyn ReportingPort) -> Result<T>) -> Error {
        let remote = call(&self.remote).await.expect_err("refused through the client");
        let local = call(&self.local).await.expect_err("refused in process");
        assert_eq!(
            (remote.status(), remote.code(), remote.field_errors(), remote.to_string()),
            (local.status(), local.code(), local.field_errors(), local.to_string()),
        );
        remote
    }

    /// A raw client of the generated service, to send messages `ReportingClient` never builds.
    fn raw(&self) -> pb::reporting_service_client::ReportingServiceClient<Channel> {
        let channel = Endpoint::from_shared(format!("http://{}", self.address)).unwrap().connect_lazy();
        pb::reporting_service_client::ReportingServiceClient::new(channel)
    }
}

#[tokio::test]
async fn every_report_answers_the_same_through_the_client() {
    let shop = shop().await;
    for query in [period(1, 31, None), period(2, 2, None), period(1, 31, Some("store")), period(4, 30, None)] {
        for grouping in [
            SalesGrouping::Day,
            SalesGrouping::Channel,
            SalesGrouping::Product,
            SalesGrouping::Category,
            SalesGrouping::Seller,
        ] {
            let remote = shop.remote.sales(&ctx(), query.clone(), grouping).await.unwrap();
            assert_same(&remote, &shop.local.sales(&ctx(), query.clone(), grouping).await.unwrap());
            assert_eq!(remote.grouping, grouping);
        }
        let remote = shop.remote.refunds(&ctx(), query.clone()).await.unwrap();
        assert_same(&remote, &shop.local.refunds(&ctx(), query.clone()).await.unwrap());
        let remote = shop.remote.conversion(&ctx(), query.clone()).await.unwrap();
        assert_same(&remote, &shop.local.conversion(&ctx(), query.clone()).await.unwrap());
    }
    // The figures are the module's: two orders and the till sale, shipping in channel rows only.
    let by_channel = shop.remote.sales(&ctx(), period(1, 31, None), SalesGrouping::Channel).await.unwrap();
    let summary: Vec<(&str, u64, i64, i64, i64)> = by_channel
        .rows
        .iter()
        .map(|r| (r.key.as_str(), r.orders, r.units, r.gross.amount, r.shipping.amount))
        .collect();
    assert_eq!(summary, [("online", 2, 3, 3600, 1200), ("store", 1, 1, 900, 0)]);
    assert_eq!((by_channel.totals[0].orders, by_channel.totals[0].gross), (3, eur(4500)));
    let by_category = shop.remote.sales(&ctx(), period(1, 31, None), SalesGrouping::Category).await.unwrap();
    assert_eq!((by_category.rows[0].key.as_str(), by_category.rows[0].label.as_str()), ("none", "Uncategorised"));
    let refunds = shop.remote.refunds(&ctx(), period(1, 31, None)).await.unwrap();
    let refunds: Vec<(&str, &str, u64, i64)> =
        refunds.iter().map(|r| (r.day.as_str(), r.channel.as_str(), r.refunds, r.amount.amount)).collect();
    assert_eq!(refunds, [("2026-03-03", "online", 1, 600), ("2026-03-03", "store", 1, 900)]);
    let conversion = shop.remote.conversion(&ctx(), period(1, 31, None)).await.unwrap();
    assert_eq!((conversion[0].carts, conversion[0].ordered, conversion[0].rate), (2, 1, 0.5));

    for (location, channel) in [(None, None), (Some("paris-wh"), None), (None, Some("store"))] {
        let query = StockValueQuery { location: location.map(Into::into), channel: channel.map(Into::into) };
        let remote = shop.remote.stock_value(&ctx(), query.clone()).await.unwrap();
        assert_same(&remote, &shop.local.stock_value(&ctx(), query).await.unwrap());
    }
    let stock = shop.remote.stock_value(&ctx(), StockValueQuery::default()).await.unwrap();
    let stock: Vec<(&str, u64, i64, i64)> =
        stock.iter().map(|r| (r.location.as_str(), r.skus, r.units, r.value.amount)).collect();
    assert_eq!(stock, [("lyon-store", 1, 3, 3600), ("paris-wh", 1, 10, 12000)]);
}

#[tokio::test]
async fn a_rebuild_through_the_client_recounts_and_changes_no_figure() {
    let shop = shop().await;
    let month = period(1, 31, None);
    let mut before = Vec::new();
    for grouping in [SalesGrouping::Day, SalesGrouping::Product] {
        before.push(serde_json::to_value(shop.local.sales(&ctx(), month.clone(), grouping).await.unwrap()).unwrap());
    }
    before.push(serde_json::to_value(shop.local.refunds(&ctx(), month.clone()).await.unwrap()).unwrap());

    let report = shop.remote.rebuild(&ctx()).await.unwrap();
    assert_eq!((report.orders, report.store_sales, report.products), (2, 1, 1));
    let mut after = Vec::new();
    for grouping in [SalesGrouping::Day, SalesGrouping::Product] {
        after.push(serde_json::to_value(shop.remote.sales(&ctx(), month.clone(), grouping).await.unwrap()).unwrap());
    }
    after.push(serde_json::to_value(shop.remote.refunds(&ctx(), month.clone()).await.unwrap()).unwrap());
    assert_eq!(after, before);
    let again = shop.local.rebuild(&ctx()).await.unwrap();
    assert_eq!((again.orders, again.store_sales, again.products), (2, 1, 1));
}

#[tokio::test]
async fn refusals_come_back_as_in_process_naming_the_field() {
    let shop = shop().await;
    // A period running backwards, or longer than a year and a day: 422 on `to`.
    let backwards = period(3, 2, None);
    let too_long = ReportQuery { to: NaiveDate::from_ymd_opt(2027, 3, 2).unwrap(), ..period(1, 1, None) };
    for query in [backwards, too_long] {
        let e = shop.refused(async |port| port.sales(&ctx(), query.clone(), SalesGrouping::Day).await).await;
        assert!(matches!(e, Error::Validation { .. }), "{e:?}");
        assert_eq!((e.status(), fields(&e)), (422, vec!["to"]));
        let e = shop.refused(async |port| port.refunds(&ctx(), query.clone()).await).await;
        assert_eq!((e.status(), fields(&e)), (422, vec!["to"]));
        let e = shop.refused(async |port| port.conversion(&ctx(), query.clone()).await).await;
        assert_eq!((e.status(), fields(&e)), (422, vec!["to"]));
    }
    // A blank channel travels as given and is refused by the module.
    let blank = period(1, 2, Some(" "));
    let e = shop.refused(async |port| port.sales(&ctx(), blank.clone(), SalesGrouping::Channel).await).await;
    assert_eq!((e.status(), fields(&e)), (422, vec!["channel"]));
    let blank = StockValueQuery { location: Some(String::new()), channel: None };
    let e = shop.refused(async |port| port.stock_value(&ctx(), blank.clone()).await).await;
    assert_eq!((e.status(), fields(&e)), (422, vec!["location"]));
    // An unknown location is not found.
    let atlantis = StockValueQuery { location: Some("atlantis".into()), channel: None };
    let e = shop.refused(async |port| port.stock_value(&ctx(), atlantis.clone()).await).await;
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
    assert_eq!(e.status(), 404);
}

#[tokio::test]
async fn malformed_messages_are_bad_requests_naming_the_field() {
    let shop = shop().await;
    let mut raw = shop.raw();
    let bad_request = |status: tonic::Status| {
        let e = from_status("reporting", &status);
        assert_eq!(e.status(), 400, "{e}");
        e.to_string()
    };
    let day = |from: &str, to: &str| pb::ReportQuery { from: from.into(), to: to.into(), channel: None };
    let message = pb::SalesRequest { query: Some(day("2026-03-01", "31/03/2026")), grouping: 1 };
    assert!(bad_request(raw.sales(message).await.unwrap_err()).contains("query.to"));
    let message = pb::SalesRequest { query: Some(day("2026-03-01", "2026-03-31")), grouping: 0 };
    assert!(bad_request(raw.sales(message).await.unwrap_err()).contains("grouping"));
    let message = pb::SalesRequest { query: None, grouping: 1 };
    assert!(bad_request(raw.sales(message).await.unwrap_err()).contains("query"));
    assert!(bad_request(raw.refunds(day("", "2026-03-31")).await.unwrap_err()).contains("from"));
    assert!(bad_request(raw.conversion(day("2026-02-30", "2026-03-31")).await.unwrap_err()).contains("from"));
}
