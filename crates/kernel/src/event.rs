//! The domain event envelope, identical on every bus provider.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::context::{ActorType, RequestContext};
use crate::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventMetadata {
    pub shop_id: String,
    pub actor_id: Option<String>,
    pub actor_type: ActorType,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventEnvelope {
    /// Unique per event; consumers use it to handle each event once.
    pub id: Uuid,
    /// `<domain>.<entity>.<action>`, e.g. `product.item.created`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Version of the `data` schema for this type.
    pub version: u32,
    pub timestamp: Timestamp,
    /// The module that emitted the event.
    pub source: String,
    pub correlation_id: String,
    pub data: serde_json::Value,
    pub metadata: EventMetadata,
    /// The W3C trace context of the span that emitted the event, when traces are on: the
    /// handlers' spans join the emitter's trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

impl EventEnvelope {
    /// A version-1 event caused by the request in `ctx`.
    pub fn new(ctx: &RequestContext, source: &str, event_type: &str, data: impl Serialize) -> Self {
        debug_assert!(is_valid_event_type(event_type), "bad event type {event_type}");
        EventEnvelope {
            id: crate::new_id(),
            event_type: event_type.to_string(),
            version: 1,
            timestamp: crate::time::now(),
            source: source.to_string(),
            correlation_id: ctx.correlation_id.clone(),
            // Serialising plain data structs cannot fail; a failure here is a programming error.
            data: serde_json::to_value(data).expect("event data serialises to JSON"),
            metadata: EventMetadata {
                shop_id: ctx.shop_id.clone(),
                actor_id: ctx.actor.id.clone(),
                actor_type: ctx.actor.kind,
            },
            traceparent: None,
        }
    }

    /// Reads `data` as the payload type a consumer expects.
    pub fn data_as<T: serde::de::DeserializeOwned>(&self) -> crate::Result<T> {
        serde_json::from_value(self.data.clone()).map_err(|e| {
            crate::Error::internal(format!("event {} ({}) has unexpected data: {e}", self.id, self.event_type))
        })
    }

    /// The context a handler of this event acts in: same correlation id, acting as the system.
    pub fn context(&self) -> RequestContext {
        let mut ctx = RequestContext::new(self.correlation_id.clone(), crate::Actor::system());
        ctx.shop_id = self.metadata.shop_id.clone();
        ctx
    }
}

/// Three or more dot-separated lowercase words (`order.checkout.completed`).
pub fn is_valid_event_type(value: &str) -> bool {
    let words: Vec<&str> = value.split('.').collect();
    words.len() >= 3
        && words
            .iter()
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_serialises_with_the_design_field_names() {
        let ctx = RequestContext::new("corr-1", crate::Actor::user("u1"));
        let e = EventEnvelope::new(&ctx, "catalog", "product.item.created", serde_json::json!({"sku": "A"}));
        let v = serde_json::to_value(&e).unwrap();
        for key in ["id", "type", "version", "timestamp", "source", "correlation_id", "data", "metadata"] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
        assert_eq!(v["metadata"]["actor_type"], "user");
        assert_eq!(v["metadata"]["actor_id"], "u1");
        let back: EventEnvelope = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn event_types_have_three_words() {
        assert!(is_valid_event_type("auth.user.registered"));
        assert!(!is_valid_event_type("auth.user"));
        assert!(!is_valid_event_type("Auth.user.registered"));
        assert!(!is_valid_event_type("auth..registered"));
    }
}
