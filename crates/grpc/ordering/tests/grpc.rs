//! The ordering module served over gRPC and driven through [`OrderingClient`], on a real database
//! (SQLite, or PostgreSQL with `COMPTOIR_TEST_BACKEND=postgres`). The six modules it calls (cart,
//! catalog, inventory, payment, billing, shipping) run in process, each on its own database. Every
//! answer is checked against the same call made on the module directly: values come back equal,
//! refusals with the same status, code and fields.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::TimeDelta;
use comptoir_billing::{BillingConfig, BillingModule};
use comptoir_cart::CartModule;
use comptoir_catalog::CatalogModule;
use comptoir_contracts::address::PostalAddress;
use comptoir_contracts::billing::{BillingPort, NewTaxRule, Party};
use comptoir_contracts::cart::{AddLine, CartAccess, CartPort, NewCart};
use comptoir_contracts::catalog::{CatalogPort, NewProduct, NewVariant, PriceInput};
use comptoir_contracts::identity::SellerDirectory;
use comptoir_contracts::inventory::{AdjustStock, InventoryPort, LocationKind, NewLocation, ReceiveStock};
use comptoir_contracts::ordering::*;
use comptoir_contracts::payment::{PaymentMethodInput, PaymentPort, PaymentStatus, test_cards};
use comptoir_contracts::shipping::{NewShippingMethod, NewZone, Rate, ShipmentStatus, ShippingPort, TrackingUpdate};
use comptoir_eventbus::Consumer;
use comptoir_grpc::server::ServiceSet;
use comptoir_grpc::{Remote, RemoteSettings};
use comptoir_inventory::InventoryModule;
use comptoir_kernel::{Actor, Currency, Error, Money, Page, PageRequest, RequestContext, Result};
use comptoir_ordering::{OrderingConfig, OrderingModule, OrderingPorts};
use comptoir_ordering_grpc::pb::ordering_service_client::OrderingServiceClient;
use comptoir_ordering_grpc::{OrderingClient, pb, service};
use comptoir_payment::{PaymentConfig, PaymentModule};
use comptoir_shipping::{ShippingConfig, ShippingModule};
use comptoir_storage::testing::{TestDb, open};
use comptoir_storage::{Db, outbox};
use rust_decimal::Decimal;
use uuid::Uuid;

const SKU: &str = "TEE-M";
const PRICE: i64 = 2400;
const STANDARD: i64 = 490;
const EXPRESS: i64 = 990;

fn eur(amount: i64) -> Money {
    Money::new(amount, Currency::EUR)
}

fn staff() -> RequestContext {
    RequestContext::new("corr-ordering-grpc", Actor::user("staff-1"))
}

fn customer_ctx(customer: Uuid) -> RequestContext {
    RequestContext::new("corr-customer", Actor::user(customer))
}

fn address(country: &str) -> PostalAddress {
    PostalAddress {
        name: "Ann Martin".into(),
        line1: "1 rue de Rivoli".into(),
        line2: None,
        city: "Paris".into(),
        postal_code: "75001".into(),
        region: None,
        country: country.into(),
        phone: Some("+33 1 23 45 67 89".into()),
    }
}

fn checkout(customer: Uuid, cart_id: Uuid, key: &str, token: &str) -> Checkout {
    Checkout {
        customer_id: customer,
        email: format!("{customer}@example.com"),
        idempotency_key: key.into(),
        request: CheckoutRequest {
            cart_id,
            shipping_address: address("FR"),
            billing_address: None,
            shipping_method: "standard".into(),
            payment: PaymentMethodInput { provider: "test".into(), token: Some(token.into()) },
        },
    }
}

/// Catalog checks sellers with identity, which ordering does not need: one known seller.
struct Sellers(Uuid);

#[async_trait]
impl SellerDirectory for Sellers {
    async fn seller_exists(&self, _ctx: &RequestContext, id: Uuid) -> Result<bool> {
        Ok(id == self.0)
    }
}

