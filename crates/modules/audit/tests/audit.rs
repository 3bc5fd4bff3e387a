//! The audit module through its port, and fed with identity's events as the bus would deliver
//! them (the consumer's handler called directly). SQLite by default, PostgreSQL with
//! COMPTOIR_TEST_BACKEND=postgres.

use chrono::{DateTime, Duration, TimeZone, Utc};
use comptoir_audit::{AuditModule, IDENTITY, MIGRATIONS, SOURCE};
use comptoir_contracts::audit::{
    AuditCategory, AuditEntry, AuditFilter, AuditOutcome, AuditPort, MAX_BATCH, NewAuditEntry, actions,
};
use comptoir_contracts::identity::events::{
    API_KEY_CREATED, API_KEY_REVOKED, ApiKeyEvent, SELLER_CREATED, SESSION_CREATED, SESSION_REVOKED, STAFF_CREATED,
    SellerCreated, SessionEvent, StaffCreated,
};
use comptoir_contracts::identity::{Permission, Role};
use comptoir_eventbus::Consumer;
use comptoir_kernel::{Actor, ActorType, Error, EventEnvelope, Page, PageRequest, RequestContext};
use comptoir_storage::testing::{TestDb, open};
use serde_json::json;
use uuid::Uuid;

fn ctx() -> RequestContext {
    RequestContext::new("corr-audit-tests", Actor::user("staff-admin"))
}

fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap() + Duration::minutes(minutes)
}

/// A staff action that succeeded, `minutes` after the first; the test changes what it needs.
fn entry(action: &str, minutes: i64) -> NewAuditEntry {
    NewAuditEntry {
        occurred_at: at(minutes),
        category: AuditCategory::Action,
        action: action.into(),
        outcome: AuditOutcome::Success,
        actor_type: ActorType::User,
        actor_id: Some("staff-1".into()),
        actor_label: Some("ada@example.com".into()),
        target: Some("/api/v1/admin/products".into()),
        status: Some(200),
        correlation_id: format!("corr-{minutes}"),
        ip: Some("203.0.113.7".into()),
        source: "api".into(),
        detail: json!({}),
    }
}

async fn module() -> (AuditModule, TestDb) {
    let db = open("audit", &MIGRATIONS).await;
    (AuditModule::new(db.db.clone()), db)
}

fn all() -> AuditFilter {
    AuditFilter::default()
}

fn first_page() -> PageRequest {
    PageRequest { page: 1, per_page: 100 }
}

async fn search(audit: &AuditModule, filter: AuditFilter) -> Page<AuditEntry> {
    audit.search(&ctx(), filter, first_page()).await.unwrap()
}

/// The actions found, in the order answered.
async fn actions_of(audit: &AuditModule, filter: AuditFilter) -> Vec<String> {
    let page = search(audit, filter).await;
    assert_eq!(page.total, page.items.len() as u64, "one page holds them all");
    page.items.into_iter().map(|e| e.entry.action).collect()
}

fn fields(error: &Error) -> Vec<&str> {
    error.field_errors().iter().map(|f| f.field.as_str()).collect()
}

#[tokio::test]
async fn entries_read_back_exactly_as_recorded() {
    let (audit, _db) = module().await;
    let mut full = entry("POST /admin/products/{id}/publish", 1);
    full.occurred_at += Duration::microseconds(123_456);
    full.target = Some("product:6f1c2a".into());
    full.status = Some(201);
    full.detail = json!({"sku": "TEA-1", "changes": ["price", "name"], "nested": {"n": 3, "ok": true, "none": null}});
    let bare = NewAuditEntry {
        occurred_at: at(0),
        category: AuditCategory::Security,
        action: actions::LOGIN_FAILED.into(),
        outcome: AuditOutcome::Denied,
        actor_type: ActorType::System,
        actor_id: None,
        actor_label: None,
        target: None,
        status: None,
        correlation_id: "corr-anonymous".into(),
        ip: None,
        source: "backoffice".into(),
        detail: json!({"email": "mallory@example.com"}),
    };
    let before = Utc::now() - Duration::seconds(1);
    audit.record(&ctx(), vec![bare.clone(), full.clone()]).await.unwrap();

    let page = search(&audit, all()).await;
    assert_eq!(page.total, 2);
    let recorded: Vec<&NewAuditEntry> = page.items.iter().map(|e| &e.entry).collect();
    assert_eq!(recorded, [&full, &bare], "newest first, every field as given");
    assert_ne!(page.items[0].id, page.items[1].id);
    for found in &page.items {
        assert!(found.recorded_at >= before && found.recorded_at <= Utc::now() + Duration::seconds(1));
        assert_eq!(&audit.get(&ctx(), found.id).await.unwrap(), found);
    }

    // An empty batch is nothing to do; null detail reads back as an empty object.
    audit.record(&ctx(), vec![]).await.unwrap();
    let mut no_detail = entry("DELETE /admin/products/{id}", 2);
    no_detail.detail = serde_json::Value::Null;
    audit.record(&ctx(), vec![no_detail]).await.unwrap();
    let newest = search(&audit, all()).await.items.remove(0);
    assert_eq!((newest.entry.action.as_str(), newest.entry.detail), ("DELETE /admin/products/{id}", json!({})));
}

