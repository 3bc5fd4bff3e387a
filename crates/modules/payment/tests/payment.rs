//! The payment module against a real database: SQLite, or PostgreSQL when
//! COMPTOIR_TEST_BACKEND=postgres.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use comptoir_contracts::payment::events::{self, ChargeOutcome, RefundCompleted};
use comptoir_contracts::payment::{
    ChargeRequest, Payment, PaymentMethodInput, PaymentPort, PaymentStatus, RefundRequest, test_cards,
};
use comptoir_kernel::{Actor, Currency, Error, EventEnvelope, Money, PageRequest, RequestContext, Result, time};
use comptoir_payment::{
    Authorization, CashProvider, MIGRATIONS, PaymentConfig, PaymentModule, PaymentProvider, TestProvider,
    WEBHOOK_TOLERANCE_SECONDS, sign_webhook,
};
use comptoir_storage::testing::{self, TestDb};
use comptoir_storage::{Row, outbox, query, query_scalar};
use uuid::Uuid;

const SECRET: &str = "whsec_test_secret";

/// The test provider, counting the authorisations it is asked for.
struct CountingTestProvider {
    authorizations: Arc<AtomicUsize>,
}

#[async_trait]
impl PaymentProvider for CountingTestProvider {
    fn name(&self) -> &'static str {
        TestProvider::NAME
    }
    async fn authorize(&self, amount: Money, token: Option<&str>, idempotency_key: &str) -> Result<Authorization> {
        self.authorizations.fetch_add(1, Ordering::SeqCst);
        TestProvider.authorize(amount, token, idempotency_key).await
    }
    async fn capture(&self, reference: &str, amount: Money) -> Result<()> {
        TestProvider.capture(reference, amount).await
    }
    async fn void(&self, reference: &str) -> Result<()> {
        TestProvider.void(reference).await
    }
    async fn refund(&self, reference: &str, amount: Money) -> Result<String> {
        TestProvider.refund(reference, amount).await
    }
}

/// Charges go through; refunds never do.
struct RefundsDownProvider;

#[async_trait]
impl PaymentProvider for RefundsDownProvider {
    fn name(&self) -> &'static str {
        "refunds-down"
    }
    async fn authorize(&self, _amount: Money, _token: Option<&str>, key: &str) -> Result<Authorization> {
        Ok(Authorization::Approved { reference: format!("rd_{key}") })
    }
    async fn capture(&self, _reference: &str, _amount: Money) -> Result<()> {
        Ok(())
    }
    async fn void(&self, _reference: &str) -> Result<()> {
        Ok(())
    }
    async fn refund(&self, _reference: &str, _amount: Money) -> Result<String> {
        Err(Error::unavailable("refunds are down"))
    }
}

struct Shop {
    db: TestDb,
    payment: PaymentModule,
    authorizations: Arc<AtomicUsize>,
}

async fn open() -> Shop {
    let db = testing::open("payment", &MIGRATIONS).await;
    let authorizations = Arc::new(AtomicUsize::new(0));
    let providers: Vec<Arc<dyn PaymentProvider>> = vec![
        Arc::new(CountingTestProvider { authorizations: authorizations.clone() }),
        Arc::new(CashProvider),
        Arc::new(RefundsDownProvider),
    ];
    let config = PaymentConfig { webhook_secret: SECRET.into() };
    let payment = PaymentModule::with_providers(db.clone(), config, providers);
    Shop { db, payment, authorizations }
}

fn ctx() -> RequestContext {
    RequestContext::new("corr-payment", Actor::user("staff-1"))
}

fn eur(amount: i64) -> Money {
    Money::new(amount, Currency::EUR)
}

fn charge_request(order_id: Uuid, amount: i64, provider: &str, token: Option<&str>, key: &str) -> ChargeRequest {
    ChargeRequest {
        order_id,
        customer_id: Some(Uuid::now_v7()),
        amount: eur(amount),
        method: PaymentMethodInput { provider: provider.into(), token: token.map(Into::into) },
        idempotency_key: key.into(),
    }
}

fn refund_request(payment_id: Uuid, amount: Money, key: &str) -> RefundRequest {
    RefundRequest { payment_id, amount, reason: Some("damaged".into()), idempotency_key: key.into() }
}

