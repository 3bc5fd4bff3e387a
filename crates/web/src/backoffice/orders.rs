//! Orders: the list with filters, and an order's page with its payment, invoice, shipment and
//! returns, and the actions staff take on it (ship, mark delivered, cancel, refund, returns).

use askama::Template;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use chrono::NaiveDate;
use comptoir_contracts::billing::CreditNote;
use comptoir_contracts::identity::Permission;
use comptoir_contracts::ordering::{
    CancelInput, OrderAccess, OrderFilter, OrderReturn, OrderStatus, RefundInput, ReturnInput, ReturnLineInput,
};
use comptoir_contracts::payment::Payment;
use comptoir_contracts::shipping::{ShipmentStatus, TrackingUpdate};
use comptoir_kernel::{Error, PageRequest};
use uuid::Uuid;

use super::{Chrome, staff};
use crate::form::{FormData, FormErrors};
use crate::present::{OrderView, ShipmentView, date_time, order_status};
use crate::session::{FlashKind, Session};
use crate::storefront::Pager;
use crate::view::{PageError, redirect_with, render, render_status};
use crate::{PageResult, WebState};

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/orders", get(list))
        .route("/orders/{id}", get(show))
        .route("/orders/{id}/ship", post(ship))
        .route("/orders/{id}/deliver", post(deliver))
        .route("/orders/{id}/cancel", post(cancel))
        .route("/orders/{id}/refund", post(refund))
        .route("/orders/{id}/returns", post(request_return))
        .route("/orders/{id}/returns/{return_id}/receive", post(receive_return))
        .route("/orders/{id}/invoice", get(invoice))
        .route("/orders/{id}/label", get(label))
}

const STATUSES: [OrderStatus; 9] = [
    OrderStatus::Pending,
    OrderStatus::StockReserved,
    OrderStatus::Paid,
    OrderStatus::Confirmed,
    OrderStatus::Shipped,
    OrderStatus::Delivered,
    OrderStatus::Cancelled,
    OrderStatus::PartiallyRefunded,
    OrderStatus::Refunded,
];

