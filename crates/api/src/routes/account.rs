//! The logged-in customer's own profile, addresses and cart.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use comptoir_contracts::cart::Cart;
use comptoir_contracts::identity::{Address, AddressInput, Customer};
use comptoir_contracts::notification::Preferences;
use comptoir_kernel::{Error, Page, PageRequest};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::context::{Caller, path_id};
use crate::extract::{Json, Query};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::state::ApiState;

pub fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(me))
        .routes(routes!(list_addresses, add_address))
        .routes(routes!(update_address, delete_address))
        .routes(routes!(my_cart))
        .routes(routes!(my_preferences, set_my_preferences))
}

#[utoipa::path(get, path = "/me", tag = "account", security(("bearer" = [])),
    responses((status = 200, body = Customer), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn me(State(state): State<ApiState>, caller: Caller) -> ApiResult<axum::Json<Customer>> {
    let id = caller.customer_id()?;
    Ok(axum::Json(state.identity.get_customer(&caller.ctx, id).await?))
}

#[utoipa::path(get, path = "/me/addresses", tag = "account", security(("bearer" = [])), params(PageRequest),
    responses((status = 200, body = Page<Address>), (status = 401, body = Problem)))]
async fn list_addresses(
    State(state): State<ApiState>,
    caller: Caller,
    Query(page): Query<PageRequest>,
) -> ApiResult<axum::Json<Page<Address>>> {
    let id = caller.customer_id()?;
    page.validate()?;
    Ok(axum::Json(state.identity.list_addresses(&caller.ctx, id, page).await?))
}

#[utoipa::path(post, path = "/me/addresses", tag = "account", security(("bearer" = [])), request_body = AddressInput,
    responses((status = 201, body = Address), (status = 422, body = Problem)))]
async fn add_address(
    State(state): State<ApiState>,
    caller: Caller,
    Json(input): Json<AddressInput>,
) -> ApiResult<(StatusCode, axum::Json<Address>)> {
    let id = caller.customer_id()?;
    Ok((StatusCode::CREATED, axum::Json(state.identity.add_address(&caller.ctx, id, input).await?)))
}

#[utoipa::path(put, path = "/me/addresses/{address_id}", tag = "account", security(("bearer" = [])), request_body = AddressInput,
    params(("address_id" = uuid::Uuid, Path)),
    responses((status = 200, body = Address), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_address(
    State(state): State<ApiState>,
    caller: Caller,
    Path(address_id): Path<String>,
    Json(input): Json<AddressInput>,
) -> ApiResult<axum::Json<Address>> {
    let id = caller.customer_id()?;
    let address_id = path_id("address", &address_id)?;
    Ok(axum::Json(state.identity.update_address(&caller.ctx, id, address_id, input).await?))
}

#[utoipa::path(delete, path = "/me/addresses/{address_id}", tag = "account", security(("bearer" = [])),
    params(("address_id" = uuid::Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, body = Problem)))]
async fn delete_address(
    State(state): State<ApiState>,
    caller: Caller,
    Path(address_id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = caller.customer_id()?;
    let address_id = path_id("address", &address_id)?;
    state.identity.delete_address(&caller.ctx, id, address_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/me/cart", tag = "account", security(("bearer" = [])),
    responses((status = 200, body = Cart), (status = 404, body = Problem, description = "No active cart")))]
async fn my_cart(State(state): State<ApiState>, caller: Caller) -> ApiResult<axum::Json<Cart>> {
    let id = caller.customer_id()?;
    let cart = state.cart.customer_cart(&caller.ctx, id).await?;
    cart.map(axum::Json).ok_or_else(|| ApiError(Error::not_found("cart", "for this customer")))
}

#[utoipa::path(get, path = "/me/preferences", tag = "account", security(("bearer" = [])),
    responses((status = 200, body = Preferences), (status = 401, body = Problem)))]
async fn my_preferences(State(state): State<ApiState>, caller: Caller) -> ApiResult<axum::Json<Preferences>> {
    let id = caller.customer_id()?;
    Ok(axum::Json(state.notification.preferences(&caller.ctx, id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PreferencesInput {
    /// No more messages that are not about the customer's own orders or account.
    marketing_opt_out: bool,
}

#[utoipa::path(put, path = "/me/preferences", tag = "account", security(("bearer" = [])), request_body = PreferencesInput,
    responses((status = 200, body = Preferences), (status = 401, body = Problem), (status = 422, body = Problem)))]
async fn set_my_preferences(
    State(state): State<ApiState>,
    caller: Caller,
    Json(input): Json<PreferencesInput>,
) -> ApiResult<axum::Json<Preferences>> {
    let id = caller.customer_id()?;
    Ok(axum::Json(state.notification.set_marketing_opt_out(&caller.ctx, id, input.marketing_opt_out).await?))
}
