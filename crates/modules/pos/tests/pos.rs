//! The point of sale against real databases (SQLite, or PostgreSQL with
//! `COMPTOIR_TEST_BACKEND=postgres`) and the real catalog, inventory, payment and billing modules,
//! each on its own database: prices come from the catalog's `store` channel, units really leave
//! the store's shelf (and no other), cash and cards go through the payment module's `cash` and
//! `test` providers, and tax is billing's 20 % French VAT. The only stand-in wraps payment to lose
//! an answer, as a network would, to show that a retry never charges twice.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use comptoir_billing::{BillingConfig, BillingModule};
use comptoir_catalog::CatalogModule;
use comptoir_contracts::address::PostalAddress;
use comptoir_contracts::billing::{BillingPort, ChannelTaxMode, NewTaxRule, Party};
use comptoir_contracts::catalog::{CatalogPort, NewProduct, NewVariant, PriceInput};
use comptoir_contracts::identity::SellerDirectory;
use comptoir_contracts::inventory::events as inventory_events;
use comptoir_contracts::inventory::{
    InventoryPort, LocationKind, MovementFilter, MovementKind, NewLocation, ReceiveStock,
};
use comptoir_contracts::payment::{ChargeRequest, Payment, PaymentPort, PaymentStatus, RefundRequest, test_cards};
use comptoir_contracts::pos::events::{self, ReturnCompleted, SaleCompleted};
use comptoir_contracts::pos::*;
use comptoir_inventory::InventoryModule;
use comptoir_kernel::{Actor, Currency, Error, EventEnvelope, Money, Page, PageRequest, RequestContext, Result, time};
use comptoir_payment::{PaymentConfig, PaymentModule};
use comptoir_pos::{MIGRATIONS, PosModule, PosPorts};
use comptoir_storage::testing::{TestDb, open};
use comptoir_storage::{Db, outbox, query};
use rust_decimal::Decimal;
use uuid::Uuid;

const STORE: &str = "paris-store";

fn ctx() -> RequestContext {
    RequestContext::new("corr-pos", Actor::user("staff-ann"))
}

fn eur(amount: i64) -> Money {
    Money::new(amount, Currency::EUR)
}

fn ann() -> Cashier {
    Cashier { id: Uuid::from_u128(1), name: "Ann".into() }
}

fn address(city: &str) -> PostalAddress {
    PostalAddress {
        name: format!("Comptoir {city}"),
        line1: "1 rue de Rivoli".into(),
        line2: None,
        city: city.into(),
        postal_code: "75001".into(),
        region: None,
        country: "FR".into(),
        phone: None,
    }
}

// ---- Stand-ins -------------------------------------------------------------------------------

struct Sellers(Uuid);

#[async_trait]
impl SellerDirectory for Sellers {
    async fn seller_exists(&self, _ctx: &RequestContext, id: Uuid) -> Result<bool> {
        Ok(id == self.0)
    }
}

/// The real payment module, whose next charge answer can be lost after the charge was made (a
/// timeout on the way back).
struct LossyPayment {
    payment: PaymentModule,
    lose_next_answer: AtomicBool,
}

#[async_trait]
impl PaymentPort for LossyPayment {
    async fn charge(&self, ctx: &RequestContext, request: ChargeRequest) -> Result<Payment> {
        let payment = self.payment.charge(ctx, request).await?;
        if self.lose_next_answer.swap(false, Ordering::SeqCst) {
            return Err(Error::unavailable("the payment service did not answer in time"));
        }
        Ok(payment)
    }
    async fn refund(&self, ctx: &RequestContext, request: RefundRequest) -> Result<Payment> {
        self.payment.refund(ctx, request).await
    }
    async fn get_payment(&self, ctx: &RequestContext, id: Uuid) -> Result<Payment> {
        self.payment.get_payment(ctx, id).await
    }
    async fn payments_for_order(&self, ctx: &RequestContext, order_id: Uuid) -> Result<Vec<Payment>> {
        self.payment.payments_for_order(ctx, order_id).await
    }
    async fn list_payments(&self, ctx: &RequestContext, page: PageRequest) -> Result<Page<Payment>> {
        self.payment.list_payments(ctx, page).await
    }
    async fn provider_webhook(&self, ctx: &RequestContext, provider: &str, signature: &str, body: &[u8]) -> Result<()> {
        self.payment.provider_webhook(ctx, provider, signature, body).await
    }
}

// ---- The shop --------------------------------------------------------------------------------

struct Shop {
    /// The five modules' databases, alive as long as the shop.
    _dbs: Vec<TestDb>,
    db: Db,
    pos: PosModule,
    catalog: CatalogModule,
    catalog_db: Db,
    inventory: InventoryModule,
    inventory_db: Db,
    payment: Arc<LossyPayment>,
    billing: BillingModule,
    seller: Uuid,
}

