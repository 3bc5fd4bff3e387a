//! Ordering: orders and their state machine, the checkout saga, cancellations, refunds and
//! returns. Here: the order snapshot other modules receive in ordering's events. Billing drafts
//! and issues the invoice from it, shipping creates the shipment, notification writes to the
//! customer; none of them asks ordering anything.

use chrono::{DateTime, Utc};
use comptoir_kernel::{Currency, Money};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::address::PostalAddress;

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
    }

    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct OrderRefunded {
        pub order_id: Uuid,
        pub number: String,
        pub email: String,
        pub amount: Money,
        /// Units to put back on the shelf, per SKU (empty when staff keep them out of stock).
        pub restock: Vec<(String, i64)>,
        pub reason: Option<String>,
    }
}
