//! The payment module served over gRPC and driven through `PaymentClient`, against the same module
//! in process: every port method answers the same values, and every refusal the same status, code,
//! fields and message. SQLite by default, PostgreSQL with COMPTOIR_TEST_BACKEND=postgres.

use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::Arc;

use comptoir_contracts::payment::events::{self, ChargeOutcome};
use comptoir_contracts::payment::{
    ChargeRequest, Payment, PaymentMethodInput, PaymentPort, PaymentStatus, RefundRequest, test_cards,
};
use comptoir_grpc::server::ServiceSet;
use comptoir_grpc::{Remote, RemoteSettings};
use comptoir_kernel::{Actor, Currency, Error, EventEnvelope, Money, PageRequest, RequestContext, Result, time};
use comptoir_payment::{MIGRATIONS, PaymentConfig, PaymentModule, sign_webhook};
use comptoir_payment_grpc::{PaymentClient, pb, service};
use comptoir_storage::{outbox, testing};
use tokio::net::TcpListener;
use tonic::transport::{Channel, Endpoint};
use uuid::Uuid;

const SECRET: &str = "whsec_grpc_test";

struct Shop {
    /// The module in process, for the answers the client must match.
    local: PaymentModule,
    /// The same module through its server.
    remote: PaymentClient,
    address: SocketAddr,
    db: testing::TestDb,
}

async fn shop() -> Shop {
    let db = testing::open("payment", &MIGRATIONS).await;
    let local = PaymentModule::new(db.db.clone(), PaymentConfig { webhook_secret: SECRET.into() });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(ServiceSet::new().add(service(Arc::new(local.clone()))).serve(listener, std::future::pending()));
    let remote = Remote::connect("payment", &format!("http://{address}"), RemoteSettings::default()).unwrap();
    Shop { local, remote: PaymentClient::new(remote), address, db }
}

fn ctx() -> RequestContext {
    RequestContext::new("corr-payment-grpc", Actor::user("staff-7"))
}

fn eur(amount: i64) -> Money {
    Money::new(amount, Currency::EUR)
}

fn charge(order_id: Uuid, amount: i64, provider: &str, token: Option<&str>, key: &str) -> ChargeRequest {
    ChargeRequest {
        order_id,
        customer_id: Some(Uuid::now_v7()),
        amount: eur(amount),
        method: PaymentMethodInput { provider: provider.into(), token: token.map(Into::into) },
        idempotency_key: key.into(),
    }
}

fn refund(payment_id: Uuid, amount: Money, key: &str) -> RefundRequest {
    RefundRequest { payment_id, amount, reason: Some("damaged".into()), idempotency_key: key.into() }
}

fn refund_body(event_id: &str, reference: &str, amount: i64) -> Vec<u8> {
    serde_json::json!({"id": event_id, "type": "charge.refunded", "reference": reference, "amount": amount})
        .to_string()
        .into_bytes()
}

fn signed(body: &[u8]) -> String {
    sign_webhook(SECRET, time::now().timestamp(), body)
}

/// Every field, compared through the JSON form (the contract types have no `PartialEq`).
fn assert_same<T: serde::Serialize>(remote: &T, local: &T) {
    assert_eq!(serde_json::to_value(remote).unwrap(), serde_json::to_value(local).unwrap());
}

fn fields(error: &Error) -> Vec<&str> {
    error.field_errors().iter().map(|f| f.field.as_str()).collect()
}

impl Shop {
    /// A captured payment, charged through the client.
    async fn captured(&self, amount: i64) -> Payment {
        let request = charge(Uuid::now_v7(), amount, "test", Some(test_cards::APPROVED), &Uuid::now_v7().to_string());
        let payment = self.remote.charge(&ctx(), request).await.unwrap();
        assert_eq!(payment.status, PaymentStatus::Captured);
        payment
    }

    /// The payment read through the client, checked against the module's own answer.
    async fn read(&self, id: Uuid) -> Payment {
        let remote = self.remote.get_payment(&ctx(), id).await.unwrap();
        assert_same(&remote, &self.local.get_payment(&ctx(), id).await.unwrap());
        remote
    }

    /// Makes the same call through the client and in process: both must be refused alike (status,
    /// code, field names and messages, text). The remote error is returned for further checks.
    async fn refused<T: Debug>(&self, call: impl AsyncFn(&dyn PaymentPort) -> Result<T>) -> Error {
        let remote = call(&self.remote).await.expect_err("refused through the client");
        let local = call(&self.local).await.expect_err("refused in process");
        assert_eq!(
            (remote.status(), remote.code(), remote.field_errors(), remote.to_string()),
            (local.status(), local.code(), local.field_errors(), local.to_string()),
        );
        remote
    }