fn field(e: &Error) -> &str {
    e.field_errors().first().map(|f| f.field.as_str()).unwrap_or("")
}

fn refund_body(event_id: &str, reference: &str, amount: i64) -> Vec<u8> {
    serde_json::json!({"id": event_id, "type": "charge.refunded", "reference": reference, "amount": amount})
        .to_string()
        .into_bytes()
}

fn signed(body: &[u8]) -> String {
    sign_webhook(SECRET, time::now().timestamp(), body)
}

impl Shop {
    async fn charge(&self, amount: i64, token: &str, key: &str) -> Result<Payment> {
        self.payment.charge(&ctx(), charge_request(Uuid::now_v7(), amount, "test", Some(token), key)).await
    }

    async fn captured(&self, amount: i64) -> Payment {
        let payment = self.charge(amount, test_cards::APPROVED, &Uuid::now_v7().to_string()).await.unwrap();
        assert_eq!(payment.status, PaymentStatus::Captured);
        payment
    }

    async fn refund(&self, payment_id: Uuid, amount: i64, key: &str) -> Result<Payment> {
        self.payment.refund(&ctx(), refund_request(payment_id, eur(amount), key)).await
    }

    async fn get(&self, id: Uuid) -> Payment {
        self.payment.get_payment(&ctx(), id).await.unwrap()
    }

    async fn webhook(&self, signature: &str, body: &[u8]) -> Result<()> {
        self.payment.provider_webhook(&ctx(), "test", signature, body).await
    }

    async fn events(&self, event_type: &str) -> Vec<EventEnvelope> {
        outbox::pending(&self.db, 10_000).await.unwrap().into_iter().filter(|e| e.event_type == event_type).collect()
    }

    async fn count(&self, table: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(self.db.reader()).await.unwrap()
    }
}

// ---- Charges -------------------------------------------------------------------------------

#[tokio::test]
async fn an_approved_charge_is_captured_and_announced() {
    let shop = open().await;
    let order_id = Uuid::now_v7();
    let request = charge_request(order_id, 2599, "test", Some(test_cards::APPROVED), "checkout-1");
    let payment = shop.payment.charge(&ctx(), request).await.unwrap();

    assert_eq!(payment.status, PaymentStatus::Captured);
    assert_eq!((payment.amount, payment.captured, payment.refunded), (eur(2599), eur(2599), eur(0)));
    assert_eq!(
        (payment.order_id, payment.provider.as_str(), payment.decline_reason.as_deref()),
        (order_id, "test", None)
    );
    let reference = payment.provider_reference.as_deref().unwrap();
    assert!(Uuid::parse_str(reference.strip_prefix("test_ch_").unwrap()).is_ok(), "{reference}");

    let stored = shop.get(payment.id).await;
    assert_eq!((stored.status, stored.provider_reference.as_deref()), (PaymentStatus::Captured, Some(reference)));

    let events = shop.events(events::CHARGE_SUCCEEDED).await;
    assert_eq!(events.len(), 1);
    assert_eq!((events[0].source.as_str(), events[0].correlation_id.as_str()), ("payment", "corr-payment"));
    let outcome: ChargeOutcome = events[0].data_as().unwrap();
    assert_eq!((outcome.payment_id, outcome.order_id, outcome.amount), (payment.id, order_id, eur(2599)));
    assert_eq!(outcome.decline_reason, None);
    assert!(shop.events(events::CHARGE_FAILED).await.is_empty());
}

