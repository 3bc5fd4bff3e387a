//! Back office: orders with filters, detail, cancellation, refunds, returns, and what other
//! modules hold about an order (payments, invoice, credit notes, shipment).

use axum::extract::{Path, State};
use axum::response::Response;
use comptoir_contracts::billing::{CreditNote, Invoice};
use comptoir_contracts::identity::Permission;
use comptoir_contracts::ordering::{CancelInput, Order, OrderAccess, OrderFilter, OrderReturn, RefundInput};
use comptoir_contracts::payment::Payment;
use comptoir_contracts::shipping::Shipment;
use comptoir_kernel::{Page, PageRequest};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::context::{Caller, path_id};
use crate::extract::{Json, Query};
use crate::problem::{ApiResult, Problem};
use crate::routes::orders::invoice_pdf_response;
use crate::state::ApiState;

pub fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(search_orders))
        .routes(routes!(get_order))
        .routes(routes!(cancel_order))
        .routes(routes!(refund_order))
        .routes(routes!(order_returns))
        .routes(routes!(receive_return))
        .routes(routes!(order_payments))
        .routes(routes!(order_invoice))
        .routes(routes!(order_invoice_pdf))
        .routes(routes!(order_credit_notes))
        .routes(routes!(order_shipment))
        .routes(routes!(list_payments))
}

