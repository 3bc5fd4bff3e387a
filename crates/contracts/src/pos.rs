//! Point of sale: staff selling at a store's till. A cashier scans SKUs, the till prices them
//! from the store's price list (channel `store` unless the store says otherwise), takes the
//! units off that store's own shelves, takes payment (cash, or a card through the payment
//! module's test provider) and prints a receipt. Returns at the till refund the customer and put
//! the units back on the store's shelf. Every completed sale and return is published, so
//! reporting shows store sales beside online orders.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use comptoir_kernel::{Currency, Money, Page, PageRequest, RequestContext, Result};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::address::PostalAddress;

/// The channel store sales are priced in and reported under unless a store names another.
pub const STORE_CHANNEL: &str = "store";
/// The most lines one sale holds.
pub const MAX_SALE_LINES: usize = 200;

/// A store: a stock location of kind `store` set up for selling, with what its receipts and tax
/// need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Store {
    /// The inventory location's code (`paris-store`).
    pub location: String,
    /// As printed on receipts.
    pub name: String,
    /// Where the store is: the tax of its sales is the tax of this address.
    pub address: PostalAddress,
    /// The catalog channel whose prices the till uses; sales are reported under it.
    pub channel: String,
    pub currency: Currency,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Sets a store up (or changes it). The location must exist in inventory and be of kind `store`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StoreInput {
    pub location: String,
    pub name: String,
    pub address: PostalAddress,
    /// Defaults to `store`; must be a catalog channel.
    #[serde(default)]
    pub channel: Option<String>,
    /// Defaults to EUR.
    #[serde(default)]
    pub currency: Option<Currency>,
}

/// What the till shows when a SKU is scanned, before anything is sold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ScannedItem {
    pub sku: String,
    pub product_id: Uuid,
    pub product_name: String,
    pub options: std::collections::BTreeMap<String, String>,
    /// The store's channel price, as the customer pays it.
    pub price: Money,
    /// Units available on this store's shelves.
    pub available_here: i64,
}

/// One scanned SKU and how many.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaleLineInput {
    pub sku: String,
    /// One or more.
    pub quantity: i64,
}

/// How the customer pays.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(tag = "method", rename_all = "snake_case", deny_unknown_fields)]
pub enum TenderInput {
    /// Notes and coins handed over, in minor units; at least the total. The change is given back.
    Cash { tendered: i64 },
    /// A card, charged through the payment module's test provider (`tok_visa`,
    /// `tok_decline_insufficient_funds`, ...).
    Card { token: String },
}

/// A sale as the till sends it.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSale {
    /// The store's location code.
    pub location: String,
    pub lines: Vec<SaleLineInput>,
    pub payment: TenderInput,
}

/// The staff member at the till.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Cashier {
    pub id: Uuid,
    /// As printed on the receipt ("Served by ...").
    pub name: String,
}