#[tokio::test]
async fn declined_cards_are_recorded_with_their_reason_and_announced() {
    let shop = open().await;
    let order_id = Uuid::now_v7();
    let cases = [
        (test_cards::DECLINED_INSUFFICIENT_FUNDS, "insufficient funds"),
        (test_cards::DECLINED_STOLEN, "card reported stolen"),
    ];
    for (i, (token, reason)) in cases.iter().enumerate() {
        let request = charge_request(order_id, 1000, "test", Some(token), &format!("attempt-{i}"));
        let payment = shop.payment.charge(&ctx(), request).await.unwrap();
        assert_eq!(payment.status, PaymentStatus::Declined);
        assert_eq!(payment.decline_reason.as_deref(), Some(*reason));
        assert_eq!((payment.captured, payment.provider_reference.as_deref()), (eur(0), None));
    }
    let failed: Vec<ChargeOutcome> =
        shop.events(events::CHARGE_FAILED).await.iter().map(|e| e.data_as().unwrap()).collect();
    let reasons: Vec<_> = failed.iter().map(|o| o.decline_reason.as_deref().unwrap()).collect();
    assert_eq!(reasons, ["insufficient funds", "card reported stolen"]);
    assert!(shop.events(events::CHARGE_SUCCEEDED).await.is_empty());

    // The customer tries another card: the order's payments come oldest first.
    let request = charge_request(order_id, 1000, "test", Some(test_cards::APPROVED), "attempt-2");
    let approved = shop.payment.charge(&ctx(), request).await.unwrap();
    let history = shop.payment.payments_for_order(&ctx(), order_id).await.unwrap();
    let statuses: Vec<_> = history.iter().map(|p| p.status).collect();
    assert_eq!(statuses, [PaymentStatus::Declined, PaymentStatus::Declined, PaymentStatus::Captured]);
    assert_eq!(history[2].id, approved.id);
    assert!(shop.payment.payments_for_order(&ctx(), Uuid::now_v7()).await.unwrap().is_empty());
}

#[tokio::test]
async fn an_unavailable_provider_writes_nothing_and_the_charge_can_be_retried() {
    let shop = open().await;
    let order_id = Uuid::now_v7();
    let request = charge_request(order_id, 1000, "test", Some(test_cards::PROVIDER_UNAVAILABLE), "checkout-1");
    let e = shop.payment.charge(&ctx(), request).await.unwrap_err();
    assert_eq!(e.status(), 503);
    assert_eq!(shop.count("payments").await, 0);
    assert!(outbox::pending(&shop.db, 100).await.unwrap().is_empty());

    // Nothing was stored under the key, so the saga's retry charges for real.
    let request = charge_request(order_id, 1000, "test", Some(test_cards::APPROVED), "checkout-1");
    assert_eq!(shop.payment.charge(&ctx(), request).await.unwrap().status, PaymentStatus::Captured);
}

#[tokio::test]
async fn bad_charges_name_the_field_and_write_nothing() {
    let shop = open().await;
    let order = Uuid::now_v7();
    let cases = [
        (charge_request(order, 0, "test", Some("tok_visa"), "k1"), "amount"),
        (charge_request(order, -100, "test", Some("tok_visa"), "k2"), "amount"),
        (charge_request(order, 100, "test", None, "k3"), "payment.token"),
        (charge_request(order, 100, "test", Some("  "), "k4"), "payment.token"),
        (charge_request(order, 100, "paypal", Some("tok_visa"), "k5"), "payment.provider"),
        (charge_request(order, 100, "cash", Some("tok_visa"), "k6"), "payment.token"),
        (charge_request(order, 100, "test", Some("tok_visa"), ""), "idempotency_key"),
    ];
    for (request, expected) in cases {
        let e = shop.payment.charge(&ctx(), request).await.unwrap_err();
        assert_eq!((e.status(), field(&e)), (422, expected), "{e}");
    }
    assert_eq!(shop.count("payments").await, 0);
    assert!(outbox::pending(&shop.db, 100).await.unwrap().is_empty());

    let cash = shop.payment.charge(&ctx(), charge_request(order, 1500, "cash", None, "till-1")).await.unwrap();
    assert_eq!((cash.status, cash.provider.as_str()), (PaymentStatus::Captured, "cash"));
    assert!(cash.provider_reference.unwrap().starts_with("cash_"));
}

