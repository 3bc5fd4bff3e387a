//! The cart module against a real database (SQLite, or PostgreSQL when COMPTOIR_TEST_BACKEND=postgres),
//! with small stand-ins for the catalog and inventory ports (the only way the cart reaches those modules).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use comptoir_cart::{CartModule, MIGRATIONS};
use comptoir_contracts::cart::{AddLine, Cart, CartAccess, CartPort, CartStatus, NewCart, SetQuantity, events};
use comptoir_contracts::catalog::*;
use comptoir_contracts::inventory::*;
use comptoir_kernel::{Actor, Currency, Error, EventEnvelope, Money, Page, PageRequest, RequestContext, Result};
use comptoir_storage::{outbox, testing};
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Stand-ins for the other modules' ports.

fn not_used<T>() -> Result<T> {
    Err(Error::internal("not used by cart tests"))
}

struct Product {
    id: Uuid,
    name: String,
    /// Price per channel code.
    prices: HashMap<String, Money>,
}

#[derive(Default)]
struct FakeCatalog {
    products: Mutex<HashMap<String, Product>>,
}

impl FakeCatalog {
    fn put(&self, sku: &str, prices: &[(&str, Money)]) {
        let product = Product {
            id: Uuid::now_v7(),
            name: format!("Product {sku}"),
            prices: prices.iter().map(|(c, m)| (c.to_string(), *m)).collect(),
        };
        self.products.lock().unwrap().insert(sku.to_string(), product);
    }

    fn set_price(&self, sku: &str, channel: &str, price: Money) {
        self.products.lock().unwrap().get_mut(sku).unwrap().prices.insert(channel.to_string(), price);
    }
}

#[async_trait]
impl CatalogPort for FakeCatalog {
    async fn list_channels(&self, _ctx: &RequestContext) -> Result<Vec<Channel>> {
        Ok(vec![
            Channel { code: "online".into(), name: "Online shop".into(), currency: Currency::EUR },
            Channel { code: "us".into(), name: "US shop".into(), currency: Currency::USD },
        ])
    }

    async fn offer(&self, _ctx: &RequestContext, sku: &str, channel: &str) -> Result<SkuOffer> {
        let products = self.products.lock().unwrap();
        let product = products.get(sku).ok_or_else(|| Error::not_found("sku", sku))?;
        let price = product
            .prices
            .get(channel)
            .ok_or_else(|| Error::validation("sku", format!("no price in channel {channel}")))?;
        Ok(SkuOffer {
            sku: sku.to_string(),
            product_id: product.id,
            product_name: product.name.clone(),
            options: Default::default(),
            channel: channel.to_string(),
            price: *price,
        })
    }

