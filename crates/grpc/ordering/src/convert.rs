//! Ordering's contract types ↔ their wire messages, both ways. Inputs cross unchanged (raw strings,
//! `None` kept apart from `Some("")`) so that the module validates them as it does in process;
//! decoding what a peer sent fails as a bad request naming the field, never a panic.

use comptoir_contracts::cart::CartAccess;
use comptoir_contracts::ordering::{
    CancelInput, CartEstimate, Checkout, CheckoutRequest, EstimateRequest, Order, OrderAccess, OrderFilter, OrderLine,
    OrderReturn, OrderStatus, OrderTotals, OrderTransition, RefundInput, ReturnInput, ReturnLine, ReturnLineInput,
    ReturnStatus, ShippingChoice,
};
use comptoir_contracts::payment::PaymentMethodInput;
use comptoir_contracts::shipping::Quote;
use comptoir_grpc::convert::{
    address, all, currency, decimal, money, optional_timestamp, optional_uuid, required, required_address, timestamp,
    to_address, to_decimal, to_money, to_timestamp, uuid,
};
use comptoir_grpc::pb::Empty;
use comptoir_kernel::{Error, Result};
use uuid::Uuid;

use crate::pb;

// ---- Enums -------------------------------------------------------------------------------------

pub fn to_order_status(status: OrderStatus) -> pb::OrderStatus {
    match status {
        OrderStatus::Pending => pb::OrderStatus::Pending,
        OrderStatus::StockReserved => pb::OrderStatus::StockReserved,
        OrderStatus::Paid => pb::OrderStatus::Paid,
        OrderStatus::Confirmed => pb::OrderStatus::Confirmed,
        OrderStatus::Shipped => pb::OrderStatus::Shipped,
        OrderStatus::Delivered => pb::OrderStatus::Delivered,
        OrderStatus::Cancelled => pb::OrderStatus::Cancelled,
        OrderStatus::PartiallyRefunded => pb::OrderStatus::PartiallyRefunded,
        OrderStatus::Refunded => pb::OrderStatus::Refunded,
    }
}

/// Unspecified or a number this side does not know: the peer's bug.
pub fn order_status(value: i32, field: &str) -> Result<OrderStatus> {
    match pb::OrderStatus::try_from(value) {
        Ok(pb::OrderStatus::Pending) => Ok(OrderStatus::Pending),
        Ok(pb::OrderStatus::StockReserved) => Ok(OrderStatus::StockReserved),
        Ok(pb::OrderStatus::Paid) => Ok(OrderStatus::Paid),
        Ok(pb::OrderStatus::Confirmed) => Ok(OrderStatus::Confirmed),
        Ok(pb::OrderStatus::Shipped) => Ok(OrderStatus::Shipped),
        Ok(pb::OrderStatus::Delivered) => Ok(OrderStatus::Delivered),
        Ok(pb::OrderStatus::Cancelled) => Ok(OrderStatus::Cancelled),
        Ok(pb::OrderStatus::PartiallyRefunded) => Ok(OrderStatus::PartiallyRefunded),
        Ok(pb::OrderStatus::Refunded) => Ok(OrderStatus::Refunded),
        Ok(pb::OrderStatus::Unspecified) | Err(_) => Err(unknown_enum(field, value)),
    }
}

pub fn to_return_status(status: ReturnStatus) -> pb::ReturnStatus {
    match status {
        ReturnStatus::Requested => pb::ReturnStatus::Requested,
        ReturnStatus::Received => pb::ReturnStatus::Received,
        ReturnStatus::Refunded => pb::ReturnStatus::Refunded,
    }
}

pub fn return_status(value: i32, field: &str) -> Result<ReturnStatus> {
    match pb::ReturnStatus::try_from(value) {
        Ok(pb::ReturnStatus::Requested) => Ok(ReturnStatus::Requested),
        Ok(pb::ReturnStatus::Received) => Ok(ReturnStatus::Received),
        Ok(pb::ReturnStatus::Refunded) => Ok(ReturnStatus::Refunded),
        Ok(pb::ReturnStatus::Unspecified) | Err(_) => Err(unknown_enum(field, value)),
    }
}

fn unknown_enum(field: &str, value: i32) -> Error {
    Error::bad_request(format!("{field}: {value} is not a known value"))
}

fn optional_order_status(value: Option<i32>, field: &str) -> Result<Option<OrderStatus>> {
    value.map(|v| order_status(v, field)).transpose()
}

// ---- Who asks ----------------------------------------------------------------------------------

