//! Kafka records of the bus: the event as a CloudEvent in binary content mode (`ce-*` headers,
//! the data as the value), keyed by the event id, plus Comptoir's own headers on retry and
//! dead-letter records.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use comptoir_eventbus::cloudevents;
use comptoir_kernel::{EventEnvelope, Result};
use rdkafka::Message;
use rdkafka::message::{Header, Headers, OwnedHeaders, OwnedMessage};

use crate::headers::{ATTEMPT, ATTEMPTS, DEAD_LETTER_REASON, NOT_BEFORE};

/// A record to produce; kept as plain data so that it can be sent again after a failure.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub topic: String,
    pub key: String,
    pub body: Vec<u8>,
    pub headers: Vec<(&'static str, String)>,
}

impl Outgoing {
    pub fn event(topic: String, event: &EventEnvelope) -> Outgoing {
        Outgoing {
            topic,
            key: event.id.to_string(),
            body: cloudevents::body(event),
            headers: cloudevents::headers(event),
        }
    }

    /// The event again, for its consumer's `attempt`-th delivery, not before `not_before`.
    pub fn retry(topic: String, event: &EventEnvelope, attempt: u32, not_before: SystemTime) -> Outgoing {
        let mut record = Outgoing::event(topic, event);
        record.headers.push((ATTEMPT, attempt.to_string()));
        record.headers.push((NOT_BEFORE, epoch_millis(not_before).to_string()));
        record
    }

    /// The event as filed in a consumer's dead-letter topic.
    pub fn dead_letter(topic: String, event: &EventEnvelope, reason: &str, attempts: u32) -> Outgoing {
        let mut record = Outgoing::event(topic, event);
        record.headers.push((DEAD_LETTER_REASON, reason.to_string()));
        record.headers.push((ATTEMPTS, attempts.to_string()));
        record
    }

    pub fn kafka_headers(&self) -> OwnedHeaders {
        self.headers.iter().fold(OwnedHeaders::new_with_capacity(self.headers.len()), |headers, (key, value)| {
            headers.insert(Header { key, value: Some(value.as_str()) })
        })
    }
}

/// A received record's headers by name (values that are not UTF-8 are left out).
pub(crate) fn read_headers(message: &OwnedMessage) -> HashMap<String, String> {
    let Some(headers) = message.headers() else { return HashMap::new() };
    headers
        .iter()
        .filter_map(|header| {
            let value = std::str::from_utf8(header.value?).ok()?;
            Some((header.key.to_string(), value.to_string()))
        })
        .collect()
}

/// The event a received record carries.
pub(crate) fn decode(headers: &HashMap<String, String>, message: &OwnedMessage) -> Result<EventEnvelope> {
    cloudevents::decode(|name| headers.get(name).cloned(), message.payload().unwrap_or_default())
}

/// Which delivery a retry record is (the first delivery has no header).
pub(crate) fn attempt(headers: &HashMap<String, String>) -> u32 {
    headers.get(ATTEMPT).and_then(|value| value.parse().ok()).unwrap_or(1).max(1)
}

/// When a retry record is due (now, when the header is missing or unreadable).
pub(crate) fn not_before(headers: &HashMap<String, String>) -> SystemTime {
    headers
        .get(NOT_BEFORE)
        .and_then(|value| value.parse::<u64>().ok())
        .map(|millis| UNIX_EPOCH + Duration::from_millis(millis))
        .unwrap_or(UNIX_EPOCH)
}

fn epoch_millis(time: SystemTime) -> u128 {
    time.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis()
}
