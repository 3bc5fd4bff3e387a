//! The webhooks module served over gRPC and driven through `WebhooksClient`, against the same
//! module in process: every port method answers the same values, and every refusal the same
//! status, code, fields and message. Deliveries come the way they do in production, from events
//! handed to the module's consumer and sent by its dispatcher. SQLite by default, PostgreSQL with
//! COMPTOIR_TEST_BACKEND=postgres.

use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use comptoir_contracts::webhooks::events;
use comptoir_contracts::webhooks::{DeliveryFilter, DeliveryStatus, NewSubscription, SubscriptionPatch, WebhooksPort};
use comptoir_grpc::server::ServiceSet;
use comptoir_grpc::{Remote, RemoteSettings, from_status};
use comptoir_kernel::{Actor, Error, EventEnvelope, PageRequest, RequestContext, Result};
use comptoir_storage::{outbox, testing};
use comptoir_webhooks::{DELIVERIES, MIGRATIONS, WebhooksConfig, WebhooksModule};
use comptoir_webhooks_grpc::{WebhooksClient, pb, service};
use tokio::net::TcpListener;
use tonic::transport::{Channel, Endpoint};
use uuid::Uuid;

struct Shop {
    /// The module in process, for the answers the client must match.
    local: WebhooksModule,
    /// The same module through its server.
    remote: WebhooksClient,
    address: SocketAddr,
    db: testing::TestDb,
}

async fn shop() -> Shop {
    let db = testing::open("webhooks", &MIGRATIONS).await;
    let config = WebhooksConfig {
        allow_http: true,
        allow_private_hosts: true,
        timeout: Duration::from_secs(2),
        retry_delays: vec![],
        ..WebhooksConfig::default()
    };
    let local = WebhooksModule::new(db.db.clone(), config);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(ServiceSet::new().add(service(Arc::new(local.clone()))).serve(listener, std::future::pending()));
    let remote = Remote::connect("webhooks", &format!("http://{address}"), RemoteSettings::default()).unwrap();
    Shop { local, remote: WebhooksClient::new(remote), address, db }
}

fn ctx() -> RequestContext {
    RequestContext::new("corr-webhooks-grpc", Actor::user("staff-3"))
}

fn page(page: u32, per_page: u32) -> PageRequest {
    PageRequest::new(page, per_page).unwrap()
}

fn new(url: &str, patterns: &[&str]) -> NewSubscription {
    NewSubscription {
        url: url.into(),
        patterns: patterns.iter().map(|p| p.to_string()).collect(),
        description: "ERP".into(),
        enabled: true,
    }
}

/// Every field, compared through the JSON form (the contract types have no `PartialEq`).
fn assert_same<T: serde::Serialize>(remote: &T, local: &T) {
    assert_eq!(serde_json::to_value(remote).unwrap(), serde_json::to_value(local).unwrap());
}

fn fields(error: &Error) -> Vec<&str> {
    error.field_errors().iter().map(|f| f.field.as_str()).collect()
}

/// A URL where nothing listens: every attempt fails at once.
async fn closed_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    drop(listener);
    url
}

impl Shop {
    /// Makes the same call through the client and in process: both must be refused alike (status,
    /// code, field names and messages, text). The remote error is returned for further checks.
    async fn refused<T: Debug>(&self, call: impl AsyncFn(&dyn WebhooksPort) -> Result<T>) -> Error {
        let remote = call(&self.remote).await.expect_err("refused through the client");
        let local = call(&self.local).await.expect_err("refused in process");
        assert_eq!(
            (remote.status(), remote.code(), remote.field_errors(), remote.to_string()),
            (local.status(), local.code(), local.field_errors(), local.to_string()),
        );
        remote
    }

    /// A raw client of the generated service, to send messages `WebhooksClient` never builds.
    fn raw(&self) -> pb::webhooks_service_client::WebhooksServiceClient<Channel> {
        let channel = Endpoint::from_shared(format!("http://{}", self.address)).unwrap().connect_lazy();
        pb::webhooks_service_client::WebhooksServiceClient::new(channel)
    }
}

#[tokio::test]
async fn subscriptions_are_managed_through_the_client_with_the_callers_context() {
    let shop = shop().await;
    let created = shop.remote.create_subscription(&ctx(), new("http://hooks.test/a", &["order.#"])).await.unwrap();
    assert!(created.secret.starts_with("whsec_"));
    let read = shop.remote.subscription(&ctx(), created.subscription.id).await.unwrap();
    assert_same(&read, &created.subscription);
    assert_same(&read, &shop.local.subscription(&ctx(), read.id).await.unwrap());

    shop.remote.create_subscription(&ctx(), new("http://hooks.test/b", &["#"])).await.unwrap();
    let listed = shop.remote.subscriptions(&ctx(), page(1, 1)).await.unwrap();
    assert_eq!((listed.total, listed.items.len()), (2, 1));
    assert_same(&listed.items, &shop.local.subscriptions(&ctx(), page(1, 1)).await.unwrap().items);

    let patch =
        SubscriptionPatch { patterns: Some(vec!["order.order.*".into()]), enabled: Some(false), ..Default::default() };
    let updated = shop.remote.update_subscription(&ctx(), read.id, patch).await.unwrap();
    assert_eq!((updated.patterns.as_slice(), updated.enabled), (&["order.order.*".to_string()][..], false));
    assert_eq!(updated.url, "http://hooks.test/a", "absent fields are kept");

    let rotated = shop.remote.rotate_secret(&ctx(), read.id).await.unwrap();
    assert_ne!(rotated.secret, created.secret);
    shop.remote.delete_subscription(&ctx(), read.id).await.unwrap();
    assert_eq!(shop.remote.subscription(&ctx(), read.id).await.unwrap_err().status(), 404);

    let emitted = outbox::pending(&shop.db, 100).await.unwrap();
    let types: Vec<_> = emitted.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            events::SUBSCRIPTION_CREATED,
            events::SUBSCRIPTION_CREATED,
            events::SUBSCRIPTION_UPDATED,
            events::SUBSCRIPTION_UPDATED,
            events::SUBSCRIPTION_DELETED
        ]
    );
    assert!(emitted.iter().all(|e| e.correlation_id == "corr-webhooks-grpc"), "the context travelled in metadata");
    assert!(emitted.iter().all(|e| e.metadata.actor_id.as_deref() == Some("staff-3")));
}