    async fn events(&self, event_type: &str) -> Vec<EventEnvelope> {
        outbox::pending(&self.db, 10_000).await.unwrap().into_iter().filter(|e| e.event_type == event_type).collect()
    }

    /// A raw client of the generated service, to send messages `PaymentClient` never builds.
    fn raw(&self) -> pb::payment_service_client::PaymentServiceClient<Channel> {
        let channel = Endpoint::from_shared(format!("http://{}", self.address)).unwrap().connect_lazy();
        pb::payment_service_client::PaymentServiceClient::new(channel)
    }
}

// ---- Charges -------------------------------------------------------------------------------

#[tokio::test]
async fn charges_go_through_the_client_with_the_callers_context() {
    let shop = shop().await;
    let order_id = Uuid::now_v7();
    let approved = charge(order_id, 2599, "test", Some(test_cards::APPROVED), "checkout-1");
    let payment = shop.remote.charge(&ctx(), approved.clone()).await.unwrap();
    assert_eq!(
        (payment.status, payment.order_id, payment.provider.as_str()),
        (PaymentStatus::Captured, order_id, "test")
    );
    assert_eq!((payment.amount, payment.captured, payment.refunded), (eur(2599), eur(2599), eur(0)));
    assert!(payment.provider_reference.as_deref().unwrap().starts_with("test_ch_"));
    let stored = shop.read(payment.id).await;
    assert_eq!((stored.status, &stored.provider_reference), (payment.status, &payment.provider_reference));

    // The event was written with the context that travelled in metadata.
    let succeeded = shop.events(events::CHARGE_SUCCEEDED).await;
    assert_eq!(succeeded.len(), 1);
    assert_eq!(succeeded[0].correlation_id, "corr-payment-grpc");
    assert_eq!(succeeded[0].metadata.actor_id.as_deref(), Some("staff-7"));
    let outcome: ChargeOutcome = succeeded[0].data_as().unwrap();
    assert_eq!((outcome.payment_id, outcome.amount), (payment.id, eur(2599)));

    // A retry with the same key answers the stored payment, whichever side it comes from.
    let again = shop.remote.charge(&ctx(), approved.clone()).await.unwrap();
    assert_same(&again, &stored);
    assert_same(&again, &shop.local.charge(&ctx(), approved).await.unwrap());
    assert_eq!(shop.events(events::CHARGE_SUCCEEDED).await.len(), 1);

    // A decline is an answer, with its reason; cash takes no token.
    let stolen = charge(order_id, 2599, "test", Some(test_cards::DECLINED_STOLEN), "checkout-0");
    let declined = shop.remote.charge(&ctx(), stolen).await.unwrap();
    assert_eq!(declined.status, PaymentStatus::Declined);
    assert_eq!((declined.decline_reason.as_deref(), declined.provider_reference), (Some("card reported stolen"), None));
    let cash = shop.remote.charge(&ctx(), charge(order_id, 1500, "cash", None, "till-1")).await.unwrap();
    assert!(cash.provider_reference.unwrap().starts_with("cash_"));

    let history = shop.remote.payments_for_order(&ctx(), order_id).await.unwrap();
    assert_same(&history, &shop.local.payments_for_order(&ctx(), order_id).await.unwrap());
    let ids: Vec<_> = history.iter().map(|p| p.id).collect();
    assert_eq!(ids, [payment.id, declined.id, cash.id], "oldest first");
    assert!(shop.remote.payments_for_order(&ctx(), Uuid::now_v7()).await.unwrap().is_empty());
}

#[tokio::test]
async fn bad_charges_are_refused_as_in_process() {
    let shop = shop().await;
    let order = Uuid::now_v7();
    // Every problem at once: the module names them all.
    let e =
        shop.refused(async |port| port.charge(&ctx(), charge(order, 0, " paypal ", Some("tok_visa"), "")).await).await;
    assert_eq!((e.status(), fields(&e)), (422, vec!["amount", "payment.provider", "idempotency_key"]));
    // A blank token travels as blank, not as absent or trimmed, and gets the provider's answer.
    for token in [None, Some(""), Some("   ")] {
        let e = shop.refused(async |port| port.charge(&ctx(), charge(order, 100, "test", token, "k1")).await).await;
        assert_eq!((e.status(), fields(&e)), (422, vec!["payment.token"]));
    }
    let e =
        shop.refused(async |port| port.charge(&ctx(), charge(order, 100, "cash", Some("tok_visa"), "k2")).await).await;
    assert_eq!(fields(&e), ["payment.token"]);

    // The provider does not answer: unavailable, not retried by the client, nothing written.
    let down = charge(order, 100, "test", Some(test_cards::PROVIDER_UNAVAILABLE), "k3");
    let e = shop.refused(async |port| port.charge(&ctx(), down.clone()).await).await;
    assert_eq!(e.status(), 503);

    // A key reused for another charge is a conflict on the key.
    shop.remote.charge(&ctx(), charge(order, 4200, "test", Some("tok_visa"), "k4")).await.unwrap();
    let e =
        shop.refused(async |port| port.charge(&ctx(), charge(order, 9999, "test", Some("tok_visa"), "k4")).await).await;
    assert_eq!((e.status(), e.code(), fields(&e)), (409, "idempotency-key-reused", vec!["idempotency_key"]));
    assert_eq!(shop.local.list_payments(&ctx(), PageRequest::default()).await.unwrap().total, 1);
}