/// A sale to ring up: ringing up again with the same `idempotency_key` returns the first sale,
/// never a second charge or a second decrement of stock.
#[derive(Debug, Clone)]
pub struct Sell {
    pub idempotency_key: String,
    pub cashier: Cashier,
    pub sale: NewSale,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SaleLine {
    pub sku: String,
    pub product_id: Uuid,
    pub product_name: String,
    pub quantity: i64,
    /// As the customer pays it (the store's channel price).
    pub unit_price: Money,
    pub tax_rate: Decimal,
    pub net: Money,
    pub tax: Money,
    pub gross: Money,
    /// Units of this line brought back so far.
    pub returned: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TenderMethod {
    Cash,
    Card,
}

/// How a sale was paid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Tender {
    pub method: TenderMethod,
    /// The sale's gross total, taken.
    pub amount: Money,
    /// Cash only: handed over, and given back.
    pub tendered: Option<Money>,
    pub change: Option<Money>,
    /// The payment module's payment (cash is recorded there too, by its `cash` provider).
    pub payment_id: Uuid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SaleStatus {
    Completed,
    PartlyReturned,
    Returned,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SaleTotals {
    pub net: Money,
    pub tax: Money,
    pub gross: Money,
}

/// A completed sale. Declined cards and sales that could not be served leave no sale behind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Sale {
    pub id: Uuid,
    /// Printed on the receipt: the store's code and a number per store (`PARIS-STORE-000042`).
    pub number: String,
    pub location: String,
    pub channel: String,
    pub cashier: Cashier,
    pub status: SaleStatus,
    pub lines: Vec<SaleLine>,
    pub totals: SaleTotals,
    pub tender: Tender,
    /// Refunded so far by returns.
    pub refunded: Money,
    pub created_at: DateTime<Utc>,
}

/// Units brought back to the till.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStoreReturn {
    pub lines: Vec<SaleLineInput>,
    pub reason: String,
    /// Put the units back on the store's shelf (default); false for damaged goods.
    #[serde(default = "default_restock")]
    pub restock: bool,
}

fn default_restock() -> bool {
    true
}

/// A return to take: taking it again with the same `idempotency_key` returns the first one.
#[derive(Debug, Clone)]
pub struct TakeReturn {
    pub idempotency_key: String,
    pub cashier: Cashier,
    pub sale_id: Uuid,
    pub input: NewStoreReturn,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReturnedLine {
    pub sku: String,
    pub product_id: Uuid,
    pub quantity: i64,
    /// What the customer gets back for these units (their share of the line's gross).
    pub amount: Money,
}

/// A return taken at a till, refunded the way the sale was paid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StoreReturn {
    pub id: Uuid,
    pub sale_id: Uuid,
    pub sale_number: String,
    pub location: String,
    pub channel: String,
    pub cashier: Cashier,
    pub lines: Vec<ReturnedLine>,
    pub amount: Money,
    pub reason: String,
    pub restocked: bool,
    pub created_at: DateTime<Utc>,
}

/// Which sales to list, newest first.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SaleFilter {
    pub location: Option<String>,
    pub cashier_id: Option<Uuid>,
    /// Sales made at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Sales made before this instant.
    pub to: Option<DateTime<Utc>>,
}

#[async_trait]
pub trait PosPort: Send + Sync {
    async fn upsert_store(&self, ctx: &RequestContext, input: StoreInput) -> Result<Store>;
    async fn list_stores(&self, ctx: &RequestContext) -> Result<Vec<Store>>;
    /// A scanned SKU priced for the store, with its units on the store's shelves; 404 for a SKU
    /// without a price in the store's channel, 404 for a location that is not a store.
    async fn scan(&self, ctx: &RequestContext, location: &str, sku: &str) -> Result<ScannedItem>;
    /// Rings up a sale: units taken from the store's shelves (409 `insufficient-stock` naming the
    /// line when they are not there), payment taken (402 with the reason when a card is
    /// declined, 422 on `payment.tendered` when the cash does not cover the total), then the
    /// sale recorded and `pos.sale.completed` published. A failure leaves nothing behind.
    async fn sell(&self, ctx: &RequestContext, sell: Sell) -> Result<Sale>;
    async fn get_sale(&self, ctx: &RequestContext, id: Uuid) -> Result<Sale>;
    async fn list_sales(&self, ctx: &RequestContext, filter: SaleFilter, page: PageRequest) -> Result<Page<Sale>>;
    /// Takes units of a sale back: never more than were sold and not yet returned (422 naming
    /// the line), refunds their share the way the sale was paid, puts them back on the shelf
    /// unless told not to, and publishes `pos.return.completed`.
    async fn take_return(&self, ctx: &RequestContext, input: TakeReturn) -> Result<StoreReturn>;
    async fn returns_for_sale(&self, ctx: &RequestContext, sale_id: Uuid) -> Result<Vec<StoreReturn>>;
    /// The receipt as plain text, 40 columns wide, ready for a receipt printer.
    async fn receipt(&self, ctx: &RequestContext, sale_id: Uuid) -> Result<String>;
}

/// Event types and payloads published by the point of sale (source `pos`).
pub mod events {
    use super::*;

    pub const SALE_COMPLETED: &str = "pos.sale.completed";
    pub const RETURN_COMPLETED: &str = "pos.return.completed";

    /// Payload of `pos.sale.completed`: the whole sale as it was completed.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct SaleCompleted {
        pub sale: Sale,
    }

    /// Payload of `pos.return.completed`.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct ReturnCompleted {
        #[serde(rename = "return")]
        pub store_return: StoreReturn,
    }
}
