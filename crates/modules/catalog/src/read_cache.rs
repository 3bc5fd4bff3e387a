//! A read-through cache of product reads, the storefront's hot path.
//!
//! The catalog is the only writer of its database, so it knows when cached reads go stale: every
//! committed write bumps a generation and empties the cache. A read remembers the generation it
//! started in and its entry only counts while that generation is current, so a read that raced a
//! write can never put a stale answer back. A short time-to-live bounds staleness should another
//! process (an operator's CLI) write to the same database.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use comptoir_contracts::catalog::{Product, ProductFilter, Visibility};
use comptoir_kernel::{Page, PageRequest};
use moka::sync::Cache;

const PRODUCTS: u64 = 20_000;
const PAGES: u64 = 2_000;
const TIME_TO_LIVE: Duration = Duration::from_secs(30);

pub(crate) struct ReadCache {
    generation: AtomicU64,
    products: Cache<String, (u64, Arc<Product>)>,
    pages: Cache<String, (u64, Arc<Page<Product>>)>,
}

impl ReadCache {
    pub(crate) fn new() -> Self {
        ReadCache {
            generation: AtomicU64::new(0),
            products: Cache::builder().max_capacity(PRODUCTS).time_to_live(TIME_TO_LIVE).build(),
            pages: Cache::builder().max_capacity(PAGES).time_to_live(TIME_TO_LIVE).build(),
        }
    }

    /// The generation a read starts in; pass it back to `put_*`.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Called after every committed write.
    pub(crate) fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.products.invalidate_all();
        self.pages.invalidate_all();
    }

    pub(crate) fn product(&self, key: &str) -> Option<Arc<Product>> {
        let (generation, product) = self.products.get(key)?;
        (generation == self.generation()).then_some(product)
    }

    pub(crate) fn put_product(&self, key: String, generation: u64, product: Arc<Product>) {
        if generation == self.generation() {
            self.products.insert(key, (generation, product));
        }
    }

    pub(crate) fn page(&self, key: &str) -> Option<Arc<Page<Product>>> {
        let (generation, page) = self.pages.get(key)?;
        (generation == self.generation()).then_some(page)
    }

    pub(crate) fn put_page(&self, key: String, generation: u64, page: Arc<Page<Product>>) {
        if generation == self.generation() {
            self.pages.insert(key, (generation, page));
        }
    }
}

pub(crate) fn product_key(id_or_slug: &str, visibility: Visibility) -> String {
    format!("{visibility:?}|{id_or_slug}")
}

pub(crate) fn page_key(filter: &ProductFilter, visibility: Visibility, page: PageRequest) -> String {
    format!(
        "{visibility:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{}|{}",
        filter.category, filter.collection, filter.seller_id, filter.q, filter.channel, page.page, page.per_page
    )
}
