//! Inventory owns stock: the locations that hold it (warehouses, stores), the units of each SKU on
//! hand and reserved at each location, the movements that changed on-hand units, reservations with
//! an expiry, and low-stock thresholds. Stock never goes negative and is never reserved twice: every
//! change is a conditional update checked in the same unit of work, with CHECK constraints behind it.
//!
//! Publishes `inventory.location.created`, `inventory.stock.changed`, `inventory.stock.low` and
//! `inventory.reservation.created|committed|released|expired`. Consumes `product.item.*` from the
//! catalog (consumer `inventory.catalog-skus`) to learn which SKUs exist, and ordering's
//! `order.checkout.completed|order.order.cancelled|order.order.refunded` (consumer
//! `inventory.orders`) to sell reserved units, release them, or put refunded units back. A background sweeper
//! ([`InventoryModule::run_expiry_sweeper`]) releases reservations past their expiry.
//!
//! A reservation may be limited to one location (a store's till selling off its own shelves), and
//! `restock` puts units returned at a till back on a location's shelf, once per reference and SKU
//! (the `restocks` table remembers which were put back, so a retried return changes nothing).
//!
//! On `/metrics`: `comptoir_stock_reservations_total{outcome}` counts reservations reserved,
//! refused, released, committed and expired (once committed to the database), and
//! `comptoir_stock_reservations_active` the reservations holding units, sampled every second.

mod consumers;
mod domain;
mod service;
mod store;

use std::sync::Arc;
use std::time::Duration;

use comptoir_contracts::inventory::InventoryPort;
use comptoir_eventbus::Consumer;
use comptoir_kernel::RequestContext;
use comptoir_storage::{Db, Migrations};

pub use consumers::{CATALOG_SKUS, ORDERS};

/// How often the number of held reservations is sampled for `/metrics`.
const ACTIVE_RESERVATIONS_SAMPLED_EVERY: Duration = Duration::from_secs(1);

/// Per backend where the DDL differs (`migrations/sqlite`, `migrations/postgres`); the scripts in
/// `migrations/portable` serve both.
pub const MIGRATIONS: Migrations = Migrations {
    sqlite: &[
        (1, "inventory", include_str!("../migrations/sqlite/0001_inventory.sql")),
        (2, "returned movements", include_str!("../migrations/sqlite/0002_returned_movements.sql")),
        (3, "low stock index", include_str!("../migrations/sqlite/0003_low_stock_index.sql")),
        (4, "restocks", include_str!("../migrations/portable/0004_restocks.sql")),
    ],
    postgres: &[
        (1, "inventory", include_str!("../migrations/postgres/0001_inventory.sql")),
        (2, "returned movements", include_str!("../migrations/postgres/0002_returned_movements.sql")),
        (3, "low stock index", include_str!("../migrations/postgres/0003_low_stock_index.sql")),
        (4, "restocks", include_str!("../migrations/portable/0004_restocks.sql")),
    ],
};

/// The inventory module; cheap to clone.
#[derive(Clone)]
pub struct InventoryModule {
    db: Db,
}

impl InventoryModule {
    pub fn new(db: Db) -> Self {
        InventoryModule { db }
    }

    /// The event consumers to subscribe on the bus.
    pub fn consumers(&self) -> Vec<Consumer> {
        let skus = Arc::new(consumers::CatalogSkus { db: self.db.clone() });
        let orders = Arc::new(consumers::Orders { inventory: self.clone() });
        vec![
            Consumer::new(CATALOG_SKUS, &["product.item.*"], self.db.clone(), skus),
            Consumer::new(
                ORDERS,
                &["order.checkout.completed", "order.order.cancelled", "order.order.refunded"],
                self.db.clone(),
                orders,
            ),
        ]
    }

    /// Releases expired reservations every `every`, forever, and samples the reservations held
    /// (`comptoir_stock_reservations_active`) every second in between. A failed sweep is logged
    /// and the next one tries again.
    pub async fn run_expiry_sweeper(self, every: Duration) {
        // `interval` refuses a zero period.
        let mut sweeps = tokio::time::interval(every.max(Duration::from_millis(1)));
        sweeps.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut samples = tokio::time::interval(ACTIVE_RESERVATIONS_SAMPLED_EVERY);
        samples.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = sweeps.tick() => self.sweep_expired().await,
                _ = samples.tick() => self.sample_active_reservations().await,
            }
        }
    }

    async fn sweep_expired(&self) {
        let ctx = RequestContext::system();
        match self.release_expired(&ctx).await {
            Ok(0) => {}
            Ok(released) => {
                tracing::info!(released, correlation_id = %ctx.correlation_id, "released expired stock reservations")
            }
            Err(error) => tracing::warn!(
                %error,
                correlation_id = %ctx.correlation_id,
                "releasing expired stock reservations failed; the next sweep tries again"
            ),
        }
    }

    /// One count over an index of the active reservations: cheap enough once a second, and right
    /// whichever process or instance changed them (unlike a gauge moved up and down in memory).
    async fn sample_active_reservations(&self) {
        let count = async {
            let mut c = self.db.reader().acquire().await.map_err(comptoir_storage::db_error)?;
            store::active_reservation_count(&mut c).await
        };
        match count.await {
            Ok(active) => metrics::gauge!("comptoir_stock_reservations_active").set(active as f64),
            Err(error) => tracing::debug!(%error, "could not count the active stock reservations"),
        }
    }
}
