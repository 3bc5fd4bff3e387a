//! Catalog: what the shop sells and at what price.
//!
//! It owns products (with their variants, option values, weights and attributes), the category
//! tree, collections, the sales channels (`online`, `store`, each with one currency) and every
//! variant's price per channel. Sellers belong to identity: the catalog only asks, through the
//! [`SellerDirectory`] port, whether a product's seller exists.
//!
//! Publishes (source `catalog`): `product.item.created|updated|deleted|published|unpublished` with
//! a `ProductChanged` payload listing every SKU, `product.collection.created|updated` with a
//! `CollectionChanged`, and `product.category.created` with the `Category`. Each is written in the
//! same unit of work as the change. Consumes no events.
//!
//! Reads of products are the storefront's hot path: a product, or a page of them, costs a fixed
//! number of indexed queries (products, then variants with prices, then category links), and the
//! answers are kept in a read cache that every committed write empties (`read_cache.rs`).

mod domain;
mod read_cache;
mod service;
mod store;

use std::sync::Arc;

use comptoir_contracts::identity::SellerDirectory;
use comptoir_storage::{Db, Migrations};

/// The schema is plain enough to be the same SQL on SQLite and PostgreSQL.
const SCHEMA: &[(i64, &str, &str)] = &[(1, "catalog", include_str!("../migrations/portable/0001_catalog.sql"))];

pub const MIGRATIONS: Migrations = Migrations { sqlite: SCHEMA, postgres: SCHEMA };

/// The `source` of the events the catalog emits.
pub const SOURCE: &str = "catalog";

/// The catalog's in-process implementation of [`comptoir_contracts::catalog::CatalogPort`].
#[derive(Clone)]
pub struct CatalogModule {
    db: Db,
    sellers: Arc<dyn SellerDirectory>,
    cache: Arc<read_cache::ReadCache>,
}

impl CatalogModule {
    pub fn new(db: Db, sellers: Arc<dyn SellerDirectory>) -> Self {
        CatalogModule { db, sellers, cache: Arc::new(read_cache::ReadCache::new()) }
    }
}
