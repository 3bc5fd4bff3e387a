//! Cart: anonymous carts (reached with a token whose hash alone is stored) and customer carts (one
//! active cart per customer and channel), their lines with a product and price snapshot, their
//! totals, and the merge of an anonymous cart into the customer's cart at login.
//!
//! Prices and channels come from catalog, stock figures from inventory, both through their ports.
//! Publishes `cart.cart.created`, `cart.cart.updated` (every line change) and `cart.cart.merged`;
//! consumes `order.checkout.completed` (consumer `cart.checkouts`) to close the ordered cart.

mod consumers;
mod domain;
mod service;
mod store;

use std::sync::Arc;

use comptoir_contracts::catalog::CatalogPort;
use comptoir_contracts::inventory::InventoryPort;
use comptoir_eventbus::Consumer;
use comptoir_storage::{Db, Migrations};

pub use consumers::CHECKOUTS;
pub use domain::{MAX_LINE_QUANTITY, MAX_LINES};

/// The schema is plain enough to be the same SQL on SQLite and PostgreSQL.
const SCHEMA: &[(i64, &str, &str)] = &[(1, "cart", include_str!("../migrations/portable/0001_cart.sql"))];

pub const MIGRATIONS: Migrations = Migrations { sqlite: SCHEMA, postgres: SCHEMA };

/// The cart module; implements [`comptoir_contracts::cart::CartPort`].
#[derive(Clone)]
pub struct CartModule {
    db: Db,
    catalog: Arc<dyn CatalogPort>,
    inventory: Arc<dyn InventoryPort>,
}

impl CartModule {
    pub fn new(db: Db, catalog: Arc<dyn CatalogPort>, inventory: Arc<dyn InventoryPort>) -> Self {
        CartModule { db, catalog, inventory }
    }

    pub fn consumers(&self) -> Vec<Consumer> {
        let checkouts = Arc::new(consumers::Checkouts { db: self.db.clone() });
        vec![Consumer::new(CHECKOUTS, &["order.checkout.completed"], self.db.clone(), checkouts)]
    }
}