/// The six modules ordering calls, ordering itself, and a client of ordering served over gRPC.
struct Shop {
    /// The modules' databases, alive as long as the shop.
    _dbs: Vec<TestDb>,
    ordering: OrderingModule,
    ordering_db: Db,
    client: OrderingClient,
    /// The generated client, to send messages no port caller can build.
    raw: OrderingServiceClient<tonic::transport::Channel>,
    catalog: CatalogModule,
    catalog_db: Db,
    inventory: InventoryModule,
    cart: CartModule,
    payment: PaymentModule,
    shipping: ShippingModule,
    shipping_db: Db,
    seller: Uuid,
}

async fn shop() -> Shop {
    let seller = Uuid::now_v7();
    let catalog_db = open("catalog", &comptoir_catalog::MIGRATIONS).await;
    let catalog = CatalogModule::new(catalog_db.db.clone(), Arc::new(Sellers(seller)));
    let inventory_db = open("inventory", &comptoir_inventory::MIGRATIONS).await;
    let inventory = InventoryModule::new(inventory_db.db.clone());
    let cart_db = open("cart", &comptoir_cart::MIGRATIONS).await;
    let cart = CartModule::new(cart_db.db.clone(), Arc::new(catalog.clone()), Arc::new(inventory.clone()));
    let payment_db = open("payment", &comptoir_payment::MIGRATIONS).await;
    let payment = PaymentModule::new(payment_db.db.clone(), PaymentConfig { webhook_secret: String::new() });
    let billing_db = open("billing", &comptoir_billing::MIGRATIONS).await;
    let shop_party = Party { name: "Comptoir Paris".into(), email: None, address: Some(address("FR")) };
    let billing = BillingModule::new(billing_db.db.clone(), BillingConfig { seller: shop_party });
    let shipping_db = open("shipping", &comptoir_shipping::MIGRATIONS).await;
    let shipping_config = ShippingConfig { webhook_secret: String::new(), ship_from: address("FR") };
    let shipping = ShippingModule::new(shipping_db.db.clone(), shipping_config);
    let ordering_db = open("ordering", &comptoir_ordering::MIGRATIONS).await;
    let ports = OrderingPorts {
        cart: Arc::new(cart.clone()),
        catalog: Arc::new(catalog.clone()),
        inventory: Arc::new(inventory.clone()),
        payment: Arc::new(payment.clone()),
        billing: Arc::new(billing.clone()),
        shipping: Arc::new(shipping.clone()),
    };
    let ordering = OrderingModule::new(ordering_db.db.clone(), ports, OrderingConfig::default());

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let services = ServiceSet::new().add(service(Arc::new(ordering.clone())));
    tokio::spawn(services.serve(listener, std::future::pending()));
    let url = format!("http://{addr}");
    let client = OrderingClient::new(Remote::connect("ordering", &url, RemoteSettings::default()).unwrap());
    let raw = OrderingServiceClient::new(tonic::transport::Endpoint::from_shared(url).unwrap().connect_lazy());

    let shop = Shop {
        ordering,
        ordering_db: ordering_db.db.clone(),
        client,
        raw,
        catalog,
        catalog_db: catalog_db.db.clone(),
        inventory,
        cart,
        payment,
        shipping,
        shipping_db: shipping_db.db.clone(),
        seller,
        _dbs: vec![catalog_db, inventory_db, cart_db, payment_db, billing_db, shipping_db, ordering_db],
    };
    shop.set_up(billing).await;
    shop
}

/// Delivers every event `source` wrote to the consumers subscribed to it, as the bus would.
/// Consumers keep an inbox, so an event handed over twice is handled once.
async fn relay(source: &Db, consumers: &[Consumer]) {
    for event in outbox::pending(source, 10_000).await.unwrap() {
        for consumer in consumers.iter().filter(|c| c.matches(&event.event_type)) {
            consumer.handler.handle(&event).await.unwrap();
        }
    }
}

impl Shop {
    /// A warehouse, 20 % VAT in France, and two ways to ship there.
    async fn set_up(&self, billing: BillingModule) {
        let location =
            NewLocation { code: "main".into(), name: "Main warehouse".into(), kind: LocationKind::Warehouse };
        self.inventory.create_location(&staff(), location).await.unwrap();
        let vat = NewTaxRule { country: "FR".into(), region: None, rate: Decimal::new(2, 1), label: "TVA".into() };
        billing.create_tax_rule(&staff(), vat).await.unwrap();
        let zone = NewZone { name: "France".into(), countries: vec!["FR".into()] };
        let zone = self.shipping.create_zone(&staff(), zone).await.unwrap();
        for (code, amount, days) in [("standard", STANDARD, 3), ("express", EXPRESS, 1)] {
            let method = NewShippingMethod {
                code: code.into(),
                name: code.to_uppercase(),
                carrier: "Colissimo".into(),
                zone_id: zone.id,
                currency: Currency::EUR,
                rate: Rate::Flat { amount },
                free_above: None,
                delivery_days: Some(days),
            };
            self.shipping.create_method(&staff(), method).await.unwrap();
        }
    }

