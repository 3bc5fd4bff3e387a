//! The cart module served over gRPC and driven through `CartClient`, against the same module in
//! process: every port method answers the same values, and every refusal the same status, code,
//! fields and message. The cart's own dependencies (catalog, inventory) are the real modules, in
//! process. SQLite by default, PostgreSQL with COMPTOIR_TEST_BACKEND=postgres.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use comptoir_cart::CartModule;
use comptoir_cart_grpc::{CartClient, pb, service};
use comptoir_catalog::CatalogModule;
use comptoir_contracts::cart::{AddLine, Cart, CartAccess, CartPort, CartStatus, NewCart, SetQuantity, events};
use comptoir_contracts::catalog::{CatalogPort, NewProduct, NewVariant, PriceInput};
use comptoir_contracts::identity::SellerDirectory;
use comptoir_contracts::inventory::{InventoryPort, LocationKind, NewLocation, ReceiveStock};
use comptoir_grpc::server::ServiceSet;
use comptoir_grpc::{Remote, RemoteSettings, from_status};
use comptoir_inventory::{CATALOG_SKUS, InventoryModule};
use comptoir_kernel::{Actor, ActorType, Currency, Error, Money, RequestContext, Result};
use comptoir_storage::{outbox, testing};
use tokio::net::TcpListener;
use tonic::transport::{Channel, Endpoint};
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Fixture: catalog and inventory in process, the cart module behind a gRPC server.

/// Identity's seller port: every seller exists (the catalog only asks when a product is created).
struct AnySeller;

#[async_trait]
impl SellerDirectory for AnySeller {
    async fn seller_exists(&self, _ctx: &RequestContext, _id: Uuid) -> Result<bool> {
        Ok(true)
    }
}

struct Shop {
    /// The module in process, for the answers the client must match.
    local: CartModule,
    /// The same module through its server.
    remote: CartClient,
    address: SocketAddr,
    carts_db: testing::TestDb,
    /// Product id per SKU.
    products: HashMap<&'static str, Uuid>,
    _dependency_dbs: [testing::TestDb; 2],
}

fn ctx() -> RequestContext {
    RequestContext::new("corr-cart-grpc", Actor::user("tester"))
}

fn eur(amount: i64) -> Money {
    Money::new(amount, Currency::EUR)
}

/// A product with one SKU priced in the `online` channel only.
fn product(sku: &str, amount: i64) -> NewProduct {
    let price = PriceInput { channel: "online".into(), amount, currency: Currency::EUR };
    NewProduct {
        seller_id: Uuid::now_v7(),
        name: format!("Product {sku}"),
        slug: None,
        description: String::new(),
        category_ids: vec![],
        attributes: BTreeMap::new(),
        variants: vec![NewVariant {
            sku: sku.into(),
            options: BTreeMap::new(),
            weight_grams: None,
            prices: vec![price],
        }],
    }
}

/// Published: MUG 12.50 EUR (10 in stock), TEE 20.00 EUR (3), SOCK 4.00 EUR (5), all priced online
/// only. DRAFT exists (with stock) but is not for sale.
async fn shop() -> Shop {
    let catalog_db = testing::open("catalog", &comptoir_catalog::MIGRATIONS).await;
    let inventory_db = testing::open("inventory", &comptoir_inventory::MIGRATIONS).await;
    let carts_db = testing::open("cart", &comptoir_cart::MIGRATIONS).await;
    let catalog = CatalogModule::new(catalog_db.db.clone(), Arc::new(AnySeller));
    let inventory = InventoryModule::new(inventory_db.db.clone());

    let stock = [("MUG", 1250, 10), ("TEE", 2000, 3), ("SOCK", 400, 5), ("DRAFT", 100, 5)];
    let mut products = HashMap::new();
    for (sku, price, _) in stock {
        let created = catalog.create_product(&ctx(), product(sku, price)).await.unwrap();
        if sku != "DRAFT" {
            catalog.publish(&ctx(), created.id).await.unwrap();
        }
        products.insert(sku, created.id);
    }
    // Inventory learns the SKUs from the catalog's events, as the bus would deliver them.
    let catalog_skus = inventory.consumers().into_iter().find(|c| c.name == CATALOG_SKUS).unwrap();
    for event in outbox::pending(&catalog_db, 100).await.unwrap() {
        catalog_skus.handler.handle(&event).await.unwrap();
    }
    let warehouse = NewLocation { code: "wh".into(), name: "Warehouse".into(), kind: LocationKind::Warehouse };
    inventory.create_location(&ctx(), warehouse).await.unwrap();
    for (sku, _, quantity) in stock {
        let receipt = ReceiveStock { sku: sku.into(), location: "wh".into(), quantity, reference: None };
        inventory.receive(&ctx(), receipt).await.unwrap();
    }

    let local = CartModule::new(carts_db.db.clone(), Arc::new(catalog), Arc::new(inventory));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(ServiceSet::new().add(service(Arc::new(local.clone()))).serve(listener, std::future::pending()));
    let remote = Remote::connect("cart", &format!("http://{address}"), RemoteSettings::default()).unwrap();
    Shop {
        local,
        remote: CartClient::new(remote),
        address,
        carts_db,
        products,
        _dependency_dbs: [catalog_db, inventory_db],
    }
}

