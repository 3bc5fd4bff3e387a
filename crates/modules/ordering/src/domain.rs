//! Ordering rules without I/O: the order state machine, the order as the module keeps it, pricing
//! an order from a cart and its quotes, and reading checkout, cancellation, refund and return
//! requests.

use std::collections::HashMap;

use comptoir_contracts::address::PostalAddress;
use comptoir_contracts::billing::TaxBreakdown;
use comptoir_contracts::cart::{Cart, CartStatus};
use comptoir_contracts::ordering::events::{OrderCancelled, OrderPlaced, OrderRefunded, OrderShipment, ReturnChanged};
use comptoir_contracts::ordering::{
    CartEstimate, Checkout, EstimateRequest, Order, OrderAccess, OrderLine, OrderReturn, OrderSnapshot, OrderStatus,
    OrderTotals, OrderTransition, RefundInput, ReturnInput, ReturnLine, ReturnLineInput, ReturnStatus, ShippingChoice,
};
use comptoir_contracts::payment::PaymentMethodInput;
use comptoir_contracts::shipping::{Quote, ShipmentStatus};
use comptoir_kernel::time::Timestamp;
use comptoir_kernel::validate::Problems;
use comptoir_kernel::{ActorType, Error, Money, RequestContext, Result, validate};
use uuid::Uuid;

/// The timeline's actor for what Comptoir does by itself (sagas, event handlers, sweepers).
pub const SYSTEM: &str = "system";
const MAX_KEY_LEN: usize = 200;
const MAX_METHOD_LEN: usize = 64;
const MAX_REASON_LEN: usize = 500;
const MAX_REQUEST_LINES: usize = 100;

// ---- The state machine -----------------------------------------------------------------------

pub const STATUSES: [OrderStatus; 9] = [
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

pub fn status_to_db(status: OrderStatus) -> &'static str {
    match status {
        OrderStatus::Pending => "pending",
        OrderStatus::StockReserved => "stock_reserved",
        OrderStatus::Paid => "paid",
        OrderStatus::Confirmed => "confirmed",
        OrderStatus::Shipped => "shipped",
        OrderStatus::Delivered => "delivered",
        OrderStatus::Cancelled => "cancelled",
        OrderStatus::PartiallyRefunded => "partially_refunded",
        OrderStatus::Refunded => "refunded",
    }
}

pub fn status_from_db(value: &str) -> Result<OrderStatus> {
    STATUSES
        .into_iter()
        .find(|s| status_to_db(*s) == value)
        .ok_or_else(|| Error::internal(format!("unknown order status {value:?} in the database")))
}

/// Whether an order may go from `from` to `to`. Cancelled and refunded orders are final; a
/// partially refunded order may be refunded again, up to what was charged.
pub fn transition(from: OrderStatus, to: OrderStatus) -> Result<()> {
    use OrderStatus::*;
    let allowed = match from {
        Pending => matches!(to, StockReserved | Cancelled),
        StockReserved => matches!(to, Paid | Cancelled),
        Paid => matches!(to, Confirmed | Cancelled),
        Confirmed => matches!(to, Shipped | Cancelled | PartiallyRefunded | Refunded),
        Shipped => matches!(to, Delivered | PartiallyRefunded | Refunded),
        Delivered | PartiallyRefunded => matches!(to, PartiallyRefunded | Refunded),
        Cancelled | Refunded => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(Error::conflict(
            "invalid-order-transition",
            format!("an order cannot go from {} to {}", status_to_db(from), status_to_db(to)),
        ))
    }
}

/// Who the timeline names for a change made with `access`.
pub fn actor(ctx: &RequestContext, access: OrderAccess) -> String {
    match access {
        OrderAccess::Customer(id) => format!("customer:{id}"),
        OrderAccess::Staff => match (ctx.actor.kind, &ctx.actor.id) {
            (ActorType::User, Some(id)) => format!("staff:{id}"),
            (ActorType::App, Some(id)) => format!("app:{id}"),
            _ => SYSTEM.to_string(),
        },
    }
}

/// The current time at the precision the database keeps (microseconds), so that an order
/// returned by a change equals the order read back later.
pub fn now() -> Timestamp {
    use chrono::SubsecRound;
    comptoir_kernel::time::now().trunc_subsecs(6)
}

/// The order's human-facing number.
pub fn order_number(sequence: i64) -> String {
    format!("CO-{sequence:06}")
}

// ---- A refused checkout ----------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    InsufficientStock,
    PaymentDeclined,
}

impl FailureKind {
    pub fn to_db(self) -> &'static str {
        match self {
            FailureKind::InsufficientStock => "insufficient_stock",
            FailureKind::PaymentDeclined => "payment_declined",
        }
    }

    pub fn from_db(value: &str) -> Result<FailureKind> {
        match value {
            "insufficient_stock" => Ok(FailureKind::InsufficientStock),
            "payment_declined" => Ok(FailureKind::PaymentDeclined),
            other => Err(Error::internal(format!("unknown checkout failure {other:?} in the database"))),
        }
    }
}

/// Why a placed order's checkout was refused, kept so that a retry of the same checkout gets the
/// same answer as the first attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutFailure {
    pub kind: FailureKind,
    pub field: Option<String>,
    pub message: String,
}

impl CheckoutFailure {
    pub fn declined(reason: Option<&str>) -> Self {
        let reason = reason.map(str::trim).filter(|r| !r.is_empty()).unwrap_or("no reason given");
        CheckoutFailure {
            kind: FailureKind::PaymentDeclined,
            field: None,
            message: format!("payment declined: {reason}"),
        }
    }