pub fn to_order_access(access: OrderAccess) -> pb::OrderAccess {
    let who = match access {
        OrderAccess::Customer(id) => pb::order_access::Who::CustomerId(id.to_string()),
        OrderAccess::Staff => pb::order_access::Who::Staff(Empty {}),
    };
    pb::OrderAccess { who: Some(who) }
}

pub fn order_access(value: Option<pb::OrderAccess>) -> Result<OrderAccess> {
    match required(required(value, "access")?.who, "access")? {
        pb::order_access::Who::CustomerId(id) => Ok(OrderAccess::Customer(uuid(&id, "access.customer_id")?)),
        pb::order_access::Who::Staff(Empty {}) => Ok(OrderAccess::Staff),
    }
}

pub fn to_cart_access(access: &CartAccess) -> pb::CartAccess {
    let who = match access {
        CartAccess::Token(token) => pb::cart_access::Who::Token(token.clone()),
        CartAccess::Customer(id) => pb::cart_access::Who::CustomerId(id.to_string()),
        CartAccess::Staff => pb::cart_access::Who::Staff(Empty {}),
    };
    pb::CartAccess { who: Some(who) }
}

pub fn cart_access(value: Option<pb::CartAccess>) -> Result<CartAccess> {
    match required(required(value, "access")?.who, "access")? {
        // The token as sent: cart decides whether it opens the cart.
        pb::cart_access::Who::Token(token) => Ok(CartAccess::Token(token)),
        pb::cart_access::Who::CustomerId(id) => Ok(CartAccess::Customer(uuid(&id, "access.customer_id")?)),
        pb::cart_access::Who::Staff(Empty {}) => Ok(CartAccess::Staff),
    }
}

// ---- Orders ------------------------------------------------------------------------------------

fn to_line(line: OrderLine) -> pb::OrderLine {
    pb::OrderLine {
        sku: line.sku,
        product_id: line.product_id.to_string(),
        product_name: line.product_name,
        quantity: line.quantity,
        unit_price: Some(to_money(&line.unit_price)),
        tax_rate: to_decimal(&line.tax_rate),
        net: Some(to_money(&line.net)),
        tax: Some(to_money(&line.tax)),
        gross: Some(to_money(&line.gross)),
        weight_grams: line.weight_grams,
    }
}

fn line(value: pb::OrderLine) -> Result<OrderLine> {
    Ok(OrderLine {
        sku: value.sku,
        product_id: uuid(&value.product_id, "lines.product_id")?,
        product_name: value.product_name,
        quantity: value.quantity,
        unit_price: money(value.unit_price, "lines.unit_price")?,
        tax_rate: decimal(&value.tax_rate, "lines.tax_rate")?,
        net: money(value.net, "lines.net")?,
        tax: money(value.tax, "lines.tax")?,
        gross: money(value.gross, "lines.gross")?,
        weight_grams: value.weight_grams,
    })
}

fn to_shipping(choice: ShippingChoice) -> pb::ShippingChoice {
    pb::ShippingChoice {
        method: choice.method,
        name: choice.name,
        carrier: choice.carrier,
        net: Some(to_money(&choice.net)),
        tax: Some(to_money(&choice.tax)),
        gross: Some(to_money(&choice.gross)),
    }
}

fn shipping(value: Option<pb::ShippingChoice>) -> Result<ShippingChoice> {
    let value = required(value, "shipping")?;
    Ok(ShippingChoice {
        method: value.method,
        name: value.name,
        carrier: value.carrier,
        net: money(value.net, "shipping.net")?,
        tax: money(value.tax, "shipping.tax")?,
        gross: money(value.gross, "shipping.gross")?,
    })
}

fn to_totals(totals: OrderTotals) -> pb::OrderTotals {
    pb::OrderTotals {
        net: Some(to_money(&totals.net)),
        tax: Some(to_money(&totals.tax)),
        gross: Some(to_money(&totals.gross)),
    }
}

fn totals(value: Option<pb::OrderTotals>) -> Result<OrderTotals> {
    let value = required(value, "totals")?;
    Ok(OrderTotals {
        net: money(value.net, "totals.net")?,
        tax: money(value.tax, "totals.tax")?,
        gross: money(value.gross, "totals.gross")?,
    })
}

fn to_transition(step: OrderTransition) -> pb::OrderTransition {
    pb::OrderTransition {
        from: step.from.map(|s| to_order_status(s).into()),
        to: to_order_status(step.to).into(),
        cause: step.cause,
        actor: step.actor,
        at: Some(to_timestamp(&step.at)),
    }
}