#[tokio::test]
async fn a_retried_charge_returns_the_first_payment_without_asking_the_provider_again() {
    let shop = open().await;
    let order_id = Uuid::now_v7();
    let request = || charge_request(order_id, 4200, "test", Some(test_cards::APPROVED), "checkout-7");
    let first = shop.payment.charge(&ctx(), request()).await.unwrap();
    let again = shop.payment.charge(&ctx(), request()).await.unwrap();
    assert_eq!((again.id, again.status, again.provider_reference), (first.id, first.status, first.provider_reference));
    assert_eq!(shop.authorizations.load(Ordering::SeqCst), 1, "the provider was asked once");
    assert_eq!(shop.count("payments").await, 1);
    assert_eq!(shop.events(events::CHARGE_SUCCEEDED).await.len(), 1);

    // A declined charge is a result too: its retry answers the same decline.
    let stolen = || charge_request(order_id, 1000, "test", Some(test_cards::DECLINED_STOLEN), "checkout-8");
    let declined = shop.payment.charge(&ctx(), stolen()).await.unwrap();
    let retried = shop.payment.charge(&ctx(), stolen()).await.unwrap();
    assert_eq!((retried.id, retried.status), (declined.id, PaymentStatus::Declined));
    assert_eq!(shop.events(events::CHARGE_FAILED).await.len(), 1);

    // A key reused for a different charge is a caller's bug.
    let other = charge_request(order_id, 9999, "test", Some(test_cards::APPROVED), "checkout-7");
    let e = shop.payment.charge(&ctx(), other).await.unwrap_err();
    assert_eq!((e.status(), e.code(), field(&e)), (409, "idempotency-key-reused", "idempotency_key"));
}

#[tokio::test]
async fn concurrent_charges_with_one_key_make_one_payment() {
    let shop = open().await;
    let order_id = Uuid::now_v7();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let payment = shop.payment.clone();
            let request = charge_request(order_id, 3000, "test", Some(test_cards::APPROVED), "checkout-race");
            tokio::spawn(async move { payment.charge(&ctx(), request).await })
        })
        .collect();
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap().unwrap().id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every caller gets the same payment");
    assert_eq!(shop.count("payments").await, 1);
    assert_eq!(shop.events(events::CHARGE_SUCCEEDED).await.len(), 1);
}

// ---- Refunds -------------------------------------------------------------------------------

#[tokio::test]
async fn a_payment_is_refunded_in_part_then_in_full() {
    let shop = open().await;
    let payment = shop.captured(10_000).await;

    let partly = shop.refund(payment.id, 3000, "refund-1").await.unwrap();
    assert_eq!(
        (partly.status, partly.refunded, partly.captured),
        (PaymentStatus::PartiallyRefunded, eur(3000), eur(10_000))
    );
    assert_eq!(partly.refunds.len(), 1);
    assert_eq!((partly.refunds[0].amount, partly.refunds[0].reason.as_deref()), (eur(3000), Some("damaged")));

    let fully = shop.refund(payment.id, 7000, "refund-2").await.unwrap();
    assert_eq!((fully.status, fully.refunded), (PaymentStatus::Refunded, eur(10_000)));
    let amounts: Vec<_> = fully.refunds.iter().map(|r| r.amount.amount).collect();
    assert_eq!(amounts, [3000, 7000], "oldest refund first");
    assert_eq!(shop.get(payment.id).await.refunds.len(), 2);

    let completed: Vec<RefundCompleted> =
        shop.events(events::REFUND_COMPLETED).await.iter().map(|e| e.data_as().unwrap()).collect();
    assert_eq!(completed.len(), 2);
    assert_eq!((completed[0].amount, completed[0].fully_refunded), (eur(3000), false));
    assert_eq!((completed[1].amount, completed[1].fully_refunded), (eur(7000), true));
    assert_eq!((completed[1].payment_id, completed[1].order_id), (payment.id, payment.order_id));
    assert_eq!(completed[1].refund_id, fully.refunds[1].id);

    let e = shop.refund(payment.id, 1, "refund-3").await.unwrap_err();
    assert_eq!((e.status(), e.code()), (409, "payment-not-refundable"));
}

#[tokio::test]
async fn over_refunds_and_bad_amounts_are_refused_and_change_nothing() {
    let shop = open().await;
    let payment = shop.captured(10_000).await;

    let e = shop.refund(payment.id, 10_001, "r1").await.unwrap_err();
    assert_eq!((e.status(), field(&e)), (422, "amount"));
    assert!(e.to_string().contains("at most 10000 (100.00 EUR)"), "{e}");

    shop.refund(payment.id, 4000, "r2").await.unwrap();
    let e = shop.refund(payment.id, 6001, "r3").await.unwrap_err();
    assert_eq!((e.status(), field(&e)), (422, "amount"));
    assert!(e.to_string().contains("at most 6000 (60.00 EUR)"), "{e}");

    for amount in [0, -1] {
        let e = shop.refund(payment.id, amount, "r4").await.unwrap_err();
        assert_eq!((e.status(), field(&e)), (422, "amount"));
    }
    let usd = refund_request(payment.id, Money::new(100, Currency::USD), "r5");
    let e = shop.payment.refund(&ctx(), usd).await.unwrap_err();
    assert_eq!((e.status(), field(&e)), (422, "amount"));
    assert!(e.to_string().contains("EUR"), "{e}");

    let stored = shop.get(payment.id).await;
    assert_eq!((stored.refunded, stored.refunds.len()), (eur(4000), 1));
    assert_eq!(shop.events(events::REFUND_COMPLETED).await.len(), 1);
}

