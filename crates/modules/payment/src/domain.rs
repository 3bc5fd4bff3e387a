//! Payment rules without I/O: reading charge and refund requests, what may be refunded, replays
//! of an idempotency key, and the providers' signed webhooks.

use comptoir_contracts::payment::{ChargeRequest, Payment, PaymentStatus, RefundRequest};
use comptoir_kernel::validate::Problems;
use comptoir_kernel::{Error, Money, Result, validate};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use uuid::Uuid;

/// A sanity bound on one charge or refund, in minor units: far above any real order, far below
/// where sums of amounts could overflow.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000;
const MAX_KEY_LEN: usize = 200;
const MAX_TOKEN_LEN: usize = 255;
const MAX_REASON_LEN: usize = 500;
/// How old (or how far ahead of our clock) a webhook signature may be. Older signed requests are
/// refused, so that a captured request cannot be replayed later.
pub const WEBHOOK_TOLERANCE_SECONDS: i64 = 300;

fn positive_amount(field: &str, amount: Money) -> Result<Money> {
    if amount.amount <= 0 {
        return Err(Error::validation(field, "must be greater than zero"));
    }
    if amount.amount > MAX_AMOUNT {
        return Err(Error::validation(field, format!("must be at most {MAX_AMOUNT} minor units")));
    }
    Ok(amount)
}

fn idempotency_key(value: &str) -> Result<String> {
    validate::required_text("idempotency_key", value, MAX_KEY_LEN)
}

/// A checked charge request. The card token goes to the provider and nowhere else (no log, no row,
/// no event), so `Debug` leaves it out.
pub struct ChargeDraft {
    pub order_id: Uuid,
    pub customer_id: Option<Uuid>,
    pub amount: Money,
    pub provider: String,
    pub token: Option<String>,
    pub idempotency_key: String,
}

impl std::fmt::Debug for ChargeDraft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChargeDraft")
            .field("order_id", &self.order_id)
            .field("customer_id", &self.customer_id)
            .field("amount", &self.amount)
            .field("provider", &self.provider)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("idempotency_key", &self.idempotency_key)
            .finish()
    }
}

/// Checks a charge request; `providers` are the names of the configured providers.
pub fn parse_charge(request: ChargeRequest, providers: &[&str]) -> Result<ChargeDraft> {
    let mut p = Problems::default();
    let amount = p.check(positive_amount("amount", request.amount));
    let name = request.method.provider.trim();
    let provider = if providers.contains(&name) {
        Some(name.to_string())
    } else {
        p.add("payment.provider", format!("unknown payment provider {name:?}; use one of: {}", providers.join(", ")));
        None
    };
    let token = match request.method.token.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(t) if t.chars().count() > MAX_TOKEN_LEN => {
            p.add("payment.token", format!("must be at most {MAX_TOKEN_LEN} characters"));
            None
        }
        Some(t) => Some(t.to_string()),
    };
    let key = p.check(idempotency_key(&request.idempotency_key));
    p.finish((|| {
        Some(ChargeDraft {
            order_id: request.order_id,
            customer_id: request.customer_id,
            amount: amount?,
            provider: provider?,
            token,
            idempotency_key: key?,
        })
    })())
}

/// A charge retried with a key already used: the stored payment answers, provided the retry asks
/// for the same charge. A key reused for another order or amount is a caller's bug, not a retry.
pub fn replayed_charge(stored: Payment, draft: &ChargeDraft) -> Result<Payment> {
    if stored.order_id != draft.order_id || stored.amount != draft.amount {
        return Err(Error::conflict_on(
            "idempotency-key-reused",
            "idempotency_key",
            format!("was already used for payment {} of {} for order {}", stored.id, stored.amount, stored.order_id),
        ));
    }
    Ok(stored)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundDraft {
    pub payment_id: Uuid,
    pub amount: Money,
    pub reason: Option<String>,
    pub idempotency_key: String,
}

pub fn parse_refund(request: RefundRequest) -> Result<RefundDraft> {
    let mut p = Problems::default();
    let amount = p.check(positive_amount("amount", request.amount));
    let reason = match request.reason.as_deref().map(str::trim) {
        None | Some("") => Some(None),
        Some(r) => p.check(validate::required_text("reason", r, MAX_REASON_LEN)).map(Some),
    };
    let key = p.check(idempotency_key(&request.idempotency_key));
    p.finish((|| {
        Some(RefundDraft { payment_id: request.payment_id, amount: amount?, reason: reason?, idempotency_key: key? })
    })())
}

/// A refund already made under an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorRefund {
    pub payment_id: Uuid,
    pub amount: Money,
}

