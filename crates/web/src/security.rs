//! Protections every page gets: security headers, and a CSRF check on every state-changing request.
//!
//! CSRF uses a double-submit token: a random value in an HTTP-only, `SameSite=Strict` cookie that
//! every form repeats in a hidden `csrf_token` field (htmx requests send it as `X-CSRF-Token`). A
//! page on another site can neither read the cookie nor guess the value, and browsers that say so
//! (`Sec-Fetch-Site: cross-site`) are refused outright. The check is a layer, so no form can forget it.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http_body_util::BodyExt;
use rand::RngCore;
use subtle::ConstantTimeEq;

use crate::WebState;
use crate::session::{cookie_value, set_cookie};
use crate::view;

pub const CSRF_COOKIE: &str = "comptoir_csrf";
pub const CSRF_FIELD: &str = "csrf_token";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The token forms of this request must carry.
#[derive(Debug, Clone)]
pub struct CsrfToken(pub String);

/// A fresh random value: 32 bytes, base64url.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn well_formed(token: &str) -> bool {
    token.len() == 43 && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Gives every visitor a CSRF token, and refuses a state-changing request whose form (or header)
/// does not repeat it.
pub async fn csrf(State(state): State<WebState>, req: Request, next: Next) -> Response {
    let existing = cookie_value(req.headers(), CSRF_COOKIE).filter(|t| well_formed(t));
    let fresh = existing.is_none();
    let token = existing.unwrap_or_else(random_token);
    let mut req = req;
    if !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        req = match checked(req, &token, state.settings.body_limit).await {
            Ok(req) => req,
            Err(response) => return response,
        };
    }
    req.extensions_mut().insert(CsrfToken(token.clone()));
    let mut response = next.run(req).await;
    if fresh {
        let cookie = cookie::Cookie::build((CSRF_COOKIE, token))
            .path("/")
            .http_only(true)
            .secure(state.settings.secure_cookies)
            .same_site(cookie::SameSite::Strict)
            .build();
        set_cookie(&mut response, &cookie);
    }
    response
}

/// The request again (its body read once and put back) if it carries the token.
async fn checked(req: Request, token: &str, limit: usize) -> Result<Request, Response> {
    let cross_site = req.headers().get("sec-fetch-site").is_some_and(|v| v.as_bytes() == b"cross-site");
    if cross_site {
        return Err(refused());
    }
    let header_token = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()).map(str::to_string);
    let (parts, body) = req.into_parts();
    let bytes = match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return Err(view::message_page(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Too much data",
                &format!("This form sent more than {} KiB. Shorten what you typed and try again.", limit / 1024),
            ));
        }
    };
    let sent = header_token.or_else(|| {
        form_urlencoded::parse(&bytes).find(|(name, _)| name == CSRF_FIELD).map(|(_, value)| value.into_owned())
    });
    match sent {
        Some(sent) if bool::from(sent.as_bytes().ct_eq(token.as_bytes())) => {
            Ok(Request::from_parts(parts, Body::from(bytes)))
        }
        _ => Err(refused()),
    }
}

fn refused() -> Response {
    view::message_page(
        StatusCode::FORBIDDEN,
        "This form has expired",
        "The form was sent without this shop's security token, or from another site. Go back, reload \
         the page and send it again.",
    )
}

/// What pages may load and who may frame them: only this origin, never framed, no inline script.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Security headers on every response; pages are never cached (they carry the visitor's session
/// and token), static files set their own caching.
pub async fn headers(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    let fixed = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::HeaderName::from_static("permissions-policy"), "camera=(), microphone=(), geolocation=(), payment=()"),
        (header::HeaderName::from_static("cross-origin-opener-policy"), "same-origin"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_well_formed() {
        let (a, b) = (random_token(), random_token());
        assert!(well_formed(&a) && well_formed(&b));
        assert_ne!(a, b);
        assert!(!well_formed("short") && !well_formed(&format!("{}!", &a[..42])));
    }
}