fn transition(value: pb::OrderTransition) -> Result<OrderTransition> {
    Ok(OrderTransition {
        from: optional_order_status(value.from, "timeline.from")?,
        to: order_status(value.to, "timeline.to")?,
        cause: value.cause,
        actor: value.actor,
        at: timestamp(value.at, "timeline.at")?,
    })
}

pub fn to_order(order: Order) -> pb::Order {
    pb::Order {
        id: order.id.to_string(),
        number: order.number,
        customer_id: order.customer_id.map(|id| id.to_string()),
        email: order.email,
        channel: order.channel,
        currency: order.currency.code().to_string(),
        status: to_order_status(order.status).into(),
        prices_include_tax: order.prices_include_tax,
        lines: order.lines.into_iter().map(to_line).collect(),
        shipping: Some(to_shipping(order.shipping)),
        shipping_address: Some(to_address(&order.shipping_address)),
        billing_address: Some(to_address(&order.billing_address)),
        totals: Some(to_totals(order.totals)),
        refunded: Some(to_money(&order.refunded)),
        reservation_id: order.reservation_id.map(|id| id.to_string()),
        payment_id: order.payment_id.map(|id| id.to_string()),
        cancellation_reason: order.cancellation_reason,
        timeline: order.timeline.into_iter().map(to_transition).collect(),
        created_at: Some(to_timestamp(&order.created_at)),
        updated_at: Some(to_timestamp(&order.updated_at)),
    }
}

pub fn order(value: pb::Order) -> Result<Order> {
    Ok(Order {
        id: uuid(&value.id, "id")?,
        number: value.number,
        customer_id: optional_uuid(value.customer_id.as_deref(), "customer_id")?,
        email: value.email,
        channel: value.channel,
        currency: currency(&value.currency, "currency")?,
        status: order_status(value.status, "status")?,
        prices_include_tax: value.prices_include_tax,
        lines: all(value.lines, line)?,
        shipping: shipping(value.shipping)?,
        shipping_address: required_address(value.shipping_address, "shipping_address")?,
        billing_address: required_address(value.billing_address, "billing_address")?,
        totals: totals(value.totals)?,
        refunded: money(value.refunded, "refunded")?,
        reservation_id: optional_uuid(value.reservation_id.as_deref(), "reservation_id")?,
        payment_id: optional_uuid(value.payment_id.as_deref(), "payment_id")?,
        cancellation_reason: value.cancellation_reason,
        timeline: all(value.timeline, transition)?,
        created_at: timestamp(value.created_at, "created_at")?,
        updated_at: timestamp(value.updated_at, "updated_at")?,
    })
}

pub fn orders(values: Vec<pb::Order>) -> Result<Vec<Order>> {
    all(values, order)
}

// ---- Returns -----------------------------------------------------------------------------------

fn to_return_line_input(line: ReturnLineInput) -> pb::ReturnLineInput {
    pb::ReturnLineInput { sku: line.sku, quantity: line.quantity }
}

fn return_line_input(value: pb::ReturnLineInput) -> ReturnLineInput {
    ReturnLineInput { sku: value.sku, quantity: value.quantity }
}

pub fn to_return_line_inputs(lines: Vec<ReturnLineInput>) -> Vec<pb::ReturnLineInput> {
    lines.into_iter().map(to_return_line_input).collect()
}

pub fn return_line_inputs(values: Vec<pb::ReturnLineInput>) -> Vec<ReturnLineInput> {
    values.into_iter().map(return_line_input).collect()
}

pub fn to_order_return(r: OrderReturn) -> pb::OrderReturn {
    pb::OrderReturn {
        id: r.id.to_string(),
        order_id: r.order_id.to_string(),
        status: to_return_status(r.status).into(),
        lines: r.lines.into_iter().map(|l| pb::ReturnLine { sku: l.sku, quantity: l.quantity }).collect(),
        reason: r.reason,
        created_at: Some(to_timestamp(&r.created_at)),
        updated_at: Some(to_timestamp(&r.updated_at)),
    }
}

pub fn order_return(value: pb::OrderReturn) -> Result<OrderReturn> {
    Ok(OrderReturn {
        id: uuid(&value.id, "id")?,
        order_id: uuid(&value.order_id, "order_id")?,
        status: return_status(value.status, "status")?,
        lines: value.lines.into_iter().map(|l| ReturnLine { sku: l.sku, quantity: l.quantity }).collect(),
        reason: value.reason,
        created_at: timestamp(value.created_at, "created_at")?,
        updated_at: timestamp(value.updated_at, "updated_at")?,
    })
}