#[tokio::test]
async fn only_captured_payments_can_be_refunded() {
    let shop = open().await;
    let declined = shop.charge(1000, test_cards::DECLINED_INSUFFICIENT_FUNDS, "declined").await.unwrap();
    let e = shop.refund(declined.id, 100, "r1").await.unwrap_err();
    assert_eq!((e.status(), e.code()), (409, "payment-not-refundable"));

    let e = shop.refund(Uuid::now_v7(), 100, "r2").await.unwrap_err();
    assert_eq!(e.status(), 404);
    assert_eq!(shop.payment.get_payment(&ctx(), Uuid::now_v7()).await.unwrap_err().status(), 404);
    assert_eq!(shop.count("refunds").await, 0);
}

#[tokio::test]
async fn a_retried_refund_refunds_once() {
    let shop = open().await;
    let payment = shop.captured(5000).await;
    let first = shop.refund(payment.id, 2000, "refund-once").await.unwrap();
    let again = shop.refund(payment.id, 2000, "refund-once").await.unwrap();
    assert_eq!((again.refunded, again.refunds.len()), (eur(2000), 1));
    assert_eq!(again.refunds[0].id, first.refunds[0].id);
    assert_eq!(shop.events(events::REFUND_COMPLETED).await.len(), 1);

    let e = shop.refund(payment.id, 500, "refund-once").await.unwrap_err();
    assert_eq!((e.status(), e.code()), (409, "idempotency-key-reused"));
    let other = shop.captured(5000).await;
    let e = shop.refund(other.id, 2000, "refund-once").await.unwrap_err();
    assert_eq!(e.code(), "idempotency-key-reused");
}

#[tokio::test]
async fn concurrent_refunds_never_exceed_the_captured_amount() {
    let shop = open().await;
    let payment = shop.captured(10_000).await;
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let module = shop.payment.clone();
            let request = refund_request(payment.id, eur(3000), &format!("refund-{i}"));
            tokio::spawn(async move { module.refund(&ctx(), request).await })
        })
        .collect();
    let mut refused = 0;
    let mut succeeded = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => succeeded += 1,
            Err(e) => {
                assert_eq!((e.status(), field(&e)), (422, "amount"), "{e}");
                refused += 1;
            }
        }
    }
    assert_eq!((succeeded, refused), (3, 7));
    let stored = shop.get(payment.id).await;
    assert_eq!(
        (stored.status, stored.refunded, stored.refunds.len()),
        (PaymentStatus::PartiallyRefunded, eur(9000), 3)
    );
    assert_eq!(shop.events(events::REFUND_COMPLETED).await.len(), 3);
}

#[tokio::test]
async fn concurrent_retries_of_one_refund_refund_once() {
    let shop = open().await;
    let payment = shop.captured(10_000).await;
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let module = shop.payment.clone();
            let request = refund_request(payment.id, eur(1000), "refund-race");
            tokio::spawn(async move { module.refund(&ctx(), request).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().refunded, eur(1000));
    }
    assert_eq!(shop.count("refunds").await, 1);
    assert_eq!(shop.events(events::REFUND_COMPLETED).await.len(), 1);
}

#[tokio::test]
async fn a_refund_the_provider_fails_records_nothing() {
    let shop = open().await;
    let request = charge_request(Uuid::now_v7(), 5000, "refunds-down", None, "checkout-rd");
    let payment = shop.payment.charge(&ctx(), request).await.unwrap();
    let e = shop.refund(payment.id, 1000, "refund-rd").await.unwrap_err();
    assert_eq!(e.status(), 503);
    let stored = shop.get(payment.id).await;
    assert_eq!((stored.status, stored.refunded, stored.refunds.len()), (PaymentStatus::Captured, eur(0), 0));
    assert!(shop.events(events::REFUND_COMPLETED).await.is_empty());
}

