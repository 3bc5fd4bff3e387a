//! The inventory module served over gRPC and driven through `InventoryClient`: every port method
//! answers what the module answers in process, errors included (status, code, field errors).
//! SQLite by default, PostgreSQL when COMPTOIR_TEST_BACKEND=postgres.

use std::fmt::Debug;
use std::sync::Arc;

use comptoir_contracts::catalog::ProductStatus;
use comptoir_contracts::catalog::events::{self as catalog, ProductChanged};
use comptoir_contracts::inventory::events as inventory_events;
use comptoir_contracts::inventory::{
    AdjustStock, InventoryPort, LocationKind, MovementFilter, MovementKind, NewLocation, ReceiveStock,
    ReservationLineInput, ReservationStatus, ReserveStock, RestockUnits,
};
use comptoir_grpc::server::ServiceSet;
use comptoir_grpc::{Remote, RemoteSettings, from_status};
use comptoir_inventory::{CATALOG_SKUS, InventoryModule, MIGRATIONS};
use comptoir_inventory_grpc::pb::inventory_service_client::InventoryServiceClient;
use comptoir_inventory_grpc::{InventoryClient, pb, service};
use comptoir_kernel::{Actor, Error, EventEnvelope, PageRequest, RequestContext, Result, time};
use comptoir_storage::testing::{self, TestDb};
use comptoir_storage::{outbox, query};
use serde::Serialize;
use uuid::Uuid;

/// The module on a fresh database, served on a local port, and a client of that service.
struct Harness {
    db: TestDb,
    /// In process: what the remote answers are compared with.
    local: InventoryModule,
    remote: InventoryClient,
    url: String,
}