#[tokio::test]
async fn an_unknown_entry_is_not_found() {
    let (audit, _db) = module().await;
    let e = audit.get(&ctx(), Uuid::now_v7()).await.unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
    assert_eq!(e.status(), 404);
}

/// Eight entries, one per minute, each with its own action.
async fn varied() -> (AuditModule, TestDb) {
    let (audit, db) = module().await;
    let mut entries = Vec::new();
    let mut e = entry("POST /admin/products", 0);
    e.correlation_id = "corr-shared".into();
    entries.push(e);
    let mut e = entry("PATCH /admin/products/{id}", 1);
    e.actor_id = Some("staff-2".into());
    e.actor_label = Some("bob@example.com".into());
    e.correlation_id = "corr-shared".into();
    entries.push(e);
    let mut e = entry("POST /admin/orders/{id}/refund", 2);
    e.outcome = AuditOutcome::Failure;
    e.status = Some(409);
    e.target = Some("/api/v1/admin/orders/42/refund".into());
    entries.push(e);
    let mut e = entry(actions::LOGIN_FAILED, 3);
    e.category = AuditCategory::Security;
    e.outcome = AuditOutcome::Denied;
    e.actor_type = ActorType::System;
    e.actor_id = None;
    e.actor_label = Some("mallory@example.com".into());
    e.target = None;
    entries.push(e);
    let mut e = entry(actions::PERMISSION_DENIED, 4);
    e.category = AuditCategory::Security;
    e.outcome = AuditOutcome::Denied;
    e.actor_id = Some("staff-2".into());
    e.actor_label = Some("bob@example.com".into());
    e.target = Some("/api/v1/admin/settings".into());
    entries.push(e);
    let mut e = entry(actions::API_KEY_USED, 5);
    e.category = AuditCategory::Security;
    e.actor_type = ActorType::App;
    e.actor_id = Some("key-9".into());
    e.actor_label = Some("Warehouse sync".into());
    entries.push(e);
    let mut e = entry(actions::LOGIN_SUCCEEDED, 6);
    e.category = AuditCategory::Security;
    e.target = None;
    entries.push(e);
    let mut e = entry("DELETE /admin/products/{id}", 7);
    e.target = Some("product:TEA-1".into());
    entries.push(e);
    audit.record(&ctx(), entries).await.unwrap();
    (audit, db)
}

