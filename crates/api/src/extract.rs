//! Extractors that turn bad input into problems naming the field, instead of axum's plain-text
//! rejections.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use comptoir_kernel::{Error, FieldError};
use serde::de::DeserializeOwned;

use crate::problem::ApiError;

/// A JSON body. Malformed JSON is a 400; a value of the wrong type, a missing or an unknown field
/// is a 422 naming the field by its path (`variants[0].prices[1].amount`); an oversized body is a 413.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json =
            req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
                v.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            });
        if !is_json {
            return Err(ApiError(Error::bad_request("expected a JSON body with Content-Type: application/json")));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError(Error::PayloadTooLarge("the request body is too large".into()))
            } else {
                ApiError(Error::bad_request(format!("could not read the request body: {rejection}")))
            }
        })?;
        parse_json(&bytes).map(Json).map_err(ApiError)
    }
}

/// Deserialises JSON, naming the field at fault.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return Error::bad_request(format!("malformed JSON: {inner}"));
        }
        let message = inner.to_string();
        // An unknown field is already the last segment of the path; a missing one is not.
        let field = match field_named_in(&message) {
            Some(name) if path == "." => name.to_string(),
            Some(name) if path != name && !path.ends_with(&format!(".{name}")) => format!("{path}.{name}"),
            _ if path == "." => "body".to_string(),
            _ => path.clone(),
        };
        let message = strip_position(&message);
        Error::Validation { message: format!("{field}: {message}"), errors: vec![FieldError { field, message }] }
    })
}

/// serde names missing and unknown fields in the message (`missing field `email``), not the path.
fn field_named_in(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("missing field `").or_else(|| message.strip_prefix("unknown field `"))?;
    rest.split('`').next()
}

/// Drops serde's " at line 1 column 23" suffix, which means nothing to a client.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// Query parameters; a bad value is a 422 naming the parameter.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de).map(Query).map_err(|e| {
            let field = e.path().to_string();
            let message = e.into_inner().to_string();
            let field = field_named_in(&message).map(str::to_string).unwrap_or(if field == "." {
                "query".into()
            } else {
                field
            });
            ApiError(Error::validation(field, message))
        })
    }
}