fn add(sku: &str, quantity: i64) -> AddLine {
    AddLine { sku: sku.into(), quantity }
}

fn set(quantity: i64) -> SetQuantity {
    SetQuantity { quantity }
}

fn token_of(cart: &Cart) -> String {
    cart.token.clone().expect("a new anonymous cart carries its token")
}

fn quantities(cart: &Cart) -> Vec<(&str, i64)> {
    cart.lines.iter().map(|l| (l.sku.as_str(), l.quantity)).collect()
}

/// Every field, compared through the cart's JSON form (the contract types have no `PartialEq`).
fn assert_same_cart(remote: &Cart, local: &Cart) {
    assert_eq!(serde_json::to_value(remote).unwrap(), serde_json::to_value(local).unwrap());
}

impl Shop {
    /// A new anonymous cart, created through the client, and the access its token gives.
    async fn anonymous(&self) -> (Cart, CartAccess) {
        let cart = self.remote.create_cart(&ctx(), None, NewCart::default()).await.unwrap();
        let access = CartAccess::Token(token_of(&cart));
        (cart, access)
    }

    /// The cart read through the client, checked against the module's own answer.
    async fn read(&self, id: Uuid, access: &CartAccess) -> Cart {
        let remote = self.remote.get_cart(&ctx(), id, access).await.unwrap();
        assert_same_cart(&remote, &self.local.get_cart(&ctx(), id, access).await.unwrap());
        remote
    }

    /// Makes the same call through the client and in process: both must be refused alike (status,
    /// code, field names and messages, text). The remote error is returned for further checks.
    async fn refused<T: Debug>(&self, call: impl AsyncFn(&dyn CartPort) -> Result<T>) -> Error {
        let remote = call(&self.remote).await.expect_err("refused through the client");
        let local = call(&self.local).await.expect_err("refused in process");
        assert_eq!(
            (remote.status(), remote.code(), remote.field_errors(), remote.to_string()),
            (local.status(), local.code(), local.field_errors(), local.to_string()),
        );
        remote
    }

    /// A raw client of the generated service, to send messages `CartClient` never builds.
    fn raw(&self) -> pb::cart_service_client::CartServiceClient<Channel> {
        let channel = Endpoint::from_shared(format!("http://{}", self.address)).unwrap().connect_lazy();
        pb::cart_service_client::CartServiceClient::new(channel)
    }
}

fn fields(error: &Error) -> Vec<&str> {
    error.field_errors().iter().map(|f| f.field.as_str()).collect()
}

// ---------------------------------------------------------------------------------------------
// Creating and reaching carts.

