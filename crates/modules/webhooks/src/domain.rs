//! Webhook rules without I/O: what a subscription may hold, secrets, signatures, the payload, the
//! retry schedule and when a failing subscription is disabled.

use std::net::IpAddr;
use std::time::Duration;

use comptoir_eventbus::pattern;
use comptoir_kernel::validate::Problems;
use comptoir_kernel::{Error, EventEnvelope, EventMetadata, Result, time::Timestamp};
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use uuid::Uuid;

pub const SECRET_PREFIX: &str = "whsec_";
pub const MAX_URL_LENGTH: usize = 2048;
pub const MAX_PATTERNS: usize = 50;
pub const MAX_DESCRIPTION: usize = 500;
/// How much of an endpoint's answer is kept with each attempt.
pub const MAX_RESPONSE_BODY: usize = 1024;

/// Which endpoints may be subscribed.
#[derive(Debug, Clone, Copy)]
pub struct UrlPolicy {
    pub allow_http: bool,
    pub allow_private_hosts: bool,
}

/// An endpoint URL: http(s) with a host, no credentials, no fragment. Plain http and hosts on a
/// loopback or private network are refused unless the policy allows them (they expose internal
/// services to whoever can create a subscription).
pub fn url(field: &str, value: &str, policy: UrlPolicy) -> Result<String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(Error::validation(field, "must not be empty"));
    }
    if value.len() > MAX_URL_LENGTH {
        return Err(Error::validation(field, format!("must be at most {MAX_URL_LENGTH} characters")));
    }
    let parsed = url::Url::parse(value).map_err(|e| Error::validation(field, format!("is not a valid URL ({e})")))?;
    match parsed.scheme() {
        "https" => {}
        "http" if policy.allow_http => {}
        "http" => return Err(Error::validation(field, "must use https")),
        _ => return Err(Error::validation(field, "must be an http or https URL")),
    }
    let Some(host) = parsed.host_str().filter(|h| !h.is_empty()) else {
        return Err(Error::validation(field, "must name a host"));
    };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(Error::validation(field, "must not contain credentials"));
    }
    if parsed.fragment().is_some() {
        return Err(Error::validation(field, "must not contain a fragment (#...)"));
    }
    if !policy.allow_private_hosts && is_private_host(host) {
        return Err(Error::validation(field, "must not point to a loopback or private network address"));
    }
    Ok(parsed.to_string())
}

/// `localhost`, or an IP literal that is not a public address.
fn is_private_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
    if host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    host.parse::<IpAddr>().is_ok_and(|ip| !is_public_ip(ip))
}

/// Whether an address is on the public internet: not loopback, private, link-local, shared
/// (carrier-grade NAT), documentation, multicast or unspecified.
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_unspecified()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_ip(IpAddr::V4(v4)),
            None => {
                let first = v6.segments()[0];
                !(v6.is_loopback()
                    || v6.is_unspecified()
                    || v6.is_multicast()
                    || (first & 0xfe00) == 0xfc00
                    || (first & 0xffc0) == 0xfe80)
            }
        },
    }
}

/// Event type patterns with the bus's syntax: at least one, each well formed, duplicates dropped.
pub fn patterns(field: &str, values: &[String]) -> Result<Vec<String>> {
    if values.is_empty() {
        return Err(Error::validation(field, "must name at least one event pattern (`#` for every event)"));
    }
    if values.len() > MAX_PATTERNS {
        return Err(Error::validation(field, format!("must hold at most {MAX_PATTERNS} patterns")));
    }
    let mut problems = Problems::default();
    let mut kept: Vec<String> = Vec::with_capacity(values.len());
    for (i, value) in values.iter().enumerate() {
        let value = value.trim();
        if value.is_empty() || value.len() > 200 || !pattern::is_valid(value) {
            problems.add(
                format!("{field}[{i}]"),
                "must be lowercase words separated by dots, `*` for one word or `#` for any (`order.*`, `#`)",
            );
        } else if !kept.iter().any(|k| k == value) {
            kept.push(value.to_string());
        }
    }
    problems.finish(Some(kept))
}

pub fn description(field: &str, value: &str) -> Result<String> {
    let value = value.trim();
    if value.chars().count() > MAX_DESCRIPTION {
        return Err(Error::validation(field, format!("must be at most {MAX_DESCRIPTION} characters")));
    }
    Ok(value.to_string())
}

