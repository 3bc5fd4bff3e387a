//! The public catalog: published products only, categories, collections, channels.

use axum::extract::{Path, State};
use comptoir_contracts::catalog::{CategoryNode, Channel, Collection, Product, ProductFilter, Visibility};
use comptoir_kernel::{Page, PageRequest};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::context::Caller;
use crate::extract::Query;
use crate::problem::{ApiResult, Problem};
use crate::state::ApiState;

pub fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_channels))
        .routes(routes!(list_products))
        .routes(routes!(get_product))
        .routes(routes!(product_availability))
        .routes(routes!(category_tree))
        .routes(routes!(list_collections))
        .routes(routes!(get_collection))
}

#[utoipa::path(get, path = "/channels", tag = "catalog", responses((status = 200, body = Vec<Channel>)))]
async fn list_channels(State(state): State<ApiState>, caller: Caller) -> ApiResult<axum::Json<Vec<Channel>>> {
    Ok(axum::Json(state.catalog.list_channels(&caller.ctx).await?))
}

#[utoipa::path(get, path = "/products", tag = "catalog", params(ProductFilter, PageRequest),
    responses((status = 200, body = Page<Product>), (status = 422, body = Problem)))]
async fn list_products(
    State(state): State<ApiState>,
    caller: Caller,
    Query(filter): Query<ProductFilter>,
    Query(page): Query<PageRequest>,
) -> ApiResult<axum::Json<Page<Product>>> {
    page.validate()?;
    Ok(axum::Json(state.catalog.list_products(&caller.ctx, filter, Visibility::PublishedOnly, page).await?))
}

#[utoipa::path(get, path = "/products/{id_or_slug}", tag = "catalog", params(("id_or_slug" = String, Path)),
    responses((status = 200, body = Product), (status = 404, body = Problem)))]
async fn get_product(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id_or_slug): Path<String>,
) -> ApiResult<axum::Json<Product>> {
    Ok(axum::Json(state.catalog.get_product(&caller.ctx, &id_or_slug, Visibility::PublishedOnly).await?))
}

#[derive(Debug, Serialize, ToSchema)]
struct SkuAvailability {
    sku: String,
    available: i64,
    in_stock: bool,
}

#[utoipa::path(get, path = "/products/{id_or_slug}/availability", tag = "catalog", params(("id_or_slug" = String, Path)),
    responses((status = 200, body = Vec<SkuAvailability>), (status = 404, body = Problem)))]
async fn product_availability(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id_or_slug): Path<String>,
) -> ApiResult<axum::Json<Vec<SkuAvailability>>> {
    let product = state.catalog.get_product(&caller.ctx, &id_or_slug, Visibility::PublishedOnly).await?;
    let skus: Vec<String> = product.variants.iter().map(|v| v.sku.clone()).collect();
    let available = state.inventory.available(&caller.ctx, &skus).await?;
    Ok(axum::Json(
        available
            .into_iter()
            .map(|(sku, available)| SkuAvailability { sku, available, in_stock: available > 0 })
            .collect(),
    ))
}

#[utoipa::path(get, path = "/categories", tag = "catalog", responses((status = 200, body = Vec<CategoryNode>)))]
async fn category_tree(State(state): State<ApiState>, caller: Caller) -> ApiResult<axum::Json<Vec<CategoryNode>>> {
    Ok(axum::Json(state.catalog.category_tree(&caller.ctx).await?))
}

#[utoipa::path(get, path = "/collections", tag = "catalog", params(PageRequest), responses((status = 200, body = Page<Collection>)))]
async fn list_collections(
    State(state): State<ApiState>,
    caller: Caller,
    Query(page): Query<PageRequest>,
) -> ApiResult<axum::Json<Page<Collection>>> {
    page.validate()?;
    Ok(axum::Json(state.catalog.list_collections(&caller.ctx, page).await?))
}

#[utoipa::path(get, path = "/collections/{id_or_slug}", tag = "catalog", params(("id_or_slug" = String, Path)),
    responses((status = 200, body = Collection), (status = 404, body = Problem)))]
async fn get_collection(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id_or_slug): Path<String>,
) -> ApiResult<axum::Json<Collection>> {
    Ok(axum::Json(state.catalog.get_collection(&caller.ctx, &id_or_slug).await?))
}