#[tokio::test]
async fn each_filter_narrows_alone_and_all_together() {
    let (audit, _db) = varied().await;
    assert_eq!(
        actions_of(&audit, all()).await,
        [
            "DELETE /admin/products/{id}",
            "auth.login.succeeded",
            "auth.apikey.used",
            "auth.permission.denied",
            "auth.login.failed",
            "POST /admin/orders/{id}/refund",
            "PATCH /admin/products/{id}",
            "POST /admin/products",
        ]
    );
    let security = AuditFilter { category: Some(AuditCategory::Security), ..all() };
    assert_eq!(
        actions_of(&audit, security).await,
        ["auth.login.succeeded", "auth.apikey.used", "auth.permission.denied", "auth.login.failed"]
    );
    let denied = AuditFilter { outcome: Some(AuditOutcome::Denied), ..all() };
    assert_eq!(actions_of(&audit, denied).await, ["auth.permission.denied", "auth.login.failed"]);
    let failed = AuditFilter { outcome: Some(AuditOutcome::Failure), ..all() };
    assert_eq!(actions_of(&audit, failed).await, ["POST /admin/orders/{id}/refund"]);
    let bob = AuditFilter { actor_id: Some("staff-2".into()), ..all() };
    assert_eq!(actions_of(&audit, bob).await, ["auth.permission.denied", "PATCH /admin/products/{id}"]);
    let shared = AuditFilter { correlation_id: Some("corr-shared".into()), ..all() };
    assert_eq!(actions_of(&audit, shared).await, ["PATCH /admin/products/{id}", "POST /admin/products"]);
    let auth = AuditFilter { action: Some("auth.login.".into()), ..all() };
    assert_eq!(actions_of(&audit, auth).await, ["auth.login.succeeded", "auth.login.failed"]);
    let posts = AuditFilter { action: Some("POST /admin/".into()), ..all() };
    assert_eq!(actions_of(&audit, posts).await, ["POST /admin/orders/{id}/refund", "POST /admin/products"]);
    // A prefix is a prefix, case and all.
    let inner = AuditFilter { action: Some("/admin".into()), ..all() };
    assert!(actions_of(&audit, inner).await.is_empty());
    let shouting = AuditFilter { action: Some("AUTH.".into()), ..all() };
    assert!(actions_of(&audit, shouting).await.is_empty());
    // From inclusive, to exclusive.
    let window = AuditFilter { from: Some(at(2)), to: Some(at(4)), ..all() };
    assert_eq!(actions_of(&audit, window).await, ["auth.login.failed", "POST /admin/orders/{id}/refund"]);
    let since = AuditFilter { from: Some(at(6)), ..all() };
    assert_eq!(actions_of(&audit, since).await, ["DELETE /admin/products/{id}", "auth.login.succeeded"]);
    let until = AuditFilter { to: Some(at(1)), ..all() };
    assert_eq!(actions_of(&audit, until).await, ["POST /admin/products"]);
    // Words in the label, the action or the target, any case.
    let by_label = AuditFilter { q: Some("BOB@".into()), ..all() };
    assert_eq!(actions_of(&audit, by_label).await, ["auth.permission.denied", "PATCH /admin/products/{id}"]);
    let by_target = AuditFilter { q: Some("tea-1".into()), ..all() };
    assert_eq!(actions_of(&audit, by_target).await, ["DELETE /admin/products/{id}"]);
    let by_action = AuditFilter { q: Some("refund".into()), ..all() };
    assert_eq!(actions_of(&audit, by_action).await, ["POST /admin/orders/{id}/refund"]);
    // Every word must be found, each anywhere.
    let both = AuditFilter { q: Some("sync apikey".into()), ..all() };
    assert_eq!(actions_of(&audit, both).await, ["auth.apikey.used"]);
    let one_missing = AuditFilter { q: Some("sync refund".into()), ..all() };
    assert!(actions_of(&audit, one_missing).await.is_empty());

    let combined = AuditFilter {
        category: Some(AuditCategory::Security),
        outcome: Some(AuditOutcome::Denied),
        actor_id: Some("staff-2".into()),
        action: Some("auth.".into()),
        correlation_id: Some("corr-4".into()),
        from: Some(at(4)),
        to: Some(at(5)),
        q: Some("settings bob".into()),
    };
    assert_eq!(actions_of(&audit, combined.clone()).await, ["auth.permission.denied"]);
    // Any one filter that does not hold empties the answer.
    for miss in [
        AuditFilter { category: Some(AuditCategory::Action), ..combined.clone() },
        AuditFilter { outcome: Some(AuditOutcome::Success), ..combined.clone() },
        AuditFilter { actor_id: Some("staff-1".into()), ..combined.clone() },
        AuditFilter { action: Some("auth.login".into()), ..combined.clone() },
        AuditFilter { correlation_id: Some("corr-3".into()), ..combined.clone() },
        AuditFilter { from: Some(at(5)), to: Some(at(6)), ..combined.clone() },
        AuditFilter { q: Some("settings ada".into()), ..combined.clone() },
    ] {
        assert!(actions_of(&audit, miss.clone()).await.is_empty(), "{miss:?}");
    }
    // Blank text filters are no filters.
    let blank = AuditFilter { actor_id: Some(" ".into()), action: Some("".into()), q: Some("  ".into()), ..all() };
    assert_eq!(search(&audit, blank).await.total, 8);
}

