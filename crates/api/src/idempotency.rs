//! `Idempotency-Key` on POST: the first response is stored and replayed to retries of the same
//! request; a key reused for a different request is refused; a retry while the first is still
//! running gets a 409. Server errors are not stored, so the client can retry them.

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use comptoir_contracts::identity::Principal;
use comptoir_kernel::{Error, time};
use comptoir_storage::{Db, Migrations, Row, db_error, query};
use sha2::{Digest, Sha256};

use crate::problem::ApiError;
use crate::state::ApiState;

pub const IDEMPOTENCY_HEADER: HeaderName = HeaderName::from_static("idempotency-key");
pub const REPLAYED_HEADER: HeaderName = HeaderName::from_static("idempotency-replayed");

pub const MIGRATIONS: Migrations = Migrations {
    sqlite: &[(1, "idempotency", include_str!("../migrations/sqlite/0001_idempotency.sql"))],
    postgres: &[(1, "idempotency", include_str!("../migrations/postgres/0001_idempotency.sql"))],
};

/// Keys are forgotten after a day.
const KEEP: chrono::TimeDelta = chrono::TimeDelta::hours(24);

#[derive(Clone)]
pub struct IdempotencyStore {
    db: Db,
}

enum Claim {
    /// First time: run the request.
    New,
    Replay {
        status: u16,
        content_type: Option<String>,
        body: String,
    },
    InProgress,
    Mismatch,
}

