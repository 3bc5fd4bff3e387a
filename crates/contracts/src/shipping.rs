//! Shipping: zones and methods with their rates, quotes, shipments with tracking numbers and
//! labels, and tracking events from staff or a carrier's signed webhook.
//!
//! Shipping reacts to `order.checkout.completed` by creating the order's shipment.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use comptoir_kernel::{Currency, Money, Page, PageRequest, RequestContext, Result};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::address::PostalAddress;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Zone {
    pub id: Uuid,
    pub name: String,
    /// ISO 3166-1 alpha-2 codes the zone covers.
    pub countries: Vec<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewZone {
    pub name: String,
    pub countries: Vec<String>,
}

/// A weight bracket: parcels up to `up_to_grams` cost `amount`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WeightBracket {
    pub up_to_grams: i64,
    pub amount: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Rate {
    /// One price whatever the parcel.
    Flat { amount: i64 },
    /// The first bracket the parcel's weight fits in; heavier parcels are not served.
    WeightBased { brackets: Vec<WeightBracket> },
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ShippingMethod {
    pub id: Uuid,
    /// Unique, used at checkout (`standard`, `express`).
    pub code: String,
    pub name: String,
    pub carrier: String,
    pub zone_id: Uuid,
    pub currency: Currency,
    pub rate: Rate,
    /// Orders of at least this subtotal ship free.
    pub free_above: Option<i64>,
    pub delivery_days: Option<i64>,
    pub active: bool,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewShippingMethod {
    pub code: String,
    pub name: String,
    pub carrier: String,
    pub zone_id: Uuid,
    pub currency: Currency,
    pub rate: Rate,
    #[serde(default)]
    pub free_above: Option<i64>,
    #[serde(default)]
    pub delivery_days: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuoteRequest {
    pub country: String,
    #[serde(default)]
    pub region: Option<String>,
    pub weight_grams: i64,
    /// The order's subtotal as the customer sees it (decides free shipping).
    pub subtotal: Money,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Quote {
    pub method: String,
    pub name: String,
    pub carrier: String,
    pub price: Money,
    pub delivery_days: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShipmentStatus {
    /// Created with its label, waiting for the carrier.
    LabelCreated,
    Shipped,
    InTransit,
    Delivered,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TrackingEvent {
    pub status: ShipmentStatus,
    pub note: Option<String>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Shipment {
    pub id: Uuid,
    pub order_id: Uuid,
    pub order_number: String,
    pub method: String,
    pub carrier: String,
    pub tracking_number: String,
    pub status: ShipmentStatus,
    pub destination: PostalAddress,
    pub weight_grams: i64,
    pub events: Vec<TrackingEvent>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrackingUpdate {
    /// `shipped`, `in_transit` or `delivered`; never backwards.
    pub status: ShipmentStatus,
    #[serde(default)]
    pub note: Option<String>,
}

#[async_trait]
pub trait ShippingPort: Send + Sync {
    async fn create_zone(&self, ctx: &RequestContext, input: NewZone) -> Result<Zone>;
    async fn list_zones(&self, ctx: &RequestContext, page: PageRequest) -> Result<Page<Zone>>;
    async fn create_method(&self, ctx: &RequestContext, input: NewShippingMethod) -> Result<ShippingMethod>;
    async fn list_methods(&self, ctx: &RequestContext, page: PageRequest) -> Result<Page<ShippingMethod>>;
    /// An inactive method is no longer quoted nor accepted at checkout; 404 for an unknown code.
    async fn set_method_active(&self, ctx: &RequestContext, code: &str, active: bool) -> Result<ShippingMethod>;

    /// Every active method serving the destination, cheapest first.
    async fn quotes(&self, ctx: &RequestContext, request: QuoteRequest) -> Result<Vec<Quote>>;
    /// One method's price; 422 on `shipping_method` if unknown, inactive or not serving there.
    async fn quote(&self, ctx: &RequestContext, method: &str, request: QuoteRequest) -> Result<Quote>;

    async fn shipment_for_order(&self, ctx: &RequestContext, order_id: Uuid) -> Result<Shipment>;
    async fn list_shipments(&self, ctx: &RequestContext, page: PageRequest) -> Result<Page<Shipment>>;
    async fn track(&self, ctx: &RequestContext, shipment_id: Uuid, update: TrackingUpdate) -> Result<Shipment>;
    /// A carrier's tracking webhook; the signature is checked against the body (401 otherwise).
    async fn carrier_webhook(&self, ctx: &RequestContext, carrier: &str, signature: &str, body: &[u8]) -> Result<()>;
    /// The shipping label as a PDF.
    async fn label_pdf(&self, ctx: &RequestContext, shipment_id: Uuid) -> Result<Vec<u8>>;
}

/// Event types and payloads published by shipping (source `shipping`).
pub mod events {
    use super::*;

    pub const SHIPMENT_CREATED: &str = "shipping.shipment.created";
    pub const SHIPMENT_SHIPPED: &str = "shipping.shipment.shipped";
    pub const SHIPMENT_IN_TRANSIT: &str = "shipping.shipment.in_transit";
    pub const SHIPMENT_DELIVERED: &str = "shipping.shipment.delivered";

    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct ShipmentEvent {
        pub shipment_id: Uuid,
        pub order_id: Uuid,
        pub order_number: String,
        pub carrier: String,
        pub tracking_number: String,
        pub status: ShipmentStatus,
    }
}