// ---- Estimate ----------------------------------------------------------------------------------

fn to_quote(quote: Quote) -> pb::Quote {
    pb::Quote {
        method: quote.method,
        name: quote.name,
        carrier: quote.carrier,
        price: Some(to_money(&quote.price)),
        delivery_days: quote.delivery_days,
    }
}

fn quote(value: pb::Quote) -> Result<Quote> {
    Ok(Quote {
        method: value.method,
        name: value.name,
        carrier: value.carrier,
        price: money(value.price, "shipping_options.price")?,
        delivery_days: value.delivery_days,
    })
}

pub fn to_estimate_request(cart_id: Uuid, access: &CartAccess, request: EstimateRequest) -> pb::EstimateRequest {
    pb::EstimateRequest {
        cart_id: cart_id.to_string(),
        access: Some(to_cart_access(access)),
        country: request.country,
        region: request.region,
        shipping_method: request.shipping_method,
    }
}

pub fn estimate_request(value: pb::EstimateRequest) -> Result<(Uuid, CartAccess, EstimateRequest)> {
    let cart_id = uuid(&value.cart_id, "cart_id")?;
    let access = cart_access(value.access)?;
    let request =
        EstimateRequest { country: value.country, region: value.region, shipping_method: value.shipping_method };
    Ok((cart_id, access, request))
}

pub fn to_estimate(estimate: CartEstimate) -> pb::CartEstimate {
    pb::CartEstimate {
        cart_id: estimate.cart_id.to_string(),
        currency: estimate.currency.code().to_string(),
        prices_include_tax: estimate.prices_include_tax,
        lines: estimate.lines.into_iter().map(to_line).collect(),
        shipping: Some(to_shipping(estimate.shipping)),
        shipping_options: estimate.shipping_options.into_iter().map(to_quote).collect(),
        totals: Some(to_totals(estimate.totals)),
    }
}

pub fn estimate(value: pb::CartEstimate) -> Result<CartEstimate> {
    Ok(CartEstimate {
        cart_id: uuid(&value.cart_id, "cart_id")?,
        currency: currency(&value.currency, "currency")?,
        prices_include_tax: value.prices_include_tax,
        lines: all(value.lines, line)?,
        shipping: shipping(value.shipping)?,
        shipping_options: all(value.shipping_options, quote)?,
        totals: totals(value.totals)?,
    })
}

// ---- Checkout ----------------------------------------------------------------------------------

pub fn to_checkout_request(checkout: Checkout) -> pb::CheckoutRequest {
    let request = checkout.request;
    pb::CheckoutRequest {
        customer_id: checkout.customer_id.to_string(),
        email: checkout.email,
        idempotency_key: checkout.idempotency_key,
        cart_id: request.cart_id.to_string(),
        shipping_address: Some(to_address(&request.shipping_address)),
        billing_address: request.billing_address.as_ref().map(to_address),
        shipping_method: request.shipping_method,
        payment: Some(pb::PaymentMethodInput { provider: request.payment.provider, token: request.payment.token }),
    }
}

pub fn checkout(value: pb::CheckoutRequest) -> Result<Checkout> {
    let payment = required(value.payment, "payment")?;
    Ok(Checkout {
        customer_id: uuid(&value.customer_id, "customer_id")?,
        email: value.email,
        idempotency_key: value.idempotency_key,
        request: CheckoutRequest {
            cart_id: uuid(&value.cart_id, "cart_id")?,
            shipping_address: required_address(value.shipping_address, "shipping_address")?,
            billing_address: value.billing_address.map(address),
            shipping_method: value.shipping_method,
            payment: PaymentMethodInput { provider: payment.provider, token: payment.token },
        },
    })
}

// ---- Search and changes ------------------------------------------------------------------------

pub fn to_filter(filter: OrderFilter) -> pb::OrderFilter {
    pb::OrderFilter {
        status: filter.status.map(|s| to_order_status(s).into()),
        customer_id: filter.customer_id.map(|id| id.to_string()),
        channel: filter.channel,
        placed_from: filter.placed_from.as_ref().map(to_timestamp),
        placed_to: filter.placed_to.as_ref().map(to_timestamp),
        q: filter.q,
    }
}

/// An absent filter filters nothing, as `OrderFilter::default()` does.
pub fn filter(value: Option<pb::OrderFilter>) -> Result<OrderFilter> {
    let Some(value) = value else { return Ok(OrderFilter::default()) };
    Ok(OrderFilter {
        status: optional_order_status(value.status, "filter.status")?,
        customer_id: optional_uuid(value.customer_id.as_deref(), "filter.customer_id")?,
        channel: value.channel,
        placed_from: optional_timestamp(value.placed_from, "filter.placed_from")?,
        placed_to: optional_timestamp(value.placed_to, "filter.placed_to")?,
        q: value.q,
    })
}

