//! Back office: events that a consumer gave up on, listed, replayed and purged; each module's
//! outbox backlog.

use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use comptoir_contracts::identity::Permission;
use comptoir_eventbus::{Filed, ModuleOutbox};
use comptoir_kernel::{Page, PageRequest};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::context::{Caller, path_id};
use crate::extract::Query;
use crate::problem::{ApiResult, Problem};
use crate::state::ApiState;

pub fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_dead_letters))
        .routes(routes!(get_dead_letter, purge_dead_letter))
        .routes(routes!(replay_dead_letter))
        .routes(routes!(outbox_backlog))
}

#[derive(Debug, Serialize, ToSchema)]
struct DeadLetterView {
    id: Uuid,
    /// The module database holding it.
    module: String,
    consumer: String,
    event_id: Uuid,
    event_type: String,
    error: String,
    attempts: i64,
    failed_at: DateTime<Utc>,
    /// The whole event envelope.
    #[schema(value_type = Object)]
    event: serde_json::Value,
}

impl From<Filed> for DeadLetterView {
    fn from(f: Filed) -> Self {
        let l = f.letter;
        DeadLetterView {
            id: l.id,
            module: f.module.to_string(),
            consumer: l.consumer,
            event_id: l.event.id,
            event_type: l.event.event_type.clone(),
            error: l.error,
            attempts: l.attempts,
            failed_at: l.failed_at,
            event: serde_json::to_value(&l.event).unwrap_or_default(),
        }
    }
}

#[utoipa::path(get, path = "/admin/dead-letters", tag = "admin: operations", security(("bearer" = [])), params(PageRequest),
    responses((status = 200, body = Page<DeadLetterView>), (status = 403, body = Problem)))]
async fn list_dead_letters(
    State(state): State<ApiState>,
    caller: Caller,
    Query(page): Query<PageRequest>,
) -> ApiResult<axum::Json<Page<DeadLetterView>>> {
    caller.require(Permission::EventsManage)?;
    page.validate()?;
    Ok(axum::Json(state.dead_letters.list(page).await?.map(DeadLetterView::from)))
}

#[utoipa::path(get, path = "/admin/dead-letters/{dead_letter_id}", tag = "admin: operations", security(("bearer" = [])),
    params(("dead_letter_id" = Uuid, Path)),
    responses((status = 200, body = DeadLetterView), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_dead_letter(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<DeadLetterView>> {
    caller.require(Permission::EventsManage)?;
    let id = path_id("dead letter", &id)?;
    Ok(axum::Json(state.dead_letters.get(id).await?.into()))
}

#[utoipa::path(post, path = "/admin/dead-letters/{dead_letter_id}/replay", tag = "admin: operations", security(("bearer" = [])),
    params(("dead_letter_id" = Uuid, Path)),
    responses((status = 204, description = "Handled; the dead letter is gone"), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem, description = "The consumer failed again; the dead letter is kept")))]
async fn replay_dead_letter(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::http::StatusCode> {
    caller.require(Permission::EventsManage)?;
    let id = path_id("dead letter", &id)?;
    state.dead_letters.replay(id).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/admin/dead-letters/{dead_letter_id}", tag = "admin: operations", security(("bearer" = [])),
    params(("dead_letter_id" = Uuid, Path)),
    responses((status = 204, description = "Deleted without replaying its event"), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn purge_dead_letter(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::http::StatusCode> {
    caller.require(Permission::EventsManage)?;
    let id = path_id("dead letter", &id)?;
    state.dead_letters.purge(id).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// The outbox of one module database.
#[derive(Debug, Serialize, ToSchema)]
struct OutboxView {
    /// The module (or `api`, the API's own database).
    module: String,
    /// Events written but not yet published to the bus.
    pending: u64,
    /// When the oldest pending event was written; null when none is pending.
    oldest_pending_at: Option<DateTime<Utc>>,
    /// How long the oldest pending event has waited, in seconds; null when none is pending.
    oldest_pending_age_secs: Option<i64>,
    /// Published events kept for inspection until the relay prunes them.
    published_kept: u64,
}

impl From<ModuleOutbox> for OutboxView {
    fn from(m: ModuleOutbox) -> Self {
        let age = m.status.oldest_pending_at.map(|at| (Utc::now() - at).num_seconds().max(0));
        OutboxView {
            module: m.module,
            pending: m.status.pending,
            oldest_pending_at: m.status.oldest_pending_at,
            oldest_pending_age_secs: age,
            published_kept: m.status.published_kept,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
struct OutboxBacklog {
    /// One entry per module database, by module name.
    modules: Vec<OutboxView>,
}

#[utoipa::path(get, path = "/admin/outbox", tag = "admin: operations", security(("bearer" = [])),
    responses((status = 200, body = OutboxBacklog), (status = 403, body = Problem)))]
async fn outbox_backlog(State(state): State<ApiState>, caller: Caller) -> ApiResult<axum::Json<OutboxBacklog>> {
    caller.require(Permission::EventsManage)?;
    let modules = state.dead_letters.outboxes().await?.into_iter().map(OutboxView::from).collect();
    Ok(axum::Json(OutboxBacklog { modules }))
}
