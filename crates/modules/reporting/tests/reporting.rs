//! The reporting module fed with the events of ordering, the point of sale, cart, catalog,
//! identity and inventory as the bus would deliver them (each consumer's handler called
//! directly, for every consumer whose patterns match), and rebuilt from doubles of ordering, the
//! point of sale and catalog that hold the same orders, sales and products. SQLite by default,
//! PostgreSQL with COMPTOIR_TEST_BACKEND=postgres.
//!
//! The shop: Ada's Pottery sells mugs (Kitchen › Mugs) and a lamp (Home), Leaf & Co sells tea
//! (no category). Online, on 2 March: O1 (two blue mugs and a tea, shipping 6.00) and O2 (a red
//! and a blue mug, shipping 6.00); on 3 March: O3 (a lamp, free shipping) and O4 (a tea, shipping
//! 6.00, cancelled after its confirmation and refunded), O5 placed but never confirmed. At the
//! Lyon store's till: S1 on 2 March (a blue mug, two teas), S2 on 3 March (a tea). On 3 March O1
//! is refunded 12.00 and a tea of S1 comes back to the till (6.00).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use comptoir_contracts::address::PostalAddress;
use comptoir_contracts::cart::CartAccess;
use comptoir_contracts::cart::events::{CART_CREATED, CART_MERGED, CartChanged, CartMerged};
use comptoir_contracts::catalog::events::{
    CATEGORY_CREATED, PRODUCT_CREATED, PRODUCT_DELETED, PRODUCT_UPDATED, ProductChanged,
};
use comptoir_contracts::catalog::{
    CatalogPort, Category, CategoryNode, Channel, ChannelPrice, Collection, CollectionPatch, NewCategory,
    NewCollection, NewProduct, NewVariant, PriceInput, Product, ProductFilter, ProductPatch, ProductStatus, SkuOffer,
    Variant, Visibility,
};
use comptoir_contracts::identity::events::{SELLER_CREATED, SellerCreated};
use comptoir_contracts::inventory::events::{LOCATION_CREATED, STOCK_CHANGED, StockChanged};
use comptoir_contracts::inventory::{Location, LocationKind};
use comptoir_contracts::ordering::events::{
    CHECKOUT_COMPLETED, ORDER_CANCELLED, ORDER_PLACED, ORDER_REFUNDED, OrderCancelled, OrderPlaced, OrderRefunded,
};
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
use comptoir_contracts::reporting::{
    ConversionRow, RefundRow, ReportQuery, ReportingPort, SalesGrouping, SalesReport, SalesRow, StockValueQuery,
    StockValueRow,
};
use comptoir_eventbus::Consumer;
use comptoir_kernel::{Currency, Error, EventEnvelope, Money, Page, PageRequest, RequestContext, Result};
use comptoir_reporting::{CARTS, CATALOG, MIGRATIONS, ORDERS, ReportingModule, STOCK, STORE};
use comptoir_storage::testing::{TestDb, open};
use rust_decimal::Decimal;
use uuid::Uuid;

fn ctx() -> RequestContext {
    RequestContext::system()
}

fn eur(amount: i64) -> Money {
    Money::new(amount, Currency::EUR)
}

/// `hour` o'clock (UTC) on March `day`, 2026.
fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, day, hour, 0, 0).unwrap()
}

fn date(day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, day).unwrap()
}

fn period(from: u32, to: u32) -> ReportQuery {
    ReportQuery { from: date(from), to: date(to), channel: None }
}

fn in_channel(channel: &str) -> ReportQuery {
    ReportQuery { channel: Some(channel.to_string()), ..period(1, 31) }
}

/// An event as its module would publish it, at `when`.
fn event(source: &str, event_type: &str, data: impl serde::Serialize, when: DateTime<Utc>) -> EventEnvelope {
    EventEnvelope { timestamp: when, ..EventEnvelope::new(&ctx(), source, event_type, data) }
}

// ---- The catalog ----------------------------------------------------------------------------

struct Ids {
    ada: Uuid,
    leaf: Uuid,
    kitchen: Uuid,
    mugs: Uuid,
    home: Uuid,
    mug: Uuid,
    tea: Uuid,
    lamp: Uuid,
}

fn price(channel: &str, amount: i64) -> ChannelPrice {
    ChannelPrice { channel: channel.into(), price: eur(amount) }
}

fn variant(sku: &str, prices: Vec<ChannelPrice>) -> Variant {
    Variant { id: Uuid::now_v7(), sku: sku.into(), options: BTreeMap::new(), weight_grams: None, prices }
}

fn product(id: Uuid, seller: Uuid, name: &str, categories: Vec<Uuid>, variants: Vec<Variant>) -> Product {
    Product {
        id,
        seller_id: seller,
        slug: name.to_lowercase().replace(' ', "-"),
        name: name.into(),
        description: String::new(),
        status: ProductStatus::Published,
        category_ids: categories,
        attributes: BTreeMap::new(),
        variants,
        created_at: at(1, 8),
        updated_at: at(1, 8),
    }
}

fn category(id: Uuid, parent: Option<Uuid>, name: &str) -> Category {
    Category { id, parent_id: parent, name: name.into(), slug: name.to_lowercase(), position: 0 }
}

fn not_used<T>() -> Result<T> {
    Err(Error::internal("not used by reporting"))
}

/// Catalog as reporting reads it: products by id, a listing a page at a time, the tree.
#[derive(Default)]
struct FixedCatalog {
    products: Mutex<Vec<Product>>,
    tree: Mutex<Vec<CategoryNode>>,
}

impl FixedCatalog {
    fn put(&self, product: Product) {
        let mut products = self.products.lock().unwrap();
        products.retain(|p| p.id != product.id);
        products.push(product);
    }

    fn remove(&self, id: Uuid) {
        self.products.lock().unwrap().retain(|p| p.id != id);
    }

    fn product(&self, id: Uuid) -> Product {
        self.products.lock().unwrap().iter().find(|p| p.id == id).cloned().unwrap()
    }
}