// ---- Refunds, reads and listing ------------------------------------------------------------

#[tokio::test]
async fn refunds_go_through_the_client_once_per_key() {
    let shop = shop().await;
    let payment = shop.captured(10_000).await;

    let partly = shop.remote.refund(&ctx(), refund(payment.id, eur(3000), "refund-1")).await.unwrap();
    assert_eq!((partly.status, partly.refunded), (PaymentStatus::PartiallyRefunded, eur(3000)));
    assert_eq!((partly.refunds[0].amount, partly.refunds[0].reason.as_deref()), (eur(3000), Some("damaged")));
    let retried = shop.remote.refund(&ctx(), refund(payment.id, eur(3000), "refund-1")).await.unwrap();
    assert_eq!((retried.refunded, retried.refunds.len()), (eur(3000), 1));
    assert_eq!(retried.refunds[0].id, partly.refunds[0].id);

    let without_reason = RefundRequest { reason: None, ..refund(payment.id, eur(7000), "refund-2") };
    let fully = shop.remote.refund(&ctx(), without_reason).await.unwrap();
    assert_eq!((fully.status, fully.refunded, fully.refunds.len()), (PaymentStatus::Refunded, eur(10_000), 2));
    assert_eq!(fully.refunds[1].reason, None);
    assert_same(&fully, &shop.read(payment.id).await);
    assert_eq!(shop.events(events::REFUND_COMPLETED).await.len(), 2);
}

#[tokio::test]
async fn bad_refunds_and_missing_payments_are_refused_as_in_process() {
    let shop = shop().await;
    let payment = shop.captured(10_000).await;

    let e = shop.refused(async |port| port.refund(&ctx(), refund(payment.id, eur(10_001), "r1")).await).await;
    assert_eq!((e.status(), fields(&e)), (422, vec!["amount"]));
    assert!(e.to_string().contains("at most 10000"), "{e}");
    let usd = refund(payment.id, Money::new(100, Currency::USD), "r2");
    let e = shop.refused(async |port| port.refund(&ctx(), usd.clone()).await).await;
    assert_eq!(fields(&e), ["amount"]);
    let blank = RefundRequest { reason: Some(" ".repeat(3)), ..refund(payment.id, eur(0), " ") };
    let e = shop.refused(async |port| port.refund(&ctx(), blank.clone()).await).await;
    assert_eq!(fields(&e), ["amount", "idempotency_key"]);

    shop.remote.refund(&ctx(), refund(payment.id, eur(100), "r3")).await.unwrap();
    let e = shop.refused(async |port| port.refund(&ctx(), refund(payment.id, eur(200), "r3")).await).await;
    assert_eq!((e.status(), e.code()), (409, "idempotency-key-reused"));

    let declined = charge(Uuid::now_v7(), 1000, "test", Some(test_cards::DECLINED_INSUFFICIENT_FUNDS), "c-declined");
    let declined = shop.remote.charge(&ctx(), declined).await.unwrap();
    let e = shop.refused(async |port| port.refund(&ctx(), refund(declined.id, eur(100), "r4")).await).await;
    assert_eq!((e.status(), e.code()), (409, "payment-not-refundable"));

    let missing = Uuid::now_v7();
    let e = shop.refused(async |port| port.refund(&ctx(), refund(missing, eur(100), "r5")).await).await;
    assert_eq!(e.status(), 404);
    let e = shop.refused(async |port| port.get_payment(&ctx(), missing).await).await;
    assert!(matches!(&e, Error::NotFound { resource: "payment", id } if *id == missing.to_string()), "{e:?}");
}

