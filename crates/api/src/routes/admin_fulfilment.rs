//! Back office: tax rules and channel tax modes, invoices, shipping zones and methods,
//! shipments with tracking and labels, and the notification mailbox.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use comptoir_contracts::billing::{ChannelTaxMode, Invoice, NewTaxRule, TaxRule};
use comptoir_contracts::identity::Permission;
use comptoir_contracts::notification::{Message, MessageFilter};
use comptoir_contracts::shipping::{NewShippingMethod, NewZone, Shipment, ShippingMethod, TrackingUpdate, Zone};
use comptoir_kernel::{Page, PageRequest};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::context::{Caller, path_id};
use crate::extract::{Json, Query};
use crate::problem::{ApiResult, Problem};
use crate::routes::orders::pdf_response;
use crate::state::ApiState;

pub fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_tax_rules, create_tax_rule))
        .routes(routes!(delete_tax_rule))
        .routes(routes!(get_tax_mode, set_tax_mode))
        .routes(routes!(list_invoices))
        .routes(routes!(credit_note_pdf))
        .routes(routes!(list_zones, create_zone))
        .routes(routes!(list_methods, create_method))
        .routes(routes!(set_method_active))
        .routes(routes!(list_shipments))
        .routes(routes!(track_shipment))
        .routes(routes!(shipment_label))
        .routes(routes!(mailbox))
}

#[utoipa::path(get, path = "/admin/tax-rules", tag = "admin: fulfilment", security(("bearer" = []), ("api_key" = [])), params(PageRequest),
    responses((status = 200, body = Page<TaxRule>), (status = 403, body = Problem)))]
async fn list_tax_rules(
    State(state): State<ApiState>,
    caller: Caller,
    Query(page): Query<PageRequest>,
) -> ApiResult<axum::Json<Page<TaxRule>>> {
    caller.require(Permission::BillingManage)?;
    page.validate()?;
    Ok(axum::Json(state.billing.list_tax_rules(&caller.ctx, page).await?))
}

