//! The point of sale served over gRPC and driven through `PosClient`, against the same module in
//! process (itself over the real catalog, inventory, payment and billing modules): every port
//! method answers the same values, and every refusal the same status, code, fields and message.
//! SQLite by default, PostgreSQL with COMPTOIR_TEST_BACKEND=postgres.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use comptoir_billing::{BillingConfig, BillingModule};
use comptoir_catalog::CatalogModule;
use comptoir_contracts::address::PostalAddress;
use comptoir_contracts::billing::{BillingPort, NewTaxRule, Party};
use comptoir_contracts::catalog::{CatalogPort, NewProduct, NewVariant, PriceInput};
use comptoir_contracts::identity::SellerDirectory;
use comptoir_contracts::inventory::{InventoryPort, LocationKind, NewLocation, ReceiveStock};
use comptoir_contracts::payment::test_cards;
use comptoir_contracts::pos::events as pos_events;
use comptoir_contracts::pos::*;
use comptoir_grpc::server::ServiceSet;
use comptoir_grpc::{Remote, RemoteSettings, from_status};
use comptoir_inventory::InventoryModule;
use comptoir_kernel::{Actor, Currency, Error, EventEnvelope, Money, PageRequest, RequestContext, Result};
use comptoir_payment::{PaymentConfig, PaymentModule};
use comptoir_pos::{MIGRATIONS, PosModule, PosPorts};
use comptoir_pos_grpc::pb::pos_service_client::PosServiceClient;
use comptoir_pos_grpc::{PosClient, pb, service};
use comptoir_storage::outbox;
use comptoir_storage::testing::{TestDb, open};
use rust_decimal::Decimal;
use uuid::Uuid;

const STORE: &str = "paris-store";

fn ctx() -> RequestContext {
    RequestContext::new("corr-pos-grpc", Actor::user("staff-ann"))
}

fn eur(amount: i64) -> Money {
    Money::new(amount, Currency::EUR)
}

fn ann() -> Cashier {
    Cashier { id: Uuid::from_u128(7), name: "Ann".into() }
}

struct Sellers(Uuid);

#[async_trait]
impl SellerDirectory for Sellers {
    async fn seller_exists(&self, _ctx: &RequestContext, id: Uuid) -> Result<bool> {
        Ok(id == self.0)
    }
}

/// The module and the modules it calls on fresh databases, served on a local port, and a client of
/// that service.
struct Harness {
    _dbs: Vec<TestDb>,
    pos_db: comptoir_storage::Db,
    /// In process: what the remote answers are compared with.
    local: PosModule,
    remote: PosClient,
    inventory: InventoryModule,
    url: String,
}

async fn start() -> Harness {
    let seller = Uuid::now_v7();
    let catalog_db = open("catalog", &comptoir_catalog::MIGRATIONS).await;
    let catalog = CatalogModule::new(catalog_db.db.clone(), Arc::new(Sellers(seller)));
    let inventory_db = open("inventory", &comptoir_inventory::MIGRATIONS).await;
    let inventory = InventoryModule::new(inventory_db.db.clone());
    let payment_db = open("payment", &comptoir_payment::MIGRATIONS).await;
    let payment = PaymentModule::new(payment_db.db.clone(), PaymentConfig { webhook_secret: String::new() });
    let billing_db = open("billing", &comptoir_billing::MIGRATIONS).await;
    let party = Party { name: "Comptoir".into(), email: None, address: None };
    let billing = BillingModule::new(billing_db.db.clone(), BillingConfig { seller: party });
    let pos_db = open("pos", &MIGRATIONS).await;
    let ports = PosPorts {
        catalog: Arc::new(catalog.clone()),
        inventory: Arc::new(inventory.clone()),
        payment: Arc::new(payment),
        billing: Arc::new(billing.clone()),
    };
    let local = PosModule::new(pos_db.db.clone(), ports);

    for (code, kind) in [("central", LocationKind::Warehouse), (STORE, LocationKind::Store)] {
        inventory.create_location(&ctx(), NewLocation { code: code.into(), name: code.into(), kind }).await.unwrap();
    }
    let vat = NewTaxRule { country: "FR".into(), region: None, rate: Decimal::new(20, 2), label: "VAT 20%".into() };
    billing.create_tax_rule(&ctx(), vat).await.unwrap();
    // A tee shirt at 24.00 in the store channel: 3 at the store, 40 at the warehouse.
    let variant = NewVariant {
        sku: "TEE".into(),
        options: BTreeMap::from([("size".to_string(), "M".to_string())]),
        weight_grams: None,
        prices: vec![PriceInput { channel: "store".into(), amount: 2400, currency: Currency::EUR }],
    };
    let product = NewProduct {
        seller_id: seller,
        name: "Tee shirt".into(),
        slug: None,
        description: String::new(),
        category_ids: vec![],
        attributes: BTreeMap::new(),
        variants: vec![variant],
    };
    let product = catalog.create_product(&ctx(), product).await.unwrap();
    catalog.publish(&ctx(), product.id).await.unwrap();
    let skus = inventory.consumers().into_iter().find(|c| c.name == comptoir_inventory::CATALOG_SKUS).unwrap();
    for event in outbox::pending(&catalog_db, 1000).await.unwrap() {
        skus.handler.handle(&event).await.unwrap();
    }
    for (location, quantity) in [(STORE, 3), ("central", 40)] {
        let receipt = ReceiveStock { sku: "TEE".into(), location: location.into(), quantity, reference: None };
        inventory.receive(&ctx(), receipt).await.unwrap();
    }

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(ServiceSet::new().add(service(Arc::new(local.clone()))).serve(listener, std::future::pending()));
    let remote = PosClient::new(Remote::connect("pos", &url, RemoteSettings::default()).unwrap());
    Harness {
        pos_db: pos_db.db.clone(),
        _dbs: vec![catalog_db, inventory_db, payment_db, billing_db, pos_db],
        local,
        remote,
        inventory,
        url,
    }
}

