//! Carrier tracking webhooks, without I/O: the signature and the body.
//!
//! A carrier signs each delivery with the shared secret: the header is
//! `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. The timestamp is inside the signed text,
//! so a captured request cannot be replayed once it is older than [`TOLERANCE_SECONDS`]. Several
//! `v1` values may be sent while a carrier rotates its secret; one matching is enough.

use comptoir_contracts::shipping::ShipmentStatus;
use comptoir_kernel::{Error, Result, validate};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use crate::domain;

/// How far the signature's timestamp may be from our clock, either way.
pub const TOLERANCE_SECONDS: i64 = 300;
const MAX_EVENT_ID_LEN: usize = 200;
const MAX_TRACKING_NUMBER_LEN: usize = 64;

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The signature header a carrier sends with `body` at `timestamp` (unix seconds).
pub fn sign_webhook(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", hex::encode(mac(secret, timestamp, body).finalize().into_bytes()))
}

/// Checks `header` against `body` at `now` (unix seconds); 401 when anything is off.
pub fn verify(secret: &str, header: &str, body: &[u8], now: i64) -> Result<()> {
    if secret.is_empty() {
        // An empty secret would let anyone sign: the webhook is off until one is configured.
        return Err(Error::unauthorized("carrier webhooks are not configured"));
    }
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = value.parse::<i64>().ok(),
            Some(("v1", value)) => signatures.extend(hex::decode(value).ok()),
            _ => {}
        }
    }
    let (Some(timestamp), false) = (timestamp, signatures.is_empty()) else {
        return Err(Error::unauthorized("the signature header must be t=<unix seconds>,v1=<hex HMAC-SHA256>"));
    };
    if now.abs_diff(timestamp) > TOLERANCE_SECONDS as u64 {
        return Err(Error::unauthorized("the signature is more than 5 minutes away from the current time"));
    }
    let expected = mac(secret, timestamp, body);
    // `verify_slice` compares in constant time.
    if signatures.iter().any(|signature| expected.clone().verify_slice(signature).is_ok()) {
        Ok(())
    } else {
        Err(Error::unauthorized("the signature does not match the body"))
    }
}

#[derive(Deserialize)]
struct Body {
    id: String,
    tracking_number: String,
    status: ShipmentStatus,
    #[serde(default)]
    note: Option<String>,
}

/// A carrier's report about one parcel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarrierUpdate {
    /// The carrier's id for this event: a redelivery carries the same one.
    pub event_id: String,
    pub tracking_number: String,
    pub status: ShipmentStatus,
    pub note: Option<String>,
}

pub fn parse_body(body: &[u8]) -> Result<CarrierUpdate> {
    let body: Body =
        serde_json::from_slice(body).map_err(|e| Error::bad_request(format!("the webhook body is not valid: {e}")))?;
    let event_id = validate::required_text("id", &body.id, MAX_EVENT_ID_LEN)?;
    let tracking_number = validate::required_text("tracking_number", &body.tracking_number, MAX_TRACKING_NUMBER_LEN)?;
    if body.status == ShipmentStatus::LabelCreated {
        return Err(Error::validation("status", "a carrier reports shipped, in_transit or delivered"));
    }
    let note = domain::parse_note(body.note)?;
    Ok(CarrierUpdate { event_id, tracking_number, status: body.status, note })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_750_000_000;

    #[test]
    fn a_signature_made_with_the_secret_verifies() {
        let header = sign_webhook("s3cret", NOW, b"{}");
        assert!(header.starts_with(&format!("t={NOW},v1=")));
        assert!(verify("s3cret", &header, b"{}", NOW).is_ok());
        assert!(verify("s3cret", &header, b"{}", NOW + TOLERANCE_SECONDS).is_ok(), "at the edge of the tolerance");
        // A second signature made with a rotated-out secret does not get in the way.
        let rotated = format!("{header},v1={}", &sign_webhook("old", NOW, b"{}")[format!("t={NOW},v1=").len()..]);
        assert!(verify("s3cret", &rotated, b"{}", NOW).is_ok());
    }

    #[test]
    fn anything_off_is_unauthorized() {
        let header = sign_webhook("s3cret", NOW, b"{}");
        let refused = |secret: &str, header: &str, body: &[u8], now: i64| {
            verify(secret, header, body, now).is_err_and(|e| e.status() == 401)
        };
        assert!(refused("other", &header, b"{}", NOW), "wrong secret");
        assert!(refused("s3cret", &header, b"{ }", NOW), "body changed");
        assert!(refused("s3cret", &header, b"{}", NOW + TOLERANCE_SECONDS + 1), "too old");
        assert!(refused("s3cret", &header, b"{}", NOW - TOLERANCE_SECONDS - 1), "from the future");
        assert!(refused("", &sign_webhook("", NOW, b"{}"), b"{}", NOW), "no secret configured");
        for bad in ["", "t=abc,v1=00", &format!("t={NOW}"), &format!("t={NOW},v1=zz"), "v1=00"] {
            assert!(refused("s3cret", bad, b"{}", NOW), "{bad:?}");
        }
        // The timestamp is signed: moving it invalidates the signature.
        let moved = header.replacen(&NOW.to_string(), &(NOW + 1).to_string(), 1);
        assert!(refused("s3cret", &moved, b"{}", NOW));
    }

    #[test]
    fn bodies_are_read_and_checked() {
        let update =
            parse_body(br#"{"id": "ev-1", "tracking_number": "COL1", "status": "in_transit", "note": " Hub "}"#)
                .unwrap();
        assert_eq!(update.event_id, "ev-1");
        assert_eq!(update.status, ShipmentStatus::InTransit);
        assert_eq!(update.note.as_deref(), Some("Hub"));

        assert_eq!(parse_body(b"not json").unwrap_err().status(), 400);
        assert_eq!(parse_body(br#"{"id": "e", "status": "shipped"}"#).unwrap_err().status(), 400);
        assert_eq!(parse_body(br#"{"id": "e", "tracking_number": "T", "status": "lost"}"#).unwrap_err().status(), 400);
        let e = parse_body(br#"{"id": " ", "tracking_number": "T", "status": "shipped"}"#).unwrap_err();
        assert_eq!(e.field_errors()[0].field, "id");
        let e = parse_body(br#"{"id": "e", "tracking_number": "T", "status": "label_created"}"#).unwrap_err();
        assert_eq!(e.field_errors()[0].field, "status");
    }
}
