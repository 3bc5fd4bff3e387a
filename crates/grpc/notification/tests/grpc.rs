//! The notification module served over gRPC and driven through `NotificationClient`, against the
//! same module in process: every port method answers the same values, and every refusal the same
//! status, code, fields and message. Messages reach the mailbox the way they do in production, from
//! events handed to the module's consumers. SQLite by default, PostgreSQL with
//! COMPTOIR_TEST_BACKEND=postgres.

use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::Arc;

use comptoir_contracts::identity::events::{self as identity, UserRegistered};
use comptoir_contracts::inventory::events::{self as inventory, StockLow};
use comptoir_contracts::notification::events::{self, PreferencesChanged};
use comptoir_contracts::notification::{Delivery, Message, MessageFilter, MessageKind, NotificationPort};
use comptoir_contracts::ordering::events::{self as ordering, OrderCancelled};
use comptoir_grpc::server::ServiceSet;
use comptoir_grpc::{Remote, RemoteSettings, from_status};
use comptoir_kernel::{Actor, Error, EventEnvelope, Page, PageRequest, RequestContext, Result};
use comptoir_notification::{
    MIGRATIONS, NotificationConfig, NotificationModule, ORDERS, STOCK_ALERTS, WELCOME, templates,
};
use comptoir_notification_grpc::{NotificationClient, pb, service};
use comptoir_storage::{outbox, testing};
use tokio::net::TcpListener;
use tonic::transport::{Channel, Endpoint};
use uuid::Uuid;

const MERCHANT: &str = "owner@comptoir.test";

struct Shop {
    /// The module in process, for the answers the client must match.
    local: NotificationModule,
    /// The same module through its server.
    remote: NotificationClient,
    address: SocketAddr,
    db: testing::TestDb,
}

async fn shop() -> Shop {
    let db = testing::open("notification", &MIGRATIONS).await;
    let config = NotificationConfig {
        shop_name: "Comptoir".into(),
        from: "Comptoir <shop@comptoir.test>".into(),
        merchant_email: MERCHANT.into(),
        smtp: None,
    };
    let local = NotificationModule::new(db.db.clone(), config);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(ServiceSet::new().add(service(Arc::new(local.clone()))).serve(listener, std::future::pending()));
    let remote = Remote::connect("notification", &format!("http://{address}"), RemoteSettings::default()).unwrap();
    Shop { local, remote: NotificationClient::new(remote), address, db }
}

fn ctx() -> RequestContext {
    RequestContext::new("corr-notification-grpc", Actor::user("staff-3"))
}

fn all() -> MessageFilter {
    MessageFilter::default()
}

fn page(page: u32, per_page: u32) -> PageRequest {
    PageRequest::new(page, per_page).unwrap()
}

fn registered(email: &str) -> (Uuid, EventEnvelope) {
    let user_id = Uuid::now_v7();
    let data = UserRegistered { user_id, email: email.into(), first_name: Some("Ann".into()) };
    (user_id, EventEnvelope::new(&ctx(), "identity", identity::USER_REGISTERED, data))
}

fn stock_low(sku: &str, available: i64) -> EventEnvelope {
    let data = StockLow { sku: sku.into(), available, threshold: 5 };
    EventEnvelope::new(&ctx(), "inventory", inventory::STOCK_LOW, data)
}

fn cancelled(email: &str, customer_id: Uuid) -> EventEnvelope {
    let data = OrderCancelled {
        order_id: Uuid::now_v7(),
        number: "CO-000042".into(),
        email: email.into(),
        customer_id: Some(customer_id),
        reason: "payment declined".into(),
        reservation_id: None,
        before_confirmation: true,
    };
    EventEnvelope::new(&ctx(), "ordering", ordering::ORDER_CANCELLED, data)
}

/// Every field, compared through the JSON form (the contract types have no `PartialEq`).
fn assert_same<T: serde::Serialize>(remote: &T, local: &T) {
    assert_eq!(serde_json::to_value(remote).unwrap(), serde_json::to_value(local).unwrap());
}

fn fields(error: &Error) -> Vec<&str> {
    error.field_errors().iter().map(|f| f.field.as_str()).collect()
}

