//! Back office: customers and their tier, staff accounts, sellers, API keys.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use comptoir_contracts::identity::{
    ApiKey, CreatedApiKey, Customer, CustomerFilter, CustomerTier, NewApiKey, NewSeller, NewStaff, Permission, Seller,
    Staff,
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
        .routes(routes!(list_customers))
        .routes(routes!(get_customer))
        .routes(routes!(set_tier))
        .routes(routes!(list_staff, create_staff))
        .routes(routes!(list_sellers, create_seller))
        .routes(routes!(get_seller))
        .routes(routes!(list_api_keys, create_api_key))
        .routes(routes!(revoke_api_key))
}

#[utoipa::path(get, path = "/admin/customers", tag = "admin: customers", security(("bearer" = []), ("api_key" = [])),
    params(CustomerFilter, PageRequest),
    responses((status = 200, body = Page<Customer>), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn list_customers(
    State(state): State<ApiState>,
    caller: Caller,
    Query(filter): Query<CustomerFilter>,
    Query(page): Query<PageRequest>,
) -> ApiResult<axum::Json<Page<Customer>>> {
    caller.require(Permission::CustomersRead)?;
    page.validate()?;
    Ok(axum::Json(state.identity.list_customers(&caller.ctx, filter, page).await?))
}

#[utoipa::path(get, path = "/admin/customers/{customer_id}", tag = "admin: customers", security(("bearer" = []), ("api_key" = [])),
    params(("customer_id" = uuid::Uuid, Path)),
    responses((status = 200, body = Customer), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_customer(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Customer>> {
    caller.require(Permission::CustomersRead)?;
    let id = path_id("customer", &id)?;
    Ok(axum::Json(state.identity.get_customer(&caller.ctx, id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TierChange {
    tier: CustomerTier,
}

#[utoipa::path(put, path = "/admin/customers/{customer_id}/tier", tag = "admin: customers", security(("bearer" = []), ("api_key" = [])),
    params(("customer_id" = uuid::Uuid, Path)), request_body = TierChange,
    responses((status = 200, body = Customer), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn set_tier(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(input): Json<TierChange>,
) -> ApiResult<axum::Json<Customer>> {
    caller.require(Permission::CustomersWrite)?;
    let id = path_id("customer", &id)?;
    let customer = state.identity.set_customer_tier(&caller.ctx, id, input.tier).await?;
    state.authenticator.forget_user(id);
    Ok(axum::Json(customer))
}

#[utoipa::path(get, path = "/admin/staff", tag = "admin: customers", security(("bearer" = [])), params(PageRequest),
    responses((status = 200, body = Page<Staff>), (status = 403, body = Problem)))]
async fn list_staff(
    State(state): State<ApiState>,
    caller: Caller,
    Query(page): Query<PageRequest>,
) -> ApiResult<axum::Json<Page<Staff>>> {
    caller.require(Permission::StaffManage)?;
    page.validate()?;
    Ok(axum::Json(state.identity.list_staff(&caller.ctx, page).await?))
}

#[utoipa::path(post, path = "/admin/staff", tag = "admin: customers", security(("bearer" = [])), request_body = NewStaff,
    responses((status = 201, body = Staff), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_staff(
    State(state): State<ApiState>,
    caller: Caller,
    Json(input): Json<NewStaff>,
) -> ApiResult<(StatusCode, axum::Json<Staff>)> {
    caller.require(Permission::StaffManage)?;
    Ok((StatusCode::CREATED, axum::Json(state.identity.create_staff(&caller.ctx, input).await?)))
}

#[utoipa::path(get, path = "/admin/sellers", tag = "admin: customers", security(("bearer" = []), ("api_key" = [])), params(PageRequest),
    responses((status = 200, body = Page<Seller>), (status = 403, body = Problem)))]
async fn list_sellers(
    State(state): State<ApiState>,
    caller: Caller,
    Query(page): Query<PageRequest>,
) -> ApiResult<axum::Json<Page<Seller>>> {
    caller.require(Permission::CatalogRead)?;
    page.validate()?;
    Ok(axum::Json(state.identity.list_sellers(&caller.ctx, page).await?))
}

#[utoipa::path(post, path = "/admin/sellers", tag = "admin: customers", security(("bearer" = []), ("api_key" = [])), request_body = NewSeller,
    responses((status = 201, body = Seller), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn create_seller(
    State(state): State<ApiState>,
    caller: Caller,
    Json(input): Json<NewSeller>,
) -> ApiResult<(StatusCode, axum::Json<Seller>)> {
    caller.require(Permission::SellersManage)?;
    Ok((StatusCode::CREATED, axum::Json(state.identity.create_seller(&caller.ctx, input).await?)))
}

#[utoipa::path(get, path = "/admin/sellers/{seller_id}", tag = "admin: customers", security(("bearer" = []), ("api_key" = [])),
    params(("seller_id" = uuid::Uuid, Path)),
    responses((status = 200, body = Seller), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_seller(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Seller>> {
    caller.require(Permission::CatalogRead)?;
    let id = path_id("seller", &id)?;
    Ok(axum::Json(state.identity.get_seller(&caller.ctx, id).await?))
}

#[utoipa::path(get, path = "/admin/api-keys", tag = "admin: customers", security(("bearer" = [])), params(PageRequest),
    responses((status = 200, body = Page<ApiKey>), (status = 403, body = Problem)))]
async fn list_api_keys(
    State(state): State<ApiState>,
    caller: Caller,
    Query(page): Query<PageRequest>,
) -> ApiResult<axum::Json<Page<ApiKey>>> {
    caller.require(Permission::ApiKeysManage)?;
    page.validate()?;
    Ok(axum::Json(state.identity.list_api_keys(&caller.ctx, page).await?))
}

#[utoipa::path(post, path = "/admin/api-keys", tag = "admin: customers", security(("bearer" = [])), request_body = NewApiKey,
    responses((status = 201, body = CreatedApiKey, description = "The secret is shown only in this response"),
              (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn create_api_key(
    State(state): State<ApiState>,
    caller: Caller,
    Json(input): Json<NewApiKey>,
) -> ApiResult<(StatusCode, axum::Json<CreatedApiKey>)> {
    caller.require(Permission::ApiKeysManage)?;
    Ok((StatusCode::CREATED, axum::Json(state.identity.create_api_key(&caller.ctx, input).await?)))
}

#[utoipa::path(delete, path = "/admin/api-keys/{key_id}", tag = "admin: customers", security(("bearer" = [])),
    params(("key_id" = uuid::Uuid, Path)),
    responses((status = 200, body = ApiKey, description = "The key, now revoked"), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn revoke_api_key(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<ApiKey>> {
    caller.require(Permission::ApiKeysManage)?;
    let id = path_id("api key", &id)?;
    let key = state.identity.revoke_api_key(&caller.ctx, id).await?;
    state.authenticator.forget_api_key(id);
    Ok(axum::Json(key))
}