#[tokio::test]
async fn wildcards_typed_in_a_prefix_or_words_match_only_themselves() {
    let (audit, _db) = module().await;
    let mut entries = Vec::new();
    for (i, (action, label, target)) in [
        ("discount.50%.applied", "50% off", "code_a"),
        ("discount.500.applied", "500 off", "codeXa"),
        ("discount_x", "back\\slash", "plain"),
        ("discountYx", "other", "plain"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut e = entry(action, i as i64);
        e.actor_label = Some(label.into());
        e.target = Some(target.into());
        entries.push(e);
    }
    audit.record(&ctx(), entries).await.unwrap();
    let prefix = |p: &str| AuditFilter { action: Some(p.into()), ..all() };
    let words = |q: &str| AuditFilter { q: Some(q.into()), ..all() };
    assert_eq!(actions_of(&audit, prefix("discount.50%")).await, ["discount.50%.applied"]);
    assert_eq!(actions_of(&audit, prefix("discount_")).await, ["discount_x"]);
    assert_eq!(actions_of(&audit, prefix("%")).await, Vec::<String>::new());
    assert_eq!(actions_of(&audit, words("50%")).await, ["discount.50%.applied"]);
    assert_eq!(actions_of(&audit, words("code_a")).await, ["discount.50%.applied"]);
    assert_eq!(actions_of(&audit, words("_")).await, ["discount_x", "discount.50%.applied"]);
    assert_eq!(actions_of(&audit, words("%")).await, ["discount.50%.applied"]);
    assert_eq!(actions_of(&audit, words("k\\s")).await, ["discount_x"]);
}

#[tokio::test]
async fn pages_hold_their_share_and_the_total_of_all() {
    let (audit, _db) = module().await;
    let entries: Vec<NewAuditEntry> = (0..25).map(|i| entry(&format!("POST /admin/things/{i}"), i)).collect();
    audit.record(&ctx(), entries).await.unwrap();
    let mut seen = Vec::new();
    for (page, expected) in [(1, 10), (2, 10), (3, 5), (4, 0)] {
        let found = audit.search(&ctx(), all(), PageRequest { page, per_page: 10 }).await.unwrap();
        assert_eq!((found.page, found.per_page, found.total, found.items.len()), (page, 10, 25, expected));
        seen.extend(found.items.into_iter().map(|e| e.entry.action));
    }
    let newest_first: Vec<String> = (0..25).rev().map(|i| format!("POST /admin/things/{i}")).collect();
    assert_eq!(seen, newest_first);
    let narrowed = AuditFilter { from: Some(at(20)), ..all() };
    let found = audit.search(&ctx(), narrowed, PageRequest { page: 2, per_page: 3 }).await.unwrap();
    assert_eq!((found.total, found.items.len()), (5, 2));

    for (page, field) in
        [(PageRequest { page: 0, per_page: 10 }, "page"), (PageRequest { page: 1, per_page: 101 }, "per_page")]
    {
        let e = audit.search(&ctx(), all(), page).await.unwrap_err();
        assert_eq!((e.status(), fields(&e)), (422, vec![field]));
    }
    let backwards = AuditFilter { from: Some(at(5)), to: Some(at(5)), ..all() };
    let e = audit.search(&ctx(), backwards, first_page()).await.unwrap_err();
    assert_eq!((e.status(), fields(&e)), (422, vec!["to"]));
}

#[tokio::test]
async fn a_batch_with_one_bad_entry_writes_nothing_and_names_the_field() {
    let (audit, _db) = module().await;
    let mut batch: Vec<NewAuditEntry> = (0..5).map(|i| entry("POST /admin/products", i)).collect();
    batch[3].action = "   ".into();
    let e = audit.record(&ctx(), batch.clone()).await.unwrap_err();
    assert!(matches!(e, Error::Validation { .. }), "{e:?}");
    assert_eq!((e.status(), fields(&e)), (422, vec!["entries[3].action"]));
    assert_eq!(search(&audit, all()).await.total, 0);

    batch[3].action = "x".repeat(201);
    batch[0].correlation_id = String::new();
    batch[1].source = String::new();
    batch[2].actor_label = Some("y".repeat(501));
    batch[4].detail = json!(["not", "an", "object"]);
    let e = audit.record(&ctx(), batch.clone()).await.unwrap_err();
    assert_eq!(
        fields(&e),
        [
            "entries[0].correlation_id",
            "entries[1].source",
            "entries[2].actor_label",
            "entries[3].action",
            "entries[4].detail"
        ]
    );
    batch[4].detail = json!({ "note": "z".repeat(8 * 1024) });
    let e = audit.record(&ctx(), batch).await.unwrap_err();
    assert!(fields(&e).contains(&"entries[4].detail"), "{e}");
    assert_eq!(search(&audit, all()).await.total, 0);

    // The most a batch takes, and one more.
    let full: Vec<NewAuditEntry> = (0..MAX_BATCH as i64).map(|i| entry("POST /admin/products", i)).collect();
    let mut over = full.clone();
    over.push(entry("POST /admin/products", 999));
    let e = audit.record(&ctx(), over).await.unwrap_err();
    assert_eq!((e.status(), fields(&e)), (422, vec!["entries"]));
    assert_eq!(search(&audit, all()).await.total, 0);
    audit.record(&ctx(), full).await.unwrap();
    assert_eq!(search(&audit, all()).await.total, MAX_BATCH as u64);
}

#[tokio::test]
async fn pruning_deletes_only_what_is_older_than_the_retention() {
    let (audit, _db) = module().await;
    let now = Utc::now();
    let mut old = entry("POST /admin/old", 0);
    old.occurred_at = now - Duration::days(400);
    let mut recent = entry("POST /admin/recent", 0);
    recent.occurred_at = now - Duration::days(10);
    audit.record(&ctx(), vec![old, recent]).await.unwrap();
    assert_eq!(audit.prune_older_than(365).await.unwrap(), 1);
    assert_eq!(actions_of(&audit, all()).await, ["POST /admin/recent"]);
    assert_eq!(audit.prune_older_than(365).await.unwrap(), 0);
    assert_eq!(fields(&audit.prune_older_than(0).await.unwrap_err()), ["days"]);
    assert_eq!(audit.prune_older_than(u32::MAX).await.unwrap(), 0);
}

// ---- Identity's events -----------------------------------------------------------------------

fn consumer(audit: &AuditModule) -> Consumer {
    audit.consumers().into_iter().find(|c| c.name == IDENTITY).expect("the identity consumer")
}

fn event(actor: Actor, correlation_id: &str, event_type: &str, data: impl serde::Serialize) -> EventEnvelope {
    EventEnvelope::new(&RequestContext::new(correlation_id, actor), "identity", event_type, data)
}

#[tokio::test]
async fn identity_events_are_recorded_with_their_actor_and_correlation_id() {
    let (audit, _db) = module().await;
    let consumer = consumer(&audit);
    for pattern in [STAFF_CREATED, SELLER_CREATED, API_KEY_CREATED, API_KEY_REVOKED, SESSION_CREATED, SESSION_REVOKED] {
        assert!(consumer.patterns.iter().any(|p| p == pattern), "{pattern} is subscribed");
    }
    let (admin, staff_id, key_id, seller_id) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let (session_id, customer_id) = (Uuid::now_v7(), Uuid::now_v7());
    let key = ApiKeyEvent {
        key_id,
        name: "Warehouse sync".into(),
        prefix: "ck_3fa9".into(),
        scopes: vec![Permission::InventoryRead, Permission::InventoryWrite],
    };
    let events = [
        event(
            Actor::user(admin),
            "corr-staff",
            STAFF_CREATED,
            StaffCreated { staff_id, email: "bob@example.com".into(), name: "Bob".into(), roles: vec![Role::Support] },
        ),
        event(
            Actor::user(admin),
            "corr-seller",
            SELLER_CREATED,
            SellerCreated { seller_id, name: "Tea Corner".into(), email: None },
        ),
        event(Actor::user(admin), "corr-key", API_KEY_CREATED, key.clone()),
        event(Actor::app(key_id), "corr-revoke", API_KEY_REVOKED, key),
        event(
            Actor::user(staff_id),
            "corr-login",
            SESSION_CREATED,
            SessionEvent { session_id, user_id: staff_id, user_kind: "staff".into() },
        ),
        event(
            Actor::system(),
            "corr-reuse",
            SESSION_REVOKED,
            SessionEvent { session_id, user_id: staff_id, user_kind: "staff".into() },
        ),
        // A customer's sign-in is no staff security event.
        event(
            Actor::user(customer_id),
            "corr-customer",
            SESSION_CREATED,
            SessionEvent { session_id: Uuid::now_v7(), user_id: customer_id, user_kind: "customer".into() },
        ),
        // Not subscribed; ignored if it ever came.
        event(Actor::user(customer_id), "corr-other", "auth.user.registered", json!({"user_id": customer_id})),
    ];
    for event in &events {
        consumer.handler.handle(event).await.unwrap();
    }

    let page = audit.search(&ctx(), AuditFilter { action: Some("auth.".into()), ..all() }, first_page()).await.unwrap();
    assert_eq!(page.total, 6, "{page:?}");
    let found = |correlation_id: &str| {
        let entry = page.items.iter().find(|e| e.entry.correlation_id == correlation_id);
        entry.unwrap_or_else(|| panic!("an entry for {correlation_id}")).entry.clone()
    };
    let event_id = |i: usize| json!(events[i].id);

    let staff = found("corr-staff");
    assert_eq!(
        (staff.category, staff.action.as_str(), staff.outcome, staff.source.as_str()),
        (AuditCategory::Action, STAFF_CREATED, AuditOutcome::Success, SOURCE)
    );
    assert_eq!((staff.actor_type, staff.actor_id), (ActorType::User, Some(admin.to_string())));
    assert_eq!(staff.target, Some(format!("staff:{staff_id}")));
    // When identity emitted it, to the microsecond kept.
    assert_eq!(staff.occurred_at.timestamp_micros(), events[0].timestamp.timestamp_micros());
    assert_eq!((staff.status, staff.ip, staff.actor_label), (None, None, None));
    assert_eq!(
        staff.detail,
        json!({"staff_id": staff_id, "email": "bob@example.com", "name": "Bob", "roles": ["support"], "event_id": event_id(0)})
    );

    let seller = found("corr-seller");
    assert_eq!((seller.category, seller.target), (AuditCategory::Action, Some(format!("seller:{seller_id}"))));
    assert_eq!(
        seller.detail,
        json!({"seller_id": seller_id, "name": "Tea Corner", "email": null, "event_id": event_id(1)})
    );

    let created = found("corr-key");
    assert_eq!((created.category, created.action.as_str()), (AuditCategory::Security, API_KEY_CREATED));
    assert_eq!(created.target, Some(format!("apikey:{key_id}")));
    assert_eq!(
        created.detail,
        json!({"key_id": key_id, "name": "Warehouse sync", "prefix": "ck_3fa9",
               "scopes": ["inventory:read", "inventory:write"], "event_id": event_id(2)})
    );
    let revoked = found("corr-revoke");
    assert_eq!((revoked.category, revoked.action.as_str()), (AuditCategory::Security, API_KEY_REVOKED));
    assert_eq!((revoked.actor_type, revoked.actor_id), (ActorType::App, Some(key_id.to_string())));

    let login = found("corr-login");
    assert_eq!((login.category, login.action.as_str()), (AuditCategory::Security, SESSION_CREATED));
    assert_eq!((login.actor_type, login.actor_id.clone()), (ActorType::User, Some(staff_id.to_string())));
    assert_eq!(login.target, Some(format!("staff:{staff_id}")));
    assert_eq!(login.detail, json!({"session_id": session_id, "event_id": event_id(4)}));
    let reuse = found("corr-reuse");
    assert_eq!((reuse.action.as_str(), reuse.actor_type, reuse.actor_id), (SESSION_REVOKED, ActorType::System, None));
    assert_eq!(reuse.target, Some(format!("staff:{staff_id}")));

    // What happened to a staff member, by the target's words.
    let about_staff = AuditFilter { q: Some(staff_id.to_string()), ..all() };
    assert_eq!(actions_of(&audit, about_staff).await, [SESSION_REVOKED, SESSION_CREATED, STAFF_CREATED]);
    let by_correlation = AuditFilter { correlation_id: Some("corr-customer".into()), ..all() };
    assert!(actions_of(&audit, by_correlation).await.is_empty());
}

#[tokio::test]
async fn a_redelivered_event_is_recorded_once() {
    let (audit, _db) = module().await;
    let consumer = consumer(&audit);
    let key = ApiKeyEvent { key_id: Uuid::now_v7(), name: "CI".into(), prefix: "ck_0001".into(), scopes: vec![] };
    let created = event(Actor::user("staff-admin"), "corr-once", API_KEY_CREATED, key);
    for _ in 0..3 {
        consumer.handler.handle(&created).await.unwrap();
    }
    assert_eq!(search(&audit, all()).await.total, 1);
    // The same change under another event id is another event, recorded again.
    let again = EventEnvelope { id: Uuid::now_v7(), ..created };
    consumer.handler.handle(&again).await.unwrap();
    assert_eq!(search(&audit, all()).await.total, 2);
}