    /// Inventory's `insufficient-stock` refusal; `None` for any other error. The checkout reserves
    /// the cart's lines in the cart's order, so inventory's `lines[i]` is the cart's `lines[i]`.
    pub fn from_stock_error(e: &Error) -> Option<Self> {
        let Error::Conflict { code: "insufficient-stock", message, errors } = e else { return None };
        Some(CheckoutFailure {
            kind: FailureKind::InsufficientStock,
            field: errors.first().map(|f| format!("cart.{}", f.field)),
            message: message.clone(),
        })
    }

    pub fn to_error(&self) -> Error {
        match (self.kind, &self.field) {
            (FailureKind::PaymentDeclined, _) => Error::PaymentDeclined(self.message.clone()),
            (FailureKind::InsufficientStock, Some(field)) => {
                Error::conflict_on("insufficient-stock", field.clone(), self.message.clone())
            }
            (FailureKind::InsufficientStock, None) => Error::conflict("insufficient-stock", self.message.clone()),
        }
    }

    /// The cancellation reason the order shows.
    pub fn reason(&self) -> String {
        match self.kind {
            FailureKind::PaymentDeclined => self.message.clone(),
            FailureKind::InsufficientStock => format!("insufficient stock: {}", self.message),
        }
    }
}

// ---- The order as kept -----------------------------------------------------------------------

/// An order with what ordering keeps beside the public view.
#[derive(Debug, Clone)]
pub struct OrderRecord {
    pub order: Order,
    pub checkout_key: Option<String>,
    pub cart_id: Option<Uuid>,
    pub failure: Option<CheckoutFailure>,
    /// Units of each line put back on the shelf so far, in line order.
    pub restocked: Vec<i64>,
    /// Refunds recorded so far; numbers the next refund's idempotency key.
    pub refund_count: i64,
    /// Bumped by every write, so that a write based on a stale read is refused.
    pub version: i64,
}

/// What a cancellation gives back besides the money.
#[derive(Debug, Clone, PartialEq)]
pub struct Undone {
    /// The reservation to release: its units were never sold.
    pub release: Option<Uuid>,
    /// Units sold that go back on the shelf.
    pub restock: Vec<ReturnLine>,
}

impl OrderRecord {
    pub fn status(&self) -> OrderStatus {
        self.order.status
    }

    pub fn visible_to(&self, access: OrderAccess) -> bool {
        match access {
            OrderAccess::Customer(id) => self.order.customer_id == Some(id),
            OrderAccess::Staff => true,
        }
    }

    /// Moves the order along the state machine, recording the step on its timeline.
    pub fn move_to(&mut self, to: OrderStatus, cause: impl Into<String>, actor: &str, at: Timestamp) -> Result<()> {
        transition(self.order.status, to)?;
        self.order.timeline.push(OrderTransition {
            from: Some(self.order.status),
            to,
            cause: cause.into(),
            actor: actor.to_string(),
            at,
        });
        self.order.status = to;
        self.order.updated_at = at;
        Ok(())
    }

    /// Cancels, recording `reason`; `refunded` is the money given back for it, if any. Says which
    /// stock the cancellation gives back: a reservation not sold yet is released, units already
    /// sold (a confirmed order) are put back on the shelf.
    pub fn cancel(&mut self, reason: &str, refunded: Option<Money>, actor: &str, at: Timestamp) -> Result<Undone> {
        let from = self.order.status;
        self.move_to(OrderStatus::Cancelled, reason, actor, at)?;
        self.order.cancellation_reason = Some(reason.to_string());
        if let Some(money) = refunded {
            self.order.refunded.amount += money.amount;
        }
        let release = match from {
            OrderStatus::Pending | OrderStatus::StockReserved | OrderStatus::Paid => self.order.reservation_id,
            _ => None,
        };
        let mut restock = Vec::new();
        if from == OrderStatus::Confirmed {
            for (line, restocked) in self.order.lines.iter().zip(self.restocked.iter_mut()) {
                if line.quantity > *restocked {
                    restock.push(ReturnLine { sku: line.sku.clone(), quantity: line.quantity - *restocked });
                    *restocked = line.quantity;
                }
            }
        }
        Ok(Undone { release, restock })
    }

    /// Cancels a checkout refused for missing stock or a declined payment.
    pub fn fail(&mut self, failure: CheckoutFailure, actor: &str, at: Timestamp) -> Result<Undone> {
        let undone = self.cancel(&failure.reason(), None, actor, at)?;
        self.failure = Some(failure);
        Ok(undone)
    }

    /// Records a refund already made by payment, and the units it puts back.
    pub fn apply_refund(&mut self, plan: &RefundPlan, actor: &str, at: Timestamp) -> Result<()> {
        let refunded = self.order.refunded.amount + plan.amount.amount;
        if plan.amount.amount <= 0 || refunded > self.order.totals.gross.amount {
            return Err(Error::validation("amount", format!("must be at most {}", self.remaining())));
        }
        let to = if refunded == self.order.totals.gross.amount {
            OrderStatus::Refunded
        } else {
            OrderStatus::PartiallyRefunded
        };
        let cause = match &plan.reason {
            Some(reason) => format!("refunded {}: {reason}", plan.amount),
            None => format!("refunded {}", plan.amount),
        };
        self.move_to(to, cause, actor, at)?;
        for unit in &plan.restock {
            let position = self.order.lines.iter().position(|l| l.sku == unit.sku);
            let Some(i) = position.filter(|&i| self.restocked[i] + unit.quantity <= self.order.lines[i].quantity)
            else {
                return Err(Error::validation("restock", format!("too many units of {} to restock", unit.sku)));
            };
            self.restocked[i] += unit.quantity;
        }
        self.order.refunded.amount = refunded;
        self.refund_count += 1;
        Ok(())
    }