// ---- Webhooks ------------------------------------------------------------------------------

#[tokio::test]
async fn a_signed_refund_webhook_records_a_refund_made_at_the_provider_once() {
    let shop = open().await;
    let payment = shop.captured(5000).await;
    let reference = payment.provider_reference.clone().unwrap();

    let body = refund_body("evt_1", &reference, 2000);
    shop.webhook(&signed(&body), &body).await.unwrap();
    let stored = shop.get(payment.id).await;
    assert_eq!((stored.status, stored.refunded), (PaymentStatus::PartiallyRefunded, eur(2000)));
    assert_eq!(stored.refunds[0].reason.as_deref(), Some("refunded at the payment provider"));
    let completed: RefundCompleted = shop.events(events::REFUND_COMPLETED).await[0].data_as().unwrap();
    assert_eq!((completed.payment_id, completed.amount, completed.fully_refunded), (payment.id, eur(2000), false));

    // The provider delivers the same event again: acknowledged, not counted twice.
    shop.webhook(&signed(&body), &body).await.unwrap();
    assert_eq!(shop.get(payment.id).await.refunds.len(), 1);
    assert_eq!(shop.events(events::REFUND_COMPLETED).await.len(), 1);

    let rest = refund_body("evt_2", &reference, 3000);
    shop.webhook(&signed(&rest), &rest).await.unwrap();
    let stored = shop.get(payment.id).await;
    assert_eq!((stored.status, stored.refunded), (PaymentStatus::Refunded, eur(5000)));
    assert_eq!(shop.count("webhook_events").await, 2);
}

#[tokio::test]
async fn webhooks_with_a_bad_missing_or_stale_signature_change_nothing() {
    let shop = open().await;
    let payment = shop.captured(5000).await;
    let body = refund_body("evt_1", payment.provider_reference.as_deref().unwrap(), 1000);
    let now = time::now().timestamp();
    let stale = sign_webhook(SECRET, now - WEBHOOK_TOLERANCE_SECONDS - 1, &body);
    let tampered = refund_body("evt_1", payment.provider_reference.as_deref().unwrap(), 5000);
    let cases = [
        (sign_webhook("not-the-secret", now, &body), body.clone()),
        (String::new(), body.clone()),
        ("t=1,v1=deadbeef".to_string(), body.clone()),
        (stale, body.clone()),
        (signed(&body), tampered),
    ];
    for (signature, body) in cases {
        let e = shop.webhook(&signature, &body).await.unwrap_err();
        assert_eq!(e.status(), 401, "{signature}");
    }
    assert_eq!(shop.get(payment.id).await.refunded, eur(0));
    assert_eq!(shop.count("webhook_events").await, 0);
    assert!(shop.events(events::REFUND_COMPLETED).await.is_empty());

    // Without a configured secret nothing is accepted, even signed with the empty key.
    let unconfigured = PaymentModule::new(shop.db.clone(), PaymentConfig { webhook_secret: String::new() });
    let e = unconfigured.provider_webhook(&ctx(), "test", &sign_webhook("", now, &body), &body).await.unwrap_err();
    assert_eq!(e.status(), 401);
}

#[tokio::test]
async fn webhook_bodies_types_and_providers_are_handled() {
    let shop = open().await;
    let payment = shop.captured(5000).await;
    let reference = payment.provider_reference.clone().unwrap();

    let malformed = b"{not json".to_vec();
    assert_eq!(shop.webhook(&signed(&malformed), &malformed).await.unwrap_err().status(), 400);

    let disputed =
        serde_json::json!({"id": "evt_d", "type": "charge.disputed", "reference": reference, "amount": 5000})
            .to_string()
            .into_bytes();
    shop.webhook(&signed(&disputed), &disputed).await.unwrap();

    let unknown_charge = refund_body("evt_u", "test_ch_unknown", 100);
    shop.webhook(&signed(&unknown_charge), &unknown_charge).await.unwrap();

    let too_much = refund_body("evt_big", &reference, 5001);
    let e = shop.webhook(&signed(&too_much), &too_much).await.unwrap_err();
    assert_eq!((e.status(), field(&e)), (422, "amount"));

    let body = refund_body("evt_p", &reference, 100);
    let e = shop.payment.provider_webhook(&ctx(), "paypal", &signed(&body), &body).await.unwrap_err();
    assert_eq!(e.status(), 404);

    assert_eq!(shop.get(payment.id).await.refunded, eur(0));
    assert!(shop.events(events::REFUND_COMPLETED).await.is_empty());
    // Only the ignored type counts as handled; the others are looked at again if redelivered.
    assert_eq!(shop.count("webhook_events").await, 1);
}

