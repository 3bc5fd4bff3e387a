//! The payment contract's types and their wire form, both ways. Requests travel as the caller built
//! them (a provider name with its spaces, a blank token, an empty key, a zero amount): the module
//! checks them on the other side and refuses them with the same fields as in process. Decoding what
//! a peer sent fails as a bad request naming the field, never a panic.

use comptoir_contracts::payment::{ChargeRequest, Payment, PaymentMethodInput, PaymentStatus, Refund, RefundRequest};
use comptoir_grpc::convert::{money, optional_uuid, required, timestamp, to_money, to_timestamp, uuid};
use comptoir_kernel::{Error, Result};

use crate::pb;

// ---- Requests --------------------------------------------------------------------------------

pub fn to_charge_request(request: ChargeRequest) -> pb::ChargeRequest {
    pb::ChargeRequest {
        order_id: request.order_id.to_string(),
        customer_id: request.customer_id.map(|id| id.to_string()),
        amount: Some(to_money(&request.amount)),
        method: Some(pb::PaymentMethodInput { provider: request.method.provider, token: request.method.token }),
        idempotency_key: request.idempotency_key,
    }
}

pub fn charge_request(value: pb::ChargeRequest) -> Result<ChargeRequest> {
    let order_id = uuid(&value.order_id, "order_id")?;
    let customer_id = optional_uuid(value.customer_id.as_deref(), "customer_id")?;
    let amount = money(value.amount, "amount")?;
    let method = required(value.method, "method")?;
    Ok(ChargeRequest {
        order_id,
        customer_id,
        amount,
        method: PaymentMethodInput { provider: method.provider, token: method.token },
        idempotency_key: value.idempotency_key,
    })
}

pub fn to_refund_request(request: RefundRequest) -> pb::RefundRequest {
    pb::RefundRequest {
        payment_id: request.payment_id.to_string(),
        amount: Some(to_money(&request.amount)),
        reason: request.reason,
        idempotency_key: request.idempotency_key,
    }
}

pub fn refund_request(value: pb::RefundRequest) -> Result<RefundRequest> {
    Ok(RefundRequest {
        payment_id: uuid(&value.payment_id, "payment_id")?,
        amount: money(value.amount, "amount")?,
        reason: value.reason,
        idempotency_key: value.idempotency_key,
    })
}

// ---- Payments --------------------------------------------------------------------------------

pub fn to_payment_status(status: PaymentStatus) -> pb::PaymentStatus {
    match status {
        PaymentStatus::Authorized => pb::PaymentStatus::Authorized,
        PaymentStatus::Captured => pb::PaymentStatus::Captured,
        PaymentStatus::Declined => pb::PaymentStatus::Declined,
        PaymentStatus::Voided => pb::PaymentStatus::Voided,
        PaymentStatus::PartiallyRefunded => pb::PaymentStatus::PartiallyRefunded,
        PaymentStatus::Refunded => pb::PaymentStatus::Refunded,
    }
}

/// An unspecified or unknown status is refused rather than guessed.
pub fn payment_status(value: i32, field: &str) -> Result<PaymentStatus> {
    match pb::PaymentStatus::try_from(value) {
        Ok(pb::PaymentStatus::Authorized) => Ok(PaymentStatus::Authorized),
        Ok(pb::PaymentStatus::Captured) => Ok(PaymentStatus::Captured),
        Ok(pb::PaymentStatus::Declined) => Ok(PaymentStatus::Declined),
        Ok(pb::PaymentStatus::Voided) => Ok(PaymentStatus::Voided),
        Ok(pb::PaymentStatus::PartiallyRefunded) => Ok(PaymentStatus::PartiallyRefunded),
        Ok(pb::PaymentStatus::Refunded) => Ok(PaymentStatus::Refunded),
        Ok(pb::PaymentStatus::Unspecified) | Err(_) => {
            Err(Error::bad_request(format!("{field}: {value} is not a payment status")))
        }
    }
}

pub fn to_refund(refund: &Refund) -> pb::Refund {
    pb::Refund {
        id: refund.id.to_string(),
        amount: Some(to_money(&refund.amount)),
        reason: refund.reason.clone(),
        created_at: Some(to_timestamp(&refund.created_at)),
    }
}

/// `path` is where the refund sits (`refunds[1]`), so that a bad value names its refund.
pub fn refund(value: pb::Refund, path: &str) -> Result<Refund> {
    Ok(Refund {
        id: uuid(&value.id, &field(path, "id"))?,
        amount: money(value.amount, &field(path, "amount"))?,
        reason: value.reason,
        created_at: timestamp(value.created_at, &field(path, "created_at"))?,
    })
}