impl Shop {
    /// Hands the event to the named consumer, as the bus would.
    async fn deliver(&self, consumer: &str, event: &EventEnvelope) {
        let consumers = self.local.consumers();
        let consumer = consumers.iter().find(|c| c.name == consumer).expect("a consumer of that name");
        consumer.handler.handle(event).await.unwrap();
    }

    /// The mailbox read through the client, checked against the module's own answer.
    async fn mailbox(&self, filter: MessageFilter, page: PageRequest) -> Page<Message> {
        let remote = self.remote.messages(&ctx(), filter.clone(), page).await.unwrap();
        assert_same(&remote.items, &self.local.messages(&ctx(), filter, page).await.unwrap().items);
        remote
    }

    /// Makes the same call through the client and in process: both must be refused alike (status,
    /// code, field names and messages, text). The remote error is returned for further checks.
    async fn refused<T: Debug>(&self, call: impl AsyncFn(&dyn NotificationPort) -> Result<T>) -> Error {
        let remote = call(&self.remote).await.expect_err("refused through the client");
        let local = call(&self.local).await.expect_err("refused in process");
        assert_eq!(
            (remote.status(), remote.code(), remote.field_errors(), remote.to_string()),
            (local.status(), local.code(), local.field_errors(), local.to_string()),
        );
        remote
    }

    /// A raw client of the generated service, to send messages `NotificationClient` never builds.
    fn raw(&self) -> pb::notification_service_client::NotificationServiceClient<Channel> {
        let channel = Endpoint::from_shared(format!("http://{}", self.address)).unwrap().connect_lazy();
        pb::notification_service_client::NotificationServiceClient::new(channel)
    }
}

#[tokio::test]
async fn the_mailbox_is_read_through_the_client_with_its_filters_and_pages() {
    let shop = shop().await;
    let (ann_id, ann) = registered("Ann@Example.com");
    let (_, bob) = registered("bob@example.com");
    shop.deliver(WELCOME, &ann).await;
    shop.deliver(STOCK_ALERTS, &stock_low("MUG", 1)).await;
    shop.deliver(ORDERS, &cancelled("ann@example.com", ann_id)).await;
    shop.deliver(WELCOME, &bob).await;

    let everything = shop.mailbox(all(), page(1, 100)).await;
    assert_eq!((everything.page, everything.per_page, everything.total), (1, 100, 4));
    let seen: Vec<_> = everything.items.iter().map(|m| (m.to.as_str(), m.template.as_str(), m.kind)).collect();
    assert_eq!(
        seen,
        [
            ("bob@example.com", templates::WELCOME, MessageKind::Marketing),
            ("ann@example.com", templates::ORDER_CANCELLED, MessageKind::Transactional),
            (MERCHANT, templates::LOW_STOCK, MessageKind::Merchant),
            ("ann@example.com", templates::WELCOME, MessageKind::Marketing),
        ],
        "newest first"
    );
    let welcome = &everything.items[3];
    assert_eq!((welcome.event_id, welcome.customer_id, welcome.delivery), (ann.id, Some(ann_id), Delivery::Mailbox));
    assert_eq!((welcome.subject.as_str(), welcome.error.as_deref()), ("Welcome to Comptoir", None));
    assert!(welcome.body.starts_with("Hello Ann,"), "{}", welcome.body);
    assert_eq!(everything.items[2].customer_id, None);

    // The filter travels as typed; the module normalises it the same way on both sides.
    let to_ann = MessageFilter { to: Some(" ANN@example.COM ".into()), template: None };
    assert_eq!(shop.mailbox(to_ann, page(1, 100)).await.total, 2);
    let welcomes = MessageFilter { to: Some(String::new()), template: Some(templates::WELCOME.into()) };
    assert_eq!(shop.mailbox(welcomes, page(1, 100)).await.total, 2);
    let blank = MessageFilter { to: Some("  ".into()), template: Some(String::new()) };
    assert_eq!(shop.mailbox(blank, page(1, 100)).await.total, 4);

    let second = shop.mailbox(all(), page(2, 3)).await;
    assert_eq!((second.page, second.per_page, second.total, second.items.len()), (2, 3, 4, 1));
    assert_eq!(second.items[0].id, welcome.id);
    assert!(shop.mailbox(all(), page(3, 3)).await.items.is_empty());
}

