//! The audit module served over gRPC and driven through `AuditClient`, against the same module in
//! process: every port method answers the same values (entries with every field, pages with their
//! totals), and every refusal the same status, code, fields and message. SQLite by default,
//! PostgreSQL with COMPTOIR_TEST_BACKEND=postgres.

use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use comptoir_audit::{AuditModule, IDENTITY, MIGRATIONS};
use comptoir_audit_grpc::{AuditClient, convert, pb, service};
use comptoir_contracts::audit::{
    AuditCategory, AuditEntry, AuditFilter, AuditOutcome, AuditPort, MAX_BATCH, NewAuditEntry, actions,
};
use comptoir_contracts::identity::Permission;
use comptoir_contracts::identity::events::{API_KEY_REVOKED, ApiKeyEvent};
use comptoir_grpc::server::ServiceSet;
use comptoir_grpc::{Remote, RemoteSettings, from_status};
use comptoir_kernel::{Actor, ActorType, Error, EventEnvelope, Page, PageRequest, RequestContext, Result};
use comptoir_storage::testing::{self, TestDb};
use serde_json::json;
use tokio::net::TcpListener;
use tonic::transport::{Channel, Endpoint};
use uuid::Uuid;

fn ctx() -> RequestContext {
    RequestContext::new("corr-audit-grpc", Actor::user("staff-7"))
}

fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap() + Duration::minutes(minutes)
}

fn entry(action: &str, minutes: i64) -> NewAuditEntry {
    NewAuditEntry {
        occurred_at: at(minutes) + Duration::microseconds(minutes * 7),
        category: AuditCategory::Action,
        action: action.into(),
        outcome: AuditOutcome::Success,
        actor_type: ActorType::User,
        actor_id: Some("staff-1".into()),
        actor_label: Some("ada@example.com".into()),
        target: Some(format!("/api/v1/admin/things/{minutes}")),
        status: Some(200),
        correlation_id: format!("corr-{minutes}"),
        ip: Some("203.0.113.7".into()),
        source: "api".into(),
        detail: json!({"minute": minutes, "note": "50% off_sale"}),
    }
}

/// Staff actions, a failed login by an anonymous caller, a denial and an app's key use.
fn batch() -> Vec<NewAuditEntry> {
    let mut failed = entry(actions::LOGIN_FAILED, 3);
    failed.category = AuditCategory::Security;
    failed.outcome = AuditOutcome::Denied;
    failed.actor_type = ActorType::System;
    failed.actor_id = None;
    failed.target = None;
    failed.status = Some(401);
    failed.ip = None;
    failed.detail = json!({"email": "mallory@example.com"});
    let mut denied = entry(actions::PERMISSION_DENIED, 4);
    denied.category = AuditCategory::Security;
    denied.outcome = AuditOutcome::Denied;
    denied.status = Some(403);
    let mut key = entry(actions::API_KEY_USED, 5);
    key.category = AuditCategory::Security;
    key.actor_type = ActorType::App;
    key.actor_id = Some("key-9".into());
    key.actor_label = Some("Warehouse sync".into());
    key.status = None;
    let mut refused = entry("POST /admin/orders/{id}/refund", 2);
    refused.outcome = AuditOutcome::Failure;
    refused.status = Some(409);
    vec![entry("POST /admin/products", 0), entry("PATCH /admin/products/{id}", 1), refused, failed, denied, key]
}

struct Shop {
    /// The module in process, for the answers the client must match.
    local: AuditModule,
    /// The same module through its server.
    remote: AuditClient,
    address: SocketAddr,
    _db: TestDb,
}

/// Every field, compared through the JSON form.
fn assert_same<T: serde::Serialize>(remote: &T, local: &T) {
    assert_eq!(serde_json::to_value(remote).unwrap(), serde_json::to_value(local).unwrap());
}

fn fields(error: &Error) -> Vec<&str> {
    error.field_errors().iter().map(|f| f.field.as_str()).collect()
}