#[utoipa::path(get, path = "/admin/orders", tag = "admin: orders", security(("bearer" = []), ("api_key" = [])), params(OrderFilter, PageRequest),
    responses((status = 200, body = Page<Order>), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn search_orders(
    State(state): State<ApiState>,
    caller: Caller,
    Query(filter): Query<OrderFilter>,
    Query(page): Query<PageRequest>,
) -> ApiResult<axum::Json<Page<Order>>> {
    caller.require(Permission::OrdersRead)?;
    page.validate()?;
    Ok(axum::Json(state.ordering.search_orders(&caller.ctx, filter, page).await?))
}

#[utoipa::path(get, path = "/admin/orders/{order_id}", tag = "admin: orders", security(("bearer" = []), ("api_key" = [])), params(("order_id" = uuid::Uuid, Path)),
    responses((status = 200, body = Order), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_order(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Order>> {
    caller.require(Permission::OrdersRead)?;
    let id = path_id("order", &id)?;
    Ok(axum::Json(state.ordering.get_order(&caller.ctx, id, OrderAccess::Staff).await?))
}

#[utoipa::path(post, path = "/admin/orders/{order_id}/cancel", tag = "admin: orders", security(("bearer" = []), ("api_key" = [])),
    params(("order_id" = uuid::Uuid, Path)), request_body = CancelInput,
    responses((status = 200, body = Order), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn cancel_order(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(input): Json<CancelInput>,
) -> ApiResult<axum::Json<Order>> {
    caller.require(Permission::OrdersWrite)?;
    let id = path_id("order", &id)?;
    Ok(axum::Json(state.ordering.cancel(&caller.ctx, id, OrderAccess::Staff, input).await?))
}

#[utoipa::path(post, path = "/admin/orders/{order_id}/refund", tag = "admin: orders", security(("bearer" = []), ("api_key" = [])),
    params(("order_id" = uuid::Uuid, Path)), request_body = RefundInput,
    responses((status = 200, body = Order), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem, description = "More than what is left to refund")))]
async fn refund_order(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(input): Json<RefundInput>,
) -> ApiResult<axum::Json<Order>> {
    caller.require(Permission::OrdersWrite)?;
    let id = path_id("order", &id)?;
    Ok(axum::Json(state.ordering.refund(&caller.ctx, id, input).await?))
}

#[utoipa::path(get, path = "/admin/orders/{order_id}/returns", tag = "admin: orders", security(("bearer" = []), ("api_key" = [])),
    params(("order_id" = uuid::Uuid, Path)), responses((status = 200, body = Vec<OrderReturn>), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn order_returns(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Vec<OrderReturn>>> {
    caller.require(Permission::OrdersRead)?;
    let id = path_id("order", &id)?;
    Ok(axum::Json(state.ordering.returns_for_order(&caller.ctx, id, OrderAccess::Staff).await?))
}

#[utoipa::path(post, path = "/admin/returns/{return_id}/receive", tag = "admin: orders", security(("bearer" = []), ("api_key" = [])),
    params(("return_id" = uuid::Uuid, Path)),
    responses((status = 200, body = OrderReturn), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn receive_return(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<OrderReturn>> {
    caller.require(Permission::OrdersWrite)?;
    let id = path_id("return", &id)?;
    Ok(axum::Json(state.ordering.receive_return(&caller.ctx, id).await?))
}

#[utoipa::path(get, path = "/admin/orders/{order_id}/payments", tag = "admin: orders", security(("bearer" = []), ("api_key" = [])),
    params(("order_id" = uuid::Uuid, Path)), responses((status = 200, body = Vec<Payment>), (status = 403, body = Problem)))]
async fn order_payments(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Vec<Payment>>> {
    caller.require(Permission::OrdersRead)?;
    let id = path_id("order", &id)?;
    Ok(axum::Json(state.payment.payments_for_order(&caller.ctx, id).await?))
}

#[utoipa::path(get, path = "/admin/orders/{order_id}/invoice", tag = "admin: orders", security(("bearer" = []), ("api_key" = [])),
    params(("order_id" = uuid::Uuid, Path)), responses((status = 200, body = Invoice), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn order_invoice(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Invoice>> {
    caller.require(Permission::OrdersRead)?;
    let id = path_id("order", &id)?;
    Ok(axum::Json(state.billing.invoice_for_order(&caller.ctx, id).await?))
}

#[utoipa::path(get, path = "/admin/orders/{order_id}/invoice.pdf", tag = "admin: orders", security(("bearer" = []), ("api_key" = [])),
    params(("order_id" = uuid::Uuid, Path)),
    responses((status = 200, content_type = "application/pdf", description = "The issued invoice"), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem, description = "Not issued yet")))]
async fn order_invoice_pdf(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require(Permission::OrdersRead)?;
    let id = path_id("order", &id)?;
    invoice_pdf_response(&state, &caller, id).await
}

#[utoipa::path(get, path = "/admin/orders/{order_id}/credit-notes", tag = "admin: orders", security(("bearer" = []), ("api_key" = [])),
    params(("order_id" = uuid::Uuid, Path)), responses((status = 200, body = Vec<CreditNote>), (status = 403, body = Problem)))]
async fn order_credit_notes(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Vec<CreditNote>>> {
    caller.require(Permission::OrdersRead)?;
    let id = path_id("order", &id)?;
    Ok(axum::Json(state.billing.credit_notes_for_order(&caller.ctx, id).await?))
}

#[utoipa::path(get, path = "/admin/orders/{order_id}/shipment", tag = "admin: orders", security(("bearer" = []), ("api_key" = [])),
    params(("order_id" = uuid::Uuid, Path)), responses((status = 200, body = Shipment), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn order_shipment(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Shipment>> {
    caller.require(Permission::OrdersRead)?;
    let id = path_id("order", &id)?;
    Ok(axum::Json(state.shipping.shipment_for_order(&caller.ctx, id).await?))
}

#[utoipa::path(get, path = "/admin/payments", tag = "admin: orders", security(("bearer" = []), ("api_key" = [])), params(PageRequest),
    responses((status = 200, body = Page<Payment>), (status = 403, body = Problem)))]
async fn list_payments(
    State(state): State<ApiState>,
    caller: Caller,
    Query(page): Query<PageRequest>,
) -> ApiResult<axum::Json<Page<Payment>>> {
    caller.require(Permission::OrdersRead)?;
    page.validate()?;
    Ok(axum::Json(state.payment.list_payments(&caller.ctx, page).await?))
}
