//! The audit log, for admins: staff actions and security events, newest first, filtered.

use axum::extract::{Path, State};
use comptoir_contracts::audit::{AuditEntry, AuditFilter};
use comptoir_contracts::identity::Permission;
use comptoir_kernel::{Page, PageRequest};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::context::{Caller, path_id};
use crate::extract::Query;
use crate::problem::{ApiResult, Problem};
use crate::state::ApiState;

pub fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(search)).routes(routes!(get_entry))
}

#[utoipa::path(get, path = "/admin/audit", tag = "admin: audit", security(("bearer" = []), ("api_key" = [])),
    params(AuditFilter, PageRequest),
    responses((status = 200, body = Page<AuditEntry>, description = "Newest first; every filter given holds"),
              (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn search(
    State(state): State<ApiState>,
    caller: Caller,
    Query(filter): Query<AuditFilter>,
    Query(page): Query<PageRequest>,
) -> ApiResult<axum::Json<Page<AuditEntry>>> {
    caller.require(Permission::AuditRead)?;
    page.validate()?;
    Ok(axum::Json(state.audit.search(&caller.ctx, filter, page).await?))
}

#[utoipa::path(get, path = "/admin/audit/{id}", tag = "admin: audit", security(("bearer" = []), ("api_key" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = AuditEntry), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_entry(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<AuditEntry>> {
    caller.require(Permission::AuditRead)?;
    let id = path_id("audit entry", &id)?;
    Ok(axum::Json(state.audit.get(&caller.ctx, id).await?))
}