fn store_input(location: &str) -> StoreInput {
    StoreInput {
        location: location.into(),
        name: "Comptoir Paris".into(),
        address: PostalAddress {
            name: "Comptoir".into(),
            line1: "1 rue de Rivoli".into(),
            line2: None,
            city: "Paris".into(),
            postal_code: "75001".into(),
            region: None,
            country: "FR".into(),
            phone: Some("+33 1 23 45 67 89".into()),
        },
        channel: None,
        currency: None,
    }
}

fn sell(key: &str, lines: &[(&str, i64)], payment: TenderInput) -> Sell {
    Sell {
        idempotency_key: key.into(),
        cashier: ann(),
        sale: NewSale {
            location: STORE.into(),
            lines: lines
                .iter()
                .map(|(sku, quantity)| SaleLineInput { sku: sku.to_string(), quantity: *quantity })
                .collect(),
            payment,
        },
    }
}

fn take(key: &str, sale_id: Uuid, lines: &[(&str, i64)], restock: bool) -> TakeReturn {
    TakeReturn {
        idempotency_key: key.into(),
        cashier: ann(),
        sale_id,
        input: NewStoreReturn {
            lines: lines
                .iter()
                .map(|(sku, quantity)| SaleLineInput { sku: sku.to_string(), quantity: *quantity })
                .collect(),
            reason: "too small".into(),
            restock,
        },
    }
}

/// The remote call failed exactly as the same call in process.
#[track_caller]
fn same_error<T: Debug>(local: Result<T>, remote: Result<T>) -> Error {
    let local = local.unwrap_err();
    let remote = remote.unwrap_err();
    assert_eq!(
        (remote.status(), remote.code(), remote.field_errors(), remote.to_string()),
        (local.status(), local.code(), local.field_errors(), local.to_string()),
        "remote {remote:?} vs in process {local:?}"
    );
    remote
}

fn fields(e: &Error) -> Vec<&str> {
    e.field_errors().iter().map(|f| f.field.as_str()).collect()
}

impl Harness {
    async fn events(&self, event_type: &str) -> Vec<EventEnvelope> {
        outbox::pending(&self.pos_db, 10_000)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.event_type == event_type)
            .collect()
    }

    async fn shelf(&self, location: &str) -> i64 {
        let stock = self.inventory.stock(&ctx(), "TEE").await.unwrap();
        stock.levels.iter().find(|l| l.location == location).map_or(0, |l| l.on_hand)
    }
}