    /// What was charged and not refunded yet.
    pub fn remaining(&self) -> Money {
        Money::new(self.order.totals.gross.amount - self.order.refunded.amount, self.order.currency)
    }

    /// The answer to a retry of the checkout that placed this order: the order as it is, or the
    /// error the first attempt got if its stock or payment was refused.
    pub fn answer_retry(self) -> Result<Order> {
        match (&self.failure, self.order.status) {
            (Some(failure), OrderStatus::Cancelled) => Err(failure.to_error()),
            _ => Ok(self.order),
        }
    }

    pub fn snapshot(&self) -> OrderSnapshot {
        let o = &self.order;
        OrderSnapshot {
            order_id: o.id,
            number: o.number.clone(),
            customer_id: o.customer_id,
            email: o.email.clone(),
            channel: o.channel.clone(),
            currency: o.currency,
            prices_include_tax: o.prices_include_tax,
            lines: o.lines.clone(),
            shipping: o.shipping.clone(),
            shipping_address: o.shipping_address.clone(),
            billing_address: o.billing_address.clone(),
            totals: o.totals.clone(),
            placed_at: o.created_at,
        }
    }

    pub fn placed_event(&self) -> OrderPlaced {
        OrderPlaced {
            order: self.snapshot(),
            cart_id: self.cart_id,
            reservation_id: self.order.reservation_id,
            payment_id: self.order.payment_id,
        }
    }

    /// `before_confirmation`: the order was cancelled before its checkout completed.
    pub fn cancelled_event(&self, before_confirmation: bool) -> OrderCancelled {
        OrderCancelled {
            order_id: self.order.id,
            number: self.order.number.clone(),
            email: self.order.email.clone(),
            customer_id: self.order.customer_id,
            reason: self.order.cancellation_reason.clone().unwrap_or_default(),
            reservation_id: self.order.reservation_id,
            before_confirmation,
        }
    }

    pub fn refunded_event(&self, amount: Money, restock: Vec<ReturnLine>, reason: Option<String>) -> OrderRefunded {
        OrderRefunded {
            order_id: self.order.id,
            number: self.order.number.clone(),
            email: self.order.email.clone(),
            amount,
            restock,
            reservation_id: self.order.reservation_id,
            reason,
        }
    }

    pub fn shipment_event(&self, shipment_id: Uuid, carrier: &str, tracking_number: &str) -> OrderShipment {
        OrderShipment {
            order_id: self.order.id,
            number: self.order.number.clone(),
            email: self.order.email.clone(),
            customer_id: self.order.customer_id,
            shipment_id,
            carrier: carrier.to_string(),
            tracking_number: tracking_number.to_string(),
        }
    }

    pub fn return_event(&self, r: &OrderReturn) -> ReturnChanged {
        ReturnChanged {
            return_id: r.id,
            order_id: self.order.id,
            number: self.order.number.clone(),
            email: self.order.email.clone(),
            customer_id: self.order.customer_id,
            status: r.status,
            lines: r.lines.clone(),
            reason: r.reason.clone(),
        }
    }
}

/// The steps news of a shipment moves an order through; none when it no longer applies (the
/// order was cancelled, refunded, or is already further along).
pub fn shipment_path(current: OrderStatus, shipment: ShipmentStatus) -> &'static [OrderStatus] {
    use OrderStatus::*;
    match (current, shipment) {
        (Confirmed, ShipmentStatus::Shipped | ShipmentStatus::InTransit) => &[Shipped],
        (Confirmed, ShipmentStatus::Delivered) => &[Shipped, Delivered],
        (Shipped, ShipmentStatus::Delivered) => &[Delivered],
        _ => &[],
    }
}

// ---- Input -----------------------------------------------------------------------------------

fn optional_text(field: &str, value: Option<String>, max: usize) -> Result<Option<String>> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => validate::required_text(field, v, max).map(Some),
    }
}

pub fn idempotency_key(value: &str) -> Result<String> {
    validate::required_text("idempotency_key", value, MAX_KEY_LEN)
}

/// A checkout request, checked.
#[derive(Debug, Clone)]
pub struct CheckoutDraft {
    pub customer_id: Uuid,
    pub email: String,
    pub idempotency_key: String,
    pub cart_id: Uuid,
    pub shipping_address: PostalAddress,
    pub billing_address: PostalAddress,
    pub shipping_method: String,
    pub payment: PaymentMethodInput,
}

pub fn parse_checkout(checkout: Checkout) -> Result<CheckoutDraft> {
    let mut p = Problems::default();
    let key = p.check(idempotency_key(&checkout.idempotency_key));
    let email = p.check(validate::email("email", &checkout.email));
    let request = checkout.request;
    let shipping_address = p.check(request.shipping_address.clone().validated("shipping_address"));
    let billing_address = match request.billing_address {
        Some(billing) => p.check(billing.validated("billing_address")),
        None => shipping_address.clone(),
    };
    let method = p.check(validate::required_text("shipping_method", &request.shipping_method, MAX_METHOD_LEN));
    let provider = p.check(validate::required_text("payment.provider", &request.payment.provider, MAX_METHOD_LEN));
    let payment = provider.map(|provider| PaymentMethodInput { provider, token: request.payment.token });
    p.finish((|| {
        Some(CheckoutDraft {
            customer_id: checkout.customer_id,
            email: email?,
            idempotency_key: key?,
            cart_id: request.cart_id,
            shipping_address: shipping_address?,
            billing_address: billing_address?,
            shipping_method: method?,
            payment: payment?,
        })
    })())
}

