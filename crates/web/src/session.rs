//! Who is browsing: the signed-in customer (storefront) or staff member (back office), kept in
//! cookies the browser cannot read from script.
//!
//! A session is identity's token pair: the short-lived access token and the refresh token, each in
//! an HTTP-only, `SameSite=Lax` cookie (`Secure` unless configured off). When the access token has
//! expired the refresh token renews the pair on the way, so a visitor stays signed in for as long
//! as identity's refresh lifetime. The storefront and the back office use different cookies: a
//! customer's session is never a staff session.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use comptoir_api::context::CorrelationId;
use comptoir_contracts::identity::{Permission, Principal, TokenPair};
use comptoir_kernel::context::new_correlation_id;
use comptoir_kernel::{Actor, ActorType, RequestContext};
use cookie::{Cookie, SameSite};

use crate::WebState;
use crate::security::CsrfToken;

/// Which face of the shop a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum App {
    Storefront,
    BackOffice,
}

impl App {
    fn access_cookie(self) -> &'static str {
        match self {
            App::Storefront => "comptoir_session",
            App::BackOffice => "comptoir_staff_session",
        }
    }

    fn refresh_cookie(self) -> &'static str {
        match self {
            App::Storefront => "comptoir_refresh",
            App::BackOffice => "comptoir_staff_refresh",
        }
    }

    /// Whether a principal may hold a session here.
    fn admits(self, principal: &Principal) -> bool {
        matches!(
            (self, principal),
            (App::Storefront, Principal::Customer { .. }) | (App::BackOffice, Principal::Staff { .. })
        )
    }
}

/// A one-line message shown on the next page (after a redirect).
#[derive(Debug, Clone)]
pub struct Flash {
    pub kind: FlashKind,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlashKind {
    Success,
    Error,
}

impl Flash {
    pub fn class(&self) -> &'static str {
        match self.kind {
            FlashKind::Success => "flash flash-success",
            FlashKind::Error => "flash flash-error",
        }
    }
}

const FLASH_COOKIE: &str = "comptoir_flash";
pub const CART_COOKIE: &str = "comptoir_cart";

/// `<cart id>:<token>`.
fn parse_cart_cookie(value: &str) -> Option<(uuid::Uuid, String)> {
    let (id, token) = value.split_once(':')?;
    Some((id.parse().ok()?, token.to_string()))
}

/// The visitor of this request, as the session layer found them.
#[derive(Debug, Clone)]
pub struct Session {
    pub app: App,
    pub principal: Option<Principal>,
    pub ctx: RequestContext,
    pub csrf: String,
    pub flash: Option<Flash>,
    /// The storefront's anonymous cart as its cookie names it: its id and the token opening it.
    pub anonymous_cart: Option<(uuid::Uuid, String)>,
    pub secure_cookies: bool,
}

impl Session {
    pub fn customer_id(&self) -> Option<uuid::Uuid> {
        self.principal.as_ref().and_then(Principal::customer_id)
    }

    pub fn email(&self) -> Option<&str> {
        match self.principal.as_ref()? {
            Principal::Customer { email, .. } | Principal::Staff { email, .. } => Some(email),
            Principal::App { .. } => None,
        }
    }

    pub fn can(&self, permission: Permission) -> bool {
        self.principal.as_ref().is_some_and(|p| p.has(permission))
    }

    /// Cookies that start a session with `pair`.
    pub fn start_cookies(&self, pair: &TokenPair, refresh_ttl: Option<i64>) -> Vec<Cookie<'static>> {
        vec![
            self.cookie(self.app.access_cookie(), pair.access_token.clone(), None),
            self.cookie(self.app.refresh_cookie(), pair.refresh_token.clone(), refresh_ttl),
        ]
    }

    /// Cookies that end the session.
    pub fn end_cookies(&self) -> Vec<Cookie<'static>> {
        [self.app.access_cookie(), self.app.refresh_cookie()].into_iter().map(|name| self.removal(name)).collect()
    }

    /// A cookie of this app's kind: HTTP-only, Lax, Secure unless configured off.
    pub fn cookie(&self, name: &'static str, value: String, max_age_secs: Option<i64>) -> Cookie<'static> {
        let mut cookie = Cookie::build((name, value))
            .path("/")
            .http_only(true)
            .secure(self.secure_cookies)
            .same_site(SameSite::Lax)
            .build();
        if let Some(secs) = max_age_secs {
            cookie.set_max_age(cookie::time::Duration::seconds(secs));
        }
        cookie
    }

    pub fn removal(&self, name: &'static str) -> Cookie<'static> {
        let mut cookie = self.cookie(name, String::new(), None);
        cookie.make_removal();
        cookie
    }

    pub fn flash_cookie(&self, kind: FlashKind, text: &str) -> Cookie<'static> {
        let prefix = match kind {
            FlashKind::Success => "ok:",
            FlashKind::Error => "error:",
        };
        self.cookie(FLASH_COOKIE, format!("{prefix}{text}"), Some(60))
    }
}

