//! Carts. An anonymous cart is reached with the token returned when it was created, sent back as
//! `X-Cart-Token`; a customer's cart with their bearer token.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, StatusCode};
use comptoir_contracts::cart::{AddLine, Cart, CartAccess, NewCart, SetQuantity};
use comptoir_contracts::identity::{Permission, Principal};
use comptoir_contracts::ordering::{CartEstimate, EstimateRequest};
use comptoir_kernel::Error;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::context::{Caller, path_id};
use crate::extract::{Json, parse_json};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::state::ApiState;

pub const CART_TOKEN_HEADER: HeaderName = HeaderName::from_static("x-cart-token");

pub fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(create_cart))
        .routes(routes!(get_cart))
        .routes(routes!(add_line))
        .routes(routes!(set_quantity, remove_line))
        .routes(routes!(merge_cart))
        .routes(routes!(estimate_cart))
}

/// How this caller may reach a cart: a customer by their account, staff read-only, anyone else by token.
fn access(caller: &Caller, headers: &HeaderMap) -> Result<CartAccess, ApiError> {
    match &caller.principal {
        Some(Principal::Customer { id, .. }) => Ok(CartAccess::Customer(*id)),
        Some(principal @ (Principal::Staff { .. } | Principal::App { .. })) => {
            principal.require(Permission::CartsRead)?;
            Ok(CartAccess::Staff)
        }
        None => cart_token(headers).map(CartAccess::Token),
    }
}

fn cart_token(headers: &HeaderMap) -> Result<String, ApiError> {
    headers
        .get(&CART_TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| ApiError(Error::unauthorized("send the cart's token as X-Cart-Token, or log in")))
}

#[utoipa::path(post, path = "/carts", tag = "cart", request_body(content = NewCart, description = "Optional channel"),
    responses((status = 201, body = Cart, description = "For an anonymous visitor the response carries the cart token, shown once"),
              (status = 422, body = Problem)))]
async fn create_cart(
    State(state): State<ApiState>,
    caller: Caller,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, axum::Json<Cart>)> {
    let customer = match &caller.principal {
        Some(Principal::Customer { id, .. }) => Some(*id),
        Some(_) => return Err(ApiError(Error::forbidden("carts belong to customers or anonymous visitors"))),
        None => None,
    };
    // The body is optional: an empty POST opens a cart in the default channel.
    let input: NewCart = if body.is_empty() { NewCart::default() } else { parse_json(&body)? };
    Ok((StatusCode::CREATED, axum::Json(state.cart.create_cart(&caller.ctx, customer, input).await?)))
}

#[utoipa::path(get, path = "/carts/{cart_id}", tag = "cart", params(("cart_id" = uuid::Uuid, Path), ("X-Cart-Token" = Option<String>, Header)),
    responses((status = 200, body = Cart), (status = 404, body = Problem)))]
async fn get_cart(
    State(state): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Cart>> {
    let id = path_id("cart", &id)?;
    Ok(axum::Json(state.cart.get_cart(&caller.ctx, id, &access(&caller, &headers)?).await?))
}

#[utoipa::path(post, path = "/carts/{cart_id}/lines", tag = "cart", request_body = AddLine,
    params(("cart_id" = uuid::Uuid, Path), ("X-Cart-Token" = Option<String>, Header)),
    responses((status = 200, body = Cart), (status = 404, body = Problem), (status = 409, body = Problem, description = "Not enough stock"),
              (status = 422, body = Problem)))]
async fn add_line(
    State(state): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(input): Json<AddLine>,
) -> ApiResult<axum::Json<Cart>> {
    let id = path_id("cart", &id)?;
    Ok(axum::Json(state.cart.add_line(&caller.ctx, id, &access(&caller, &headers)?, input).await?))
}

#[utoipa::path(patch, path = "/carts/{cart_id}/lines/{sku}", tag = "cart", request_body = SetQuantity,
    params(("cart_id" = uuid::Uuid, Path), ("sku" = String, Path), ("X-Cart-Token" = Option<String>, Header)),
    responses((status = 200, body = Cart), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn set_quantity(
    State(state): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    Path((id, sku)): Path<(String, String)>,
    Json(input): Json<SetQuantity>,
) -> ApiResult<axum::Json<Cart>> {
    let id = path_id("cart", &id)?;
    Ok(axum::Json(state.cart.set_quantity(&caller.ctx, id, &access(&caller, &headers)?, &sku, input).await?))
}

#[utoipa::path(delete, path = "/carts/{cart_id}/lines/{sku}", tag = "cart",
    params(("cart_id" = uuid::Uuid, Path), ("sku" = String, Path), ("X-Cart-Token" = Option<String>, Header)),
    responses((status = 200, body = Cart), (status = 404, body = Problem)))]
async fn remove_line(
    State(state): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    Path((id, sku)): Path<(String, String)>,
) -> ApiResult<axum::Json<Cart>> {
    let id = path_id("cart", &id)?;
    Ok(axum::Json(state.cart.remove_line(&caller.ctx, id, &access(&caller, &headers)?, &sku).await?))
}

#[utoipa::path(post, path = "/carts/{cart_id}/merge", tag = "cart", security(("bearer" = [])),
    params(("cart_id" = uuid::Uuid, Path, description = "The anonymous cart"), ("X-Cart-Token" = String, Header)),
    responses((status = 200, body = Cart, description = "The customer's cart with the anonymous cart's lines"), (status = 404, body = Problem)))]
async fn merge_cart(
    State(state): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Cart>> {
    let customer = caller.customer_id()?;
    let id = path_id("cart", &id)?;
    let token = cart_token(&headers)?;
    Ok(axum::Json(state.cart.merge(&caller.ctx, id, &token, customer).await?))
}

#[utoipa::path(post, path = "/carts/{cart_id}/estimate", tag = "cart", request_body = EstimateRequest,
    params(("cart_id" = uuid::Uuid, Path), ("X-Cart-Token" = Option<String>, Header)),
    responses((status = 200, body = CartEstimate, description = "The cart priced as checkout would: tax, shipping options, totals"),
              (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn estimate_cart(
    State(state): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(input): Json<EstimateRequest>,
) -> ApiResult<axum::Json<CartEstimate>> {
    let id = path_id("cart", &id)?;
    Ok(axum::Json(state.ordering.estimate(&caller.ctx, id, &access(&caller, &headers)?, input).await?))
}
