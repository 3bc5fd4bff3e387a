//! The ordering module against real databases (SQLite, or PostgreSQL with
//! `COMPTOIR_TEST_BACKEND=postgres`), with the real catalog, inventory and cart modules and small
//! stand-ins for payment (a test provider that can decline, fail or hold a charge), billing (20 %
//! tax included in prices) and shipping (one flat `standard` method).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use comptoir_cart::CartModule;
use comptoir_catalog::CatalogModule;
use comptoir_contracts::address::PostalAddress;
use comptoir_contracts::billing::*;
use comptoir_contracts::cart::{AddLine, CartAccess, CartPort, NewCart};
use comptoir_contracts::catalog::{CatalogPort, NewProduct, NewVariant, PriceInput};
use comptoir_contracts::identity::SellerDirectory;
use comptoir_contracts::inventory::events::{self as inventory_events, ReservationChanged};
use comptoir_contracts::inventory::{
    AdjustStock, InventoryPort, LocationKind, NewLocation, ReceiveStock, ReservationStatus,
};
use comptoir_contracts::ordering::events::{self, OrderCancelled, OrderPlaced, OrderRefunded, OrderShipment};
use comptoir_contracts::ordering::*;
use comptoir_contracts::payment::*;
use comptoir_contracts::shipping::events::{self as shipping_events, ShipmentEvent};
use comptoir_contracts::shipping::*;
use comptoir_inventory::InventoryModule;
use comptoir_kernel::{Actor, Currency, Error, EventEnvelope, Money, Page, PageRequest, RequestContext, Result};
use comptoir_ordering::{MIGRATIONS, OrderingConfig, OrderingModule, OrderingPorts, RESERVATIONS, SHIPMENTS};
use comptoir_storage::testing::{TestDb, open};
use comptoir_storage::{Db, outbox};
use rust_decimal::Decimal;
use tokio::sync::Semaphore;
use uuid::Uuid;

const SKU: &str = "TEE-M";
const PRICE: i64 = 2400;
const SHIPPING: i64 = 490;
/// A card token the stand-in provider holds until the test lets it through.
const HELD: &str = "tok_held";

fn not_used<T>() -> Result<T> {
    Err(Error::internal("not used by ordering tests"))
}

fn eur(amount: i64) -> Money {
    Money::new(amount, Currency::EUR)
}

// ---- Stand-ins -------------------------------------------------------------------------------

struct Sellers(Uuid);

#[async_trait]
impl SellerDirectory for Sellers {
    async fn seller_exists(&self, _ctx: &RequestContext, id: Uuid) -> Result<bool> {
        Ok(id == self.0)
    }
}

#[derive(Default)]
struct Ledger {
    payments: Vec<Payment>,
    charge_keys: HashMap<String, Uuid>,
    refund_keys: HashMap<String, Uuid>,
    /// Refunds made, with their idempotency keys, in order.
    refunds: Vec<(String, i64)>,
}

/// Payment's test provider: approves, declines `tok_decline_*`, does not answer for
/// `tok_provider_unavailable`, and holds `tok_held` until [`FakePayment::let_through`].
struct FakePayment {
    ledger: Mutex<Ledger>,
    held: Semaphore,
}

impl FakePayment {
    fn new() -> Self {
        FakePayment { ledger: Mutex::default(), held: Semaphore::new(0) }
    }

    /// Payments that took money.
    fn charges(&self) -> usize {
        self.ledger.lock().unwrap().payments.iter().filter(|p| p.captured.amount > 0).count()
    }

    fn payments(&self) -> Vec<Payment> {
        self.ledger.lock().unwrap().payments.clone()
    }

    fn refunds(&self) -> Vec<(String, i64)> {
        self.ledger.lock().unwrap().refunds.clone()
    }

    fn let_through(&self) {
        self.held.add_permits(1);
    }
}

#[async_trait]
impl PaymentPort for FakePayment {
    async fn charge(&self, _ctx: &RequestContext, request: ChargeRequest) -> Result<Payment> {
        let token = request.method.token.clone().unwrap_or_default();
        if token == HELD {
            self.held.acquire().await.expect("the semaphore is never closed").forget();
        }
        if token == test_cards::PROVIDER_UNAVAILABLE {
            return Err(Error::unavailable("the test provider does not answer"));
        }
        let mut ledger = self.ledger.lock().unwrap();
        if let Some(id) = ledger.charge_keys.get(&request.idempotency_key) {
            return Ok(ledger.payments.iter().find(|p| p.id == *id).unwrap().clone());
        }
        let decline_reason = match token.as_str() {
            test_cards::DECLINED_INSUFFICIENT_FUNDS => Some("insufficient funds".to_string()),
            test_cards::DECLINED_STOLEN => Some("the card was reported stolen".to_string()),
            _ => None,
        };
        let now = comptoir_kernel::time::now();
        let payment = Payment {
            id: Uuid::now_v7(),
            order_id: request.order_id,
            provider: request.method.provider,
            provider_reference: None,
            status: if decline_reason.is_some() { PaymentStatus::Declined } else { PaymentStatus::Captured },
            amount: request.amount,
            captured: if decline_reason.is_some() { eur(0) } else { request.amount },
            refunded: eur(0),
            decline_reason,
            refunds: vec![],
            created_at: now,
            updated_at: now,
        };
        ledger.charge_keys.insert(request.idempotency_key, payment.id);
        ledger.payments.push(payment.clone());
        Ok(payment)
    }

    async fn refund(&self, _ctx: &RequestContext, request: RefundRequest) -> Result<Payment> {
        let mut ledger = self.ledger.lock().unwrap();
        if let Some(id) = ledger.refund_keys.get(&request.idempotency_key) {
            return Ok(ledger.payments.iter().find(|p| p.id == *id).unwrap().clone());
        }
        let i = ledger
            .payments
            .iter()
            .position(|p| p.id == request.payment_id)
            .ok_or_else(|| Error::not_found("payment", request.payment_id))?;
        let p = &mut ledger.payments[i];
        if request.amount.amount <= 0 || request.amount.amount > p.captured.amount - p.refunded.amount {
            return Err(Error::validation("amount", "more than what is left to refund"));
        }
        p.refunded.amount += request.amount.amount;
        p.status = if p.refunded == p.captured { PaymentStatus::Refunded } else { PaymentStatus::PartiallyRefunded };
        let payment = p.clone();
        ledger.refund_keys.insert(request.idempotency_key.clone(), payment.id);
        ledger.refunds.push((request.idempotency_key, request.amount.amount));
        Ok(payment)
    }

    async fn get_payment(&self, _ctx: &RequestContext, id: Uuid) -> Result<Payment> {
        self.payments().into_iter().find(|p| p.id == id).ok_or_else(|| Error::not_found("payment", id))
    }

    async fn payments_for_order(&self, _ctx: &RequestContext, order_id: Uuid) -> Result<Vec<Payment>> {
        Ok(self.payments().into_iter().filter(|p| p.order_id == order_id).collect())
    }

    async fn list_payments(&self, _: &RequestContext, _: PageRequest) -> Result<Page<Payment>> {
        not_used()
    }

    async fn provider_webhook(&self, _: &RequestContext, _: &str, _: &str, _: &[u8]) -> Result<()> {
        not_used()
    }
}

