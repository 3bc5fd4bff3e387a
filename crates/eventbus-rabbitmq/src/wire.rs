//! Events as AMQP messages: the CloudEvents attributes as `ce-*` headers, the data as a JSON body,
//! plus AMQP's own properties (persistent delivery, content type, message and correlation ids) so
//! that tools that know nothing of CloudEvents still see what the message is.

use std::collections::BTreeMap;

use comptoir_eventbus::cloudevents;
use comptoir_kernel::{Error, EventEnvelope, Result};
use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable, ShortString};

/// AMQP delivery mode 2: the broker writes the message to disk.
pub(crate) const PERSISTENT: u8 = 2;
/// The attempt a redelivered copy is (absent on the first delivery).
pub(crate) const ATTEMPT: &str = "x-comptoir-attempt";
/// On a dead letter: how many attempts failed.
pub(crate) const ATTEMPTS: &str = "x-comptoir-attempts";
/// On a dead letter: the last handling error.
pub(crate) const ERROR: &str = "x-comptoir-error";
/// On a dead letter: the consumer that gave up on it.
pub(crate) const CONSUMER: &str = "x-comptoir-consumer";

/// A message to publish.
pub(crate) struct Outgoing {
    pub exchange: ShortString,
    pub routing_key: ShortString,
    pub payload: Vec<u8>,
    pub properties: BasicProperties,
    /// Returned by the broker (and counted as a failure) when no queue takes it.
    pub mandatory: bool,
}

/// The message carrying `event` to `exchange`, routed by its type.
pub(crate) fn outgoing(exchange: &str, event: &EventEnvelope) -> Result<Outgoing> {
    let routing_key = ShortString::try_new(event.event_type.as_str()).map_err(|_| {
        Error::internal(format!("event type {:?} is too long for an AMQP routing key", event.event_type))
    })?;
    Ok(Outgoing {
        exchange: short(exchange)?,
        routing_key,
        payload: cloudevents::body(event),
        properties: properties(event),
        mandatory: false,
    })
}

fn properties(event: &EventEnvelope) -> BasicProperties {
    let mut headers = FieldTable::default();
    for (name, value) in cloudevents::headers(event) {
        // AMQP has a property of its own for the content type.
        if name != cloudevents::CONTENT_TYPE_HEADER {
            headers.insert(name.into(), AMQPValue::LongString(value.into()));
        }
    }
    let properties = BasicProperties::default()
        .with_content_type(cloudevents::CONTENT_TYPE.into())
        .with_delivery_mode(PERSISTENT)
        .with_message_id(event.id.to_string().into())
        .with_timestamp(event.timestamp.timestamp().max(0) as u64)
        .with_headers(headers);
    // A correlation id longer than AMQP's short strings still travels in `ce-correlationid`.
    match ShortString::try_new(event.correlation_id.as_str()) {
        Ok(correlation_id) => properties.with_correlation_id(correlation_id),
        Err(_) => properties,
    }
}

/// Reads the event back from a delivery's headers and body.
pub(crate) fn decode(properties: &BasicProperties, body: &[u8]) -> Result<EventEnvelope> {
    let headers = properties.headers().as_ref();
    cloudevents::decode(|name| text(headers, name), body)
}

/// A header's value as text (AMQP long or short string).
pub(crate) fn text(headers: Option<&FieldTable>, name: &str) -> Option<String> {
    match headers?.inner().get(name)? {
        AMQPValue::LongString(value) => Some(String::from_utf8_lossy(value.as_bytes()).into_owned()),
        AMQPValue::ShortString(value) => Some(value.as_str().to_owned()),
        _ => None,
    }
}

/// A header's value as a number, whatever integer type the sender chose.
pub(crate) fn number(headers: Option<&FieldTable>, name: &str) -> Option<i64> {
    match headers?.inner().get(name)? {
        AMQPValue::ShortShortInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortShortUInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortUInt(v) => Some(i64::from(*v)),
        AMQPValue::LongInt(v) => Some(i64::from(*v)),
        AMQPValue::LongUInt(v) => Some(i64::from(*v)),
        AMQPValue::LongLongInt(v) => Some(*v),
        AMQPValue::LongString(v) => String::from_utf8_lossy(v.as_bytes()).parse().ok(),
        _ => None,
    }
}

/// Which attempt this delivery is: 1 unless a retry copy says otherwise.
pub(crate) fn attempt(properties: &BasicProperties) -> u32 {
    number(properties.headers().as_ref(), ATTEMPT).map_or(1, |n| n.clamp(1, i64::from(u32::MAX)) as u32)
}

/// The same message with `changes` made to its headers.
pub(crate) fn with_headers(
    properties: &BasicProperties,
    changes: impl FnOnce(&mut BTreeMap<ShortString, AMQPValue>),
) -> BasicProperties {
    let mut headers = properties.headers().as_ref().map(|h| h.inner().clone()).unwrap_or_default();
    changes(&mut headers);
    properties.clone().with_headers(FieldTable::from(headers))
}

pub(crate) fn short(name: &str) -> Result<ShortString> {
    ShortString::try_new(name).map_err(|_| Error::internal(format!("{name:?} is too long for an AMQP name")))
}

#[cfg(test)]
mod tests {
    use comptoir_kernel::{Actor, RequestContext};

    use super::*;

    fn event() -> EventEnvelope {
        let ctx = RequestContext::new("corr-7", Actor::user("u-1"));
        EventEnvelope::new(&ctx, "ordering", "order.checkout.completed", serde_json::json!({"order_id": "o-1"}))
    }

    #[test]
    fn an_event_travels_as_a_persistent_cloudevent() {
        let e = event();
        let message = outgoing("comptoir.events", &e).unwrap();
        assert_eq!(message.routing_key.as_str(), "order.checkout.completed");
        let p = &message.properties;
        assert_eq!(p.delivery_mode(), &Some(PERSISTENT));
        assert_eq!(p.content_type().as_ref().map(|c| c.as_str()), Some("application/json"));
        assert_eq!(p.message_id().as_ref().map(|c| c.to_string()), Some(e.id.to_string()));
        assert_eq!(p.correlation_id().as_ref().map(|c| c.as_str()), Some("corr-7"));
        assert_eq!(text(p.headers().as_ref(), "ce-type").as_deref(), Some("order.checkout.completed"));
        assert_eq!(decode(p, &message.payload).unwrap(), e);
    }

    #[test]
    fn an_overlong_correlation_id_stays_in_its_header() {
        let mut e = event();
        e.correlation_id = "c".repeat(300);
        let message = outgoing("comptoir.events", &e).unwrap();
        assert_eq!(message.properties.correlation_id(), &None);
        assert_eq!(decode(&message.properties, &message.payload).unwrap().correlation_id, e.correlation_id);
    }

    #[test]
    fn the_attempt_header_counts_from_one() {
        let first = BasicProperties::default();
        assert_eq!(attempt(&first), 1);
        let third = with_headers(&first, |h| {
            h.insert(ATTEMPT.into(), AMQPValue::LongLongInt(3));
        });
        assert_eq!(attempt(&third), 3);
    }
}
