//! Inventory: stock locations, stock per SKU per location, movements, reservations with expiry and
//! low-stock thresholds. Stock never goes negative and is never over-reserved.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use comptoir_kernel::{Page, PageRequest, RequestContext, Result};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LocationKind {
    Warehouse,
    Store,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Location {
    pub id: Uuid,
    /// Short unique code used in requests (`paris-wh`).
    pub code: String,
    pub name: String,
    pub kind: LocationKind,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLocation {
    pub code: String,
    pub name: String,
    pub kind: LocationKind,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StockLevel {
    pub location: String,
    pub on_hand: i64,
    pub reserved: i64,
    /// `on_hand - reserved`: what can still be sold.
    pub available: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SkuStock {
    pub sku: String,
    pub levels: Vec<StockLevel>,
    pub on_hand: i64,
    pub reserved: i64,
    pub available: i64,
    /// `inventory.stock.low` is emitted when `available` falls to this or below.
    pub low_stock_threshold: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiveStock {
    pub sku: String,
    /// Location code.
    pub location: String,
    /// Units received; greater than zero.
    pub quantity: i64,
    #[serde(default)]
    pub reference: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdjustStock {
    pub sku: String,
    pub location: String,
    /// Units added (positive) or removed (negative); never zero. On-hand stock cannot fall below
    /// what is reserved.
    pub delta: i64,
    /// Why: `count`, `damaged`, `lost`, ...
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MovementKind {
    Received,
    Adjusted,
    /// Units leaving with a committed reservation (sold).
    Committed,
    /// Units coming back on the shelf after a refund or a return.
    Returned,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Movement {
    pub id: Uuid,
    pub sku: String,
    pub location: String,
    pub kind: MovementKind,
    /// Change of on-hand units.
    pub delta: i64,
    pub reason: Option<String>,
    pub reference: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MovementFilter {
    pub sku: Option<String>,
    pub location: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReservationLineInput {
    pub sku: String,
    pub quantity: i64,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReserveStock {
    /// What the reservation is for (a cart or order id). Reserving again with the same reference
    /// while a reservation is active returns that reservation.
    pub reference: String,
    pub lines: Vec<ReservationLineInput>,
    /// Seconds until the reservation is released automatically; default 900.
    #[serde(default)]
    pub ttl_seconds: Option<u64>,
    /// Take the units from this location only (a store's till selling off its own shelves);
    /// otherwise from any, the fullest first. An unknown location is 422 on `location`.
    #[serde(default)]
    pub location: Option<String>,
}

/// Units coming back on a location's shelf outside an order's refund (a return at a store's
/// till): a `returned` movement, not a delivery.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestockUnits {
    pub sku: String,
    /// Location code.
    pub location: String,
    /// Units put back; greater than zero.
    pub quantity: i64,
    /// What they came back with (`pos-return:<id>`). Restocking again with the same reference and
    /// SKU changes nothing: a retried return never puts units back twice.
    pub reference: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReservationStatus {
    Active,
    Committed,
    Released,
    Expired,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReservedUnits {
    pub sku: String,
    pub location: String,
    pub quantity: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Reservation {
    pub id: Uuid,
    pub reference: String,
    pub status: ReservationStatus,
    pub lines: Vec<ReservedUnits>,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

#[async_trait]
pub trait InventoryPort: Send + Sync {
    async fn create_location(&self, ctx: &RequestContext, input: NewLocation) -> Result<Location>;
    async fn list_locations(&self, ctx: &RequestContext, page: PageRequest) -> Result<Page<Location>>;

    async fn receive(&self, ctx: &RequestContext, input: ReceiveStock) -> Result<SkuStock>;
    async fn adjust(&self, ctx: &RequestContext, input: AdjustStock) -> Result<SkuStock>;
    /// 404 for a SKU the catalog never announced.
    async fn stock(&self, ctx: &RequestContext, sku: &str) -> Result<SkuStock>;
    /// Units available to sell per SKU, across locations; unknown SKUs have 0.
    async fn available(&self, ctx: &RequestContext, skus: &[String]) -> Result<Vec<(String, i64)>>;
    async fn movements(
        &self,
        ctx: &RequestContext,
        filter: MovementFilter,
        page: PageRequest,
    ) -> Result<Page<Movement>>;
    async fn set_low_stock_threshold(
        &self,
        ctx: &RequestContext,
        sku: &str,
        threshold: Option<i64>,
    ) -> Result<SkuStock>;
    /// SKUs whose available units are at or below their low-stock threshold, lowest first (then by
    /// SKU). SKUs without a threshold, and those the catalog discontinued, are never listed.
    async fn low_stock(&self, ctx: &RequestContext, page: PageRequest) -> Result<Page<SkuStock>>;

    /// Reserves every line or nothing; 409 `insufficient-stock` naming the line otherwise.
    async fn reserve(&self, ctx: &RequestContext, input: ReserveStock) -> Result<Reservation>;
    /// The reserved units leave stock (sold). Idempotent.
    async fn commit_reservation(&self, ctx: &RequestContext, id: Uuid) -> Result<Reservation>;
    /// The reserved units become available again. Idempotent.
    async fn release_reservation(&self, ctx: &RequestContext, id: Uuid) -> Result<Reservation>;
    async fn get_reservation(&self, ctx: &RequestContext, id: Uuid) -> Result<Reservation>;
    /// Releases active reservations past their expiry; returns how many.
    async fn release_expired(&self, ctx: &RequestContext) -> Result<u64>;
    /// Puts returned units back on a location's shelf (movement `returned`); idempotent per
    /// `reference` and SKU.
    async fn restock(&self, ctx: &RequestContext, input: RestockUnits) -> Result<SkuStock>;
}

/// Event types and payloads published by inventory (source `inventory`).
pub mod events {
    use super::*;

    pub const LOCATION_CREATED: &str = "inventory.location.created";
    pub const STOCK_CHANGED: &str = "inventory.stock.changed";
    pub const STOCK_LOW: &str = "inventory.stock.low";
    pub const RESERVATION_CREATED: &str = "inventory.reservation.created";
    pub const RESERVATION_COMMITTED: &str = "inventory.reservation.committed";
    pub const RESERVATION_RELEASED: &str = "inventory.reservation.released";
    pub const RESERVATION_EXPIRED: &str = "inventory.reservation.expired";

    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct StockChanged {
        pub sku: String,
        pub location: String,
        pub on_hand: i64,
        pub reserved: i64,
        /// Across all locations.
        pub available: i64,
    }

    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct StockLow {
        pub sku: String,
        pub available: i64,
        pub threshold: i64,
    }

    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct ReservationChanged {
        pub reservation_id: Uuid,
        pub reference: String,
        pub status: ReservationStatus,
        pub lines: Vec<ReservedUnits>,
    }
}