/// A refund retried with a key already used answers with the payment as it is, provided the retry
/// asks for the same refund.
pub fn check_replayed_refund(prior: &PriorRefund, draft: &RefundDraft) -> Result<()> {
    if prior.payment_id != draft.payment_id || prior.amount != draft.amount {
        return Err(Error::conflict_on(
            "idempotency-key-reused",
            "idempotency_key",
            format!("was already used to refund {} of payment {}", prior.amount, prior.payment_id),
        ));
    }
    Ok(())
}

pub fn status_to_db(status: PaymentStatus) -> &'static str {
    match status {
        PaymentStatus::Authorized => "authorized",
        PaymentStatus::Captured => "captured",
        PaymentStatus::Declined => "declined",
        PaymentStatus::Voided => "voided",
        PaymentStatus::PartiallyRefunded => "partially_refunded",
        PaymentStatus::Refunded => "refunded",
    }
}

pub fn status_from_db(value: &str) -> Result<PaymentStatus> {
    match value {
        "authorized" => Ok(PaymentStatus::Authorized),
        "captured" => Ok(PaymentStatus::Captured),
        "declined" => Ok(PaymentStatus::Declined),
        "voided" => Ok(PaymentStatus::Voided),
        "partially_refunded" => Ok(PaymentStatus::PartiallyRefunded),
        "refunded" => Ok(PaymentStatus::Refunded),
        other => Err(Error::internal(format!("unknown payment status {other:?} in the database"))),
    }
}

/// What can still be refunded from a payment.
pub fn refundable(payment: &Payment) -> Money {
    Money::new(payment.captured.amount - payment.refunded.amount, payment.captured.currency)
}

/// Whether `amount` may be refunded from `payment` as it stands: only captured money, in the
/// payment's currency, and never more than what remains.
pub fn check_refund(payment: &Payment, amount: Money) -> Result<()> {
    if !matches!(payment.status, PaymentStatus::Captured | PaymentStatus::PartiallyRefunded) {
        return Err(Error::conflict(
            "payment-not-refundable",
            format!("payment {} is {} and cannot be refunded", payment.id, status_to_db(payment.status)),
        ));
    }
    if amount.currency != payment.amount.currency {
        return Err(Error::validation(
            "amount",
            format!("must be in {}, the currency of the payment, not {}", payment.amount.currency, amount.currency),
        ));
    }
    let remaining = refundable(payment);
    if amount.amount > remaining.amount {
        return Err(Error::validation(
            "amount",
            format!("must be at most {} ({remaining}), what remains refundable", remaining.amount),
        ));
    }
    Ok(())
}

// ---- Webhooks ------------------------------------------------------------------------------

type HmacSha256 = Hmac<Sha256>;

