//! Search for shoppers and apps: relevance-ranked, typo-tolerant product search with facets,
//! suggestions as one types, similar products; and the index's upkeep for staff.

use axum::extract::{Path, RawQuery, State};
use comptoir_contracts::catalog::Visibility;
use comptoir_contracts::identity::Permission;
use comptoir_contracts::search::{IndexStatus, RebuildReport, SearchHit, SearchQuery, SearchResults, Suggestion};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::context::Caller;
use crate::extract::Query;
use crate::problem::{ApiResult, Problem};
use crate::state::ApiState;

pub fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(search))
        .routes(routes!(suggestions))
        .routes(routes!(similar))
        .routes(routes!(rebuild))
        .routes(routes!(status))
}

/// The parameters of `GET /search`, for the documentation; they are read from the raw query so
/// that `attr.<name>` may repeat.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct SearchParams {
    /// Words; a misspelt word still matches (one typo from 4 letters, two from 8), the last may be unfinished.
    q: Option<String>,
    /// Category slug; its sub-categories are included.
    category: Option<String>,
    seller_id: Option<uuid::Uuid>,
    /// Minor units, inclusive.
    price_min: Option<i64>,
    /// Minor units, inclusive.
    price_max: Option<i64>,
    /// Only products with a variant available to sell.
    in_stock: Option<bool>,
    /// `relevance` (default), `price_asc`, `price_desc`, `newest`, `name`.
    sort: Option<String>,
    #[param(minimum = 1, default = 1)]
    page: Option<u32>,
    #[param(minimum = 1, maximum = 100, default = 20)]
    per_page: Option<u32>,
    /// Attribute filter, `attr.colour=navy`; repeat it to accept several values of one attribute.
    #[serde(rename = "attr.{name}")]
    #[param(rename = "attr.{name}")]
    attr: Option<String>,
}

#[utoipa::path(get, path = "/search", tag = "search", params(SearchParams),
    responses((status = 200, body = SearchResults, description = "Hits of the page, the total and facet counts over every hit"),
              (status = 422, body = Problem)))]
async fn search(
    State(state): State<ApiState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<SearchResults>> {
    let pairs: Vec<(String, String)> =
        form_urlencoded::parse(raw.unwrap_or_default().as_bytes()).into_owned().collect();
    let query = SearchQuery::from_pairs(&pairs)?;
    Ok(axum::Json(state.search.search(&caller.ctx, query).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct SuggestParams {
    /// What has been typed so far.
    q: String,
    #[param(minimum = 1, maximum = 20, default = 8)]
    #[serde(default = "eight")]
    limit: u32,
}

fn eight() -> u32 {
    8
}

#[utoipa::path(get, path = "/search/suggestions", tag = "search", params(SuggestParams),
    responses((status = 200, body = Vec<Suggestion>, description = "Products, then categories, whose names begin like the text"),
              (status = 422, body = Problem)))]
async fn suggestions(
    State(state): State<ApiState>,
    caller: Caller,
    Query(params): Query<SuggestParams>,
) -> ApiResult<axum::Json<Vec<Suggestion>>> {
    Ok(axum::Json(state.search.suggest(&caller.ctx, &params.q, params.limit).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct SimilarParams {
    #[param(minimum = 1, maximum = 20, default = 8)]
    #[serde(default = "eight")]
    limit: u32,
}

#[utoipa::path(get, path = "/products/{id_or_slug}/similar", tag = "search",
    params(("id_or_slug" = String, Path), SimilarParams),
    responses((status = 200, body = Vec<SearchHit>, description = "Published products sharing categories, words or attributes, best first"),
              (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn similar(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id_or_slug): Path<String>,
    Query(params): Query<SimilarParams>,
) -> ApiResult<axum::Json<Vec<SearchHit>>> {
    let product = state.catalog.get_product(&caller.ctx, &id_or_slug, Visibility::PublishedOnly).await?;
    Ok(axum::Json(state.search.similar(&caller.ctx, product.id, params.limit).await?))
}

#[utoipa::path(post, path = "/admin/search/rebuild", tag = "admin: search", security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = RebuildReport, description = "The index was rebuilt from catalog, inventory and identity"),
              (status = 403, body = Problem)))]
async fn rebuild(State(state): State<ApiState>, caller: Caller) -> ApiResult<axum::Json<RebuildReport>> {
    caller.require(Permission::CatalogWrite)?;
    Ok(axum::Json(state.search.rebuild(&caller.ctx).await?))
}

#[utoipa::path(get, path = "/admin/search/status", tag = "admin: search", security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = IndexStatus), (status = 403, body = Problem)))]
async fn status(State(state): State<ApiState>, caller: Caller) -> ApiResult<axum::Json<IndexStatus>> {
    caller.require(Permission::CatalogRead)?;
    Ok(axum::Json(state.search.status(&caller.ctx).await?))
}