    async fn create_product(&self, _: &RequestContext, _: NewProduct) -> Result<comptoir_contracts::catalog::Product> {
        not_used()
    }
    async fn update_product(
        &self,
        _: &RequestContext,
        _: Uuid,
        _: ProductPatch,
    ) -> Result<comptoir_contracts::catalog::Product> {
        not_used()
    }
    async fn delete_product(&self, _: &RequestContext, _: Uuid) -> Result<()> {
        not_used()
    }
    async fn add_variant(
        &self,
        _: &RequestContext,
        _: Uuid,
        _: NewVariant,
    ) -> Result<comptoir_contracts::catalog::Product> {
        not_used()
    }
    async fn set_prices(
        &self,
        _: &RequestContext,
        _: &str,
        _: Vec<PriceInput>,
    ) -> Result<comptoir_contracts::catalog::Product> {
        not_used()
    }
    async fn publish(&self, _: &RequestContext, _: Uuid) -> Result<comptoir_contracts::catalog::Product> {
        not_used()
    }
    async fn unpublish(&self, _: &RequestContext, _: Uuid) -> Result<comptoir_contracts::catalog::Product> {
        not_used()
    }
    async fn get_product(
        &self,
        _: &RequestContext,
        _: &str,
        _: Visibility,
    ) -> Result<comptoir_contracts::catalog::Product> {
        not_used()
    }
    async fn list_products(
        &self,
        _: &RequestContext,
        _: ProductFilter,
        _: Visibility,
        _: PageRequest,
    ) -> Result<Page<comptoir_contracts::catalog::Product>> {
        not_used()
    }
    async fn create_category(&self, _: &RequestContext, _: NewCategory) -> Result<Category> {
        not_used()
    }
    async fn category_tree(&self, _: &RequestContext) -> Result<Vec<CategoryNode>> {
        not_used()
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
}

#[derive(Default)]
struct FakeInventory {
    available: Mutex<HashMap<String, i64>>,
}

impl FakeInventory {
    fn set(&self, sku: &str, units: i64) {
        self.available.lock().unwrap().insert(sku.to_string(), units);
    }
}

#[async_trait]
impl InventoryPort for FakeInventory {
    async fn available(&self, _ctx: &RequestContext, skus: &[String]) -> Result<Vec<(String, i64)>> {
        let stock = self.available.lock().unwrap();
        Ok(skus.iter().map(|s| (s.clone(), stock.get(s).copied().unwrap_or(0))).collect())
    }

    async fn create_location(&self, _: &RequestContext, _: NewLocation) -> Result<Location> {
        not_used()
    }
    async fn list_locations(&self, _: &RequestContext, _: PageRequest) -> Result<Page<Location>> {
        not_used()
    }
    async fn receive(&self, _: &RequestContext, _: ReceiveStock) -> Result<SkuStock> {
        not_used()
    }
    async fn adjust(&self, _: &RequestContext, _: AdjustStock) -> Result<SkuStock> {
        not_used()
    }
    async fn stock(&self, _: &RequestContext, _: &str) -> Result<SkuStock> {
        not_used()
    }
    async fn movements(&self, _: &RequestContext, _: MovementFilter, _: PageRequest) -> Result<Page<Movement>> {
        not_used()
    }
    async fn set_low_stock_threshold(&self, _: &RequestContext, _: &str, _: Option<i64>) -> Result<SkuStock> {
        not_used()
    }
    async fn reserve(&self, _: &RequestContext, _: ReserveStock) -> Result<Reservation> {
        not_used()
    }
    async fn commit_reservation(&self, _: &RequestContext, _: Uuid) -> Result<Reservation> {
        not_used()
    }
    async fn release_reservation(&self, _: &RequestContext, _: Uuid) -> Result<Reservation> {
        not_used()
    }
    async fn get_reservation(&self, _: &RequestContext, _: Uuid) -> Result<Reservation> {
        not_used()
    }
    async fn release_expired(&self, _: &RequestContext) -> Result<u64> {
        not_used()
    }
    async fn low_stock(&self, _: &RequestContext, _: PageRequest) -> Result<Page<SkuStock>> {
        not_used()
    }
    async fn restock(&self, _: &RequestContext, _: RestockUnits) -> Result<SkuStock> {
        not_used()
    }
}

// ---------------------------------------------------------------------------------------------
// Fixture.

fn eur(amount: i64) -> Money {
    Money::new(amount, Currency::EUR)
}

struct Shop {
    db: testing::TestDb,
    carts: CartModule,
    catalog: Arc<FakeCatalog>,
    inventory: Arc<FakeInventory>,
}

/// MUG 12.50 EUR (10 in stock), TEE 20.00 EUR (3), SOCK 4.00 EUR (5); ODD is priced in USD in the
/// EUR channel, NOPRICE has no online price, BIG costs so much that three overflow the totals.
async fn shop() -> Shop {
    let db = testing::open("cart", &MIGRATIONS).await;
    let catalog = Arc::new(FakeCatalog::default());
    let inventory = Arc::new(FakeInventory::default());
    for (sku, price, stock) in [("MUG", 1250, 10), ("TEE", 2000, 3), ("SOCK", 400, 5), ("BIG", i64::MAX / 2, 10)] {
        catalog.put(sku, &[("online", eur(price)), ("us", Money::new(price, Currency::USD))]);
        inventory.set(sku, stock);
    }
    catalog.put("ODD", &[("online", Money::new(500, Currency::USD))]);
    catalog.put("NOPRICE", &[("us", Money::new(500, Currency::USD))]);
    inventory.set("ODD", 10);
    inventory.set("NOPRICE", 10);
    let carts = CartModule::new(db.clone(), catalog.clone(), inventory.clone());
    Shop { db, carts, catalog, inventory }
}

fn ctx() -> RequestContext {
    RequestContext::new("corr-cart-test", Actor::user("tester"))
}

fn add(sku: &str, quantity: i64) -> AddLine {
    AddLine { sku: sku.into(), quantity }
}

fn set(quantity: i64) -> SetQuantity {
    SetQuantity { quantity }
}

impl Shop {
    /// A new anonymous cart and the access its token gives.
    async fn anonymous(&self) -> (Cart, CartAccess) {
        let cart = self.carts.create_cart(&ctx(), None, NewCart::default()).await.unwrap();
        let access = CartAccess::Token(cart.token.clone().expect("anonymous carts get a token"));
        (cart, access)
    }