/// Billing with one rule: 20 % tax, included in the prices.
struct FakeBilling;

fn taxed(sku: &str, gross: Money) -> LineTax {
    let net = (gross.amount * 5 + 3) / 6;
    LineTax {
        sku: sku.into(),
        rate: Decimal::new(2, 1),
        net: Money::new(net, gross.currency),
        tax: Money::new(gross.amount - net, gross.currency),
        gross,
    }
}

#[async_trait]
impl BillingPort for FakeBilling {
    async fn compute_tax(&self, _ctx: &RequestContext, request: TaxRequest) -> Result<TaxBreakdown> {
        let lines: Vec<LineTax> = request
            .lines
            .iter()
            .map(|l| taxed(&l.sku, l.unit_price.times(l.quantity).expect("small amounts")))
            .collect();
        let shipping = taxed("shipping", request.shipping);
        let sum = |f: fn(&LineTax) -> i64| Money::new(lines.iter().chain([&shipping]).map(f).sum(), request.currency);
        Ok(TaxBreakdown {
            prices_include_tax: true,
            net: sum(|l| l.net.amount),
            tax: sum(|l| l.tax.amount),
            gross: sum(|l| l.gross.amount),
            summary: vec![],
            lines,
            shipping,
        })
    }

    async fn create_tax_rule(&self, _: &RequestContext, _: NewTaxRule) -> Result<TaxRule> {
        not_used()
    }
    async fn list_tax_rules(&self, _: &RequestContext, _: PageRequest) -> Result<Page<TaxRule>> {
        not_used()
    }
    async fn delete_tax_rule(&self, _: &RequestContext, _: Uuid) -> Result<()> {
        not_used()
    }
    async fn set_channel_tax_mode(&self, _: &RequestContext, _: ChannelTaxMode) -> Result<ChannelTaxMode> {
        not_used()
    }
    async fn channel_tax_mode(&self, _: &RequestContext, _: &str) -> Result<ChannelTaxMode> {
        not_used()
    }
    async fn invoice_for_order(&self, _: &RequestContext, _: Uuid) -> Result<Invoice> {
        not_used()
    }
    async fn list_invoices(&self, _: &RequestContext, _: PageRequest) -> Result<Page<Invoice>> {
        not_used()
    }
    async fn credit_notes_for_order(&self, _: &RequestContext, _: Uuid) -> Result<Vec<CreditNote>> {
        not_used()
    }
    async fn invoice_pdf(&self, _: &RequestContext, _: Uuid) -> Result<Vec<u8>> {
        not_used()
    }
    async fn credit_note_pdf(&self, _: &RequestContext, _: Uuid) -> Result<Vec<u8>> {
        not_used()
    }
}

/// Shipping with one method, `standard`, at a flat 4.90 EUR; it remembers the parcels it quoted.
#[derive(Default)]
struct FakeShipping {
    quoted_weights: Mutex<Vec<i64>>,
}

#[async_trait]
impl ShippingPort for FakeShipping {
    async fn quote(&self, _ctx: &RequestContext, method: &str, request: QuoteRequest) -> Result<Quote> {
        if method != "standard" {
            return Err(Error::validation("shipping_method", format!("{method:?} is not a shipping method")));
        }
        self.quoted_weights.lock().unwrap().push(request.weight_grams);
        Ok(Quote {
            method: "standard".into(),
            name: "Standard".into(),
            carrier: "La Poste".into(),
            price: eur(SHIPPING),
            delivery_days: Some(3),
        })
    }

    async fn create_zone(&self, _: &RequestContext, _: NewZone) -> Result<Zone> {
        not_used()
    }
    async fn list_zones(&self, _: &RequestContext, _: PageRequest) -> Result<Page<Zone>> {
        not_used()
    }
    async fn create_method(&self, _: &RequestContext, _: NewShippingMethod) -> Result<ShippingMethod> {
        not_used()
    }
    async fn list_methods(&self, _: &RequestContext, _: PageRequest) -> Result<Page<ShippingMethod>> {
        not_used()
    }
    async fn set_method_active(&self, _ctx: &RequestContext, _code: &str, _active: bool) -> Result<ShippingMethod> {
        not_used()
    }
    async fn quotes(&self, _: &RequestContext, _: QuoteRequest) -> Result<Vec<Quote>> {
        not_used()
    }
    async fn shipment_for_order(&self, _: &RequestContext, _: Uuid) -> Result<Shipment> {
        not_used()
    }
    async fn list_shipments(&self, _: &RequestContext, _: PageRequest) -> Result<Page<Shipment>> {
        not_used()
    }
    async fn track(&self, _: &RequestContext, _: Uuid, _: TrackingUpdate) -> Result<Shipment> {
        not_used()
    }
    async fn carrier_webhook(&self, _: &RequestContext, _: &str, _: &str, _: &[u8]) -> Result<()> {
        not_used()
    }
    async fn label_pdf(&self, _: &RequestContext, _: Uuid) -> Result<Vec<u8>> {
        not_used()
    }
}

// ---- The shop --------------------------------------------------------------------------------

#[derive(Clone)]
struct Shop {
    /// The four modules' databases, alive as long as any clone of the shop.
    _dbs: Arc<Vec<TestDb>>,
    db: Db,
    ordering: OrderingModule,
    catalog: CatalogModule,
    catalog_db: Db,
    inventory: InventoryModule,
    inventory_db: Db,
    cart: CartModule,
    payment: Arc<FakePayment>,
    shipping: Arc<FakeShipping>,
    seller: Uuid,
}

fn ctx() -> RequestContext {
    RequestContext::new("corr-ordering", Actor::user("staff-1"))
}

async fn shop() -> Shop {
    shop_with(OrderingConfig::default()).await
}

async fn shop_with(config: OrderingConfig) -> Shop {
    let seller = Uuid::now_v7();
    let catalog_db = open("catalog", &comptoir_catalog::MIGRATIONS).await;
    let catalog = CatalogModule::new(catalog_db.db.clone(), Arc::new(Sellers(seller)));
    let inventory_db = open("inventory", &comptoir_inventory::MIGRATIONS).await;
    let inventory = InventoryModule::new(inventory_db.db.clone());
    let cart_db = open("cart", &comptoir_cart::MIGRATIONS).await;
    let cart = CartModule::new(cart_db.db.clone(), Arc::new(catalog.clone()), Arc::new(inventory.clone()));
    let db = open("ordering", &MIGRATIONS).await;
    let payment = Arc::new(FakePayment::new());
    let shipping = Arc::new(FakeShipping::default());
    let ports = OrderingPorts {
        cart: Arc::new(cart.clone()),
        catalog: Arc::new(catalog.clone()),
        inventory: Arc::new(inventory.clone()),
        payment: payment.clone(),
        billing: Arc::new(FakeBilling),
        shipping: shipping.clone(),
    };
    let ordering = OrderingModule::new(db.db.clone(), ports, config);
    let location = NewLocation { code: "main".into(), name: "Main warehouse".into(), kind: LocationKind::Warehouse };
    inventory.create_location(&ctx(), location).await.unwrap();
    Shop {
        db: db.db.clone(),
        ordering,
        catalog,
        catalog_db: catalog_db.db.clone(),
        inventory,
        inventory_db: inventory_db.db.clone(),
        _dbs: Arc::new(vec![catalog_db, inventory_db, cart_db, db]),
        cart,
        payment,
        shipping,
        seller,
    }
}