#[async_trait]
impl CatalogPort for FixedCatalog {
    async fn list_channels(&self, _: &RequestContext) -> Result<Vec<Channel>> {
        Ok(["online", "store"]
            .into_iter()
            .map(|code| Channel { code: code.into(), name: code.into(), currency: Currency::EUR })
            .collect())
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
    async fn get_product(&self, _: &RequestContext, id: &str, visibility: Visibility) -> Result<Product> {
        assert_eq!(visibility, Visibility::All, "reporting sees drafts too");
        let products = self.products.lock().unwrap();
        products.iter().find(|p| p.id.to_string() == id).cloned().ok_or_else(|| Error::not_found("product", id))
    }
    async fn list_products(
        &self,
        _: &RequestContext,
        _: ProductFilter,
        visibility: Visibility,
        page: PageRequest,
    ) -> Result<Page<Product>> {
        assert_eq!(visibility, Visibility::All, "reporting sees drafts too");
        page.validate()?;
        Ok(paged(self.products.lock().unwrap().clone(), page))
    }
    async fn create_category(&self, _: &RequestContext, _: NewCategory) -> Result<Category> {
        not_used()
    }
    async fn category_tree(&self, _: &RequestContext) -> Result<Vec<CategoryNode>> {
        Ok(self.tree.lock().unwrap().clone())
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

fn paged<T>(items: Vec<T>, page: PageRequest) -> Page<T> {
    let total = items.len() as u64;
    let skip = ((page.page - 1) * page.per_page) as usize;
    Page {
        items: items.into_iter().skip(skip).take(page.per_page as usize).collect(),
        page: page.page,
        per_page: page.per_page,
        total,
    }
}

// ---- Ordering -------------------------------------------------------------------------------

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

/// `quantity` units at `unit` each, tax included at 20 % (amounts divisible by 6).
fn order_line(product_id: Uuid, name: &str, sku: &str, quantity: i64, unit: i64) -> OrderLine {
    let gross = unit * quantity;
    OrderLine {
        sku: sku.into(),
        product_id,
        product_name: name.into(),
        quantity,
        unit_price: eur(unit),
        tax_rate: Decimal::new(20, 2),
        net: eur(gross - gross / 6),
        tax: eur(gross / 6),
        gross: eur(gross),
        weight_grams: None,
    }
}

fn online_order(number: &str, lines: Vec<OrderLine>, shipping: i64, placed_at: DateTime<Utc>) -> OrderSnapshot {
    let goods: i64 = lines.iter().map(|l| l.gross.amount).sum();
    let gross = goods + shipping;
    OrderSnapshot {
        order_id: Uuid::now_v7(),
        number: number.into(),
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
            net: eur(shipping - shipping / 6),
            tax: eur(shipping / 6),
            gross: eur(shipping),
        },
        shipping_address: address(),
        billing_address: address(),
        totals: OrderTotals { net: eur(gross - gross / 6), tax: eur(gross / 6), gross: eur(gross) },
        placed_at,
    }
}

fn placed(order: &OrderSnapshot, cart_id: Option<Uuid>, event_type: &str) -> EventEnvelope {
    let data = OrderPlaced { order: order.clone(), cart_id, reservation_id: None, payment_id: None };
    event("ordering", event_type, data, order.placed_at)
}

fn refunded(order: &OrderSnapshot, amount: i64, when: DateTime<Utc>) -> EventEnvelope {
    let data = OrderRefunded {
        order_id: order.order_id,
        number: order.number.clone(),
        email: order.email.clone(),
        amount: eur(amount),
        restock: vec![],
        reservation_id: None,
        reason: Some("broken".into()),
    };
    event("ordering", ORDER_REFUNDED, data, when)
}

fn cancelled(order: &OrderSnapshot, before_confirmation: bool, when: DateTime<Utc>) -> EventEnvelope {
    let data = OrderCancelled {
        order_id: order.order_id,
        number: order.number.clone(),
        email: order.email.clone(),
        customer_id: order.customer_id,
        reason: "changed my mind".into(),
        reservation_id: None,
        before_confirmation,
    };
    event("ordering", ORDER_CANCELLED, data, when)
}

fn step(from: Option<OrderStatus>, to: OrderStatus, cause: &str, when: DateTime<Utc>) -> OrderTransition {
    OrderTransition { from, to, cause: cause.into(), actor: "system".into(), at: when }
}

/// The order as ordering lists it: its timeline up to confirmation (unless still pending), then
/// `more` steps; `status` and `refunded` as they end.
fn listed(s: &OrderSnapshot, status: OrderStatus, refunded: i64, more: Vec<OrderTransition>) -> Order {
    let mut timeline = vec![step(None, OrderStatus::Pending, "checkout", s.placed_at)];
    if status != OrderStatus::Pending {
        timeline.push(step(Some(OrderStatus::Paid), OrderStatus::Confirmed, "checkout completed", s.placed_at));
    }
    timeline.extend(more);
    Order {
        id: s.order_id,
        number: s.number.clone(),
        customer_id: s.customer_id,
        email: s.email.clone(),
        channel: s.channel.clone(),
        currency: s.currency,
        status,
        prices_include_tax: s.prices_include_tax,
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

/// Ordering as a rebuild sees it: a fixed list of orders, newest first, a page at a time.
#[derive(Default)]
struct FixedOrders {
    orders: Mutex<Vec<Order>>,
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
        matching.sort_by_key(|o| std::cmp::Reverse((o.created_at, o.id)));
        Ok(paged(matching, page))
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

// ---- The point of sale ----------------------------------------------------------------------

fn cashier() -> Cashier {
    Cashier { id: Uuid::now_v7(), name: "Camille".into() }
}

fn sale_line(product_id: Uuid, name: &str, sku: &str, quantity: i64, unit: i64) -> SaleLine {
    let gross = unit * quantity;
    SaleLine {
        sku: sku.into(),
        product_id,
        product_name: name.into(),
        quantity,
        unit_price: eur(unit),
        tax_rate: Decimal::new(20, 2),
        net: eur(gross - gross / 6),
        tax: eur(gross / 6),
        gross: eur(gross),
        returned: 0,
    }
}

fn till_sale(number: &str, lines: Vec<SaleLine>, when: DateTime<Utc>) -> Sale {
    let gross: i64 = lines.iter().map(|l| l.gross.amount).sum();
    let net: i64 = lines.iter().map(|l| l.net.amount).sum();
    Sale {
        id: Uuid::now_v7(),
        number: number.into(),
        location: "lyon-store".into(),
        channel: "store".into(),
        cashier: cashier(),
        status: SaleStatus::Completed,
        lines,
        totals: SaleTotals { net: eur(net), tax: eur(gross - net), gross: eur(gross) },
        tender: Tender {
            method: TenderMethod::Cash,
            amount: eur(gross),
            tendered: Some(eur(gross)),
            change: Some(eur(0)),
            payment_id: Uuid::now_v7(),
        },
        refunded: eur(0),
        created_at: when,
    }
}

fn till_return(sale: &Sale, line: &SaleLine, quantity: i64, when: DateTime<Utc>) -> StoreReturn {
    StoreReturn {
        id: Uuid::now_v7(),
        sale_id: sale.id,
        sale_number: sale.number.clone(),
        location: sale.location.clone(),
        channel: sale.channel.clone(),
        cashier: cashier(),
        lines: vec![ReturnedLine {
            sku: line.sku.clone(),
            product_id: line.product_id,
            quantity,
            amount: eur(line.unit_price.amount * quantity),
        }],
        amount: eur(line.unit_price.amount * quantity),
        reason: "too strong".into(),
        restocked: true,
        created_at: when,
    }
}

/// The point of sale as a rebuild sees it: fixed sales, newest first, and their returns.
#[derive(Default)]
struct FixedTill {
    sales: Mutex<Vec<Sale>>,
    returns: Mutex<Vec<StoreReturn>>,
}

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
        page.validate()?;
        let mut sales = self.sales.lock().unwrap().clone();
        sales.sort_by_key(|s| std::cmp::Reverse((s.created_at, s.id)));
        Ok(paged(sales, page))
    }
    async fn take_return(&self, _: &RequestContext, _: TakeReturn) -> Result<StoreReturn> {
        not_used()
    }
    async fn returns_for_sale(&self, _: &RequestContext, sale_id: Uuid) -> Result<Vec<StoreReturn>> {
        Ok(self.returns.lock().unwrap().iter().filter(|r| r.sale_id == sale_id).cloned().collect())
    }
    async fn receipt(&self, _: &RequestContext, _: Uuid) -> Result<String> {
        not_used()
    }
}

// ---- The shop -------------------------------------------------------------------------------

struct Shop {
    module: ReportingModule,
    catalog: Arc<FixedCatalog>,
    ordering: Arc<FixedOrders>,
    till: Arc<FixedTill>,
    consumers: Vec<Consumer>,
    _db: TestDb,
}

impl Shop {
    async fn open() -> Shop {
        let db = open("reporting", &MIGRATIONS).await;
        let catalog = Arc::new(FixedCatalog::default());
        let ordering = Arc::new(FixedOrders::default());
        let till = Arc::new(FixedTill::default());
        let module = ReportingModule::new(db.db.clone(), catalog.clone(), ordering.clone(), till.clone());
        let consumers = module.consumers();
        let names: Vec<&str> = consumers.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, [ORDERS, STORE, CARTS, CATALOG, STOCK]);
        Shop { module, catalog, ordering, till, consumers, _db: db }
    }

    /// To every consumer whose patterns match, as the bus does.
    async fn deliver(&self, event: &EventEnvelope) {
        let mut handled = false;
        for consumer in self.consumers.iter().filter(|c| c.matches(&event.event_type)) {
            consumer.handler.handle(event).await.unwrap();
            handled = true;
        }
        assert!(handled, "no consumer for {}", event.event_type);
    }

    async fn deliver_all(&self, events: &[EventEnvelope]) {
        for event in events {
            self.deliver(event).await;
        }
    }

    async fn sales(&self, query: ReportQuery, grouping: SalesGrouping) -> SalesReport {
        self.module.sales(&ctx(), query, grouping).await.unwrap()
    }

    async fn refunds(&self, query: ReportQuery) -> Vec<RefundRow> {
        self.module.refunds(&ctx(), query).await.unwrap()
    }

    async fn stock(&self, location: Option<&str>, channel: Option<&str>) -> Vec<StockValueRow> {
        let query = StockValueQuery { location: location.map(Into::into), channel: channel.map(Into::into) };
        self.module.stock_value(&ctx(), query).await.unwrap()
    }

    async fn conversion(&self, query: ReportQuery) -> Vec<ConversionRow> {
        self.module.conversion(&ctx(), query).await.unwrap()
    }

    /// Every report over the month, to compare two shops.
    async fn everything(&self) -> Vec<serde_json::Value> {
        let mut all = Vec::new();
        for grouping in [
            SalesGrouping::Day,
            SalesGrouping::Channel,
            SalesGrouping::Product,
            SalesGrouping::Category,
            SalesGrouping::Seller,
        ] {
            all.push(serde_json::to_value(self.sales(period(1, 31), grouping).await).unwrap());
            all.push(serde_json::to_value(self.sales(in_channel("store"), grouping).await).unwrap());
        }
        all.push(serde_json::to_value(self.refunds(period(1, 31)).await).unwrap());
        all.push(serde_json::to_value(self.stock(None, None).await).unwrap());
        all.push(serde_json::to_value(self.conversion(period(1, 31)).await).unwrap());
        all
    }
}

/// A row's figures: (key, label, orders, units, net, tax, gross, shipping).
type Figures = (String, String, u64, i64, i64, i64, i64, i64);

fn figures(rows: &[SalesRow]) -> Vec<Figures> {
    rows.iter()
        .map(|r| {
            assert_eq!(r.currency, Currency::EUR);
            (
                r.key.clone(),
                r.label.clone(),
                r.orders,
                r.units,
                r.net.amount,
                r.tax.amount,
                r.gross.amount,
                r.shipping.amount,
            )
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn f(key: &str, label: &str, orders: u64, units: i64, net: i64, tax: i64, gross: i64, shipping: i64) -> Figures {
    (key.into(), label.into(), orders, units, net, tax, gross, shipping)
}

fn refund_rows(rows: &[RefundRow]) -> Vec<(&str, &str, u64, i64)> {
    rows.iter().map(|r| (r.day.as_str(), r.channel.as_str(), r.refunds, r.amount.amount)).collect()
}

/// (location, skus, units, value, unpriced).
fn stock_rows(rows: &[StockValueRow]) -> Vec<(&str, u64, i64, i64, u64)> {
    rows.iter()
        .map(|r| {
            assert_eq!((r.currency, r.value.currency), (Currency::EUR, Currency::EUR));
            (r.location.as_str(), r.skus, r.units, r.value.amount, r.unpriced_skus)
        })
        .collect()
}

fn conversion_rows(rows: &[ConversionRow]) -> Vec<(&str, &str, u64, u64, f64)> {
    rows.iter().map(|r| (r.day.as_str(), r.channel.as_str(), r.carts, r.ordered, r.rate)).collect()
}

fn fields(error: &Error) -> Vec<&str> {
    error.field_errors().iter().map(|f| f.field.as_str()).collect()
}

/// The month's business, as events and as the owning modules hold it.
struct Month {
    ids: Ids,
    o1: OrderSnapshot,
    o4: OrderSnapshot,
    /// Catalog, identity and inventory events: the reference data and the stock.
    references: Vec<EventEnvelope>,
    /// Orders, till sales, refunds and returns.
    business: Vec<EventEnvelope>,
    /// Carts.
    carts: Vec<EventEnvelope>,
    orders: Vec<Order>,
    sales: Vec<Sale>,
    returns: Vec<StoreReturn>,
    products: Vec<Product>,
    tree: Vec<CategoryNode>,
}

fn changed(p: &Product) -> ProductChanged {
    ProductChanged {
        product_id: p.id,
        seller_id: p.seller_id,
        name: p.name.clone(),
        slug: p.slug.clone(),
        status: p.status,
        skus: p.variants.iter().map(|v| v.sku.clone()).collect(),
    }
}

fn stock_changed(sku: &str, location: &str, on_hand: i64, when: DateTime<Utc>) -> EventEnvelope {
    let data = StockChanged { sku: sku.into(), location: location.into(), on_hand, reserved: 0, available: on_hand };
    event("inventory", STOCK_CHANGED, data, when)
}

fn location_created(code: &str, kind: LocationKind) -> EventEnvelope {
    let data = Location { id: Uuid::now_v7(), code: code.into(), name: code.into(), kind, created_at: at(1, 7) };
    event("inventory", LOCATION_CREATED, data, at(1, 7))
}

fn cart_created(cart_id: Uuid, when: DateTime<Utc>) -> EventEnvelope {
    let data = CartChanged { cart_id, customer_id: None, channel: "online".into(), item_count: 0, subtotal: eur(0) };
    event("cart", CART_CREATED, data, when)
}

fn month() -> Month {
    let ids = Ids {
        ada: Uuid::now_v7(),
        leaf: Uuid::now_v7(),
        kitchen: Uuid::now_v7(),
        mugs: Uuid::now_v7(),
        home: Uuid::now_v7(),
        mug: Uuid::now_v7(),
        tea: Uuid::now_v7(),
        lamp: Uuid::now_v7(),
    };
    let products = vec![
        product(
            ids.mug,
            ids.ada,
            "Mug",
            vec![ids.mugs, ids.home],
            vec![
                variant("MUG-BLUE", vec![price("online", 1200), price("store", 900)]),
                variant("MUG-RED", vec![price("online", 1200), price("store", 900)]),
            ],
        ),
        product(
            ids.tea,
            ids.leaf,
            "Tea",
            vec![],
            vec![variant("TEA", vec![price("online", 600), price("store", 600)])],
        ),
        product(ids.lamp, ids.ada, "Lamp", vec![ids.home], vec![variant("LAMP", vec![price("online", 3000)])]),
    ];
    let categories = [
        category(ids.kitchen, None, "Kitchen"),
        category(ids.mugs, Some(ids.kitchen), "Mugs"),
        category(ids.home, None, "Home"),
    ];
    let node = |c: &Category, children| CategoryNode { category: c.clone(), children };
    let tree = vec![node(&categories[0], vec![node(&categories[1], vec![])]), node(&categories[2], vec![])];
    let mut references = vec![
        event(
            "identity",
            SELLER_CREATED,
            SellerCreated { seller_id: ids.ada, name: "Ada's Pottery".into(), email: None },
            at(1, 6),
        ),
        event(
            "identity",
            SELLER_CREATED,
            SellerCreated { seller_id: ids.leaf, name: "Leaf & Co".into(), email: None },
            at(1, 6),
        ),
    ];
    references.extend(categories.iter().map(|c| event("catalog", CATEGORY_CREATED, c, at(1, 7))));
    references.extend(products.iter().map(|p| event("catalog", PRODUCT_CREATED, changed(p), at(1, 8))));
    references.extend([
        location_created("paris-wh", LocationKind::Warehouse),
        location_created("lyon-store", LocationKind::Store),
        location_created("empty-wh", LocationKind::Warehouse),
        stock_changed("MUG-BLUE", "paris-wh", 10, at(1, 9)),
        stock_changed("MUG-RED", "paris-wh", 4, at(1, 9)),
        stock_changed("TEA", "paris-wh", 20, at(1, 9)),
        stock_changed("LAMP", "paris-wh", 2, at(1, 9)),
        stock_changed("MUG-BLUE", "lyon-store", 3, at(1, 9)),
        stock_changed("TEA", "lyon-store", 5, at(1, 9)),
        stock_changed("UNKNOWN-SKU", "lyon-store", 7, at(1, 9)),
    ]);

    let o1 = online_order(
        "CO-000001",
        vec![order_line(ids.mug, "Mug", "MUG-BLUE", 2, 1200), order_line(ids.tea, "Tea", "TEA", 1, 600)],
        600,
        at(2, 10),
    );
    let o2 = online_order(
        "CO-000002",
        vec![order_line(ids.mug, "Mug", "MUG-RED", 1, 1200), order_line(ids.mug, "Mug", "MUG-BLUE", 1, 1200)],
        600,
        at(2, 11),
    );
    let o3 = online_order("CO-000003", vec![order_line(ids.lamp, "Lamp", "LAMP", 1, 3000)], 0, at(3, 9));
    let o4 = online_order("CO-000004", vec![order_line(ids.tea, "Tea", "TEA", 1, 600)], 600, at(3, 10));
    let o5 = online_order("CO-000005", vec![order_line(ids.tea, "Tea", "TEA", 3, 600)], 600, at(3, 12));
    let s1 = till_sale(
        "LYON-STORE-000001",
        vec![sale_line(ids.mug, "Mug", "MUG-BLUE", 1, 900), sale_line(ids.tea, "Tea", "TEA", 2, 600)],
        at(2, 15),
    );
    let s2 = till_sale("LYON-STORE-000002", vec![sale_line(ids.tea, "Tea", "TEA", 1, 600)], at(3, 16));
    let r1 = till_return(&s1, &s1.lines[1], 1, at(3, 17));

    let (c1, c2, c3) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let mut business = Vec::new();
    for (order, cart) in [(&o1, Some(c1)), (&o2, Some(c2)), (&o3, Some(c3)), (&o4, None)] {
        business.push(placed(order, cart, ORDER_PLACED));
        business.push(placed(order, cart, CHECKOUT_COMPLETED));
    }
    business.extend([
        placed(&o5, None, ORDER_PLACED),
        event("pos", SALE_COMPLETED, SaleCompleted { sale: s1.clone() }, s1.created_at),
        event("pos", SALE_COMPLETED, SaleCompleted { sale: s2.clone() }, s2.created_at),
        refunded(&o1, 1200, at(3, 14)),
        // Cancelling a confirmed, paid order: the cancellation, then the refund of what was paid.
        cancelled(&o4, false, at(3, 18)),
        refunded(&o4, 1200, at(3, 18)),
        event("pos", RETURN_COMPLETED, ReturnCompleted { store_return: r1.clone() }, r1.created_at),
    ]);

    // A guest's cart merged at login into the customer's cart (created by the merge), which is
    // ordered (O1); an abandoned guest cart; O2's cart. On the 3rd, O3's cart and an abandoned one.
    let (guest, abandoned, abandoned_later) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let carts = vec![
        cart_created(guest, at(2, 8)),
        cart_created(c1, at(2, 9)),
        event(
            "cart",
            CART_MERGED,
            CartMerged { from_cart_id: guest, into_cart_id: c1, customer_id: Uuid::now_v7() },
            at(2, 9),
        ),
        cart_created(abandoned, at(2, 9)),
        cart_created(c2, at(2, 10)),
        cart_created(c3, at(3, 8)),
        cart_created(abandoned_later, at(3, 8)),
    ];

    let orders = vec![
        listed(
            &o1,
            OrderStatus::PartiallyRefunded,
            1200,
            vec![step(
                Some(OrderStatus::Confirmed),
                OrderStatus::PartiallyRefunded,
                "refunded 12.00 EUR: broken",
                at(3, 14),
            )],
        ),
        listed(&o2, OrderStatus::Delivered, 0, vec![]),
        listed(&o3, OrderStatus::Shipped, 0, vec![]),
        // Its refund is no step of its own: it lands on the cancellation's day.
        listed(
            &o4,
            OrderStatus::Cancelled,
            1200,
            vec![step(Some(OrderStatus::Confirmed), OrderStatus::Cancelled, "changed my mind", at(3, 18))],
        ),
        listed(&o5, OrderStatus::Pending, 0, vec![]),
    ];
    let mut returned_s1 = s1.clone();
    returned_s1.status = SaleStatus::PartlyReturned;
    returned_s1.refunded = r1.amount;
    returned_s1.lines[1].returned = 1;
    Month {
        ids,
        o1,
        o4,
        references,
        business,
        carts,
        orders,
        sales: vec![returned_s1, s2],
        returns: vec![r1],
        products,
        tree,
    }
}

impl Shop {
    /// The catalog holds the month's products; its events and the rest are delivered.
    async fn with_month(m: &Month) -> Shop {
        let shop = Shop::open().await;
        for p in &m.products {
            shop.catalog.put(p.clone());
        }
        *shop.catalog.tree.lock().unwrap() = m.tree.clone();
        shop.deliver_all(&m.references).await;
        shop.deliver_all(&m.business).await;
        shop.deliver_all(&m.carts).await;
        shop
    }

    /// The owning modules hold the month's orders, sales and products, as a rebuild reads them.
    fn hold(&self, m: &Month) {
        *self.ordering.orders.lock().unwrap() = m.orders.clone();
        *self.till.sales.lock().unwrap() = m.sales.clone();
        *self.till.returns.lock().unwrap() = m.returns.clone();
        for p in &m.products {
            self.catalog.put(p.clone());
        }
        *self.catalog.tree.lock().unwrap() = m.tree.clone();
    }
}

// ---- Sales ----------------------------------------------------------------------------------

#[tokio::test]
async fn online_orders_and_store_sales_are_counted_side_by_side_by_channel_and_day() {
    let m = month();
    let shop = Shop::with_month(&m).await;

    let by_channel = shop.sales(period(1, 31), SalesGrouping::Channel).await;
    assert_eq!(by_channel.grouping, SalesGrouping::Channel);
    // O4 was cancelled after its confirmation and O5 never confirmed: three online orders.
    assert_eq!(
        figures(&by_channel.rows),
        [f("online", "online", 3, 6, 7000, 1400, 8400, 1200), f("store", "store", 2, 4, 2250, 450, 2700, 0)]
    );
    let total = f("total", "Total", 5, 10, 9250, 1850, 11100, 1200);
    assert_eq!(figures(&by_channel.totals), std::slice::from_ref(&total));

    let by_day = shop.sales(period(1, 31), SalesGrouping::Day).await;
    assert_eq!(
        figures(&by_day.rows),
        [
            f("2026-03-02", "2026-03-02", 3, 8, 6250, 1250, 7500, 1200),
            f("2026-03-03", "2026-03-03", 2, 2, 3000, 600, 3600, 0)
        ]
    );
    assert_eq!(figures(&by_day.totals), [total]);

    // One channel, one day.
    let store = shop.sales(in_channel("store"), SalesGrouping::Day).await;
    assert_eq!(
        figures(&store.rows),
        [
            f("2026-03-02", "2026-03-02", 1, 3, 1750, 350, 2100, 0),
            f("2026-03-03", "2026-03-03", 1, 1, 500, 100, 600, 0)
        ]
    );
    assert_eq!(figures(&store.totals), [f("total", "Total", 2, 4, 2250, 450, 2700, 0)]);
    let second = shop.sales(period(2, 2), SalesGrouping::Channel).await;
    assert_eq!(
        figures(&second.rows),
        [f("online", "online", 2, 5, 4500, 900, 5400, 1200), f("store", "store", 1, 3, 1750, 350, 2100, 0)]
    );
    assert!(shop.sales(period(4, 30), SalesGrouping::Day).await.rows.is_empty(), "no sales after the 3rd");
    assert!(shop.sales(in_channel("marketplace"), SalesGrouping::Day).await.totals.is_empty());
}

#[tokio::test]
async fn products_categories_and_sellers_rank_best_first_and_add_up_to_the_total() {
    let m = month();
    let shop = Shop::with_month(&m).await;
    let (mug, tea, lamp) = (m.ids.mug.to_string(), m.ids.tea.to_string(), m.ids.lamp.to_string());

    let by_product = shop.sales(period(1, 31), SalesGrouping::Product).await;
    // O2's two mugs (two SKUs) are one order of the mug; no shipping in product rows.
    assert_eq!(
        figures(&by_product.rows),
        [
            f(&mug, "Mug", 3, 5, 4750, 950, 5700, 0),
            f(&lamp, "Lamp", 1, 1, 2500, 500, 3000, 0),
            f(&tea, "Tea", 3, 4, 2000, 400, 2400, 0),
        ]
    );
    // Totals count each order once, shipping included.
    assert_eq!(figures(&by_product.totals), [f("total", "Total", 5, 10, 9250, 1850, 11100, 1200)]);

    // The mug's first category is Mugs; the tea has none.
    let by_category = shop.sales(period(1, 31), SalesGrouping::Category).await;
    assert_eq!(
        figures(&by_category.rows),
        [
            f(&m.ids.mugs.to_string(), "Kitchen › Mugs", 3, 5, 4750, 950, 5700, 0),
            f(&m.ids.home.to_string(), "Home", 1, 1, 2500, 500, 3000, 0),
            f("none", "Uncategorised", 3, 4, 2000, 400, 2400, 0),
        ]
    );

    let by_seller = shop.sales(period(1, 31), SalesGrouping::Seller).await;
    assert_eq!(
        figures(&by_seller.rows),
        [
            f(&m.ids.ada.to_string(), "Ada's Pottery", 4, 6, 7250, 1450, 8700, 0),
            f(&m.ids.leaf.to_string(), "Leaf & Co", 3, 4, 2000, 400, 2400, 0),
        ]
    );

    // The store's tills only.
    let store = shop.sales(in_channel("store"), SalesGrouping::Product).await;
    assert_eq!(
        figures(&store.rows),
        [f(&tea, "Tea", 2, 3, 1500, 300, 1800, 0), f(&mug, "Mug", 1, 1, 750, 150, 900, 0)]
    );

    // A deleted product keeps its history and its name.
    shop.catalog.remove(m.ids.lamp);
    let lamp_product = &m.products[2];
    shop.deliver(&event("catalog", PRODUCT_DELETED, changed(lamp_product), at(4, 9))).await;
    assert_eq!(shop.sales(period(1, 31), SalesGrouping::Product).await, by_product);
    assert_eq!(shop.sales(period(1, 31), SalesGrouping::Category).await, by_category);
}

#[tokio::test]
async fn an_order_cancelled_after_its_confirmation_leaves_the_sales_whatever_came_first() {
    let shop = Shop::open().await;
    let tea = Uuid::now_v7();
    let order = |n: &str, hour| online_order(n, vec![order_line(tea, "Tea", "TEA", 1, 600)], 600, at(2, hour));
    let (kept, cancelled_later, cancelled_first, never_confirmed) =
        (order("CO-1", 9), order("CO-2", 10), order("CO-3", 11), order("CO-4", 12));
    for o in [&kept, &cancelled_later] {
        shop.deliver(&placed(o, None, ORDER_PLACED)).await;
        shop.deliver(&placed(o, None, CHECKOUT_COMPLETED)).await;
    }
    let online = |orders, gross| {
        vec![f(
            "online",
            "online",
            orders,
            orders as i64,
            500 * orders as i64,
            100 * orders as i64,
            gross,
            600 * orders as i64,
        )]
    };
    assert_eq!(figures(&shop.sales(period(2, 2), SalesGrouping::Channel).await.rows), online(2, 1200));

    shop.deliver(&cancelled(&cancelled_later, false, at(2, 13))).await;
    assert_eq!(figures(&shop.sales(period(2, 2), SalesGrouping::Channel).await.rows), online(1, 600));

    // The cancellation delivered before the confirmation: the late confirmation counts nothing.
    shop.deliver(&cancelled(&cancelled_first, false, at(2, 13))).await;
    shop.deliver(&placed(&cancelled_first, None, CHECKOUT_COMPLETED)).await;
    shop.deliver(&placed(&cancelled_first, None, ORDER_PLACED)).await;
    // Placed, then cancelled before its confirmation (payment declined): never a sale.
    shop.deliver(&placed(&never_confirmed, None, ORDER_PLACED)).await;
    shop.deliver(&cancelled(&never_confirmed, true, at(2, 13))).await;
    // A confirmation redelivered under another event id changes nothing either.
    let again = placed(&cancelled_later, None, CHECKOUT_COMPLETED);
    shop.deliver(&again).await;
    assert_eq!(figures(&shop.sales(period(2, 2), SalesGrouping::Channel).await.rows), online(1, 600));
    assert_eq!(figures(&shop.sales(period(2, 2), SalesGrouping::Product).await.rows).len(), 1);
    assert!(shop.refunds(period(1, 31)).await.is_empty(), "a cancellation carries no money");
}

// ---- Refunds --------------------------------------------------------------------------------

#[tokio::test]
async fn refunds_from_orders_and_tills_land_on_their_day_in_their_channel() {
    let m = month();
    let shop = Shop::with_month(&m).await;
    // O1's partial refund and O4's cancellation refund online, S1's return at the till; the
    // refunded order stays a sale, as in ordering's daily sales.
    assert_eq!(
        refund_rows(&shop.refunds(period(1, 31)).await),
        [("2026-03-03", "online", 2, 2400), ("2026-03-03", "store", 1, 600)]
    );
    assert_eq!(refund_rows(&shop.refunds(in_channel("store")).await), [("2026-03-03", "store", 1, 600)]);
    assert!(shop.refunds(period(1, 2)).await.is_empty());
    assert_eq!(shop.sales(period(1, 31), SalesGrouping::Channel).await.totals[0].orders, 5);

    // Refunds never exceed what an order cost: O4 (12.00 in all) was refunded in full.
    shop.deliver(&refunded(&m.o4, 600, at(4, 9))).await;
    // A refund of units alone (no money) is no refund.
    shop.deliver(&refunded(&m.o1, 0, at(4, 9))).await;
    assert!(shop.refunds(period(4, 4)).await.is_empty());

    // A refund heard of before its order waits under `unknown`, then takes the order's channel.
    let late = online_order("CO-9", vec![order_line(m.ids.tea, "Tea", "TEA", 1, 600)], 0, at(5, 9));
    shop.deliver(&refunded(&late, 300, at(5, 12))).await;
    assert_eq!(refund_rows(&shop.refunds(period(5, 5)).await), [("2026-03-05", "unknown", 1, 300)]);
    shop.deliver(&placed(&late, None, CHECKOUT_COMPLETED)).await;
    assert_eq!(refund_rows(&shop.refunds(period(5, 5)).await), [("2026-03-05", "online", 1, 300)]);
}

#[tokio::test]
async fn redelivered_events_change_nothing() {
    let m = month();
    let shop = Shop::with_month(&m).await;
    let before = shop.everything().await;
    // Every event again, as a broker that lost its acknowledgements would.
    shop.deliver_all(&m.references).await;
    shop.deliver_all(&m.business).await;
    shop.deliver_all(&m.carts).await;
    assert_eq!(shop.everything().await, before);
    // The same sales and returns under other event ids: still counted once.
    for e in m.business.iter().filter(|e| e.event_type != ORDER_REFUNDED) {
        shop.deliver(&EventEnvelope { id: Uuid::now_v7(), ..e.clone() }).await;
    }
    assert_eq!(shop.everything().await, before);
    assert_eq!(refund_rows(&shop.refunds(in_channel("store")).await), [("2026-03-03", "store", 1, 600)]);
}

// ---- Stock ----------------------------------------------------------------------------------

#[tokio::test]
async fn stock_is_valued_per_location_at_the_channels_prices_with_unpriced_skus_apart() {
    let m = month();
    let shop = Shop::with_month(&m).await;
    // Online prices: mugs 12.00, tea 6.00, lamp 30.00; nothing knows UNKNOWN-SKU.
    assert_eq!(
        stock_rows(&shop.stock(None, None).await),
        [("empty-wh", 0, 0, 0, 0), ("lyon-store", 2, 8, 6600, 1), ("paris-wh", 4, 36, 34800, 0)]
    );
    // At the store's prices (mugs 9.00, tea 6.00), the lamp has none.
    assert_eq!(stock_rows(&shop.stock(Some("paris-wh"), Some("store")).await), [("paris-wh", 3, 34, 24600, 1)]);

    // The mug's online price goes up to 15.00.
    let mut dearer = shop.catalog.product(m.ids.mug);
    for v in &mut dearer.variants {
        v.prices = vec![price("online", 1500), price("store", 900)];
    }
    dearer.updated_at = at(4, 9);
    shop.catalog.put(dearer.clone());
    shop.deliver(&event("catalog", PRODUCT_UPDATED, changed(&dearer), at(4, 9))).await;
    assert_eq!(stock_rows(&shop.stock(Some("paris-wh"), None).await), [("paris-wh", 4, 36, 39000, 0)]);

    // An update delivered late, about the old price, reads catalog again: still 15.00.
    shop.deliver(&event("catalog", PRODUCT_UPDATED, changed(&m.products[0]), at(3, 9))).await;
    assert_eq!(stock_rows(&shop.stock(Some("paris-wh"), None).await), [("paris-wh", 4, 36, 39000, 0)]);

    // A deleted product's SKUs have no price any more.
    shop.catalog.remove(m.ids.lamp);
    shop.deliver(&event("catalog", PRODUCT_DELETED, changed(&m.products[2]), at(4, 10))).await;
    assert_eq!(stock_rows(&shop.stock(Some("paris-wh"), None).await), [("paris-wh", 3, 34, 33000, 1)]);
}

#[tokio::test]
async fn older_stock_news_delivered_late_changes_nothing() {
    let m = month();
    let shop = Shop::with_month(&m).await;
    shop.deliver(&stock_changed("TEA", "paris-wh", 18, at(5, 12))).await;
    shop.deliver(&stock_changed("TEA", "paris-wh", 25, at(5, 11))).await;
    shop.deliver(&stock_changed("MUG-BLUE", "paris-wh", 0, at(5, 12))).await;
    shop.deliver(&stock_changed("MUG-BLUE", "paris-wh", 9, at(5, 10))).await;
    // Tea 18 × 6.00, red mugs 4 × 12.00, the lamp 2 × 30.00; no blue mug left.
    assert_eq!(stock_rows(&shop.stock(Some("paris-wh"), None).await), [("paris-wh", 3, 24, 21600, 0)]);
    // A location first named by a stock change is known.
    shop.deliver(&stock_changed("TEA", "nice-store", 1, at(5, 12))).await;
    assert_eq!(stock_rows(&shop.stock(Some("nice-store"), None).await), [("nice-store", 1, 1, 600, 0)]);
}

#[tokio::test]
async fn an_unknown_location_is_404_and_blank_filters_are_refused_naming_the_field() {
    let m = month();
    let shop = Shop::with_month(&m).await;
    let query = |location: Option<&str>, channel: Option<&str>| StockValueQuery {
        location: location.map(Into::into),
        channel: channel.map(Into::into),
    };
    let e = shop.module.stock_value(&ctx(), query(Some("atlantis"), None)).await.unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
    assert_eq!(e.status(), 404);
    for (location, channel, field) in [(Some(" "), None, "location"), (None, Some(""), "channel")] {
        let e = shop.module.stock_value(&ctx(), query(location, channel)).await.unwrap_err();
        assert_eq!((e.status(), fields(&e)), (422, vec![field]));
    }
    // A channel nothing is priced in, that catalog does not know either.
    let e = shop.module.stock_value(&ctx(), query(None, Some("marketplace"))).await.unwrap_err();
    assert_eq!(e.status(), 404, "{e:?}");
}

// ---- Conversion -----------------------------------------------------------------------------

#[tokio::test]
async fn carts_convert_into_orders_and_a_merged_guest_cart_counts_once() {
    let m = month();
    let shop = Shop::with_month(&m).await;
    // The 2nd: the customer's cart (the guest's merged into it) and O2's are ordered, one abandoned.
    assert_eq!(
        conversion_rows(&shop.conversion(period(1, 31)).await),
        [("2026-03-02", "online", 3, 2, 0.6667), ("2026-03-03", "online", 2, 1, 0.5)]
    );
    assert!(shop.conversion(in_channel("store")).await.is_empty());

    // Out of order: the merge and the checkout before the carts' own events.
    let (guest, customer) = (Uuid::now_v7(), Uuid::now_v7());
    let order = online_order("CO-7", vec![order_line(m.ids.tea, "Tea", "TEA", 1, 600)], 0, at(6, 11));
    shop.deliver(&placed(&order, Some(customer), CHECKOUT_COMPLETED)).await;
    shop.deliver(&event(
        "cart",
        CART_MERGED,
        CartMerged { from_cart_id: guest, into_cart_id: customer, customer_id: Uuid::now_v7() },
        at(6, 10),
    ))
    .await;
    assert!(shop.conversion(period(6, 6)).await.is_empty(), "no cart started yet");
    shop.deliver(&cart_created(customer, at(6, 10))).await;
    shop.deliver(&cart_created(guest, at(6, 9))).await;
    assert_eq!(conversion_rows(&shop.conversion(period(6, 6)).await), [("2026-03-06", "online", 1, 1, 1.0)]);
}

// ---- Validation -----------------------------------------------------------------------------

#[tokio::test]
async fn bad_periods_are_refused_naming_to() {
    let shop = Shop::open().await;
    let backwards = ReportQuery { from: date(3), to: date(2), channel: None };
    let too_long = ReportQuery { from: date(1), to: NaiveDate::from_ymd_opt(2027, 3, 2).unwrap(), channel: None };
    for query in [backwards, too_long] {
        let e = shop.module.sales(&ctx(), query.clone(), SalesGrouping::Day).await.unwrap_err();
        assert!(matches!(e, Error::Validation { .. }), "{e:?}");
        assert_eq!((e.status(), fields(&e)), (422, vec!["to"]));
        let e = shop.module.refunds(&ctx(), query.clone()).await.unwrap_err();
        assert_eq!((e.status(), fields(&e)), (422, vec!["to"]));
        let e = shop.module.conversion(&ctx(), query).await.unwrap_err();
        assert_eq!((e.status(), fields(&e)), (422, vec!["to"]));
    }
    let blank = ReportQuery { channel: Some("  ".into()), ..period(1, 2) };
    let e = shop.module.sales(&ctx(), blank, SalesGrouping::Channel).await.unwrap_err();
    assert_eq!((e.status(), fields(&e)), (422, vec!["channel"]));
    // A year and a day is the longest period.
    let longest = ReportQuery { from: date(1), to: NaiveDate::from_ymd_opt(2027, 3, 1).unwrap(), channel: None };
    assert!(shop.module.sales(&ctx(), longest, SalesGrouping::Day).await.unwrap().rows.is_empty());
}

// ---- Rebuild --------------------------------------------------------------------------------

#[tokio::test]
async fn a_rebuild_from_the_owning_modules_gives_what_the_events_gave() {
    let m = month();
    let by_events = Shop::with_month(&m).await;

    // A shop that only heard of the reference data, carts and stock, then rebuilt.
    let by_rebuild = Shop::open().await;
    by_rebuild.hold(&m);
    by_rebuild.deliver_all(&m.references).await;
    by_rebuild.deliver_all(&m.carts).await;
    let report = by_rebuild.module.rebuild(&ctx()).await.unwrap();
    assert_eq!((report.orders, report.store_sales, report.products), (3, 2, 3));
    // Conversion needs the orders' carts, which only events name.
    by_rebuild
        .deliver_all(&m.business.iter().filter(|e| e.event_type == CHECKOUT_COMPLETED).cloned().collect::<Vec<_>>())
        .await;
    assert_eq!(by_rebuild.everything().await, by_events.everything().await);

    // A rebuild replaces what the events counted, it does not add to it; and an event of a sale it
    // counted changes nothing when it comes again.
    by_events.hold(&m);
    let before = by_events.everything().await;
    let again = by_events.module.rebuild(&ctx()).await.unwrap();
    assert_eq!((again.orders, again.store_sales, again.products), (3, 2, 3));
    assert_eq!(by_events.everything().await, before);
    for e in m.business.iter().filter(|e| e.event_type != ORDER_REFUNDED) {
        by_events.deliver(&EventEnvelope { id: Uuid::now_v7(), ..e.clone() }).await;
    }
    // A refund still on its way while the rebuild read ordering (keyed by its event, not by what
    // the rebuild read): O4 was refunded in full already, so it adds nothing.
    by_events.deliver(&refunded(&m.o4, 1200, at(3, 18))).await;
    assert_eq!(by_events.everything().await, before);

    // The owning modules now hold less: the rebuild forgets the rest, but not the deleted
    // product's name.
    *by_events.ordering.orders.lock().unwrap() = vec![m.orders[1].clone()];
    *by_events.till.sales.lock().unwrap() = vec![];
    by_events.catalog.remove(m.ids.mug);
    let report = by_events.module.rebuild(&ctx()).await.unwrap();
    assert_eq!((report.orders, report.store_sales, report.products), (1, 0, 2));
    let by_product = by_events.sales(period(1, 31), SalesGrouping::Product).await;
    assert_eq!(figures(&by_product.rows), [f(&m.ids.mug.to_string(), "Mug", 1, 2, 2000, 400, 2400, 0)]);
    assert!(by_events.refunds(period(1, 31)).await.is_empty());
    // Stock and carts are kept; the mug is no longer priced.
    assert_eq!(stock_rows(&by_events.stock(Some("paris-wh"), None).await), [("paris-wh", 2, 22, 18000, 2)]);
    assert_eq!(by_events.conversion(period(1, 31)).await.len(), 2);
}
