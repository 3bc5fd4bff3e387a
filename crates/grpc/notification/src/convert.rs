//! The notification contract's types and their wire form, both ways. The mailbox filter travels as
//! the caller typed it (an address in capitals with spaces, an empty or unknown template): the
//! module normalises and checks it on the other side, with the same fields as in process. Decoding
//! what a peer sent fails as a bad request naming the field, never a panic.

use comptoir_contracts::notification::{Delivery, Message, MessageFilter, MessageKind, Preferences};
use comptoir_grpc::convert::{optional_uuid, timestamp, to_timestamp, uuid};
use comptoir_kernel::{Error, Result};

use crate::pb;

// ---- Closed sets -----------------------------------------------------------------------------

pub fn to_message_kind(kind: MessageKind) -> pb::MessageKind {
    match kind {
        MessageKind::Transactional => pb::MessageKind::Transactional,
        MessageKind::Marketing => pb::MessageKind::Marketing,
        MessageKind::Merchant => pb::MessageKind::Merchant,
    }
}

/// An unspecified or unknown kind is refused rather than guessed.
pub fn message_kind(value: i32, field: &str) -> Result<MessageKind> {
    match pb::MessageKind::try_from(value) {
        Ok(pb::MessageKind::Transactional) => Ok(MessageKind::Transactional),
        Ok(pb::MessageKind::Marketing) => Ok(MessageKind::Marketing),
        Ok(pb::MessageKind::Merchant) => Ok(MessageKind::Merchant),
        Ok(pb::MessageKind::Unspecified) | Err(_) => {
            Err(Error::bad_request(format!("{field}: {value} is not a message kind")))
        }
    }
}

pub fn to_delivery(delivery: Delivery) -> pb::Delivery {
    match delivery {
        Delivery::Mailbox => pb::Delivery::Mailbox,
        Delivery::Smtp => pb::Delivery::Smtp,
        Delivery::Failed => pb::Delivery::Failed,
        Delivery::Suppressed => pb::Delivery::Suppressed,
    }
}

/// An unspecified or unknown delivery is refused rather than guessed.
pub fn delivery(value: i32, field: &str) -> Result<Delivery> {
    match pb::Delivery::try_from(value) {
        Ok(pb::Delivery::Mailbox) => Ok(Delivery::Mailbox),
        Ok(pb::Delivery::Smtp) => Ok(Delivery::Smtp),
        Ok(pb::Delivery::Failed) => Ok(Delivery::Failed),
        Ok(pb::Delivery::Suppressed) => Ok(Delivery::Suppressed),
        Ok(pb::Delivery::Unspecified) | Err(_) => {
            Err(Error::bad_request(format!("{field}: {value} is not a delivery")))
        }
    }
}

// ---- The mailbox -----------------------------------------------------------------------------

pub fn to_filter(filter: MessageFilter) -> pb::MessageFilter {
    pb::MessageFilter { to: filter.to, template: filter.template }
}

/// An absent filter is an empty one: both criteria are optional, so the two mean the same.
pub fn filter(value: Option<pb::MessageFilter>) -> MessageFilter {
    let value = value.unwrap_or_default();
    MessageFilter { to: value.to, template: value.template }
}

pub fn to_message(message: &Message) -> pb::Message {
    pb::Message {
        id: message.id.to_string(),
        to: message.to.clone(),
        subject: message.subject.clone(),
        body: message.body.clone(),
        template: message.template.clone(),
        kind: to_message_kind(message.kind).into(),
        delivery: to_delivery(message.delivery).into(),
        error: message.error.clone(),
        event_id: message.event_id.to_string(),
        customer_id: message.customer_id.map(|id| id.to_string()),
        created_at: Some(to_timestamp(&message.created_at)),
    }
}

/// `path` is where the message sits (`messages[3]`), so that a bad value names its message.
pub fn message(value: pb::Message, path: &str) -> Result<Message> {
    let field = |name: &str| format!("{path}.{name}");
    Ok(Message {
        id: uuid(&value.id, &field("id"))?,
        kind: message_kind(value.kind, &field("kind"))?,
        delivery: delivery(value.delivery, &field("delivery"))?,
        event_id: uuid(&value.event_id, &field("event_id"))?,
        customer_id: optional_uuid(value.customer_id.as_deref(), &field("customer_id"))?,
        created_at: timestamp(value.created_at, &field("created_at"))?,
        to: value.to,
        subject: value.subject,
        body: value.body,
        template: value.template,
        error: value.error,
    })
}

pub fn messages(values: Vec<pb::Message>) -> Result<Vec<Message>> {
    values.into_iter().enumerate().map(|(i, m)| message(m, &format!("messages[{i}]"))).collect()
}

// ---- Preferences -----------------------------------------------------------------------------

pub fn to_preferences(preferences: &Preferences) -> pb::Preferences {
    pb::Preferences {
        customer_id: preferences.customer_id.to_string(),
        marketing_opt_out: preferences.marketing_opt_out,
    }
}

pub fn preferences(value: pb::Preferences) -> Result<Preferences> {
    Ok(Preferences {
        customer_id: uuid(&value.customer_id, "customer_id")?,
        marketing_opt_out: value.marketing_opt_out,
    })
}

#[cfg(test)]
mod tests {
    use comptoir_kernel::time;
    use uuid::Uuid;

    use super::*;

    fn sample(kind: MessageKind, delivery: Delivery) -> Message {
        Message {
            id: Uuid::now_v7(),
            to: "ann@example.com".into(),
            subject: "Welcome".into(),
            body: "Hello\nAnn".into(),
            template: "welcome".into(),
            kind,
            delivery,
            error: Some(String::new()),
            event_id: Uuid::now_v7(),
            customer_id: None,
            created_at: time::now(),
        }
    }

    #[test]
    fn every_kind_and_delivery_survives_the_trip() {
        let kinds = [MessageKind::Transactional, MessageKind::Marketing, MessageKind::Merchant];
        let deliveries = [Delivery::Mailbox, Delivery::Smtp, Delivery::Failed, Delivery::Suppressed];
        for kind in kinds {
            for delivery in deliveries {
                let original = sample(kind, delivery);
                let back = message(to_message(&original), "message").unwrap();
                assert_eq!(serde_json::to_value(&back).unwrap(), serde_json::to_value(&original).unwrap());
            }
        }
    }

    #[test]
    fn a_filter_arrives_as_it_was_typed() {
        for (to, template) in [(None, None), (Some(" ANN@example.com "), Some("")), (Some(""), Some("newsletter"))] {
            let typed = MessageFilter { to: to.map(Into::into), template: template.map(Into::into) };
            let back = filter(Some(to_filter(typed)));
            assert_eq!((back.to.as_deref(), back.template.as_deref()), (to, template));
        }
        let absent = filter(None);
        assert_eq!((absent.to, absent.template), (None, None));
    }

    #[test]
    fn a_malformed_message_names_its_field() {
        let mut wire = to_message(&sample(MessageKind::Merchant, Delivery::Mailbox));
        wire.kind = pb::MessageKind::Unspecified.into();
        let e = messages(vec![wire.clone()]).unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(e.to_string().contains("messages[0].kind"), "{e}");
        wire.kind = pb::MessageKind::Merchant.into();
        wire.delivery = 42;
        assert!(messages(vec![wire]).unwrap_err().to_string().contains("42 is not a delivery"));
    }
}