#[tokio::test]
async fn an_anonymous_cart_is_created_and_read_through_the_client() {
    let shop = shop().await;
    let (cart, access) = shop.anonymous().await;
    assert_eq!((cart.channel.as_str(), cart.currency, cart.status), ("online", Currency::EUR, CartStatus::Active));
    assert_eq!((cart.customer_id, cart.item_count, cart.subtotal, cart.total), (None, 0, eur(0), eur(0)));
    assert_eq!(token_of(&cart).len(), 43);

    let read = shop.read(cart.id, &access).await;
    assert_eq!((read.id, read.token), (cart.id, None), "the token is handed out once");
    shop.read(cart.id, &CartAccess::Staff).await;

    let store = shop.remote.create_cart(&ctx(), None, NewCart { channel: Some("store".into()) }).await.unwrap();
    assert_eq!((store.channel.as_str(), store.currency), ("store", Currency::EUR));

    // An empty channel is refused, not taken for the default one; so is an unknown one.
    for channel in ["", " ", "mars"] {
        let input = NewCart { channel: Some(channel.into()) };
        let e = shop.refused(async |port| port.create_cart(&ctx(), None, input.clone()).await).await;
        assert_eq!((e.status(), fields(&e)), (422, vec!["channel"]));
    }

    // A cart the caller may not see does not exist, whether or not it does.
    let stranger = Uuid::now_v7();
    for (id, access) in [
        (cart.id, CartAccess::Token("not-the-token".into())),
        (cart.id, CartAccess::Customer(stranger)),
        (Uuid::now_v7(), access.clone()),
    ] {
        let e = shop.refused(async |port| port.get_cart(&ctx(), id, &access).await).await;
        assert!(matches!(&e, Error::NotFound { resource: "cart", id: missing } if *missing == id.to_string()), "{e:?}");
    }
}

#[tokio::test]
async fn a_customer_gets_their_active_cart_back() {
    let shop = shop().await;
    let (ann, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let first = shop.remote.create_cart(&ctx(), Some(ann), NewCart::default()).await.unwrap();
    assert_eq!((first.customer_id, first.token.as_deref()), (Some(ann), None), "customer carts have no token");
    let mine = CartAccess::Customer(ann);
    shop.remote.add_line(&ctx(), first.id, &mine, add("MUG", 2)).await.unwrap();

    let again = shop.remote.create_cart(&ctx(), Some(ann), NewCart { channel: Some("online".into()) }).await.unwrap();
    assert_eq!((again.id, quantities(&again)), (first.id, vec![("MUG", 2)]));

    let found = shop.remote.customer_cart(&ctx(), ann).await.unwrap().expect("ann has a cart");
    assert_same_cart(&found, &shop.local.customer_cart(&ctx(), ann).await.unwrap().unwrap());
    assert!(shop.remote.customer_cart(&ctx(), bob).await.unwrap().is_none());
    shop.read(first.id, &mine).await;
    let e = shop.refused(async |port| port.get_cart(&ctx(), first.id, &CartAccess::Customer(bob)).await).await;
    assert_eq!(e.status(), 404);
}

// ---------------------------------------------------------------------------------------------
// Lines.

#[tokio::test]
async fn lines_are_added_set_and_removed_through_the_client() {
    let shop = shop().await;
    let (cart, access) = shop.anonymous().await;
    let id = cart.id;

    let cart = shop.remote.add_line(&ctx(), id, &access, add("MUG", 2)).await.unwrap();
    let line = &cart.lines[0];
    assert_eq!(
        (line.sku.as_str(), line.product_id, line.product_name.as_str()),
        ("MUG", shop.products["MUG"], "Product MUG")
    );
    assert_eq!((line.quantity, line.unit_price, line.line_total), (2, eur(1250), eur(2500)));
    let cart = shop.remote.add_line(&ctx(), id, &access, add(" TEE ", 1)).await.unwrap();
    assert_eq!(quantities(&cart), vec![("MUG", 2), ("TEE", 1)], "the module trims the SKU as typed");
    let cart = shop.remote.set_quantity(&ctx(), id, &access, "MUG", set(3)).await.unwrap();
    assert_eq!((cart.item_count, cart.subtotal, cart.total), (4, eur(3 * 1250 + 2000), eur(5750)));
    let cart = shop.remote.remove_line(&ctx(), id, &access, "TEE").await.unwrap();
    assert_eq!((quantities(&cart), cart.subtotal), (vec![("MUG", 3)], eur(3750)));
    assert!(cart.updated_at >= cart.created_at);
    shop.read(id, &access).await;

    // The caller's context crossed with every change.
    let changes = outbox::pending(&shop.carts_db, 100).await.unwrap();
    let types: Vec<&str> = changes.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [events::CART_CREATED, events::CART_UPDATED, events::CART_UPDATED, events::CART_UPDATED, events::CART_UPDATED]
    );
    for event in &changes {
        assert_eq!(event.correlation_id, "corr-cart-grpc");
        assert_eq!((event.metadata.actor_type, event.metadata.actor_id.as_deref()), (ActorType::User, Some("tester")));
    }
}