#[utoipa::path(post, path = "/admin/tax-rules", tag = "admin: fulfilment", security(("bearer" = []), ("api_key" = [])), request_body = NewTaxRule,
    responses((status = 201, body = TaxRule), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_tax_rule(
    State(state): State<ApiState>,
    caller: Caller,
    Json(input): Json<NewTaxRule>,
) -> ApiResult<(StatusCode, axum::Json<TaxRule>)> {
    caller.require(Permission::BillingManage)?;
    Ok((StatusCode::CREATED, axum::Json(state.billing.create_tax_rule(&caller.ctx, input).await?)))
}

#[utoipa::path(delete, path = "/admin/tax-rules/{rule_id}", tag = "admin: fulfilment", security(("bearer" = []), ("api_key" = [])),
    params(("rule_id" = uuid::Uuid, Path)), responses((status = 204, description = "Deleted"), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn delete_tax_rule(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require(Permission::BillingManage)?;
    let id = path_id("tax rule", &id)?;
    state.billing.delete_tax_rule(&caller.ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/admin/channels/{channel}/tax-mode", tag = "admin: fulfilment", security(("bearer" = []), ("api_key" = [])),
    params(("channel" = String, Path)), responses((status = 200, body = ChannelTaxMode), (status = 403, body = Problem)))]
async fn get_tax_mode(
    State(state): State<ApiState>,
    caller: Caller,
    Path(channel): Path<String>,
) -> ApiResult<axum::Json<ChannelTaxMode>> {
    caller.require(Permission::BillingManage)?;
    Ok(axum::Json(state.billing.channel_tax_mode(&caller.ctx, &channel).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TaxModeInput {
    prices_include_tax: bool,
}

#[utoipa::path(put, path = "/admin/channels/{channel}/tax-mode", tag = "admin: fulfilment", security(("bearer" = []), ("api_key" = [])),
    params(("channel" = String, Path)), request_body = TaxModeInput,
    responses((status = 200, body = ChannelTaxMode), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn set_tax_mode(
    State(state): State<ApiState>,
    caller: Caller,
    Path(channel): Path<String>,
    Json(input): Json<TaxModeInput>,
) -> ApiResult<axum::Json<ChannelTaxMode>> {
    caller.require(Permission::BillingManage)?;
    let mode = ChannelTaxMode { channel, prices_include_tax: input.prices_include_tax };
    Ok(axum::Json(state.billing.set_channel_tax_mode(&caller.ctx, mode).await?))
}

#[utoipa::path(get, path = "/admin/invoices", tag = "admin: fulfilment", security(("bearer" = []), ("api_key" = [])), params(PageRequest),
    responses((status = 200, body = Page<Invoice>), (status = 403, body = Problem)))]
async fn list_invoices(
    State(state): State<ApiState>,
    caller: Caller,
    Query(page): Query<PageRequest>,
) -> ApiResult<axum::Json<Page<Invoice>>> {
    caller.require(Permission::OrdersRead)?;
    page.validate()?;
    Ok(axum::Json(state.billing.list_invoices(&caller.ctx, page).await?))
}

#[utoipa::path(get, path = "/admin/credit-notes/{credit_note_id}/pdf", tag = "admin: fulfilment", security(("bearer" = []), ("api_key" = [])),
    params(("credit_note_id" = uuid::Uuid, Path)),
    responses((status = 200, content_type = "application/pdf", description = "The credit note"), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn credit_note_pdf(State(state): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    caller.require(Permission::OrdersRead)?;
    let id = path_id("credit note", &id)?;
    let pdf = state.billing.credit_note_pdf(&caller.ctx, id).await?;
    Ok(pdf_response(pdf, &format!("credit-note-{id}.pdf")))
}

#[utoipa::path(get, path = "/admin/shipping/zones", tag = "admin: fulfilment", security(("bearer" = []), ("api_key" = [])), params(PageRequest),
    responses((status = 200, body = Page<Zone>), (status = 403, body = Problem)))]
async fn list_zones(
    State(state): State<ApiState>,
    caller: Caller,
    Query(page): Query<PageRequest>,
) -> ApiResult<axum::Json<Page<Zone>>> {
    caller.require(Permission::ShippingManage)?;
    page.validate()?;
    Ok(axum::Json(state.shipping.list_zones(&caller.ctx, page).await?))
}

#[utoipa::path(post, path = "/admin/shipping/zones", tag = "admin: fulfilment", security(("bearer" = []), ("api_key" = [])), request_body = NewZone,
    responses((status = 201, body = Zone), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn create_zone(
    State(state): State<ApiState>,
    caller: Caller,
    Json(input): Json<NewZone>,
) -> ApiResult<(StatusCode, axum::Json<Zone>)> {
    caller.require(Permission::ShippingManage)?;
    Ok((StatusCode::CREATED, axum::Json(state.shipping.create_zone(&caller.ctx, input).await?)))
}

#[utoipa::path(get, path = "/admin/shipping/methods", tag = "admin: fulfilment", security(("bearer" = []), ("api_key" = [])), params(PageRequest),
    responses((status = 200, body = Page<ShippingMethod>), (status = 403, body = Problem)))]
async fn list_methods(
    State(state): State<ApiState>,
    caller: Caller,
    Query(page): Query<PageRequest>,
) -> ApiResult<axum::Json<Page<ShippingMethod>>> {
    caller.require(Permission::ShippingManage)?;
    page.validate()?;
    Ok(axum::Json(state.shipping.list_methods(&caller.ctx, page).await?))
}

#[utoipa::path(post, path = "/admin/shipping/methods", tag = "admin: fulfilment", security(("bearer" = []), ("api_key" = [])), request_body = NewShippingMethod,
    responses((status = 201, body = ShippingMethod), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_method(
    State(state): State<ApiState>,
    caller: Caller,
    Json(input): Json<NewShippingMethod>,
) -> ApiResult<(StatusCode, axum::Json<ShippingMethod>)> {
    caller.require(Permission::ShippingManage)?;
    Ok((StatusCode::CREATED, axum::Json(state.shipping.create_method(&caller.ctx, input).await?)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct MethodActivity {
    active: bool,
}

#[utoipa::path(put, path = "/admin/shipping/methods/{code}/active", tag = "admin: fulfilment", security(("bearer" = []), ("api_key" = [])),
    params(("code" = String, Path)), request_body = MethodActivity,
    responses((status = 200, body = ShippingMethod), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn set_method_active(
    State(state): State<ApiState>,
    caller: Caller,
    Path(code): Path<String>,
    Json(input): Json<MethodActivity>,
) -> ApiResult<axum::Json<ShippingMethod>> {
    caller.require(Permission::ShippingManage)?;
    Ok(axum::Json(state.shipping.set_method_active(&caller.ctx, &code, input.active).await?))
}

#[utoipa::path(get, path = "/admin/shipments", tag = "admin: fulfilment", security(("bearer" = []), ("api_key" = [])), params(PageRequest),
    responses((status = 200, body = Page<Shipment>), (status = 403, body = Problem)))]
async fn list_shipments(
    State(state): State<ApiState>,
    caller: Caller,
    Query(page): Query<PageRequest>,
) -> ApiResult<axum::Json<Page<Shipment>>> {
    caller.require(Permission::OrdersRead)?;
    page.validate()?;
    Ok(axum::Json(state.shipping.list_shipments(&caller.ctx, page).await?))
}

#[utoipa::path(post, path = "/admin/shipments/{shipment_id}/tracking", tag = "admin: fulfilment", security(("bearer" = []), ("api_key" = [])),
    params(("shipment_id" = uuid::Uuid, Path)), request_body = TrackingUpdate,
    responses((status = 200, body = Shipment), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem, description = "Tracking never goes backwards")))]
async fn track_shipment(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(input): Json<TrackingUpdate>,
) -> ApiResult<axum::Json<Shipment>> {
    caller.require(Permission::ShippingManage)?;
    let id = path_id("shipment", &id)?;
    Ok(axum::Json(state.shipping.track(&caller.ctx, id, input).await?))
}

#[utoipa::path(get, path = "/admin/shipments/{shipment_id}/label.pdf", tag = "admin: fulfilment", security(("bearer" = []), ("api_key" = [])),
    params(("shipment_id" = uuid::Uuid, Path)),
    responses((status = 200, content_type = "application/pdf", description = "The shipping label"), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn shipment_label(State(state): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    caller.require(Permission::ShippingManage)?;
    let id = path_id("shipment", &id)?;
    let pdf = state.shipping.label_pdf(&caller.ctx, id).await?;
    Ok(pdf_response(pdf, &format!("label-{id}.pdf")))
}

#[utoipa::path(get, path = "/admin/messages", tag = "admin: fulfilment", security(("bearer" = []), ("api_key" = [])), params(MessageFilter, PageRequest),
    responses((status = 200, body = Page<Message>, description = "The notification mailbox, newest first"), (status = 403, body = Problem)))]
async fn mailbox(
    State(state): State<ApiState>,
    caller: Caller,
    Query(filter): Query<MessageFilter>,
    Query(page): Query<PageRequest>,
) -> ApiResult<axum::Json<Page<Message>>> {
    caller.require(Permission::MessagesRead)?;
    page.validate()?;
    Ok(axum::Json(state.notification.messages(&caller.ctx, filter, page).await?))
}
