//! Ordering: orders and their state machine, the checkout saga, cancellations, refunds and
//! returns. Here: the order snapshot other modules receive in ordering's events. Billing drafts
//! and issues the invoice from it, shipping creates the shipment, notification writes to the
//! customer; none of them asks ordering anything.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use comptoir_kernel::{Currency, Money, Page, PageRequest, RequestContext, Result};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::address::PostalAddress;
use crate::cart::CartAccess;
use crate::payment::PaymentMethodInput;
use crate::shipping::Quote;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Pending,
    StockReserved,
    Paid,
    Confirmed,
    Shipped,
    Delivered,
    Cancelled,
    PartiallyRefunded,
    Refunded,
}

/// A line as it was ordered: name, price and tax frozen at checkout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OrderLine {
    pub sku: String,
    pub product_id: Uuid,
    pub product_name: String,
    pub quantity: i64,
    /// As the channel shows it (tax included or not, see `prices_include_tax`).
    pub unit_price: Money,
    pub tax_rate: Decimal,
    /// Net (before tax) amount of the line.
    pub net: Money,
    pub tax: Money,
    /// Net plus tax.
    pub gross: Money,
    pub weight_grams: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ShippingChoice {
    /// The shipping method's code (`standard`, `express`).
    pub method: String,
    pub name: String,
    pub carrier: String,
    pub net: Money,
    pub tax: Money,
    pub gross: Money,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OrderTotals {
    pub net: Money,
    pub tax: Money,
    /// What the customer pays.
    pub gross: Money,
}

/// The order as it was placed: everything billing, shipping and notification need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OrderSnapshot {
    pub order_id: Uuid,
    /// Human-facing number (`CO-000123`).
    pub number: String,
    pub customer_id: Option<Uuid>,
    pub email: String,
    pub channel: String,
    pub currency: Currency,
    pub prices_include_tax: bool,
    pub lines: Vec<OrderLine>,
    pub shipping: ShippingChoice,
    pub shipping_address: PostalAddress,
    pub billing_address: PostalAddress,
    pub totals: OrderTotals,
    pub placed_at: DateTime<Utc>,
}

impl OrderSnapshot {
    pub fn weight_grams(&self) -> i64 {
        self.lines.iter().map(|l| l.weight_grams.unwrap_or(0) * l.quantity).sum()
    }
}

