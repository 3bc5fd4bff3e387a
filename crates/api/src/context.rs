//! The correlation id and the caller of each request.

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use comptoir_contracts::identity::{Permission, Principal};
use comptoir_kernel::context::{is_valid_correlation_id, new_correlation_id};
use comptoir_kernel::{Actor, Error, RequestContext};
use tracing::Instrument;
use uuid::Uuid;

use crate::problem::ApiError;
use crate::state::ApiState;

pub const CORRELATION_HEADER: HeaderName = HeaderName::from_static("x-correlation-id");
pub const API_KEY_HEADER: HeaderName = HeaderName::from_static("x-api-key");

#[derive(Debug, Clone)]
pub struct CorrelationId(pub String);

/// Accepts a well-formed `X-Correlation-Id` or makes one, runs the request inside a span carrying
/// it (so every log line has it) and continuing the caller's trace (`traceparent`), and echoes
/// it on the response.
pub async fn correlation(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(&CORRELATION_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_valid_correlation_id(v))
        .map(str::to_string)
        .unwrap_or_else(new_correlation_id);
    req.extensions_mut().insert(CorrelationId(id.clone()));
    // Named after the route once routing has matched it (`observability::track_requests`).
    let span = tracing::info_span!("request",
        otel.name = %req.method(),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        correlation_id = %id,
        method = %req.method(),
        path = %req.uri().path(),
        http.route = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
    );
    let headers = req.headers();
    comptoir_telemetry::propagation::continue_from(&span, |name| {
        headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
    });
    let mut response = next.run(req).instrument(span.clone()).await;
    span.record("http.response.status_code", response.status().as_u16());
    if response.status().is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(CORRELATION_HEADER, value);
    }
    response
}

/// Who is calling, if anyone, with the request context to pass to ports.
///
/// Credentials are optional here; a present but invalid credential is always a 401, so a client
/// with a forged or revoked token never silently falls back to anonymous access.
pub struct Caller {
    pub ctx: RequestContext,
    pub principal: Option<Principal>,
}

impl Caller {
    /// The principal, or 401 when the request carries no credentials.
    pub fn principal(&self) -> Result<&Principal, ApiError> {
        self.principal.as_ref().ok_or_else(|| ApiError(Error::unauthorized("authentication required")))
    }

    /// 401 without credentials, 403 without the permission.
    pub fn require(&self, permission: Permission) -> Result<&Principal, ApiError> {
        let principal = self.principal()?;
        principal.require(permission)?;
        Ok(principal)
    }

    /// The calling customer's id; 401 anonymous, 403 for staff and apps.
    pub fn customer_id(&self) -> Result<Uuid, ApiError> {
        self.principal()?
            .customer_id()
            .ok_or_else(|| ApiError(Error::forbidden("this endpoint is for customer accounts")))
    }

    pub fn session_id(&self) -> Result<Uuid, ApiError> {
        match self.principal()? {
            Principal::Customer { session_id, .. } | Principal::Staff { session_id, .. } => Ok(*session_id),
            Principal::App { .. } => Err(ApiError(Error::forbidden("API keys have no session"))),
        }
    }
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Self::Rejection> {
        let correlation_id =
            parts.extensions.get::<CorrelationId>().map(|c| c.0.clone()).unwrap_or_else(new_correlation_id);
        let principal = match credentials(&parts.headers)? {
            None => None,
            Some(Credential::Bearer(token)) => Some(state.authenticator.bearer(&token).await?),
            Some(Credential::ApiKey(key)) => Some(state.authenticator.api_key(&key).await?),
        };
        if let Some(principal) = &principal {
            if let Some(scope) = parts.extensions.get::<crate::audit::AuditScope>() {
                scope.caller(principal);
            }
            state.rate_limiter.check_principal(principal)?;
        }
        let actor = principal
            .as_ref()
            .map(Principal::actor)
            .unwrap_or(Actor { id: None, kind: comptoir_kernel::ActorType::User });
        Ok(Caller { ctx: RequestContext::new(correlation_id, actor), principal })
    }
}

enum Credential {
    Bearer(String),
    ApiKey(String),
}

fn credentials(headers: &HeaderMap) -> Result<Option<Credential>, ApiError> {
    if let Some(value) = headers.get(axum::http::header::AUTHORIZATION) {
        let value = value.to_str().map_err(|_| ApiError(Error::unauthorized("malformed Authorization header")))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError(Error::unauthorized("the Authorization header must be `Bearer <token>`")))?;
        return Ok(Some(Credential::Bearer(token.to_string())));
    }
    if let Some(value) = headers.get(&API_KEY_HEADER) {
        let key = value.to_str().map_err(|_| ApiError(Error::unauthorized("malformed X-Api-Key header")))?;
        return Ok(Some(Credential::ApiKey(key.trim().to_string())));
    }
    Ok(None)
}

/// Who the request's credentials name, if they are valid; for layers that only need to know
/// (the handler's [`Caller`] still authenticates and reports bad credentials as 401).
pub(crate) async fn principal_of(state: &ApiState, headers: &HeaderMap) -> Option<Principal> {
    match credentials(headers).ok()?? {
        Credential::Bearer(token) => state.authenticator.bearer(&token).await.ok(),
        Credential::ApiKey(key) => state.authenticator.api_key(&key).await.ok(),
    }
}

/// Parses an id from the path; a malformed id names no resource, so it is a 404 like an unknown one.
pub fn path_id(resource: &'static str, value: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(value).map_err(|_| ApiError(Error::not_found(resource, value)))
}
