//! The webhooks contract's types and their wire form, both ways. Inputs (a new subscription, a
//! patch) travel as the caller typed them: the module checks them on the other side, with the same
//! fields as in process. Decoding what a peer sent fails as a bad request naming the field, never
//! a panic.

use comptoir_contracts::webhooks::{
    Delivery, DeliveryAttempt, DeliveryDetail, DeliveryStatus, NewSubscription, Subscription, SubscriptionPatch,
    SubscriptionWithSecret,
};
use comptoir_grpc::convert::{json, optional_timestamp, required, timestamp, to_timestamp, uuid};
use comptoir_kernel::{Error, Result};

use crate::pb;

// ---- Closed sets -----------------------------------------------------------------------------

pub fn to_status(status: DeliveryStatus) -> pb::DeliveryStatus {
    match status {
        DeliveryStatus::Pending => pb::DeliveryStatus::Pending,
        DeliveryStatus::Delivered => pb::DeliveryStatus::Delivered,
        DeliveryStatus::Failed => pb::DeliveryStatus::Failed,
    }
}

/// An unspecified or unknown status is refused rather than guessed.
pub fn status(value: i32, field: &str) -> Result<DeliveryStatus> {
    match pb::DeliveryStatus::try_from(value) {
        Ok(pb::DeliveryStatus::Pending) => Ok(DeliveryStatus::Pending),
        Ok(pb::DeliveryStatus::Delivered) => Ok(DeliveryStatus::Delivered),
        Ok(pb::DeliveryStatus::Failed) => Ok(DeliveryStatus::Failed),
        Ok(pb::DeliveryStatus::Unspecified) | Err(_) => {
            Err(Error::bad_request(format!("{field}: {value} is not a delivery status")))
        }
    }
}

fn http_status(value: Option<u32>, field: &str) -> Result<Option<u16>> {
    value
        .map(|code| {
            u16::try_from(code).map_err(|_| Error::bad_request(format!("{field}: {code} is not an HTTP status")))
        })
        .transpose()
}

// ---- Subscriptions ---------------------------------------------------------------------------

pub fn to_subscription(s: &Subscription) -> pb::Subscription {
    pb::Subscription {
        id: s.id.to_string(),
        url: s.url.clone(),
        patterns: s.patterns.clone(),
        description: s.description.clone(),
        enabled: s.enabled,
        secret_hint: s.secret_hint.clone(),
        consecutive_failures: s.consecutive_failures,
        failing_since: s.failing_since.as_ref().map(to_timestamp),
        disabled_reason: s.disabled_reason.clone(),
        created_at: Some(to_timestamp(&s.created_at)),
        updated_at: Some(to_timestamp(&s.updated_at)),
    }
}

/// `path` is where the subscription sits (`subscriptions[3]`), so that a bad value names it.
pub fn subscription(value: pb::Subscription, path: &str) -> Result<Subscription> {
    let field = |name: &str| format!("{path}.{name}");
    Ok(Subscription {
        id: uuid(&value.id, &field("id"))?,
        failing_since: optional_timestamp(value.failing_since, &field("failing_since"))?,
        created_at: timestamp(value.created_at, &field("created_at"))?,
        updated_at: timestamp(value.updated_at, &field("updated_at"))?,
        url: value.url,
        patterns: value.patterns,
        description: value.description,
        enabled: value.enabled,
        secret_hint: value.secret_hint,
        consecutive_failures: value.consecutive_failures,
        disabled_reason: value.disabled_reason,
    })
}

pub fn subscriptions(values: Vec<pb::Subscription>) -> Result<Vec<Subscription>> {
    values.into_iter().enumerate().map(|(i, s)| subscription(s, &format!("subscriptions[{i}]"))).collect()
}

pub fn to_with_secret(s: &SubscriptionWithSecret) -> pb::SubscriptionWithSecret {
    pb::SubscriptionWithSecret { subscription: Some(to_subscription(&s.subscription)), secret: s.secret.clone() }
}

pub fn with_secret(value: pb::SubscriptionWithSecret) -> Result<SubscriptionWithSecret> {
    let s = required(value.subscription, "subscription")?;
    Ok(SubscriptionWithSecret { subscription: subscription(s, "subscription")?, secret: value.secret })
}

pub fn to_create(new: NewSubscription) -> pb::CreateSubscriptionRequest {
    pb::CreateSubscriptionRequest {
        url: new.url,
        patterns: new.patterns,
        description: new.description,
        enabled: new.enabled,
    }
}

pub fn new_subscription(value: pb::CreateSubscriptionRequest) -> NewSubscription {
    NewSubscription { url: value.url, patterns: value.patterns, description: value.description, enabled: value.enabled }
}

pub fn to_update(id: uuid::Uuid, patch: SubscriptionPatch) -> pb::UpdateSubscriptionRequest {
    pb::UpdateSubscriptionRequest {
        id: id.to_string(),
        url: patch.url,
        patterns: patch.patterns.map(|values| pb::Patterns { values }),
        description: patch.description,
        enabled: patch.enabled,
    }
}

pub fn patch(value: pb::UpdateSubscriptionRequest) -> SubscriptionPatch {
    SubscriptionPatch {
        url: value.url,
        patterns: value.patterns.map(|p| p.values),
        description: value.description,
        enabled: value.enabled,
    }
}

// ---- Deliveries ------------------------------------------------------------------------------

