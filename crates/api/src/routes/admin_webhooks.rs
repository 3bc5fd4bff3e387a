//! Back office: third-party applications' webhook subscriptions, their delivery log and manual
//! redelivery. docs/WEBHOOKS.md tells receivers how to check the signature.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use comptoir_contracts::identity::Permission;
use comptoir_contracts::webhooks::{
    Delivery, DeliveryDetail, DeliveryFilter, NewSubscription, Subscription, SubscriptionPatch, SubscriptionWithSecret,
};
use comptoir_kernel::{Page, PageRequest};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::context::{Caller, path_id};
use crate::extract::{Json, Query};
use crate::problem::{ApiResult, Problem};
use crate::state::ApiState;

pub fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_subscriptions, create_subscription))
        .routes(routes!(get_subscription, update_subscription, delete_subscription))
        .routes(routes!(rotate_secret))
        .routes(routes!(list_deliveries))
        .routes(routes!(get_delivery))
        .routes(routes!(redeliver))
}

#[utoipa::path(post, path = "/admin/webhooks", tag = "admin: webhooks", security(("bearer" = []), ("api_key" = [])),
    request_body = NewSubscription,
    responses((status = 201, body = SubscriptionWithSecret, description = "Subscribed; the secret is shown this once"),
              (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn create_subscription(
    State(state): State<ApiState>,
    caller: Caller,
    Json(input): Json<NewSubscription>,
) -> ApiResult<(StatusCode, axum::Json<SubscriptionWithSecret>)> {
    caller.require(Permission::EventsManage)?;
    Ok((StatusCode::CREATED, axum::Json(state.webhooks.create_subscription(&caller.ctx, input).await?)))
}

#[utoipa::path(get, path = "/admin/webhooks", tag = "admin: webhooks", security(("bearer" = []), ("api_key" = [])),
    params(PageRequest), responses((status = 200, body = Page<Subscription>), (status = 403, body = Problem)))]
async fn list_subscriptions(
    State(state): State<ApiState>,
    caller: Caller,
    Query(page): Query<PageRequest>,
) -> ApiResult<axum::Json<Page<Subscription>>> {
    caller.require(Permission::EventsManage)?;
    page.validate()?;
    Ok(axum::Json(state.webhooks.subscriptions(&caller.ctx, page).await?))
}

#[utoipa::path(get, path = "/admin/webhooks/{id}", tag = "admin: webhooks", security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Subscription), (status = 404, body = Problem)))]
async fn get_subscription(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Subscription>> {
    caller.require(Permission::EventsManage)?;
    let id = path_id("webhook subscription", &id)?;
    Ok(axum::Json(state.webhooks.subscription(&caller.ctx, id).await?))
}

#[utoipa::path(patch, path = "/admin/webhooks/{id}", tag = "admin: webhooks", security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path)), request_body = SubscriptionPatch,
    responses((status = 200, body = Subscription, description = "Enabling a disabled subscription resets its failure count"),
              (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_subscription(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(patch): Json<SubscriptionPatch>,
) -> ApiResult<axum::Json<Subscription>> {
    caller.require(Permission::EventsManage)?;
    let id = path_id("webhook subscription", &id)?;
    Ok(axum::Json(state.webhooks.update_subscription(&caller.ctx, id, patch).await?))
}

#[utoipa::path(delete, path = "/admin/webhooks/{id}", tag = "admin: webhooks", security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path)), responses((status = 204), (status = 404, body = Problem)))]
async fn delete_subscription(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require(Permission::EventsManage)?;
    let id = path_id("webhook subscription", &id)?;
    state.webhooks.delete_subscription(&caller.ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/admin/webhooks/{id}/rotate-secret", tag = "admin: webhooks", security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = SubscriptionWithSecret, description = "The new secret, shown this once; the old one still signs for a grace period"),
              (status = 404, body = Problem)))]
async fn rotate_secret(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<SubscriptionWithSecret>> {
    caller.require(Permission::EventsManage)?;
    let id = path_id("webhook subscription", &id)?;
    Ok(axum::Json(state.webhooks.rotate_secret(&caller.ctx, id).await?))
}

#[utoipa::path(get, path = "/admin/webhooks/{id}/deliveries", tag = "admin: webhooks", security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path), DeliveryFilter, PageRequest),
    responses((status = 200, body = Page<Delivery>, description = "Newest first"), (status = 404, body = Problem)))]
async fn list_deliveries(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(filter): Query<DeliveryFilter>,
    Query(page): Query<PageRequest>,
) -> ApiResult<axum::Json<Page<Delivery>>> {
    caller.require(Permission::EventsManage)?;
    page.validate()?;
    let id = path_id("webhook subscription", &id)?;
    Ok(axum::Json(state.webhooks.deliveries(&caller.ctx, id, filter, page).await?))
}

#[utoipa::path(get, path = "/admin/webhook-deliveries/{id}", tag = "admin: webhooks", security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = DeliveryDetail, description = "The body sent and every attempt"), (status = 404, body = Problem)))]
async fn get_delivery(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<DeliveryDetail>> {
    caller.require(Permission::EventsManage)?;
    let id = path_id("webhook delivery", &id)?;
    Ok(axum::Json(state.webhooks.delivery(&caller.ctx, id).await?))
}

#[utoipa::path(post, path = "/admin/webhook-deliveries/{id}/redeliver", tag = "admin: webhooks", security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = DeliveryDetail, description = "After one more attempt, made now"),
              (status = 404, body = Problem), (status = 409, body = Problem, description = "An attempt is in progress")))]
async fn redeliver(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<DeliveryDetail>> {
    caller.require(Permission::EventsManage)?;
    let id = path_id("webhook delivery", &id)?;
    Ok(axum::Json(state.webhooks.redeliver(&caller.ctx, id).await?))
}