async fn start() -> Harness {
    let db = testing::open("inventory", &MIGRATIONS).await;
    let local = InventoryModule::new(db.db.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(ServiceSet::new().add(service(Arc::new(local.clone()))).serve(listener, std::future::pending()));
    let remote = InventoryClient::new(Remote::connect("inventory", &url, RemoteSettings::default()).unwrap());
    Harness { db, local, remote, url }
}

fn ctx() -> RequestContext {
    RequestContext::system()
}

impl Harness {
    /// The catalog announces a product with these SKUs (inventory learns SKUs from its events).
    async fn announce(&self, skus: &[&str]) {
        let data = ProductChanged {
            product_id: Uuid::now_v7(),
            seller_id: Uuid::nil(),
            name: "Tee".into(),
            slug: "tee".into(),
            status: ProductStatus::Published,
            skus: skus.iter().map(|s| s.to_string()).collect(),
        };
        let event = EventEnvelope::new(&ctx(), "catalog", catalog::PRODUCT_CREATED, data);
        let consumer = self.local.consumers().into_iter().find(|c| c.name == CATALOG_SKUS).unwrap();
        consumer.handler.handle(&event).await.unwrap();
    }

    /// A warehouse, created in process.
    async fn location(&self, code: &str) {
        let input = NewLocation { code: code.into(), name: code.to_uppercase(), kind: LocationKind::Warehouse };
        self.local.create_location(&ctx(), input).await.unwrap();
    }

    /// Units received in process.
    async fn stocked(&self, sku: &str, location: &str, quantity: i64) {
        self.local.receive(&ctx(), receive(sku, location, quantity)).await.unwrap();
    }

    /// Moves a reservation's expiry into the past, as if its time had run out.
    async fn expire_clock(&self, id: Uuid) {
        let past = time::to_db(&(time::now() - chrono::TimeDelta::seconds(1)));
        let mut uow = self.db.begin().await.unwrap();
        query("UPDATE reservations SET expires_at = $1 WHERE id = $2")
            .bind(past)
            .bind(id.to_string())
            .execute(&mut *uow)
            .await
            .unwrap();
        uow.commit().await.unwrap();
    }

    async fn events(&self, event_type: &str) -> Vec<EventEnvelope> {
        outbox::pending(&self.db, 10_000).await.unwrap().into_iter().filter(|e| e.event_type == event_type).collect()
    }

    /// A client of the generated service, for sending what `InventoryClient` never would.
    async fn raw(&self) -> InventoryServiceClient<tonic::transport::Channel> {
        InventoryServiceClient::connect(self.url.clone()).await.unwrap()
    }
}

fn receive(sku: &str, location: &str, quantity: i64) -> ReceiveStock {
    ReceiveStock { sku: sku.into(), location: location.into(), quantity, reference: None }
}

fn adjust(sku: &str, delta: i64, reason: &str) -> AdjustStock {
    AdjustStock { sku: sku.into(), location: "paris".into(), delta, reason: reason.into() }
}

fn reserve(reference: &str, lines: &[(&str, i64)], ttl_seconds: Option<u64>) -> ReserveStock {
    ReserveStock {
        reference: reference.into(),
        lines: lines
            .iter()
            .map(|(sku, quantity)| ReservationLineInput { sku: sku.to_string(), quantity: *quantity })
            .collect(),
        ttl_seconds,
        location: None,
    }
}

/// The JSON form of an answer: the contract types have no `PartialEq`, but all of them serialize
/// every field, so equal JSON is an equal value (instants to the nanosecond).
fn json(value: &impl Serialize) -> serde_json::Value {
    serde_json::to_value(value).unwrap()
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

#[tokio::test]
async fn locations_stock_and_movements_round_trip() {
    let h = start().await;
    h.announce(&["MUG", "TEE"]).await;

    let input = NewLocation { code: "paris".into(), name: "Paris warehouse".into(), kind: LocationKind::Warehouse };
    let paris = h.remote.create_location(&ctx(), input).await.unwrap();
    assert_eq!(
        (paris.code.as_str(), paris.name.as_str(), paris.kind),
        ("paris", "Paris warehouse", LocationKind::Warehouse)
    );
    let input = NewLocation { code: "lyon-shop".into(), name: "Lyon".into(), kind: LocationKind::Store };
    let lyon = h.remote.create_location(&ctx(), input).await.unwrap();
    assert_eq!(lyon.kind, LocationKind::Store);

    let page = h.remote.list_locations(&ctx(), PageRequest::new(1, 1).unwrap()).await.unwrap();
    assert_eq!((page.total, page.per_page, page.items[0].code.as_str()), (2, 1, "lyon-shop"));
    let all = h.remote.list_locations(&ctx(), PageRequest::default()).await.unwrap();
    assert_eq!(json(&all), json(&h.local.list_locations(&ctx(), PageRequest::default()).await.unwrap()));
    assert_eq!(all.items[1].id, paris.id);

    let input = ReceiveStock { reference: Some("PO-1".into()), ..receive("MUG", "paris", 10) };
    let stock = h.remote.receive(&ctx(), input).await.unwrap();
    assert_eq!((stock.sku.as_str(), stock.on_hand, stock.reserved, stock.available), ("MUG", 10, 0, 10));
    assert_eq!(stock.low_stock_threshold, None);
    let stock = h.remote.receive(&ctx(), receive("MUG", "lyon-shop", 4)).await.unwrap();
    assert_eq!(stock.on_hand, 14);
    let stock = h.remote.adjust(&ctx(), adjust("MUG", -3, "damaged")).await.unwrap();
    let levels: Vec<(&str, i64, i64)> =
        stock.levels.iter().map(|l| (l.location.as_str(), l.on_hand, l.available)).collect();
    assert_eq!(levels, [("lyon-shop", 4, 4), ("paris", 7, 7)]);
    assert_eq!(json(&h.remote.stock(&ctx(), "MUG").await.unwrap()), json(&h.local.stock(&ctx(), "MUG").await.unwrap()));

    // Zero is a threshold, distinct from none.
    let stock = h.remote.set_low_stock_threshold(&ctx(), "MUG", Some(0)).await.unwrap();
    assert_eq!(stock.low_stock_threshold, Some(0));
    assert_eq!(h.local.stock(&ctx(), "MUG").await.unwrap().low_stock_threshold, Some(0));
    let stock = h.remote.set_low_stock_threshold(&ctx(), "MUG", Some(5)).await.unwrap();
    assert_eq!((stock.low_stock_threshold, stock.available), (Some(5), 11));
    let stock = h.remote.set_low_stock_threshold(&ctx(), "MUG", None).await.unwrap();
    assert_eq!(stock.low_stock_threshold, None);
    assert_eq!(h.local.stock(&ctx(), "MUG").await.unwrap().low_stock_threshold, None);

    // Once per SKU in the order asked; unknown SKUs have 0.
    let skus = ["MUG".to_string(), "NOPE".into(), "MUG".into(), "TEE".into()];
    let available = h.remote.available(&ctx(), &skus).await.unwrap();
    assert_eq!(available, [("MUG".to_string(), 11), ("NOPE".to_string(), 0), ("TEE".to_string(), 0)]);
    assert!(h.remote.available(&ctx(), &[]).await.unwrap().is_empty());

    let movements = h.remote.movements(&ctx(), MovementFilter::default(), PageRequest::default()).await.unwrap();
    let local = h.local.movements(&ctx(), MovementFilter::default(), PageRequest::default()).await.unwrap();
    assert_eq!(json(&movements), json(&local));
    let seen: Vec<(MovementKind, i64, &str)> =
        movements.items.iter().map(|m| (m.kind, m.delta, m.location.as_str())).collect();
    assert_eq!(
        seen,
        [
            (MovementKind::Adjusted, -3, "paris"),
            (MovementKind::Received, 4, "lyon-shop"),
            (MovementKind::Received, 10, "paris")
        ]
    );
    assert_eq!(
        (movements.items[0].reason.as_deref(), movements.items[0].reference.as_deref()),
        (Some("damaged"), None)
    );
    assert_eq!((movements.items[2].reason.as_deref(), movements.items[2].reference.as_deref()), (None, Some("PO-1")));

    let filter = MovementFilter { sku: Some("MUG".into()), location: Some("paris".into()) };
    let paris_page = h.remote.movements(&ctx(), filter, PageRequest::new(2, 1).unwrap()).await.unwrap();
    assert_eq!((paris_page.total, paris_page.page, paris_page.items.len()), (2, 2, 1));
    assert_eq!(paris_page.items[0].delta, 10);
    let filter = MovementFilter { sku: Some("TEE".into()), location: None };
    assert_eq!(h.remote.movements(&ctx(), filter, PageRequest::default()).await.unwrap().total, 0);
}

#[tokio::test]
async fn low_stock_pages_come_back_as_in_process() {
    let h = start().await;
    h.announce(&["MUG", "TEE", "CAP"]).await;
    h.location("paris").await;
    h.location("lyon").await;
    h.stocked("MUG", "paris", 2).await;
    h.stocked("MUG", "lyon", 1).await;
    h.stocked("TEE", "paris", 10).await;
    for (sku, threshold) in [("MUG", 5), ("TEE", 2), ("CAP", 0)] {
        h.local.set_low_stock_threshold(&ctx(), sku, Some(threshold)).await.unwrap();
    }

    let remote = h.remote.low_stock(&ctx(), PageRequest::default()).await.unwrap();
    assert_eq!(json(&remote), json(&h.local.low_stock(&ctx(), PageRequest::default()).await.unwrap()));
    let seen: Vec<(&str, i64, Option<i64>)> =
        remote.items.iter().map(|s| (s.sku.as_str(), s.available, s.low_stock_threshold)).collect();
    assert_eq!((seen, remote.total), (vec![("CAP", 0, Some(0)), ("MUG", 3, Some(5))], 2));
    assert_eq!(remote.items[1].levels.len(), 2);

    let second = h.remote.low_stock(&ctx(), PageRequest::new(2, 1).unwrap()).await.unwrap();
    assert_eq!((second.total, second.page, second.per_page, second.items[0].sku.as_str()), (2, 2, 1, "MUG"));

    let bad = PageRequest { page: 1, per_page: 500 };
    let e = same_error(h.local.low_stock(&ctx(), bad).await, h.remote.low_stock(&ctx(), bad).await);
    assert_eq!(fields(&e), ["per_page"]);
}

#[tokio::test]
async fn reservations_follow_their_life_cycle_and_retries_are_answered_alike() {
    let h = start().await;
    h.announce(&["TEE", "CAP"]).await;
    h.location("paris").await;
    h.location("lyon").await;
    h.stocked("TEE", "paris", 5).await;
    h.stocked("TEE", "lyon", 3).await;
    h.stocked("CAP", "lyon", 2).await;

    // The caller's context travels: the events the module writes carry it.
    let customer = RequestContext::new("corr-inventory-grpc", Actor::user("customer-7"));
    let order_id = Uuid::now_v7().to_string();
    let r = h
        .remote
        .reserve(&customer, reserve(&order_id, &[("TEE", 4), ("CAP", 1), ("TEE", 3)], Some(600)))
        .await
        .unwrap();
    assert_eq!((r.reference.as_str(), r.status), (order_id.as_str(), ReservationStatus::Active));
    let lines: Vec<(&str, &str, i64)> =
        r.lines.iter().map(|l| (l.sku.as_str(), l.location.as_str(), l.quantity)).collect();
    assert_eq!(lines, [("TEE", "paris", 5), ("TEE", "lyon", 2), ("CAP", "lyon", 1)]);
    assert_eq!((r.expires_at - r.created_at).num_seconds(), 600);
    // As stored, instants have the database's precision (microseconds): compare stored with stored.
    let stored = h.local.get_reservation(&ctx(), r.id).await.unwrap();
    assert_eq!(json(&h.remote.get_reservation(&ctx(), r.id).await.unwrap()), json(&stored));
    assert_eq!((stored.reference.as_str(), stored.lines.len()), (order_id.as_str(), 3));
    let created = h.events(inventory_events::RESERVATION_CREATED).await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].correlation_id, "corr-inventory-grpc");
    assert_eq!(created[0].metadata.actor_id.as_deref(), Some("customer-7"));

    // What the saga relies on when it calls again: the same reference answers the same reservation.
    let again = h
        .remote
        .reserve(&customer, reserve(&order_id, &[("TEE", 4), ("CAP", 1), ("TEE", 3)], Some(600)))
        .await
        .unwrap();
    assert_eq!(json(&again), json(&stored));
    assert_eq!(h.events(inventory_events::RESERVATION_CREATED).await.len(), 1);

    let committed = h.remote.commit_reservation(&ctx(), r.id).await.unwrap();
    assert_eq!(committed.status, ReservationStatus::Committed);
    let again = h.remote.commit_reservation(&ctx(), r.id).await.unwrap();
    assert_eq!(json(&again), json(&committed));
    let tee = h.remote.stock(&ctx(), "TEE").await.unwrap();
    assert_eq!((tee.on_hand, tee.reserved, tee.available), (1, 0, 1), "committed once");
    let e =
        same_error(h.local.release_reservation(&ctx(), r.id).await, h.remote.release_reservation(&ctx(), r.id).await);
    assert_eq!((e.status(), e.code()), (409, "reservation-not-active"));
    let filter = MovementFilter { sku: Some("CAP".into()), location: None };
    let sold = h.remote.movements(&ctx(), filter, PageRequest::default()).await.unwrap().items.remove(0);
    assert_eq!(
        (sold.kind, sold.delta, sold.reference.as_deref()),
        (MovementKind::Committed, -1, Some(order_id.as_str()))
    );

    // The default expiry applies when none is given.
    let cart = h.remote.reserve(&ctx(), reserve("cart-1", &[("CAP", 1)], None)).await.unwrap();
    assert_eq!((cart.expires_at - cart.created_at).num_seconds(), 900);
    let released = h.remote.release_reservation(&ctx(), cart.id).await.unwrap();
    assert_eq!(released.status, ReservationStatus::Released);
    assert_eq!(json(&h.remote.release_reservation(&ctx(), cart.id).await.unwrap()), json(&released));
    assert_eq!(h.events(inventory_events::RESERVATION_RELEASED).await.len(), 1, "released once");
    let e = same_error(
        h.local.commit_reservation(&ctx(), cart.id).await,
        h.remote.commit_reservation(&ctx(), cart.id).await,
    );
    assert_eq!(e.code(), "reservation-not-active");

    let stale = h.remote.reserve(&ctx(), reserve("cart-2", &[("CAP", 1)], Some(60))).await.unwrap();
    assert_eq!(h.remote.release_expired(&ctx()).await.unwrap(), 0, "nothing expired yet");
    h.expire_clock(stale.id).await;
    assert_eq!(h.remote.release_expired(&ctx()).await.unwrap(), 1);
    assert_eq!(h.remote.release_expired(&ctx()).await.unwrap(), 0);
    assert_eq!(h.remote.get_reservation(&ctx(), stale.id).await.unwrap().status, ReservationStatus::Expired);
    assert_eq!(h.remote.release_reservation(&ctx(), stale.id).await.unwrap().status, ReservationStatus::Expired);
    assert_eq!(h.remote.available(&ctx(), &["CAP".into()]).await.unwrap(), [("CAP".to_string(), 1)]);
}

