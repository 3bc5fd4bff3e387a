//! Inbound webhooks from payment providers and carriers. The body is read raw: its signature
//! (`Comptoir-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`) is checked by
//! the module before anything is parsed or changed.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, StatusCode};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::context::Caller;
use crate::problem::{ApiResult, Problem};
use crate::state::ApiState;

pub const SIGNATURE_HEADER: HeaderName = HeaderName::from_static("comptoir-signature");

pub fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(payment_webhook)).routes(routes!(carrier_webhook))
}

fn signature(headers: &HeaderMap) -> String {
    headers.get(&SIGNATURE_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
}

#[utoipa::path(post, path = "/webhooks/payments/{provider}", tag = "webhooks", params(("provider" = String, Path), ("Comptoir-Signature" = String, Header)),
    request_body(content = String, content_type = "application/json"),
    responses((status = 204, description = "Accepted"), (status = 400, body = Problem), (status = 401, body = Problem, description = "Bad or stale signature")))]
async fn payment_webhook(
    State(state): State<ApiState>,
    caller: Caller,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<StatusCode> {
    state.payment.provider_webhook(&caller.ctx, &provider, &signature(&headers), &body).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/webhooks/carriers/{carrier}", tag = "webhooks", params(("carrier" = String, Path), ("Comptoir-Signature" = String, Header)),
    request_body(content = String, content_type = "application/json"),
    responses((status = 204, description = "Accepted"), (status = 400, body = Problem), (status = 401, body = Problem, description = "Bad or stale signature"),
              (status = 404, body = Problem, description = "Unknown tracking number")))]
async fn carrier_webhook(
    State(state): State<ApiState>,
    caller: Caller,
    Path(carrier): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<StatusCode> {
    state.shipping.carrier_webhook(&caller.ctx, &carrier, &signature(&headers), &body).await?;
    Ok(StatusCode::NO_CONTENT)
}