#[tokio::test]
async fn payments_are_listed_in_pages_through_the_client() {
    let shop = shop().await;
    let mut ids = Vec::new();
    for amount in [1000, 2000, 3000] {
        ids.push(shop.captured(amount).await.id);
    }
    shop.remote.refund(&ctx(), refund(ids[2], eur(500), "r")).await.unwrap();

    let first_page = PageRequest::new(1, 2).unwrap();
    let first = shop.remote.list_payments(&ctx(), first_page).await.unwrap();
    assert_same(&first, &shop.local.list_payments(&ctx(), first_page).await.unwrap());
    assert_eq!((first.page, first.per_page, first.total), (1, 2, 3));
    assert_eq!(first.items.iter().map(|p| p.id).collect::<Vec<_>>(), [ids[2], ids[1]], "newest first");
    assert_eq!(first.items[0].refunds.len(), 1, "refunds come with the listed payments");
    let second = shop.remote.list_payments(&ctx(), PageRequest::new(2, 2).unwrap()).await.unwrap();
    assert_eq!(second.items.iter().map(|p| p.id).collect::<Vec<_>>(), [ids[0]]);

    for bad in [PageRequest { page: 1, per_page: 0 }, PageRequest { page: 0, per_page: 10 }] {
        let e = shop.refused(async |port| port.list_payments(&ctx(), bad).await).await;
        assert_eq!(e.status(), 422);
    }
}

// ---- Webhooks ------------------------------------------------------------------------------

#[tokio::test]
async fn signed_webhooks_reach_the_module_byte_for_byte() {
    let shop = shop().await;
    let payment = shop.captured(5000).await;
    let reference = payment.provider_reference.clone().unwrap();

    // The signature covers the exact bytes, whitespace and all.
    let body = format!("  {}\n", String::from_utf8(refund_body("evt_1", &reference, 2000)).unwrap()).into_bytes();
    shop.remote.provider_webhook(&ctx(), "test", &signed(&body), &body).await.unwrap();
    let stored = shop.read(payment.id).await;
    assert_eq!((stored.status, stored.refunded), (PaymentStatus::PartiallyRefunded, eur(2000)));

    // Delivered again: acknowledged, counted once.
    shop.remote.provider_webhook(&ctx(), "test", &signed(&body), &body).await.unwrap();
    assert_eq!(shop.read(payment.id).await.refunds.len(), 1);
    assert_eq!(shop.events(events::REFUND_COMPLETED).await.len(), 1);

    let tampered = refund_body("evt_2", &reference, 3000);
    let e = shop.refused(async |port| port.provider_webhook(&ctx(), "test", &signed(&body), &tampered).await).await;
    assert_eq!(e.status(), 401);
    let e = shop.refused(async |port| port.provider_webhook(&ctx(), "test", "", &tampered).await).await;
    assert_eq!(e.status(), 401);
    let malformed = b"{not json".to_vec();
    let e =
        shop.refused(async |port| port.provider_webhook(&ctx(), "test", &signed(&malformed), &malformed).await).await;
    assert_eq!(e.status(), 400);
    let e =
        shop.refused(async |port| port.provider_webhook(&ctx(), "paypal", &signed(&tampered), &tampered).await).await;
    assert_eq!(e.status(), 404);
    let too_much = refund_body("evt_3", &reference, 3001);
    let e = shop.refused(async |port| port.provider_webhook(&ctx(), "test", &signed(&too_much), &too_much).await).await;
    assert_eq!((e.status(), fields(&e)), (422, vec!["amount"]));
    assert_eq!(shop.read(payment.id).await.refunded, eur(2000));
}

// ---- Malformed messages --------------------------------------------------------------------

#[tokio::test]
async fn malformed_messages_are_bad_requests_naming_the_field() {
    let shop = shop().await;
    let mut raw = shop.raw();
    let bad_request = |status: tonic::Status| {
        let e = comptoir_grpc::from_status("payment", &status);
        assert_eq!(e.status(), 400, "{e}");
        e.to_string()
    };

    let message = pb::ChargeRequest { order_id: "nope".into(), ..Default::default() };
    assert!(bad_request(raw.charge(message).await.unwrap_err()).contains("order_id"));
    let message = pb::ChargeRequest { order_id: Uuid::now_v7().to_string(), ..Default::default() };
    assert!(bad_request(raw.charge(message.clone()).await.unwrap_err()).contains("amount"));
    let message = pb::ChargeRequest { amount: Some(comptoir_grpc::convert::to_money(&eur(100))), ..message };
    assert!(bad_request(raw.charge(message).await.unwrap_err()).contains("method"));
    let message = pb::RefundRequest {
        payment_id: Uuid::now_v7().to_string(),
        amount: Some(comptoir_grpc::pb::Money { amount: 100, currency: "ZZZ".into() }),
        ..Default::default()
    };
    assert!(bad_request(raw.refund(message).await.unwrap_err()).contains("amount.currency"));
    let message = pb::GetPaymentRequest { payment_id: String::new() };
    assert!(bad_request(raw.get_payment(message).await.unwrap_err()).contains("payment_id"));
    let message = pb::PaymentsForOrderRequest { order_id: "42".into() };
    assert!(bad_request(raw.payments_for_order(message).await.unwrap_err()).contains("order_id"));
}