#[tokio::test]
async fn refused_changes_come_back_as_in_process_and_write_nothing() {
    let shop = shop().await;
    let (cart, access) = shop.anonymous().await;
    let id = cart.id;
    shop.remote.add_line(&ctx(), id, &access, add("MUG", 8)).await.unwrap();

    // Validation by the cart.
    for quantity in [0, -1, 10_001] {
        let e = shop.refused(async |port| port.add_line(&ctx(), id, &access, add("SOCK", quantity)).await).await;
        assert_eq!((e.status(), fields(&e)), (422, vec!["quantity"]));
        let e = shop.refused(async |port| port.set_quantity(&ctx(), id, &access, "MUG", set(quantity)).await).await;
        assert_eq!((e.status(), fields(&e)), (422, vec!["quantity"]));
    }
    let e = shop.refused(async |port| port.add_line(&ctx(), id, &access, add(" ", 1)).await).await;
    assert_eq!((e.status(), fields(&e)), (422, vec!["sku"]));

    // The catalog's refusals pass through both hops: not for sale, no price in the cart's channel.
    for sku in ["GHOST", "DRAFT"] {
        let e = shop.refused(async |port| port.add_line(&ctx(), id, &access, add(sku, 1)).await).await;
        assert!(matches!(e, Error::NotFound { resource: "sku", .. }), "{e:?}");
    }
    let store = shop.remote.create_cart(&ctx(), None, NewCart { channel: Some("store".into()) }).await.unwrap();
    let store_access = CartAccess::Token(token_of(&store));
    let e = shop.refused(async |port| port.add_line(&ctx(), store.id, &store_access, add("MUG", 1)).await).await;
    assert_eq!((e.status(), fields(&e)), (422, vec!["sku"]));

    // Conflicts keep their code and field.
    let e = shop.refused(async |port| port.add_line(&ctx(), id, &access, add("MUG", 3)).await).await;
    assert_eq!((e.status(), e.code(), fields(&e)), (409, "insufficient-stock", vec!["quantity"]));
    assert_eq!(e.to_string(), "only 10 available");
    let e = shop.refused(async |port| port.set_quantity(&ctx(), id, &access, "MUG", set(11)).await).await;
    assert_eq!((e.status(), e.code()), (409, "insufficient-stock"));

    // Lines that are not there, and staff, who may only read.
    let e = shop.refused(async |port| port.remove_line(&ctx(), id, &access, "TEE").await).await;
    assert!(matches!(&e, Error::NotFound { resource: "cart line", id } if id == "TEE"), "{e:?}");
    let e = shop.refused(async |port| port.set_quantity(&ctx(), id, &access, "TEE", set(1)).await).await;
    assert_eq!(e.status(), 404);
    let staff = CartAccess::Staff;
    let e = shop.refused(async |port| port.add_line(&ctx(), id, &staff, add("MUG", 1)).await).await;
    assert_eq!(e.status(), 403);
    let e = shop.refused(async |port| port.remove_line(&ctx(), id, &staff, "MUG").await).await;
    assert_eq!(e.status(), 403);

    assert_eq!(quantities(&shop.read(id, &access).await), vec![("MUG", 8)]);
}

// ---------------------------------------------------------------------------------------------
// Merging at login.

