//! Shipping owns how parcels leave the shop: zones (the countries a set of methods serves),
//! shipping methods with their rates (flat or by weight bracket, free above a subtotal), quotes for
//! a cart, and shipments: one per confirmed order, with a tracking number, an A6 PDF label and a
//! tracking history fed by staff or by a carrier's signed webhook. A shipment's status only moves
//! forward: label created, shipped, in transit, delivered.
//!
//! Publishes `shipping.shipment.created|shipped|in_transit|delivered`. Consumes
//! `order.checkout.completed` from ordering (consumer `shipping.shipments`) to create the order's
//! shipment from the order snapshot.

mod consumers;
mod domain;
mod label;
mod service;
mod store;
mod webhook;

use std::sync::Arc;

use comptoir_contracts::address::PostalAddress;
use comptoir_eventbus::Consumer;
use comptoir_storage::{Db, Migrations};

pub use consumers::SHIPMENTS;
pub use webhook::{TOLERANCE_SECONDS, sign_webhook};

/// The schema is plain enough to be the same SQL on SQLite and PostgreSQL.
const SCHEMA: &[(i64, &str, &str)] = &[(1, "shipping", include_str!("../migrations/portable/0001_shipping.sql"))];

pub const MIGRATIONS: Migrations = Migrations { sqlite: SCHEMA, postgres: SCHEMA };

#[derive(Clone)]
pub struct ShippingConfig {
    /// Shared with the carriers; signs their tracking webhooks. Empty: webhooks are refused.
    pub webhook_secret: String,
    /// The sender printed on labels: the shop's warehouse address.
    pub ship_from: PostalAddress,
}

/// The shipping module; cheap to clone.
#[derive(Clone)]
pub struct ShippingModule {
    db: Db,
    config: Arc<ShippingConfig>,
}

impl ShippingModule {
    pub fn new(db: Db, config: ShippingConfig) -> Self {
        ShippingModule { db, config: Arc::new(config) }
    }

    /// The event consumers to subscribe on the bus.
    pub fn consumers(&self) -> Vec<Consumer> {
        let handler = Arc::new(consumers::Shipments { module: self.clone() });
        vec![Consumer::new(
            SHIPMENTS,
            &[comptoir_contracts::ordering::events::CHECKOUT_COMPLETED],
            self.db.clone(),
            handler,
        )]
    }
}
