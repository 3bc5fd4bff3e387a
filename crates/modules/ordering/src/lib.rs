//! Ordering owns orders: the snapshot of what was bought (lines, prices and tax as billing computed
//! them, the shipping choice, the addresses), the order's state machine and its timeline, the
//! checkout saga that places, reserves, charges and confirms an order, cancellations, refunds and
//! returns. Cart, catalog, inventory, payment, billing and shipping are reached only through their
//! ports; what happens after a checkout (selling the reserved stock, the shipment, the invoice, the
//! cart closing, the customer's email) is done by those modules when they consume its event.
//!
//! Publishes (source `ordering`): `order.order.placed`, `order.checkout.completed`,
//! `order.order.cancelled`, `order.order.refunded`, `order.order.shipped`, `order.order.delivered`,
//! `order.return.requested` and `order.return.received`. Consumes `shipping.shipment.*` (consumer
//! `ordering.shipments`) to follow the parcel and `inventory.reservation.expired` (consumer
//! `ordering.reservations`) to cancel checkouts whose stock was given back. A background sweeper
//! ([`OrderingModule::run_stale_checkout_sweeper`]) rolls back checkouts interrupted by a crash.

mod consumers;
mod domain;
mod saga;
mod service;
mod store;

use std::sync::Arc;
use std::time::Duration;

use comptoir_contracts::billing::BillingPort;
use comptoir_contracts::cart::CartPort;
use comptoir_contracts::catalog::CatalogPort;
use comptoir_contracts::inventory::InventoryPort;
use comptoir_contracts::payment::PaymentPort;
use comptoir_contracts::shipping::ShippingPort;
use comptoir_eventbus::Consumer;
use comptoir_kernel::RequestContext;
use comptoir_storage::{Db, Migrations};

pub use consumers::{RESERVATIONS, SHIPMENTS};

/// The schema is plain enough to be the same SQL on SQLite and PostgreSQL.
const SCHEMA: &[(i64, &str, &str)] = &[
    (1, "ordering", include_str!("../migrations/portable/0001_ordering.sql")),
    (2, "orders by cart", include_str!("../migrations/portable/0002_orders_by_cart.sql")),
];

pub const MIGRATIONS: Migrations = Migrations { sqlite: SCHEMA, postgres: SCHEMA };

/// The other modules' ports the checkout and the after-sale operations call.
#[derive(Clone)]
pub struct OrderingPorts {
    pub cart: Arc<dyn CartPort>,
    pub catalog: Arc<dyn CatalogPort>,
    pub inventory: Arc<dyn InventoryPort>,
    pub payment: Arc<dyn PaymentPort>,
    pub billing: Arc<dyn BillingPort>,
    pub shipping: Arc<dyn ShippingPort>,
}

#[derive(Debug, Clone, Copy)]
pub struct OrderingConfig {
    /// How long a checkout's stock stays reserved for it; a checkout still unfinished after that
    /// is rolled back by the sweeper.
    pub reservation_ttl: Duration,
}

impl Default for OrderingConfig {
    fn default() -> Self {
        OrderingConfig { reservation_ttl: Duration::from_secs(15 * 60) }
    }
}

/// The ordering module; cheap to clone. Implements [`comptoir_contracts::ordering::OrderingPort`].
#[derive(Clone)]
pub struct OrderingModule {
    db: Db,
    ports: OrderingPorts,
    config: OrderingConfig,
}

impl OrderingModule {
    pub fn new(db: Db, ports: OrderingPorts, config: OrderingConfig) -> Self {
        OrderingModule { db, ports, config }
    }

    /// The event consumers to subscribe on the bus.
    pub fn consumers(&self) -> Vec<Consumer> {
        let shipments = Arc::new(consumers::Shipments { module: self.clone() });
        let reservations = Arc::new(consumers::Reservations { module: self.clone() });
        vec![
            Consumer::new(SHIPMENTS, &["shipping.shipment.*"], self.db.clone(), shipments),
            Consumer::new(RESERVATIONS, &["inventory.reservation.expired"], self.db.clone(), reservations),
        ]
    }

    /// Rolls back stale checkouts every `every`, forever. A failed sweep is logged and the next one
    /// tries again.
    pub async fn run_stale_checkout_sweeper(self, every: Duration) {
        // `interval` refuses a zero period.
        let mut ticks = tokio::time::interval(every.max(Duration::from_millis(1)));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let ctx = RequestContext::system();
            match self.cancel_stale_checkouts(&ctx).await {
                Ok(0) => {}
                Ok(cancelled) => {
                    tracing::info!(cancelled, correlation_id = %ctx.correlation_id, "cancelled stale checkouts")
                }
                Err(error) => tracing::warn!(
                    %error,
                    correlation_id = %ctx.correlation_id,
                    "cancelling stale checkouts failed; the next sweep tries again"
                ),
            }
        }
    }
}