/// A shop with a central warehouse, two stores (Paris set up for selling, Lyon not yet), 20 %
/// VAT in France, prices including tax.
async fn shop() -> Shop {
    let seller = Uuid::now_v7();
    let catalog_db = open("catalog", &comptoir_catalog::MIGRATIONS).await;
    let catalog = CatalogModule::new(catalog_db.db.clone(), Arc::new(Sellers(seller)));
    let inventory_db = open("inventory", &comptoir_inventory::MIGRATIONS).await;
    let inventory = InventoryModule::new(inventory_db.db.clone());
    let payment_db = open("payment", &comptoir_payment::MIGRATIONS).await;
    let payment = Arc::new(LossyPayment {
        payment: PaymentModule::new(payment_db.db.clone(), PaymentConfig { webhook_secret: String::new() }),
        lose_next_answer: AtomicBool::new(false),
    });
    let billing_db = open("billing", &comptoir_billing::MIGRATIONS).await;
    let seller_party = Party { name: "Comptoir".into(), email: None, address: None };
    let billing = BillingModule::new(billing_db.db.clone(), BillingConfig { seller: seller_party });
    let db = open("pos", &MIGRATIONS).await;
    let ports = PosPorts {
        catalog: Arc::new(catalog.clone()),
        inventory: Arc::new(inventory.clone()),
        payment: payment.clone(),
        billing: Arc::new(billing.clone()),
    };
    let pos = PosModule::new(db.db.clone(), ports);

    for (code, kind) in
        [("central", LocationKind::Warehouse), (STORE, LocationKind::Store), ("lyon-store", LocationKind::Store)]
    {
        let location = NewLocation { code: code.into(), name: code.into(), kind };
        inventory.create_location(&ctx(), location).await.unwrap();
    }
    let vat = NewTaxRule { country: "FR".into(), region: None, rate: Decimal::new(20, 2), label: "VAT 20%".into() };
    billing.create_tax_rule(&ctx(), vat).await.unwrap();
    let input = StoreInput {
        location: STORE.into(),
        name: "Comptoir Paris".into(),
        address: address("Paris"),
        channel: None,
        currency: None,
    };
    pos.upsert_store(&ctx(), input).await.unwrap();
    Shop {
        db: db.db.clone(),
        catalog_db: catalog_db.db.clone(),
        inventory_db: inventory_db.db.clone(),
        _dbs: vec![catalog_db, inventory_db, payment_db, billing_db, db],
        pos,
        catalog,
        inventory,
        payment,
        billing,
        seller,
    }
}

fn sale(lines: &[(&str, i64)], payment: TenderInput) -> NewSale {
    NewSale {
        location: STORE.into(),
        lines: lines
            .iter()
            .map(|(sku, quantity)| SaleLineInput { sku: sku.to_string(), quantity: *quantity })
            .collect(),
        payment,
    }
}

fn cash(tendered: i64) -> TenderInput {
    TenderInput::Cash { tendered }
}

fn card(token: &str) -> TenderInput {
    TenderInput::Card { token: token.into() }
}

fn fields(e: &Error) -> Vec<&str> {
    e.field_errors().iter().map(|f| f.field.as_str()).collect()
}

impl Shop {
    /// A published product with one SKU, priced `store_price` in the `store` channel (and
    /// `online_price` online, when given), known to inventory.
    async fn product(&self, sku: &str, name: &str, store_price: Option<i64>, online_price: Option<i64>) -> Uuid {
        let mut prices = Vec::new();
        for (channel, price) in [("store", store_price), ("online", online_price)] {
            if let Some(amount) = price {
                prices.push(PriceInput { channel: channel.into(), amount, currency: Currency::EUR });
            }
        }
        let variant = NewVariant { sku: sku.into(), options: BTreeMap::new(), weight_grams: None, prices };
        let input = NewProduct {
            seller_id: self.seller,
            name: name.into(),
            slug: None,
            description: String::new(),
            category_ids: vec![],
            attributes: BTreeMap::new(),
            variants: vec![variant],
        };
        let product = self.catalog.create_product(&ctx(), input).await.unwrap();
        self.catalog.publish(&ctx(), product.id).await.unwrap();
        // Inventory learns the SKU from the catalog's events, as the bus would deliver them.
        let skus = self.inventory.consumers().into_iter().find(|c| c.name == comptoir_inventory::CATALOG_SKUS).unwrap();
        for event in outbox::pending(&self.catalog_db, 1000).await.unwrap() {
            skus.handler.handle(&event).await.unwrap();
        }
        product.id
    }

    async fn receive(&self, sku: &str, location: &str, quantity: i64) {
        let input = ReceiveStock { sku: sku.into(), location: location.into(), quantity, reference: None };
        self.inventory.receive(&ctx(), input).await.unwrap();
    }

    /// A tee shirt at 24.00 and a mug at 12.50, 5 and 2 of them at the Paris store, 50 of each
    /// at the central warehouse.
    async fn stocked(&self) {
        self.product("TEE", "Tee shirt", Some(2400), Some(2500)).await;
        self.product("MUG", "Mug", Some(1250), None).await;
        for (sku, here) in [("TEE", 5), ("MUG", 2)] {
            self.receive(sku, STORE, here).await;
            self.receive(sku, "central", 50).await;
        }
    }

    async fn sell(&self, key: &str, sale: NewSale) -> Result<Sale> {
        self.pos.sell(&ctx(), Sell { idempotency_key: key.into(), cashier: ann(), sale }).await
    }

    async fn take_return(&self, key: &str, sale_id: Uuid, lines: &[(&str, i64)], restock: bool) -> Result<StoreReturn> {
        let input = NewStoreReturn {
            lines: lines
                .iter()
                .map(|(sku, quantity)| SaleLineInput { sku: sku.to_string(), quantity: *quantity })
                .collect(),
            reason: "changed mind".into(),
            restock,
        };
        self.pos.take_return(&ctx(), TakeReturn { idempotency_key: key.into(), cashier: ann(), sale_id, input }).await
    }

    /// (on hand, reserved) of `sku` at `location`.
    async fn shelf(&self, sku: &str, location: &str) -> (i64, i64) {
        let stock = self.inventory.stock(&ctx(), sku).await.unwrap();
        stock.levels.iter().find(|l| l.location == location).map_or((0, 0), |l| (l.on_hand, l.reserved))
    }

    async fn payments(&self, sale: Uuid) -> Vec<Payment> {
        self.payment.payment.payments_for_order(&ctx(), sale).await.unwrap()
    }

    async fn all_payments(&self) -> u64 {
        self.payment.payment.list_payments(&ctx(), PageRequest::default()).await.unwrap().total
    }

    async fn events(&self, event_type: &str) -> Vec<EventEnvelope> {
        outbox::pending(&self.db, 10_000).await.unwrap().into_iter().filter(|e| e.event_type == event_type).collect()
    }