#[tokio::test]
async fn errors_come_back_as_in_process() {
    let h = start().await;
    h.announce(&["MUG"]).await;
    h.location("paris").await;
    h.stocked("MUG", "paris", 5).await;
    h.local.reserve(&ctx(), reserve("cart-1", &[("MUG", 2)], None)).await.unwrap();

    // Not found.
    let e = same_error(h.local.stock(&ctx(), "GHOST").await, h.remote.stock(&ctx(), "GHOST").await);
    assert!(matches!(&e, Error::NotFound { resource: "sku", id } if id == "GHOST"), "{e:?}");
    same_error(
        h.local.set_low_stock_threshold(&ctx(), "GHOST", Some(1)).await,
        h.remote.set_low_stock_threshold(&ctx(), "GHOST", Some(1)).await,
    );
    same_error(
        h.local.receive(&ctx(), receive("GHOST", "paris", 1)).await,
        h.remote.receive(&ctx(), receive("GHOST", "paris", 1)).await,
    );
    let lines = [("MUG", 1), ("GHOST", 1)];
    let e = same_error(
        h.local.reserve(&ctx(), reserve("cart-2", &lines, None)).await,
        h.remote.reserve(&ctx(), reserve("cart-2", &lines, None)).await,
    );
    assert!(matches!(&e, Error::NotFound { id, .. } if id == "GHOST"), "{e:?}");
    let unknown = Uuid::now_v7();
    let e = same_error(h.local.get_reservation(&ctx(), unknown).await, h.remote.get_reservation(&ctx(), unknown).await);
    assert!(matches!(&e, Error::NotFound { resource: "reservation", .. }), "{e:?}");
    same_error(h.local.commit_reservation(&ctx(), unknown).await, h.remote.commit_reservation(&ctx(), unknown).await);
    same_error(h.local.release_reservation(&ctx(), unknown).await, h.remote.release_reservation(&ctx(), unknown).await);

    // Validation, with the module's field names.
    let e = same_error(
        h.local.receive(&ctx(), receive("MUG", "nowhere", 0)).await,
        h.remote.receive(&ctx(), receive("MUG", "nowhere", 0)).await,
    );
    assert_eq!((e.status(), fields(&e)), (422, vec!["quantity"]));
    let e = same_error(
        h.local.receive(&ctx(), receive("MUG", "nowhere", 1)).await,
        h.remote.receive(&ctx(), receive("MUG", "nowhere", 1)).await,
    );
    assert_eq!((e.status(), fields(&e)), (422, vec!["location"]));
    let e = same_error(
        h.local.adjust(&ctx(), adjust("MUG", 0, " ")).await,
        h.remote.adjust(&ctx(), adjust("MUG", 0, " ")).await,
    );
    assert_eq!((e.status(), fields(&e)), (422, vec!["delta", "reason"]));
    let bad = || NewLocation { code: "Not A Slug".into(), name: "".into(), kind: LocationKind::Store };
    let e = same_error(h.local.create_location(&ctx(), bad()).await, h.remote.create_location(&ctx(), bad()).await);
    assert_eq!((e.status(), fields(&e)), (422, vec!["code", "name"]));
    let e = same_error(
        h.local.set_low_stock_threshold(&ctx(), "MUG", Some(-1)).await,
        h.remote.set_low_stock_threshold(&ctx(), "MUG", Some(-1)).await,
    );
    assert_eq!(fields(&e), ["threshold"]);
    let empty = || reserve(" ", &[], Some(0));
    let e = same_error(h.local.reserve(&ctx(), empty()).await, h.remote.reserve(&ctx(), empty()).await);
    assert_eq!((e.status(), fields(&e)), (422, vec!["reference", "lines", "ttl_seconds"]));
    let lines = [("MUG", 1), ("", 0)];
    let e = same_error(
        h.local.reserve(&ctx(), reserve("cart-2", &lines, None)).await,
        h.remote.reserve(&ctx(), reserve("cart-2", &lines, None)).await,
    );
    assert_eq!(fields(&e), ["lines[1].sku", "lines[1].quantity"]);
    let too_many: Vec<String> = (0..501).map(|i| format!("SKU-{i}")).collect();
    let e = same_error(h.local.available(&ctx(), &too_many).await, h.remote.available(&ctx(), &too_many).await);
    assert_eq!(fields(&e), ["skus"]);
    let page_zero = PageRequest { page: 0, per_page: 20 };
    let e =
        same_error(h.local.list_locations(&ctx(), page_zero).await, h.remote.list_locations(&ctx(), page_zero).await);
    assert_eq!(fields(&e), ["page"]);
    let huge = PageRequest { page: 1, per_page: 1000 };
    let e = same_error(
        h.local.movements(&ctx(), MovementFilter::default(), huge).await,
        h.remote.movements(&ctx(), MovementFilter::default(), huge).await,
    );
    assert_eq!(fields(&e), ["per_page"]);

    // Conflicts, with their codes.
    let duplicate = || NewLocation { code: "paris".into(), name: "Again".into(), kind: LocationKind::Store };
    let e = same_error(
        h.local.create_location(&ctx(), duplicate()).await,
        h.remote.create_location(&ctx(), duplicate()).await,
    );
    assert_eq!((e.status(), e.code(), fields(&e)), (409, "duplicate-location", vec!["code"]));
    let e = same_error(
        h.local.adjust(&ctx(), adjust("MUG", -4, "lost")).await,
        h.remote.adjust(&ctx(), adjust("MUG", -4, "lost")).await,
    );
    assert_eq!((e.status(), e.code(), fields(&e)), (409, "insufficient-stock", vec!["delta"]));
    let lines = [("MUG", 1), ("MUG", 3)];
    let e = same_error(
        h.local.reserve(&ctx(), reserve("cart-2", &lines, None)).await,
        h.remote.reserve(&ctx(), reserve("cart-2", &lines, None)).await,
    );
    assert_eq!((e.status(), e.code(), fields(&e)), (409, "insufficient-stock", vec!["lines[0].quantity"]));
    assert_eq!(e.to_string(), "only 3 available for SKU MUG");

    // Nothing above changed anything.
    let stock = h.remote.stock(&ctx(), "MUG").await.unwrap();
    assert_eq!((stock.on_hand, stock.reserved, stock.available), (5, 2, 3));
    assert_eq!(h.remote.list_locations(&ctx(), PageRequest::default()).await.unwrap().total, 1);
}

