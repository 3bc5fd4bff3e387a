//! The shop's settings: what the storefront shows (`GET /shop`, public) and what staff change
//! (`/admin/settings`), including maintenance mode.

use axum::extract::State;
use comptoir_contracts::admin::{SettingsUpdate, ShopSettings};
use comptoir_contracts::identity::Permission;
use comptoir_kernel::Error;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::context::Caller;
use crate::extract::Json;
use crate::problem::{ApiResult, Problem};
use crate::state::ApiState;

pub fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(shop)).routes(routes!(get_settings, update_settings))
}

/// What anyone may know of the shop.
#[derive(Debug, Serialize, ToSchema)]
struct ShopView {
    name: String,
    default_channel: String,
    default_currency: String,
    /// While true, the shop answers 503 to customers.
    maintenance_mode: bool,
    maintenance_message: String,
}

#[utoipa::path(get, path = "/shop", tag = "shop",
    responses((status = 200, body = ShopView, description = "The shop's name, default channel and currency, and whether it is closed for maintenance"),
        (status = 503, body = Problem)))]
async fn shop(State(state): State<ApiState>) -> ApiResult<axum::Json<ShopView>> {
    let settings = state
        .shop_settings
        .current()
        .await
        .ok_or_else(|| Error::unavailable("the shop's settings cannot be read right now; try again shortly"))?;
    Ok(axum::Json(ShopView {
        name: settings.shop_name.clone(),
        default_channel: settings.default_channel.clone(),
        default_currency: settings.default_currency.clone(),
        maintenance_mode: settings.maintenance_mode,
        maintenance_message: settings.maintenance_message.clone(),
    }))
}

#[utoipa::path(get, path = "/admin/settings", tag = "admin: settings", security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = ShopSettings), (status = 403, body = Problem)))]
async fn get_settings(State(state): State<ApiState>, caller: Caller) -> ApiResult<axum::Json<ShopSettings>> {
    caller.require(Permission::SettingsManage)?;
    let settings = state.admin.settings(&caller.ctx).await?;
    state.shop_settings.remember(settings.clone());
    Ok(axum::Json(settings))
}

#[utoipa::path(patch, path = "/admin/settings", tag = "admin: settings", security(("bearer" = []), ("api_key" = [])),
    request_body = SettingsUpdate,
    responses((status = 200, body = ShopSettings, description = "The settings after the change"),
        (status = 400, body = Problem, description = "The update names no setting"),
        (status = 403, body = Problem),
        (status = 409, body = Problem, description = "`expected_version` is not the current version"),
        (status = 422, body = Problem)))]
async fn update_settings(
    State(state): State<ApiState>,
    caller: Caller,
    Json(update): Json<SettingsUpdate>,
) -> ApiResult<axum::Json<ShopSettings>> {
    caller.require(Permission::SettingsManage)?;
    let settings = state.admin.update_settings(&caller.ctx, update).await?;
    // This process closes or opens the shop at once; others within their cache's lifetime.
    state.shop_settings.remember(settings.clone());
    Ok(axum::Json(settings))
}