#[tokio::test]
async fn stores_and_scans_round_trip() {
    let h = start().await;
    let store = h.remote.upsert_store(&ctx(), store_input(STORE)).await.unwrap();
    assert_eq!((store.location.as_str(), store.channel.as_str(), store.currency), (STORE, "store", Currency::EUR));
    assert_eq!(store.address.phone.as_deref(), Some("+33 1 23 45 67 89"));
    assert_eq!(h.remote.list_stores(&ctx()).await.unwrap(), h.local.list_stores(&ctx()).await.unwrap());
    assert_eq!(h.remote.list_stores(&ctx()).await.unwrap(), std::slice::from_ref(&store));
    let again = StoreInput { name: "Comptoir Rivoli".into(), currency: Some(Currency::EUR), ..store_input(STORE) };
    let changed = h.remote.upsert_store(&ctx(), again).await.unwrap();
    assert_eq!((changed.name.as_str(), changed.created_at), ("Comptoir Rivoli", store.created_at));

    let item = h.remote.scan(&ctx(), STORE, "TEE").await.unwrap();
    assert_eq!(item, h.local.scan(&ctx(), STORE, "TEE").await.unwrap());
    assert_eq!(
        (item.price, item.available_here, item.options.get("size").map(String::as_str)),
        (eur(2400), 3, Some("M"))
    );

    let e = same_error(h.local.scan(&ctx(), STORE, "GHOST").await, h.remote.scan(&ctx(), STORE, "GHOST").await);
    assert!(matches!(&e, Error::NotFound { resource: "sku", .. }), "{e:?}");
    let e = same_error(h.local.scan(&ctx(), "central", "TEE").await, h.remote.scan(&ctx(), "central", "TEE").await);
    assert!(matches!(&e, Error::NotFound { resource: "store", .. }), "{e:?}");
    let e = same_error(
        h.local.upsert_store(&ctx(), store_input("central")).await,
        h.remote.upsert_store(&ctx(), store_input("central")).await,
    );
    assert_eq!((e.status(), fields(&e)), (422, vec!["location"]));
    let bad = || StoreInput { channel: Some("market".into()), name: " ".into(), ..store_input(STORE) };
    let e = same_error(h.local.upsert_store(&ctx(), bad()).await, h.remote.upsert_store(&ctx(), bad()).await);
    assert_eq!((e.status(), fields(&e)), (422, vec!["name"]));
}

#[tokio::test]
async fn sales_returns_and_receipts_round_trip() {
    let h = start().await;
    h.local.upsert_store(&ctx(), store_input(STORE)).await.unwrap();

    // The caller's context travels: the sale's event carries it.
    let sold =
        h.remote.sell(&ctx(), sell("till-1", &[("TEE", 2)], TenderInput::Cash { tendered: 5000 })).await.unwrap();
    assert_eq!(
        (sold.number.as_str(), sold.totals.gross, sold.tender.change),
        ("PARIS-STORE-000001", eur(4800), Some(eur(200)))
    );
    assert_eq!(sold, h.local.get_sale(&ctx(), sold.id).await.unwrap());
    let announced = h.events(pos_events::SALE_COMPLETED).await;
    assert_eq!(announced.len(), 1);
    assert_eq!(
        (announced[0].correlation_id.as_str(), announced[0].metadata.actor_id.as_deref()),
        ("corr-pos-grpc", Some("staff-ann"))
    );
    assert_eq!(h.shelf(STORE).await, 1);

    // Retried through the client: the same sale, nothing taken twice.
    let again =
        h.remote.sell(&ctx(), sell("till-1", &[("TEE", 2)], TenderInput::Cash { tendered: 5000 })).await.unwrap();
    assert_eq!(again, sold);
    assert_eq!((h.shelf(STORE).await, h.events(pos_events::SALE_COMPLETED).await.len()), (1, 1));
    assert_eq!(h.remote.get_sale(&ctx(), sold.id).await.unwrap(), sold);

    let card = h
        .remote
        .sell(&ctx(), sell("till-2", &[("TEE", 1)], TenderInput::Card { token: "tok_visa".into() }))
        .await
        .unwrap();
    assert_eq!((card.tender.method, card.tender.tendered), (TenderMethod::Card, None));

    let filter = || SaleFilter {
        location: Some(STORE.into()),
        cashier_id: Some(ann().id),
        from: Some(sold.created_at),
        to: None,
    };
    let remote = h.remote.list_sales(&ctx(), filter(), PageRequest::new(1, 1).unwrap()).await.unwrap();
    let local = h.local.list_sales(&ctx(), filter(), PageRequest::new(1, 1).unwrap()).await.unwrap();
    assert_eq!((remote.items.clone(), remote.total, remote.page, remote.per_page), (local.items, 2, 1, 1));
    assert_eq!(remote.items[0].id, card.id, "newest first");
    let before = SaleFilter { to: Some(sold.created_at), ..SaleFilter::default() };
    assert_eq!(h.remote.list_sales(&ctx(), before, PageRequest::default()).await.unwrap().total, 0);

    let back = h.remote.take_return(&ctx(), take("ret-1", sold.id, &[("TEE", 1)], true)).await.unwrap();
    assert_eq!((back.amount, back.sale_number.as_str(), back.restocked), (eur(2400), "PARIS-STORE-000001", true));
    assert_eq!(h.remote.take_return(&ctx(), take("ret-1", sold.id, &[("TEE", 1)], true)).await.unwrap(), back);
    let damaged = h.remote.take_return(&ctx(), take("ret-2", sold.id, &[("TEE", 1)], false)).await.unwrap();
    assert!(!damaged.restocked);
    assert_eq!(h.shelf(STORE).await, 1, "one back on the shelf, one damaged, the card's unit sold");
    let returns = h.remote.returns_for_sale(&ctx(), sold.id).await.unwrap();
    assert_eq!(returns, h.local.returns_for_sale(&ctx(), sold.id).await.unwrap());
    assert_eq!(returns, [back, damaged]);
    let after = h.remote.get_sale(&ctx(), sold.id).await.unwrap();
    assert_eq!((after.status, after.refunded, after.lines[0].returned), (SaleStatus::Returned, eur(4800), 2));

    let receipt = h.remote.receipt(&ctx(), sold.id).await.unwrap();
    assert_eq!(receipt, h.local.receipt(&ctx(), sold.id).await.unwrap());
    assert!(receipt.contains("Served by Ann") && receipt.contains("Refunded"), "{receipt}");
    assert!(receipt.lines().all(|l| l.chars().count() <= 40));
}