#[tokio::test]
async fn store_reservations_and_restocks_round_trip() {
    let h = start().await;
    h.announce(&["MUG"]).await;
    h.location("central").await;
    h.location("paris-store").await;
    h.stocked("MUG", "central", 40).await;
    h.stocked("MUG", "paris-store", 2).await;

    // Limited to the store, the reservation takes its units and not the warehouse's.
    let at_store = |reference: &str, quantity| ReserveStock {
        location: Some("paris-store".into()),
        ..reserve(reference, &[("MUG", quantity)], None)
    };
    let r = h.remote.reserve(&ctx(), at_store("pos:1", 2)).await.unwrap();
    let lines: Vec<(&str, i64)> = r.lines.iter().map(|l| (l.location.as_str(), l.quantity)).collect();
    assert_eq!(lines, [("paris-store", 2)]);
    let e = same_error(
        h.local.reserve(&ctx(), at_store("pos:2", 1)).await,
        h.remote.reserve(&ctx(), at_store("pos:2", 1)).await,
    );
    assert_eq!((e.status(), e.code(), fields(&e)), (409, "insufficient-stock", vec!["lines[0].quantity"]));
    assert_eq!(e.to_string(), "only 0 available for SKU MUG at paris-store");
    let nowhere = || ReserveStock { location: Some("nowhere".into()), ..reserve("pos:3", &[("MUG", 1)], None) };
    let e = same_error(h.local.reserve(&ctx(), nowhere()).await, h.remote.reserve(&ctx(), nowhere()).await);
    assert_eq!((e.status(), fields(&e)), (422, vec!["location"]));
    h.remote.commit_reservation(&ctx(), r.id).await.unwrap();

    // A return put back on the store's shelf, once however often it is sent.
    let restock = |quantity, reference: &str| RestockUnits {
        sku: "MUG".into(),
        location: "paris-store".into(),
        quantity,
        reference: reference.into(),
    };
    let stock = h.remote.restock(&ctx(), restock(1, "pos-return:1")).await.unwrap();
    let levels: Vec<(&str, i64)> = stock.levels.iter().map(|l| (l.location.as_str(), l.on_hand)).collect();
    assert_eq!(levels, [("central", 40), ("paris-store", 1)]);
    let again = h.remote.restock(&ctx(), restock(1, "pos-return:1")).await.unwrap();
    assert_eq!(json(&again), json(&stock));
    assert_eq!(json(&again), json(&h.local.stock(&ctx(), "MUG").await.unwrap()));
    let filter = MovementFilter { sku: Some("MUG".into()), location: Some("paris-store".into()) };
    let back = h.remote.movements(&ctx(), filter, PageRequest::default()).await.unwrap().items.remove(0);
    assert_eq!((back.kind, back.delta, back.reference.as_deref()), (MovementKind::Returned, 1, Some("pos-return:1")));

    let e = same_error(h.local.restock(&ctx(), restock(0, " ")).await, h.remote.restock(&ctx(), restock(0, " ")).await);
    assert_eq!((e.status(), fields(&e)), (422, vec!["quantity", "reference"]));
    let elsewhere = || RestockUnits { location: "nowhere".into(), ..restock(1, "pos-return:2") };
    let e = same_error(h.local.restock(&ctx(), elsewhere()).await, h.remote.restock(&ctx(), elsewhere()).await);
    assert_eq!((e.status(), fields(&e)), (422, vec!["location"]));
    let ghost = || RestockUnits { sku: "GHOST".into(), ..restock(1, "pos-return:2") };
    let e = same_error(h.local.restock(&ctx(), ghost()).await, h.remote.restock(&ctx(), ghost()).await);
    assert!(matches!(&e, Error::NotFound { resource: "sku", .. }), "{e:?}");
    assert_eq!(h.remote.stock(&ctx(), "MUG").await.unwrap().on_hand, 41);
}

