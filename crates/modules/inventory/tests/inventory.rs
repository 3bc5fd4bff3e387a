//! The inventory module against a real database: SQLite, or PostgreSQL when
//! COMPTOIR_TEST_BACKEND=postgres.

use std::sync::Arc;
use std::time::Duration;

use comptoir_contracts::catalog::ProductStatus;
use comptoir_contracts::catalog::events::{self as catalog, ProductChanged};
use comptoir_contracts::inventory::events::{self, ReservationChanged, StockChanged, StockLow};
use comptoir_contracts::inventory::{
    AdjustStock, InventoryPort, LocationKind, MovementFilter, MovementKind, NewLocation, ReceiveStock,
    ReservationLineInput, ReservationStatus, ReserveStock, RestockUnits,
};
use comptoir_inventory::{CATALOG_SKUS, InventoryModule, MIGRATIONS, ORDERS};
use comptoir_kernel::{Error, EventEnvelope, PageRequest, RequestContext, time};
use comptoir_storage::{outbox, query, query_scalar, testing};
use uuid::Uuid;

struct Shop {
    db: testing::TestDb,
    inventory: InventoryModule,
}

async fn open() -> Shop {
    let db = testing::open("inventory", &MIGRATIONS).await;
    let inventory = InventoryModule::new(db.clone());
    Shop { db, inventory }
}

fn ctx() -> RequestContext {
    RequestContext::system()
}

fn product_event(event_type: &str, product_id: Uuid, name: &str, skus: &[&str]) -> EventEnvelope {
    let data = ProductChanged {
        product_id,
        seller_id: Uuid::nil(),
        name: name.into(),
        slug: "tee".into(),
        status: ProductStatus::Published,
        skus: skus.iter().map(|s| s.to_string()).collect(),
    };
    EventEnvelope::new(&ctx(), "catalog", event_type, data)
}

impl Shop {
    async fn deliver(&self, event: &EventEnvelope) {
        self.consumer(CATALOG_SKUS).handler.handle(event).await.unwrap();
    }

    fn consumer(&self, name: &str) -> comptoir_eventbus::Consumer {
        self.inventory.consumers().into_iter().find(|c| c.name == name).expect("consumer exists")
    }

    /// The catalog announces a product with these SKUs.
    async fn announce(&self, skus: &[&str]) -> Uuid {
        let product_id = Uuid::now_v7();
        self.deliver(&product_event(catalog::PRODUCT_CREATED, product_id, "Tee", skus)).await;
        product_id
    }

    async fn location(&self, code: &str) {
        let input = NewLocation { code: code.into(), name: code.to_uppercase(), kind: LocationKind::Warehouse };
        self.inventory.create_location(&ctx(), input).await.unwrap();
    }

    async fn receive(&self, sku: &str, location: &str, quantity: i64) {
        let input = ReceiveStock { sku: sku.into(), location: location.into(), quantity, reference: None };
        self.inventory.receive(&ctx(), input).await.unwrap();
    }

    async fn adjust(&self, sku: &str, location: &str, delta: i64) -> Result<(), Error> {
        let input = AdjustStock { sku: sku.into(), location: location.into(), delta, reason: "count".into() };
        self.inventory.adjust(&ctx(), input).await.map(|_| ())
    }

    async fn reserve(
        &self,
        reference: &str,
        lines: &[(&str, i64)],
    ) -> Result<comptoir_contracts::inventory::Reservation, Error> {
        self.inventory.reserve(&ctx(), reserve_input(reference, lines)).await
    }

    /// (on_hand, reserved, available) across locations.
    async fn totals(&self, sku: &str) -> (i64, i64, i64) {
        let s = self.inventory.stock(&ctx(), sku).await.unwrap();
        (s.on_hand, s.reserved, s.available)
    }