/// A cart can be ordered while it is active and has lines.
pub fn check_cart(cart: &Cart) -> Result<()> {
    if cart.status != CartStatus::Active {
        return Err(Error::conflict("cart-not-active", format!("cart {} is no longer active", cart.id)));
    }
    if cart.lines.is_empty() {
        return Err(Error::validation("cart_id", "the cart is empty"));
    }
    Ok(())
}

/// The parcel's weight in grams; variants without a weight count as weightless.
pub fn parcel_weight(cart: &Cart, weights: &HashMap<String, Option<i64>>) -> i64 {
    cart.lines
        .iter()
        .map(|l| weights.get(&l.sku).copied().flatten().unwrap_or(0).saturating_mul(l.quantity))
        .fold(0i64, i64::saturating_add)
}

/// Lines, shipping and totals of an order, as billing taxed them.
#[derive(Debug, Clone, PartialEq)]
pub struct PricedOrder {
    pub prices_include_tax: bool,
    pub lines: Vec<OrderLine>,
    pub shipping: ShippingChoice,
    pub totals: OrderTotals,
}

/// The destination of an estimate: only its country and region matter for tax and shipping.
pub fn estimate_destination(request: &EstimateRequest) -> Result<PostalAddress> {
    let country = request.country.trim().to_ascii_uppercase();
    if !comptoir_kernel::country::is_iso_alpha2(&country) {
        return Err(Error::validation("country", "must be an ISO 3166-1 alpha-2 country code such as FR or DE"));
    }
    let region = request.region.as_ref().map(|r| r.trim().to_string()).filter(|r| !r.is_empty());
    Ok(PostalAddress {
        name: String::new(),
        line1: String::new(),
        line2: None,
        city: String::new(),
        postal_code: String::new(),
        region,
        country,
        phone: None,
    })
}

/// A cart priced for an estimate, with every way to ship it.
pub fn cart_estimate(cart: &Cart, priced: PricedOrder, shipping_options: Vec<Quote>) -> CartEstimate {
    CartEstimate {
        cart_id: cart.id,
        currency: cart.currency,
        prices_include_tax: priced.prices_include_tax,
        lines: priced.lines,
        shipping: priced.shipping,
        shipping_options,
        totals: priced.totals,
    }
}

pub fn price_order(
    cart: &Cart,
    weights: &HashMap<String, Option<i64>>,
    quote: &Quote,
    tax: &TaxBreakdown,
) -> Result<PricedOrder> {
    if quote.price.currency != cart.currency {
        return Err(Error::validation(
            "shipping_method",
            format!("{} is priced in {} but the cart is in {}", quote.method, quote.price.currency, cart.currency),
        ));
    }
    if tax.lines.len() != cart.lines.len() || tax.gross.currency != cart.currency {
        return Err(Error::internal(format!(
            "billing taxed {} lines in {} for a cart of {} lines in {}",
            tax.lines.len(),
            tax.gross.currency,
            cart.lines.len(),
            cart.currency
        )));
    }
    let lines = cart
        .lines
        .iter()
        .zip(&tax.lines)
        .map(|(line, taxed)| {
            if taxed.sku != line.sku {
                return Err(Error::internal(format!("billing taxed {} in place of {}", taxed.sku, line.sku)));
            }
            Ok(OrderLine {
                sku: line.sku.clone(),
                product_id: line.product_id,
                product_name: line.product_name.clone(),
                quantity: line.quantity,
                unit_price: line.unit_price,
                tax_rate: taxed.rate,
                net: taxed.net,
                tax: taxed.tax,
                gross: taxed.gross,
                weight_grams: weights.get(&line.sku).copied().flatten(),
            })
        })
        .collect::<Result<_>>()?;
    Ok(PricedOrder {
        prices_include_tax: tax.prices_include_tax,
        lines,
        shipping: ShippingChoice {
            method: quote.method.clone(),
            name: quote.name.clone(),
            carrier: quote.carrier.clone(),
            net: tax.shipping.net,
            tax: tax.shipping.tax,
            gross: tax.shipping.gross,
        },
        totals: OrderTotals { net: tax.net, tax: tax.tax, gross: tax.gross },
    })
}

/// A new order, pending, placed by the checkout `draft` from `cart`.
pub fn new_order(
    id: Uuid,
    sequence: i64,
    draft: &CheckoutDraft,
    cart: &Cart,
    priced: PricedOrder,
    at: Timestamp,
) -> OrderRecord {
    let lines = priced.lines.len();
    let order = Order {
        id,
        number: order_number(sequence),
        customer_id: Some(draft.customer_id),
        email: draft.email.clone(),
        channel: cart.channel.clone(),
        currency: cart.currency,
        status: OrderStatus::Pending,
        prices_include_tax: priced.prices_include_tax,
        lines: priced.lines,
        shipping: priced.shipping,
        shipping_address: draft.shipping_address.clone(),
        billing_address: draft.billing_address.clone(),
        totals: priced.totals,
        refunded: Money::zero(cart.currency),
        reservation_id: None,
        payment_id: None,
        cancellation_reason: None,
        timeline: vec![OrderTransition {
            from: None,
            to: OrderStatus::Pending,
            cause: "checkout".into(),
            actor: format!("customer:{}", draft.customer_id),
            at,
        }],
        created_at: at,
        updated_at: at,
    };
    OrderRecord {
        order,
        checkout_key: Some(draft.idempotency_key.clone()),
        cart_id: Some(cart.id),
        failure: None,
        restocked: vec![0; lines],
        refund_count: 0,
        version: 0,
    }
}