#[tokio::test]
async fn errors_come_back_as_in_process() {
    let h = start().await;
    h.local.upsert_store(&ctx(), store_input(STORE)).await.unwrap();

    // Validation, with the module's field names: an unknown SKU, cash that does not cover.
    let ghost = || sell("k-1", &[("TEE", 1), ("GHOST", 1)], TenderInput::Cash { tendered: 10_000 });
    let e = same_error(h.local.sell(&ctx(), ghost()).await, h.remote.sell(&ctx(), ghost()).await);
    assert_eq!((e.status(), fields(&e)), (422, vec!["lines[1].sku"]));
    let short = || sell("k-1", &[("TEE", 1)], TenderInput::Cash { tendered: 100 });
    let e = same_error(h.local.sell(&ctx(), short()).await, h.remote.sell(&ctx(), short()).await);
    assert_eq!((e.status(), fields(&e)), (422, vec!["payment.tendered"]));
    let empty = || Sell { idempotency_key: "".into(), ..sell("k", &[], TenderInput::Card { token: "".into() }) };
    let e = same_error(h.local.sell(&ctx(), empty()).await, h.remote.sell(&ctx(), empty()).await);
    assert_eq!(fields(&e), ["idempotency_key", "lines", "payment.token"]);

    // Conflicts and a declined card, remembered under their key.
    let many = || sell("k-2", &[("TEE", 4)], TenderInput::Card { token: "tok_visa".into() });
    let e = same_error(h.local.sell(&ctx(), many()).await, h.remote.sell(&ctx(), many()).await);
    assert_eq!((e.status(), e.code(), fields(&e)), (409, "insufficient-stock", vec!["lines[0].quantity"]));
    let declined = || sell("k-3", &[("TEE", 1)], TenderInput::Card { token: test_cards::DECLINED_STOLEN.into() });
    let e = same_error(h.local.sell(&ctx(), declined()).await, h.remote.sell(&ctx(), declined()).await);
    assert_eq!((e.status(), e.to_string()), (402, "payment declined: card reported stolen".to_string()));
    let reused = || sell("k-3", &[("TEE", 2)], TenderInput::Card { token: "tok_visa".into() });
    let e = same_error(h.local.sell(&ctx(), reused()).await, h.remote.sell(&ctx(), reused()).await);
    assert_eq!((e.status(), e.code()), (409, "idempotency-key-reused"));

    // Returns: more than was sold, a sale that does not exist.
    let sold = h.local.sell(&ctx(), sell("k-4", &[("TEE", 1)], TenderInput::Cash { tendered: 2400 })).await.unwrap();
    let over = || take("r-1", sold.id, &[("TEE", 2)], true);
    let e = same_error(h.local.take_return(&ctx(), over()).await, h.remote.take_return(&ctx(), over()).await);
    assert_eq!((e.status(), fields(&e)), (422, vec!["lines[0].quantity"]));
    let unknown = Uuid::now_v7();
    let nowhere = || take("r-1", unknown, &[("TEE", 1)], true);
    let e = same_error(h.local.take_return(&ctx(), nowhere()).await, h.remote.take_return(&ctx(), nowhere()).await);
    assert!(matches!(&e, Error::NotFound { resource: "sale", .. }), "{e:?}");
    same_error(h.local.get_sale(&ctx(), unknown).await, h.remote.get_sale(&ctx(), unknown).await);
    same_error(h.local.receipt(&ctx(), unknown).await, h.remote.receipt(&ctx(), unknown).await);
    same_error(h.local.returns_for_sale(&ctx(), unknown).await, h.remote.returns_for_sale(&ctx(), unknown).await);
    let huge = PageRequest { page: 1, per_page: 1000 };
    let e = same_error(
        h.local.list_sales(&ctx(), SaleFilter::default(), huge).await,
        h.remote.list_sales(&ctx(), SaleFilter::default(), huge).await,
    );
    assert_eq!(fields(&e), ["per_page"]);

    // Nothing above sold anything but the one sale.
    assert_eq!(h.remote.list_sales(&ctx(), SaleFilter::default(), PageRequest::default()).await.unwrap().total, 1);
    assert_eq!(h.shelf(STORE).await, 2);
}