#[tokio::test]
async fn preferences_are_read_and_set_through_the_client_with_the_callers_context() {
    let shop = shop().await;
    let customer_id = Uuid::now_v7();

    let unknown = shop.remote.preferences(&ctx(), customer_id).await.unwrap();
    assert_eq!((unknown.customer_id, unknown.marketing_opt_out), (customer_id, false), "opted in by default");

    let set = shop.remote.set_marketing_opt_out(&ctx(), customer_id, true).await.unwrap();
    assert!(set.marketing_opt_out);
    // Sent again (as a retry would): the same answer, and the change is announced once.
    let again = shop.remote.set_marketing_opt_out(&ctx(), customer_id, true).await.unwrap();
    assert_same(&again, &set);
    let read = shop.remote.preferences(&ctx(), customer_id).await.unwrap();
    assert_same(&read, &shop.local.preferences(&ctx(), customer_id).await.unwrap());
    assert!(read.marketing_opt_out);

    let changes: Vec<EventEnvelope> = outbox::pending(&shop.db, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event_type == events::PREFERENCES_CHANGED)
        .collect();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].correlation_id, "corr-notification-grpc", "the context travelled in metadata");
    assert_eq!(changes[0].metadata.actor_id.as_deref(), Some("staff-3"));
    let change: PreferencesChanged = changes[0].data_as().unwrap();
    assert_eq!((change.customer_id, change.marketing_opt_out), (customer_id, true));

    // The opt-out set remotely is honoured by the module: the welcome is recorded, not sent.
    let welcome = UserRegistered { user_id: customer_id, email: "ann@example.com".into(), first_name: None };
    shop.deliver(WELCOME, &EventEnvelope::new(&ctx(), "identity", identity::USER_REGISTERED, welcome)).await;
    let mailbox = shop.mailbox(all(), page(1, 10)).await;
    assert_eq!(mailbox.items[0].delivery, Delivery::Suppressed);

    let back = shop.remote.set_marketing_opt_out(&ctx(), customer_id, false).await.unwrap();
    assert!(!back.marketing_opt_out);
    assert!(!shop.local.preferences(&ctx(), customer_id).await.unwrap().marketing_opt_out);
}

#[tokio::test]
async fn bad_filters_and_pages_are_refused_as_in_process() {
    let shop = shop().await;
    let newsletter = MessageFilter { to: None, template: Some("newsletter".into()) };
    let e = shop.refused(async |port| port.messages(&ctx(), newsletter.clone(), page(1, 10)).await).await;
    assert_eq!((e.status(), fields(&e)), (422, vec!["template"]));

    let bad_pages = [
        (PageRequest { page: 0, per_page: 20 }, "page"),
        (PageRequest { page: 1, per_page: 0 }, "per_page"),
        (PageRequest { page: 1, per_page: 1000 }, "per_page"),
    ];
    for (bad, field) in bad_pages {
        let e = shop.refused(async |port| port.messages(&ctx(), all(), bad).await).await;
        assert_eq!((e.status(), fields(&e)), (422, vec![field]));
    }
}

#[tokio::test]
async fn malformed_messages_are_bad_requests_naming_the_field() {
    let shop = shop().await;
    let mut raw = shop.raw();
    let bad_request = |status: tonic::Status| {
        let e = from_status("notification", &status);
        assert_eq!(e.status(), 400, "{e}");
        e.to_string()
    };
    let message = pb::PreferencesRequest { customer_id: "nope".into() };
    assert!(bad_request(raw.preferences(message).await.unwrap_err()).contains("customer_id"));
    let message = pb::SetMarketingOptOutRequest { customer_id: String::new(), opt_out: true };
    assert!(bad_request(raw.set_marketing_opt_out(message).await.unwrap_err()).contains("customer_id"));

    // An absent filter is no filter; an absent page is the default page.
    let listed = raw.messages(pb::MessagesRequest::default()).await.unwrap().into_inner();
    let info = listed.page.unwrap();
    assert_eq!(
        (listed.messages.len(), info.page, info.per_page, info.total),
        (0, 1, PageRequest::default().per_page, 0)
    );
}