    async fn inventory_events(&self, event_type: &str) -> Vec<EventEnvelope> {
        let events = outbox::pending(&self.inventory_db, 10_000).await.unwrap();
        events.into_iter().filter(|e| e.event_type == event_type).collect()
    }

    async fn sales(&self) -> Page<Sale> {
        self.pos.list_sales(&ctx(), SaleFilter::default(), PageRequest::default()).await.unwrap()
    }

    /// Makes every sale attempt look untouched for an hour, as if its till had crashed.
    async fn age_attempts(&self) {
        let past = time::to_db(&(time::now() - chrono::TimeDelta::hours(1)));
        let mut uow = self.db.begin().await.unwrap();
        query("UPDATE sales SET updated_at = $1 WHERE status IN ('pending', 'reserved')")
            .bind(past)
            .execute(&mut *uow)
            .await
            .unwrap();
        uow.commit().await.unwrap();
    }
}

// ---- Stores and scanning ---------------------------------------------------------------------

#[tokio::test]
async fn stores_are_inventory_store_locations_selling_a_catalog_channel() {
    let shop = shop().await;
    let stores = shop.pos.list_stores(&ctx()).await.unwrap();
    assert_eq!(stores.len(), 1);
    let paris = &stores[0];
    assert_eq!(
        (paris.location.as_str(), paris.name.as_str(), paris.channel.as_str(), paris.currency),
        (STORE, "Comptoir Paris", "store", Currency::EUR)
    );

    // Changing it keeps when it was set up.
    let input = StoreInput {
        location: STORE.into(),
        name: "Comptoir Rivoli".into(),
        address: address("Paris"),
        channel: Some("store".into()),
        currency: Some(Currency::EUR),
    };
    let changed = shop.pos.upsert_store(&ctx(), input).await.unwrap();
    assert_eq!((changed.name.as_str(), changed.created_at), ("Comptoir Rivoli", paris.created_at));
    assert!(changed.updated_at >= paris.updated_at);

    let input = |location: &str, channel: Option<&str>, currency: Option<Currency>| StoreInput {
        location: location.into(),
        name: "Somewhere".into(),
        address: address("Lyon"),
        channel: channel.map(str::to_string),
        currency,
    };
    let e = shop.pos.upsert_store(&ctx(), input("central", None, None)).await.unwrap_err();
    assert_eq!((e.status(), fields(&e)), (422, vec!["location"]));
    assert!(e.field_errors()[0].message.contains("warehouse"), "{e:?}");
    let e = shop.pos.upsert_store(&ctx(), input("nowhere", None, None)).await.unwrap_err();
    assert_eq!((e.status(), fields(&e)), (422, vec!["location"]));
    let e = shop.pos.upsert_store(&ctx(), input("lyon-store", Some("market"), None)).await.unwrap_err();
    assert_eq!((e.status(), fields(&e)), (422, vec!["channel"]));
    let e = shop.pos.upsert_store(&ctx(), input("lyon-store", None, Some(Currency::USD))).await.unwrap_err();
    assert_eq!((e.status(), fields(&e)), (422, vec!["currency"]));
    let mut bad = input(" ", None, None);
    bad.name = String::new();
    bad.address.country = "France".into();
    let e = shop.pos.upsert_store(&ctx(), bad).await.unwrap_err();
    assert_eq!(fields(&e), ["location", "name", "address.country"]);
    assert_eq!(shop.pos.list_stores(&ctx()).await.unwrap().len(), 1, "nothing refused was set up");

    // A store may sell the online channel's prices.
    let lyon = shop.pos.upsert_store(&ctx(), input("lyon-store", Some("online"), None)).await.unwrap();
    assert_eq!((lyon.channel.as_str(), lyon.currency), ("online", Currency::EUR));
    let codes: Vec<String> = shop.pos.list_stores(&ctx()).await.unwrap().into_iter().map(|s| s.location).collect();
    assert_eq!(codes, ["lyon-store", STORE]);
}

#[tokio::test]
async fn a_scan_prices_the_sku_for_the_store_and_counts_its_shelf() {
    let shop = shop().await;
    shop.stocked().await;
    let product = shop.product("CAP", "Cap", None, Some(900)).await;

    let tee = shop.pos.scan(&ctx(), STORE, "TEE").await.unwrap();
    assert_eq!((tee.product_name.as_str(), tee.price, tee.available_here), ("Tee shirt", eur(2400), 5));
    let mug = shop.pos.scan(&ctx(), STORE, "MUG").await.unwrap();
    assert_eq!(mug.available_here, 2, "the warehouse's 50 are not on this shelf");

    // A SKU only sold online, or unknown, is not for sale here; nor is anything at a warehouse.
    let e = shop.pos.scan(&ctx(), STORE, "CAP").await.unwrap_err();
    assert!(matches!(&e, Error::NotFound { resource: "sku", id } if id == "CAP"), "{e:?}");
    assert_eq!(shop.pos.scan(&ctx(), STORE, "GHOST").await.unwrap_err().status(), 404);
    let e = shop.pos.scan(&ctx(), "central", "TEE").await.unwrap_err();
    assert!(matches!(&e, Error::NotFound { resource: "store", .. }), "{e:?}");

    // Priced in a store selling online prices, never stocked there.
    let input = StoreInput {
        location: "lyon-store".into(),
        name: "Lyon".into(),
        address: address("Lyon"),
        channel: Some("online".into()),
        currency: None,
    };
    shop.pos.upsert_store(&ctx(), input).await.unwrap();
    let cap = shop.pos.scan(&ctx(), "lyon-store", "CAP").await.unwrap();
    assert_eq!((cap.product_id, cap.price, cap.available_here), (product, eur(900), 0));
}

// ---- Selling ---------------------------------------------------------------------------------