/// Whether an event of `event_type` goes to a subscription with these patterns.
pub fn wants(patterns: &[String], event_type: &str) -> bool {
    patterns.iter().any(|p| pattern::matches(p, event_type))
}

/// A new signing secret: `whsec_` and 32 random bytes in hexadecimal.
pub fn new_secret() -> String {
    format!("{SECRET_PREFIX}{}", hex::encode(rand::random::<[u8; 32]>()))
}

/// Enough of a secret to tell it apart from another, not to use it.
pub fn secret_hint(secret: &str) -> String {
    let tail: String = secret.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
    format!("{SECRET_PREFIX}…{tail}")
}

/// `hex(HMAC-SHA256(secret, "<t>.<body>"))`: the key is the whole secret string, prefix included.
pub fn sign(secret: &str, t: i64, body: &str) -> String {
    // HMAC accepts keys of any length: this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// `Comptoir-Signature`: `t=<unix seconds>,v1=<signature>`, with one `v1` per secret in use (two
/// during a rotation's grace period, the current one first).
pub fn signature_header(secrets: &[&str], t: i64, body: &str) -> String {
    let mut header = format!("t={t}");
    for secret in secrets {
        header.push_str(",v1=");
        header.push_str(&sign(secret, t, body));
    }
    header
}

/// The body POSTed: the event envelope as every bus carries it, minus the trace context (an
/// internal detail of Comptoir's tracing).
#[derive(Debug, Serialize)]
pub struct Payload<'a> {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub event_type: &'a str,
    pub version: u32,
    pub timestamp: Timestamp,
    pub source: &'a str,
    pub correlation_id: &'a str,
    pub data: &'a serde_json::Value,
    pub metadata: &'a EventMetadata,
}

impl<'a> Payload<'a> {
    pub fn of(event: &'a EventEnvelope) -> Self {
        Payload {
            id: event.id,
            event_type: &event.event_type,
            version: event.version,
            timestamp: event.timestamp,
            source: &event.source,
            correlation_id: &event.correlation_id,
            data: &event.data,
            metadata: &event.metadata,
        }
    }

    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| Error::internal(format!("webhook payload not serialisable: {e}")))
    }
}

/// The wait before each automatic retry; attempts in all are one more than the delays.
#[derive(Debug, Clone)]
pub struct RetrySchedule {
    pub delays: Vec<Duration>,
}

impl RetrySchedule {
    /// After `attempts` automatic attempts failed: the wait before the next, or `None` to give up.
    pub fn next_delay(&self, attempts: u32) -> Option<Duration> {
        (attempts >= 1).then(|| self.delays.get(attempts as usize - 1).copied()).flatten()
    }
}

/// When a failing subscription is disabled.
#[derive(Debug, Clone, Copy)]
pub struct DisablePolicy {
    /// Consecutive failed attempts; 0 never disables on the count.
    pub after_failures: u32,
    /// How long its attempts may keep failing; zero never disables on the time.
    pub after_failing_for: Duration,
}

impl DisablePolicy {
    /// Why a subscription failing `failures` times in a row since `failing_since` is disabled now,
    /// or `None` to keep it.
    pub fn reason(&self, failures: u32, failing_since: Option<Timestamp>, now: Timestamp) -> Option<String> {
        if self.after_failures > 0 && failures >= self.after_failures {
            return Some(format!("{failures} consecutive failed delivery attempts"));
        }
        let since = failing_since?;
        let limit = chrono::TimeDelta::from_std(self.after_failing_for).ok()?;
        (!self.after_failing_for.is_zero() && now - since >= limit)
            .then(|| format!("deliveries failing since {}", since.to_rfc3339()))
    }
}

