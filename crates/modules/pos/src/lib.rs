//! Point of sale: staff selling at a store's till. The module owns the stores set up for selling
//! (an inventory location of kind `store`, with the name and address its receipts print, the
//! catalog channel its prices come from and its currency), the sales rung up there with a
//! snapshot of what was sold, at what price and tax, the returns taken back, a sale number
//! counter per store, and the idempotency keys of both. Catalog, inventory, payment and billing
//! are reached only through their ports ([`PosPorts`]).
//!
//! **Ringing up a sale** ([`PosPort::sell`](comptoir_contracts::pos::PosPort::sell)) is a small
//! saga with the guarantees of ordering's checkout:
//!
//! 1. Everything that can be checked before anything is taken is checked: the lines (1 to
//!    [`MAX_SALE_LINES`](comptoir_contracts::pos::MAX_SALE_LINES), quantities above zero), the
//!    store, a price in the store's channel for every SKU (422 naming `lines[i].sku`), tax from
//!    billing for the store's address, and cash covering the total (422 on `payment.tendered`).
//! 2. The attempt is recorded under its idempotency key (`pending`).
//! 3. Stock is reserved at the store's own location only (reference `pos:<sale id>`); not there:
//!    409 `insufficient-stock` naming the line, nothing charged.
//! 4. Payment is taken, keyed by the sale (`pos:<sale id>`), so never twice: cash through the
//!    payment module's `cash` provider, a card through its `test` provider. A declined card
//!    releases the reservation: 402 with the reason.
//! 5. The reservation is committed (the units leave the shelf).
//! 6. The sale is completed, numbered per store (`PARIS-STORE-000042`) and `pos.sale.completed`
//!    written in the same unit of work.
//!
//! Refused stock and declined cards are remembered: a retry with the same key gets the same
//! answer, and a completed sale answers every retry. A retry of an attempt interrupted half-way (a
//! crash, a service that did not answer) resumes it: each step is idempotent (the reservation by
//! its reference, the charge by its key, the commit by the reservation's state), so resuming
//! never reserves, charges or decrements twice. An attempt nobody resumes is rolled back by
//! [`PosModule::cancel_stale_sales`] once untouched for as long as a reservation lives: units
//! released (or put back if already sold), money refunded. Only completed sales are ever seen:
//! declined, refused and abandoned attempts leave no sale behind.
//!
//! **Returns** ([`PosPort::take_return`](comptoir_contracts::pos::PosPort::take_return)) take units
//! of a sale back, never more than were sold and not yet returned (422 naming
//! `lines[i].quantity`). The units are held on the sale's lines when the return is recorded, so
//! two returns at once cannot both take the last unit. Each unit refunds its share of its line's
//! gross (integer arithmetic; the last units of a line get the remainder, so returning everything
//! refunds exactly what was paid), through the payment module the way the sale was paid; the units
//! go back on the store's shelf (`InventoryPort::restock`, reference `pos-return:<return id>`)
//! unless they are damaged; then the sale's returned units, refunded amount and status change and
//! `pos.return.completed` is written in one unit of work. Idempotent by key, and resumable like a
//! sale.
//!
//! Publishes (source `pos`) `pos.sale.completed` and `pos.return.completed`. Consumes no events.
//!
//! On `/metrics`: `comptoir_pos_sales_total{outcome}` counts sales completed, refused (stock),
//! declined (payment) and abandoned.

mod domain;
mod receipt;
mod returns;
mod saga;
mod service;
mod store;

use std::sync::Arc;
use std::time::Duration;

use comptoir_contracts::billing::BillingPort;
use comptoir_contracts::catalog::CatalogPort;
use comptoir_contracts::inventory::InventoryPort;
use comptoir_contracts::payment::PaymentPort;
use comptoir_kernel::RequestContext;
use comptoir_storage::{Db, Migrations};

/// The schema is plain enough to be the same SQL on SQLite and PostgreSQL.
const SCHEMA: &[(i64, &str, &str)] = &[(1, "pos", include_str!("../migrations/portable/0001_pos.sql"))];

pub const MIGRATIONS: Migrations = Migrations { sqlite: SCHEMA, postgres: SCHEMA };

/// The other modules' ports the till calls.
#[derive(Clone)]
pub struct PosPorts {
    /// Prices (`offer` in the store's channel) and the channels a store may sell in.
    pub catalog: Arc<dyn CatalogPort>,
    /// Store locations, reservations at the store, restocking returns, units on the shelf.
    pub inventory: Arc<dyn InventoryPort>,
    /// Cash (`cash` provider) and cards (`test` provider), refunds.
    pub payment: Arc<dyn PaymentPort>,
    /// Tax for the store's address.
    pub billing: Arc<dyn BillingPort>,
}

#[derive(Debug, Clone, Copy)]
pub struct PosConfig {
    /// How long a sale's units stay reserved for it; an attempt untouched for that long is rolled
    /// back by [`PosModule::cancel_stale_sales`].
    pub reservation_ttl: Duration,
}

impl Default for PosConfig {
    fn default() -> Self {
        PosConfig { reservation_ttl: Duration::from_secs(15 * 60) }
    }
}

/// The point of sale module; cheap to clone. Implements [`comptoir_contracts::pos::PosPort`].
#[derive(Clone)]
pub struct PosModule {
    db: Db,
    ports: PosPorts,
    config: PosConfig,
}

impl PosModule {
    /// With the default configuration (reservations held 15 minutes).
    pub fn new(db: Db, ports: PosPorts) -> Self {
        Self::with_config(db, ports, PosConfig::default())
    }

    pub fn with_config(db: Db, ports: PosPorts, config: PosConfig) -> Self {
        PosModule { db, ports, config }
    }

    /// Rolls back stale sale attempts every `every`, forever. A failed sweep is logged and the next
    /// one tries again.
    pub async fn run_stale_sale_sweeper(self, every: Duration) {
        // `interval` refuses a zero period.
        let mut ticks = tokio::time::interval(every.max(Duration::from_millis(1)));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let ctx = RequestContext::system();
            match self.cancel_stale_sales(&ctx).await {
                Ok(0) => {}
                Ok(abandoned) => {
                    tracing::info!(abandoned, correlation_id = %ctx.correlation_id, "rolled back stale sales")
                }
                Err(error) => tracing::warn!(
                    %error,
                    correlation_id = %ctx.correlation_id,
                    "rolling back stale sales failed; the next sweep tries again"
                ),
            }
        }
    }
}