#[tokio::test]
async fn a_cash_sale_takes_the_store_units_gives_change_and_prints_a_receipt() {
    let shop = shop().await;
    shop.stocked().await;

    let sold = shop.sell("till-1", sale(&[("TEE", 1), ("MUG", 1), ("TEE", 1)], cash(7000))).await.unwrap();
    assert_eq!(
        (sold.number.as_str(), sold.location.as_str(), sold.channel.as_str()),
        ("PARIS-STORE-000001", STORE, "store")
    );
    assert_eq!((sold.status, sold.cashier.clone(), sold.refunded), (SaleStatus::Completed, ann(), eur(0)));
    // One line per SKU, in the order first scanned; 20 % VAT included in the prices.
    let lines: Vec<(&str, i64, Money, Money, Money, Money)> =
        sold.lines.iter().map(|l| (l.sku.as_str(), l.quantity, l.unit_price, l.net, l.tax, l.gross)).collect();
    assert_eq!(
        lines,
        [("TEE", 2, eur(2400), eur(4000), eur(800), eur(4800)), ("MUG", 1, eur(1250), eur(1042), eur(208), eur(1250))]
    );
    assert_eq!(sold.lines[0].tax_rate, Decimal::new(20, 2));
    assert_eq!(sold.totals, SaleTotals { net: eur(5042), tax: eur(1008), gross: eur(6050) });
    assert_eq!(
        (sold.tender.method, sold.tender.amount, sold.tender.tendered, sold.tender.change),
        (TenderMethod::Cash, eur(6050), Some(eur(7000)), Some(eur(950)))
    );

    // The units left the Paris shelf, and only it.
    assert_eq!(shop.shelf("TEE", STORE).await, (3, 0));
    assert_eq!(shop.shelf("MUG", STORE).await, (1, 0));
    assert_eq!(shop.shelf("TEE", "central").await, (50, 0));
    let filter = MovementFilter { sku: Some("TEE".into()), location: Some(STORE.into()) };
    let sold_units = shop.inventory.movements(&ctx(), filter, PageRequest::default()).await.unwrap().items.remove(0);
    assert_eq!((sold_units.kind, sold_units.delta), (MovementKind::Committed, -2));
    assert_eq!(sold_units.reference, Some(format!("pos:{}", sold.id)));

    // Cash is recorded by payment's cash provider.
    let payments = shop.payments(sold.id).await;
    assert_eq!(payments.len(), 1);
    assert_eq!(
        (payments[0].id, payments[0].provider.as_str(), payments[0].status, payments[0].captured),
        (sold.tender.payment_id, "cash", PaymentStatus::Captured, eur(6050))
    );

    // As read back, as announced.
    assert_eq!(shop.pos.get_sale(&ctx(), sold.id).await.unwrap(), sold);
    let completed = shop.events(events::SALE_COMPLETED).await;
    assert_eq!(completed.len(), 1);
    let payload: SaleCompleted = completed[0].data_as().unwrap();
    assert_eq!(payload.sale, sold);
    assert_eq!((completed[0].source.as_str(), completed[0].correlation_id.as_str()), ("pos", "corr-pos"));
    assert_eq!(completed[0].metadata.actor_id.as_deref(), Some("staff-ann"));

    let receipt = shop.pos.receipt(&ctx(), sold.id).await.unwrap();
    assert!(receipt.lines().all(|l| l.chars().count() <= 40), "{receipt}");
    let date = sold.created_at.format("%Y-%m-%d %H:%M UTC").to_string();
    for expected in [
        "             Comptoir Paris",
        "              75001 Paris",
        "Sale                  PARIS-STORE-000001",
        date.as_str(),
        "Served by Ann",
        "Tee shirt",
        "  2 x 24.00                        48.00",
        "Mug",
        "  1 x 12.50                        12.50",
        "Net                                50.42",
        "Tax 20%                            10.08",
        "TOTAL                          60.50 EUR",
        "Cash                               70.00",
        "Change                              9.50",
        "       Thank you for your visit!",
    ] {
        assert!(receipt.lines().any(|l| l == expected), "{expected:?} missing from\n{receipt}");
    }

    // Numbers follow each other per store.
    let next = shop.sell("till-2", sale(&[("MUG", 1)], cash(1250))).await.unwrap();
    assert_eq!((next.number.as_str(), next.tender.change), ("PARIS-STORE-000002", Some(eur(0))));
}

#[tokio::test]
async fn a_card_sale_is_charged_through_the_test_provider() {
    let shop = shop().await;
    shop.stocked().await;
    let sold = shop.sell("till-1", sale(&[("TEE", 2)], card(test_cards::APPROVED))).await.unwrap();
    assert_eq!(
        (sold.tender.method, sold.tender.amount, sold.tender.tendered, sold.tender.change),
        (TenderMethod::Card, eur(4800), None, None)
    );
    let payment = shop.payment.payment.get_payment(&ctx(), sold.tender.payment_id).await.unwrap();
    assert_eq!((payment.provider.as_str(), payment.order_id, payment.captured), ("test", sold.id, eur(4800)));
    assert_eq!(shop.shelf("TEE", STORE).await, (3, 0));
    let receipt = shop.pos.receipt(&ctx(), sold.id).await.unwrap();
    assert!(receipt.contains("\nCard                               48.00\n"), "{receipt}");
    assert!(!receipt.contains("Change"));
}

#[tokio::test]
async fn a_declined_card_leaves_the_stock_and_no_sale() {
    let shop = shop().await;
    shop.stocked().await;
    let declined = || sale(&[("TEE", 2)], card(test_cards::DECLINED_INSUFFICIENT_FUNDS));

    let e = shop.sell("till-1", declined()).await.unwrap_err();
    assert!(matches!(&e, Error::PaymentDeclined(_)), "{e:?}");
    assert_eq!((e.status(), e.to_string()), (402, "payment declined: insufficient funds".to_string()));
    assert_eq!(shop.shelf("TEE", STORE).await, (5, 0), "the reservation was released");
    assert_eq!(shop.inventory_events(inventory_events::RESERVATION_RELEASED).await.len(), 1);
    assert_eq!(shop.sales().await.total, 0);
    assert!(shop.events(events::SALE_COMPLETED).await.is_empty());

    // The same key gets the same answer, without asking again.
    let again = shop.sell("till-1", declined()).await.unwrap_err();
    assert_eq!((again.status(), again.to_string()), (402, e.to_string()));
    assert_eq!(shop.all_payments().await, 1, "one declined attempt, not two");

    // Another card, under a new key, goes through.
    let sold = shop.sell("till-2", sale(&[("TEE", 2)], card(test_cards::APPROVED))).await.unwrap();
    assert_eq!((sold.number.as_str(), shop.shelf("TEE", STORE).await), ("PARIS-STORE-000001", (3, 0)));
}