async fn shop() -> Shop {
    let db = testing::open("audit", &MIGRATIONS).await;
    let local = AuditModule::new(db.db.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(ServiceSet::new().add(service(Arc::new(local.clone()))).serve(listener, std::future::pending()));
    let remote = Remote::connect("audit", &format!("http://{address}"), RemoteSettings::default()).unwrap();
    Shop { local, remote: AuditClient::new(remote), address, _db: db }
}

impl Shop {
    /// Makes the same call through the client and in process: both must be refused alike (status,
    /// code, field names and messages, text). The remote error is returned for further checks.
    async fn refused<T: Debug>(&self, call: impl AsyncFn(&dyn AuditPort) -> Result<T>) -> Error {
        let remote = call(&self.remote).await.expect_err("refused through the client");
        let local = call(&self.local).await.expect_err("refused in process");
        assert_eq!(
            (remote.status(), remote.code(), remote.field_errors(), remote.to_string()),
            (local.status(), local.code(), local.field_errors(), local.to_string()),
        );
        remote
    }

    async fn both(&self, filter: AuditFilter, page: PageRequest) -> Page<AuditEntry> {
        let remote = self.remote.search(&ctx(), filter.clone(), page).await.unwrap();
        let local = self.local.search(&ctx(), filter, page).await.unwrap();
        assert_same(&remote, &local);
        remote
    }

    /// A raw client of the generated service, to send messages `AuditClient` never builds.
    fn raw(&self) -> pb::audit_service_client::AuditServiceClient<Channel> {
        let channel = Endpoint::from_shared(format!("http://{}", self.address)).unwrap().connect_lazy();
        pb::audit_service_client::AuditServiceClient::new(channel)
    }
}

#[tokio::test]
async fn entries_recorded_through_the_client_read_back_the_same_both_ways() {
    let shop = shop().await;
    let recorded = batch();
    shop.remote.record(&ctx(), recorded.clone()).await.unwrap();
    shop.remote.record(&ctx(), vec![]).await.unwrap();

    let all = shop.both(AuditFilter::default(), PageRequest { page: 1, per_page: 100 }).await;
    assert_eq!(all.total, recorded.len() as u64);
    let mut newest_first = recorded.clone();
    newest_first.reverse();
    assert_eq!(all.items.iter().map(|e| e.entry.clone()).collect::<Vec<_>>(), newest_first);
    for found in &all.items {
        let remote = shop.remote.get(&ctx(), found.id).await.unwrap();
        assert_eq!(&remote, found);
        assert_eq!(remote, shop.local.get(&ctx(), found.id).await.unwrap());
    }

    let filters = [
        AuditFilter { category: Some(AuditCategory::Security), ..AuditFilter::default() },
        AuditFilter { outcome: Some(AuditOutcome::Denied), ..AuditFilter::default() },
        AuditFilter { actor_id: Some("key-9".into()), ..AuditFilter::default() },
        AuditFilter { action: Some("POST /admin/".into()), ..AuditFilter::default() },
        AuditFilter { correlation_id: Some("corr-1".into()), ..AuditFilter::default() },
        AuditFilter { from: Some(at(2)), to: Some(at(4)), ..AuditFilter::default() },
        AuditFilter { q: Some("WAREHOUSE".into()), ..AuditFilter::default() },
        AuditFilter { q: Some("things/1 %".into()), ..AuditFilter::default() },
        AuditFilter {
            category: Some(AuditCategory::Security),
            outcome: Some(AuditOutcome::Denied),
            actor_id: Some("staff-1".into()),
            action: Some("auth.".into()),
            correlation_id: Some("corr-4".into()),
            from: Some(at(4)),
            to: Some(at(5)),
            q: Some("ada".into()),
        },
    ];
    let expected = [3, 2, 1, 2, 1, 2, 1, 0, 1];
    for (filter, expected) in filters.into_iter().zip(expected) {
        let found = shop.both(filter.clone(), PageRequest { page: 1, per_page: 100 }).await;
        assert_eq!(found.total, expected, "{filter:?}");
    }
    let second = shop.both(AuditFilter::default(), PageRequest { page: 2, per_page: 4 }).await;
    assert_eq!((second.page, second.per_page, second.total, second.items.len()), (2, 4, 6, 2));
}

#[tokio::test]
async fn refusals_are_the_same_through_the_client_naming_the_field() {
    let shop = shop().await;
    let mut bad = batch();
    bad[2].action = String::new();
    bad[4].detail = json!("not an object");
    let e = shop.refused(async |port| port.record(&ctx(), bad.clone()).await).await;
    assert!(matches!(e, Error::Validation { .. }), "{e:?}");
    assert_eq!((e.status(), fields(&e)), (422, vec!["entries[2].action", "entries[4].detail"]));

    let over: Vec<NewAuditEntry> = (0..=MAX_BATCH as i64).map(|i| entry("POST /admin/products", i)).collect();
    let e = shop.refused(async |port| port.record(&ctx(), over.clone()).await).await;
    assert_eq!((e.status(), fields(&e)), (422, vec!["entries"]));
    assert_eq!(shop.local.search(&ctx(), AuditFilter::default(), PageRequest::default()).await.unwrap().total, 0);

    let e = shop
        .refused(async |port| port.search(&ctx(), AuditFilter::default(), PageRequest { page: 0, per_page: 10 }).await)
        .await;
    assert_eq!((e.status(), fields(&e)), (422, vec!["page"]));
    let backwards = AuditFilter { from: Some(at(5)), to: Some(at(1)), ..AuditFilter::default() };
    let e = shop.refused(async |port| port.search(&ctx(), backwards.clone(), PageRequest::default()).await).await;
    assert_eq!((e.status(), fields(&e)), (422, vec!["to"]));

    let unknown = Uuid::now_v7();
    let e = shop.refused(async |port| port.get(&ctx(), unknown).await).await;
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
    assert_eq!(e.status(), 404);
}

#[tokio::test]
async fn malformed_messages_are_bad_requests_naming_the_field() {
    let shop = shop().await;
    let mut raw = shop.raw();
    let bad_request = |status: tonic::Status| {
        let e = from_status("audit", &status);
        assert_eq!(e.status(), 400, "{e}");
        e.to_string()
    };
    let mut message = convert::to_record(&batch());
    message.entries[1].category = 0;
    assert!(bad_request(raw.record(message).await.unwrap_err()).contains("entries[1].category"));
    let mut message = convert::to_record(&batch());
    message.entries[2].detail_json = "{\"unclosed\":".into();
    assert!(bad_request(raw.record(message).await.unwrap_err()).contains("entries[2].detail_json"));
    let message = pb::SearchRequest { outcome: Some(42), ..Default::default() };
    assert!(bad_request(raw.search(message).await.unwrap_err()).contains("outcome"));
    let message = pb::EntryId { id: "nope".into() };
    assert!(bad_request(raw.get(message).await.unwrap_err()).contains("id"));
    // Nothing of the refused batches was written.
    assert_eq!(shop.local.search(&ctx(), AuditFilter::default(), PageRequest::default()).await.unwrap().total, 0);

    // An empty detail is no detail: kept as an empty object, as in process.
    let mut message = convert::to_record(&batch()[..1]);
    message.entries[0].detail_json = String::new();
    raw.record(message).await.unwrap();
    let found = shop.remote.search(&ctx(), AuditFilter::default(), PageRequest::default()).await.unwrap();
    assert_eq!(found.items[0].entry.detail, json!({}));
}

#[tokio::test]
async fn what_the_consumer_records_reads_the_same_through_the_client() {
    let shop = shop().await;
    let consumer = shop.local.consumers().into_iter().find(|c| c.name == IDENTITY).expect("the identity consumer");
    let key_id = Uuid::now_v7();
    let key = ApiKeyEvent { key_id, name: "CI".into(), prefix: "ck_77".into(), scopes: vec![Permission::CatalogRead] };
    let revoked = EventEnvelope::new(
        &RequestContext::new("corr-revoke", Actor::user("staff-1")),
        "identity",
        API_KEY_REVOKED,
        key,
    );
    consumer.handler.handle(&revoked).await.unwrap();
    consumer.handler.handle(&revoked).await.unwrap();

    let filter = AuditFilter { correlation_id: Some("corr-revoke".into()), ..AuditFilter::default() };
    let found = shop.both(filter, PageRequest::default()).await;
    assert_eq!(found.total, 1);
    let entry = &found.items[0].entry;
    assert_eq!((entry.category, entry.action.as_str()), (AuditCategory::Security, API_KEY_REVOKED));
    assert_eq!((entry.actor_type, entry.actor_id.as_deref()), (ActorType::User, Some("staff-1")));
    assert_eq!(entry.target, Some(format!("apikey:{key_id}")));
}
