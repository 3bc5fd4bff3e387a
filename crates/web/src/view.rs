//! Turning pages and failures into HTML responses, and the static files.

use askama::Template;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use comptoir_kernel::Error;

use crate::session::{FlashKind, Session};

/// Renders a page with 200.
pub fn render(page: &impl Template) -> Response {
    render_status(StatusCode::OK, page)
}

/// Renders a page with `status` (a form shown again with its errors is 422).
pub fn render_status(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(body) => (status, Html(body)).into_response(),
        Err(error) => {
            tracing::error!(%error, "a page template failed to render");
            error_page(Error::internal("a page could not be rendered"))
        }
    }
}

/// A failure a handler returns: shown as an error page with the error's status.
#[derive(Debug)]
pub struct PageError(pub Error);

impl From<Error> for PageError {
    fn from(error: Error) -> Self {
        PageError(error)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        error_page(self.0)
    }
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    title: &'a str,
    message: &'a str,
}

/// A small standalone page: a title, a sentence, a way back.
pub fn message_page(status: StatusCode, title: &str, message: &str) -> Response {
    match (MessagePage { title, message }).render() {
        Ok(body) => (status, Html(body)).into_response(),
        Err(_) => (status, format!("{title}: {message}")).into_response(),
    }
}

/// The page for a failure: what went wrong in words a visitor can act on. Server-side failures
/// say only that; their details are in the log under the request's correlation id.
pub fn error_page(error: Error) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if error.is_internal() || status.is_server_error() {
        if error.is_internal() {
            tracing::error!(%error, "a page failed");
        }
        let message = match status {
            StatusCode::SERVICE_UNAVAILABLE => {
                "Part of the shop is not answering right now. Please try again in a moment."
            }
            _ => "Something went wrong on our side. Please try again in a moment.",
        };
        return message_page(status, "Sorry", message);
    }
    let title = match status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::UNAUTHORIZED => "Please sign in",
        StatusCode::CONFLICT => "That did not work",
        _ => "That did not work",
    };
    message_page(status, title, &error.to_string())
}

pub async fn not_found() -> Response {
    message_page(StatusCode::NOT_FOUND, "Not found", "There is no page at this address.")
}

/// A redirect after a successful form post (303, so that reloading does not post again), with a
/// message for the next page.
pub fn redirect_with(session: &Session, to: &str, kind: FlashKind, text: &str) -> Response {
    let mut response = Redirect::to(to).into_response();
    crate::session::set_cookie(&mut response, &session.flash_cookie(kind, text));
    response
}

const STYLE: &str = include_str!("../static/style.css");
const HTMX: &str = include_str!("../static/htmx.min.js");

/// The stylesheet and htmx, compiled into the binary. Pages link them with a version query, so
/// they can be cached for a day.
pub async fn static_file(Path(file): Path<String>) -> Response {
    let (body, content_type) = match file.as_str() {
        "style.css" => (STYLE, "text/css; charset=utf-8"),
        "htmx.min.js" => (HTMX, "text/javascript; charset=utf-8"),
        _ => return not_found().await,
    };
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400"));
    response
}