#[tokio::test]
async fn merging_at_login_through_the_client_is_safe_to_ask_again() {
    let shop = shop().await;
    let ann = Uuid::now_v7();
    let mine = shop.remote.create_cart(&ctx(), Some(ann), NewCart::default()).await.unwrap();
    shop.remote.add_line(&ctx(), mine.id, &CartAccess::Customer(ann), add("MUG", 3)).await.unwrap();
    let (anonymous, access) = shop.anonymous().await;
    let token = token_of(&anonymous);
    for (sku, quantity) in [("MUG", 9), ("TEE", 2)] {
        shop.remote.add_line(&ctx(), anonymous.id, &access, add(sku, quantity)).await.unwrap();
    }

    let e = shop.refused(async |port| port.merge(&ctx(), anonymous.id, "wrong-token", ann).await).await;
    assert_eq!(e.status(), 404);

    let merged = shop.remote.merge(&ctx(), anonymous.id, &token, ann).await.unwrap();
    assert_eq!(merged.id, mine.id);
    assert_eq!(quantities(&merged), vec![("MUG", 10), ("TEE", 2)], "MUG capped at the 10 in stock");
    assert_eq!(merged.subtotal, eur(10 * 1250 + 2 * 2000));
    assert_eq!(shop.read(anonymous.id, &access).await.status, CartStatus::Merged);

    // A retried login gets the same cart, unchanged; the merged cart is closed to changes and to others.
    let again = shop.remote.merge(&ctx(), anonymous.id, &token, ann).await.unwrap();
    assert_same_cart(&again, &shop.read(mine.id, &CartAccess::Customer(ann)).await);
    assert_eq!(quantities(&again), vec![("MUG", 10), ("TEE", 2)]);
    let e = shop.refused(async |port| port.add_line(&ctx(), anonymous.id, &access, add("SOCK", 1)).await).await;
    assert_eq!((e.status(), e.code()), (409, "cart-not-active"));
    let e = shop.refused(async |port| port.merge(&ctx(), anonymous.id, &token, Uuid::now_v7()).await).await;
    assert_eq!((e.status(), e.code()), (409, "cart-not-active"));
    let merges = outbox::pending(&shop.carts_db, 100).await.unwrap();
    assert_eq!(merges.iter().filter(|e| e.event_type == events::CART_MERGED).count(), 1);
}

// ---------------------------------------------------------------------------------------------
// Malformed messages.

#[tokio::test]
async fn a_malformed_message_is_a_bad_request_naming_its_field() {
    let shop = shop().await;
    let (cart, access) = shop.anonymous().await;
    let cart_id = cart.id.to_string();
    let access = Some(comptoir_cart_grpc::convert::to_access(&access));
    let mut raw = shop.raw();

    let get = |cart_id: &str, access: Option<pb::CartAccess>| pb::GetCartRequest { cart_id: cart_id.into(), access };
    let no_kind = Some(pb::CartAccess { kind: None });
    let bad_customer = Some(pb::CartAccess { kind: Some(pb::cart_access::Kind::CustomerId("ann".into())) });
    let statuses = [
        raw.get_cart(get("nope", access.clone())).await.unwrap_err(),
        raw.get_cart(get(&cart_id, None)).await.unwrap_err(),
        raw.get_cart(get(&cart_id, no_kind)).await.unwrap_err(),
        raw.get_cart(get(&cart_id, bad_customer)).await.unwrap_err(),
        raw.create_cart(pb::CreateCartRequest { customer_id: None, cart: None }).await.unwrap_err(),
        raw.add_line(pb::AddLineRequest { cart_id: cart_id.clone(), access: access.clone(), line: None })
            .await
            .unwrap_err(),
        raw.set_quantity(pb::SetQuantityRequest { cart_id, access, sku: "MUG".into(), input: None }).await.unwrap_err(),
        raw.customer_cart(pb::CustomerCartRequest { customer_id: String::new() }).await.unwrap_err(),
    ];
    let named = ["cart_id", "access", "access", "access.customer_id", "cart", "line", "input", "customer_id"];
    for (status, field) in statuses.iter().zip(named) {
        let e = from_status("cart", status);
        assert_eq!(e.status(), 400, "{e:?}");
        assert!(e.to_string().starts_with(&format!("{field}: ")), "{field}: {e}");
    }
}
