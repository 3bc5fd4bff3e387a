//! The point of sale: a store's till (a staff member with `pos:sell`, or a till app with an API
//! key holding it) scans SKUs, rings up sales paid in cash or by card, prints receipts and takes
//! returns; staff with `pos:manage` set stores up.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use comptoir_contracts::identity::{Permission, Principal};
use comptoir_contracts::pos::{
    Cashier, NewSale, NewStoreReturn, Sale, SaleFilter, ScannedItem, Sell, Store, StoreInput, StoreReturn, TakeReturn,
};
use comptoir_kernel::{Error, FieldError, Page, PageRequest};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::context::{Caller, path_id};
use crate::extract::{Json, Query};
use crate::idempotency::IDEMPOTENCY_HEADER;
use crate::problem::{ApiError, ApiResult, Problem};
use crate::state::ApiState;

pub fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_stores))
        .routes(routes!(upsert_store))
        .routes(routes!(scan))
        .routes(routes!(sell, list_sales))
        .routes(routes!(get_sale))
        .routes(routes!(receipt))
        .routes(routes!(take_return, list_returns))
}

/// Who is at the till: the staff member, or the till app's API key.
fn cashier(principal: &Principal) -> Cashier {
    match principal {
        Principal::Staff { id, email, .. } | Principal::Customer { id, email, .. } => {
            Cashier { id: *id, name: email.clone() }
        }
        Principal::App { key_id, name, .. } => Cashier { id: *key_id, name: name.clone() },
    }
}

fn idempotency_key(headers: &HeaderMap, what: &str) -> Result<String, ApiError> {
    headers
        .get(&IDEMPOTENCY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_string)
        .ok_or_else(|| {
            ApiError(Error::BadRequest {
                message: format!("{what} needs an Idempotency-Key header, so that a retry never charges twice"),
                errors: vec![FieldError { field: "Idempotency-Key".into(), message: "is required".into() }],
            })
        })
}

#[utoipa::path(get, path = "/pos/stores", tag = "point of sale", security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = Vec<Store>), (status = 403, body = Problem)))]
async fn list_stores(State(state): State<ApiState>, caller: Caller) -> ApiResult<axum::Json<Vec<Store>>> {
    caller.require(Permission::PosSell)?;
    Ok(axum::Json(state.pos.list_stores(&caller.ctx).await?))
}

#[utoipa::path(put, path = "/admin/pos/stores", tag = "point of sale", security(("bearer" = []), ("api_key" = [])),
    request_body = StoreInput,
    responses((status = 200, body = Store, description = "Set up, or changed"), (status = 403, body = Problem),
              (status = 422, body = Problem, description = "Not a store location, an unknown channel, a bad address")))]
async fn upsert_store(
    State(state): State<ApiState>,
    caller: Caller,
    Json(input): Json<StoreInput>,
) -> ApiResult<axum::Json<Store>> {
    caller.require(Permission::PosManage)?;
    Ok(axum::Json(state.pos.upsert_store(&caller.ctx, input).await?))
}

#[utoipa::path(get, path = "/pos/stores/{location}/items/{sku}", tag = "point of sale", security(("bearer" = []), ("api_key" = [])),
    params(("location" = String, Path, description = "The store's location code"), ("sku" = String, Path)),
    responses((status = 200, body = ScannedItem, description = "Priced for the store, with the units on its shelves"),
              (status = 403, body = Problem), (status = 404, body = Problem, description = "Unknown store, or a SKU not sold in its channel")))]
async fn scan(
    State(state): State<ApiState>,
    caller: Caller,
    Path((location, sku)): Path<(String, String)>,
) -> ApiResult<axum::Json<ScannedItem>> {
    caller.require(Permission::PosSell)?;
    Ok(axum::Json(state.pos.scan(&caller.ctx, &location, &sku).await?))
}