fn address() -> PostalAddress {
    PostalAddress {
        name: "Ann Martin".into(),
        line1: "1 rue de Rivoli".into(),
        line2: None,
        city: "Paris".into(),
        postal_code: "75001".into(),
        region: None,
        country: "FR".into(),
        phone: None,
    }
}

fn checkout(customer: Uuid, cart_id: Uuid, key: &str, token: &str) -> Checkout {
    Checkout {
        customer_id: customer,
        email: format!("{customer}@example.com"),
        idempotency_key: key.into(),
        request: CheckoutRequest {
            cart_id,
            shipping_address: address(),
            billing_address: None,
            shipping_method: "standard".into(),
            payment: PaymentMethodInput { provider: "test".into(), token: Some(token.into()) },
        },
    }
}

fn customer_ctx(customer: Uuid) -> RequestContext {
    RequestContext::new("corr-customer", Actor::user(customer))
}

impl Shop {
    /// A published product with one SKU weighing 200 g at 24.00 EUR, known to inventory with
    /// `stock` units on hand.
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
        let product = self.catalog.create_product(&ctx(), input).await.unwrap();
        self.catalog.publish(&ctx(), product.id).await.unwrap();
        // Inventory learns the SKU from the catalog's event, as the bus would deliver it.
        let skus = self.inventory.consumers().into_iter().find(|c| c.name == comptoir_inventory::CATALOG_SKUS).unwrap();
        for event in outbox::pending(&self.catalog_db, 1000).await.unwrap() {
            skus.handler.handle(&event).await.unwrap();
        }
        if stock > 0 {
            let receipt = ReceiveStock { sku: sku.into(), location: "main".into(), quantity: stock, reference: None };
            self.inventory.receive(&ctx(), receipt).await.unwrap();
        }
    }

    /// A new cart of `customer` holding these lines.
    async fn cart_of(&self, customer: Uuid, lines: &[(&str, i64)]) -> Uuid {
        let cart = self.cart.create_cart(&ctx(), Some(customer), NewCart::default()).await.unwrap();
        for (sku, quantity) in lines {
            let line = AddLine { sku: sku.to_string(), quantity: *quantity };
            self.cart.add_line(&ctx(), cart.id, &CartAccess::Customer(customer), line).await.unwrap();
        }
        cart.id
    }

    /// A confirmed order of `quantity` units of `sku` for a new customer.
    async fn confirmed(&self, sku: &str, quantity: i64) -> (Uuid, Order) {
        let customer = Uuid::now_v7();
        let cart = self.cart_of(customer, &[(sku, quantity)]).await;
        let order = self.checkout(checkout(customer, cart, "key-1", "tok_visa")).await.unwrap();
        assert_eq!(order.status, OrderStatus::Confirmed);
        (customer, order)
    }

    async fn checkout(&self, checkout: Checkout) -> Result<Order> {
        self.ordering.checkout(&customer_ctx(checkout.customer_id), checkout).await
    }

    async fn order(&self, id: Uuid) -> Order {
        self.ordering.get_order(&ctx(), id, OrderAccess::Staff).await.unwrap()
    }

    async fn orders_of(&self, customer: Uuid) -> Page<Order> {
        self.ordering.customer_orders(&ctx(), customer, PageRequest::default()).await.unwrap()
    }

    async fn available(&self, sku: &str) -> (i64, i64) {
        let stock = self.inventory.stock(&ctx(), sku).await.unwrap();
        (stock.available, stock.reserved)
    }

    async fn events(&self) -> Vec<EventEnvelope> {
        outbox::pending(&self.db, 10_000).await.unwrap()
    }

    /// The types of the events ordering wrote about `order`, in order.
    async fn events_of(&self, order: Uuid) -> Vec<String> {
        let id = order.to_string();
        self.events()
            .await
            .into_iter()
            .filter(|e| e.data["order_id"] == id || e.data["order"]["order_id"] == id)
            .map(|e| e.event_type)
            .collect()
    }

    /// Hands ordering's events to the inventory and cart consumers, as the bus would.
    async fn fulfil(&self) {
        let consumers: Vec<_> = self.inventory.consumers().into_iter().chain(self.cart.consumers()).collect();
        for event in self.events().await {
            for consumer in &consumers {
                let matches = consumer.patterns.iter().any(|p| p == &event.event_type);
                if matches {
                    consumer.handler.handle(&event).await.unwrap();
                }
            }
        }
    }

    async fn deliver(&self, consumer: &str, event: &EventEnvelope) -> Result<()> {
        let consumer = self.ordering.consumers().into_iter().find(|c| c.name == consumer).unwrap();
        consumer.handler.handle(event).await
    }

    /// Waits until the order placed under `key` reaches `status` (a checkout running elsewhere).
    async fn wait_for(&self, customer: Uuid, status: OrderStatus) -> Order {
        for _ in 0..500 {
            if let Some(order) = self.orders_of(customer).await.items.into_iter().find(|o| o.status == status) {
                return order;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no order of {customer} reached {status:?}");
    }
}

fn refusal<T: std::fmt::Debug>(result: Result<T>) -> (u16, &'static str, Vec<String>, String) {
    let e = result.expect_err("should be refused");
    (e.status(), e.code(), e.field_errors().iter().map(|f| f.field.clone()).collect(), e.to_string())
}

fn steps(order: &Order) -> Vec<(Option<OrderStatus>, OrderStatus)> {
    order.timeline.iter().map(|t| (t.from, t.to)).collect()
}

// ---- The checkout saga -----------------------------------------------------------------------

#[tokio::test]
async fn a_checkout_places_reserves_charges_and_confirms() {
    use OrderStatus::*;
    let shop = shop().await;
    shop.product(SKU, 10).await;
    let customer = Uuid::now_v7();
    let cart = shop.cart_of(customer, &[(SKU, 2)]).await;

    let order = shop.checkout(checkout(customer, cart, "key-1", "tok_visa")).await.unwrap();

    assert_eq!((order.status, order.number.as_str()), (Confirmed, "CO-000001"));
    assert_eq!(order.customer_id, Some(customer));
    assert_eq!(order.lines.len(), 1);
    let line = &order.lines[0];
    assert_eq!((line.sku.as_str(), line.quantity, line.unit_price, line.weight_grams), (SKU, 2, eur(PRICE), Some(200)));
    assert_eq!((line.gross, line.net.amount + line.tax.amount, line.tax_rate), (eur(4800), 4800, Decimal::new(2, 1)));
    assert_eq!((order.shipping.method.as_str(), order.shipping.gross), ("standard", eur(SHIPPING)));
    assert_eq!(order.totals.gross, eur(2 * PRICE + SHIPPING));
    assert_eq!(order.totals.net.amount + order.totals.tax.amount, order.totals.gross.amount);
    assert_eq!(order.billing_address, order.shipping_address);
    assert_eq!(*shop.shipping.quoted_weights.lock().unwrap(), [400], "the parcel weighs its lines");

    assert_eq!(
        steps(&order),
        [(None, Pending), (Some(Pending), StockReserved), (Some(StockReserved), Paid), (Some(Paid), Confirmed)]
    );
    let causes: Vec<_> = order.timeline.iter().map(|t| t.cause.as_str()).collect();
    assert_eq!(causes, ["checkout", "stock reserved", "payment captured", "checkout completed"]);
    assert!(order.timeline.iter().all(|t| t.actor == format!("customer:{customer}")));

    // Stock is held for the order, and it was charged once, under its own id.
    assert_eq!(shop.available(SKU).await, (8, 2));
    let reservation = shop.inventory.get_reservation(&ctx(), order.reservation_id.unwrap()).await.unwrap();
    assert_eq!((reservation.reference, reservation.status), (order.id.to_string(), ReservationStatus::Active));
    let payments = shop.payment.payments();
    assert_eq!(payments.len(), 1);
    assert_eq!(
        (payments[0].id, payments[0].order_id, payments[0].amount),
        (order.payment_id.unwrap(), order.id, order.totals.gross)
    );

    // The events billing, shipping, inventory, cart and notification act on.
    assert_eq!(shop.events_of(order.id).await, [events::ORDER_PLACED, events::CHECKOUT_COMPLETED]);
    let completed = shop.events().await.into_iter().find(|e| e.event_type == events::CHECKOUT_COMPLETED).unwrap();
    let placed: OrderPlaced = completed.data_as().unwrap();
    assert_eq!(
        (placed.cart_id, placed.reservation_id, placed.payment_id),
        (Some(cart), order.reservation_id, order.payment_id)
    );
    assert_eq!((placed.order.number, placed.order.totals.gross), (order.number.clone(), order.totals.gross));
    assert_eq!((completed.source.as_str(), completed.correlation_id.as_str()), ("ordering", "corr-customer"));

    // The order as stored reads back the same, to its owner and to staff only.
    assert_eq!(shop.order(order.id).await, order);
    let own = shop.ordering.get_order(&ctx(), order.id, OrderAccess::Customer(customer)).await.unwrap();
    assert_eq!(own, order);
    let stranger = OrderAccess::Customer(Uuid::now_v7());
    assert_eq!(refusal(shop.ordering.get_order(&ctx(), order.id, stranger).await).0, 404);
    assert_eq!(refusal(shop.ordering.get_order(&ctx(), Uuid::now_v7(), OrderAccess::Staff).await).0, 404);

    // Once the cart consumed the event, the same cart cannot be ordered again.
    shop.fulfil().await;
    let reservation = shop.inventory.get_reservation(&ctx(), order.reservation_id.unwrap()).await.unwrap();
    assert_eq!(reservation.status, ReservationStatus::Committed);
    let again = shop.checkout(checkout(customer, cart, "key-2", "tok_visa")).await;
    assert_eq!(refusal(again).1, "cart-not-active");
}

#[tokio::test]
async fn a_declined_payment_cancels_the_order_and_releases_its_stock() {
    let shop = shop().await;
    shop.product(SKU, 10).await;
    let customer = Uuid::now_v7();
    let cart = shop.cart_of(customer, &[(SKU, 3)]).await;
    let attempt = checkout(customer, cart, "key-1", test_cards::DECLINED_INSUFFICIENT_FUNDS);

    let (status, code, _, message) = refusal(shop.checkout(attempt.clone()).await);
    assert_eq!((status, code, message.as_str()), (402, "payment-declined", "payment declined: insufficient funds"));

    let orders = shop.orders_of(customer).await;
    assert_eq!(orders.total, 1);
    let order = &orders.items[0];
    assert_eq!(order.status, OrderStatus::Cancelled);
    assert_eq!(order.cancellation_reason.as_deref(), Some("payment declined: insufficient funds"));
    assert_eq!(order.timeline.last().unwrap().from, Some(OrderStatus::StockReserved));
    assert_eq!(shop.available(SKU).await, (10, 0), "the reservation was released");
    let reservation = shop.inventory.get_reservation(&ctx(), order.reservation_id.unwrap()).await.unwrap();
    assert_eq!(reservation.status, ReservationStatus::Released);
    assert_eq!(shop.events_of(order.id).await, [events::ORDER_PLACED, events::ORDER_CANCELLED]);
    let cancelled: OrderCancelled =
        shop.events().await.iter().find(|e| e.event_type == events::ORDER_CANCELLED).unwrap().data_as().unwrap();
    assert_eq!(
        (cancelled.reason.as_str(), cancelled.reservation_id),
        (order.cancellation_reason.as_deref().unwrap(), order.reservation_id)
    );

    // A retry of the same checkout gets the same answer, without a second order or charge.
    let (status, _, _, retried) = refusal(shop.checkout(attempt).await);
    assert_eq!((status, retried), (402, message));
    assert_eq!(shop.orders_of(customer).await.total, 1);
    assert_eq!((shop.payment.payments().len(), shop.payment.charges()), (1, 0));
}

#[tokio::test]
async fn a_provider_that_does_not_answer_cancels_the_order() {
    let shop = shop().await;
    shop.product(SKU, 5).await;
    let customer = Uuid::now_v7();
    let cart = shop.cart_of(customer, &[(SKU, 1)]).await;
    let (status, ..) = refusal(shop.checkout(checkout(customer, cart, "k", test_cards::PROVIDER_UNAVAILABLE)).await);
    assert_eq!(status, 503);
    let order = shop.orders_of(customer).await.items.remove(0);
    assert_eq!(order.status, OrderStatus::Cancelled);
    assert_eq!(order.cancellation_reason.as_deref(), Some("payment could not be taken"));
    assert_eq!(shop.available(SKU).await, (5, 0));
}

#[tokio::test]
async fn missing_stock_cancels_the_order_without_charging() {
    let shop = shop().await;
    shop.product(SKU, 3).await;
    let customer = Uuid::now_v7();
    let cart = shop.cart_of(customer, &[(SKU, 3)]).await;
    // Two units are found damaged after the cart was filled.
    let adjust = AdjustStock { sku: SKU.into(), location: "main".into(), delta: -2, reason: "damaged".into() };
    shop.inventory.adjust(&ctx(), adjust).await.unwrap();
    let attempt = checkout(customer, cart, "key-1", "tok_visa");

    let (status, code, fields, message) = refusal(shop.checkout(attempt.clone()).await);
    assert_eq!((status, code, fields), (409, "insufficient-stock", vec!["cart.lines[0].quantity".to_string()]));
    assert!(message.contains(SKU), "{message}");

    let order = shop.orders_of(customer).await.items.remove(0);
    assert_eq!(order.status, OrderStatus::Cancelled);
    assert_eq!(order.cancellation_reason, Some(format!("insufficient stock: {message}")));
    assert_eq!((order.reservation_id, order.payment_id), (None, None));
    assert_eq!(shop.payment.payments().len(), 0, "no charge was attempted");
    assert_eq!(shop.available(SKU).await, (1, 0));
    assert_eq!(shop.events_of(order.id).await, [events::ORDER_PLACED, events::ORDER_CANCELLED]);

    let retried = refusal(shop.checkout(attempt).await);
    assert_eq!((retried.0, retried.2, retried.3), (409, vec!["cart.lines[0].quantity".to_string()], message));
    assert_eq!(shop.orders_of(customer).await.total, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_repeated_checkout_places_one_order_and_charges_once() {
    let shop = shop().await;
    shop.product(SKU, 50).await;

    // One after the other.
    let customer = Uuid::now_v7();
    let cart = shop.cart_of(customer, &[(SKU, 1)]).await;
    let first = shop.checkout(checkout(customer, cart, "key-1", "tok_visa")).await.unwrap();
    let second = shop.checkout(checkout(customer, cart, "key-1", "tok_visa")).await.unwrap();
    assert_eq!(second, first);
    assert_eq!(shop.orders_of(customer).await.total, 1);
    assert_eq!(shop.payment.charges(), 1);

    // Ten at once.
    let customer = Uuid::now_v7();
    let cart = shop.cart_of(customer, &[(SKU, 2)]).await;
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let shop = shop.clone();
            tokio::spawn(async move { shop.checkout(checkout(customer, cart, "key-1", "tok_visa")).await })
        })
        .collect();
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap().unwrap().id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every attempt answered with the same order");
    let orders = shop.orders_of(customer).await;
    assert_eq!((orders.total, orders.items[0].status), (1, OrderStatus::Confirmed));
    assert_eq!(shop.payment.charges(), 2);
    assert_eq!(shop.available(SKU).await, (47, 3));
    // The other customer may use the same key: keys are per customer.
    assert_ne!(orders.items[0].id, first.id);

    // The same cart under a new key, before the cart has heard of its order: refused.
    let again = refusal(shop.checkout(checkout(customer, cart, "key-2", "tok_visa")).await);
    assert_eq!((again.0, again.1, again.2), (409, "cart-already-ordered", vec!["cart_id".to_string()]));
    assert_eq!(shop.payment.charges(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_buyers_share_twenty_five_units_without_overselling() {
    let shop = shop().await;
    shop.product(SKU, 25).await;
    let mut buyers = Vec::new();
    for _ in 0..100 {
        let customer = Uuid::now_v7();
        buyers.push((customer, shop.cart_of(customer, &[(SKU, 1)]).await));
    }

    let tasks: Vec<_> = buyers
        .into_iter()
        .map(|(customer, cart)| {
            let shop = shop.clone();
            tokio::spawn(async move { shop.checkout(checkout(customer, cart, "key", "tok_visa")).await })
        })
        .collect();
    let (mut confirmed, mut refused) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(order) => {
                assert_eq!(order.status, OrderStatus::Confirmed);
                confirmed += 1;
            }
            Err(e) => {
                assert_eq!((e.status(), e.code()), (409, "insufficient-stock"), "{e}");
                refused += 1;
            }
        }
    }
    assert_eq!((confirmed, refused), (25, 75));
    assert_eq!((shop.payment.charges(), shop.payment.payments().len()), (25, 25), "no charge without stock");
    assert_eq!(shop.available(SKU).await, (0, 25));

    let search = |status| OrderFilter { status: Some(status), ..OrderFilter::default() };
    let page = PageRequest::new(1, 10).unwrap();
    let found = shop.ordering.search_orders(&ctx(), search(OrderStatus::Confirmed), page).await.unwrap();
    assert_eq!((found.total, found.items.len()), (25, 10));
    let found = shop.ordering.search_orders(&ctx(), search(OrderStatus::Cancelled), page).await.unwrap();
    assert_eq!(found.total, 75);
    assert!(found.items.iter().all(|o| o.payment_id.is_none()));
    // Numbers are given without gaps.
    let all =
        shop.ordering.search_orders(&ctx(), OrderFilter::default(), PageRequest::new(1, 100).unwrap()).await.unwrap();
    let mut numbers: Vec<_> = all.items.iter().map(|o| o.number.clone()).collect();
    numbers.sort();
    assert_eq!(numbers.first().map(String::as_str), Some("CO-000001"));
    assert_eq!(numbers.last().map(String::as_str), Some("CO-000100"));
}

#[tokio::test]
async fn bad_checkouts_are_refused_before_any_order_exists() {
    let shop = shop().await;
    shop.product(SKU, 5).await;
    let customer = Uuid::now_v7();
    let cart = shop.cart_of(customer, &[(SKU, 1)]).await;

    let foreign = shop.cart_of(Uuid::now_v7(), &[(SKU, 1)]).await;
    let (status, code, ..) = refusal(shop.checkout(checkout(customer, foreign, "k1", "tok_visa")).await);
    assert_eq!((status, code), (404, "not-found"), "another customer's cart does not exist for them");
    let owner = Uuid::now_v7();
    let empty = shop.cart_of(owner, &[]).await;
    let (status, _, fields, message) = refusal(shop.checkout(checkout(owner, empty, "k1", "tok_visa")).await);
    assert_eq!((status, fields, message.as_str()), (422, vec!["cart_id".to_string()], "cart_id: the cart is empty"));
    assert_eq!(refusal(shop.checkout(checkout(customer, Uuid::now_v7(), "k2", "tok_visa")).await).0, 404);

    let mut bad = checkout(customer, cart, "k3", "tok_visa");
    bad.request.shipping_address.city = " ".into();
    bad.request.shipping_address.postal_code = "".into();
    bad.request.billing_address = Some(PostalAddress { country: "XX".into(), ..address() });
    let (status, _, fields, _) = refusal(shop.checkout(bad).await);
    assert_eq!(
        (status, fields),
        (
            422,
            vec![
                "shipping_address.city".to_string(),
                "shipping_address.postal_code".to_string(),
                "billing_address.country".to_string()
            ]
        )
    );

    let mut unknown_method = checkout(customer, cart, "k4", "tok_visa");
    unknown_method.request.shipping_method = "teleport".into();
    let (status, _, fields, _) = refusal(shop.checkout(unknown_method).await);
    assert_eq!((status, fields), (422, vec!["shipping_method".to_string()]));

    let (status, _, fields, _) = refusal(shop.checkout(checkout(customer, cart, " ", "tok_visa")).await);
    assert_eq!((status, fields), (422, vec!["idempotency_key".to_string()]));

    assert_eq!(shop.orders_of(customer).await.total + shop.orders_of(owner).await.total, 0);
    assert!(shop.events().await.is_empty());
    assert!(shop.payment.payments().is_empty());
    assert_eq!(shop.available(SKU).await, (5, 0));
}

// ---- After the checkout ----------------------------------------------------------------------

#[tokio::test]
async fn cancelling_a_confirmed_order_refunds_it_and_puts_the_units_back() {
    let shop = shop().await;
    shop.product(SKU, 10).await;
    let (customer, order) = shop.confirmed(SKU, 2).await;
    shop.fulfil().await; // inventory sells the reserved units
    assert_eq!(shop.inventory.stock(&ctx(), SKU).await.unwrap().on_hand, 8);

    let stranger = OrderAccess::Customer(Uuid::now_v7());
    let input = || CancelInput { reason: Some("changed my mind".into()) };
    assert_eq!(refusal(shop.ordering.cancel(&ctx(), order.id, stranger, input()).await).0, 404);

    let access = OrderAccess::Customer(customer);
    let cancelled = shop.ordering.cancel(&customer_ctx(customer), order.id, access, input()).await.unwrap();
    assert_eq!(cancelled.status, OrderStatus::Cancelled);
    assert_eq!(cancelled.refunded, order.totals.gross);
    assert_eq!(cancelled.cancellation_reason.as_deref(), Some("cancelled by the customer: changed my mind"));
    assert_eq!(cancelled.timeline.last().unwrap().actor, format!("customer:{customer}"));
    assert_eq!(shop.payment.refunds(), [(format!("cancel-{}", order.id), order.totals.gross.amount)]);
    assert_eq!(
        shop.events_of(order.id).await,
        [events::ORDER_PLACED, events::CHECKOUT_COMPLETED, events::ORDER_CANCELLED, events::ORDER_REFUNDED]
    );
    let refunded: OrderRefunded =
        shop.events().await.iter().find(|e| e.event_type == events::ORDER_REFUNDED).unwrap().data_as().unwrap();
    assert_eq!(
        (refunded.amount, refunded.restock),
        (order.totals.gross, vec![ReturnLine { sku: SKU.into(), quantity: 2 }])
    );

    // Inventory puts the sold units back when it consumes the refund.
    shop.fulfil().await;
    let stock = shop.inventory.stock(&ctx(), SKU).await.unwrap();
    assert_eq!((stock.on_hand, stock.reserved), (10, 0));

    // Cancelled is final.
    let again = refusal(shop.ordering.cancel(&ctx(), order.id, OrderAccess::Staff, input()).await);
    assert_eq!((again.0, again.1), (409, "invalid-order-transition"));
    assert_eq!(shop.payment.refunds().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_during_the_checkout_releases_the_stock_and_refunds_a_late_charge() {
    let shop = shop().await;
    shop.product(SKU, 4).await;
    let customer = Uuid::now_v7();
    let cart = shop.cart_of(customer, &[(SKU, 3)]).await;
    let running = {
        let shop = shop.clone();
        tokio::spawn(async move { shop.checkout(checkout(customer, cart, "key", HELD)).await })
    };
    let order = shop.wait_for(customer, OrderStatus::StockReserved).await;
    assert_eq!(shop.available(SKU).await, (1, 3));

    let access = OrderAccess::Customer(customer);
    let cancelled =
        shop.ordering.cancel(&customer_ctx(customer), order.id, access, CancelInput { reason: None }).await.unwrap();
    assert_eq!(cancelled.status, OrderStatus::Cancelled);
    assert_eq!(shop.available(SKU).await, (4, 0), "the reservation was released");

    // The provider answers after all: the saga finds the order cancelled and gives the money back.
    shop.payment.let_through();
    let answered = running.await.unwrap().unwrap();
    assert_eq!(answered.status, OrderStatus::Cancelled);
    assert_eq!(answered.refunded, order.totals.gross);
    assert_eq!(shop.payment.refunds(), [(format!("cancel-{}", order.id), order.totals.gross.amount)]);
    assert!(!shop.events_of(order.id).await.contains(&events::CHECKOUT_COMPLETED.to_string()));
}

#[tokio::test]
async fn refunds_go_in_parts_up_to_what_was_charged() {
    use OrderStatus::*;
    let shop = shop().await;
    shop.product(SKU, 10).await;
    let (_, order) = shop.confirmed(SKU, 2).await;
    let gross = order.totals.gross.amount;
    let refund = |amount: Option<i64>, restock: &[(&str, i64)]| RefundInput {
        amount,
        restock: restock
            .iter()
            .map(|(sku, quantity)| ReturnLineInput { sku: sku.to_string(), quantity: *quantity })
            .collect(),
        reason: Some("damaged in transit".into()),
    };

    let over = refusal(shop.ordering.refund(&ctx(), order.id, refund(Some(gross + 1), &[])).await);
    assert_eq!((over.0, over.2), (422, vec!["amount".to_string()]));
    let too_many = refusal(shop.ordering.refund(&ctx(), order.id, refund(Some(100), &[(SKU, 3)])).await);
    assert_eq!((too_many.0, too_many.2), (422, vec!["restock[0].quantity".to_string()]));
    assert!(shop.payment.refunds().is_empty(), "a refused refund moves no money");

    let partial = shop.ordering.refund(&ctx(), order.id, refund(Some(1000), &[(SKU, 1)])).await.unwrap();
    assert_eq!((partial.status, partial.refunded), (PartiallyRefunded, eur(1000)));
    assert_eq!(partial.timeline.last().unwrap().cause, "refunded 10.00 EUR: damaged in transit");
    assert_eq!(partial.timeline.last().unwrap().actor, "staff:staff-1");
    let over = refusal(shop.ordering.refund(&ctx(), order.id, refund(Some(gross - 999), &[])).await);
    assert_eq!((over.0, over.2), (422, vec!["amount".to_string()]));

    let rest = shop.ordering.refund(&ctx(), order.id, refund(None, &[(SKU, 1)])).await.unwrap();
    assert_eq!((rest.status, rest.refunded), (Refunded, eur(gross)));
    assert_eq!(
        shop.payment.refunds(),
        [(format!("refund-{}-1", order.id), 1000), (format!("refund-{}-2", order.id), gross - 1000)]
    );
    let refunds: Vec<OrderRefunded> = shop
        .events()
        .await
        .iter()
        .filter(|e| e.event_type == events::ORDER_REFUNDED)
        .map(|e| e.data_as().unwrap())
        .collect();
    assert_eq!(refunds.iter().map(|r| r.amount.amount).collect::<Vec<_>>(), [1000, gross - 1000]);
    assert!(refunds.iter().all(|r| r.restock == [ReturnLine { sku: SKU.into(), quantity: 1 }]));
    assert!(refunds.iter().all(|r| r.reservation_id == order.reservation_id));

    let done = refusal(shop.ordering.refund(&ctx(), order.id, refund(None, &[])).await);
    assert_eq!((done.0, done.1), (409, "invalid-order-transition"));
    assert_eq!(refusal(shop.ordering.refund(&ctx(), Uuid::now_v7(), refund(None, &[])).await).0, 404);
}

fn shipment_event(order: &Order, event_type: &str, status: ShipmentStatus) -> EventEnvelope {
    let data = ShipmentEvent {
        shipment_id: Uuid::nil(),
        order_id: order.id,
        order_number: order.number.clone(),
        carrier: "La Poste".into(),
        tracking_number: "LP123".into(),
        status,
    };
    EventEnvelope::new(&RequestContext::system(), "shipping", event_type, data)
}

#[tokio::test]
async fn shipments_move_orders_and_shipped_orders_can_be_returned() {
    use OrderStatus::*;
    let shop = shop().await;
    shop.product(SKU, 10).await;
    let (customer, order) = shop.confirmed(SKU, 3).await;

    let shipped = shipment_event(&order, shipping_events::SHIPMENT_SHIPPED, ShipmentStatus::Shipped);
    shop.deliver(SHIPMENTS, &shipped).await.unwrap();
    shop.deliver(SHIPMENTS, &shipped).await.unwrap(); // redelivered: handled once
    let in_transit = shipment_event(&order, shipping_events::SHIPMENT_IN_TRANSIT, ShipmentStatus::InTransit);
    shop.deliver(SHIPMENTS, &in_transit).await.unwrap(); // already shipped: nothing to do
    let now = shop.order(order.id).await;
    assert_eq!(now.status, Shipped);
    assert_eq!(now.timeline.last().unwrap().cause, "shipped with La Poste (tracking LP123)");
    let news: OrderShipment =
        shop.events().await.iter().find(|e| e.event_type == events::ORDER_SHIPPED).unwrap().data_as().unwrap();
    assert_eq!((news.tracking_number.as_str(), news.customer_id), ("LP123", Some(customer)));

    // Too late to cancel.
    let late = refusal(
        shop.ordering.cancel(&ctx(), order.id, OrderAccess::Customer(customer), CancelInput { reason: None }).await,
    );
    assert_eq!((late.0, late.1), (409, "invalid-order-transition"));
    assert!(late.3.contains("shipped") && late.3.contains("cancelled"), "{}", late.3);

    // A delivery news for an order never marked shipped passes through shipped.
    let (_, other) = shop.confirmed(SKU, 1).await;
    shop.deliver(SHIPMENTS, &shipment_event(&other, shipping_events::SHIPMENT_DELIVERED, ShipmentStatus::Delivered))
        .await
        .unwrap();
    let other = shop.order(other.id).await;
    assert_eq!(steps(&other)[4..], [(Some(Confirmed), Shipped), (Some(Shipped), Delivered)]);
    assert_eq!(shop.events_of(other.id).await[2..], [events::ORDER_SHIPPED, events::ORDER_DELIVERED]);

    // News about cancelled or unknown orders changes nothing.
    let (buyer, third) = shop.confirmed(SKU, 1).await;
    shop.ordering.cancel(&ctx(), third.id, OrderAccess::Customer(buyer), CancelInput { reason: None }).await.unwrap();
    shop.deliver(SHIPMENTS, &shipment_event(&third, shipping_events::SHIPMENT_SHIPPED, ShipmentStatus::Shipped))
        .await
        .unwrap();
    assert_eq!(shop.order(third.id).await.status, Cancelled);
    let ghost = Order { id: Uuid::now_v7(), ..third.clone() };
    shop.deliver(SHIPMENTS, &shipment_event(&ghost, shipping_events::SHIPMENT_SHIPPED, ShipmentStatus::Shipped))
        .await
        .unwrap();

    // Returns.
    let customer_access = OrderAccess::Customer(customer);
    let ask = |lines: &[(&str, i64)], reason: &str| ReturnInput {
        lines: lines
            .iter()
            .map(|(sku, quantity)| ReturnLineInput { sku: sku.to_string(), quantity: *quantity })
            .collect(),
        reason: reason.into(),
    };
    let not_shipped = shop.confirmed(SKU, 1).await;
    let refused =
        shop.ordering.request_return(&ctx(), not_shipped.1.id, OrderAccess::Staff, ask(&[(SKU, 1)], "x")).await;
    assert_eq!(refusal(refused).1, "order-not-returnable");
    let stranger = OrderAccess::Customer(Uuid::now_v7());
    assert_eq!(refusal(shop.ordering.request_return(&ctx(), order.id, stranger, ask(&[(SKU, 1)], "x")).await).0, 404);

    let requested =
        shop.ordering.request_return(&ctx(), order.id, customer_access, ask(&[(SKU, 2)], "too small")).await.unwrap();
    assert_eq!(
        (requested.status, requested.lines.clone()),
        (ReturnStatus::Requested, vec![ReturnLine { sku: SKU.into(), quantity: 2 }])
    );
    let beyond =
        refusal(shop.ordering.request_return(&ctx(), order.id, customer_access, ask(&[(SKU, 2)], "again")).await);
    assert_eq!((beyond.0, beyond.2), (422, vec!["lines[0].quantity".to_string()]));
    let unknown =
        refusal(shop.ordering.request_return(&ctx(), order.id, customer_access, ask(&[("NOPE", 1)], "")).await);
    assert_eq!(unknown.2, ["lines[0].sku", "reason"]);

    let received = shop.ordering.receive_return(&ctx(), requested.id).await.unwrap();
    assert_eq!(received.status, ReturnStatus::Received);
    assert_eq!(refusal(shop.ordering.receive_return(&ctx(), requested.id).await).1, "invalid-return-transition");
    assert_eq!(refusal(shop.ordering.receive_return(&ctx(), Uuid::now_v7()).await).0, 404);
    let listed = shop.ordering.returns_for_order(&ctx(), order.id, customer_access).await.unwrap();
    assert_eq!(listed, [received]);
    assert_eq!(refusal(shop.ordering.returns_for_order(&ctx(), order.id, stranger).await).0, 404);
    let types = shop.events_of(order.id).await;
    assert_eq!(types[types.len() - 2..], [events::RETURN_REQUESTED, events::RETURN_RECEIVED]);

    // Refunding the return puts its units back.
    let refund = RefundInput {
        amount: Some(2 * PRICE),
        restock: vec![ReturnLineInput { sku: SKU.into(), quantity: 2 }],
        reason: Some("return received".into()),
    };
    let refunded = shop.ordering.refund(&ctx(), order.id, refund).await.unwrap();
    assert_eq!((refunded.status, refunded.refunded), (PartiallyRefunded, eur(2 * PRICE)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_returns_never_return_more_than_was_bought() {
    let shop = shop().await;
    shop.product(SKU, 10).await;
    let (customer, order) = shop.confirmed(SKU, 3).await;
    let shipped = shipment_event(&order, shipping_events::SHIPMENT_SHIPPED, ShipmentStatus::Shipped);
    shop.deliver(SHIPMENTS, &shipped).await.unwrap();

    // Thirty-two requests for two of the three units: one return can be granted.
    let requests: Vec<_> = (0..32)
        .map(|_| {
            let shop = shop.clone();
            tokio::spawn(async move {
                let input = ReturnInput {
                    lines: vec![ReturnLineInput { sku: SKU.into(), quantity: 2 }],
                    reason: "too small".into(),
                };
                shop.ordering.request_return(&ctx(), order.id, OrderAccess::Customer(customer), input).await
            })
        })
        .collect();
    let mut granted = Vec::new();
    for request in requests {
        match request.await.unwrap() {
            Ok(r) => granted.push(r),
            Err(e) => assert_eq!(e.field_errors()[0].field, "lines[0].quantity", "{e}"),
        }
    }
    assert_eq!(granted.len(), 1);

    // The warehouse scans the parcel again and again at once: it is received once.
    let return_id = granted[0].id;
    let scans: Vec<_> = (0..16)
        .map(|_| {
            let shop = shop.clone();
            tokio::spawn(async move { shop.ordering.receive_return(&ctx(), return_id).await })
        })
        .collect();
    let mut received = 0;
    for scan in scans {
        match scan.await.unwrap() {
            Ok(r) => {
                assert_eq!(r.status, ReturnStatus::Received);
                received += 1;
            }
            Err(e) => assert_eq!(e.code(), "invalid-return-transition", "{e}"),
        }
    }
    assert_eq!(received, 1);
    let types = shop.events_of(order.id).await;
    let count = |t: &str| types.iter().filter(|e| e.as_str() == t).count();
    assert_eq!((count(events::RETURN_REQUESTED), count(events::RETURN_RECEIVED)), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_checkouts_are_rolled_back() {
    let config = OrderingConfig { reservation_ttl: Duration::from_secs(1) };
    let shop = shop_with(config).await;
    shop.product(SKU, 10).await;

    // A checkout stops while the provider holds the charge (the process died), twice.
    let stuck = |units: i64| {
        let shop = shop.clone();
        async move {
            let customer = Uuid::now_v7();
            let cart = shop.cart_of(customer, &[(SKU, units)]).await;
            let running = {
                let shop = shop.clone();
                tokio::spawn(async move { shop.checkout(checkout(customer, cart, "key", HELD)).await })
            };
            let order = shop.wait_for(customer, OrderStatus::StockReserved).await;
            running.abort();
            order
        }
    };

    // Inventory lets the first one's reservation expire; ordering hears of it and cancels.
    let expired = stuck(2).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(shop.inventory.release_expired(&ctx()).await.unwrap(), 1);
    let news = outbox::pending(&shop.inventory_db, 1000)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.event_type == inventory_events::RESERVATION_EXPIRED)
        .unwrap();
    assert_eq!(news.data_as::<ReservationChanged>().unwrap().reference, expired.id.to_string());
    shop.deliver(RESERVATIONS, &news).await.unwrap();
    shop.deliver(RESERVATIONS, &news).await.unwrap();
    let order = shop.order(expired.id).await;
    assert_eq!(order.status, OrderStatus::Cancelled);
    assert_eq!(order.cancellation_reason.as_deref(), Some("reservation expired before payment"));
    assert_eq!(order.timeline.last().unwrap().actor, "system");
    assert_eq!(shop.events_of(expired.id).await, [events::ORDER_PLACED, events::ORDER_CANCELLED]);

    // The sweeper finds the second one before its reservation expires, and releases it.
    let stale = stuck(3).await;
    assert_eq!(shop.ordering.cancel_stale_checkouts(&ctx()).await.unwrap(), 0, "not stale yet");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(shop.ordering.cancel_stale_checkouts(&ctx()).await.unwrap(), 1);
    let order = shop.order(stale.id).await;
    assert_eq!(order.status, OrderStatus::Cancelled);
    assert_eq!(order.cancellation_reason.as_deref(), Some("checkout did not complete in time"));
    let reservation = shop.inventory.get_reservation(&ctx(), stale.reservation_id.unwrap()).await.unwrap();
    assert_eq!(reservation.status, ReservationStatus::Released);
    assert_eq!(shop.available(SKU).await, (10, 0));
    assert_eq!(shop.ordering.cancel_stale_checkouts(&ctx()).await.unwrap(), 0);

    // A reservation expiring under an order already past it is ignored.
    let late = EventEnvelope::new(
        &RequestContext::system(),
        "inventory",
        inventory_events::RESERVATION_EXPIRED,
        ReservationChanged {
            reservation_id: Uuid::now_v7(),
            reference: "cart-123".into(),
            status: ReservationStatus::Expired,
            lines: vec![],
        },
    );
    shop.deliver(RESERVATIONS, &late).await.unwrap();
    assert_eq!(shop.payment.charges(), 0);
}

#[tokio::test]
async fn staff_search_orders_by_status_customer_and_text() {
    let shop = shop().await;
    shop.product(SKU, 10).await;
    let (ann, first) = shop.confirmed(SKU, 1).await;
    let (_, second) = shop.confirmed(SKU, 1).await;
    let all = |filter: OrderFilter| {
        let shop = shop.clone();
        async move {
            let page = shop.ordering.search_orders(&ctx(), filter, PageRequest::default()).await.unwrap();
            (page.total, page.items.into_iter().map(|o| o.number).collect::<Vec<_>>())
        }
    };
    assert_eq!(
        all(OrderFilter::default()).await,
        (2, vec![second.number.clone(), first.number.clone()]),
        "newest first"
    );
    assert_eq!(all(OrderFilter { customer_id: Some(ann), ..Default::default() }).await.1, [first.number.as_str()]);
    assert_eq!(
        all(OrderFilter { q: Some("co-000002".into()), ..Default::default() }).await.1,
        [second.number.as_str()]
    );
    let email = first.email.to_uppercase();
    assert_eq!(all(OrderFilter { q: Some(email), ..Default::default() }).await.1, [first.number.as_str()]);
    assert_eq!(all(OrderFilter { q: Some("%".into()), ..Default::default() }).await.0, 0, "wildcards are literal");
    assert_eq!(all(OrderFilter { channel: Some("store".into()), ..Default::default() }).await.0, 0);
    let placed = |from, to| OrderFilter { placed_from: from, placed_to: to, ..Default::default() };
    assert_eq!(all(placed(Some(second.created_at), None)).await.1, [second.number.as_str()]);
    assert_eq!(all(placed(None, Some(second.created_at))).await.1, [first.number.as_str()]);

    let bad = shop
        .ordering
        .search_orders(&ctx(), placed(Some(second.created_at), Some(first.created_at)), PageRequest::default())
        .await;
    assert_eq!(refusal(bad).2, ["placed_to"]);
    let bad = shop.ordering.search_orders(&ctx(), OrderFilter::default(), PageRequest { page: 0, per_page: 10 }).await;
    assert_eq!(refusal(bad).2, ["page"]);
    let mine = shop.ordering.customer_orders(&ctx(), ann, PageRequest::default()).await.unwrap();
    assert_eq!((mine.total, mine.items[0].id), (1, first.id));
}

#[tokio::test]
async fn daily_sales_count_paid_orders_and_their_refunds_apart_from_cancelled_ones() {
    let shop = shop().await;
    shop.product(SKU, 20).await;
    let (_, first) = shop.confirmed(SKU, 2).await;
    let (_, second) = shop.confirmed(SKU, 1).await;
    let customer = Uuid::now_v7();
    let cart = shop.cart_of(customer, &[(SKU, 1)]).await;
    refusal(shop.checkout(checkout(customer, cart, "declined", test_cards::DECLINED_INSUFFICIENT_FUNDS)).await);
    let refund = RefundInput { amount: Some(500), restock: vec![], reason: None };
    shop.ordering.refund(&ctx(), second.id, refund).await.unwrap();

    let today = first.created_at.date_naive();
    let midnight = today.and_hms_opt(0, 0, 0).unwrap().and_utc();
    let query = |channel: Option<&str>| SalesQuery {
        from: midnight,
        to: midnight + chrono::Duration::days(1),
        channel: channel.map(str::to_string),
    };
    let days = shop.ordering.daily_sales(&ctx(), query(None)).await.unwrap();
    assert_eq!(
        days,
        [DailySales {
            day: today.format("%Y-%m-%d").to_string(),
            channel: "online".into(),
            orders: 2,
            gross: eur(first.totals.gross.amount + second.totals.gross.amount),
            refunded: eur(500),
            cancelled: 1,
        }]
    );
    assert!(shop.ordering.daily_sales(&ctx(), query(Some("store"))).await.unwrap().is_empty());
    let yesterday = SalesQuery { from: midnight - chrono::Duration::days(1), to: midnight, channel: None };
    assert!(shop.ordering.daily_sales(&ctx(), yesterday).await.unwrap().is_empty());

    let backwards = SalesQuery { from: midnight, to: midnight, channel: None };
    assert_eq!(refusal(shop.ordering.daily_sales(&ctx(), backwards).await).2, ["to"]);
    let too_long = SalesQuery { from: midnight, to: midnight + chrono::Duration::days(400), channel: None };
    assert_eq!(refusal(shop.ordering.daily_sales(&ctx(), too_long).await).2, ["to"]);
}