    /// A published product with one 200 g SKU at 24.00 EUR and `stock` units on hand.
    async fn product(&self, sku: &str, stock: i64) {
        let variant = NewVariant {
            sku: sku.into(),
            options: BTreeMap::new(),
            weight_grams: Some(200),
            prices: vec![PriceInput { channel: "online".into(), amount: PRICE, currency: Currency::EUR }],
        };
        let input = NewProduct {
            seller_id: self.seller,
            name: format!("Tee {sku}"),
            slug: None,
            description: String::new(),
            category_ids: vec![],
            attributes: BTreeMap::new(),
            variants: vec![variant],
        };
        let product = self.catalog.create_product(&staff(), input).await.unwrap();
        self.catalog.publish(&staff(), product.id).await.unwrap();
        // Inventory learns the SKU from the catalog's event.
        relay(&self.catalog_db, &self.inventory.consumers()).await;
        let receipt = ReceiveStock { sku: sku.into(), location: "main".into(), quantity: stock, reference: None };
        self.inventory.receive(&staff(), receipt).await.unwrap();
    }

    /// A new cart of `customer` holding `quantity` units of `SKU`.
    async fn cart_of(&self, customer: Uuid, quantity: i64) -> Uuid {
        let cart = self.cart.create_cart(&staff(), Some(customer), NewCart::default()).await.unwrap();
        let line = AddLine { sku: SKU.into(), quantity };
        self.cart.add_line(&staff(), cart.id, &CartAccess::Customer(customer), line).await.unwrap();
        cart.id
    }

    /// A confirmed order of `quantity` units for a new customer, checked out through the client.
    async fn confirmed(&self, quantity: i64) -> (Uuid, Order) {
        let customer = Uuid::now_v7();
        let cart = self.cart_of(customer, quantity).await;
        let attempt = checkout(customer, cart, "key-1", test_cards::APPROVED);
        let order = self.client.checkout(&customer_ctx(customer), attempt).await.unwrap();
        assert_eq!(order.status, OrderStatus::Confirmed);
        (customer, order)
    }

    /// Shipping creates the order's shipment from the checkout event, the carrier picks it up,
    /// and ordering hears of it.
    async fn ship(&self, order: &Order) {
        relay(&self.ordering_db, &self.shipping.consumers()).await;
        let shipment = self.shipping.shipment_for_order(&staff(), order.id).await.unwrap();
        let update = TrackingUpdate { status: ShipmentStatus::Shipped, note: None };
        self.shipping.track(&staff(), shipment.id, update).await.unwrap();
        relay(&self.shipping_db, &self.ordering.consumers()).await;
    }
}

