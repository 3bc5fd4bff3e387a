//! Back office: products (drafts included), variants, prices, publishing, categories, collections.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use comptoir_contracts::catalog::{
    Category, Collection, CollectionPatch, NewCategory, NewCollection, NewProduct, NewVariant, PriceInput, Product,
    ProductFilter, ProductPatch, Visibility,
};
use comptoir_contracts::identity::Permission;
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
        .routes(routes!(list_products, create_product))
        .routes(routes!(get_product, update_product, delete_product))
        .routes(routes!(add_variant))
        .routes(routes!(set_prices))
        .routes(routes!(publish))
        .routes(routes!(unpublish))
        .routes(routes!(create_category))
        .routes(routes!(create_collection))
        .routes(routes!(update_collection))
}

#[utoipa::path(get, path = "/admin/products", tag = "admin: catalog", security(("bearer" = []), ("api_key" = [])),
    params(ProductFilter, PageRequest), responses((status = 200, body = Page<Product>), (status = 403, body = Problem)))]
async fn list_products(
    State(state): State<ApiState>,
    caller: Caller,
    Query(filter): Query<ProductFilter>,
    Query(page): Query<PageRequest>,
) -> ApiResult<axum::Json<Page<Product>>> {
    caller.require(Permission::CatalogRead)?;
    page.validate()?;
    Ok(axum::Json(state.catalog.list_products(&caller.ctx, filter, Visibility::All, page).await?))
}

#[utoipa::path(post, path = "/admin/products", tag = "admin: catalog", security(("bearer" = []), ("api_key" = [])), request_body = NewProduct,
    responses((status = 201, body = Product, description = "Created as a draft"), (status = 403, body = Problem),
              (status = 409, body = Problem, description = "Duplicate SKU or slug"), (status = 422, body = Problem)))]
async fn create_product(
    State(state): State<ApiState>,
    caller: Caller,
    Json(input): Json<NewProduct>,
) -> ApiResult<(StatusCode, axum::Json<Product>)> {
    caller.require(Permission::CatalogWrite)?;
    Ok((StatusCode::CREATED, axum::Json(state.catalog.create_product(&caller.ctx, input).await?)))
}

#[utoipa::path(get, path = "/admin/products/{product_id}", tag = "admin: catalog", security(("bearer" = []), ("api_key" = [])),
    params(("product_id" = String, Path, description = "Id or slug")),
    responses((status = 200, body = Product), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_product(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Product>> {
    caller.require(Permission::CatalogRead)?;
    Ok(axum::Json(state.catalog.get_product(&caller.ctx, &id, Visibility::All).await?))
}

#[utoipa::path(patch, path = "/admin/products/{product_id}", tag = "admin: catalog", security(("bearer" = []), ("api_key" = [])),
    params(("product_id" = uuid::Uuid, Path)), request_body = ProductPatch,
    responses((status = 200, body = Product), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_product(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(patch): Json<ProductPatch>,
) -> ApiResult<axum::Json<Product>> {
    caller.require(Permission::CatalogWrite)?;
    let id = path_id("product", &id)?;
    Ok(axum::Json(state.catalog.update_product(&caller.ctx, id, patch).await?))
}

#[utoipa::path(delete, path = "/admin/products/{product_id}", tag = "admin: catalog", security(("bearer" = []), ("api_key" = [])),
    params(("product_id" = uuid::Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn delete_product(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require(Permission::CatalogWrite)?;
    let id = path_id("product", &id)?;
    state.catalog.delete_product(&caller.ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/admin/products/{product_id}/variants", tag = "admin: catalog", security(("bearer" = []), ("api_key" = [])),
    params(("product_id" = uuid::Uuid, Path)), request_body = NewVariant,
    responses((status = 201, body = Product), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn add_variant(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(input): Json<NewVariant>,
) -> ApiResult<(StatusCode, axum::Json<Product>)> {
    caller.require(Permission::CatalogWrite)?;
    let id = path_id("product", &id)?;
    Ok((StatusCode::CREATED, axum::Json(state.catalog.add_variant(&caller.ctx, id, input).await?)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PricesInput {
    prices: Vec<PriceInput>,
}

#[utoipa::path(put, path = "/admin/variants/{sku}/prices", tag = "admin: catalog", security(("bearer" = []), ("api_key" = [])),
    params(("sku" = String, Path)), request_body = PricesInput,
    responses((status = 200, body = Product), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn set_prices(
    State(state): State<ApiState>,
    caller: Caller,
    Path(sku): Path<String>,
    Json(input): Json<PricesInput>,
) -> ApiResult<axum::Json<Product>> {
    caller.require(Permission::CatalogWrite)?;
    Ok(axum::Json(state.catalog.set_prices(&caller.ctx, &sku, input.prices).await?))
}

#[utoipa::path(post, path = "/admin/products/{product_id}/publish", tag = "admin: catalog", security(("bearer" = []), ("api_key" = [])),
    params(("product_id" = uuid::Uuid, Path)),
    responses((status = 200, body = Product), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn publish(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Product>> {
    caller.require(Permission::CatalogWrite)?;
    let id = path_id("product", &id)?;
    Ok(axum::Json(state.catalog.publish(&caller.ctx, id).await?))
}

#[utoipa::path(post, path = "/admin/products/{product_id}/unpublish", tag = "admin: catalog", security(("bearer" = []), ("api_key" = [])),
    params(("product_id" = uuid::Uuid, Path)),
    responses((status = 200, body = Product), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn unpublish(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Product>> {
    caller.require(Permission::CatalogWrite)?;
    let id = path_id("product", &id)?;
    Ok(axum::Json(state.catalog.unpublish(&caller.ctx, id).await?))
}

#[utoipa::path(post, path = "/admin/categories", tag = "admin: catalog", security(("bearer" = []), ("api_key" = [])), request_body = NewCategory,
    responses((status = 201, body = Category), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_category(
    State(state): State<ApiState>,
    caller: Caller,
    Json(input): Json<NewCategory>,
) -> ApiResult<(StatusCode, axum::Json<Category>)> {
    caller.require(Permission::CatalogWrite)?;
    Ok((StatusCode::CREATED, axum::Json(state.catalog.create_category(&caller.ctx, input).await?)))
}

#[utoipa::path(post, path = "/admin/collections", tag = "admin: catalog", security(("bearer" = []), ("api_key" = [])), request_body = NewCollection,
    responses((status = 201, body = Collection), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_collection(
    State(state): State<ApiState>,
    caller: Caller,
    Json(input): Json<NewCollection>,
) -> ApiResult<(StatusCode, axum::Json<Collection>)> {
    caller.require(Permission::CatalogWrite)?;
    Ok((StatusCode::CREATED, axum::Json(state.catalog.create_collection(&caller.ctx, input).await?)))
}

#[utoipa::path(patch, path = "/admin/collections/{collection_id}", tag = "admin: catalog", security(("bearer" = []), ("api_key" = [])),
    params(("collection_id" = uuid::Uuid, Path)), request_body = CollectionPatch,
    responses((status = 200, body = Collection), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_collection(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(patch): Json<CollectionPatch>,
) -> ApiResult<axum::Json<Collection>> {
    caller.require(Permission::CatalogWrite)?;
    let id = path_id("collection", &id)?;
    Ok(axum::Json(state.catalog.update_collection(&caller.ctx, id, patch).await?))
}
