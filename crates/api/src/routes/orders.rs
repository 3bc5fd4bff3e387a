//! Checkout and the customer's orders: history, detail with timeline, cancellation, returns,
//! invoice PDF and shipment tracking.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use comptoir_contracts::billing::Invoice;
use comptoir_contracts::ordering::{
    CancelInput, Checkout, CheckoutRequest, Order, OrderAccess, OrderReturn, ReturnInput,
};
use comptoir_contracts::shipping::{Quote, QuoteRequest, Shipment};
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
        .routes(routes!(shipping_quotes))
        .routes(routes!(checkout))
        .routes(routes!(my_orders))
        .routes(routes!(my_order))
        .routes(routes!(cancel_my_order))
        .routes(routes!(my_returns, request_return))
        .routes(routes!(my_invoice))
        .routes(routes!(my_invoice_pdf))
        .routes(routes!(my_shipment))
}

#[utoipa::path(post, path = "/shipping/quotes", tag = "checkout", request_body = QuoteRequest,
    responses((status = 200, body = Vec<Quote>, description = "Methods serving the destination, cheapest first"), (status = 422, body = Problem)))]
async fn shipping_quotes(
    State(state): State<ApiState>,
    caller: Caller,
    Json(input): Json<QuoteRequest>,
) -> ApiResult<axum::Json<Vec<Quote>>> {
    Ok(axum::Json(state.shipping.quotes(&caller.ctx, input).await?))
}

#[utoipa::path(post, path = "/checkout", tag = "checkout", security(("bearer" = [])), request_body = CheckoutRequest,
    params(("Idempotency-Key" = String, Header, description = "Required: a retry with the same key returns the first result")),
    responses((status = 201, body = Order, description = "Paid and confirmed"),
              (status = 402, body = Problem, description = "Payment declined; the order is cancelled and nothing is charged"),
              (status = 404, body = Problem, description = "Unknown or foreign cart"),
              (status = 409, body = Problem, description = "Not enough stock; the order is cancelled and nothing is charged"),
              (status = 422, body = Problem)))]
async fn checkout(
    State(state): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    Json(request): Json<CheckoutRequest>,
) -> ApiResult<(StatusCode, axum::Json<Order>)> {
    let customer_id = caller.customer_id()?;
    let idempotency_key = headers
        .get(&IDEMPOTENCY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| {
            ApiError(Error::BadRequest {
                message: "a checkout needs an Idempotency-Key header, so that a retry never orders twice".into(),
                errors: vec![FieldError { field: "Idempotency-Key".into(), message: "is required".into() }],
            })
        })?
        .to_string();
    let customer = state.identity.get_customer(&caller.ctx, customer_id).await?;
    let checkout = Checkout { customer_id, email: customer.email, idempotency_key, request };
    Ok((StatusCode::CREATED, axum::Json(state.ordering.checkout(&caller.ctx, checkout).await?)))
}

#[utoipa::path(get, path = "/me/orders", tag = "account", security(("bearer" = [])), params(PageRequest),
    responses((status = 200, body = Page<Order>), (status = 401, body = Problem)))]
async fn my_orders(
    State(state): State<ApiState>,
    caller: Caller,
    Query(page): Query<PageRequest>,
) -> ApiResult<axum::Json<Page<Order>>> {
    let customer_id = caller.customer_id()?;
    page.validate()?;
    Ok(axum::Json(state.ordering.customer_orders(&caller.ctx, customer_id, page).await?))
}

#[utoipa::path(get, path = "/me/orders/{order_id}", tag = "account", security(("bearer" = [])), params(("order_id" = uuid::Uuid, Path)),
    responses((status = 200, body = Order, description = "With its timeline"), (status = 404, body = Problem)))]
async fn my_order(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Order>> {
    let access = OrderAccess::Customer(caller.customer_id()?);
    let id = path_id("order", &id)?;
    Ok(axum::Json(state.ordering.get_order(&caller.ctx, id, access).await?))
}

#[utoipa::path(post, path = "/me/orders/{order_id}/cancel", tag = "account", security(("bearer" = [])), params(("order_id" = uuid::Uuid, Path)),
    request_body = CancelInput,
    responses((status = 200, body = Order), (status = 404, body = Problem), (status = 409, body = Problem, description = "Already shipped")))]