pub fn to_delivery(d: &Delivery) -> pb::Delivery {
    pb::Delivery {
        id: d.id.to_string(),
        subscription_id: d.subscription_id.to_string(),
        event_id: d.event_id.to_string(),
        event_type: d.event_type.clone(),
        status: to_status(d.status).into(),
        attempts: d.attempts,
        next_attempt_at: d.next_attempt_at.as_ref().map(to_timestamp),
        last_response_code: d.last_response_code.map(u32::from),
        last_error: d.last_error.clone(),
        created_at: Some(to_timestamp(&d.created_at)),
        delivered_at: d.delivered_at.as_ref().map(to_timestamp),
    }
}

pub fn delivery(value: pb::Delivery, path: &str) -> Result<Delivery> {
    let field = |name: &str| format!("{path}.{name}");
    Ok(Delivery {
        id: uuid(&value.id, &field("id"))?,
        subscription_id: uuid(&value.subscription_id, &field("subscription_id"))?,
        event_id: uuid(&value.event_id, &field("event_id"))?,
        status: status(value.status, &field("status"))?,
        next_attempt_at: optional_timestamp(value.next_attempt_at, &field("next_attempt_at"))?,
        last_response_code: http_status(value.last_response_code, &field("last_response_code"))?,
        created_at: timestamp(value.created_at, &field("created_at"))?,
        delivered_at: optional_timestamp(value.delivered_at, &field("delivered_at"))?,
        event_type: value.event_type,
        attempts: value.attempts,
        last_error: value.last_error,
    })
}

pub fn deliveries(values: Vec<pb::Delivery>) -> Result<Vec<Delivery>> {
    values.into_iter().enumerate().map(|(i, d)| delivery(d, &format!("deliveries[{i}]"))).collect()
}

pub fn to_attempt(a: &DeliveryAttempt) -> pb::DeliveryAttempt {
    pb::DeliveryAttempt {
        number: a.number,
        manual: a.manual,
        attempted_at: Some(to_timestamp(&a.attempted_at)),
        duration_ms: a.duration_ms,
        response_code: a.response_code.map(u32::from),
        response_body: a.response_body.clone(),
        error: a.error.clone(),
        succeeded: a.succeeded,
    }
}

pub fn attempt(value: pb::DeliveryAttempt, path: &str) -> Result<DeliveryAttempt> {
    let field = |name: &str| format!("{path}.{name}");
    Ok(DeliveryAttempt {
        number: value.number,
        manual: value.manual,
        attempted_at: timestamp(value.attempted_at, &field("attempted_at"))?,
        duration_ms: value.duration_ms,
        response_code: http_status(value.response_code, &field("response_code"))?,
        response_body: value.response_body,
        error: value.error,
        succeeded: value.succeeded,
    })
}

pub fn to_detail(d: &DeliveryDetail) -> pb::DeliveryDetail {
    pb::DeliveryDetail {
        delivery: Some(to_delivery(&d.delivery)),
        payload_json: d.payload.to_string(),
        attempts: d.attempts.iter().map(to_attempt).collect(),
    }
}

pub fn detail(value: pb::DeliveryDetail) -> Result<DeliveryDetail> {
    Ok(DeliveryDetail {
        delivery: delivery(required(value.delivery, "delivery")?, "delivery")?,
        payload: json(&value.payload_json, "payload_json")?,
        attempts: value
            .attempts
            .into_iter()
            .enumerate()
            .map(|(i, a)| attempt(a, &format!("attempts[{i}]")))
            .collect::<Result<_>>()?,
    })
}

#[cfg(test)]
mod tests {
    use comptoir_kernel::time;
    use uuid::Uuid;

    use super::*;

    fn sample_delivery(status: DeliveryStatus) -> Delivery {
        Delivery {
            id: Uuid::now_v7(),
            subscription_id: Uuid::now_v7(),
            event_id: Uuid::now_v7(),
            event_type: "order.order.placed".into(),
            status,
            attempts: 2,
            next_attempt_at: Some(time::now()),
            last_response_code: Some(503),
            last_error: Some("the endpoint answered HTTP 503".into()),
            created_at: time::now(),
            delivered_at: None,
        }
    }

    #[test]
    fn every_status_survives_the_trip() {
        for s in [DeliveryStatus::Pending, DeliveryStatus::Delivered, DeliveryStatus::Failed] {
            let original = sample_delivery(s);
            let back = delivery(to_delivery(&original), "delivery").unwrap();
            assert_eq!(serde_json::to_value(&back).unwrap(), serde_json::to_value(&original).unwrap());
        }
    }

    #[test]
    fn a_patch_keeps_absent_and_empty_apart() {
        let id = Uuid::now_v7();
        let back = patch(to_update(id, SubscriptionPatch { patterns: Some(vec![]), ..Default::default() }));
        assert_eq!(back.patterns, Some(vec![]));
        let back = patch(to_update(id, SubscriptionPatch::default()));
        assert!(back.patterns.is_none() && back.url.is_none() && back.enabled.is_none());
    }

    #[test]
    fn a_malformed_delivery_names_its_field() {
        let mut wire = to_delivery(&sample_delivery(DeliveryStatus::Failed));
        wire.status = pb::DeliveryStatus::Unspecified.into();
        let e = deliveries(vec![wire.clone()]).unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(e.to_string().contains("deliveries[0].status"), "{e}");
        wire.status = pb::DeliveryStatus::Failed.into();
        wire.last_response_code = Some(70000);
        assert!(deliveries(vec![wire]).unwrap_err().to_string().contains("70000 is not an HTTP status"));
    }
}