/// The cause a cancellation records.
pub fn cancellation_cause(access: OrderAccess, reason: Option<String>) -> Result<String> {
    let who = match access {
        OrderAccess::Customer(_) => "cancelled by the customer",
        OrderAccess::Staff => "cancelled by staff",
    };
    Ok(match optional_text("reason", reason, MAX_REASON_LEN)? {
        Some(reason) => format!("{who}: {reason}"),
        None => who.to_string(),
    })
}

/// A refund, checked against the order: an amount within what is left, units within what was sold.
#[derive(Debug, Clone, PartialEq)]
pub struct RefundPlan {
    pub amount: Money,
    pub restock: Vec<ReturnLine>,
    pub reason: Option<String>,
}

pub fn plan_refund(record: &OrderRecord, input: RefundInput) -> Result<RefundPlan> {
    // Only orders whose payment was captured can be refunded, and not beyond what was charged.
    transition(record.status(), OrderStatus::Refunded)?;
    let remaining = record.remaining();
    let mut p = Problems::default();
    let amount = input.amount.unwrap_or(remaining.amount);
    if amount <= 0 {
        p.add("amount", "must be greater than zero");
    } else if amount > remaining.amount {
        p.add("amount", format!("must be at most {remaining}, what is left to refund"));
    }
    let restock = order_units(&record.order, &input.restock, "restock", "restocked", |i| record.restocked[i], &mut p);
    let reason = p.check(optional_text("reason", input.reason, MAX_REASON_LEN));
    p.finish(reason.map(|reason| RefundPlan { amount: Money::new(amount, remaining.currency), restock, reason }))
}

/// Lines naming units of the order, merged per SKU, each within what `already(i)` leaves of
/// order line `i`. Problems are named `<field>[i].sku` and `<field>[i].quantity`.
fn order_units(
    order: &Order,
    inputs: &[ReturnLineInput],
    field: &str,
    verb: &str,
    already: impl Fn(usize) -> i64,
    p: &mut Problems,
) -> Vec<ReturnLine> {
    if inputs.len() > MAX_REQUEST_LINES {
        p.add(field, format!("at most {MAX_REQUEST_LINES} lines"));
        return Vec::new();
    }
    let mut units: Vec<ReturnLine> = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        let sku = input.sku.trim();
        let Some(position) = order.lines.iter().position(|l| l.sku == sku) else {
            p.add(format!("{field}[{i}].sku"), format!("{sku:?} is not a SKU of this order"));
            continue;
        };
        let quantity_field = format!("{field}[{i}].quantity");
        let Some(quantity) = p.check(validate::positive_quantity(&quantity_field, input.quantity)) else { continue };
        let left = order.lines[position].quantity - already(position);
        let merged = match units.iter_mut().find(|u| u.sku == sku) {
            Some(unit) => {
                unit.quantity += quantity;
                unit.quantity
            }
            None => {
                units.push(ReturnLine { sku: sku.to_string(), quantity });
                quantity
            }
        };
        if merged > left {
            p.add(quantity_field, format!("at most {left} units of {sku} can be {verb}"));
        }
    }
    units
}

/// A return request, checked against the order and the returns already requested.
#[derive(Debug, Clone, PartialEq)]
pub struct ReturnDraft {
    pub lines: Vec<ReturnLine>,
    pub reason: String,
}

pub fn plan_return(record: &OrderRecord, earlier: &[OrderReturn], input: ReturnInput) -> Result<ReturnDraft> {
    let order = &record.order;
    if !matches!(order.status, OrderStatus::Shipped | OrderStatus::Delivered) {
        return Err(Error::conflict(
            "order-not-returnable",
            format!(
                "order {} is {}: only shipped or delivered orders can be returned",
                order.number,
                status_to_db(order.status)
            ),
        ));
    }
    let mut p = Problems::default();
    if input.lines.is_empty() {
        p.add("lines", "must not be empty");
    }
    let returned = |i: usize| -> i64 {
        let sku = &order.lines[i].sku;
        earlier.iter().flat_map(|r| &r.lines).filter(|l| &l.sku == sku).map(|l| l.quantity).sum()
    };
    let lines = order_units(order, &input.lines, "lines", "returned", returned, &mut p);
    let reason = p.check(validate::required_text("reason", &input.reason, MAX_REASON_LEN));
    p.finish(reason.map(|reason| ReturnDraft { lines, reason }))
}

pub fn return_status_to_db(status: ReturnStatus) -> &'static str {
    match status {
        ReturnStatus::Requested => "requested",
        ReturnStatus::Received => "received",
        ReturnStatus::Refunded => "refunded",
    }
}

pub fn return_status_from_db(value: &str) -> Result<ReturnStatus> {
    match value {
        "requested" => Ok(ReturnStatus::Requested),
        "received" => Ok(ReturnStatus::Received),
        "refunded" => Ok(ReturnStatus::Refunded),
        other => Err(Error::internal(format!("unknown return status {other:?} in the database"))),
    }
}