fn status_code(status: OrderStatus) -> String {
    serde_json::to_value(status).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

#[derive(Template)]
#[template(path = "backoffice/orders.html")]
struct OrdersPage {
    chrome: Chrome,
    orders: Vec<OrderView>,
    total: u64,
    pager: Pager,
    statuses: Vec<(String, &'static str)>,
    status: String,
    q: String,
    channel: String,
    from: String,
    to: String,
    errors: FormErrors,
}

fn day(value: &str, field: &str, errors: &mut FormErrors) -> Option<NaiveDate> {
    if value.is_empty() {
        return None;
    }
    let parsed = NaiveDate::parse_from_str(value, "%Y-%m-%d");
    if parsed.is_err() {
        errors.add(field, "Enter a date as YYYY-MM-DD.");
    }
    parsed.ok()
}

async fn list(State(state): State<WebState>, session: Session, RawQuery(raw): RawQuery) -> PageResult {
    let chrome = match staff(&state, &session, Some(Permission::OrdersRead), "/orders").await {
        Ok(chrome) => chrome,
        Err(response) => return Ok(response),
    };
    let params = FormData::from_query(raw);
    let page = params.page_number();
    let (status, q, channel, from, to) =
        (params.text("status"), params.text("q"), params.text("channel"), params.text("from"), params.text("to"));
    let mut errors = FormErrors::default();
    let filter = OrderFilter {
        status: STATUSES.iter().copied().find(|s| status_code(*s) == status),
        customer_id: None,
        channel: Some(channel.clone()).filter(|c| !c.is_empty()),
        placed_from: day(&from, "from", &mut errors).and_then(|d| d.and_hms_opt(0, 0, 0)).map(|t| t.and_utc()),
        placed_to: day(&to, "to", &mut errors).and_then(|d| d.succ_opt()?.and_hms_opt(0, 0, 0)).map(|t| t.and_utc()),
        q: Some(q.clone()).filter(|q| !q.is_empty()),
    };
    let found = state.ordering.search_orders(&session.ctx, filter, PageRequest { page, per_page: 25 }).await?;
    let query = [
        ("status", status.clone()),
        ("q", q.clone()),
        ("channel", channel.clone()),
        ("from", from.clone()),
        ("to", to.clone()),
    ];
    let page_view = OrdersPage {
        chrome,
        pager: Pager::new("/orders", &query, page, 25, found.total),
        total: found.total,
        orders: found.items.into_iter().map(OrderView::new).collect(),
        statuses: STATUSES.iter().map(|s| (status_code(*s), order_status(*s))).collect(),
        status,
        q,
        channel,
        from,
        to,
        errors,
    };
    let code = if page_view.errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    Ok(render_status(code, &page_view))
}

#[derive(Template)]
#[template(path = "backoffice/order.html")]
struct OrderPage {
    chrome: Chrome,
    order: OrderView,
    payments: Vec<Payment>,
    invoice: Option<(String, String)>,
    credit_notes: Vec<CreditNote>,
    shipment: Option<ShipmentView>,
    returns: Vec<(OrderReturn, String)>,
    can_write: bool,
    can_ship: bool,
    errors: FormErrors,
}

fn order_id(id: &str) -> Result<Uuid, PageError> {
    Uuid::parse_str(id).map_err(|_| PageError(Error::not_found("order", id)))
}

async fn order_page(
    state: &WebState,
    session: &Session,
    chrome: Chrome,
    id: Uuid,
    errors: FormErrors,
) -> Result<OrderPage, PageError> {
    let ctx = &session.ctx;
    let order = state.ordering.get_order(ctx, id, OrderAccess::Staff).await?;
    let (payments, invoice, credit_notes, shipment, returns) = tokio::join!(
        state.payment.payments_for_order(ctx, id),
        state.billing.invoice_for_order(ctx, id),
        state.billing.credit_notes_for_order(ctx, id),
        state.shipping.shipment_for_order(ctx, id),
        state.ordering.returns_for_order(ctx, id, OrderAccess::Staff),
    );
    Ok(OrderPage {
        chrome,
        order: OrderView::new(order),
        payments: payments?,
        invoice: invoice.ok().and_then(|i| i.number.map(|n| (n, i.gross.to_string()))),
        credit_notes: credit_notes.unwrap_or_default(),
        shipment: shipment.ok().as_ref().map(ShipmentView::new),
        returns: returns?.into_iter().map(|r| (r.clone(), date_time(&r.created_at))).collect(),
        can_write: session.can(Permission::OrdersWrite),
        can_ship: session.can(Permission::ShippingManage),
        errors,
    })
}

async fn show(State(state): State<WebState>, session: Session, Path(id): Path<String>) -> PageResult {
    let chrome = match staff(&state, &session, Some(Permission::OrdersRead), "/orders").await {
        Ok(chrome) => chrome,
        Err(response) => return Ok(response),
    };
    Ok(render(&order_page(&state, &session, chrome, order_id(&id)?, FormErrors::default()).await?))
}

/// Runs an action on an order for staff holding `permission`: back to the order with a message,
/// or the order's page again with what went wrong.
async fn act<F, Fut>(
    state: &WebState,
    session: &Session,
    id: &str,
    permission: Permission,
    done: &str,
    action: F,
) -> PageResult
where
    F: FnOnce(Uuid) -> Fut,
    Fut: std::future::Future<Output = Result<(), Error>>,
{
    let chrome = match staff(state, session, Some(permission), "/orders").await {
        Ok(chrome) => chrome,
        Err(response) => return Ok(response),
    };
    let id = order_id(id)?;
    match action(id).await {
        Ok(()) => Ok(redirect_with(session, &format!("/orders/{id}"), FlashKind::Success, done)),
        Err(error) => {
            let mut errors = FormErrors::default();
            let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            errors.absorb(error, str::to_string)?;
            Ok(render_status(status, &order_page(state, session, chrome, id, errors).await?))
        }
    }
}

async fn track(
    state: &WebState,
    session: &Session,
    order: Uuid,
    status: ShipmentStatus,
    note: Option<String>,
) -> Result<(), Error> {
    let shipment = state.shipping.shipment_for_order(&session.ctx, order).await?;
    state.shipping.track(&session.ctx, shipment.id, TrackingUpdate { status, note }).await.map(|_| ())
}

async fn ship(State(state): State<WebState>, session: Session, Path(id): Path<String>, form: FormData) -> PageResult {
    let note = form.optional("note");
    act(&state, &session, &id, Permission::ShippingManage, "Marked as shipped.", |order| {
        track(&state, &session, order, ShipmentStatus::Shipped, note)
    })
    .await
}

async fn deliver(State(state): State<WebState>, session: Session, Path(id): Path<String>) -> PageResult {
    act(&state, &session, &id, Permission::ShippingManage, "Marked as delivered.", |order| {
        track(&state, &session, order, ShipmentStatus::Delivered, None)
    })
    .await
}

async fn cancel(State(state): State<WebState>, session: Session, Path(id): Path<String>, form: FormData) -> PageResult {
    let input = CancelInput { reason: form.optional("reason").or(Some("cancelled by staff".into())) };
    let (ordering, ctx) = (state.ordering.clone(), session.ctx.clone());
    act(&state, &session, &id, Permission::OrdersWrite, "The order is cancelled.", |order| async move {
        ordering.cancel(&ctx, order, OrderAccess::Staff, input).await.map(|_| ())
    })
    .await
}

/// `restock-<sku>` fields: units of each SKU going back on the shelf.
fn restock_lines(form: &FormData, prefix: &str, errors: &mut FormErrors) -> Vec<ReturnLineInput> {
    let mut lines = Vec::new();
    for (name, _) in form.pairs().iter().filter(|(n, _)| n.starts_with(prefix)) {
        let sku = name[prefix.len()..].to_string();
        let value = form.text(name);
        if value.is_empty() {
            continue;
        }
        match value.parse::<i64>() {
            Ok(0) => {}
            Ok(quantity) if quantity > 0 => lines.push(ReturnLineInput { sku, quantity }),
            _ => errors.add(name, "Enter a number of units, 0 or more."),
        }
    }
    lines
}

async fn refund(State(state): State<WebState>, session: Session, Path(id): Path<String>, form: FormData) -> PageResult {
    let mut errors = FormErrors::default();
    let restock = restock_lines(&form, "restock-", &mut errors);
    let order = state.ordering.get_order(&session.ctx, order_id(&id)?, OrderAccess::Staff).await?;
    let amount = match form.optional("amount") {
        Some(_) => form.amount("amount", "an amount", order.currency, &mut errors),
        None => None,
    };
    let input = RefundInput { amount, restock, reason: form.optional("reason") };
    let (ordering, ctx) = (state.ordering.clone(), session.ctx.clone());
    act(&state, &session, &id, Permission::OrdersWrite, "Refunded; a credit note follows.", |order| async move {
        errors.check()?;
        ordering.refund(&ctx, order, input).await.map(|_| ())
    })
    .await
}

async fn request_return(
    State(state): State<WebState>,
    session: Session,
    Path(id): Path<String>,
    form: FormData,
) -> PageResult {
    let mut errors = FormErrors::default();
    let lines = restock_lines(&form, "return-", &mut errors);
    let reason = form.text("reason");
    let (ordering, ctx) = (state.ordering.clone(), session.ctx.clone());
    act(&state, &session, &id, Permission::OrdersWrite, "The return is recorded.", |order| async move {
        errors.check()?;
        if lines.is_empty() {
            return Err(Error::validation("return", "Enter the units coming back."));
        }
        let input = ReturnInput { lines, reason: if reason.is_empty() { "returned".into() } else { reason } };
        ordering.request_return(&ctx, order, OrderAccess::Staff, input).await.map(|_| ())
    })
    .await
}

async fn receive_return(
    State(state): State<WebState>,
    session: Session,
    Path((id, return_id)): Path<(String, String)>,
) -> PageResult {
    let return_id = Uuid::parse_str(&return_id).map_err(|_| PageError(Error::not_found("return", &return_id)))?;
    let (ordering, ctx) = (state.ordering.clone(), session.ctx.clone());
    act(&state, &session, &id, Permission::OrdersWrite, "The returned goods are received.", |_| async move {
        ordering.receive_return(&ctx, return_id).await.map(|_| ())
    })
    .await
}

async fn invoice(State(state): State<WebState>, session: Session, Path(id): Path<String>) -> PageResult {
    if let Err(response) = staff(&state, &session, Some(Permission::OrdersRead), "/orders").await {
        return Ok(response);
    }
    let invoice = state.billing.invoice_for_order(&session.ctx, order_id(&id)?).await?;
    let pdf = state.billing.invoice_pdf(&session.ctx, invoice.id).await?;
    Ok(crate::storefront::pdf_download(pdf, &format!("{}.pdf", invoice.number.unwrap_or_else(|| "invoice".into()))))
}

async fn label(State(state): State<WebState>, session: Session, Path(id): Path<String>) -> PageResult {
    if let Err(response) = staff(&state, &session, Some(Permission::ShippingManage), "/orders").await {
        return Ok(response);
    }
    let shipment = state.shipping.shipment_for_order(&session.ctx, order_id(&id)?).await?;
    let pdf = state.shipping.label_pdf(&session.ctx, shipment.id).await?;
    Ok(crate::storefront::pdf_download(pdf, &format!("label-{}.pdf", shipment.tracking_number)))
}
