//! Admin owns the shop's system settings: its name, the default sales channel and currency, and
//! maintenance mode. They start as the configured defaults and are changed through [`AdminPort`]
//! (the back office, `PATCH /api/v1/admin/settings`); every change bumps a version, so two staff
//! editing at once cannot overwrite each other unknowingly.
//!
//! Calls catalog (to check that the default channel exists and learn its currency). Publishes
//! `admin.settings.updated` on every change, and `admin.maintenance.started` / `.ended` when
//! maintenance mode is turned on or off; the API layer reads the settings to close the shop.
//!
//! [`AdminPort`]: comptoir_contracts::admin::AdminPort

mod domain;
mod service;
mod store;

use std::sync::Arc;

use comptoir_contracts::catalog::CatalogPort;
use comptoir_storage::{Db, Migrations};

const SCHEMA: &[(i64, &str, &str)] = &[(1, "admin", include_str!("../migrations/portable/0001_admin.sql"))];

pub const MIGRATIONS: Migrations = Migrations { sqlite: SCHEMA, postgres: SCHEMA };

/// The settings a shop starts with, until staff change them.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    pub shop_name: String,
    pub default_channel: String,
    pub default_currency: String,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig { shop_name: "Comptoir".into(), default_channel: "online".into(), default_currency: "EUR".into() }
    }
}

/// The admin module; cheap to clone.
#[derive(Clone)]
pub struct AdminModule {
    db: Db,
    catalog: Arc<dyn CatalogPort>,
    defaults: Arc<AdminConfig>,
}

impl AdminModule {
    pub fn new(db: Db, catalog: Arc<dyn CatalogPort>, defaults: AdminConfig) -> Self {
        AdminModule { db, catalog, defaults: Arc::new(defaults) }
    }
}
