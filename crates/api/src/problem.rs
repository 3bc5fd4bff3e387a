//! Errors as RFC 9457 problem details (`application/problem+json`), naming the fields at fault.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use comptoir_kernel::{Error, FieldError};
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem (`https://comptoir.dev/problems/insufficient-stock`).
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The fields at fault, by JSON path.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// The error type of every handler: the shared error vocabulary, answered as a problem.
#[derive(Debug)]
pub struct ApiError(pub Error);

pub type ApiResult<T> = Result<T, ApiError>;

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = self.0;
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let detail = if e.is_internal() {
            // The cause is logged with the correlation id; clients only learn that it failed.
            tracing::error!(error = %e, "request failed");
            "An unexpected error occurred; it has been logged.".to_string()
        } else {
            e.to_string()
        };
        let mut response = problem_response(status, e.code(), detail, e.field_errors().to_vec());
        if let Error::RateLimited { retry_after_secs, .. } = &e {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
        }
        response
    }
}

pub(crate) fn problem_response(status: StatusCode, code: &str, detail: String, errors: Vec<FieldError>) -> Response {
    let problem = Problem {
        problem_type: format!("https://comptoir.dev/problems/{code}"),
        title: status.canonical_reason().unwrap_or("Error").to_string(),
        status: status.as_u16(),
        detail,
        errors,
    };
    let mut response = (status, axum::Json(problem)).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

pub async fn not_found_fallback() -> ApiError {
    ApiError(Error::NotFound { resource: "route", id: "for this path".into() })
}

pub async fn method_not_allowed_fallback() -> Response {
    problem_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "this method is not allowed on this path".into(),
        vec![],
    )
}