/// At most [`MAX_RESPONSE_BODY`] bytes of an answer, cut on a character boundary.
pub fn truncate_body(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_RESPONSE_BODY)]).into_owned();
    // A multi-byte character cut in two decodes as U+FFFD at the end: drop it.
    if bytes.len() > MAX_RESPONSE_BODY { text.trim_end_matches('\u{FFFD}').to_string() } else { text }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: UrlPolicy = UrlPolicy { allow_http: false, allow_private_hosts: false };
    const LAX: UrlPolicy = UrlPolicy { allow_http: true, allow_private_hosts: true };

    #[test]
    fn urls_are_checked() {
        assert_eq!(
            url("url", " https://hooks.example.com/in?x=1 ", STRICT).unwrap(),
            "https://hooks.example.com/in?x=1"
        );
        let refused = [
            ("", "must not be empty"),
            ("not a url", "is not a valid URL"),
            ("ftp://example.com/", "http or https"),
            ("http://example.com/", "must use https"),
            ("https://user:pw@example.com/", "credentials"),
            ("https://example.com/#frag", "fragment"),
            ("https://127.0.0.1/", "private"),
            ("https://localhost:8443/", "private"),
            ("https://[::1]/", "private"),
            ("https://10.1.2.3/", "private"),
            ("https://169.254.169.254/latest/meta-data", "private"),
        ];
        for (value, expected) in refused {
            let e = url("url", value, STRICT).unwrap_err();
            assert_eq!(e.field_errors()[0].field, "url");
            assert!(e.to_string().contains(expected), "{value}: {e}");
        }
        assert!(url("url", "http://127.0.0.1:9000/hook", LAX).is_ok());
        assert!(url("url", "https://8.8.8.8/", STRICT).is_ok());
    }

    #[test]
    fn patterns_use_the_bus_syntax() {
        let ok = patterns("patterns", &["order.*".into(), " order.# ".into(), "#".into(), "order.*".into()]).unwrap();
        assert_eq!(ok, ["order.*", "order.#", "#"]);
        assert!(patterns("patterns", &[]).is_err());
        let e = patterns("patterns", &["ok.*".into(), "".into(), "Order.*".into(), "a..b".into()]).unwrap_err();
        let fields: Vec<_> = e.field_errors().iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["patterns[1]", "patterns[2]", "patterns[3]"]);
        assert!(!wants(&["order.*".into()], "order.order.placed"));
        assert!(wants(&["order.#".into()], "order.order.placed"));
        assert!(wants(&["#".into()], "product.item.created"));
    }

    #[test]
    fn secrets_and_signatures() {
        let secret = new_secret();
        assert!(secret.starts_with("whsec_") && secret.len() == 6 + 64, "{secret}");
        assert_ne!(secret, new_secret());
        assert_eq!(secret_hint("whsec_abcdef0123"), "whsec_…0123");
        // RFC 4231-style check against an independently computed value.
        assert_eq!(sign("key", 1, "x"), sign("key", 1, "x"));
        assert_ne!(sign("key", 1, "x"), sign("key", 2, "x"));
        let header = signature_header(&["a", "b"], 1700000000, "{}");
        let parts: Vec<_> = header.split(',').collect();
        assert_eq!(parts[0], "t=1700000000");
        assert_eq!(parts[1], format!("v1={}", sign("a", 1700000000, "{}")));
        assert_eq!(parts[2], format!("v1={}", sign("b", 1700000000, "{}")));
    }

    #[test]
    fn the_schedule_gives_up_after_its_last_delay() {
        let s = RetrySchedule { delays: vec![Duration::from_secs(30), Duration::from_secs(120)] };
        assert_eq!(s.next_delay(1), Some(Duration::from_secs(30)));
        assert_eq!(s.next_delay(2), Some(Duration::from_secs(120)));
        assert_eq!(s.next_delay(3), None);
    }

    #[test]
    fn failing_subscriptions_are_disabled_on_count_or_time() {
        let p = DisablePolicy { after_failures: 3, after_failing_for: Duration::from_secs(3600) };
        let now = comptoir_kernel::time::now();
        assert!(p.reason(2, Some(now), now).is_none());
        assert!(p.reason(3, Some(now), now).unwrap().contains("3 consecutive"));
        assert!(p.reason(1, Some(now - chrono::TimeDelta::hours(2)), now).unwrap().contains("failing since"));
        let never = DisablePolicy { after_failures: 0, after_failing_for: Duration::ZERO };
        assert!(never.reason(1000, Some(now - chrono::TimeDelta::days(30)), now).is_none());
    }

    #[test]
    fn bodies_are_truncated_on_a_character() {
        assert_eq!(truncate_body(b"ok"), "ok");
        let long = "é".repeat(1000);
        let cut = truncate_body(long.as_bytes());
        assert!(cut.len() <= MAX_RESPONSE_BODY && cut.chars().all(|c| c == 'é'));
    }
}
