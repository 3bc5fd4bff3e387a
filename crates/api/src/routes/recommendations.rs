//! Recommendations: products frequently bought together with one product, or with a cart's, from
//! the confirmed orders; and their rebuild from the orders for staff.

use axum::extract::{Path, RawQuery, State};
use comptoir_contracts::catalog::Visibility;
use comptoir_contracts::identity::Permission;
use comptoir_contracts::recommendations::{RebuildReport, Recommendation};
use comptoir_kernel::Error;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::context::Caller;
use crate::extract::Query;
use crate::problem::{ApiResult, Problem};
use crate::state::ApiState;

pub fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(bought_together)).routes(routes!(for_products)).routes(routes!(rebuild))
}

fn four() -> u32 {
    4
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct Limit {
    #[param(minimum = 1, maximum = 20, default = 4)]
    #[serde(default = "four")]
    limit: u32,
}

#[utoipa::path(get, path = "/products/{id_or_slug}/bought-together", tag = "recommendations",
    params(("id_or_slug" = String, Path), Limit),
    responses((status = 200, body = Vec<Recommendation>, description = "Products most often in the same confirmed orders, best first"),
              (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn bought_together(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id_or_slug): Path<String>,
    Query(params): Query<Limit>,
) -> ApiResult<axum::Json<Vec<Recommendation>>> {
    let product = state.catalog.get_product(&caller.ctx, &id_or_slug, Visibility::PublishedOnly).await?;
    Ok(axum::Json(state.recommendations.bought_together(&caller.ctx, product.id, params.limit).await?))
}

/// The parameters of `GET /recommendations`, for the documentation (`product_id` repeats).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct ForProducts {
    /// A product in the cart; repeat for each.
    product_id: Uuid,
    #[param(minimum = 1, maximum = 20, default = 4)]
    limit: Option<u32>,
}

#[utoipa::path(get, path = "/recommendations", tag = "recommendations", params(ForProducts),
    responses((status = 200, body = Vec<Recommendation>, description = "Products often bought with these, none of them, best first"),
              (status = 422, body = Problem)))]
async fn for_products(
    State(state): State<ApiState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Vec<Recommendation>>> {
    let mut products = Vec::new();
    let mut limit = four();
    for (name, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match name.as_ref() {
            "product_id" => products.push(
                Uuid::parse_str(value.trim())
                    .map_err(|_| Error::validation("product_id", "must be a product id (UUID)"))?,
            ),
            "limit" => {
                limit = value.trim().parse().map_err(|_| Error::validation("limit", "must be a whole number"))?
            }
            _ => {}
        }
    }
    if products.is_empty() {
        return Err(Error::validation("product_id", "name at least one product").into());
    }
    Ok(axum::Json(state.recommendations.for_cart(&caller.ctx, products, limit).await?))
}

#[utoipa::path(post, path = "/admin/recommendations/rebuild", tag = "admin: search", security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = RebuildReport, description = "Counts recomputed from the orders"), (status = 403, body = Problem)))]
async fn rebuild(State(state): State<ApiState>, caller: Caller) -> ApiResult<axum::Json<RebuildReport>> {
    caller.require(Permission::OrdersRead)?;
    Ok(axum::Json(state.recommendations.rebuild(&caller.ctx).await?))
}