pub fn to_cancel_request(id: Uuid, access: OrderAccess, input: CancelInput) -> pb::CancelRequest {
    pb::CancelRequest { id: id.to_string(), access: Some(to_order_access(access)), reason: input.reason }
}

pub fn cancel_request(value: pb::CancelRequest) -> Result<(Uuid, OrderAccess, CancelInput)> {
    Ok((uuid(&value.id, "id")?, order_access(value.access)?, CancelInput { reason: value.reason }))
}

pub fn to_refund_request(id: Uuid, input: RefundInput) -> pb::RefundRequest {
    pb::RefundRequest {
        id: id.to_string(),
        amount: input.amount,
        restock: to_return_line_inputs(input.restock),
        reason: input.reason,
    }
}

pub fn refund_request(value: pb::RefundRequest) -> Result<(Uuid, RefundInput)> {
    let input = RefundInput { amount: value.amount, restock: return_line_inputs(value.restock), reason: value.reason };
    Ok((uuid(&value.id, "id")?, input))
}

pub fn to_request_return_request(id: Uuid, access: OrderAccess, input: ReturnInput) -> pb::RequestReturnRequest {
    pb::RequestReturnRequest {
        id: id.to_string(),
        access: Some(to_order_access(access)),
        lines: to_return_line_inputs(input.lines),
        reason: input.reason,
    }
}

pub fn request_return_request(value: pb::RequestReturnRequest) -> Result<(Uuid, OrderAccess, ReturnInput)> {
    let input = ReturnInput { lines: return_line_inputs(value.lines), reason: value.reason };
    Ok((uuid(&value.id, "id")?, order_access(value.access)?, input))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_survives_the_trip() {
        use OrderStatus::*;
        for status in
            [Pending, StockReserved, Paid, Confirmed, Shipped, Delivered, Cancelled, PartiallyRefunded, Refunded]
        {
            assert_eq!(order_status(to_order_status(status).into(), "status").unwrap(), status);
        }
        for status in [ReturnStatus::Requested, ReturnStatus::Received, ReturnStatus::Refunded] {
            assert_eq!(return_status(to_return_status(status).into(), "status").unwrap(), status);
        }
    }

    #[test]
    fn unspecified_or_unknown_enums_and_missing_access_are_bad_requests() {
        for value in [0, 99] {
            let e = order_status(value, "filter.status").unwrap_err();
            assert_eq!(e.status(), 400);
            assert!(e.to_string().contains("filter.status"), "{e}");
            assert_eq!(return_status(value, "status").unwrap_err().status(), 400);
        }
        assert!(order_access(None).unwrap_err().to_string().contains("access"));
        assert_eq!(order_access(Some(pb::OrderAccess { who: None })).unwrap_err().status(), 400);
        assert_eq!(cart_access(Some(pb::CartAccess { who: None })).unwrap_err().status(), 400);
    }

    #[test]
    fn accesses_survive_the_trip() {
        let id = Uuid::now_v7();
        assert!(
            matches!(order_access(Some(to_order_access(OrderAccess::Customer(id)))), Ok(OrderAccess::Customer(c)) if c == id)
        );
        assert!(matches!(order_access(Some(to_order_access(OrderAccess::Staff))), Ok(OrderAccess::Staff)));
        for access in [CartAccess::Token(String::new()), CartAccess::Customer(id), CartAccess::Staff] {
            // CartAccess has no PartialEq: compare what it shows.
            let back = cart_access(Some(to_cart_access(&access))).unwrap();
            assert_eq!(format!("{back:?}"), format!("{access:?}"));
        }
    }

    #[test]
    fn optional_inputs_keep_absent_apart_from_empty() {
        let id = Uuid::now_v7();
        for reason in [None, Some(String::new())] {
            let (_, _, input) =
                cancel_request(to_cancel_request(id, OrderAccess::Staff, CancelInput { reason: reason.clone() }))
                    .unwrap();
            assert_eq!(input.reason, reason);
        }
        for amount in [None, Some(0)] {
            let (_, input) =
                refund_request(to_refund_request(id, RefundInput { amount, restock: vec![], reason: None })).unwrap();
            assert_eq!(input.amount, amount);
        }
        assert_eq!(filter(None).unwrap().status, None);
    }
}
