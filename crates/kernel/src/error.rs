//! One error vocabulary for every port. Each kind maps to one HTTP status (and later one gRPC code),
//! so that REST, gRPC and in-process callers agree on what went wrong.

use serde::Serialize;
use utoipa::ToSchema;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A problem with one input field, named by its JSON path (`lines[0].quantity`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request could not be read at all (malformed JSON, wrong content type).
    #[error("{message}")]
    BadRequest { message: String, errors: Vec<FieldError> },
    /// The request was readable but a value breaks a rule.
    #[error("{message}")]
    Validation { message: String, errors: Vec<FieldError> },
    #[error("{resource} {id} not found")]
    NotFound { resource: &'static str, id: String },
    /// The request conflicts with the current state (duplicate email, not enough stock, ...).
    #[error("{message}")]
    Conflict { code: &'static str, message: String, errors: Vec<FieldError> },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    /// A payment was declined; the message says why in words a customer can read.
    #[error("{0}")]
    PaymentDeclined(String),
    /// Too many requests from one client; it may try again after `retry_after_secs`.
    #[error("{message}")]
    RateLimited { message: String, retry_after_secs: u64 },
    /// A dependency (database, remote service) cannot answer now; the caller may retry.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an unexpected failure. The message is logged, never shown to clients.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        let message = message.into();
        let field = field.into();
        Error::Validation { message: format!("{field}: {message}"), errors: vec![FieldError { field, message }] }
    }

    /// Several field problems found at once, reported together.
    pub fn validation_many(errors: Vec<FieldError>) -> Self {
        let message = match errors.as_slice() {
            [one] => format!("{}: {}", one.field, one.message),
            _ => format!("{} fields are invalid", errors.len()),
        };
        Error::Validation { message, errors }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Error::BadRequest { message: message.into(), errors: vec![] }
    }

    pub fn not_found(resource: &'static str, id: impl ToString) -> Self {
        Error::NotFound { resource, id: id.to_string() }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Error::Conflict { code, message: message.into(), errors: vec![] }
    }

    /// A conflict caused by one field's value (a duplicate email, a quantity above stock).
    pub fn conflict_on(code: &'static str, field: impl Into<String>, message: impl Into<String>) -> Self {
        let message = message.into();
        Error::Conflict { code, errors: vec![FieldError { field: field.into(), message: message.clone() }], message }
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Error::Unauthorized(message.into())
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Error::Forbidden(message.into())
    }

    pub fn rate_limited(message: impl Into<String>, retry_after_secs: u64) -> Self {
        Error::RateLimited { message: message.into(), retry_after_secs }
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Error::Unavailable(message.into())
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Error::Internal(message.into())
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> u16 {
        match self {
            Error::BadRequest { .. } => 400,
            Error::Validation { .. } => 422,
            Error::NotFound { .. } => 404,
            Error::Conflict { .. } => 409,
            Error::Unauthorized(_) => 401,
            Error::Forbidden(_) => 403,
            Error::PayloadTooLarge(_) => 413,
            Error::PaymentDeclined(_) => 402,
            Error::RateLimited { .. } => 429,
            Error::Unavailable(_) => 503,
            Error::Internal(_) => 500,
        }
    }

    /// A stable machine-readable code, used as the last segment of the problem `type`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::BadRequest { .. } => "bad-request",
            Error::Validation { .. } => "validation",
            Error::NotFound { .. } => "not-found",
            Error::Conflict { code, .. } => code,
            Error::Unauthorized(_) => "unauthorized",
            Error::Forbidden(_) => "forbidden",
            Error::PayloadTooLarge(_) => "payload-too-large",
            Error::PaymentDeclined(_) => "payment-declined",
            Error::RateLimited { .. } => "rate-limited",
            Error::Unavailable(_) => "unavailable",
            Error::Internal(_) => "internal",
        }
    }

    pub fn field_errors(&self) -> &[FieldError] {
        match self {
            Error::BadRequest { errors, .. } | Error::Validation { errors, .. } | Error::Conflict { errors, .. } => {
                errors
            }
            _ => &[],
        }
    }

    pub fn is_internal(&self) -> bool {
        matches!(self, Error::Internal(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflict_on_names_the_field() {
        let e = Error::conflict_on("duplicate-email", "email", "is already registered");
        assert_eq!(e.status(), 409);
        assert_eq!(e.code(), "duplicate-email");
        assert_eq!(e.field_errors()[0].field, "email");
    }

    #[test]
    fn many_validation_errors_are_summarised() {
        let e = Error::validation_many(vec![
            FieldError { field: "a".into(), message: "x".into() },
            FieldError { field: "b".into(), message: "y".into() },
        ]);
        assert_eq!(e.to_string(), "2 fields are invalid");
        assert_eq!(e.status(), 422);
    }
}