#[tokio::test]
async fn malformed_messages_are_bad_requests_naming_the_field() {
    let h = start().await;
    let mut raw = PosServiceClient::connect(h.url.clone()).await.unwrap();

    let status = raw.get_sale(pb::GetSaleRequest { id: "nope".into() }).await.unwrap_err();
    let e = from_status("pos", &status);
    assert_eq!(e.status(), 400);
    assert!(e.to_string().contains("id"), "{e}");
    let message = pb::SellRequest {
        idempotency_key: "k".into(),
        cashier: Some(pb::Cashier { id: Uuid::nil().to_string(), name: "Ann".into() }),
        location: STORE.into(),
        lines: vec![pb::SaleLineInput { sku: "TEE".into(), quantity: 1 }],
        payment: None,
    };
    let e = from_status("pos", &raw.sell(message).await.unwrap_err());
    assert_eq!(e.status(), 400);
    assert!(e.to_string().contains("payment"), "{e}");
    let message = pb::TakeReturnRequest { sale_id: Uuid::nil().to_string(), ..Default::default() };
    let e = from_status("pos", &raw.take_return(message).await.unwrap_err());
    assert!(e.to_string().contains("cashier"), "{e}");
    let message = pb::StoreInput { location: STORE.into(), address: None, ..Default::default() };
    let e = from_status("pos", &raw.upsert_store(message).await.unwrap_err());
    assert!(e.to_string().contains("address"), "{e}");
    assert!(h.local.list_stores(&ctx()).await.unwrap().is_empty(), "nothing set up");

    // An absent page is the default page, as in process.
    let reply = raw.list_sales(pb::ListSalesRequest::default()).await.unwrap().into_inner();
    let page = reply.page.unwrap();
    assert_eq!((page.page, page.per_page, page.total), (1, 20, 0));
}

#[tokio::test]
async fn a_down_service_fails_fast_with_unavailable() {
    // Nothing listens on this port: connection refused.
    let remote = PosClient::new(Remote::connect("pos", "http://127.0.0.1:1", RemoteSettings::default()).unwrap());
    let e = remote.list_stores(&ctx()).await.unwrap_err();
    assert_eq!(e.status(), 503);
    assert!(e.to_string().contains("pos service is unavailable"), "{e}");
    let e = remote.sell(&ctx(), sell("k", &[("TEE", 1)], TenderInput::Cash { tendered: 2400 })).await.unwrap_err();
    assert_eq!(e.status(), 503);
}