fn webhook_mac(secret: &str, timestamp: &str, body: &[u8]) -> HmacSha256 {
    // HMAC takes a key of any length, so this never fails.
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The signature header a provider sends with `body` at `timestamp` (unix seconds):
/// `t=<timestamp>,v1=<hex HMAC-SHA256 of "<timestamp>.<body>" keyed with the secret>`.
pub fn sign_webhook(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let t = timestamp.to_string();
    let signature = hex::encode(webhook_mac(secret, &t, body).finalize().into_bytes());
    format!("t={t},v1={signature}")
}

/// Checks a webhook's signature header against its body, at `now` (unix seconds). Several `v1`
/// values are accepted, so that a provider can sign with an old and a new secret while rotating.
pub fn verify_webhook(secret: &str, header: &str, body: &[u8], now: i64) -> Result<()> {
    if secret.is_empty() {
        return Err(Error::unauthorized("webhook signatures cannot be checked: no signing secret is configured"));
    }
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = Some(value),
            Some(("v1", value)) => signatures.push(value),
            _ => {}
        }
    }
    let malformed = || Error::unauthorized("missing or malformed webhook signature header");
    let t = timestamp.ok_or_else(malformed)?;
    let seconds: i64 = t.parse().map_err(|_| malformed())?;
    if signatures.is_empty() {
        return Err(malformed());
    }
    if now.abs_diff(seconds) > WEBHOOK_TOLERANCE_SECONDS as u64 {
        return Err(Error::unauthorized("webhook signature timestamp is more than 5 minutes away from now"));
    }
    let mac = webhook_mac(secret, t, body);
    // `verify_slice` compares in constant time: the answer's timing says nothing about the secret.
    let matches = signatures
        .iter()
        .filter_map(|s| hex::decode(s).ok())
        .any(|candidate| mac.clone().verify_slice(&candidate).is_ok());
    if matches { Ok(()) } else { Err(Error::unauthorized("webhook signature does not match")) }
}

pub const CHARGE_REFUNDED: &str = "charge.refunded";

/// A provider's webhook event, read from its JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvent {
    /// The provider's event id; an event is handled once.
    pub id: String,
    pub event_type: String,
    pub kind: WebhookKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookKind {
    /// Money went back to the customer at the provider (possibly without Comptoir asking).
    ChargeRefunded {
        /// The provider's reference of the charge.
        reference: String,
        /// Minor units, in the payment's currency.
        amount: i64,
        /// The provider's reference of the refund, when it sends one: a refund Comptoir made itself
        /// is recognised by it and not counted twice.
        refund: Option<String>,
    },
    /// A type Comptoir does not act on: acknowledged so that the provider stops sending it.
    Ignored,
}

#[derive(Deserialize)]
struct RawWebhookEvent {
    id: String,
    #[serde(rename = "type")]
    event_type: String,
    reference: Option<String>,
    amount: Option<i64>,
    refund: Option<String>,
}

pub fn parse_webhook(body: &[u8]) -> Result<WebhookEvent> {
    let raw: RawWebhookEvent = serde_json::from_slice(body)
        .map_err(|e| Error::bad_request(format!("webhook body is not a valid event: {e}")))?;
    let mut p = Problems::default();
    let id = p.check(validate::required_text("id", &raw.id, MAX_KEY_LEN));
    let event_type = p.check(validate::required_text("type", &raw.event_type, MAX_KEY_LEN));
    let kind = if raw.event_type == CHARGE_REFUNDED {
        let reference =
            p.check(validate::required_text("reference", raw.reference.as_deref().unwrap_or(""), MAX_KEY_LEN));
        let amount = match raw.amount {
            Some(a) if a > 0 && a <= MAX_AMOUNT => Some(a),
            Some(_) => p.check(Err(Error::validation("amount", format!("must be between 1 and {MAX_AMOUNT}")))),
            None => p.check(Err(Error::validation("amount", "is required"))),
        };
        let refund = raw.refund.map(|r| r.trim().to_string()).filter(|r| !r.is_empty());
        (|| Some(WebhookKind::ChargeRefunded { reference: reference?, amount: amount?, refund }))()
    } else {
        Some(WebhookKind::Ignored)
    };
    p.finish((|| Some(WebhookEvent { id: id?, event_type: event_type?, kind: kind? }))())
}

#[cfg(test)]
mod tests {
    use comptoir_contracts::payment::PaymentMethodInput;
    use comptoir_kernel::{Currency, time};

    use super::*;

    const PROVIDERS: &[&str] = &["test", "cash"];

    fn eur(amount: i64) -> Money {
        Money::new(amount, Currency::EUR)
    }

    fn fields(e: &Error) -> Vec<&str> {
        e.field_errors().iter().map(|f| f.field.as_str()).collect()
    }

    fn charge(amount: i64, provider: &str, token: Option<&str>, key: &str) -> ChargeRequest {
        ChargeRequest {
            order_id: Uuid::nil(),
            customer_id: None,
            amount: eur(amount),
            method: PaymentMethodInput { provider: provider.into(), token: token.map(Into::into) },
            idempotency_key: key.into(),
        }
    }