#[tokio::test]
async fn malformed_messages_are_bad_requests_naming_the_field() {
    let h = start().await;
    let mut raw = h.raw().await;

    let status = raw.commit_reservation(pb::CommitReservationRequest { id: "nope".into() }).await.unwrap_err();
    let e = from_status("inventory", &status);
    assert_eq!(e.status(), 400);
    assert!(e.to_string().contains("id"), "{e}");
    let status = raw.get_reservation(pb::GetReservationRequest { id: String::new() }).await.unwrap_err();
    assert_eq!(from_status("inventory", &status).status(), 400);

    for kind in [pb::LocationKind::Unspecified as i32, 42] {
        let message = pb::CreateLocationRequest { code: "paris".into(), name: "Paris".into(), kind };
        let e = from_status("inventory", &raw.create_location(message).await.unwrap_err());
        assert_eq!(e.status(), 400);
        assert!(e.to_string().contains("kind"), "{e}");
    }
    assert_eq!(h.local.list_locations(&ctx(), PageRequest::default()).await.unwrap().total, 0, "nothing created");

    // An absent page is the default page, as in process.
    let reply = raw.list_locations(pb::ListLocationsRequest { page: None }).await.unwrap().into_inner();
    let page = reply.page.unwrap();
    assert_eq!((page.page, page.per_page, page.total), (1, 20, 0));
}

#[tokio::test]
async fn a_down_service_fails_fast_with_unavailable() {
    // Nothing listens on this port: connection refused.
    let remote =
        InventoryClient::new(Remote::connect("inventory", "http://127.0.0.1:1", RemoteSettings::default()).unwrap());
    let e = remote.stock(&ctx(), "MUG").await.unwrap_err();
    assert_eq!(e.status(), 503);
    assert!(e.to_string().contains("inventory service is unavailable"), "{e}");
}
