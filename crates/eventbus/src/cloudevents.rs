//! The event envelope as a CloudEvents 1.0 message in binary content mode: the attributes travel
//! as `ce-*` headers and the body is the event's `data` as JSON, so any CloudEvents consumer reads
//! Comptoir's events without knowing the envelope. Every broker provider uses this one mapping.
//!
//! | envelope          | header            |
//! |-------------------|-------------------|
//! | `id`              | `ce-id`           |
//! | `type`            | `ce-type`         |
//! | `source`          | `ce-source`       |
//! | `timestamp`       | `ce-time`         |
//! | (always `1.0`)    | `ce-specversion`  |
//! | `version`         | `ce-dataversion`  |
//! | `correlation_id`  | `ce-correlationid`|
//! | `metadata.*`      | `ce-shopid`, `ce-actorid`, `ce-actortype` |
//! | `traceparent`     | `traceparent` (W3C trace context, when traces are on) |
//! | (JSON)            | `content-type: application/json` |
//!
//! Extension attribute names are lowercase letters only, as the specification requires.

use comptoir_kernel::{ActorType, Error, EventEnvelope, EventMetadata, Result};

pub const SPEC_VERSION: &str = "1.0";
pub const CONTENT_TYPE: &str = "application/json";

pub const ID: &str = "ce-id";
pub const TYPE: &str = "ce-type";
pub const SOURCE: &str = "ce-source";
pub const TIME: &str = "ce-time";
pub const SPECVERSION: &str = "ce-specversion";
pub const DATAVERSION: &str = "ce-dataversion";
pub const CORRELATION_ID: &str = "ce-correlationid";
pub const SHOP_ID: &str = "ce-shopid";
pub const ACTOR_ID: &str = "ce-actorid";
pub const ACTOR_TYPE: &str = "ce-actortype";
pub const CONTENT_TYPE_HEADER: &str = "content-type";
/// The W3C header itself rather than a `ce-` attribute: tracing tools read it from any message.
pub const TRACEPARENT: &str = "traceparent";

/// The headers carrying the envelope's attributes, in a stable order.
pub fn headers(event: &EventEnvelope) -> Vec<(&'static str, String)> {
    let mut headers = vec![
        (SPECVERSION, SPEC_VERSION.to_string()),
        (ID, event.id.to_string()),
        (TYPE, event.event_type.clone()),
        (SOURCE, event.source.clone()),
        (TIME, event.timestamp.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
        (DATAVERSION, event.version.to_string()),
        (CORRELATION_ID, event.correlation_id.clone()),
        (SHOP_ID, event.metadata.shop_id.clone()),
        (ACTOR_TYPE, actor_type_name(event.metadata.actor_type).to_string()),
        (CONTENT_TYPE_HEADER, CONTENT_TYPE.to_string()),
    ];
    if let Some(actor) = &event.metadata.actor_id {
        headers.push((ACTOR_ID, actor.clone()));
    }
    if let Some(traceparent) = &event.traceparent {
        headers.push((TRACEPARENT, traceparent.clone()));
    }
    headers
}

/// The message body: the event's data as JSON.
pub fn body(event: &EventEnvelope) -> Vec<u8> {
    // Serialising a JSON value cannot fail.
    serde_json::to_vec(&event.data).expect("JSON values serialise")
}

/// Rebuilds the envelope from a message. `header` looks a header up by name. A message that is
/// not a Comptoir CloudEvent is refused with a message naming the missing or bad attribute.
pub fn decode(header: impl Fn(&str) -> Option<String>, body: &[u8]) -> Result<EventEnvelope> {
    let required = |name: &str| header(name).ok_or_else(|| malformed(format!("the {name} header is missing")));
    let spec = required(SPECVERSION)?;
    if spec != SPEC_VERSION {
        return Err(malformed(format!("{SPECVERSION} {spec:?} is not supported (expected {SPEC_VERSION})")));
    }
    let id = required(ID)?;
    let actor_type = required(ACTOR_TYPE)?;
    Ok(EventEnvelope {
        id: id.parse().map_err(|_| malformed(format!("{ID} {id:?} is not a UUID")))?,
        event_type: required(TYPE)?,
        version: match header(DATAVERSION) {
            Some(v) => v.parse().map_err(|_| malformed(format!("{DATAVERSION} {v:?} is not a number")))?,
            None => 1,
        },
        timestamp: comptoir_kernel::time::from_db(&required(TIME)?)
            .map_err(|_| malformed(format!("{TIME} is not an RFC 3339 time")))?,
        source: required(SOURCE)?,
        correlation_id: required(CORRELATION_ID)?,
        data: serde_json::from_slice(body).map_err(|e| malformed(format!("the body is not JSON: {e}")))?,
        metadata: EventMetadata {
            shop_id: required(SHOP_ID)?,
            actor_id: header(ACTOR_ID),
            actor_type: serde_json::from_value(serde_json::Value::String(actor_type.clone()))
                .map_err(|_| malformed(format!("{ACTOR_TYPE} {actor_type:?} is not user, app or system")))?,
        },
        traceparent: header(TRACEPARENT),
    })
}

fn actor_type_name(kind: ActorType) -> &'static str {
    match kind {
        ActorType::User => "user",
        ActorType::App => "app",
        ActorType::System => "system",
    }
}

fn malformed(message: String) -> Error {
    Error::internal(format!("not a Comptoir CloudEvent: {message}"))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use comptoir_kernel::{Actor, RequestContext};

    use super::*;

    fn event() -> EventEnvelope {
        let ctx = RequestContext::new("corr-42", Actor::user("u-1"));
        EventEnvelope::new(&ctx, "ordering", "order.checkout.completed", serde_json::json!({"order_id": "o-1"}))
    }

    fn as_map(event: &EventEnvelope) -> HashMap<&'static str, String> {
        headers(event).into_iter().collect()
    }

    #[test]
    fn attributes_travel_as_ce_headers_and_data_as_the_body() {
        let e = event();
        let h = as_map(&e);
        assert_eq!(h[ID], e.id.to_string());
        assert_eq!(h[TYPE], "order.checkout.completed");
        assert_eq!(h[SOURCE], "ordering");
        assert_eq!(h[SPECVERSION], "1.0");
        assert_eq!(h[CORRELATION_ID], "corr-42");
        assert!(h[TIME].ends_with('Z'));
        assert_eq!(serde_json::from_slice::<serde_json::Value>(&body(&e)).unwrap()["order_id"], "o-1");
    }

    #[test]
    fn decoding_the_headers_and_body_gives_the_same_envelope() {
        let e = event();
        let h = as_map(&e);
        let back = decode(|name| h.get(name).cloned(), &body(&e)).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn the_trace_context_travels_as_the_w3c_header() {
        let e = EventEnvelope {
            traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
            ..event()
        };
        let h = as_map(&e);
        assert_eq!(h[TRACEPARENT], "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
        assert_eq!(decode(|name| h.get(name).cloned(), &body(&e)).unwrap(), e);
        assert!(!as_map(&event()).contains_key(TRACEPARENT), "no header without a trace");
    }

    #[test]
    fn a_message_without_an_attribute_is_refused_naming_it() {
        let e = event();
        let mut h = as_map(&e);
        h.remove(TYPE);
        let err = decode(|name| h.get(name).cloned(), &body(&e)).unwrap_err();
        assert!(err.to_string().contains("ce-type"), "{err}");
    }
}