#[tokio::test]
async fn units_missing_at_the_store_are_a_conflict_even_with_a_full_warehouse() {
    let shop = shop().await;
    shop.stocked().await;
    let e = shop.sell("till-1", sale(&[("TEE", 1), ("MUG", 3)], card(test_cards::APPROVED))).await.unwrap_err();
    assert_eq!((e.status(), e.code(), fields(&e)), (409, "insufficient-stock", vec!["lines[1].quantity"]));
    assert_eq!(e.to_string(), "only 2 available for SKU MUG at paris-store");
    assert_eq!(shop.all_payments().await, 0, "nothing charged");
    assert_eq!((shop.shelf("TEE", STORE).await, shop.shelf("MUG", "central").await), ((5, 0), (50, 0)));
    assert_eq!(shop.sales().await.total, 0);
    // Remembered for the same key, even once the units are there.
    shop.receive("MUG", STORE, 5).await;
    let again = shop.sell("till-1", sale(&[("TEE", 1), ("MUG", 3)], card(test_cards::APPROVED))).await.unwrap_err();
    assert_eq!((again.code(), fields(&again)), ("insufficient-stock", vec!["lines[1].quantity"]));
    shop.sell("till-2", sale(&[("TEE", 1), ("MUG", 3)], card(test_cards::APPROVED))).await.unwrap();
}

#[tokio::test]
async fn bad_sales_are_refused_before_anything_is_taken() {
    let shop = shop().await;
    shop.stocked().await;
    shop.product("CAP", "Cap", None, Some(900)).await;
    shop.receive("CAP", STORE, 3).await;

    let e = shop.sell("k1", sale(&[("TEE", 1), ("GHOST", 1), ("CAP", 1)], cash(10_000))).await.unwrap_err();
    assert_eq!((e.status(), fields(&e)), (422, vec!["lines[1].sku", "lines[2].sku"]));
    assert!(e.field_errors()[1].message.contains("no price in channel store"), "{e:?}");
    let e = shop.sell("k1", sale(&[("TEE", 0), (" ", 1)], cash(-5))).await.unwrap_err();
    assert_eq!(fields(&e), ["lines[0].quantity", "lines[1].sku", "payment.tendered"]);
    let e = shop.sell("k1", sale(&[], card(" "))).await.unwrap_err();
    assert_eq!(fields(&e), ["lines", "payment.token"]);
    let too_many: Vec<(&str, i64)> = vec![("TEE", 1); MAX_SALE_LINES + 1];
    assert_eq!(fields(&shop.sell("k1", sale(&too_many, cash(1))).await.unwrap_err()), ["lines"]);

    // Cash that does not cover the total.
    let e = shop.sell("k1", sale(&[("TEE", 2)], cash(4799))).await.unwrap_err();
    assert_eq!((e.status(), fields(&e)), (422, vec!["payment.tendered"]));
    assert_eq!(e.field_errors()[0].message, "47.99 EUR does not cover the total of 48.00 EUR");

    // A location that is not a store set up for selling.
    for location in ["central", "lyon-store", "nowhere"] {
        let mut elsewhere = sale(&[("TEE", 1)], cash(2400));
        elsewhere.location = location.into();
        let e = shop.sell("k1", elsewhere).await.unwrap_err();
        assert_eq!((e.status(), fields(&e)), (422, vec!["location"]), "{location}");
    }
    let e = shop
        .pos
        .sell(
            &ctx(),
            Sell {
                idempotency_key: " ".into(),
                cashier: Cashier { id: Uuid::nil(), name: "".into() },
                sale: sale(&[("TEE", 1)], cash(2400)),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(fields(&e), ["idempotency_key", "cashier.name"]);

    // Nothing was reserved, charged or recorded, and the key is still free.
    assert_eq!((shop.shelf("TEE", STORE).await, shop.all_payments().await), ((5, 0), 0));
    assert!(shop.events(events::SALE_COMPLETED).await.is_empty());
    shop.sell("k1", sale(&[("TEE", 1)], cash(2400))).await.unwrap();
}

#[tokio::test]
async fn the_same_key_answers_the_same_sale_and_never_charges_twice() {
    let shop = shop().await;
    shop.stocked().await;
    let first = shop.sell("till-1", sale(&[("TEE", 2)], cash(5000))).await.unwrap();
    let again = shop.sell("till-1", sale(&[("TEE", 2)], cash(5000))).await.unwrap();
    assert_eq!(again, first);
    assert_eq!((shop.all_payments().await, shop.shelf("TEE", STORE).await), (1, (3, 0)));
    assert_eq!(shop.events(events::SALE_COMPLETED).await.len(), 1);

    // The key of another sale is not an answer for this one.
    let e = shop.sell("till-1", sale(&[("TEE", 1)], cash(5000))).await.unwrap_err();
    assert_eq!((e.status(), e.code(), fields(&e)), (409, "idempotency-key-reused", vec!["idempotency_key"]));

    // Retries racing each other still make one sale.
    let pos = Arc::new(shop.pos.clone());
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let pos = pos.clone();
            tokio::spawn(async move {
                let sell = Sell {
                    idempotency_key: "till-2".into(),
                    cashier: ann(),
                    sale: sale(&[("MUG", 1)], card("tok_visa")),
                };
                pos.sell(&ctx(), sell).await
            })
        })
        .collect();
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap().unwrap().id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every retry got the same sale");
    assert_eq!((shop.all_payments().await, shop.shelf("MUG", STORE).await), (2, (1, 0)));
}

