//! Back office: stock locations, receiving and adjusting stock, movements, thresholds and
//! reservations (which the checkout saga makes; exposed for operators and integrations).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use comptoir_contracts::identity::Permission;
use comptoir_contracts::inventory::{
    AdjustStock, Location, Movement, MovementFilter, NewLocation, ReceiveStock, Reservation, ReserveStock, SkuStock,
};
use comptoir_kernel::{Page, PageRequest};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::context::{Caller, path_id};
use crate::extract::{Json, Query};
use crate::problem::{ApiResult, Problem};
use crate::state::ApiState;

pub fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_locations, create_location))
        .routes(routes!(receive))
        .routes(routes!(adjust))
        .routes(routes!(stock))
        .routes(routes!(set_threshold))
        .routes(routes!(movements))
        .routes(routes!(reserve))
        .routes(routes!(get_reservation))
        .routes(routes!(commit_reservation))
        .routes(routes!(release_reservation))
}

#[utoipa::path(get, path = "/admin/locations", tag = "admin: inventory", security(("bearer" = []), ("api_key" = [])), params(PageRequest),
    responses((status = 200, body = Page<Location>), (status = 403, body = Problem)))]
async fn list_locations(
    State(state): State<ApiState>,
    caller: Caller,
    Query(page): Query<PageRequest>,
) -> ApiResult<axum::Json<Page<Location>>> {
    caller.require(Permission::InventoryRead)?;
    page.validate()?;
    Ok(axum::Json(state.inventory.list_locations(&caller.ctx, page).await?))
}

#[utoipa::path(post, path = "/admin/locations", tag = "admin: inventory", security(("bearer" = []), ("api_key" = [])), request_body = NewLocation,
    responses((status = 201, body = Location), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_location(
    State(state): State<ApiState>,
    caller: Caller,
    Json(input): Json<NewLocation>,
) -> ApiResult<(StatusCode, axum::Json<Location>)> {
    caller.require(Permission::InventoryWrite)?;
    Ok((StatusCode::CREATED, axum::Json(state.inventory.create_location(&caller.ctx, input).await?)))
}

#[utoipa::path(post, path = "/admin/stock/receive", tag = "admin: inventory", security(("bearer" = []), ("api_key" = [])), request_body = ReceiveStock,
    responses((status = 200, body = SkuStock), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn receive(
    State(state): State<ApiState>,
    caller: Caller,
    Json(input): Json<ReceiveStock>,
) -> ApiResult<axum::Json<SkuStock>> {
    caller.require(Permission::InventoryWrite)?;
    Ok(axum::Json(state.inventory.receive(&caller.ctx, input).await?))
}

#[utoipa::path(post, path = "/admin/stock/adjust", tag = "admin: inventory", security(("bearer" = []), ("api_key" = [])), request_body = AdjustStock,
    responses((status = 200, body = SkuStock), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem, description = "Would go below zero or below reserved units"), (status = 422, body = Problem)))]
async fn adjust(
    State(state): State<ApiState>,
    caller: Caller,
    Json(input): Json<AdjustStock>,
) -> ApiResult<axum::Json<SkuStock>> {
    caller.require(Permission::InventoryWrite)?;
    Ok(axum::Json(state.inventory.adjust(&caller.ctx, input).await?))
}

#[utoipa::path(get, path = "/admin/stock/{sku}", tag = "admin: inventory", security(("bearer" = []), ("api_key" = [])), params(("sku" = String, Path)),
    responses((status = 200, body = SkuStock), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn stock(
    State(state): State<ApiState>,
    caller: Caller,
    Path(sku): Path<String>,
) -> ApiResult<axum::Json<SkuStock>> {
    caller.require(Permission::InventoryRead)?;
    Ok(axum::Json(state.inventory.stock(&caller.ctx, &sku).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ThresholdInput {
    /// `null` removes the threshold.
    threshold: Option<i64>,
}

#[utoipa::path(put, path = "/admin/stock/{sku}/threshold", tag = "admin: inventory", security(("bearer" = []), ("api_key" = [])),
    params(("sku" = String, Path)), request_body = ThresholdInput,
    responses((status = 200, body = SkuStock), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn set_threshold(
    State(state): State<ApiState>,
    caller: Caller,
    Path(sku): Path<String>,
    Json(input): Json<ThresholdInput>,
) -> ApiResult<axum::Json<SkuStock>> {
    caller.require(Permission::InventoryWrite)?;
    Ok(axum::Json(state.inventory.set_low_stock_threshold(&caller.ctx, &sku, input.threshold).await?))
}

#[utoipa::path(get, path = "/admin/stock-movements", tag = "admin: inventory", security(("bearer" = []), ("api_key" = [])),
    params(MovementFilter, PageRequest), responses((status = 200, body = Page<Movement>), (status = 403, body = Problem)))]
async fn movements(
    State(state): State<ApiState>,
    caller: Caller,
    Query(filter): Query<MovementFilter>,
    Query(page): Query<PageRequest>,
) -> ApiResult<axum::Json<Page<Movement>>> {
    caller.require(Permission::InventoryRead)?;
    page.validate()?;
    Ok(axum::Json(state.inventory.movements(&caller.ctx, filter, page).await?))
}

#[utoipa::path(post, path = "/admin/reservations", tag = "admin: inventory", security(("bearer" = []), ("api_key" = [])), request_body = ReserveStock,
    responses((status = 201, body = Reservation), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem, description = "Not enough stock; nothing was reserved"), (status = 422, body = Problem)))]
async fn reserve(
    State(state): State<ApiState>,
    caller: Caller,
    Json(input): Json<ReserveStock>,
) -> ApiResult<(StatusCode, axum::Json<Reservation>)> {
    caller.require(Permission::InventoryWrite)?;
    Ok((StatusCode::CREATED, axum::Json(state.inventory.reserve(&caller.ctx, input).await?)))
}

#[utoipa::path(get, path = "/admin/reservations/{reservation_id}", tag = "admin: inventory", security(("bearer" = []), ("api_key" = [])),
    params(("reservation_id" = uuid::Uuid, Path)),
    responses((status = 200, body = Reservation), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_reservation(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Reservation>> {
    caller.require(Permission::InventoryRead)?;
    let id = path_id("reservation", &id)?;
    Ok(axum::Json(state.inventory.get_reservation(&caller.ctx, id).await?))
}

#[utoipa::path(post, path = "/admin/reservations/{reservation_id}/commit", tag = "admin: inventory", security(("bearer" = []), ("api_key" = [])),
    params(("reservation_id" = uuid::Uuid, Path)),
    responses((status = 200, body = Reservation), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn commit_reservation(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Reservation>> {
    caller.require(Permission::InventoryWrite)?;
    let id = path_id("reservation", &id)?;
    Ok(axum::Json(state.inventory.commit_reservation(&caller.ctx, id).await?))
}

#[utoipa::path(post, path = "/admin/reservations/{reservation_id}/release", tag = "admin: inventory", security(("bearer" = []), ("api_key" = [])),
    params(("reservation_id" = uuid::Uuid, Path)),
    responses((status = 200, body = Reservation), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn release_reservation(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Reservation>> {
    caller.require(Permission::InventoryWrite)?;
    let id = path_id("reservation", &id)?;
    Ok(axum::Json(state.inventory.release_reservation(&caller.ctx, id).await?))
}