/// One step of an order's life, with what caused it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OrderTransition {
    pub from: Option<OrderStatus>,
    pub to: OrderStatus,
    /// `checkout`, `stock reserved`, `payment captured`, `payment declined: insufficient funds`,
    /// `cancelled by the customer`, `shipment shipped`, ...
    pub cause: String,
    /// `customer:<id>`, `staff:<id>`, `system`.
    pub actor: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Order {
    pub id: Uuid,
    pub number: String,
    pub customer_id: Option<Uuid>,
    pub email: String,
    pub channel: String,
    pub currency: Currency,
    pub status: OrderStatus,
    pub prices_include_tax: bool,
    pub lines: Vec<OrderLine>,
    pub shipping: ShippingChoice,
    pub shipping_address: PostalAddress,
    pub billing_address: PostalAddress,
    pub totals: OrderTotals,
    /// Refunded so far, tax included.
    pub refunded: Money,
    pub reservation_id: Option<Uuid>,
    pub payment_id: Option<Uuid>,
    pub cancellation_reason: Option<String>,
    pub timeline: Vec<OrderTransition>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutRequest {
    /// The customer's cart to order.
    pub cart_id: Uuid,
    pub shipping_address: PostalAddress,
    /// The shipping address when absent.
    #[serde(default)]
    pub billing_address: Option<PostalAddress>,
    /// A shipping method code from the quotes (`standard`).
    pub shipping_method: String,
    pub payment: PaymentMethodInput,
}

/// A checkout as the saga receives it: who, under which idempotency key, what.
#[derive(Debug, Clone)]
pub struct Checkout {
    pub customer_id: Uuid,
    pub email: String,
    /// The same key returns the first order: never two orders, never two charges.
    pub idempotency_key: String,
    pub request: CheckoutRequest,
}

/// Who is reading or changing an order.
#[derive(Debug, Clone, Copy)]
pub enum OrderAccess {
    /// Only their own orders; others are 404.
    Customer(Uuid),
    Staff,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrderFilter {
    pub status: Option<OrderStatus>,
    pub customer_id: Option<Uuid>,
    pub channel: Option<String>,
    /// Orders placed at or after (RFC 3339).
    pub placed_from: Option<DateTime<Utc>>,
    /// Orders placed before (RFC 3339).
    pub placed_to: Option<DateTime<Utc>>,
    /// Part of the order number or the email.
    pub q: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnLineInput {
    pub sku: String,
    pub quantity: i64,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundInput {
    /// Minor units, tax included; the whole remaining amount when absent.
    #[serde(default)]
    pub amount: Option<i64>,
    /// Units that go back on the shelf; none when absent (damaged goods, goods never returned).
    #[serde(default)]
    pub restock: Vec<ReturnLineInput>,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelInput {
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnInput {
    pub lines: Vec<ReturnLineInput>,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReturnStatus {
    Requested,
    Received,
    Refunded,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReturnLine {
    pub sku: String,
    pub quantity: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OrderReturn {
    pub id: Uuid,
    pub order_id: Uuid,
    pub status: ReturnStatus,
    pub lines: Vec<ReturnLine>,
    pub reason: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Where a cart would go, for an estimate before checkout.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EstimateRequest {
    /// ISO 3166-1 alpha-2.
    pub country: String,
    #[serde(default)]
    pub region: Option<String>,
    /// A method code from `shipping_options`; the cheapest when absent.
    #[serde(default)]
    pub shipping_method: Option<String>,
}

/// A cart priced as an order would be: tax per line and on shipping, and every way to ship it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CartEstimate {
    pub cart_id: Uuid,
    pub currency: Currency,
    pub prices_include_tax: bool,
    pub lines: Vec<OrderLine>,
    /// The chosen method, or the cheapest.
    pub shipping: ShippingChoice,
    pub shipping_options: Vec<Quote>,
    pub totals: OrderTotals,
}

/// Which orders a sales summary counts: placed in `[from, to)`, in one channel or all.
#[derive(Debug, Clone)]
pub struct SalesQuery {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub channel: Option<String>,
}

/// The longest period one sales summary covers.
pub const MAX_SALES_DAYS: i64 = 366;

/// The sales of one UTC day in one channel and currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DailySales {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    pub channel: String,
    /// Orders paid or further along (shipped, delivered, refunded in part or whole).
    pub orders: i64,
    /// What those orders were charged, tax included.
    pub gross: Money,
    /// What was refunded of them so far.
    pub refunded: Money,
    /// Orders placed that day and cancelled (not counted above).
    pub cancelled: i64,
}

#[async_trait]
pub trait OrderingPort: Send + Sync {
    /// Prices a cart as checkout would, without placing anything.
    async fn estimate(
        &self,
        ctx: &RequestContext,
        cart_id: Uuid,
        access: &CartAccess,
        request: EstimateRequest,
    ) -> Result<CartEstimate>;
    /// The checkout saga: place the order (pending), reserve stock, take payment, confirm.
    /// Insufficient stock → the order is cancelled, nothing charged, 409 `insufficient-stock`.
    /// Payment declined → the reservation is released, the order cancelled, 402 with the reason.
    async fn checkout(&self, ctx: &RequestContext, checkout: Checkout) -> Result<Order>;
    async fn get_order(&self, ctx: &RequestContext, id: Uuid, access: OrderAccess) -> Result<Order>;
    /// A customer's orders, newest first.
    async fn customer_orders(&self, ctx: &RequestContext, customer_id: Uuid, page: PageRequest) -> Result<Page<Order>>;
    /// Staff search, newest first.
    async fn search_orders(&self, ctx: &RequestContext, filter: OrderFilter, page: PageRequest) -> Result<Page<Order>>;
    /// Before shipping only: a customer their own order, staff any. Refunds a captured payment.
    async fn cancel(&self, ctx: &RequestContext, id: Uuid, access: OrderAccess, input: CancelInput) -> Result<Order>;
    /// Staff: refund part or all of what was captured, putting back the units they choose.
    async fn refund(&self, ctx: &RequestContext, id: Uuid, input: RefundInput) -> Result<Order>;
    async fn request_return(
        &self,
        ctx: &RequestContext,
        id: Uuid,
        access: OrderAccess,
        input: ReturnInput,
    ) -> Result<OrderReturn>;
    /// Staff: the returned goods arrived.
    async fn receive_return(&self, ctx: &RequestContext, return_id: Uuid) -> Result<OrderReturn>;
    async fn returns_for_order(&self, ctx: &RequestContext, id: Uuid, access: OrderAccess) -> Result<Vec<OrderReturn>>;
    /// Sales per day, channel and currency, oldest day first, counted by the database; at most
    /// [`MAX_SALES_DAYS`] days (else 422 on `to`). Days without orders are absent.
    async fn daily_sales(&self, ctx: &RequestContext, query: SalesQuery) -> Result<Vec<DailySales>>;
}

/// Event types and payloads published by ordering (source `ordering`).
pub mod events {
    use super::*;

    /// The order exists, pending: billing drafts the invoice.
    pub const ORDER_PLACED: &str = "order.order.placed";
    /// Stock reserved and payment captured; the order is confirmed. Inventory commits the
    /// reservation, shipping creates the shipment, billing issues the invoice, notification
    /// confirms to the customer.
    pub const CHECKOUT_COMPLETED: &str = "order.checkout.completed";
    pub const ORDER_CANCELLED: &str = "order.order.cancelled";
    pub const ORDER_SHIPPED: &str = "order.order.shipped";
    pub const ORDER_DELIVERED: &str = "order.order.delivered";
    pub const ORDER_REFUNDED: &str = "order.order.refunded";
    pub const RETURN_REQUESTED: &str = "order.return.requested";
    pub const RETURN_RECEIVED: &str = "order.return.received";

    /// Payload of `order.order.placed` and `order.checkout.completed`.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct OrderPlaced {
        pub order: OrderSnapshot,
        /// The cart the order came from; cart marks it checked out.
        pub cart_id: Option<Uuid>,
        pub reservation_id: Option<Uuid>,
        pub payment_id: Option<Uuid>,
    }

    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct OrderCancelled {
        pub order_id: Uuid,
        pub number: String,
        pub email: String,
        pub customer_id: Option<Uuid>,
        /// Why, in words a customer can read ("payment declined: insufficient funds").
        pub reason: String,
        pub reservation_id: Option<Uuid>,
        /// Cancelled before its checkout completed (declined, abandoned): never confirmed, so never
        /// invoiced. False in events written before this field existed.
        #[serde(default)]
        pub before_confirmation: bool,
    }

    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct OrderRefunded {
        pub order_id: Uuid,
        pub number: String,
        pub email: String,
        pub amount: Money,
        /// Units to put back on the shelf, per SKU (empty when staff keep them out of stock).
        pub restock: Vec<ReturnLine>,
        pub reservation_id: Option<Uuid>,
        pub reason: Option<String>,
    }

    /// Payload of `order.order.shipped` and `order.order.delivered`.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct OrderShipment {
        pub order_id: Uuid,
        pub number: String,
        pub email: String,
        pub customer_id: Option<Uuid>,
        pub shipment_id: Uuid,
        pub carrier: String,
        pub tracking_number: String,
    }

    /// Payload of `order.return.requested` and `order.return.received`.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct ReturnChanged {
        pub return_id: Uuid,
        pub order_id: Uuid,
        pub number: String,
        pub email: String,
        pub customer_id: Option<Uuid>,
        pub status: ReturnStatus,
        pub lines: Vec<ReturnLine>,
        pub reason: String,
    }
}
