//! The events that change what the storefront can find. Each handler takes the next change
//! number (which serialises the search module's writers), reads the current state from the
//! module that owns it, stores it, commits, and wakes the indexer, which applies every change
//! stored since its last pass in one commit of the index.

use async_trait::async_trait;
use comptoir_contracts::catalog::events::{self as catalog, ProductChanged};
use comptoir_contracts::catalog::{Category, Visibility};
use comptoir_contracts::identity::events::{self as identity, SellerCreated};
use comptoir_contracts::inventory::events::{self as inventory, StockChanged};
use comptoir_eventbus::EventHandler;
use comptoir_kernel::{Error, EventEnvelope, RequestContext, Result};
use uuid::Uuid;

use crate::document::ProductDocument;
use crate::index::CategoryLabel;
use crate::{SearchModule, store};

pub const PRODUCTS: &str = "search.products";
pub const STOCK: &str = "search.stock";
pub const REFERENCES: &str = "search.references";

pub struct Handlers {
    pub(crate) module: SearchModule,
}

#[async_trait]
impl EventHandler for Handlers {
    async fn handle(&self, event: &EventEnvelope) -> Result<()> {
        let ctx = RequestContext::new(event.correlation_id.clone(), comptoir_kernel::Actor::system());
        let handled = match event.event_type.as_str() {
            catalog::PRODUCT_CREATED
            | catalog::PRODUCT_UPDATED
            | catalog::PRODUCT_DELETED
            | catalog::PRODUCT_PUBLISHED
            | catalog::PRODUCT_UNPUBLISHED => {
                let changed: ProductChanged = event.data_as()?;
                self.module.refresh_product(&ctx, PRODUCTS, event.id, changed.product_id).await?
            }
            inventory::STOCK_CHANGED => {
                let changed: StockChanged = event.data_as()?;
                self.module.refresh_stock(event, &changed).await?
            }
            catalog::CATEGORY_CREATED => {
                let category: Category = event.data_as()?;
                self.module.remember_category(event.id, &category).await?
            }
            identity::SELLER_CREATED => {
                let seller: SellerCreated = event.data_as()?;
                self.module.remember_seller(event.id, seller.seller_id, &seller.name).await?
            }
            _ => false,
        };
        if handled {
            // Stored and committed: the indexer applies it, with whatever else came meanwhile.
            self.module.wake.notify_one();
        }
        Ok(())
    }
}

impl SearchModule {
    /// Stores the product as catalog has it now: its document when published, a tombstone when
    /// it is a draft or gone. `false` when the event was handled before.
    pub(crate) async fn refresh_product(
        &self,
        ctx: &RequestContext,
        consumer: &str,
        event_id: Uuid,
        product_id: Uuid,
    ) -> Result<bool> {
        let mut uow = self.db.begin().await?;
        if !uow.claim_inbox(consumer, event_id).await? {
            return Ok(false);
        }
        let seq = store::next_seq(&mut uow, 1).await?;
        let read_at = comptoir_kernel::time::now();
        let product = match self.ports.catalog.get_product(ctx, &product_id.to_string(), Visibility::All).await {
            Ok(product) => Some(product),
            Err(Error::NotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        let document = product.as_ref().and_then(|p| ProductDocument::of(p, &self.config.channel));
        if let Some(product) = &product {
            let skus: Vec<String> = product.variants.iter().map(|v| v.sku.clone()).collect();
            let available = self.ports.inventory.available(ctx, &skus).await?;
            store::put_skus(&mut uow, product_id, &available, &read_at).await?;
            self.learn_references(ctx, &mut uow, document.as_ref()).await?;
        }
        store::put_document(&mut uow, product_id, seq, document.as_ref()).await?;
        uow.commit().await?;
        Ok(true)
    }

    /// Categories or a seller the product names that search has not heard of yet (their own
    /// events may come later): asked of their modules now, so that its facets are complete.
    async fn learn_references(
        &self,
        ctx: &RequestContext,
        uow: &mut comptoir_storage::UnitOfWork,
        document: Option<&ProductDocument>,
    ) -> Result<()> {
        let Some(document) = document else { return Ok(()) };
        let known = store::categories(uow).await?;
        if document.category_ids.iter().any(|id| !known.iter().any(|c| c.id == *id)) {
            for category in self.category_tree(ctx).await? {
                store::put_category(uow, &category).await?;
            }
        }
        if !store::sellers(uow).await?.contains_key(&document.seller_id) {
            match self.ports.identity.get_seller(ctx, document.seller_id).await {
                Ok(seller) => store::put_seller(uow, seller.id, &seller.name).await?,
                Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Every category, flattened from catalog's tree.
    pub(crate) async fn category_tree(&self, ctx: &RequestContext) -> Result<Vec<CategoryLabel>> {
        let mut flat = Vec::new();
        let mut pending = self.ports.catalog.category_tree(ctx).await?;
        while let Some(node) = pending.pop() {
            let c = node.category;
            flat.push(CategoryLabel {
                id: c.id,
                parent_id: c.parent_id,
                slug: c.slug,
                name: c.name,
                position: c.position,
            });
            pending.extend(node.children);
        }
        Ok(flat)
    }

    /// Records what inventory says is available of the SKU (the event carries the total across
    /// locations, and when it was said: older news than what is stored changes nothing), and has
    /// its product indexed again when it came into or went out of stock.
    async fn refresh_stock(&self, event: &EventEnvelope, changed: &StockChanged) -> Result<bool> {
        let mut uow = self.db.begin().await?;
        if !uow.claim_inbox(STOCK, event.id).await? {
            return Ok(false);
        }
        // Taken first, as every writer does, so that writers lock in one order.
        let seq = store::next_seq(&mut uow, 1).await?;
        if let Some(product_id) =
            store::set_available(&mut uow, &changed.sku, changed.available, &event.timestamp).await?
        {
            store::touch(&mut uow, product_id, seq).await?;
        }
        uow.commit().await?;
        Ok(true)
    }

    async fn remember_category(&self, event_id: Uuid, category: &Category) -> Result<bool> {
        let mut uow = self.db.begin().await?;
        if !uow.claim_inbox(REFERENCES, event_id).await? {
            return Ok(false);
        }
        let label = CategoryLabel {
            id: category.id,
            parent_id: category.parent_id,
            slug: category.slug.clone(),
            name: category.name.clone(),
            position: category.position,
        };
        store::put_category(&mut uow, &label).await?;
        uow.commit().await?;
        Ok(true)
    }

    async fn remember_seller(&self, event_id: Uuid, seller_id: Uuid, name: &str) -> Result<bool> {
        let mut uow = self.db.begin().await?;
        if !uow.claim_inbox(REFERENCES, event_id).await? {
            return Ok(false);
        }
        store::put_seller(&mut uow, seller_id, name).await?;
        uow.commit().await?;
        Ok(true)
    }
}