/// What a refusal says to a caller: status, code, message and field errors (name, message).
type Refusal = (u16, &'static str, String, Vec<(String, String)>);

fn refusal<T: Debug>(result: Result<T>) -> Refusal {
    let e: Error = result.expect_err("should be refused");
    let fields = e.field_errors().iter().map(|f| (f.field.clone(), f.message.clone())).collect();
    (e.status(), e.code(), e.to_string(), fields)
}

/// The remote refusal is the one the module gives in process; returns it for further checks.
fn same_refusal<T: Debug>(remote: Result<T>, local: Result<T>) -> Refusal {
    let remote = refusal(remote);
    assert_eq!(remote, refusal(local), "the remote refusal differs from the in-process one");
    remote
}

fn field_names(refusal: &Refusal) -> Vec<&str> {
    refusal.3.iter().map(|(field, _)| field.as_str()).collect()
}

/// Pages carry no `PartialEq`: their position and items.
fn same_page(remote: Page<Order>, local: Page<Order>) -> Vec<Order> {
    assert_eq!((remote.page, remote.per_page, remote.total), (local.page, local.per_page, local.total));
    assert_eq!(remote.items, local.items);
    remote.items
}

// ---- Checkout and reads ------------------------------------------------------------------------

#[tokio::test]
async fn a_checkout_through_the_client_places_one_order_and_reads_back_unchanged() {
    let shop = shop().await;
    shop.product(SKU, 10).await;
    let customer = Uuid::now_v7();
    let cart = shop.cart_of(customer, 2).await;
    let ctx = customer_ctx(customer);
    let access = CartAccess::Customer(customer);

    // The estimate: every way to ship, the cheapest chosen unless one is asked for.
    let ask = || EstimateRequest { country: "fr".into(), region: None, shipping_method: None };
    let estimate = shop.client.estimate(&ctx, cart, &access, ask()).await.unwrap();
    assert_eq!(estimate, shop.ordering.estimate(&ctx, cart, &access, ask()).await.unwrap());
    assert_eq!((estimate.cart_id, estimate.currency, estimate.prices_include_tax), (cart, Currency::EUR, true));
    let options: Vec<_> = estimate.shipping_options.iter().map(|q| (q.method.as_str(), q.price.amount)).collect();
    assert_eq!(options, [("standard", STANDARD), ("express", EXPRESS)]);
    assert_eq!(estimate.shipping_options[0].delivery_days, Some(3));
    assert_eq!((estimate.shipping.method.as_str(), estimate.shipping.gross), ("standard", eur(STANDARD)));
    assert_eq!((estimate.lines[0].tax_rate, estimate.lines[0].weight_grams), (Decimal::new(2, 1), Some(200)));
    assert_eq!(estimate.totals.gross, eur(2 * PRICE + STANDARD));
    let express = EstimateRequest { shipping_method: Some("express".into()), region: Some(String::new()), ..ask() };
    let estimate = shop.client.estimate(&ctx, cart, &access, express).await.unwrap();
    assert_eq!((estimate.shipping.method.as_str(), estimate.totals.gross), ("express", eur(2 * PRICE + EXPRESS)));

    // The checkout runs the whole saga behind the client.
    let attempt = checkout(customer, cart, "key-1", test_cards::APPROVED);
    let order = shop.client.checkout(&ctx, attempt.clone()).await.unwrap();
    assert_eq!((order.status, order.number.as_str()), (OrderStatus::Confirmed, "CO-000001"));
    assert_eq!((order.customer_id, order.email.as_str()), (Some(customer), attempt.email.as_str()));
    let line = &order.lines[0];
    assert_eq!((line.sku.as_str(), line.quantity, line.unit_price, line.gross), (SKU, 2, eur(PRICE), eur(2 * PRICE)));
    assert_eq!(order.totals.gross, eur(2 * PRICE + STANDARD));
    assert_eq!(
        (order.shipping_address.phone.as_deref(), order.shipping_address.line2.as_deref()),
        (address("FR").phone.as_deref(), None)
    );
    assert_eq!(order.billing_address, order.shipping_address);
    assert_eq!(order.refunded, eur(0));
    assert_eq!(order.cancellation_reason, None);
    let steps: Vec<_> = order.timeline.iter().map(|t| (t.from, t.to)).collect();
    use OrderStatus::*;
    assert_eq!(
        steps,
        [(None, Pending), (Some(Pending), StockReserved), (Some(StockReserved), Paid), (Some(Paid), Confirmed)]
    );
    assert!(order.timeline.iter().all(|t| t.actor == format!("customer:{customer}")), "the caller's actor crossed");
    assert!(order.reservation_id.is_some());
    let payments = shop.payment.payments_for_order(&staff(), order.id).await.unwrap();
    assert_eq!(payments.len(), 1);
    assert_eq!(
        (Some(payments[0].id), payments[0].status, payments[0].captured),
        (order.payment_id, PaymentStatus::Captured, order.totals.gross)
    );

    // The same key again (a client retrying after a lost answer): the same order, no second charge.
    let again = shop.client.checkout(&ctx, attempt).await.unwrap();
    assert_eq!((again.id, again.number.as_str(), again.payment_id), (order.id, "CO-000001", order.payment_id));
    assert_eq!(shop.payment.payments_for_order(&staff(), order.id).await.unwrap().len(), 1);

    // Reads come back exactly as the module answers them.
    let stored = shop.ordering.get_order(&staff(), order.id, OrderAccess::Staff).await.unwrap();
    assert_eq!(again, stored);
    assert_eq!(shop.client.get_order(&staff(), order.id, OrderAccess::Staff).await.unwrap(), stored);
    let own = OrderAccess::Customer(customer);
    assert_eq!(shop.client.get_order(&ctx, order.id, own).await.unwrap(), stored);

    let first_page = PageRequest::default();
    let mine = same_page(
        shop.client.customer_orders(&ctx, customer, first_page).await.unwrap(),
        shop.ordering.customer_orders(&ctx, customer, first_page).await.unwrap(),
    );
    assert_eq!(mine, std::slice::from_ref(&stored));

    let filter = || OrderFilter {
        status: Some(Confirmed),
        customer_id: Some(customer),
        channel: Some("online".into()),
        placed_from: Some(stored.created_at - TimeDelta::minutes(1)),
        placed_to: Some(stored.created_at + TimeDelta::minutes(1)),
        q: Some("CO-0000".into()),
    };
    let found = same_page(
        shop.client.search_orders(&staff(), filter(), first_page).await.unwrap(),
        shop.ordering.search_orders(&staff(), filter(), first_page).await.unwrap(),
    );
    assert_eq!(found, std::slice::from_ref(&stored));
    let none = OrderFilter { status: Some(Cancelled), ..filter() };
    assert_eq!(shop.client.search_orders(&staff(), none, first_page).await.unwrap().total, 0);
    let one_per_page = PageRequest::new(1, 1).unwrap();
    let everything = shop.client.search_orders(&staff(), OrderFilter::default(), one_per_page).await.unwrap();
    assert_eq!((everything.page, everything.per_page, everything.total), (1, 1, 1));

    assert_eq!(shop.client.returns_for_order(&ctx, order.id, own).await.unwrap(), []);

    let day = |channel: Option<&str>| SalesQuery {
        from: stored.created_at - TimeDelta::hours(1),
        to: stored.created_at + TimeDelta::hours(1),
        channel: channel.map(str::to_string),
    };
    let sales = shop.client.daily_sales(&staff(), day(None)).await.unwrap();
    assert_eq!(sales, shop.ordering.daily_sales(&staff(), day(None)).await.unwrap());
    let orders: i64 = sales.iter().map(|d| d.orders).sum();
    let gross: i64 = sales.iter().map(|d| d.gross.amount).sum();
    assert_eq!((orders, gross), (1, stored.totals.gross.amount));
    assert!(shop.client.daily_sales(&staff(), day(Some("store"))).await.unwrap().is_empty());
}

// ---- Refusals ----------------------------------------------------------------------------------

#[tokio::test]
async fn refusals_cross_with_their_status_code_and_fields() {
    let shop = shop().await;
    shop.product(SKU, 5).await;
    let customer = Uuid::now_v7();
    let cart = shop.cart_of(customer, 2).await;
    let ctx = customer_ctx(customer);

    // Bad input: the module names every field, in both topologies, and nothing is placed.
    let mut bad = checkout(customer, cart, "key-bad", test_cards::APPROVED);
    bad.email = "not an email".into();
    bad.request.shipping_method = "  ".into();
    bad.request.payment.provider = String::new();
    bad.request.billing_address = Some(PostalAddress { line1: String::new(), ..address("Frankreich") });
    let invalid = same_refusal(shop.client.checkout(&ctx, bad.clone()).await, shop.ordering.checkout(&ctx, bad).await);
    assert_eq!(invalid.0, 422);
    let fields = field_names(&invalid);
    for field in ["email", "shipping_method", "payment.provider"] {
        assert!(fields.contains(&field), "{field} in {fields:?}");
    }
    assert!(fields.iter().any(|f| f.starts_with("billing_address.")), "{fields:?}");
    let no_key = || checkout(customer, cart, " ", test_cards::APPROVED);
    let refused =
        same_refusal(shop.client.checkout(&ctx, no_key()).await, shop.ordering.checkout(&ctx, no_key()).await);
    assert_eq!((refused.0, field_names(&refused)), (422, vec!["idempotency_key"]));

    let to_nowhere = || EstimateRequest { country: "France".into(), region: None, shipping_method: None };
    let access = CartAccess::Customer(customer);
    let refused = same_refusal(
        shop.client.estimate(&ctx, cart, &access, to_nowhere()).await,
        shop.ordering.estimate(&ctx, cart, &access, to_nowhere()).await,
    );
    assert_eq!((refused.0, field_names(&refused)), (422, vec!["country"]));
    let stranger = CartAccess::Token("not-the-token".into());
    let to_france = || EstimateRequest { country: "FR".into(), region: None, shipping_method: None };
    let refused = same_refusal(
        shop.client.estimate(&ctx, cart, &stranger, to_france()).await,
        shop.ordering.estimate(&ctx, cart, &stranger, to_france()).await,
    );
    assert!(matches!(refused.0, 403 | 404), "{refused:?}");

    // Not found, for a missing order and for another customer's.
    let unknown = Uuid::now_v7();
    let missing = same_refusal(
        shop.client.get_order(&staff(), unknown, OrderAccess::Staff).await,
        shop.ordering.get_order(&staff(), unknown, OrderAccess::Staff).await,
    );
    assert_eq!(missing.0, 404);
    assert_eq!(missing.2, format!("order {unknown} not found"));
    let (_, order) = shop.confirmed(1).await;
    let other = OrderAccess::Customer(customer);
    assert_eq!(
        same_refusal(
            shop.client.returns_for_order(&ctx, order.id, other).await,
            shop.ordering.returns_for_order(&ctx, order.id, other).await,
        )
        .0,
        404
    );

    // Search bounds.
    let now = comptoir_kernel::time::now();
    let backwards = || OrderFilter { placed_from: Some(now), placed_to: Some(now), ..OrderFilter::default() };
    let refused = same_refusal(
        shop.client.search_orders(&staff(), backwards(), PageRequest::default()).await,
        shop.ordering.search_orders(&staff(), backwards(), PageRequest::default()).await,
    );
    assert_eq!((refused.0, field_names(&refused)), (422, vec!["placed_to"]));
    let too_long = || OrderFilter { q: Some("x".repeat(101)), ..OrderFilter::default() };
    let refused = same_refusal(
        shop.client.search_orders(&staff(), too_long(), PageRequest::default()).await,
        shop.ordering.search_orders(&staff(), too_long(), PageRequest::default()).await,
    );
    assert_eq!(field_names(&refused), ["q"]);
    let empty_period = || SalesQuery { from: now, to: now, channel: None };
    let refused = same_refusal(
        shop.client.daily_sales(&staff(), empty_period()).await,
        shop.ordering.daily_sales(&staff(), empty_period()).await,
    );
    assert_eq!((refused.0, field_names(&refused)), (422, vec!["to"]));
    let page_zero = PageRequest { page: 0, per_page: 10 };
    let refused = same_refusal(
        shop.client.customer_orders(&ctx, customer, page_zero).await,
        shop.ordering.customer_orders(&ctx, customer, page_zero).await,
    );
    assert_eq!((refused.0, field_names(&refused)), (422, vec!["page"]));

    // A confirmed order is not returnable yet: a conflict with its code.
    let lines =
        || ReturnInput { lines: vec![ReturnLineInput { sku: SKU.into(), quantity: 1 }], reason: "too small".into() };
    let refused = same_refusal(
        shop.client.request_return(&staff(), order.id, OrderAccess::Staff, lines()).await,
        shop.ordering.request_return(&staff(), order.id, OrderAccess::Staff, lines()).await,
    );
    assert_eq!((refused.0, refused.1), (409, "order-not-returnable"));
}

#[tokio::test]
async fn a_refused_checkout_answers_its_retry_the_same_in_both_topologies() {
    let shop = shop().await;
    shop.product(SKU, 10).await;

    // A declined card: 402, the order cancelled, and the retry (in process) remembers it.
    let customer = Uuid::now_v7();
    let cart = shop.cart_of(customer, 1).await;
    let declined = checkout(customer, cart, "key-1", test_cards::DECLINED_INSUFFICIENT_FUNDS);
    let ctx = customer_ctx(customer);
    let refused =
        same_refusal(shop.client.checkout(&ctx, declined.clone()).await, shop.ordering.checkout(&ctx, declined).await);
    assert_eq!(
        (refused.0, refused.1, refused.2.as_str()),
        (402, "payment-declined", "payment declined: insufficient funds")
    );
    let orders = shop.client.customer_orders(&ctx, customer, PageRequest::default()).await.unwrap();
    assert_eq!((orders.total, orders.items[0].status), (1, OrderStatus::Cancelled));

    // Stock gone after the cart was filled: 409 naming the cart line.
    let customer = Uuid::now_v7();
    let cart = shop.cart_of(customer, 9).await;
    let damaged = AdjustStock { sku: SKU.into(), location: "main".into(), delta: -5, reason: "damaged".into() };
    shop.inventory.adjust(&staff(), damaged).await.unwrap();
    let short = checkout(customer, cart, "key-1", test_cards::APPROVED);
    let ctx = customer_ctx(customer);
    let refused =
        same_refusal(shop.client.checkout(&ctx, short.clone()).await, shop.ordering.checkout(&ctx, short).await);
    assert_eq!(
        (refused.0, refused.1, field_names(&refused)),
        (409, "insufficient-stock", vec!["cart.lines[0].quantity"])
    );
}

// ---- After the sale ----------------------------------------------------------------------------

#[tokio::test]
async fn cancellations_refunds_and_returns_go_through_the_client() {
    use OrderStatus::*;
    let shop = shop().await;
    shop.product(SKU, 20).await;

    // The customer cancels: the money goes back; a second cancellation is refused alike.
    let (customer, order) = shop.confirmed(1).await;
    let ctx = customer_ctx(customer);
    let own = OrderAccess::Customer(customer);
    let reason = CancelInput { reason: Some("changed my mind".into()) };
    let cancelled = shop.client.cancel(&ctx, order.id, own, reason).await.unwrap();
    assert_eq!((cancelled.status, cancelled.refunded), (Cancelled, order.totals.gross));
    assert_eq!(cancelled.cancellation_reason.as_deref(), Some("cancelled by the customer: changed my mind"));
    assert_eq!(cancelled, shop.ordering.get_order(&ctx, order.id, own).await.unwrap());
    let payment = shop.payment.get_payment(&staff(), order.payment_id.unwrap()).await.unwrap();
    assert_eq!(payment.refunded, order.totals.gross);
    let no_reason = || CancelInput { reason: Some(String::new()) };
    let refused = same_refusal(
        shop.client.cancel(&ctx, order.id, own, no_reason()).await,
        shop.ordering.cancel(&ctx, order.id, own, no_reason()).await,
    );
    assert_eq!((refused.0, refused.1), (409, "invalid-order-transition"));

    // Staff refund part of an order, then cannot refund more than is left.
    let (_, order) = shop.confirmed(3).await;
    let part = RefundInput {
        amount: Some(1000),
        restock: vec![ReturnLineInput { sku: SKU.into(), quantity: 1 }],
        reason: None,
    };
    let refunded = shop.client.refund(&staff(), order.id, part).await.unwrap();
    assert_eq!((refunded.status, refunded.refunded), (PartiallyRefunded, eur(1000)));
    assert_eq!(refunded.timeline.last().map(|t| t.to), Some(PartiallyRefunded));
    assert_eq!(refunded, shop.ordering.get_order(&staff(), order.id, OrderAccess::Staff).await.unwrap());
    let too_much =
        || RefundInput { amount: Some(order.totals.gross.amount), restock: vec![], reason: Some("  ".into()) };
    let refused = same_refusal(
        shop.client.refund(&staff(), order.id, too_much()).await,
        shop.ordering.refund(&staff(), order.id, too_much()).await,
    );
    assert_eq!((refused.0, field_names(&refused)), (422, vec!["amount"]));

    // A shipped order can no longer be cancelled, but it can be returned.
    let (customer, order) = shop.confirmed(2).await;
    let ctx = customer_ctx(customer);
    let own = OrderAccess::Customer(customer);
    shop.ship(&order).await;
    assert_eq!(shop.client.get_order(&ctx, order.id, own).await.unwrap().status, Shipped);
    let refused = same_refusal(
        shop.client.cancel(&ctx, order.id, own, CancelInput { reason: None }).await,
        shop.ordering.cancel(&ctx, order.id, own, CancelInput { reason: None }).await,
    );
    assert_eq!((refused.0, refused.1), (409, "invalid-order-transition"));

    let empty = || ReturnInput { lines: vec![], reason: String::new() };
    let refused = same_refusal(
        shop.client.request_return(&ctx, order.id, own, empty()).await,
        shop.ordering.request_return(&ctx, order.id, own, empty()).await,
    );
    assert_eq!((refused.0, field_names(&refused)), (422, vec!["lines", "reason"]));

    let input =
        ReturnInput { lines: vec![ReturnLineInput { sku: SKU.into(), quantity: 1 }], reason: "too small".into() };
    let requested = shop.client.request_return(&ctx, order.id, own, input).await.unwrap();
    assert_eq!(
        (requested.order_id, requested.status, requested.reason.as_str()),
        (order.id, ReturnStatus::Requested, "too small")
    );
    assert_eq!(requested.lines, [ReturnLine { sku: SKU.into(), quantity: 1 }]);
    let listed = shop.client.returns_for_order(&ctx, order.id, own).await.unwrap();
    assert_eq!(listed, shop.ordering.returns_for_order(&ctx, order.id, own).await.unwrap());
    assert_eq!(listed.iter().map(|r| r.id).collect::<Vec<_>>(), [requested.id]);

    let received = shop.client.receive_return(&staff(), requested.id).await.unwrap();
    assert_eq!((received.id, received.status), (requested.id, ReturnStatus::Received));
    assert_eq!(shop.client.returns_for_order(&staff(), order.id, OrderAccess::Staff).await.unwrap(), [received]);
    let refused = same_refusal(
        shop.client.receive_return(&staff(), requested.id).await,
        shop.ordering.receive_return(&staff(), requested.id).await,
    );
    assert_eq!((refused.0, refused.1), (409, "invalid-return-transition"));
    let unknown = Uuid::now_v7();
    let missing = same_refusal(
        shop.client.receive_return(&staff(), unknown).await,
        shop.ordering.receive_return(&staff(), unknown).await,
    );
    assert_eq!((missing.0, missing.2), (404, format!("return {unknown} not found")));
}

// ---- Malformed messages ------------------------------------------------------------------------

#[tokio::test]
async fn malformed_messages_are_bad_requests_naming_the_field() {
    let shop = shop().await;
    let mut raw = shop.raw.clone();
    let staff_access = || Some(comptoir_ordering_grpc::convert::to_order_access(OrderAccess::Staff));
    let bad_request = |status: tonic::Status| {
        let e = comptoir_grpc::from_status("ordering", &status);
        assert_eq!(e.status(), 400, "{e}");
        e.to_string()
    };

    let status = raw.get_order(pb::GetOrderRequest { id: "nope".into(), access: staff_access() }).await.unwrap_err();
    assert!(bad_request(status).contains("id"));
    let status = raw.get_order(pb::GetOrderRequest { id: Uuid::now_v7().to_string(), access: None }).await.unwrap_err();
    assert!(bad_request(status).contains("access"));
    let unknown_status = pb::OrderFilter { status: Some(42), ..pb::OrderFilter::default() };
    let search = pb::SearchOrdersRequest { filter: Some(unknown_status), page: None };
    assert!(bad_request(raw.search_orders(search).await.unwrap_err()).contains("filter.status"));
    let unspecified =
        pb::OrderFilter { status: Some(pb::OrderStatus::Unspecified.into()), ..pb::OrderFilter::default() };
    let search = pb::SearchOrdersRequest { filter: Some(unspecified), page: None };
    assert!(bad_request(raw.search_orders(search).await.unwrap_err()).contains("filter.status"));
    let no_payment = pb::CheckoutRequest {
        customer_id: Uuid::now_v7().to_string(),
        cart_id: Uuid::now_v7().to_string(),
        shipping_address: Some(comptoir_grpc::convert::to_address(&address("FR"))),
        ..pb::CheckoutRequest::default()
    };
    assert!(bad_request(raw.checkout(no_payment).await.unwrap_err()).contains("payment"));
}