/// The goods of a requested return arrived.
pub fn receive_return(r: &mut OrderReturn, at: Timestamp) -> Result<()> {
    if r.status != ReturnStatus::Requested {
        return Err(Error::conflict(
            "invalid-return-transition",
            format!("a return cannot go from {} to received", return_status_to_db(r.status)),
        ));
    }
    r.status = ReturnStatus::Received;
    r.updated_at = at;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderStatus::*;
    use comptoir_contracts::billing::LineTax;
    use comptoir_contracts::cart::CartLine;
    use comptoir_contracts::ordering::CheckoutRequest;
    use comptoir_kernel::{Currency, time};
    use rust_decimal::Decimal;

    fn eur(amount: i64) -> Money {
        Money::new(amount, Currency::EUR)
    }

    #[test]
    fn the_transition_matrix() {
        let allowed: &[(OrderStatus, &[OrderStatus])] = &[
            (Pending, &[StockReserved, Cancelled]),
            (StockReserved, &[Paid, Cancelled]),
            (Paid, &[Confirmed, Cancelled]),
            (Confirmed, &[Shipped, Cancelled, PartiallyRefunded, Refunded]),
            (Shipped, &[Delivered, PartiallyRefunded, Refunded]),
            (Delivered, &[PartiallyRefunded, Refunded]),
            (PartiallyRefunded, &[PartiallyRefunded, Refunded]),
            (Cancelled, &[]),
            (Refunded, &[]),
        ];
        for (from, tos) in allowed {
            for to in STATUSES {
                let result = transition(*from, to);
                if tos.contains(&to) {
                    assert!(result.is_ok(), "{from:?} -> {to:?} should be allowed");
                } else {
                    let e = result.expect_err(&format!("{from:?} -> {to:?} should be refused"));
                    assert_eq!((e.status(), e.code()), (409, "invalid-order-transition"));
                    let message = e.to_string();
                    assert!(message.contains(status_to_db(*from)) && message.contains(status_to_db(to)), "{message}");
                }
            }
        }
        assert_eq!(allowed.len(), STATUSES.len());
    }

    #[test]
    fn statuses_round_trip_through_the_database_form() {
        for s in STATUSES {
            assert_eq!(status_from_db(status_to_db(s)).unwrap(), s);
            // The same spelling as the API's JSON.
            assert_eq!(serde_json::to_value(s).unwrap(), status_to_db(s));
        }
        assert!(status_from_db("lost").is_err());
    }

    fn address() -> PostalAddress {
        PostalAddress {
            name: "Ann".into(),
            line1: "1 rue de Rivoli".into(),
            line2: None,
            city: "Paris".into(),
            postal_code: "75001".into(),
            region: None,
            country: "FR".into(),
            phone: None,
        }
    }

    fn cart(lines: &[(&str, i64, i64)]) -> Cart {
        let lines: Vec<CartLine> = lines
            .iter()
            .map(|(sku, quantity, price)| CartLine {
                sku: sku.to_string(),
                product_id: Uuid::nil(),
                product_name: format!("Product {sku}"),
                quantity: *quantity,
                unit_price: eur(*price),
                line_total: eur(price * quantity),
            })
            .collect();
        let subtotal = eur(lines.iter().map(|l| l.line_total.amount).sum());
        Cart {
            id: Uuid::now_v7(),
            customer_id: None,
            channel: "online".into(),
            currency: Currency::EUR,
            status: CartStatus::Active,
            item_count: lines.iter().map(|l| l.quantity).sum(),
            lines,
            subtotal,
            total: subtotal,
            token: None,
            created_at: time::now(),
            updated_at: time::now(),
        }
    }

    fn taxed(sku: &str, gross: i64) -> LineTax {
        let net = gross * 5 / 6;
        LineTax { sku: sku.into(), rate: Decimal::new(2, 1), net: eur(net), tax: eur(gross - net), gross: eur(gross) }
    }

    fn quote(price: Money) -> Quote {
        Quote { method: "standard".into(), name: "Standard".into(), carrier: "Post".into(), price, delivery_days: None }
    }

    fn breakdown(lines: Vec<LineTax>, shipping: LineTax) -> TaxBreakdown {
        let sum = |f: fn(&LineTax) -> Money| eur(lines.iter().chain([&shipping]).map(|l| f(l).amount).sum());
        TaxBreakdown {
            prices_include_tax: true,
            net: sum(|l| l.net),
            tax: sum(|l| l.tax),
            gross: sum(|l| l.gross),
            lines,
            shipping,
            summary: vec![],
        }
    }

    fn draft(customer: Uuid) -> CheckoutDraft {
        CheckoutDraft {
            customer_id: customer,
            email: "ann@example.com".into(),
            idempotency_key: "key-1".into(),
            cart_id: Uuid::nil(),
            shipping_address: address(),
            billing_address: address(),
            shipping_method: "standard".into(),
            payment: PaymentMethodInput { provider: "test".into(), token: None },
        }
    }

    /// A confirmed order of 2 × A at 12.00 and 1 × B at 6.00, plus 6.00 shipping: 36.00.
    fn confirmed_order() -> OrderRecord {
        let cart = cart(&[("A", 2, 1200), ("B", 1, 600)]);
        let tax = breakdown(vec![taxed("A", 2400), taxed("B", 600)], taxed("standard", 600));
        let weights = HashMap::from([("A".to_string(), Some(300)), ("B".to_string(), None)]);
        let priced = price_order(&cart, &weights, &quote(eur(600)), &tax).unwrap();
        let mut r = new_order(Uuid::now_v7(), 1, &draft(Uuid::now_v7()), &cart, priced, time::now());
        r.order.reservation_id = Some(Uuid::now_v7());
        r.order.payment_id = Some(Uuid::now_v7());
        for to in [StockReserved, Paid, Confirmed] {
            r.move_to(to, "step", SYSTEM, time::now()).unwrap();
        }
        r
    }

    #[test]
    fn an_order_is_priced_from_the_cart_and_billing_s_taxes() {
        let r = confirmed_order();
        let o = &r.order;
        assert_eq!(o.number, "CO-000001");
        assert_eq!(o.totals.gross, eur(3600));
        assert_eq!(o.totals.net.amount + o.totals.tax.amount, 3600);
        assert_eq!((o.lines[0].weight_grams, o.lines[1].weight_grams), (Some(300), None));
        assert_eq!(o.lines[0].tax_rate, Decimal::new(2, 1));
        assert_eq!(o.shipping.gross, eur(600));
        let statuses: Vec<_> = o.timeline.iter().map(|t| (t.from, t.to)).collect();
        assert_eq!(
            statuses,
            [(None, Pending), (Some(Pending), StockReserved), (Some(StockReserved), Paid), (Some(Paid), Confirmed)]
        );
        assert_eq!(o.timeline[0].cause, "checkout");
    }

    #[test]
    fn a_shipping_price_in_another_currency_is_refused() {
        let cart = cart(&[("A", 1, 1000)]);
        let tax = breakdown(vec![taxed("A", 1000)], taxed("standard", 0));
        let e = price_order(&cart, &HashMap::new(), &quote(Money::new(500, Currency::USD)), &tax).unwrap_err();
        assert_eq!(e.field_errors()[0].field, "shipping_method");
    }

    #[test]
    fn parcels_weigh_their_lines() {
        let cart = cart(&[("A", 3, 100), ("B", 2, 100), ("C", 1, 100)]);
        let weights = HashMap::from([("A".to_string(), Some(250)), ("B".to_string(), None)]);
        assert_eq!(parcel_weight(&cart, &weights), 750);
    }

    #[test]
    fn carts_must_be_active_and_hold_lines() {
        let mut c = cart(&[]);
        assert_eq!(check_cart(&c).unwrap_err().field_errors()[0].field, "cart_id");
        c = cart(&[("A", 1, 100)]);
        assert!(check_cart(&c).is_ok());
        c.status = CartStatus::CheckedOut;
        assert_eq!(check_cart(&c).unwrap_err().code(), "cart-not-active");
    }

    #[test]
    fn a_checkout_names_every_bad_field() {
        let request = CheckoutRequest {
            cart_id: Uuid::nil(),
            shipping_address: PostalAddress { city: " ".into(), ..address() },
            billing_address: Some(PostalAddress { country: "XX".into(), ..address() }),
            shipping_method: " ".into(),
            payment: PaymentMethodInput { provider: "".into(), token: None },
        };
        let checkout = Checkout { customer_id: Uuid::nil(), email: "nope".into(), idempotency_key: "".into(), request };
        let e = parse_checkout(checkout).unwrap_err();
        let fields: Vec<_> = e.field_errors().iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "idempotency_key",
                "email",
                "shipping_address.city",
                "billing_address.country",
                "shipping_method",
                "payment.provider"
            ]
        );
    }

    #[test]
    fn billing_defaults_to_the_shipping_address() {
        let request = CheckoutRequest {
            cart_id: Uuid::nil(),
            shipping_address: PostalAddress { country: "fr".into(), ..address() },
            billing_address: None,
            shipping_method: "standard".into(),
            payment: PaymentMethodInput { provider: "test".into(), token: Some("tok_visa".into()) },
        };
        let checkout = Checkout {
            customer_id: Uuid::nil(),
            email: "Ann@Example.com".into(),
            idempotency_key: "k".into(),
            request,
        };
        let d = parse_checkout(checkout).unwrap();
        assert_eq!(d.billing_address, d.shipping_address);
        assert_eq!((d.email.as_str(), d.shipping_address.country.as_str()), ("ann@example.com", "FR"));
    }

    #[test]
    fn refused_checkouts_answer_a_retry_with_the_same_error() {
        let stock = Error::conflict_on("insufficient-stock", "lines[1].quantity", "only 2 available for SKU B");
        let failure = CheckoutFailure::from_stock_error(&stock).unwrap();
        let e = failure.to_error();
        assert_eq!((e.status(), e.code(), e.to_string()), (409, "insufficient-stock", stock.to_string()));
        assert_eq!(e.field_errors()[0].field, "cart.lines[1].quantity");
        assert_eq!(failure.reason(), "insufficient stock: only 2 available for SKU B");
        assert!(CheckoutFailure::from_stock_error(&Error::unavailable("down")).is_none());

        let mut r = confirmed_order();
        r.order.status = StockReserved;
        r.fail(CheckoutFailure::declined(Some("insufficient funds")), SYSTEM, time::now()).unwrap();
        assert_eq!(r.order.cancellation_reason.as_deref(), Some("payment declined: insufficient funds"));
        let e = r.clone().answer_retry().unwrap_err();
        assert_eq!((e.status(), e.to_string()), (402, "payment declined: insufficient funds".to_string()));

        // Any other cancellation answers with the order.
        let mut other = confirmed_order();
        other.cancel("cancelled by the customer", None, SYSTEM, time::now()).unwrap();
        assert_eq!(other.answer_retry().unwrap().status, Cancelled);
    }

    #[test]
    fn cancelling_gives_back_what_the_state_holds() {
        let mut paid = confirmed_order();
        paid.order.status = Paid;
        let undone = paid.cancel("cancelled by the customer", Some(eur(3600)), SYSTEM, time::now()).unwrap();
        assert_eq!(undone, Undone { release: paid.order.reservation_id, restock: vec![] });
        assert_eq!(paid.order.refunded, eur(3600));

        let mut confirmed = confirmed_order();
        let undone = confirmed.cancel("cancelled by staff", Some(eur(3600)), SYSTEM, time::now()).unwrap();
        assert_eq!(undone.release, None);
        assert_eq!(
            undone.restock,
            [ReturnLine { sku: "A".into(), quantity: 2 }, ReturnLine { sku: "B".into(), quantity: 1 }]
        );
        assert_eq!(confirmed.restocked, [2, 1]);

        let mut shipped = confirmed_order();
        shipped.move_to(Shipped, "shipped", SYSTEM, time::now()).unwrap();
        let e = shipped.cancel("too late", None, SYSTEM, time::now()).unwrap_err();
        assert_eq!(e.code(), "invalid-order-transition");
        assert_eq!(shipped.order.status, Shipped, "nothing changed");
    }

    fn refund(amount: Option<i64>, restock: &[(&str, i64)]) -> RefundInput {
        RefundInput {
            amount,
            restock: restock
                .iter()
                .map(|(sku, quantity)| ReturnLineInput { sku: sku.to_string(), quantity: *quantity })
                .collect(),
            reason: Some(" damaged ".into()),
        }
    }

    #[test]
    fn refunds_stay_within_what_was_charged_and_sold() {
        let mut r = confirmed_order();
        let plan = plan_refund(&r, refund(Some(1000), &[("A", 1), ("A", 1)])).unwrap();
        assert_eq!(plan.restock, [ReturnLine { sku: "A".into(), quantity: 2 }]);
        assert_eq!(plan.reason.as_deref(), Some("damaged"));
        r.apply_refund(&plan, "staff:1", time::now()).unwrap();
        assert_eq!((r.order.status, r.order.refunded, r.refund_count), (PartiallyRefunded, eur(1000), 1));
        assert_eq!(r.order.timeline.last().unwrap().cause, "refunded 10.00 EUR: damaged");

        let e = plan_refund(&r, refund(Some(2601), &[("A", 1), ("B", 2), ("Z", 1), ("B", 0)])).unwrap_err();
        let fields: Vec<_> = e.field_errors().iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            fields,
            ["amount", "restock[0].quantity", "restock[1].quantity", "restock[2].sku", "restock[3].quantity"]
        );
        assert_eq!(plan_refund(&r, refund(Some(0), &[])).unwrap_err().field_errors()[0].field, "amount");

        // The rest by default.
        let rest = plan_refund(&r, refund(None, &[("B", 1)])).unwrap();
        assert_eq!(rest.amount, eur(2600));
        r.apply_refund(&rest, "staff:1", time::now()).unwrap();
        assert_eq!((r.order.status, r.order.refunded, r.restocked.clone()), (Refunded, eur(3600), vec![2, 1]));
        assert_eq!(plan_refund(&r, refund(None, &[])).unwrap_err().code(), "invalid-order-transition");
    }

    #[test]
    fn unpaid_orders_cannot_be_refunded() {
        let mut r = confirmed_order();
        r.order.status = Paid;
        assert_eq!(plan_refund(&r, refund(None, &[])).unwrap_err().code(), "invalid-order-transition");
    }

    #[test]
    fn returns_stay_within_what_was_shipped() {
        let mut r = confirmed_order();
        let input = |lines: &[(&str, i64)], reason: &str| ReturnInput {
            lines: lines
                .iter()
                .map(|(sku, quantity)| ReturnLineInput { sku: sku.to_string(), quantity: *quantity })
                .collect(),
            reason: reason.into(),
        };
        assert_eq!(plan_return(&r, &[], input(&[("A", 1)], "too small")).unwrap_err().code(), "order-not-returnable");
        r.move_to(Shipped, "shipped", SYSTEM, time::now()).unwrap();
        let first = plan_return(&r, &[], input(&[("A", 1)], "too small")).unwrap();
        let earlier = OrderReturn {
            id: Uuid::nil(),
            order_id: r.order.id,
            status: ReturnStatus::Requested,
            lines: first.lines,
            reason: first.reason,
            created_at: time::now(),
            updated_at: time::now(),
        };
        let e = plan_return(&r, std::slice::from_ref(&earlier), input(&[("A", 2), ("C", 1)], " ")).unwrap_err();
        let fields: Vec<_> = e.field_errors().iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["lines[0].quantity", "lines[1].sku", "reason"]);
        assert_eq!(plan_return(&r, &[], input(&[], "x")).unwrap_err().field_errors()[0].field, "lines");
    }

    #[test]
    fn a_return_is_received_once() {
        let mut r = OrderReturn {
            id: Uuid::nil(),
            order_id: Uuid::nil(),
            status: ReturnStatus::Requested,
            lines: vec![],
            reason: "x".into(),
            created_at: time::now(),
            updated_at: time::now(),
        };
        receive_return(&mut r, time::now()).unwrap();
        assert_eq!(r.status, ReturnStatus::Received);
        assert_eq!(receive_return(&mut r, time::now()).unwrap_err().code(), "invalid-return-transition");
    }

    #[test]
    fn shipments_move_confirmed_orders_forward_only() {
        assert_eq!(shipment_path(Confirmed, ShipmentStatus::InTransit), [Shipped]);
        assert_eq!(shipment_path(Confirmed, ShipmentStatus::Delivered), [Shipped, Delivered]);
        assert_eq!(shipment_path(Shipped, ShipmentStatus::Delivered), [Delivered]);
        assert!(shipment_path(Shipped, ShipmentStatus::Shipped).is_empty());
        assert!(shipment_path(Cancelled, ShipmentStatus::Delivered).is_empty());
        assert!(shipment_path(Confirmed, ShipmentStatus::LabelCreated).is_empty());
    }

    #[test]
    fn actors_are_named_by_their_role() {
        let staff = RequestContext::new("c", comptoir_kernel::Actor::user("u7"));
        let customer = Uuid::now_v7();
        assert_eq!(actor(&staff, OrderAccess::Staff), "staff:u7");
        assert_eq!(actor(&staff, OrderAccess::Customer(customer)), format!("customer:{customer}"));
        assert_eq!(actor(&RequestContext::system(), OrderAccess::Staff), "system");
    }
}