    async fn events(&self, event_type: &str) -> Vec<EventEnvelope> {
        let all = outbox::pending(&self.db, 100).await.unwrap();
        all.into_iter().filter(|e| e.event_type == event_type).collect()
    }
}

fn quantities(cart: &Cart) -> Vec<(&str, i64)> {
    cart.lines.iter().map(|l| (l.sku.as_str(), l.quantity)).collect()
}

fn assert_field(err: &Error, status: u16, field: &str) {
    assert_eq!(err.status(), status, "{err:?}");
    assert_eq!(err.field_errors().first().map(|f| f.field.as_str()), Some(field), "{err:?}");
}

// ---------------------------------------------------------------------------------------------
// Creating and reaching carts.

#[tokio::test]
async fn an_anonymous_cart_is_reached_with_its_token_only() {
    let shop = shop().await;
    let (cart, access) = shop.anonymous().await;
    let token = cart.token.clone().unwrap();
    assert_eq!((cart.channel.as_str(), cart.currency, cart.status), ("online", Currency::EUR, CartStatus::Active));
    assert_eq!(cart.customer_id, None);
    assert_eq!(token.len(), 43);

    let read = shop.carts.get_cart(&ctx(), cart.id, &access).await.unwrap();
    assert_eq!(read.id, cart.id);
    assert_eq!(read.token, None, "the token is handed out once");
    assert!(shop.carts.get_cart(&ctx(), cart.id, &CartAccess::Staff).await.is_ok());

    // Only the hash of the token is stored.
    let stored: String = comptoir_storage::query_scalar("SELECT token_hash FROM carts WHERE id = $1")
        .bind(cart.id.to_string())
        .fetch_one(shop.db.reader())
        .await
        .unwrap();
    assert_ne!(stored, token);
    assert_eq!(stored.len(), 64);

    for access in [CartAccess::Token("not-the-token".into()), CartAccess::Customer(Uuid::now_v7())] {
        let err = shop.carts.get_cart(&ctx(), cart.id, &access).await.unwrap_err();
        assert!(matches!(err, Error::NotFound { resource: "cart", .. }), "{err:?}");
    }
    let err = shop.carts.get_cart(&ctx(), Uuid::now_v7(), &access).await.unwrap_err();
    assert_eq!(err.status(), 404);
    let err = shop.carts.add_line(&ctx(), cart.id, &CartAccess::Token("nope".into()), add("MUG", 1)).await.unwrap_err();
    assert_eq!(err.status(), 404);
}

#[tokio::test]
async fn the_channel_sets_the_currency_and_must_exist() {
    let shop = shop().await;
    let us = shop.carts.create_cart(&ctx(), None, NewCart { channel: Some("us".into()) }).await.unwrap();
    assert_eq!((us.channel.as_str(), us.currency), ("us", Currency::USD));
    for bad in ["mars", " "] {
        let err = shop.carts.create_cart(&ctx(), None, NewCart { channel: Some(bad.into()) }).await.unwrap_err();
        assert_field(&err, 422, "channel");
    }
    assert_eq!(shop.events(events::CART_CREATED).await.len(), 1, "refused carts leave no event");
}

#[tokio::test]
async fn a_customer_gets_their_active_cart_back_and_nobody_else_sees_it() {
    let shop = shop().await;
    let ann = Uuid::now_v7();
    let bob = Uuid::now_v7();
    let first = shop.carts.create_cart(&ctx(), Some(ann), NewCart::default()).await.unwrap();
    assert_eq!(first.token, None, "customer carts have no token");
    assert_eq!(first.customer_id, Some(ann));
    shop.carts.add_line(&ctx(), first.id, &CartAccess::Customer(ann), add("MUG", 2)).await.unwrap();

    let again = shop.carts.create_cart(&ctx(), Some(ann), NewCart { channel: Some("online".into()) }).await.unwrap();
    assert_eq!(again.id, first.id);
    assert_eq!(quantities(&again), vec![("MUG", 2)]);
    let us = shop.carts.create_cart(&ctx(), Some(ann), NewCart { channel: Some("us".into()) }).await.unwrap();
    assert_ne!(us.id, first.id, "one active cart per channel");
    assert_eq!(shop.events(events::CART_CREATED).await.len(), 2);

    assert!(shop.carts.customer_cart(&ctx(), ann).await.unwrap().is_some());
    assert!(shop.carts.customer_cart(&ctx(), bob).await.unwrap().is_none());

    for access in [CartAccess::Customer(bob), CartAccess::Token("anything".into())] {
        let err = shop.carts.get_cart(&ctx(), first.id, &access).await.unwrap_err();
        assert_eq!(err.status(), 404);
        let err = shop.carts.add_line(&ctx(), first.id, &access, add("MUG", 1)).await.unwrap_err();
        assert_eq!(err.status(), 404);
    }
}

#[tokio::test]
async fn staff_may_read_a_cart_but_not_change_it() {
    let shop = shop().await;
    let ann = Uuid::now_v7();
    let cart = shop.carts.create_cart(&ctx(), Some(ann), NewCart::default()).await.unwrap();
    shop.carts.add_line(&ctx(), cart.id, &CartAccess::Customer(ann), add("MUG", 1)).await.unwrap();

    let read = shop.carts.get_cart(&ctx(), cart.id, &CartAccess::Staff).await.unwrap();
    assert_eq!(quantities(&read), vec![("MUG", 1)]);
    let staff = CartAccess::Staff;
    let errors = [
        shop.carts.add_line(&ctx(), cart.id, &staff, add("MUG", 1)).await.unwrap_err(),
        shop.carts.set_quantity(&ctx(), cart.id, &staff, "MUG", set(2)).await.unwrap_err(),
        shop.carts.remove_line(&ctx(), cart.id, &staff, "MUG").await.unwrap_err(),
    ];
    for err in errors {
        assert_eq!(err.status(), 403, "{err:?}");
    }
    let after = shop.carts.get_cart(&ctx(), cart.id, &CartAccess::Staff).await.unwrap();
    assert_eq!(quantities(&after), vec![("MUG", 1)]);
}

// ---------------------------------------------------------------------------------------------
// Lines and totals.

#[tokio::test]
async fn lines_are_added_increased_set_and_removed_with_totals() {
    let shop = shop().await;
    let (cart, access) = shop.anonymous().await;
    let id = cart.id;

    let cart = shop.carts.add_line(&ctx(), id, &access, add("MUG", 2)).await.unwrap();
    let line = &cart.lines[0];
    assert_eq!((line.product_name.as_str(), line.unit_price, line.line_total), ("Product MUG", eur(1250), eur(2500)));
    let cart = shop.carts.add_line(&ctx(), id, &access, add("MUG", 3)).await.unwrap();
    assert_eq!(quantities(&cart), vec![("MUG", 5)], "the same SKU adds to its line");
    let cart = shop.carts.add_line(&ctx(), id, &access, add(" TEE ", 1)).await.unwrap();
    assert_eq!(quantities(&cart), vec![("MUG", 5), ("TEE", 1)]);
    assert_eq!((cart.item_count, cart.subtotal, cart.total), (6, eur(5 * 1250 + 2000), eur(8250)));

    let cart = shop.carts.set_quantity(&ctx(), id, &access, "MUG", set(1)).await.unwrap();
    assert_eq!(quantities(&cart), vec![("MUG", 1), ("TEE", 1)]);
    let cart = shop.carts.remove_line(&ctx(), id, &access, "TEE").await.unwrap();
    assert_eq!(quantities(&cart), vec![("MUG", 1)]);
    assert_eq!((cart.item_count, cart.subtotal), (1, eur(1250)));

    let err = shop.carts.remove_line(&ctx(), id, &access, "TEE").await.unwrap_err();
    assert_eq!(err.status(), 404);
    let err = shop.carts.set_quantity(&ctx(), id, &access, "TEE", set(1)).await.unwrap_err();
    assert_eq!(err.status(), 404);

    let read = shop.carts.get_cart(&ctx(), id, &access).await.unwrap();
    assert_eq!(quantities(&read), vec![("MUG", 1)]);
    assert!(read.updated_at >= read.created_at);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_changes_to_one_cart_all_count() {
    let shop = shop().await;
    let (cart, access) = shop.anonymous().await;
    let adds = (0..8).map(|_| {
        let (carts, access) = (shop.carts.clone(), access.clone());
        tokio::spawn(async move { carts.add_line(&ctx(), cart.id, &access, add("MUG", 1)).await })
    });
    for add in adds.collect::<Vec<_>>() {
        add.await.unwrap().unwrap();
    }
    let read = shop.carts.get_cart(&ctx(), cart.id, &access).await.unwrap();
    assert_eq!(quantities(&read), vec![("MUG", 8)], "no add is lost to another");
    assert_eq!(shop.events(events::CART_UPDATED).await.len(), 8);
}

#[tokio::test]
async fn stock_caps_the_quantity_of_a_line() {
    let shop = shop().await;
    let (cart, access) = shop.anonymous().await;
    let err = shop.carts.add_line(&ctx(), cart.id, &access, add("MUG", 11)).await.unwrap_err();
    assert_field(&err, 409, "quantity");
    assert_eq!((err.code(), err.to_string().as_str()), ("insufficient-stock", "only 10 available"));

    shop.carts.add_line(&ctx(), cart.id, &access, add("MUG", 8)).await.unwrap();
    let err = shop.carts.add_line(&ctx(), cart.id, &access, add("MUG", 3)).await.unwrap_err();
    assert_field(&err, 409, "quantity");
    let err = shop.carts.set_quantity(&ctx(), cart.id, &access, "MUG", set(11)).await.unwrap_err();
    assert_field(&err, 409, "quantity");
    shop.inventory.set("MUG", 0);
    let err = shop.carts.add_line(&ctx(), cart.id, &access, add("MUG", 1)).await.unwrap_err();
    assert_eq!(err.to_string(), "only 0 available");

    let read = shop.carts.get_cart(&ctx(), cart.id, &access).await.unwrap();
    assert_eq!(quantities(&read), vec![("MUG", 8)], "refused changes write nothing");
    assert_eq!(shop.events(events::CART_UPDATED).await.len(), 1);
}

#[tokio::test]
async fn bad_quantities_and_skus_are_refused() {
    let shop = shop().await;
    let (cart, access) = shop.anonymous().await;
    for bad in [0, -1, 10_001] {
        let err = shop.carts.add_line(&ctx(), cart.id, &access, add("MUG", bad)).await.unwrap_err();
        assert_field(&err, 422, "quantity");
    }
    shop.carts.add_line(&ctx(), cart.id, &access, add("MUG", 1)).await.unwrap();
    for bad in [0, -5, 10_001] {
        let err = shop.carts.set_quantity(&ctx(), cart.id, &access, "MUG", set(bad)).await.unwrap_err();
        assert_field(&err, 422, "quantity");
    }

    let err = shop.carts.add_line(&ctx(), cart.id, &access, add("GHOST", 1)).await.unwrap_err();
    assert_eq!(err.status(), 404, "unknown SKU: catalog's 404 passes through");
    let err = shop.carts.add_line(&ctx(), cart.id, &access, add("NOPRICE", 1)).await.unwrap_err();
    assert_eq!(err.status(), 422, "no price in the channel: catalog's 422 passes through");
    let err = shop.carts.add_line(&ctx(), cart.id, &access, add("ODD", 1)).await.unwrap_err();
    assert_field(&err, 422, "sku");
    let err = shop.carts.add_line(&ctx(), cart.id, &access, add(" ", 1)).await.unwrap_err();
    assert_field(&err, 422, "sku");

    // Three units of BIG overflow the line total: refused, not wrapped around.
    let err = shop.carts.add_line(&ctx(), cart.id, &access, add("BIG", 3)).await.unwrap_err();
    assert_field(&err, 422, "quantity");

    let read = shop.carts.get_cart(&ctx(), cart.id, &access).await.unwrap();
    assert_eq!(quantities(&read), vec![("MUG", 1)]);
}

#[tokio::test]
async fn a_line_keeps_the_price_it_was_added_at() {
    let shop = shop().await;
    let (cart, access) = shop.anonymous().await;
    shop.carts.add_line(&ctx(), cart.id, &access, add("MUG", 1)).await.unwrap();
    shop.catalog.set_price("MUG", "online", eur(1500));
    shop.catalog.set_price("TEE", "online", eur(1800));

    let cart = shop.carts.add_line(&ctx(), cart.id, &access, add("MUG", 1)).await.unwrap();
    assert_eq!(cart.lines[0].unit_price, eur(1250));
    let cart = shop.carts.set_quantity(&ctx(), cart.id, &access, "MUG", set(3)).await.unwrap();
    assert_eq!(cart.lines[0].unit_price, eur(1250));
    let cart = shop.carts.add_line(&ctx(), cart.id, &access, add("TEE", 1)).await.unwrap();
    assert_eq!(cart.lines[1].unit_price, eur(1800), "a new line takes today's price");
    assert_eq!(cart.subtotal, eur(3 * 1250 + 1800));
    let read = shop.carts.get_cart(&ctx(), cart.id, &access).await.unwrap();
    assert_eq!(read.subtotal, cart.subtotal);
}

// ---------------------------------------------------------------------------------------------
// Merging at login.

#[tokio::test]
async fn merging_adds_up_lines_caps_them_by_stock_and_closes_the_anonymous_cart() {
    let shop = shop().await;
    let ann = Uuid::now_v7();
    let mine = shop.carts.create_cart(&ctx(), Some(ann), NewCart::default()).await.unwrap();
    shop.carts.add_line(&ctx(), mine.id, &CartAccess::Customer(ann), add("MUG", 3)).await.unwrap();

    let (anonymous, access) = shop.anonymous().await;
    let token = match &access {
        CartAccess::Token(t) => t.clone(),
        _ => unreachable!(),
    };
    for (sku, quantity) in [("MUG", 4), ("TEE", 2), ("SOCK", 1)] {
        shop.carts.add_line(&ctx(), anonymous.id, &access, add(sku, quantity)).await.unwrap();
    }
    shop.inventory.set("MUG", 5);
    shop.inventory.set("SOCK", 0);

    let err = shop.carts.merge(&ctx(), anonymous.id, "wrong-token", ann).await.unwrap_err();
    assert_eq!(err.status(), 404);

    let merged = shop.carts.merge(&ctx(), anonymous.id, &token, ann).await.unwrap();
    assert_eq!(merged.id, mine.id);
    assert_eq!(quantities(&merged), vec![("MUG", 5), ("TEE", 2)], "MUG capped at stock, SOCK dropped");
    assert_eq!(merged.subtotal, eur(5 * 1250 + 2 * 2000));

    let closed = shop.carts.get_cart(&ctx(), anonymous.id, &access).await.unwrap();
    assert_eq!(closed.status, CartStatus::Merged);
    let err = shop.carts.add_line(&ctx(), anonymous.id, &access, add("MUG", 1)).await.unwrap_err();
    assert_eq!((err.status(), err.code()), (409, "cart-not-active"));
    let err = shop.carts.remove_line(&ctx(), anonymous.id, &access, "TEE").await.unwrap_err();
    assert_eq!(err.code(), "cart-not-active");

    // Asked again (a retried login): the same customer cart, unchanged, no second event.
    let again = shop.carts.merge(&ctx(), anonymous.id, &token, ann).await.unwrap();
    assert_eq!((again.id, quantities(&again)), (mine.id, vec![("MUG", 5), ("TEE", 2)]));
    let merged_events = shop.events(events::CART_MERGED).await;
    assert_eq!(merged_events.len(), 1);
    let payload: events::CartMerged = merged_events[0].data_as().unwrap();
    assert_eq!((payload.from_cart_id, payload.into_cart_id, payload.customer_id), (anonymous.id, mine.id, ann));

    // Someone else cannot claim the merged cart.
    let err = shop.carts.merge(&ctx(), anonymous.id, &token, Uuid::now_v7()).await.unwrap_err();
    assert_eq!(err.code(), "cart-not-active");
}

#[tokio::test]
async fn merging_creates_the_customer_cart_when_there_is_none() {
    let shop = shop().await;
    let ann = Uuid::now_v7();
    let (anonymous, access) = shop.anonymous().await;
    shop.carts.add_line(&ctx(), anonymous.id, &access, add("TEE", 2)).await.unwrap();
    let CartAccess::Token(token) = access else { unreachable!() };

    let cart = shop.carts.merge(&ctx(), anonymous.id, &token, ann).await.unwrap();
    assert_ne!(cart.id, anonymous.id);
    assert_eq!((cart.customer_id, cart.channel.as_str()), (Some(ann), "online"));
    assert_eq!(quantities(&cart), vec![("TEE", 2)]);
    assert_eq!(cart.lines[0].unit_price, eur(2000));
    let found = shop.carts.customer_cart(&ctx(), ann).await.unwrap().unwrap();
    assert_eq!(found.id, cart.id);

    let created = shop.events(events::CART_CREATED).await;
    assert_eq!(created.len(), 2, "the anonymous cart, then the customer's");
    let updated = shop.events(events::CART_UPDATED).await;
    let last: events::CartChanged = updated.last().unwrap().data_as().unwrap();
    assert_eq!((last.cart_id, last.customer_id, last.item_count), (cart.id, Some(ann), 2));
}

#[tokio::test]
async fn merging_a_customer_cart_is_not_possible() {
    let shop = shop().await;
    let ann = Uuid::now_v7();
    let cart = shop.carts.create_cart(&ctx(), Some(ann), NewCart::default()).await.unwrap();
    let err = shop.carts.merge(&ctx(), cart.id, "", Uuid::now_v7()).await.unwrap_err();
    assert_eq!(err.status(), 404);
}

// ---------------------------------------------------------------------------------------------
// Events.

#[tokio::test]
async fn every_change_is_announced_in_the_outbox() {
    let shop = shop().await;
    let (cart, access) = shop.anonymous().await;
    shop.carts.add_line(&ctx(), cart.id, &access, add("MUG", 2)).await.unwrap();
    shop.carts.set_quantity(&ctx(), cart.id, &access, "MUG", set(3)).await.unwrap();
    shop.carts.remove_line(&ctx(), cart.id, &access, "MUG").await.unwrap();

    let all = outbox::pending(&shop.db, 100).await.unwrap();
    let types: Vec<&str> = all.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, vec![events::CART_CREATED, events::CART_UPDATED, events::CART_UPDATED, events::CART_UPDATED]);
    assert!(all.iter().all(|e| e.source == "cart" && e.correlation_id == "corr-cart-test"));

    let created: events::CartChanged = all[0].data_as().unwrap();
    assert_eq!((created.cart_id, created.customer_id, created.channel.as_str()), (cart.id, None, "online"));
    assert_eq!((created.item_count, created.subtotal), (0, eur(0)));
    let after_set: events::CartChanged = all[2].data_as().unwrap();
    assert_eq!((after_set.item_count, after_set.subtotal), (3, eur(3750)));
    let after_remove: events::CartChanged = all[3].data_as().unwrap();
    assert_eq!(after_remove.item_count, 0);
}

#[tokio::test]
async fn a_confirmed_checkout_closes_its_cart_once() {
    use comptoir_contracts::cart::CartStatus;
    let s = shop().await;
    let customer = uuid::Uuid::now_v7();
    let cart = s.carts.create_cart(&ctx(), Some(customer), NewCart::default()).await.unwrap();
    let access = CartAccess::Customer(customer);
    s.carts.add_line(&ctx(), cart.id, &access, add("MUG", 1)).await.unwrap();

    let completed = EventEnvelope::new(
        &ctx(),
        "ordering",
        "order.checkout.completed",
        serde_json::json!({"order": order_snapshot_json(), "cart_id": cart.id, "reservation_id": null, "payment_id": null}),
    );
    let consumer = s.carts.consumers().into_iter().find(|c| c.name == comptoir_cart::CHECKOUTS).unwrap();
    consumer.handler.handle(&completed).await.unwrap();
    consumer.handler.handle(&completed).await.unwrap();

    assert_eq!(s.carts.get_cart(&ctx(), cart.id, &access).await.unwrap().status, CartStatus::CheckedOut);
    let refused = s.carts.add_line(&ctx(), cart.id, &access, add("MUG", 1)).await.unwrap_err();
    assert_eq!(refused.code(), "cart-not-active");
    // The customer's next cart is a new one.
    let next = s.carts.create_cart(&ctx(), Some(customer), NewCart::default()).await.unwrap();
    assert_ne!(next.id, cart.id);
}

fn order_snapshot_json() -> serde_json::Value {
    let address =
        serde_json::json!({"name": "Ann", "line1": "1 rue", "city": "Paris", "postal_code": "75001", "country": "FR"});
    let zero = serde_json::json!({"amount": 0, "currency": "EUR"});
    serde_json::json!({
        "order_id": uuid::Uuid::now_v7(), "number": "CO-000001", "customer_id": null, "email": "ann@shop.test",
        "channel": "online", "currency": "EUR", "prices_include_tax": true, "lines": [],
        "shipping": {"method": "standard", "name": "Standard", "carrier": "Post", "net": zero, "tax": zero, "gross": zero},
        "shipping_address": address, "billing_address": address,
        "totals": {"net": zero, "tax": zero, "gross": zero}, "placed_at": "2026-11-22T00:00:00Z"
    })
}