impl FromRequestParts<WebState> for Session {
    type Rejection = crate::view::PageError;

    async fn from_request_parts(parts: &mut Parts, _: &WebState) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Session>()
            .cloned()
            .ok_or_else(|| crate::view::PageError(comptoir_kernel::Error::internal("no session layer on this route")))
    }
}

/// The value of a cookie the request carries.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse_encoded)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_string())
}

pub fn set_cookie(response: &mut Response, cookie: &Cookie<'_>) {
    if let Ok(value) = HeaderValue::from_str(&cookie.encoded().to_string()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// Finds who is browsing (renewing an expired access token on the way) and puts the [`Session`]
/// in the request; writes the renewed cookies on the response.
pub async fn load(State(state): State<WebState>, mut req: Request, next: Next) -> Response {
    if req.uri().path().starts_with("/static/") {
        return next.run(req).await;
    }
    let app = *req.extensions().get::<App>().expect("the app layer is outside the session layer");
    let correlation_id =
        req.extensions().get::<CorrelationId>().map(|c| c.0.clone()).unwrap_or_else(new_correlation_id);
    let csrf = req.extensions().get::<CsrfToken>().map(|t| t.0.clone()).unwrap_or_default();
    let headers = req.headers();
    let mut session = Session {
        app,
        principal: None,
        ctx: RequestContext::new(correlation_id.clone(), Actor { id: None, kind: ActorType::User }),
        csrf,
        flash: cookie_value(headers, FLASH_COOKIE).and_then(|v| parse_flash(&v)),
        anonymous_cart: match app {
            App::Storefront => cookie_value(headers, CART_COOKIE).and_then(|v| parse_cart_cookie(&v)),
            App::BackOffice => None,
        },
        secure_cookies: state.settings.secure_cookies,
    };
    let had_flash = session.flash.is_some();
    let mut renewed: Option<Vec<Cookie<'static>>> = None;
    let access = cookie_value(headers, app.access_cookie());
    let refresh = cookie_value(headers, app.refresh_cookie());
    if let Some(token) = access.filter(|t| !t.is_empty()) {
        session.principal = state.authenticator.bearer(&token).await.ok().filter(|p| app.admits(p));
    }
    if session.principal.is_none()
        && let Some(refresh_token) = refresh.filter(|t| !t.is_empty())
    {
        match state.identity.refresh(&session.ctx, &refresh_token).await {
            Ok(pair) => {
                session.principal = state.authenticator.bearer(&pair.access_token).await.ok().filter(|p| app.admits(p));
                renewed = Some(match session.principal {
                    Some(_) => session.start_cookies(&pair, None),
                    None => session.end_cookies(),
                });
            }
            // Revoked, expired or reused: the visitor is signed out.
            Err(_) => renewed = Some(session.end_cookies()),
        }
    }
    if let Some(principal) = &session.principal {
        session.ctx = RequestContext::new(correlation_id, principal.actor());
        if let Some(scope) = req.extensions().get::<comptoir_api::audit::AuditScope>() {
            scope.caller(principal);
        }
    }
    let ending = session.clone();
    req.extensions_mut().insert(session);
    let mut response = next.run(req).await;
    for cookie in renewed.iter().flatten() {
        set_cookie(&mut response, cookie);
    }
    let sets_flash = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .any(|v| v.as_bytes().starts_with(FLASH_COOKIE.as_bytes()));
    if had_flash && !sets_flash {
        set_cookie(&mut response, &ending.removal(FLASH_COOKIE));
    }
    response
}

fn parse_flash(value: &str) -> Option<Flash> {
    let (kind, text) = if let Some(text) = value.strip_prefix("ok:") {
        (FlashKind::Success, text)
    } else {
        (FlashKind::Error, value.strip_prefix("error:")?)
    };
    Some(Flash { kind, text: text.chars().take(300).collect() })
}