#[tokio::test]
async fn a_sale_interrupted_half_way_resumes_on_retry_without_a_second_charge() {
    let shop = shop().await;
    shop.stocked().await;

    // The card was charged but the answer was lost: the till sees a 503.
    shop.payment.lose_next_answer.store(true, Ordering::SeqCst);
    let e = shop.sell("till-1", sale(&[("TEE", 2)], card(test_cards::APPROVED))).await.unwrap_err();
    assert_eq!(e.status(), 503);
    assert_eq!(shop.shelf("TEE", STORE).await, (5, 2), "still held for the sale");
    assert_eq!(shop.sales().await.total, 0, "not a sale yet");

    // The retry resumes: the same payment, the held units sold once.
    let sold = shop.sell("till-1", sale(&[("TEE", 2)], card(test_cards::APPROVED))).await.unwrap();
    let payments = shop.payments(sold.id).await;
    assert_eq!((payments.len(), payments[0].id), (1, sold.tender.payment_id));
    assert_eq!(shop.shelf("TEE", STORE).await, (3, 0));
    assert_eq!(shop.events(events::SALE_COMPLETED).await.len(), 1);

    // A provider that does not answer at all: the attempt waits for a retry with another card.
    let e = shop.sell("till-2", sale(&[("MUG", 1)], card(test_cards::PROVIDER_UNAVAILABLE))).await.unwrap_err();
    assert_eq!(e.status(), 503);
    let sold = shop.sell("till-2", sale(&[("MUG", 1)], card(test_cards::APPROVED))).await.unwrap();
    assert_eq!((sold.number.as_str(), shop.shelf("MUG", STORE).await), ("PARIS-STORE-000002", (1, 0)));
}

#[tokio::test]
async fn attempts_nobody_resumes_are_rolled_back_by_the_sweeper() {
    let shop = shop().await;
    shop.stocked().await;
    // One charged with its answer lost, one whose provider never answered; both then abandoned.
    shop.payment.lose_next_answer.store(true, Ordering::SeqCst);
    shop.sell("till-1", sale(&[("TEE", 2)], card(test_cards::APPROVED))).await.unwrap_err();
    shop.sell("till-2", sale(&[("MUG", 1)], card(test_cards::PROVIDER_UNAVAILABLE))).await.unwrap_err();
    assert_eq!((shop.shelf("TEE", STORE).await, shop.shelf("MUG", STORE).await), ((5, 2), (2, 1)));

    assert_eq!(shop.pos.cancel_stale_sales(&ctx()).await.unwrap(), 0, "not stale yet");
    shop.age_attempts().await;
    assert_eq!(shop.pos.cancel_stale_sales(&ctx()).await.unwrap(), 2);
    assert_eq!(shop.pos.cancel_stale_sales(&ctx()).await.unwrap(), 0);

    // Units back on the shelf, money back to the card, no sale.
    assert_eq!((shop.shelf("TEE", STORE).await, shop.shelf("MUG", STORE).await), ((5, 0), (2, 0)));
    let payments = shop.payment.payment.list_payments(&ctx(), PageRequest::default()).await.unwrap().items;
    assert_eq!(payments.len(), 1);
    assert_eq!((payments[0].status, payments[0].refunded), (PaymentStatus::Refunded, eur(4800)));
    assert_eq!(shop.sales().await.total, 0);
    let e = shop.sell("till-1", sale(&[("TEE", 2)], card(test_cards::APPROVED))).await.unwrap_err();
    assert_eq!((e.status(), e.code()), (409, "sale-abandoned"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn tills_racing_for_the_last_units_never_oversell() {
    let shop = shop().await;
    shop.stocked().await;
    let pos = Arc::new(shop.pos.clone());
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let pos = pos.clone();
            tokio::spawn(async move {
                let sell = Sell {
                    idempotency_key: format!("till-{i}"),
                    cashier: ann(),
                    sale: sale(&[("TEE", 1)], cash(2400)),
                };
                pos.sell(&ctx(), sell).await
            })
        })
        .collect();
    let (mut sold, mut refused) = (Vec::new(), 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(sale) => sold.push(sale.number),
            Err(e) if e.code() == "insufficient-stock" => refused += 1,
            Err(e) => panic!("unexpected error: {e:?}"),
        }
    }
    sold.sort();
    assert_eq!((sold.len(), refused), (5, 7));
    let expected: Vec<String> = (1..=5).map(|n| format!("PARIS-STORE-{n:06}")).collect();
    assert_eq!(sold, expected, "unique numbers");
    assert_eq!(shop.shelf("TEE", STORE).await, (0, 0));
    assert_eq!(shop.all_payments().await, 5);
}

// ---- Returns ---------------------------------------------------------------------------------