pub fn to_payment(payment: &Payment) -> pb::Payment {
    pb::Payment {
        id: payment.id.to_string(),
        order_id: payment.order_id.to_string(),
        provider: payment.provider.clone(),
        provider_reference: payment.provider_reference.clone(),
        status: to_payment_status(payment.status).into(),
        amount: Some(to_money(&payment.amount)),
        captured: Some(to_money(&payment.captured)),
        refunded: Some(to_money(&payment.refunded)),
        decline_reason: payment.decline_reason.clone(),
        refunds: payment.refunds.iter().map(to_refund).collect(),
        created_at: Some(to_timestamp(&payment.created_at)),
        updated_at: Some(to_timestamp(&payment.updated_at)),
    }
}

pub fn payment(value: pb::Payment) -> Result<Payment> {
    payment_at(value, "")
}

/// The payments of a list reply, each named by its position (`payments[2].status`) when malformed.
pub fn payments(values: Vec<pb::Payment>) -> Result<Vec<Payment>> {
    values.into_iter().enumerate().map(|(i, p)| payment_at(p, &format!("payments[{i}]"))).collect()
}

/// `path` is where the payment sits in its message: empty for a reply that is the payment itself.
fn payment_at(value: pb::Payment, path: &str) -> Result<Payment> {
    let refunds = value
        .refunds
        .into_iter()
        .enumerate()
        .map(|(i, r)| refund(r, &field(path, &format!("refunds[{i}]"))))
        .collect::<Result<Vec<_>>>()?;
    Ok(Payment {
        id: uuid(&value.id, &field(path, "id"))?,
        order_id: uuid(&value.order_id, &field(path, "order_id"))?,
        provider: value.provider,
        provider_reference: value.provider_reference,
        status: payment_status(value.status, &field(path, "status"))?,
        amount: money(value.amount, &field(path, "amount"))?,
        captured: money(value.captured, &field(path, "captured"))?,
        refunded: money(value.refunded, &field(path, "refunded"))?,
        decline_reason: value.decline_reason,
        refunds,
        created_at: timestamp(value.created_at, &field(path, "created_at"))?,
        updated_at: timestamp(value.updated_at, &field(path, "updated_at"))?,
    })
}

/// `name` inside `path` (`payments[0].id`), or `name` alone at the top.
fn field(path: &str, name: &str) -> String {
    if path.is_empty() { name.to_string() } else { format!("{path}.{name}") }
}

#[cfg(test)]
mod tests {
    use comptoir_kernel::{Currency, Money, time};
    use uuid::Uuid;

    use super::*;

    fn eur(amount: i64) -> Money {
        Money::new(amount, Currency::EUR)
    }

    #[test]
    fn a_charge_request_arrives_as_it_was_built() {
        for token in [None, Some(""), Some("  tok_visa ")] {
            let request = ChargeRequest {
                order_id: Uuid::now_v7(),
                customer_id: None,
                amount: eur(0),
                method: PaymentMethodInput { provider: " test ".into(), token: token.map(Into::into) },
                idempotency_key: String::new(),
            };
            let back = charge_request(to_charge_request(request.clone())).unwrap();
            assert_eq!((back.order_id, back.customer_id, back.amount), (request.order_id, None, eur(0)));
            assert_eq!((back.method.provider.as_str(), back.method.token.as_deref()), (" test ", token));
            assert_eq!(back.idempotency_key, "");
        }
    }

    #[test]
    fn a_payment_survives_the_trip() {
        let now = time::now();
        let original = Payment {
            id: Uuid::now_v7(),
            order_id: Uuid::now_v7(),
            provider: "test".into(),
            provider_reference: Some("test_ch_1".into()),
            status: PaymentStatus::PartiallyRefunded,
            amount: eur(1000),
            captured: eur(1000),
            refunded: eur(300),
            decline_reason: None,
            refunds: vec![Refund {
                id: Uuid::now_v7(),
                amount: eur(300),
                reason: Some(String::new()),
                created_at: now,
            }],
            created_at: now,
            updated_at: now,
        };
        let back = payment(to_payment(&original)).unwrap();
        assert_eq!(serde_json::to_value(&back).unwrap(), serde_json::to_value(&original).unwrap());
    }

    #[test]
    fn a_malformed_payment_names_its_field() {
        let mut wire = pb::Payment { status: pb::PaymentStatus::Unspecified.into(), ..Default::default() };
        let e = payments(vec![wire.clone()]).unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(e.to_string().contains("payments[0].id"), "{e}");
        wire.id = Uuid::now_v7().to_string();
        wire.order_id = Uuid::now_v7().to_string();
        let e = payment(wire.clone()).unwrap_err();
        assert!(e.to_string().contains("status"), "{e}");
        wire.status = 99;
        assert!(payment(wire).unwrap_err().to_string().contains("99 is not a payment status"));
    }
}
