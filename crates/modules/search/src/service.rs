//! The search port: queries answered from the in-memory index, and the rebuild from the modules
//! that own the data.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use async_trait::async_trait;
use comptoir_contracts::catalog::{Product, ProductFilter, Visibility};
use comptoir_contracts::search::{
    IndexStatus, MAX_QUERY_CHARS, MAX_SUGGESTIONS, RebuildReport, SearchHit, SearchPort, SearchQuery, SearchResults,
    Suggestion,
};
use comptoir_kernel::{Error, PageRequest, RequestContext, Result};
use comptoir_storage::db_error;
use uuid::Uuid;

use crate::document::ProductDocument;
use crate::{SearchModule, store};

/// Pages read from catalog and identity during a rebuild, and SKUs asked of inventory at once.
const PAGE: u32 = 100;

fn check_limit(limit: u32) -> Result<usize> {
    match limit {
        1..=MAX_SUGGESTIONS => Ok(limit as usize),
        _ => Err(Error::validation("limit", format!("must be between 1 and {MAX_SUGGESTIONS}"))),
    }
}

#[async_trait]
impl SearchPort for SearchModule {
    #[tracing::instrument(name = "search.search", skip_all, fields(module = "search", correlation_id = %_ctx.correlation_id))]
    async fn search(&self, _ctx: &RequestContext, query: SearchQuery) -> Result<SearchResults> {
        query.validate()?;
        self.index.search(&query)
    }

    #[tracing::instrument(name = "search.suggest", skip_all, fields(module = "search", correlation_id = %_ctx.correlation_id))]
    async fn suggest(&self, _ctx: &RequestContext, prefix: &str, limit: u32) -> Result<Vec<Suggestion>> {
        if prefix.chars().count() > MAX_QUERY_CHARS {
            return Err(Error::validation("q", format!("must be at most {MAX_QUERY_CHARS} characters")));
        }
        self.index.suggest(prefix, check_limit(limit)?)
    }

    #[tracing::instrument(name = "search.similar", skip_all, fields(module = "search", correlation_id = %_ctx.correlation_id))]
    async fn similar(&self, _ctx: &RequestContext, product_id: Uuid, limit: u32) -> Result<Vec<SearchHit>> {
        self.index.similar(product_id, check_limit(limit)?)
    }

    #[tracing::instrument(name = "search.rebuild", skip_all, fields(module = "search", correlation_id = %ctx.correlation_id))]
    async fn rebuild(&self, ctx: &RequestContext) -> Result<RebuildReport> {
        let started = Instant::now();
        let ctx = ctx.as_system();
        let mut uow = self.db.begin().await?;
        // Taken first: event handlers wait until the rebuild commits, then store what is newer.
        store::next_seq(&mut uow, 0).await?;
        let categories = self.category_tree(&ctx).await?;
        let sellers = self.all_sellers(&ctx).await?;
        let products = self.all_products(&ctx).await?;
        let skus: Vec<String> = products.iter().flat_map(|p| p.variants.iter().map(|v| v.sku.clone())).collect();
        let mut available = HashMap::new();
        let read_at = comptoir_kernel::time::now();
        for chunk in skus.chunks(PAGE as usize) {
            available.extend(self.ports.inventory.available(&ctx, chunk).await?);
        }

        store::clear_references(&mut uow).await?;
        for category in &categories {
            store::put_category(&mut uow, category).await?;
        }
        for (id, name) in &sellers {
            store::put_seller(&mut uow, *id, name).await?;
        }
        let stale: BTreeSet<Uuid> = {
            let present: BTreeSet<Uuid> = products.iter().map(|p| p.id).collect();
            store::product_ids(&mut uow).await?.into_iter().filter(|id| !present.contains(id)).collect()
        };
        let mut seq = store::next_seq(&mut uow, (products.len() + stale.len()) as i64).await?;
        let mut indexed = 0;
        for product in &products {
            let skus: Vec<(String, i64)> =
                product.variants.iter().map(|v| (v.sku.clone(), available.get(&v.sku).copied().unwrap_or(0))).collect();
            store::put_skus(&mut uow, product.id, &skus, &read_at).await?;
            let document = ProductDocument::of(product, &self.config.channel);
            indexed += document.is_some() as u64;
            store::put_document(&mut uow, product.id, seq, document.as_ref()).await?;
            seq += 1;
        }
        for id in &stale {
            store::put_document(&mut uow, *id, seq, None).await?;
            seq += 1;
        }
        uow.commit().await?;
        self.sync().await?;
        let report = RebuildReport {
            products: products.len() as u64,
            indexed,
            categories: categories.len() as u64,
            sellers: sellers.len() as u64,
            removed: stale.len() as u64,
            took_ms: started.elapsed().as_millis() as u64,
        };
        tracing::info!(?report, "search index rebuilt");
        Ok(report)
    }

    #[tracing::instrument(name = "search.status", skip_all, fields(module = "search", correlation_id = %_ctx.correlation_id))]
    async fn status(&self, _ctx: &RequestContext) -> Result<IndexStatus> {
        let applied = *self.applied.lock().await;
        let mut reader = self.db.reader().acquire().await.map_err(db_error)?;
        Ok(IndexStatus {
            documents: self.index.documents(),
            applied,
            pending: store::pending(&mut reader, applied).await?,
        })
    }
}

impl SearchModule {
    /// Every product, drafts included (they become tombstones).
    async fn all_products(&self, ctx: &RequestContext) -> Result<Vec<Product>> {
        let mut products = Vec::new();
        for page in 1.. {
            let found = self
                .ports
                .catalog
                .list_products(ctx, ProductFilter::default(), Visibility::All, PageRequest { page, per_page: PAGE })
                .await?;
            let last = found.items.len() < PAGE as usize;
            products.extend(found.items);
            if last || products.len() as u64 >= found.total {
                break;
            }
        }
        Ok(products)
    }

    async fn all_sellers(&self, ctx: &RequestContext) -> Result<Vec<(Uuid, String)>> {
        let mut sellers = Vec::new();
        for page in 1.. {
            let found = self.ports.identity.list_sellers(ctx, PageRequest { page, per_page: PAGE }).await?;
            let last = found.items.len() < PAGE as usize;
            sellers.extend(found.items.into_iter().map(|s| (s.id, s.name)));
            if last || sellers.len() as u64 >= found.total {
                break;
            }
        }
        Ok(sellers)
    }
}