    fn payment(status: PaymentStatus, captured: i64, refunded: i64) -> Payment {
        Payment {
            id: Uuid::nil(),
            order_id: Uuid::nil(),
            provider: "test".into(),
            provider_reference: Some("test_ch_1".into()),
            status,
            amount: eur(1000),
            captured: eur(captured),
            refunded: eur(refunded),
            decline_reason: None,
            refunds: vec![],
            created_at: time::now(),
            updated_at: time::now(),
        }
    }

    #[test]
    fn a_charge_needs_a_positive_amount_a_known_provider_and_a_key() {
        let draft = parse_charge(charge(1000, " test ", Some(" tok_visa "), "k"), PROVIDERS).unwrap();
        assert_eq!((draft.provider.as_str(), draft.token.as_deref()), ("test", Some("tok_visa")));
        assert_eq!(parse_charge(charge(1, "cash", Some(" "), "k"), PROVIDERS).unwrap().token, None);
        assert!(!format!("{draft:?}").contains("tok_visa"), "the token stays out of logs");

        for amount in [0, -5, MAX_AMOUNT + 1] {
            let e = parse_charge(charge(amount, "test", Some("tok_visa"), "k"), PROVIDERS).unwrap_err();
            assert_eq!(fields(&e), ["amount"], "{amount}");
        }
        let e = parse_charge(charge(0, "paypal", Some(&"x".repeat(256)), " "), PROVIDERS).unwrap_err();
        assert_eq!(fields(&e), ["amount", "payment.provider", "payment.token", "idempotency_key"]);
        assert!(e.field_errors()[1].message.contains("test, cash"), "{e}");
    }

    #[test]
    fn a_replayed_charge_must_ask_for_the_same_charge() {
        let draft = parse_charge(charge(1000, "test", Some("tok_visa"), "k"), PROVIDERS).unwrap();
        let stored = payment(PaymentStatus::Captured, 1000, 0);
        assert_eq!(replayed_charge(stored.clone(), &draft).unwrap().id, stored.id);
        let other_amount = Payment { amount: eur(999), ..stored.clone() };
        let e = replayed_charge(other_amount, &draft).unwrap_err();
        assert_eq!((e.status(), e.code()), (409, "idempotency-key-reused"));
        let other_order = Payment { order_id: Uuid::now_v7(), ..stored };
        assert!(replayed_charge(other_order, &draft).is_err());
    }

    #[test]
    fn refund_requests_are_checked() {
        let request = |amount: i64, reason: Option<&str>, key: &str| RefundRequest {
            payment_id: Uuid::nil(),
            amount: eur(amount),
            reason: reason.map(Into::into),
            idempotency_key: key.into(),
        };
        let draft = parse_refund(request(100, Some("  damaged "), "r1")).unwrap();
        assert_eq!(draft.reason.as_deref(), Some("damaged"));
        assert_eq!(parse_refund(request(100, Some(""), "r1")).unwrap().reason, None);
        let e = parse_refund(request(0, Some(&"x".repeat(501)), "")).unwrap_err();
        assert_eq!(fields(&e), ["amount", "reason", "idempotency_key"]);

        let prior = PriorRefund { payment_id: Uuid::nil(), amount: eur(100) };
        assert!(check_replayed_refund(&prior, &draft).is_ok());
        let e = check_replayed_refund(&PriorRefund { amount: eur(50), ..prior }, &draft).unwrap_err();
        assert_eq!(e.code(), "idempotency-key-reused");
    }

    #[test]
    fn only_captured_money_in_the_payment_currency_is_refundable() {
        let captured = payment(PaymentStatus::Captured, 1000, 0);
        assert!(check_refund(&captured, eur(1000)).is_ok());
        let partly = payment(PaymentStatus::PartiallyRefunded, 1000, 300);
        assert_eq!(refundable(&partly), eur(700));
        assert!(check_refund(&partly, eur(700)).is_ok());

        let e = check_refund(&partly, eur(701)).unwrap_err();
        assert_eq!((e.status(), fields(&e)), (422, vec!["amount"]));
        assert!(e.to_string().contains("700 (7.00 EUR)"), "{e}");
        let e = check_refund(&partly, Money::new(100, Currency::USD)).unwrap_err();
        assert_eq!((e.status(), fields(&e)), (422, vec!["amount"]));

        for status in [PaymentStatus::Declined, PaymentStatus::Refunded, PaymentStatus::Voided] {
            let e = check_refund(&payment(status, 1000, 1000), eur(1)).unwrap_err();
            assert_eq!((e.status(), e.code()), (409, "payment-not-refundable"), "{status:?}");
        }
    }