impl IdempotencyStore {
    pub fn new(db: Db) -> Self {
        IdempotencyStore { db }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    async fn claim(&self, scope_key: &str, request_hash: &str) -> Result<Claim, Error> {
        let now = time::now();
        let mut uow = self.db.begin().await?;
        query("DELETE FROM idempotency_keys WHERE created_at < $1")
            .bind(time::to_db(&(now - KEEP)))
            .execute(&mut *uow)
            .await
            .map_err(db_error)?;
        // ON CONFLICT rather than catching the duplicate-key error: on PostgreSQL a failed
        // statement aborts the whole transaction.
        let inserted = query(
            "INSERT INTO idempotency_keys (scope_key, request_hash, completed, created_at) VALUES ($1, $2, FALSE, $3) \
             ON CONFLICT (scope_key) DO NOTHING",
        )
        .bind(scope_key)
        .bind(request_hash)
        .bind(time::to_db(&now))
        .execute(&mut *uow)
        .await
        .map_err(db_error)?;
        let claim = if inserted.rows_affected() == 1 {
            Claim::New
        } else {
            let row = query(
                "SELECT request_hash, CAST(completed AS INTEGER) AS completed, status, content_type, body \
                 FROM idempotency_keys WHERE scope_key = $1",
            )
            .bind(scope_key)
            .fetch_one(&mut *uow)
            .await
            .map_err(db_error)?;
            let stored_hash: String = row.try_get("request_hash").map_err(db_error)?;
            let completed = comptoir_storage::row::flag(&row, "completed")?;
            if stored_hash != request_hash {
                Claim::Mismatch
            } else if !completed {
                Claim::InProgress
            } else {
                Claim::Replay {
                    status: row.try_get::<i64, _>("status").map_err(db_error)? as u16,
                    content_type: row.try_get("content_type").map_err(db_error)?,
                    body: row.try_get("body").map_err(db_error)?,
                }
            }
        };
        uow.commit().await?;
        Ok(claim)
    }

    async fn complete(
        &self,
        scope_key: &str,
        status: u16,
        content_type: Option<&str>,
        body: &str,
    ) -> Result<(), Error> {
        let mut uow = self.db.begin().await?;
        query("UPDATE idempotency_keys SET completed = TRUE, status = $1, content_type = $2, body = $3 WHERE scope_key = $4")
            .bind(status as i64)
            .bind(content_type)
            .bind(body)
            .bind(scope_key)
            .execute(&mut *uow)
            .await
            .map_err(db_error)?;
        uow.commit().await
    }

    async fn forget(&self, scope_key: &str) -> Result<(), Error> {
        let mut uow = self.db.begin().await?;
        query("DELETE FROM idempotency_keys WHERE scope_key = $1")
            .bind(scope_key)
            .execute(&mut *uow)
            .await
            .map_err(db_error)?;
        uow.commit().await
    }
}

pub async fn idempotency(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST || !req.headers().contains_key(&IDEMPOTENCY_HEADER) {
        return next.run(req).await;
    }
    match run_idempotent(state, req, next).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn run_idempotent(state: ApiState, req: Request, next: Next) -> Result<Response, ApiError> {
    let key = req
        .headers()
        .get(&IDEMPOTENCY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 255)
        .ok_or_else(|| ApiError(Error::bad_request("Idempotency-Key must be 1 to 255 visible ASCII characters")))?
        .to_string();
    let caller = caller_scope(&state, request_head(&req)?).await?;
    let scope_key = format!("{caller} {} {} {key}", req.method(), req.uri().path());

    let (parts, body) = req.into_parts();
    let bytes = to_bytes(body, state.settings.body_limit)
        .await
        .map_err(|_| ApiError(Error::PayloadTooLarge("the request body is too large".into())))?;
    let request_hash = hex::encode(Sha256::digest(&bytes));

    match state.idempotency.claim(&scope_key, &request_hash).await? {
        Claim::Mismatch => Err(ApiError(Error::Validation {
            message: "Idempotency-Key was already used for a different request".into(),
            errors: vec![comptoir_kernel::FieldError {
                field: "Idempotency-Key".into(),
                message: "was already used for a different request".into(),
            }],
        })),
        Claim::InProgress => Err(ApiError(Error::conflict(
            "idempotency-in-progress",
            "a request with this Idempotency-Key is still being processed; retry shortly",
        ))),
        Claim::Replay { status, content_type, body } => {
            let mut response = Response::new(Body::from(body));
            *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            if let Some(ct) = content_type.and_then(|c| HeaderValue::from_str(&c).ok()) {
                response.headers_mut().insert(header::CONTENT_TYPE, ct);
            }
            response.headers_mut().insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
            Ok(response)
        }
        Claim::New => {
            let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
            let (parts, body) = response.into_parts();
            let bytes: Bytes = to_bytes(body, usize::MAX).await.unwrap_or_default();
            if parts.status.is_server_error() {
                state.idempotency.forget(&scope_key).await?;
            } else {
                let content_type = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
                state
                    .idempotency
                    .complete(&scope_key, parts.status.as_u16(), content_type, &String::from_utf8_lossy(&bytes))
                    .await?;
            }
            Ok(Response::from_parts(parts, Body::from(bytes)))
        }
    }
}

/// A copy of the request's head, so the caller can be resolved without holding the body.
fn request_head(req: &Request) -> Result<axum::http::request::Parts, ApiError> {
    let (mut parts, _) = Request::builder()
        .uri(req.uri().clone())
        .body(())
        .map_err(|e| ApiError(Error::internal(e.to_string())))?
        .into_parts();
    parts.headers = req.headers().clone();
    parts.extensions = req.extensions().clone();
    Ok(parts)
}

/// Keys belong to a caller: the same key from two customers names two requests.
async fn caller_scope(state: &ApiState, mut head: axum::http::request::Parts) -> Result<String, ApiError> {
    use axum::extract::FromRequestParts;
    let caller = crate::context::Caller::from_request_parts(&mut head, state).await?;
    Ok(match caller.principal {
        None => "anonymous".to_string(),
        Some(Principal::Customer { id, .. }) => format!("customer:{id}"),
        Some(Principal::Staff { id, .. }) => format!("staff:{id}"),
        Some(Principal::App { key_id, .. }) => format!("app:{key_id}"),
    })
}
