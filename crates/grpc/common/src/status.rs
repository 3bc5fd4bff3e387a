//! Errors cross the wire as a gRPC status whose details hold a `comptoir.common.v1.ErrorDetail`,
//! so the caller gets back the very error (kind, code, field errors) the module returned and the
//! REST API answers the same problem in both topologies.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

use comptoir_kernel::{Error, FieldError};
use prost::Message;
use tonic::{Code, Status};

use crate::pb;

pub fn to_status(error: Error) -> Status {
    let code = match &error {
        Error::BadRequest { .. } | Error::Validation { .. } => Code::InvalidArgument,
        Error::NotFound { .. } => Code::NotFound,
        Error::Conflict { .. } | Error::PaymentDeclined(_) => Code::FailedPrecondition,
        Error::Unauthorized(_) => Code::Unauthenticated,
        Error::Forbidden(_) => Code::PermissionDenied,
        Error::PayloadTooLarge(_) => Code::OutOfRange,
        Error::RateLimited { .. } => Code::ResourceExhausted,
        Error::Unavailable(_) => Code::Unavailable,
        Error::Internal(_) => Code::Internal,
    };
    let (kind, code_or_resource, id) = match &error {
        Error::BadRequest { .. } => ("bad_request", "", String::new()),
        Error::Validation { .. } => ("validation", "", String::new()),
        Error::NotFound { resource, id } => ("not_found", *resource, id.clone()),
        Error::Conflict { code, .. } => ("conflict", *code, String::new()),
        Error::Unauthorized(_) => ("unauthorized", "", String::new()),
        Error::Forbidden(_) => ("forbidden", "", String::new()),
        Error::PayloadTooLarge(_) => ("payload_too_large", "", String::new()),
        Error::PaymentDeclined(_) => ("payment_declined", "", String::new()),
        Error::RateLimited { retry_after_secs, .. } => ("rate_limited", "", retry_after_secs.to_string()),
        Error::Unavailable(_) => ("unavailable", "", String::new()),
        Error::Internal(_) => ("internal", "", String::new()),
    };
    let message = match &error {
        Error::Internal(m) => m.clone(),
        other => other.to_string(),
    };
    let detail = pb::ErrorDetail {
        kind: kind.into(),
        code: code_or_resource.into(),
        message: message.clone(),
        id,
        errors: error
            .field_errors()
            .iter()
            .map(|e| pb::FieldError { field: e.field.clone(), message: e.message.clone() })
            .collect(),
    };
    Status::with_details(code, message, detail.encode_to_vec().into())
}

/// The error a status stands for. A status without Comptoir's detail comes from the transport
/// (refused connection, deadline, reset): the service is unavailable.
pub fn from_status(service: &str, status: &Status) -> Error {
    match pb::ErrorDetail::decode(status.details()) {
        Ok(detail) if !detail.kind.is_empty() => from_detail(detail),
        _ => transport_error(service, status),
    }
}

/// Whether the status came from the service itself (it answered) rather than from the network.
pub fn is_answer(status: &Status) -> bool {
    pb::ErrorDetail::decode(status.details()).is_ok_and(|d| !d.kind.is_empty())
}

fn from_detail(detail: pb::ErrorDetail) -> Error {
    let errors: Vec<FieldError> =
        detail.errors.into_iter().map(|e| FieldError { field: e.field, message: e.message }).collect();
    let message = detail.message;
    match detail.kind.as_str() {
        "bad_request" => Error::BadRequest { message, errors },
        "validation" => Error::Validation { message, errors },
        "not_found" => Error::NotFound { resource: intern(&detail.code), id: detail.id },
        "conflict" => Error::Conflict { code: intern(&detail.code), message, errors },
        "unauthorized" => Error::Unauthorized(message),
        "forbidden" => Error::Forbidden(message),
        "payload_too_large" => Error::PayloadTooLarge(message),
        "payment_declined" => Error::PaymentDeclined(message),
        "rate_limited" => Error::RateLimited { message, retry_after_secs: detail.id.parse().unwrap_or(1) },
        "unavailable" => Error::Unavailable(message),
        _ => Error::Internal(message),
    }
}

fn transport_error(service: &str, status: &Status) -> Error {
    match status.code() {
        Code::DeadlineExceeded => Error::unavailable(format!("the {service} service did not answer in time")),
        Code::Unavailable | Code::Unknown | Code::Cancelled | Code::Aborted | Code::ResourceExhausted => {
            Error::unavailable(format!("the {service} service is unavailable: {}", status.message()))
        }
        _ => Error::internal(format!("the {service} service failed: {} ({:?})", status.message(), status.code())),
    }
}

/// Error codes and resource names are `&'static str` in the kernel; the ones that come back over
/// the wire are a small, fixed vocabulary, interned once each. A peer sending endless new codes
/// cannot grow memory without bound: past the cap they read as `unknown`.
fn intern(value: &str) -> &'static str {
    const CAP: usize = 1024;
    static SEEN: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut seen = SEEN.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(known) = seen.get(value) {
        return known;
    }
    if seen.len() >= CAP {
        return "unknown";
    }
    let leaked: &'static str = Box::leak(value.to_string().into_boxed_str());
    seen.insert(leaked);
    leaked
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(error: Error) -> Error {
        from_status("test", &to_status(error))
    }

    #[test]
    fn every_kind_comes_back_as_it_left() {
        let e = round_trip(Error::conflict_on("out-of-stock", "lines[0].quantity", "only 2 left"));
        assert_eq!((e.status(), e.code()), (409, "out-of-stock"));
        assert_eq!(e.field_errors()[0].field, "lines[0].quantity");
        assert_eq!(e.to_string(), "only 2 left");

        let e = round_trip(Error::not_found("product", "abc"));
        assert!(matches!(&e, Error::NotFound { resource: "product", id } if id == "abc"));
        assert_eq!(e.to_string(), "product abc not found");

        let e = round_trip(Error::validation("email", "is not an email"));
        assert_eq!((e.status(), e.to_string().as_str()), (422, "email: is not an email"));

        for error in [
            Error::bad_request("x"),
            Error::unauthorized("x"),
            Error::forbidden("x"),
            Error::PayloadTooLarge("x".into()),
            Error::PaymentDeclined("x".into()),
            Error::rate_limited("x", 3),
            Error::unavailable("x"),
            Error::internal("x"),
        ] {
            let status = error.status();
            let back = round_trip(error);
            assert_eq!(back.status(), status);
            assert!(back.to_string().ends_with('x'), "{back}");
        }
    }

    #[test]
    fn a_transport_failure_reads_as_the_service_being_unavailable() {
        let e = from_status("payment", &Status::unavailable("connection refused"));
        assert_eq!(e.status(), 503);
        assert!(e.to_string().contains("payment service is unavailable"), "{e}");
        let e = from_status("payment", &Status::deadline_exceeded("late"));
        assert_eq!(e.status(), 503);
        assert!(!is_answer(&Status::unavailable("x")));
        assert!(is_answer(&to_status(Error::unavailable("db down"))));
    }
}