    #[test]
    fn statuses_round_trip_through_the_database_form() {
        for status in [
            PaymentStatus::Authorized,
            PaymentStatus::Captured,
            PaymentStatus::Declined,
            PaymentStatus::Voided,
            PaymentStatus::PartiallyRefunded,
            PaymentStatus::Refunded,
        ] {
            assert_eq!(status_from_db(status_to_db(status)).unwrap(), status);
            // The database form is the JSON form, so the two never drift apart.
            assert_eq!(serde_json::to_value(status).unwrap(), status_to_db(status));
        }
        assert!(status_from_db("lost").is_err());
    }

    #[test]
    fn signed_webhooks_verify() {
        let body = br#"{"id":"evt_1"}"#;
        let header = sign_webhook("whsec", 1_700_000_000, body);
        assert!(header.starts_with("t=1700000000,v1="), "{header}");
        assert!(verify_webhook("whsec", &header, body, 1_700_000_000).is_ok());
        assert!(verify_webhook("whsec", &header, body, 1_700_000_000 + WEBHOOK_TOLERANCE_SECONDS).is_ok());
        // Rotating secrets: one matching signature among several is enough.
        let rotated = format!("{header}, v1=00ff");
        assert!(verify_webhook("whsec", &rotated, body, 1_700_000_000).is_ok());
    }

    #[test]
    fn bad_stale_or_malformed_signatures_are_refused() {
        let body = br#"{"id":"evt_1"}"#;
        let now = 1_700_000_000;
        let header = sign_webhook("whsec", now, body);
        let refused = |secret: &str, header: &str, body: &[u8], now: i64| {
            let e = verify_webhook(secret, header, body, now).unwrap_err();
            assert_eq!(e.status(), 401, "{header}");
        };
        refused("other", &header, body, now);
        refused("whsec", &header, br#"{"id":"evt_2"}"#, now);
        refused("whsec", &header, body, now + WEBHOOK_TOLERANCE_SECONDS + 1);
        refused("whsec", &header, body, now - WEBHOOK_TOLERANCE_SECONDS - 1);
        refused("", &sign_webhook("", now, body), body, now);
        for malformed in
            ["", "garbage", "t=abc,v1=00", "v1=00", format!("t={now}").as_str(), format!("t={now},v1=zz").as_str()]
        {
            refused("whsec", malformed, body, now);
        }
        // The timestamp is signed: moving it to look fresh breaks the signature.
        let v1 = header.split_once(",v1=").unwrap().1;
        refused("whsec", &format!("t={},v1={v1}", now + 1), body, now);
    }

    #[test]
    fn webhook_bodies_are_read() {
        let event = parse_webhook(br#"{"id":"evt_1","type":"charge.refunded","reference":"test_ch_1","amount":250}"#);
        assert_eq!(
            event.unwrap().kind,
            WebhookKind::ChargeRefunded { reference: "test_ch_1".into(), amount: 250, refund: None }
        );
        let other = parse_webhook(br#"{"id":"evt_2","type":"charge.disputed","reference":"test_ch_1"}"#).unwrap();
        assert_eq!(other.kind, WebhookKind::Ignored);

        assert_eq!(parse_webhook(b"{not json").unwrap_err().status(), 400);
        assert_eq!(parse_webhook(br#"{"type":"charge.refunded"}"#).unwrap_err().status(), 400);
        let e = parse_webhook(br#"{"id":"evt_3","type":"charge.refunded","amount":0}"#).unwrap_err();
        assert_eq!((e.status(), fields(&e)), (422, vec!["reference", "amount"]));
    }
}