#[tokio::test]
async fn partial_then_full_returns_refund_exactly_what_was_paid_and_restock_the_store() {
    let shop = shop().await;
    // Prices before tax (a trade counter): 3 × 9.99 + 20 % is 35.96, which 3 does not divide.
    let mode = ChannelTaxMode { channel: "store".into(), prices_include_tax: false };
    shop.billing.set_channel_tax_mode(&ctx(), mode).await.unwrap();
    shop.product("TEE", "Tee shirt", Some(999), None).await;
    shop.product("MUG", "Mug", Some(1250), None).await;
    shop.receive("TEE", STORE, 3).await;
    shop.receive("MUG", STORE, 1).await;
    shop.receive("TEE", "central", 10).await;
    let sold = shop.sell("till-1", sale(&[("TEE", 3), ("MUG", 1)], card(test_cards::APPROVED))).await.unwrap();
    let tee = &sold.lines[0];
    assert_eq!((tee.net, tee.tax, tee.gross), (eur(2997), eur(599), eur(3596)));
    assert_eq!(sold.totals.gross, eur(3596 + 1500));
    assert_eq!(shop.shelf("TEE", STORE).await, (0, 0));

    // One tee back on the shelf: its share of the line, rounded down.
    let first = shop.take_return("ret-1", sold.id, &[("TEE", 1)], true).await.unwrap();
    assert_eq!((first.amount, first.sale_number.as_str(), first.restocked), (eur(1198), sold.number.as_str(), true));
    assert_eq!((first.location.as_str(), first.channel.as_str(), first.cashier.clone()), (STORE, "store", ann()));
    assert_eq!(
        first.lines[0],
        ReturnedLine { sku: "TEE".into(), product_id: tee.product_id, quantity: 1, amount: eur(1198) }
    );
    assert_eq!((shop.shelf("TEE", STORE).await, shop.shelf("TEE", "central").await), ((1, 0), (10, 0)));
    let filter = MovementFilter { sku: Some("TEE".into()), location: Some(STORE.into()) };
    let back = shop.inventory.movements(&ctx(), filter, PageRequest::default()).await.unwrap().items.remove(0);
    assert_eq!((back.kind, back.delta), (MovementKind::Returned, 1));
    assert_eq!(back.reference, Some(format!("pos-return:{}", first.id)));
    let after = shop.pos.get_sale(&ctx(), sold.id).await.unwrap();
    assert_eq!((after.status, after.refunded, after.lines[0].returned), (SaleStatus::PartlyReturned, eur(1198), 1));
    let payment = shop.payment.payment.get_payment(&ctx(), sold.tender.payment_id).await.unwrap();
    assert_eq!((payment.status, payment.refunded), (PaymentStatus::PartiallyRefunded, eur(1198)));

    // Retried: the same return, nothing refunded or restocked twice.
    let again = shop.take_return("ret-1", sold.id, &[("TEE", 1)], true).await.unwrap();
    assert_eq!(again, first);
    assert_eq!(shop.shelf("TEE", STORE).await, (1, 0));
    let e = shop.take_return("ret-1", sold.id, &[("TEE", 2)], true).await.unwrap_err();
    assert_eq!((e.status(), e.code()), (409, "idempotency-key-reused"));

    // Everything else, damaged: not restocked; the last units get the remainder.
    let rest = shop.take_return("ret-2", sold.id, &[("MUG", 1), ("TEE", 2)], false).await.unwrap();
    let amounts: Vec<(&str, Money)> = rest.lines.iter().map(|l| (l.sku.as_str(), l.amount)).collect();
    assert_eq!(amounts, [("MUG", eur(1500)), ("TEE", eur(2398))]);
    assert_eq!((rest.amount, rest.restocked), (eur(3898), false));
    assert_eq!((shop.shelf("TEE", STORE).await, shop.shelf("MUG", STORE).await), ((1, 0), (0, 0)));
    let after = shop.pos.get_sale(&ctx(), sold.id).await.unwrap();
    assert_eq!((after.status, after.refunded), (SaleStatus::Returned, sold.totals.gross));
    let payment = shop.payment.payment.get_payment(&ctx(), sold.tender.payment_id).await.unwrap();
    assert_eq!((payment.status, payment.refunded), (PaymentStatus::Refunded, sold.totals.gross));

    // Nothing more can come back.
    let e = shop.take_return("ret-3", sold.id, &[("TEE", 1)], true).await.unwrap_err();
    assert_eq!((e.status(), fields(&e)), (422, vec!["lines[0].quantity"]));

    let returns = shop.pos.returns_for_sale(&ctx(), sold.id).await.unwrap();
    assert_eq!(returns, [first.clone(), rest.clone()]);
    let announced: Vec<StoreReturn> = shop
        .events(events::RETURN_COMPLETED)
        .await
        .iter()
        .map(|e| e.data_as::<ReturnCompleted>().unwrap().store_return)
        .collect();
    assert_eq!(announced, [first, rest]);
    let raw = serde_json::to_value(&shop.events(events::RETURN_COMPLETED).await[0].data).unwrap();
    assert!(raw.get("return").is_some(), "the payload names it `return`: {raw}");

    let receipt = shop.pos.receipt(&ctx(), sold.id).await.unwrap();
    assert!(receipt.contains("  1 x Tee shirt                   -11.98\n"), "{receipt}");
    assert!(receipt.contains("\nRefunded                          -50.96\n"), "{receipt}");
}