    async fn events(&self, event_type: &str) -> Vec<EventEnvelope> {
        outbox::pending(&self.db, 100_000).await.unwrap().into_iter().filter(|e| e.event_type == event_type).collect()
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
}

fn reserve_input(reference: &str, lines: &[(&str, i64)]) -> ReserveStock {
    ReserveStock {
        reference: reference.into(),
        lines: lines
            .iter()
            .map(|(sku, quantity)| ReservationLineInput { sku: sku.to_string(), quantity: *quantity })
            .collect(),
        ttl_seconds: None,
        location: None,
    }
}

fn field(e: &Error) -> &str {
    e.field_errors().first().map(|f| f.field.as_str()).unwrap_or("")
}

#[tokio::test]
async fn the_catalog_consumer_learns_skus_and_ignores_redelivered_events() {
    let shop = open().await;
    assert_eq!(shop.inventory.consumers()[0].name, CATALOG_SKUS);
    assert_eq!(shop.inventory.consumers()[0].patterns, ["product.item.*"]);
    shop.location("paris").await;

    let e404 = shop.inventory.stock(&ctx(), "TEE-M").await.unwrap_err();
    assert_eq!(e404.status(), 404, "unknown before the catalog announces it");

    let product_id = Uuid::now_v7();
    let created = product_event(catalog::PRODUCT_CREATED, product_id, "Tee", &["TEE-M", "TEE-L"]);
    shop.deliver(&created).await;
    shop.receive("TEE-M", "paris", 4).await;
    assert_eq!(shop.totals("TEE-L").await, (0, 0, 0));

    // A redelivered event has no second effect, even if the row changed since.
    let mut uow = shop.db.begin().await.unwrap();
    query("UPDATE skus SET product_name = 'Renamed' WHERE sku = 'TEE-M'").execute(&mut *uow).await.unwrap();
    uow.commit().await.unwrap();
    shop.deliver(&created).await;
    let name: String =
        query_scalar("SELECT product_name FROM skus WHERE sku = 'TEE-M'").fetch_one(shop.db.reader()).await.unwrap();
    assert_eq!(name, "Renamed");
    let claims: i64 = query_scalar("SELECT COUNT(*) FROM inbox WHERE consumer = 'inventory.catalog-skus'")
        .fetch_one(shop.db.reader())
        .await
        .unwrap();
    assert_eq!(claims, 1);

    // An update that drops a SKU discontinues it; other item events are not about SKUs.
    shop.deliver(&product_event(catalog::PRODUCT_UPDATED, product_id, "Tee shirt", &["TEE-M", "TEE-XL"])).await;
    shop.deliver(&product_event(catalog::PRODUCT_PUBLISHED, product_id, "Tee shirt", &["TEE-M", "TEE-XL"])).await;
    let discontinued = |shop: &Shop| {
        let db = shop.db.clone();
        async move {
            query_scalar::<_, String>("SELECT sku FROM skus WHERE discontinued = TRUE ORDER BY sku")
                .fetch_all(db.reader())
                .await
                .unwrap()
        }
    };
    assert_eq!(discontinued(&shop).await, ["TEE-L"]);
    let name: String =
        query_scalar("SELECT product_name FROM skus WHERE sku = 'TEE-XL'").fetch_one(shop.db.reader()).await.unwrap();
    assert_eq!(name, "Tee shirt");

    // Deleting the product discontinues its SKUs and keeps their stock.
    shop.deliver(&product_event(catalog::PRODUCT_DELETED, product_id, "Tee shirt", &["TEE-M", "TEE-XL"])).await;
    assert_eq!(discontinued(&shop).await, ["TEE-L", "TEE-M", "TEE-XL"]);
    assert_eq!(shop.totals("TEE-M").await, (4, 0, 4));

    // A late redelivery of an older event cannot bring the SKU back.
    let stale = EventEnvelope { id: Uuid::now_v7(), ..created.clone() };
    shop.deliver(&stale).await;
    assert_eq!(discontinued(&shop).await, ["TEE-L", "TEE-M", "TEE-XL"]);
}

#[tokio::test]
async fn receiving_and_adjusting_record_movements_and_events() {
    let shop = open().await;
    shop.announce(&["MUG"]).await;
    shop.location("paris").await;
    shop.location("lyon").await;
    assert_eq!(shop.events(events::LOCATION_CREATED).await.len(), 2);

    let input =
        ReceiveStock { sku: "MUG".into(), location: "paris".into(), quantity: 10, reference: Some("PO-1".into()) };
    let stock = shop.inventory.receive(&ctx(), input).await.unwrap();
    assert_eq!((stock.on_hand, stock.available), (10, 10));
    let input = AdjustStock { sku: "MUG".into(), location: "paris".into(), delta: -3, reason: "damaged".into() };
    let stock = shop.inventory.adjust(&ctx(), input).await.unwrap();
    assert_eq!(stock.on_hand, 7);
    shop.receive("MUG", "lyon", 5).await;

    let stock = shop.inventory.stock(&ctx(), "MUG").await.unwrap();
    assert_eq!((stock.on_hand, stock.reserved, stock.available), (12, 0, 12));
    let levels: Vec<(&str, i64)> = stock.levels.iter().map(|l| (l.location.as_str(), l.on_hand)).collect();
    assert_eq!(levels, [("lyon", 5), ("paris", 7)]);

    let all = shop.inventory.movements(&ctx(), MovementFilter::default(), PageRequest::default()).await.unwrap();
    assert_eq!(all.total, 3);
    let kinds: Vec<(MovementKind, i64, &str)> =
        all.items.iter().map(|m| (m.kind, m.delta, m.location.as_str())).collect();
    assert_eq!(
        kinds,
        [
            (MovementKind::Received, 5, "lyon"),
            (MovementKind::Adjusted, -3, "paris"),
            (MovementKind::Received, 10, "paris")
        ]
    );
    assert_eq!(all.items[1].reason.as_deref(), Some("damaged"));
    assert_eq!(all.items[2].reference.as_deref(), Some("PO-1"));

    let filter = MovementFilter { sku: Some("MUG".into()), location: Some("paris".into()) };
    let paris = shop.inventory.movements(&ctx(), filter, PageRequest::new(1, 1).unwrap()).await.unwrap();
    assert_eq!((paris.total, paris.items.len(), paris.items[0].delta), (2, 1, -3));
    let none = MovementFilter { sku: Some("OTHER".into()), location: None };
    assert_eq!(shop.inventory.movements(&ctx(), none, PageRequest::default()).await.unwrap().total, 0);

    let changed: Vec<StockChanged> =
        shop.events(events::STOCK_CHANGED).await.iter().map(|e| e.data_as().unwrap()).collect();
    let seen: Vec<(&str, i64, i64)> = changed.iter().map(|c| (c.location.as_str(), c.on_hand, c.available)).collect();
    assert_eq!(seen, [("paris", 10, 10), ("paris", 7, 7), ("lyon", 5, 12)]);

    let available = shop.inventory.available(&ctx(), &["MUG".into(), "NOPE".into(), "MUG".into()]).await.unwrap();
    assert_eq!(available, [("MUG".to_string(), 12), ("NOPE".to_string(), 0)]);
    assert!(shop.inventory.available(&ctx(), &[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn bad_input_unknown_things_and_conflicts_change_nothing() {
    let shop = open().await;
    shop.announce(&["MUG"]).await;
    shop.location("paris").await;
    shop.receive("MUG", "paris", 5).await;
    shop.reserve("cart-1", &[("MUG", 2)]).await.unwrap();
    let events_before = outbox::pending(&shop.db, 1000).await.unwrap().len();

    let receive = |sku: &str, location: &str, quantity| ReceiveStock {
        sku: sku.into(),
        location: location.into(),
        quantity,
        reference: None,
    };
    let e = shop.inventory.receive(&ctx(), receive("GHOST", "paris", 1)).await.unwrap_err();
    assert!(matches!(&e, Error::NotFound { resource: "sku", id } if id == "GHOST"), "{e:?}");
    let e = shop.inventory.receive(&ctx(), receive("MUG", "nowhere", 1)).await.unwrap_err();
    assert_eq!((e.status(), field(&e)), (422, "location"));
    let e = shop.inventory.receive(&ctx(), receive("MUG", "paris", 0)).await.unwrap_err();
    assert_eq!((e.status(), field(&e)), (422, "quantity"));

    let adjust =
        |delta, reason: &str| AdjustStock { sku: "MUG".into(), location: "paris".into(), delta, reason: reason.into() };
    let e = shop.inventory.adjust(&ctx(), adjust(0, "count")).await.unwrap_err();
    assert_eq!((e.status(), field(&e)), (422, "delta"));
    let e = shop.inventory.adjust(&ctx(), adjust(-1, " ")).await.unwrap_err();
    assert_eq!((e.status(), field(&e)), (422, "reason"));
    let e = shop.inventory.adjust(&ctx(), AdjustStock { sku: "GHOST".into(), ..adjust(1, "count") }).await.unwrap_err();
    assert_eq!(e.status(), 404);
    // 5 on hand, 2 reserved: at most 3 can go.
    let e = shop.adjust("MUG", "paris", -4).await.unwrap_err();
    assert_eq!((e.status(), e.code(), field(&e)), (409, "insufficient-stock", "delta"));
    let e = shop.adjust("MUG", "paris", -6).await.unwrap_err();
    assert_eq!(e.code(), "insufficient-stock", "never below zero");

    let duplicate = NewLocation { code: "paris".into(), name: "Again".into(), kind: LocationKind::Store };
    let e = shop.inventory.create_location(&ctx(), duplicate).await.unwrap_err();
    assert_eq!((e.status(), e.code(), field(&e)), (409, "duplicate-location", "code"));
    let bad = NewLocation { code: "Not A Slug".into(), name: "x".into(), kind: LocationKind::Store };
    assert_eq!(field(&shop.inventory.create_location(&ctx(), bad).await.unwrap_err()), "code");

    let e = shop.inventory.set_low_stock_threshold(&ctx(), "MUG", Some(-1)).await.unwrap_err();
    assert_eq!((e.status(), field(&e)), (422, "threshold"));
    assert_eq!(shop.inventory.set_low_stock_threshold(&ctx(), "GHOST", Some(1)).await.unwrap_err().status(), 404);

    let e = shop.reserve("cart-2", &[("MUG", 1), ("MUG", 0)]).await.unwrap_err();
    assert_eq!((e.status(), field(&e)), (422, "lines[1].quantity"));
    let e = shop.reserve("cart-2", &[("MUG", 1), ("GHOST", 1)]).await.unwrap_err();
    assert!(matches!(&e, Error::NotFound { id, .. } if id == "GHOST"), "{e:?}");
    let e = shop.reserve("cart-2", &[]).await.unwrap_err();
    assert_eq!(field(&e), "lines");
    let mut long = reserve_input("cart-2", &[("MUG", 1)]);
    long.ttl_seconds = Some(86_401);
    assert_eq!(field(&shop.inventory.reserve(&ctx(), long).await.unwrap_err()), "ttl_seconds");
    let e = shop.reserve("cart-2", &[("MUG", 4)]).await.unwrap_err();
    assert_eq!((e.status(), e.code(), field(&e)), (409, "insufficient-stock", "lines[0].quantity"));
    assert_eq!(e.to_string(), "only 3 available for SKU MUG");

    assert_eq!(shop.inventory.get_reservation(&ctx(), Uuid::now_v7()).await.unwrap_err().status(), 404);
    assert_eq!(shop.inventory.commit_reservation(&ctx(), Uuid::now_v7()).await.unwrap_err().status(), 404);
    assert_eq!(shop.inventory.release_reservation(&ctx(), Uuid::now_v7()).await.unwrap_err().status(), 404);
    let e = shop.inventory.list_locations(&ctx(), PageRequest { page: 0, per_page: 20 }).await.unwrap_err();
    assert_eq!(field(&e), "page");

    assert_eq!(shop.totals("MUG").await, (5, 2, 3));
    let movements = shop.inventory.movements(&ctx(), MovementFilter::default(), PageRequest::default()).await.unwrap();
    assert_eq!(movements.total, 1, "only the first receipt");
    assert_eq!(outbox::pending(&shop.db, 1000).await.unwrap().len(), events_before, "no event for a refused change");
    assert_eq!(shop.inventory.list_locations(&ctx(), PageRequest::default()).await.unwrap().total, 1);
}

#[tokio::test]
async fn low_stock_is_announced_when_available_crosses_the_threshold() {
    let shop = open().await;
    shop.announce(&["MUG"]).await;
    shop.location("paris").await;
    let stock = shop.inventory.set_low_stock_threshold(&ctx(), "MUG", Some(5)).await.unwrap();
    assert_eq!(stock.low_stock_threshold, Some(5));
    shop.receive("MUG", "paris", 10).await;
    shop.adjust("MUG", "paris", -4).await.unwrap(); // 6: still above
    assert!(shop.events(events::STOCK_LOW).await.is_empty());

    let first = shop.reserve("cart-1", &[("MUG", 1)]).await.unwrap(); // 5: crossed
    let low = shop.events(events::STOCK_LOW).await;
    assert_eq!(low.len(), 1);
    let payload: StockLow = low[0].data_as().unwrap();
    assert_eq!((payload.sku.as_str(), payload.available, payload.threshold), ("MUG", 5, 5));

    let second = shop.reserve("cart-2", &[("MUG", 2)]).await.unwrap(); // 3: already low
    shop.adjust("MUG", "paris", 1).await.unwrap(); // 4: going up
    assert_eq!(shop.events(events::STOCK_LOW).await.len(), 1);

    shop.inventory.release_reservation(&ctx(), first.id).await.unwrap();
    shop.inventory.release_reservation(&ctx(), second.id).await.unwrap(); // back to 7
    shop.adjust("MUG", "paris", -2).await.unwrap(); // 5: crossed again
    assert_eq!(shop.events(events::STOCK_LOW).await.len(), 2);

    shop.inventory.set_low_stock_threshold(&ctx(), "MUG", None).await.unwrap();
    shop.adjust("MUG", "paris", -5).await.unwrap();
    assert_eq!(shop.events(events::STOCK_LOW).await.len(), 2, "no threshold, no alert");
    assert_eq!(shop.inventory.stock(&ctx(), "MUG").await.unwrap().low_stock_threshold, None);
}

#[tokio::test]
async fn low_stock_lists_skus_at_or_below_their_threshold_lowest_first() {
    let shop = open().await;
    shop.announce(&["MUG", "TEE", "CAP", "PEN", "HAT"]).await;
    let old_product = shop.announce(&["OLD"]).await;
    shop.location("paris").await;
    shop.location("lyon").await;
    let low = |shop: &Shop, page: PageRequest| {
        let inventory = shop.inventory.clone();
        async move {
            let found = inventory.low_stock(&ctx(), page).await.unwrap();
            let items: Vec<(String, i64, Option<i64>)> =
                found.items.iter().map(|s| (s.sku.clone(), s.available, s.low_stock_threshold)).collect();
            (items, found.total)
        }
    };
    assert_eq!(low(&shop, PageRequest::default()).await, (vec![], 0), "no thresholds, no alerts");

    // MUG: 3 available across two locations, threshold 5: low.
    shop.receive("MUG", "paris", 2).await;
    shop.receive("MUG", "lyon", 1).await;
    shop.inventory.set_low_stock_threshold(&ctx(), "MUG", Some(5)).await.unwrap();
    // TEE: 10 on hand, threshold 2: fine until 9 are reserved.
    shop.receive("TEE", "paris", 10).await;
    shop.inventory.set_low_stock_threshold(&ctx(), "TEE", Some(2)).await.unwrap();
    // CAP: never stocked, threshold 0: at its threshold.
    shop.inventory.set_low_stock_threshold(&ctx(), "CAP", Some(0)).await.unwrap();
    // PEN: no threshold, nothing in stock: not an alert.
    // HAT: exactly at its threshold.
    shop.receive("HAT", "lyon", 4).await;
    shop.inventory.set_low_stock_threshold(&ctx(), "HAT", Some(4)).await.unwrap();
    // OLD: low, but the catalog dropped it.
    shop.inventory.set_low_stock_threshold(&ctx(), "OLD", Some(3)).await.unwrap();
    shop.deliver(&product_event(catalog::PRODUCT_DELETED, old_product, "Old", &["OLD"])).await;

    let expected = vec![("CAP".to_string(), 0, Some(0)), ("MUG".into(), 3, Some(5)), ("HAT".into(), 4, Some(4))];
    assert_eq!(low(&shop, PageRequest::default()).await, (expected, 3));
    let mug = shop.inventory.low_stock(&ctx(), PageRequest::new(2, 1).unwrap()).await.unwrap();
    assert_eq!((mug.total, mug.page, mug.per_page, mug.items.len()), (3, 2, 1, 1));
    let levels: Vec<(&str, i64)> = mug.items[0].levels.iter().map(|l| (l.location.as_str(), l.available)).collect();
    assert_eq!(levels, [("lyon", 1), ("paris", 2)]);
    assert_eq!((mug.items[0].on_hand, mug.items[0].reserved), (3, 0));

    // Reserved units are not available: TEE falls to 1.
    shop.reserve("cart-1", &[("TEE", 9)]).await.unwrap();
    let (items, total) = low(&shop, PageRequest::default()).await;
    let skus: Vec<&str> = items.iter().map(|(sku, _, _)| sku.as_str()).collect();
    assert_eq!((skus, total), (vec!["CAP", "TEE", "MUG", "HAT"], 4));
    let tee = shop.inventory.low_stock(&ctx(), PageRequest::new(1, 2).unwrap()).await.unwrap();
    assert_eq!((tee.items[1].on_hand, tee.items[1].reserved, tee.items[1].available), (10, 9, 1));

    // Restocked above the threshold, or the threshold cleared: no longer listed.
    shop.receive("MUG", "paris", 10).await;
    shop.inventory.set_low_stock_threshold(&ctx(), "CAP", None).await.unwrap();
    let (items, total) = low(&shop, PageRequest::default()).await;
    let skus: Vec<&str> = items.iter().map(|(sku, _, _)| sku.as_str()).collect();
    assert_eq!((skus, total), (vec!["TEE", "HAT"], 2));
    assert!(shop.inventory.low_stock(&ctx(), PageRequest { page: 0, per_page: 20 }).await.is_err());
}

#[tokio::test]
async fn reservations_are_all_or_nothing_and_split_across_locations() {
    let shop = open().await;
    shop.announce(&["TEE", "CAP"]).await;
    shop.location("paris").await;
    shop.location("lyon").await;
    shop.receive("TEE", "paris", 5).await;
    shop.receive("TEE", "lyon", 3).await;
    shop.receive("CAP", "lyon", 1).await;

    let e = shop.reserve("order-1", &[("TEE", 7), ("CAP", 2)]).await.unwrap_err();
    assert_eq!((e.code(), field(&e)), ("insufficient-stock", "lines[1].quantity"));
    assert_eq!(e.to_string(), "only 1 available for SKU CAP");
    assert_eq!(shop.totals("TEE").await, (8, 0, 8), "nothing held for the line that fitted");
    assert!(shop.events(events::RESERVATION_CREATED).await.is_empty());

    // The same SKU twice is summed: 7 TEE, taken from Paris (most available) then Lyon.
    let r = shop.reserve("order-1", &[("TEE", 4), ("CAP", 1), ("TEE", 3)]).await.unwrap();
    assert_eq!(r.status, ReservationStatus::Active);
    let lines: Vec<(&str, &str, i64)> =
        r.lines.iter().map(|l| (l.sku.as_str(), l.location.as_str(), l.quantity)).collect();
    assert_eq!(lines, [("TEE", "paris", 5), ("TEE", "lyon", 2), ("CAP", "lyon", 1)]);
    let ttl = r.expires_at - r.created_at;
    assert_eq!(ttl.num_seconds(), 900);

    let tee = shop.inventory.stock(&ctx(), "TEE").await.unwrap();
    assert_eq!((tee.on_hand, tee.reserved, tee.available), (8, 7, 1));
    let levels: Vec<(&str, i64, i64)> =
        tee.levels.iter().map(|l| (l.location.as_str(), l.reserved, l.available)).collect();
    assert_eq!(levels, [("lyon", 2, 1), ("paris", 5, 0)]);
    assert_eq!(shop.totals("CAP").await, (1, 1, 0));

    let created = shop.events(events::RESERVATION_CREATED).await;
    assert_eq!(created.len(), 1);
    let payload: ReservationChanged = created[0].data_as().unwrap();
    assert_eq!((payload.reservation_id, payload.reference.as_str(), payload.lines.len()), (r.id, "order-1", 3));
    assert_eq!(shop.events(events::STOCK_CHANGED).await.len(), 3 + 3, "three receipts, three levels held");
    assert_eq!(shop.inventory.get_reservation(&ctx(), r.id).await.unwrap().lines.len(), 3);
}

#[tokio::test]
async fn reserve_is_idempotent_by_reference_and_commit_and_release_are_idempotent() {
    let shop = open().await;
    shop.announce(&["MUG"]).await;
    shop.location("paris").await;
    shop.receive("MUG", "paris", 10).await;

    let r = shop.reserve("order-1", &[("MUG", 3)]).await.unwrap();
    let again = shop.reserve("order-1", &[("MUG", 3)]).await.unwrap();
    assert_eq!(again.id, r.id, "a retried checkout gets the same reservation");
    assert_eq!(shop.totals("MUG").await, (10, 3, 7));
    assert_eq!(shop.events(events::RESERVATION_CREATED).await.len(), 1);

    let committed = shop.inventory.commit_reservation(&ctx(), r.id).await.unwrap();
    assert_eq!(committed.status, ReservationStatus::Committed);
    assert_eq!(shop.totals("MUG").await, (7, 0, 7));
    let again = shop.inventory.commit_reservation(&ctx(), r.id).await.unwrap();
    assert_eq!(again.status, ReservationStatus::Committed);
    assert_eq!(shop.totals("MUG").await, (7, 0, 7), "committed once");
    assert_eq!(shop.events(events::RESERVATION_COMMITTED).await.len(), 1);
    let e = shop.inventory.release_reservation(&ctx(), r.id).await.unwrap_err();
    assert_eq!((e.status(), e.code()), (409, "reservation-not-active"));

    let filter = MovementFilter { sku: Some("MUG".into()), location: None };
    let sold = shop.inventory.movements(&ctx(), filter, PageRequest::default()).await.unwrap().items.remove(0);
    assert_eq!((sold.kind, sold.delta, sold.reference.as_deref()), (MovementKind::Committed, -3, Some("order-1")));

    // Once committed, the reference is free for a new reservation.
    let next = shop.reserve("order-1", &[("MUG", 2)]).await.unwrap();
    assert_ne!(next.id, r.id);
    let released = shop.inventory.release_reservation(&ctx(), next.id).await.unwrap();
    assert_eq!(released.status, ReservationStatus::Released);
    assert_eq!(shop.totals("MUG").await, (7, 0, 7));
    shop.inventory.release_reservation(&ctx(), next.id).await.unwrap();
    assert_eq!(shop.totals("MUG").await, (7, 0, 7), "released once");
    assert_eq!(shop.events(events::RESERVATION_RELEASED).await.len(), 1);
    let e = shop.inventory.commit_reservation(&ctx(), next.id).await.unwrap_err();
    assert_eq!((e.status(), e.code()), (409, "reservation-not-active"));
    assert_eq!(shop.inventory.get_reservation(&ctx(), next.id).await.unwrap().status, ReservationStatus::Released);
}

#[tokio::test]
async fn expired_reservations_are_released() {
    let shop = open().await;
    shop.announce(&["MUG"]).await;
    shop.location("paris").await;
    shop.receive("MUG", "paris", 10).await;

    let r = shop.reserve("cart-1", &[("MUG", 4)]).await.unwrap();
    let kept = shop.reserve("cart-2", &[("MUG", 1)]).await.unwrap();
    assert_eq!(shop.inventory.release_expired(&ctx()).await.unwrap(), 0, "nothing expired yet");
    shop.expire_clock(r.id).await;
    assert_eq!(shop.inventory.release_expired(&ctx()).await.unwrap(), 1);
    assert_eq!(shop.inventory.release_expired(&ctx()).await.unwrap(), 0);
    assert_eq!(shop.inventory.get_reservation(&ctx(), r.id).await.unwrap().status, ReservationStatus::Expired);
    assert_eq!(shop.inventory.get_reservation(&ctx(), kept.id).await.unwrap().status, ReservationStatus::Active);
    assert_eq!(shop.totals("MUG").await, (10, 1, 9));
    let expired: ReservationChanged = shop.events(events::RESERVATION_EXPIRED).await[0].data_as().unwrap();
    assert_eq!((expired.reservation_id, expired.status), (r.id, ReservationStatus::Expired));
    let e = shop.inventory.commit_reservation(&ctx(), r.id).await.unwrap_err();
    assert_eq!(e.code(), "reservation-not-active");
    assert_eq!(shop.inventory.release_reservation(&ctx(), r.id).await.unwrap().status, ReservationStatus::Expired);

    // A reference whose reservation ran out gets a new one, even before the sweeper passes.
    shop.expire_clock(kept.id).await;
    let renewed = shop.reserve("cart-2", &[("MUG", 10)]).await.unwrap();
    assert_ne!(renewed.id, kept.id);
    assert_eq!(shop.inventory.get_reservation(&ctx(), kept.id).await.unwrap().status, ReservationStatus::Expired);
    assert_eq!(shop.totals("MUG").await, (10, 10, 0));

    // The background sweeper does the same on its own.
    let sweeper = tokio::spawn(shop.inventory.clone().run_expiry_sweeper(Duration::from_millis(20)));
    shop.expire_clock(renewed.id).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while shop.inventory.get_reservation(&ctx(), renewed.id).await.unwrap().status != ReservationStatus::Expired {
        assert!(tokio::time::Instant::now() < deadline, "the sweeper did not release the reservation");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sweeper.abort();
    assert_eq!(shop.totals("MUG").await, (10, 0, 10));
    assert_eq!(shop.events(events::RESERVATION_EXPIRED).await.len(), 3);
}

#[tokio::test]
async fn a_short_ttl_runs_out() {
    let shop = open().await;
    shop.announce(&["MUG"]).await;
    shop.location("paris").await;
    shop.receive("MUG", "paris", 1).await;
    let mut input = reserve_input("cart-1", &[("MUG", 1)]);
    input.ttl_seconds = Some(1);
    let r = shop.inventory.reserve(&ctx(), input).await.unwrap();
    assert_eq!(shop.inventory.release_expired(&ctx()).await.unwrap(), 0);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(shop.inventory.release_expired(&ctx()).await.unwrap(), 1);
    assert_eq!(shop.inventory.get_reservation(&ctx(), r.id).await.unwrap().status, ReservationStatus::Expired);
    assert_eq!(shop.totals("MUG").await, (1, 0, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn concurrent_reservations_never_oversell() {
    let shop = open().await;
    shop.announce(&["LAST-10"]).await;
    shop.location("paris").await;
    shop.receive("LAST-10", "paris", 10).await;

    let inventory = Arc::new(shop.inventory.clone());
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let inventory = inventory.clone();
            tokio::spawn(async move {
                inventory.reserve(&ctx(), reserve_input(&format!("cart-{i}"), &[("LAST-10", 1)])).await
            })
        })
        .collect();
    let mut won = 0;
    let mut refused = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => won += 1,
            Err(e) if e.code() == "insufficient-stock" => refused += 1,
            Err(e) => panic!("unexpected error: {e:?}"),
        }
    }
    assert_eq!((won, refused), (10, 190));
    assert_eq!(shop.totals("LAST-10").await, (10, 10, 0));
    assert_eq!(shop.events(events::RESERVATION_CREATED).await.len(), 10);
    let active: i64 = query_scalar("SELECT COUNT(*) FROM reservations WHERE status = 'active'")
        .fetch_one(shop.db.reader())
        .await
        .unwrap();
    assert_eq!(active, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn concurrent_reserves_and_releases_keep_the_books_straight() {
    let shop = open().await;
    shop.announce(&["MUG"]).await;
    shop.location("paris").await;
    shop.location("lyon").await;
    shop.receive("MUG", "paris", 6).await;
    shop.receive("MUG", "lyon", 4).await;

    // Half the carts keep what they get, the other half give it back at once.
    let inventory = Arc::new(shop.inventory.clone());
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let inventory = inventory.clone();
            tokio::spawn(async move {
                let quantity = 1 + i % 2;
                match inventory.reserve(&ctx(), reserve_input(&format!("cart-{i}"), &[("MUG", quantity)])).await {
                    Ok(r) if i % 4 < 2 => {
                        let released = inventory.release_reservation(&ctx(), r.id).await.unwrap();
                        assert_eq!(released.status, ReservationStatus::Released);
                        0
                    }
                    Ok(_) => quantity,
                    Err(e) => {
                        assert_eq!(e.code(), "insufficient-stock", "{e:?}");
                        0
                    }
                }
            })
        })
        .collect();
    let mut kept = 0;
    for task in tasks {
        kept += task.await.unwrap();
    }
    let (on_hand, reserved, available) = shop.totals("MUG").await;
    assert_eq!(on_hand, 10);
    assert_eq!(reserved, kept);
    assert!(reserved <= 10);
    assert_eq!(available, 10 - kept);
    let held: i64 = query_scalar(
        "SELECT CAST(COALESCE(SUM(l.quantity), 0) AS BIGINT) FROM reservation_lines l \
         JOIN reservations r ON r.id = l.reservation_id WHERE r.status = 'active'",
    )
    .fetch_one(shop.db.reader())
    .await
    .unwrap();
    assert_eq!(held, reserved, "the stock levels agree with the active reservations");
}

#[tokio::test]
async fn a_reservation_limited_to_a_location_takes_only_its_units() {
    let shop = open().await;
    shop.announce(&["TEE", "CAP"]).await;
    shop.location("central").await;
    shop.location("paris-store").await;
    shop.receive("TEE", "central", 50).await;
    shop.receive("TEE", "paris-store", 2).await;
    shop.receive("CAP", "central", 5).await;

    let at_store = |reference: &str, lines: &[(&str, i64)]| ReserveStock {
        location: Some("paris-store".into()),
        ..reserve_input(reference, lines)
    };
    let r = shop.inventory.reserve(&ctx(), at_store("till-1", &[("TEE", 2)])).await.unwrap();
    let lines: Vec<(&str, &str, i64)> =
        r.lines.iter().map(|l| (l.sku.as_str(), l.location.as_str(), l.quantity)).collect();
    assert_eq!(lines, [("TEE", "paris-store", 2)], "not from the fuller warehouse");

    // The warehouse's fifty do not help the store: 409 naming the line and the location.
    let e = shop.inventory.reserve(&ctx(), at_store("till-2", &[("TEE", 1)])).await.unwrap_err();
    assert_eq!((e.status(), e.code(), field(&e)), (409, "insufficient-stock", "lines[0].quantity"));
    assert_eq!(e.to_string(), "only 0 available for SKU TEE at paris-store");
    let e = shop.inventory.reserve(&ctx(), at_store("till-2", &[("TEE", 0), ("CAP", 1)])).await.unwrap_err();
    assert_eq!((e.status(), field(&e)), (422, "lines[0].quantity"));
    let e = shop.inventory.reserve(&ctx(), at_store("till-2", &[("CAP", 1)])).await.unwrap_err();
    assert_eq!(
        (e.code(), e.to_string().as_str()),
        ("insufficient-stock", "only 0 available for SKU CAP at paris-store")
    );

    // An unknown or blank location is a mistake in the request.
    let nowhere = ReserveStock { location: Some("nowhere".into()), ..reserve_input("till-3", &[("TEE", 1)]) };
    let e = shop.inventory.reserve(&ctx(), nowhere).await.unwrap_err();
    assert_eq!((e.status(), field(&e)), (422, "location"));
    let blank = ReserveStock { location: Some(" ".into()), ..reserve_input("till-3", &[("TEE", 1)]) };
    assert_eq!(field(&shop.inventory.reserve(&ctx(), blank).await.unwrap_err()), "location");

    // Committed, the units leave the store's shelf and nothing else.
    shop.inventory.commit_reservation(&ctx(), r.id).await.unwrap();
    let tee = shop.inventory.stock(&ctx(), "TEE").await.unwrap();
    let levels: Vec<(&str, i64, i64)> =
        tee.levels.iter().map(|l| (l.location.as_str(), l.on_hand, l.reserved)).collect();
    assert_eq!(levels, [("central", 50, 0), ("paris-store", 0, 0)]);
    assert_eq!(shop.events(events::RESERVATION_CREATED).await.len(), 1, "refusals reserve nothing");
}

#[tokio::test]
async fn restocking_puts_units_back_once_per_reference_and_sku() {
    let shop = open().await;
    shop.announce(&["MUG", "TEE"]).await;
    shop.location("central").await;
    shop.location("paris-store").await;
    shop.receive("MUG", "central", 10).await;
    shop.inventory.set_low_stock_threshold(&ctx(), "MUG", Some(5)).await.unwrap();
    let changed_before = shop.events(events::STOCK_CHANGED).await.len();

    let restock = |sku: &str, location: &str, quantity, reference: &str| RestockUnits {
        sku: sku.into(),
        location: location.into(),
        quantity,
        reference: reference.into(),
    };
    let stock = shop.inventory.restock(&ctx(), restock("MUG", "paris-store", 2, "pos-return:1")).await.unwrap();
    assert_eq!((stock.on_hand, stock.available, stock.low_stock_threshold), (12, 12, Some(5)));
    let levels: Vec<(&str, i64)> = stock.levels.iter().map(|l| (l.location.as_str(), l.on_hand)).collect();
    assert_eq!(levels, [("central", 10), ("paris-store", 2)]);

    // The same reference and SKU again (a retried return): nothing changes, the stock answers.
    let again = shop.inventory.restock(&ctx(), restock("MUG", "paris-store", 2, "pos-return:1")).await.unwrap();
    assert_eq!((again.on_hand, again.levels.len()), (12, 2));
    let again = shop.inventory.restock(&ctx(), restock("MUG", "central", 5, "pos-return:1")).await.unwrap();
    assert_eq!(again.on_hand, 12, "not even elsewhere or for another quantity");
    // Another SKU under the same reference, or the same SKU under another, is another restock.
    shop.inventory.restock(&ctx(), restock("TEE", "paris-store", 1, "pos-return:1")).await.unwrap();
    let stock = shop.inventory.restock(&ctx(), restock("MUG", "paris-store", 1, "pos-return:2")).await.unwrap();
    assert_eq!(stock.on_hand, 13);
    assert_eq!(shop.totals("TEE").await, (1, 0, 1));

    let filter = MovementFilter { sku: Some("MUG".into()), location: Some("paris-store".into()) };
    let moves = shop.inventory.movements(&ctx(), filter, PageRequest::default()).await.unwrap();
    let seen: Vec<(MovementKind, i64, Option<&str>)> =
        moves.items.iter().map(|m| (m.kind, m.delta, m.reference.as_deref())).collect();
    assert_eq!(
        seen,
        [(MovementKind::Returned, 1, Some("pos-return:2")), (MovementKind::Returned, 2, Some("pos-return:1"))]
    );
    let changed: Vec<StockChanged> =
        shop.events(events::STOCK_CHANGED).await[changed_before..].iter().map(|e| e.data_as().unwrap()).collect();
    let changed: Vec<(&str, &str, i64, i64)> =
        changed.iter().map(|c| (c.sku.as_str(), c.location.as_str(), c.on_hand, c.available)).collect();
    assert_eq!(changed, [("MUG", "paris-store", 2, 12), ("TEE", "paris-store", 1, 1), ("MUG", "paris-store", 3, 13)]);

    // Bad input and unknown things change nothing.
    let e = shop.inventory.restock(&ctx(), restock("MUG", "paris-store", 0, " ")).await.unwrap_err();
    assert_eq!((e.status(), fields_of(&e)), (422, vec!["quantity", "reference"]));
    let e = shop.inventory.restock(&ctx(), restock("MUG", "nowhere", 1, "pos-return:3")).await.unwrap_err();
    assert_eq!((e.status(), field(&e)), (422, "location"));
    let e = shop.inventory.restock(&ctx(), restock("GHOST", "paris-store", 1, "pos-return:3")).await.unwrap_err();
    assert!(matches!(&e, Error::NotFound { resource: "sku", id } if id == "GHOST"), "{e:?}");
    // The refused reference was not used up.
    let stock = shop.inventory.restock(&ctx(), restock("MUG", "paris-store", 1, "pos-return:3")).await.unwrap();
    assert_eq!(stock.on_hand, 14);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn concurrent_retries_of_a_restock_put_units_back_once() {
    let shop = open().await;
    shop.announce(&["MUG"]).await;
    shop.location("paris-store").await;
    let inventory = Arc::new(shop.inventory.clone());
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let inventory = inventory.clone();
            tokio::spawn(async move {
                let input = RestockUnits {
                    sku: "MUG".into(),
                    location: "paris-store".into(),
                    quantity: 3,
                    reference: "pos-return:7".into(),
                };
                inventory.restock(&ctx(), input).await
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().on_hand, 3);
    }
    assert_eq!(shop.totals("MUG").await, (3, 0, 3));
    assert_eq!(shop.events(events::STOCK_CHANGED).await.len(), 1);
}

fn fields_of(e: &Error) -> Vec<&str> {
    e.field_errors().iter().map(|f| f.field.as_str()).collect()
}

mod orders {
    use comptoir_contracts::address::PostalAddress;
    use comptoir_contracts::ordering::events::{self as ordering, OrderCancelled, OrderPlaced, OrderRefunded};
    use comptoir_contracts::ordering::{OrderSnapshot, OrderTotals, ReturnLine, ShippingChoice};
    use comptoir_kernel::{Currency, Money};

    use super::*;

    fn snapshot(order_id: Uuid) -> OrderSnapshot {
        let zero = Money::zero(Currency::EUR);
        let address = PostalAddress {
            name: "Ann".into(),
            line1: "1 rue".into(),
            line2: None,
            city: "Paris".into(),
            postal_code: "75001".into(),
            region: None,
            country: "FR".into(),
            phone: None,
        };
        OrderSnapshot {
            order_id,
            number: "CO-000001".into(),
            customer_id: None,
            email: "ann@shop.test".into(),
            channel: "online".into(),
            currency: Currency::EUR,
            prices_include_tax: true,
            lines: vec![],
            shipping: ShippingChoice {
                method: "standard".into(),
                name: "Standard".into(),
                carrier: "Post".into(),
                net: zero,
                tax: zero,
                gross: zero,
            },
            shipping_address: address.clone(),
            billing_address: address,
            totals: OrderTotals { net: zero, tax: zero, gross: zero },
            placed_at: time::now(),
        }
    }

    async fn order_event(shop: &Shop, event_type: &str, data: impl serde::Serialize) {
        let event = EventEnvelope::new(&ctx(), "ordering", event_type, data);
        let orders = shop.consumer(ORDERS);
        orders.handler.handle(&event).await.unwrap();
        // Redelivered: no second effect.
        orders.handler.handle(&event).await.unwrap();
    }

    #[tokio::test]
    async fn a_confirmed_checkout_sells_a_cancelled_order_releases_a_refund_restocks() {
        let shop = open().await;
        shop.announce(&["TEE-M"]).await;
        shop.location("paris").await;
        shop.location("lyon").await;
        shop.receive("TEE-M", "lyon", 5).await;

        let sold = shop.reserve("order-1", &[("TEE-M", 2)]).await.unwrap();
        let placed = OrderPlaced {
            order: snapshot(Uuid::now_v7()),
            cart_id: None,
            reservation_id: Some(sold.id),
            payment_id: None,
        };
        order_event(&shop, ordering::CHECKOUT_COMPLETED, &placed).await;
        assert_eq!(shop.totals("TEE-M").await, (3, 0, 3));

        let dropped = shop.reserve("order-2", &[("TEE-M", 1)]).await.unwrap();
        let cancelled = OrderCancelled {
            order_id: Uuid::now_v7(),
            number: "CO-000002".into(),
            email: "ann@shop.test".into(),
            customer_id: None,
            reason: "payment declined".into(),
            reservation_id: Some(dropped.id),
            before_confirmation: true,
        };
        order_event(&shop, ordering::ORDER_CANCELLED, &cancelled).await;
        assert_eq!(shop.totals("TEE-M").await, (3, 0, 3));
        // Cancelling an order whose units were already sold leaves them sold: the refund restocks.
        let cancelled_after_sale = OrderCancelled { reservation_id: Some(sold.id), ..cancelled };
        order_event(&shop, ordering::ORDER_CANCELLED, &cancelled_after_sale).await;
        assert_eq!(shop.totals("TEE-M").await, (3, 0, 3));

        let refunded = OrderRefunded {
            order_id: placed.order.order_id,
            number: "CO-000001".into(),
            email: "ann@shop.test".into(),
            amount: Money::new(1000, Currency::EUR),
            restock: vec![ReturnLine { sku: "TEE-M".into(), quantity: 1 }],
            reservation_id: Some(sold.id),
            reason: Some("changed mind".into()),
        };
        order_event(&shop, ordering::ORDER_REFUNDED, &refunded).await;
        assert_eq!(shop.totals("TEE-M").await, (4, 0, 4), "one unit back, once, where it was sold from");
        let stock = shop.inventory.stock(&ctx(), "TEE-M").await.unwrap();
        assert_eq!(stock.levels.iter().find(|l| l.location == "lyon").unwrap().on_hand, 4);
        let filter = MovementFilter { sku: Some("TEE-M".into()), location: None };
        let movements = shop.inventory.movements(&ctx(), filter, PageRequest::default()).await.unwrap();
        assert_eq!(movements.items[0].kind, MovementKind::Returned);
        assert_eq!(movements.items[0].reference.as_deref(), Some("CO-000001"));
    }
}