#[tokio::test]
async fn a_webhook_for_a_refund_comptoir_made_is_not_counted_twice() {
    let shop = open().await;
    let payment = shop.captured(5000).await;
    shop.refund(payment.id, 1000, "refund-1").await.unwrap();
    let refund_reference: String =
        query_scalar("SELECT provider_reference FROM refunds").fetch_one(shop.db.reader()).await.unwrap();
    assert!(refund_reference.starts_with("test_re_"), "{refund_reference}");

    let body = serde_json::json!({
        "id": "evt_own", "type": "charge.refunded", "amount": 1000,
        "reference": payment.provider_reference, "refund": refund_reference,
    })
    .to_string()
    .into_bytes();
    shop.webhook(&signed(&body), &body).await.unwrap();
    let stored = shop.get(payment.id).await;
    assert_eq!((stored.refunded, stored.refunds.len()), (eur(1000), 1));
    assert_eq!(shop.events(events::REFUND_COMPLETED).await.len(), 1);
}

// ---- Listing and privacy -------------------------------------------------------------------

#[tokio::test]
async fn payments_are_listed_newest_first() {
    let shop = open().await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(shop.charge(1000 + i, test_cards::APPROVED, &format!("k{i}")).await.unwrap().id);
    }
    shop.refund(ids[2], 500, "r").await.unwrap();

    let first = shop.payment.list_payments(&ctx(), PageRequest::new(1, 2).unwrap()).await.unwrap();
    assert_eq!(first.total, 3);
    assert_eq!(first.items.iter().map(|p| p.id).collect::<Vec<_>>(), [ids[2], ids[1]]);
    assert_eq!(first.items[0].refunds.len(), 1, "refunds come with the listed payments");
    let second = shop.payment.list_payments(&ctx(), PageRequest::new(2, 2).unwrap()).await.unwrap();
    assert_eq!(second.items.iter().map(|p| p.id).collect::<Vec<_>>(), [ids[0]]);

    let bad = PageRequest { page: 1, per_page: 0 };
    assert_eq!(shop.payment.list_payments(&ctx(), bad).await.unwrap_err().status(), 422);
}

#[tokio::test]
async fn card_tokens_are_never_stored_or_published() {
    let shop = open().await;
    let token = "tok_visa_4242_private_marker";
    let payment = shop.charge(5000, token, "checkout-private").await.unwrap();
    shop.charge(5000, test_cards::DECLINED_INSUFFICIENT_FUNDS, "checkout-declined").await.unwrap();
    shop.refund(payment.id, 1000, "refund-private").await.unwrap();

    for event in outbox::pending(&shop.db, 100).await.unwrap() {
        let json = serde_json::to_string(&event).unwrap();
        assert!(!json.contains("tok_"), "{json}");
    }
    // Every text value stored in every table of the module's database, whatever the backend.
    let mut stored = Vec::new();
    for table in ["payments", "refunds", "webhook_events", "outbox", "inbox", "dead_letters"] {
        let sql = format!("SELECT * FROM {table}");
        for row in query(sqlx::AssertSqlSafe(sql)).fetch_all(shop.db.reader()).await.unwrap() {
            // Columns that are not text (amounts) cannot hold a token.
            stored.extend((0..row.len()).filter_map(|i| row.try_get::<Option<String>, _>(i).ok().flatten()));
        }
    }
    let contains = |needle: &str| stored.iter().any(|value| value.contains(needle));
    assert!(contains(payment.provider_reference.as_deref().unwrap()), "the search sees stored rows");
    assert!(!contains(token), "the card token was stored");
    assert!(!contains(test_cards::DECLINED_INSUFFICIENT_FUNDS), "the declined card token was stored");
}
