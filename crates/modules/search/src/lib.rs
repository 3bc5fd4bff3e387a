//! Search owns the storefront's full-text index: a read model of the published products, fed by
//! events and queried through [`SearchPort`](comptoir_contracts::search::SearchPort).
//!
//! The durable part is the module's own tables (the document of each product, SKU availability,
//! the category tree, sellers' names); the tantivy index is held in memory and built from them
//! when the process starts, then kept up to date change by change. Each change gets a number
//! (`seq`) in the same transaction that stores it; the index applies every change above the last
//! number it applied, so it catches up after a restart, after a rebuild run by another process and
//! after a missed wake-up alike.
//!
//! Consumes `product.item.*` (consumer `search.products`: the product is read again from catalog,
//! so events may arrive in any order), `inventory.stock.changed` (`search.stock`: availability is
//! read again from inventory), and `product.category.created` and `auth.seller.created`
//! (`search.references`). Publishes nothing. `comptoir search rebuild` rebuilds everything from
//! catalog, inventory and identity.

mod consumers;
mod document;
mod index;
mod service;
mod store;

use std::sync::Arc;
use std::time::Duration;

use comptoir_contracts::catalog::CatalogPort;
use comptoir_contracts::catalog::events as catalog;
use comptoir_contracts::identity::IdentityPort;
use comptoir_contracts::identity::events as identity;
use comptoir_contracts::inventory::InventoryPort;
use comptoir_contracts::inventory::events as inventory;
use comptoir_eventbus::Consumer;
use comptoir_kernel::Result;
use comptoir_storage::{Db, Migrations, db_error};
use tokio::sync::{Mutex, Notify};

pub use consumers::{PRODUCTS, REFERENCES, STOCK};
pub use document::ProductDocument;
use index::{Labels, SearchIndex};

const SCHEMA: &[(i64, &str, &str)] = &[(1, "search", include_str!("../migrations/portable/0001_search.sql"))];

pub const MIGRATIONS: Migrations = Migrations { sqlite: SCHEMA, postgres: SCHEMA };

/// Changes applied to the index per batch.
const BATCH: i64 = 1_000;

#[derive(Debug, Clone)]
pub struct SearchConfig {
    /// The channel whose prices are shown, sorted and faceted (the storefront's).
    pub channel: String,
}

/// The modules search reads products, stock and sellers from.
#[derive(Clone)]
pub struct SearchPorts {
    pub catalog: Arc<dyn CatalogPort>,
    pub inventory: Arc<dyn InventoryPort>,
    pub identity: Arc<dyn IdentityPort>,
}

/// The search module; cheap to clone.
#[derive(Clone)]
pub struct SearchModule {
    db: Db,
    ports: SearchPorts,
    config: Arc<SearchConfig>,
    index: Arc<SearchIndex>,
    /// The last change applied to the index; held while applying, so one sync runs at a time.
    applied: Arc<Mutex<i64>>,
    /// Wakes the indexer when a handler has stored a change.
    wake: Arc<Notify>,
}

impl SearchModule {
    pub fn new(db: Db, ports: SearchPorts, config: SearchConfig) -> Result<Self> {
        Ok(SearchModule {
            db,
            ports,
            config: Arc::new(config),
            index: Arc::new(SearchIndex::new()?),
            applied: Arc::new(Mutex::new(0)),
            wake: Arc::new(Notify::new()),
        })
    }

    /// The event consumers to subscribe on the bus.
    pub fn consumers(&self) -> Vec<Consumer> {
        let handler = Arc::new(consumers::Handlers { module: self.clone() });
        vec![
            Consumer::new(
                PRODUCTS,
                &[
                    catalog::PRODUCT_CREATED,
                    catalog::PRODUCT_UPDATED,
                    catalog::PRODUCT_DELETED,
                    catalog::PRODUCT_PUBLISHED,
                    catalog::PRODUCT_UNPUBLISHED,
                ],
                self.db.clone(),
                handler.clone(),
            ),
            Consumer::new(STOCK, &[inventory::STOCK_CHANGED], self.db.clone(), handler.clone()),
            Consumer::new(REFERENCES, &[catalog::CATEGORY_CREATED, identity::SELLER_CREATED], self.db.clone(), handler),
        ]
    }

    /// Applies the stored changes the index has not seen yet: all of them the first time.
    /// Returns the number of the last change applied.
    pub async fn sync(&self) -> Result<i64> {
        let mut applied = self.applied.lock().await;
        let mut reader = self.db.reader().acquire().await.map_err(db_error)?;
        let mut labelled = false;
        loop {
            let changes = store::changes_since(&mut reader, *applied, BATCH).await?;
            let Some(last) = changes.last().map(|c| c.seq) else { break };
            if !labelled {
                // Documents are filed under categories and sellers as they are named now.
                let labels = Labels::new(store::categories(&mut reader).await?, store::sellers(&mut reader).await?);
                self.index.set_labels(labels);
                labelled = true;
            }
            let index = self.index.clone();
            tokio::task::spawn_blocking(move || index.apply(&changes))
                .await
                .map_err(|e| comptoir_kernel::Error::internal(format!("search indexing stopped: {e}")))??;
            *applied = last;
        }
        Ok(*applied)
    }

    /// Keeps the index up to date: woken by the handlers after each stored change (changes stored
    /// while it applies a batch make the next batch, so a burst costs few index commits), and
    /// every `poll` for changes stored by other processes (a rebuild run from the command line).
    /// The first pass loads everything.
    pub async fn run_indexer(self, poll: Duration) {
        if let Err(e) = self.rebuild_if_never_built().await {
            tracing::warn!(error = %e, "search: could not build the index of the existing catalog; run `comptoir search rebuild`");
        }
        loop {
            let started = std::time::Instant::now();
            match self.sync().await {
                Ok(_) => metrics::histogram!("comptoir_search_sync_seconds").record(started.elapsed().as_secs_f64()),
                Err(e) => tracing::warn!(error = %e, "search: could not bring the index up to date; retrying"),
            }
            metrics::gauge!("comptoir_search_documents").set(self.index.documents() as f64);
            let _ = tokio::time::timeout(poll, self.wake.notified()).await;
        }
    }

    /// Changes stored but not yet searchable (0 once the indexer has caught up).
    pub async fn pending(&self) -> Result<u64> {
        let applied = *self.applied.lock().await;
        let mut reader = self.db.reader().acquire().await.map_err(db_error)?;
        store::pending(&mut reader, applied).await
    }
}

impl SearchModule {
    /// A shop that had products before search arrived (or whose search database was lost) has
    /// an empty store and events long gone: read everything from the owning modules once.
    async fn rebuild_if_never_built(&self) -> Result<()> {
        use comptoir_contracts::catalog::{ProductFilter, Visibility};
        use comptoir_contracts::search::SearchPort;
        let ctx = comptoir_kernel::RequestContext::system();
        let mut reader = self.db.reader().acquire().await.map_err(db_error)?;
        if store::has_documents(&mut reader).await? {
            return Ok(());
        }
        drop(reader);
        let page = comptoir_kernel::PageRequest { page: 1, per_page: 1 };
        let products = self.ports.catalog.list_products(&ctx, ProductFilter::default(), Visibility::All, page).await?;
        if products.total > 0 {
            tracing::info!(
                products = products.total,
                "search: first start with an existing catalog; building the index"
            );
            self.rebuild(&ctx).await?;
        }
        Ok(())
    }
}