#[utoipa::path(post, path = "/pos/sales", tag = "point of sale", security(("bearer" = []), ("api_key" = [])),
    request_body = NewSale,
    params(("Idempotency-Key" = String, Header, description = "Required: a retry with the same key returns the first sale")),
    responses((status = 201, body = Sale, description = "Paid; the units left the store's shelves"),
              (status = 402, body = Problem, description = "Card declined; nothing sold, nothing charged"),
              (status = 403, body = Problem),
              (status = 409, body = Problem, description = "Not enough units on this store's shelves"),
              (status = 422, body = Problem, description = "Bad lines, unknown SKU, cash short of the total")))]
async fn sell(
    State(state): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    Json(sale): Json<NewSale>,
) -> ApiResult<(StatusCode, axum::Json<Sale>)> {
    let principal = caller.require(Permission::PosSell)?;
    let sell = Sell { idempotency_key: idempotency_key(&headers, "a sale")?, cashier: cashier(principal), sale };
    Ok((StatusCode::CREATED, axum::Json(state.pos.sell(&caller.ctx, sell).await?)))
}

#[utoipa::path(get, path = "/pos/sales", tag = "point of sale", security(("bearer" = []), ("api_key" = [])),
    params(SaleFilter, PageRequest),
    responses((status = 200, body = Page<Sale>, description = "Newest first"), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn list_sales(
    State(state): State<ApiState>,
    caller: Caller,
    Query(filter): Query<SaleFilter>,
    Query(page): Query<PageRequest>,
) -> ApiResult<axum::Json<Page<Sale>>> {
    caller.require(Permission::PosSell)?;
    page.validate()?;
    Ok(axum::Json(state.pos.list_sales(&caller.ctx, filter, page).await?))
}

#[utoipa::path(get, path = "/pos/sales/{id}", tag = "point of sale", security(("bearer" = []), ("api_key" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Sale), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_sale(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Sale>> {
    caller.require(Permission::PosSell)?;
    let id = path_id("sale", &id)?;
    Ok(axum::Json(state.pos.get_sale(&caller.ctx, id).await?))
}

#[utoipa::path(get, path = "/pos/sales/{id}/receipt", tag = "point of sale", security(("bearer" = []), ("api_key" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, description = "The receipt, 40 columns of plain text", content_type = "text/plain"),
              (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn receipt(State(state): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    caller.require(Permission::PosSell)?;
    let id = path_id("sale", &id)?;
    let text = state.pos.receipt(&caller.ctx, id).await?;
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"))], text).into_response())
}

#[utoipa::path(post, path = "/pos/sales/{id}/returns", tag = "point of sale", security(("bearer" = []), ("api_key" = [])),
    params(("id" = uuid::Uuid, Path), ("Idempotency-Key" = String, Header, description = "Required: a retry returns the first return")),
    request_body = NewStoreReturn,
    responses((status = 201, body = StoreReturn, description = "Refunded the way the sale was paid"),
              (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 422, body = Problem, description = "More units than were sold and not yet returned, an SKU not in the sale")))]
async fn take_return(
    State(state): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(input): Json<NewStoreReturn>,
) -> ApiResult<(StatusCode, axum::Json<StoreReturn>)> {
    let principal = caller.require(Permission::PosSell)?;
    let sale_id = path_id("sale", &id)?;
    let take = TakeReturn {
        idempotency_key: idempotency_key(&headers, "a return")?,
        cashier: cashier(principal),
        sale_id,
        input,
    };
    Ok((StatusCode::CREATED, axum::Json(state.pos.take_return(&caller.ctx, take).await?)))
}

#[utoipa::path(get, path = "/pos/sales/{id}/returns", tag = "point of sale", security(("bearer" = []), ("api_key" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Vec<StoreReturn>), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn list_returns(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Vec<StoreReturn>>> {
    caller.require(Permission::PosSell)?;
    let sale_id = path_id("sale", &id)?;
    Ok(axum::Json(state.pos.returns_for_sale(&caller.ctx, sale_id).await?))
}