#[tokio::test]
async fn a_cash_return_is_refunded_in_cash_and_bad_returns_change_nothing() {
    let shop = shop().await;
    shop.stocked().await;
    let sold = shop.sell("till-1", sale(&[("TEE", 2), ("MUG", 1)], cash(10_000))).await.unwrap();

    let e = shop.take_return("ret-1", sold.id, &[("TEE", 3)], true).await.unwrap_err();
    assert_eq!((e.status(), fields(&e)), (422, vec!["lines[0].quantity"]));
    assert!(e.field_errors()[0].message.contains("at most 2 of TEE"), "{e:?}");
    let e =
        shop.take_return("ret-1", sold.id, &[("MUG", 1), ("CAP", 1), ("TEE", 1), ("TEE", 2)], true).await.unwrap_err();
    assert_eq!((e.status(), fields(&e)), (422, vec!["lines[1].sku", "lines[2].quantity"]));
    let e = shop.take_return("ret-1", sold.id, &[("TEE", 0)], true).await.unwrap_err();
    assert_eq!(fields(&e), ["lines[0].quantity"]);
    let input = TakeReturn {
        idempotency_key: "ret-1".into(),
        cashier: ann(),
        sale_id: sold.id,
        input: NewStoreReturn { lines: vec![], reason: " ".into(), restock: true },
    };
    assert_eq!(fields(&shop.pos.take_return(&ctx(), input).await.unwrap_err()), ["lines", "reason"]);
    let e = shop.take_return("ret-1", Uuid::now_v7(), &[("TEE", 1)], true).await.unwrap_err();
    assert!(matches!(&e, Error::NotFound { resource: "sale", .. }), "{e:?}");
    assert!(shop.events(events::RETURN_COMPLETED).await.is_empty());
    assert!(shop.pos.returns_for_sale(&ctx(), sold.id).await.unwrap().is_empty());

    // The same key, now right: the cash provider gives the money back.
    let back = shop.take_return("ret-1", sold.id, &[("TEE", 2)], true).await.unwrap();
    assert_eq!(back.amount, eur(4800));
    let payment = shop.payment.payment.get_payment(&ctx(), sold.tender.payment_id).await.unwrap();
    assert_eq!((payment.provider.as_str(), payment.refunded), ("cash", eur(4800)));
    assert_eq!(shop.shelf("TEE", STORE).await, (5, 0));
    let after = shop.pos.get_sale(&ctx(), sold.id).await.unwrap();
    assert_eq!((after.status, after.lines[0].returned, after.lines[1].returned), (SaleStatus::PartlyReturned, 2, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn returns_racing_for_the_same_units_take_them_once() {
    let shop = shop().await;
    shop.stocked().await;
    let sold = shop.sell("till-1", sale(&[("TEE", 3)], card(test_cards::APPROVED))).await.unwrap();
    let pos = Arc::new(shop.pos.clone());
    let tasks: Vec<_> = (0..6)
        .map(|i| {
            let pos = pos.clone();
            tokio::spawn(async move {
                let input = NewStoreReturn {
                    lines: vec![SaleLineInput { sku: "TEE".into(), quantity: 1 }],
                    reason: "too small".into(),
                    restock: true,
                };
                let take = TakeReturn { idempotency_key: format!("ret-{i}"), cashier: ann(), sale_id: sold.id, input };
                pos.take_return(&ctx(), take).await
            })
        })
        .collect();
    let (mut taken, mut refused) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => taken += 1,
            Err(e) if e.status() == 422 => refused += 1,
            Err(e) => panic!("unexpected error: {e:?}"),
        }
    }
    assert_eq!((taken, refused), (3, 3));
    let after = shop.pos.get_sale(&ctx(), sold.id).await.unwrap();
    assert_eq!((after.status, after.refunded), (SaleStatus::Returned, eur(7200)));
    assert_eq!(shop.shelf("TEE", STORE).await, (5, 0));
}

// ---- Reading sales ---------------------------------------------------------------------------

#[tokio::test]
async fn sales_are_listed_newest_first_by_store_cashier_and_time() {
    let shop = shop().await;
    shop.stocked().await;
    let input = StoreInput {
        location: "lyon-store".into(),
        name: "Comptoir Lyon".into(),
        address: address("Lyon"),
        channel: None,
        currency: None,
    };
    shop.pos.upsert_store(&ctx(), input).await.unwrap();
    shop.receive("MUG", "lyon-store", 5).await;

    let first = shop.sell("k1", sale(&[("TEE", 1)], cash(2400))).await.unwrap();
    let bob = Cashier { id: Uuid::from_u128(2), name: "Bob".into() };
    let mut lyon = sale(&[("MUG", 1)], card("tok_visa"));
    lyon.location = "lyon-store".into();
    let second =
        shop.pos.sell(&ctx(), Sell { idempotency_key: "k2".into(), cashier: bob.clone(), sale: lyon }).await.unwrap();
    assert_eq!(second.number, "LYON-STORE-000001");
    let third = shop.sell("k3", sale(&[("MUG", 1)], cash(2000))).await.unwrap();
    // Attempts that failed are not sales.
    shop.sell("k4", sale(&[("TEE", 1)], card(test_cards::DECLINED_STOLEN))).await.unwrap_err();

    let list = |filter: SaleFilter, page: PageRequest| {
        let pos = shop.pos.clone();
        async move {
            let page = pos.list_sales(&ctx(), filter, page).await.unwrap();
            (page.items.iter().map(|s| s.id).collect::<Vec<_>>(), page.total)
        }
    };
    assert_eq!(list(SaleFilter::default(), PageRequest::default()).await, (vec![third.id, second.id, first.id], 3));
    let paris = SaleFilter { location: Some(STORE.into()), ..Default::default() };
    assert_eq!(list(paris, PageRequest::default()).await, (vec![third.id, first.id], 2));
    let by_bob = SaleFilter { cashier_id: Some(bob.id), ..Default::default() };
    assert_eq!(list(by_bob, PageRequest::default()).await, (vec![second.id], 1));
    let since_second = SaleFilter { from: Some(second.created_at), ..Default::default() };
    assert_eq!(list(since_second, PageRequest::default()).await, (vec![third.id, second.id], 2));
    let before_second = SaleFilter { to: Some(second.created_at), ..Default::default() };
    assert_eq!(list(before_second, PageRequest::default()).await, (vec![first.id], 1));
    assert_eq!(list(SaleFilter::default(), PageRequest::new(2, 2).unwrap()).await, (vec![first.id], 3));
    let e =
        shop.pos.list_sales(&ctx(), SaleFilter::default(), PageRequest { page: 1, per_page: 500 }).await.unwrap_err();
    assert_eq!(fields(&e), ["per_page"]);

    let page = shop.pos.list_sales(&ctx(), SaleFilter::default(), PageRequest::default()).await.unwrap();
    assert_eq!(page.items[1], second, "listed as read one by one");
    assert_eq!(shop.pos.get_sale(&ctx(), Uuid::now_v7()).await.unwrap_err().status(), 404);
    assert_eq!(shop.pos.receipt(&ctx(), Uuid::now_v7()).await.unwrap_err().status(), 404);
    assert_eq!(shop.pos.returns_for_sale(&ctx(), Uuid::now_v7()).await.unwrap_err().status(), 404);
    assert_eq!(shop.events(events::SALE_COMPLETED).await.len(), 3);
}