#[tokio::test]
async fn deliveries_are_read_and_redelivered_through_the_client() {
    let shop = shop().await;
    let sub = shop.remote.create_subscription(&ctx(), new(&closed_url().await, &["#"])).await.unwrap().subscription;
    let consumers = shop.local.consumers();
    let consumer = consumers.iter().find(|c| c.name == DELIVERIES).unwrap();
    let event = EventEnvelope::new(&ctx(), "ordering", "order.order.placed", serde_json::json!({"n": 1}));
    consumer.handler.handle(&event).await.unwrap();
    assert_eq!(shop.local.dispatch_due().await.unwrap(), 1);

    let failed = DeliveryFilter { status: Some(DeliveryStatus::Failed) };
    let listed = shop.remote.deliveries(&ctx(), sub.id, failed.clone(), page(1, 10)).await.unwrap();
    assert_eq!(listed.total, 1);
    assert_same(&listed.items, &shop.local.deliveries(&ctx(), sub.id, failed, page(1, 10)).await.unwrap().items);
    let pending = DeliveryFilter { status: Some(DeliveryStatus::Pending) };
    assert_eq!(shop.remote.deliveries(&ctx(), sub.id, pending, page(1, 10)).await.unwrap().total, 0);

    let id = listed.items[0].id;
    let detail = shop.remote.delivery(&ctx(), id).await.unwrap();
    assert_same(&detail, &shop.local.delivery(&ctx(), id).await.unwrap());
    assert_eq!(detail.payload["id"], event.id.to_string());
    assert_eq!((detail.attempts.len(), detail.attempts[0].response_code), (1, None));

    let again = shop.remote.redeliver(&ctx(), id).await.unwrap();
    assert_eq!((again.delivery.status, again.attempts.len()), (DeliveryStatus::Failed, 2));
    assert!(again.attempts[1].manual);
    assert_same(&again, &shop.local.delivery(&ctx(), id).await.unwrap());
}

#[tokio::test]
async fn bad_input_and_unknown_ids_are_refused_as_in_process() {
    let shop = shop().await;
    let e = shop.refused(async |port| port.create_subscription(&ctx(), new("ftp://x", &["Bad"])).await).await;
    assert_eq!((e.status(), fields(&e)), (422, vec!["url", "patterns[0]"]));
    let e = shop.refused(async |port| port.create_subscription(&ctx(), new("http://hooks.test/", &[])).await).await;
    assert_eq!(fields(&e), ["patterns"]);

    let nobody = Uuid::now_v7();
    let e = shop.refused(async |port| port.subscription(&ctx(), nobody).await).await;
    assert_eq!(e.status(), 404);
    let patch = SubscriptionPatch { url: Some("http://hooks.test/x".into()), ..Default::default() };
    assert_eq!(
        shop.refused(async |port| port.update_subscription(&ctx(), nobody, patch.clone()).await).await.status(),
        404
    );
    assert_eq!(shop.refused(async |port| port.delete_subscription(&ctx(), nobody).await).await.status(), 404);
    assert_eq!(shop.refused(async |port| port.rotate_secret(&ctx(), nobody).await).await.status(), 404);
    let all = DeliveryFilter::default();
    let e = shop.refused(async |port| port.deliveries(&ctx(), nobody, all.clone(), page(1, 10)).await).await;
    assert_eq!(e.status(), 404);
    assert_eq!(shop.refused(async |port| port.delivery(&ctx(), nobody).await).await.status(), 404);
    assert_eq!(shop.refused(async |port| port.redeliver(&ctx(), nobody).await).await.status(), 404);
    let bad_page = PageRequest { page: 1, per_page: 1000 };
    let e = shop.refused(async |port| port.subscriptions(&ctx(), bad_page).await).await;
    assert_eq!(fields(&e), ["per_page"]);
}

#[tokio::test]
async fn malformed_messages_are_bad_requests_naming_the_field() {
    let shop = shop().await;
    let mut raw = shop.raw();
    let bad_request = |status: tonic::Status| {
        let e = from_status("webhooks", &status);
        assert_eq!(e.status(), 400, "{e}");
        e.to_string()
    };
    assert!(bad_request(raw.subscription(pb::SubscriptionId { id: "nope".into() }).await.unwrap_err()).contains("id"));
    let message = pb::DeliveriesRequest { subscription_id: Uuid::now_v7().to_string(), status: Some(0), page: None };
    assert!(bad_request(raw.deliveries(message).await.unwrap_err()).contains("status"));
    let message = pb::DeliveriesRequest { subscription_id: "x".into(), status: None, page: None };
    assert!(bad_request(raw.deliveries(message).await.unwrap_err()).contains("subscription_id"));

    // An absent page is the default page.
    let listed = raw.subscriptions(pb::SubscriptionsRequest::default()).await.unwrap().into_inner();
    let info = listed.page.unwrap();
    assert_eq!((listed.subscriptions.len(), info.page, info.per_page), (0, 1, PageRequest::default().per_page));
}
