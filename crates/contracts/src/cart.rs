//! Cart: anonymous carts (reached with a cart token) and customer carts, lines with a price
//! snapshot, totals per channel and currency, and the merge of an anonymous cart at login.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use comptoir_kernel::{Currency, Money, RequestContext, Result};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CartStatus {
    Active,
    /// Merged into a customer's cart at login.
    Merged,
    /// Turned into an order.
    CheckedOut,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CartLine {
    pub sku: String,
    pub product_id: Uuid,
    pub product_name: String,
    pub quantity: i64,
    /// The price when the line was added or last changed.
    pub unit_price: Money,
    pub line_total: Money,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Cart {
    pub id: Uuid,
    pub customer_id: Option<Uuid>,
    pub channel: String,
    pub currency: Currency,
    pub status: CartStatus,
    pub lines: Vec<CartLine>,
    pub item_count: i64,
    pub subtotal: Money,
    pub total: Money,
    /// Only on the response that created an anonymous cart: send it back as `X-Cart-Token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// How a caller proves it may use a cart.
#[derive(Debug, Clone)]
pub enum CartAccess {
    /// The holder of an anonymous cart's token.
    Token(String),
    /// A logged-in customer, for their own cart.
    Customer(Uuid),
    /// Staff with `carts:read` (read only).
    Staff,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCart {
    /// Channel code; `online` when absent.
    #[serde(default)]
    pub channel: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddLine {
    pub sku: String,
    pub quantity: i64,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetQuantity {
    pub quantity: i64,
}

#[async_trait]
pub trait CartPort: Send + Sync {
    /// A customer gets their active cart back if they already have one in that channel.
    async fn create_cart(&self, ctx: &RequestContext, customer_id: Option<Uuid>, input: NewCart) -> Result<Cart>;
    async fn get_cart(&self, ctx: &RequestContext, id: Uuid, access: &CartAccess) -> Result<Cart>;
    /// The customer's active cart, if any.
    async fn customer_cart(&self, ctx: &RequestContext, customer_id: Uuid) -> Result<Option<Cart>>;
    /// Adds units (or more units of a SKU already there); 409 if stock cannot cover the new quantity.
    async fn add_line(&self, ctx: &RequestContext, id: Uuid, access: &CartAccess, input: AddLine) -> Result<Cart>;
    async fn set_quantity(
        &self,
        ctx: &RequestContext,
        id: Uuid,
        access: &CartAccess,
        sku: &str,
        input: SetQuantity,
    ) -> Result<Cart>;
    async fn remove_line(&self, ctx: &RequestContext, id: Uuid, access: &CartAccess, sku: &str) -> Result<Cart>;
    /// Moves an anonymous cart's lines into the customer's active cart (created if needed);
    /// quantities of the same SKU add up, capped by available stock.
    async fn merge(
        &self,
        ctx: &RequestContext,
        anonymous_cart_id: Uuid,
        token: &str,
        customer_id: Uuid,
    ) -> Result<Cart>;
}

/// Event types and payloads published by cart (source `cart`).
pub mod events {
    use super::*;

    pub const CART_CREATED: &str = "cart.cart.created";
    pub const CART_UPDATED: &str = "cart.cart.updated";
    pub const CART_MERGED: &str = "cart.cart.merged";

    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct CartChanged {
        pub cart_id: Uuid,
        pub customer_id: Option<Uuid>,
        pub channel: String,
        pub item_count: i64,
        pub subtotal: Money,
    }

    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct CartMerged {
        pub from_cart_id: Uuid,
        pub into_cart_id: Uuid,
        pub customer_id: Uuid,
    }
}