async fn cancel_my_order(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(input): Json<CancelInput>,
) -> ApiResult<axum::Json<Order>> {
    let access = OrderAccess::Customer(caller.customer_id()?);
    let id = path_id("order", &id)?;
    Ok(axum::Json(state.ordering.cancel(&caller.ctx, id, access, input).await?))
}

#[utoipa::path(get, path = "/me/orders/{order_id}/returns", tag = "account", security(("bearer" = [])), params(("order_id" = uuid::Uuid, Path)),
    responses((status = 200, body = Vec<OrderReturn>), (status = 404, body = Problem)))]
async fn my_returns(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Vec<OrderReturn>>> {
    let access = OrderAccess::Customer(caller.customer_id()?);
    let id = path_id("order", &id)?;
    Ok(axum::Json(state.ordering.returns_for_order(&caller.ctx, id, access).await?))
}

#[utoipa::path(post, path = "/me/orders/{order_id}/returns", tag = "account", security(("bearer" = [])), params(("order_id" = uuid::Uuid, Path)),
    request_body = ReturnInput,
    responses((status = 201, body = OrderReturn), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn request_return(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(input): Json<ReturnInput>,
) -> ApiResult<(StatusCode, axum::Json<OrderReturn>)> {
    let access = OrderAccess::Customer(caller.customer_id()?);
    let id = path_id("order", &id)?;
    Ok((StatusCode::CREATED, axum::Json(state.ordering.request_return(&caller.ctx, id, access, input).await?)))
}

#[utoipa::path(get, path = "/me/orders/{order_id}/invoice", tag = "account", security(("bearer" = [])), params(("order_id" = uuid::Uuid, Path)),
    responses((status = 200, body = Invoice), (status = 404, body = Problem)))]
async fn my_invoice(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Invoice>> {
    let access = OrderAccess::Customer(caller.customer_id()?);
    let id = path_id("order", &id)?;
    // Reading the order first is the ownership check: another customer's order is a 404.
    let order = state.ordering.get_order(&caller.ctx, id, access).await?;
    Ok(axum::Json(state.billing.invoice_for_order(&caller.ctx, order.id).await?))
}

#[utoipa::path(get, path = "/me/orders/{order_id}/invoice.pdf", tag = "account", security(("bearer" = [])), params(("order_id" = uuid::Uuid, Path)),
    responses((status = 200, content_type = "application/pdf", description = "The issued invoice"), (status = 404, body = Problem),
              (status = 409, body = Problem, description = "Not issued yet")))]
async fn my_invoice_pdf(State(state): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    let access = OrderAccess::Customer(caller.customer_id()?);
    let id = path_id("order", &id)?;
    let order = state.ordering.get_order(&caller.ctx, id, access).await?;
    invoice_pdf_response(&state, &caller, order.id).await
}

/// The order's issued invoice as a PDF download.
pub(crate) async fn invoice_pdf_response(
    state: &ApiState,
    caller: &Caller,
    order_id: uuid::Uuid,
) -> ApiResult<Response> {
    let invoice = state.billing.invoice_for_order(&caller.ctx, order_id).await?;
    let pdf = state.billing.invoice_pdf(&caller.ctx, invoice.id).await?;
    let name = invoice.number.unwrap_or_else(|| invoice.id.to_string());
    Ok(pdf_response(pdf, &format!("invoice-{name}.pdf")))
}

pub(crate) fn pdf_response(pdf: Vec<u8>, filename: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{filename}\"")),
        ],
        pdf,
    )
        .into_response()
}

#[utoipa::path(get, path = "/me/orders/{order_id}/shipment", tag = "account", security(("bearer" = [])), params(("order_id" = uuid::Uuid, Path)),
    responses((status = 200, body = Shipment, description = "With its tracking events"), (status = 404, body = Problem)))]
async fn my_shipment(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Shipment>> {
    let access = OrderAccess::Customer(caller.customer_id()?);
    let id = path_id("order", &id)?;
    let order = state.ordering.get_order(&caller.ctx, id, access).await?;
    Ok(axum::Json(state.shipping.shipment_for_order(&caller.ctx, order.id).await?))
}
