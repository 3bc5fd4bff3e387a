//! The catalog port: input is checked by the domain first, then each change runs in one unit of
//! work that also writes its event.

use async_trait::async_trait;
use chrono::SubsecRound;
use comptoir_contracts::catalog::{
    CatalogPort, Category, CategoryNode, Channel, Collection, CollectionPatch, NewCategory, NewCollection, NewProduct,
    NewVariant, PriceInput, Product, ProductFilter, ProductPatch, ProductStatus, SkuOffer, Visibility, events,
};
use comptoir_kernel::{Error, EventEnvelope, Page, PageRequest, RequestContext, Result, new_id, time};
use comptoir_storage::{UnitOfWork, db_error};
use sqlx::AnyConnection;
use sqlx::pool::PoolConnection;
use uuid::Uuid;

use crate::domain::{self, Lookup, SlugChoice};
use crate::store::{self, ProductRecord, Referenced, Sluggable};
use crate::{CatalogModule, SOURCE, read_cache};
use std::sync::Arc;

/// Derived slugs try this many random suffixes before giving up.
const SLUG_ATTEMPTS: usize = 5;

/// Now, at the precision timestamps are stored with, so that what a write returns equals what a
/// later read gives.
fn now() -> time::Timestamp {
    time::now().trunc_subsecs(6)
}

impl CatalogModule {
    async fn reader(&self) -> Result<PoolConnection<sqlx::Any>> {
        self.db.reader().acquire().await.map_err(db_error)
    }

    /// Commits a write and drops every cached read it may have made stale.
    async fn commit(&self, uow: UnitOfWork) -> Result<()> {
        uow.commit().await?;
        self.cache.invalidate();
        Ok(())
    }

    async fn channels(&self) -> Result<Vec<Channel>> {
        store::channels(&mut *self.reader().await?).await
    }
}

/// A product about to change, locked then read inside the unit of work that changes it: a
/// concurrent change waits for this one to commit, and this one starts from what the previous one
/// committed.
async fn product_for_update(conn: &mut AnyConnection, id: Uuid) -> Result<Product> {
    if !store::lock_product(conn, id).await? {
        return Err(Error::not_found("product", id));
    }
    product_as_written(conn, id).await
}

/// The product as the unit of work has left it, for the answer and the event.
async fn product_as_written(conn: &mut AnyConnection, id: Uuid) -> Result<Product> {
    store::find_product(conn, &Lookup::Id(id), Visibility::All).await?.ok_or_else(|| Error::not_found("product", id))
}

async fn emit_product(uow: &mut UnitOfWork, ctx: &RequestContext, event_type: &str, product: &Product) -> Result<()> {
    uow.emit(&EventEnvelope::new(ctx, SOURCE, event_type, domain::product_changed(product))).await
}

/// A slug nobody else in `table` uses: a given slug that is taken is a conflict, a derived one
/// gets a random suffix.
async fn free_slug(conn: &mut AnyConnection, table: Sluggable, choice: SlugChoice) -> Result<String> {
    match choice {
        SlugChoice::Given(slug) => {
            if store::slug_taken(conn, table, &slug, None).await? {
                return Err(store::duplicate_slug(&slug));
            }
            Ok(slug)
        }
        SlugChoice::Derived(base) => {
            let mut candidate = base.clone();
            for _ in 0..SLUG_ATTEMPTS {
                if !store::slug_taken(conn, table, &candidate, None).await? {
                    return Ok(candidate);
                }
                candidate = domain::with_suffix(&base);
            }
            Err(Error::conflict_on("duplicate-slug", "slug", format!("no free slug derived from {base}; give one")))
        }
    }
}

async fn ensure_categories_exist(conn: &mut AnyConnection, ids: &[Uuid]) -> Result<()> {
    match store::first_missing(conn, Referenced::Categories, ids).await? {
        Some(i) => Err(Error::validation(format!("category_ids[{i}]"), "no such category")),
        None => Ok(()),
    }
}

async fn ensure_products_exist(conn: &mut AnyConnection, ids: &[Uuid]) -> Result<()> {
    match store::first_missing(conn, Referenced::Products, ids).await? {
        Some(i) => Err(Error::validation(format!("product_ids[{i}]"), "no such product")),
        None => Ok(()),
    }
}

/// Refuses SKUs that another variant already uses; `field` names the i-th SKU of the request.
async fn ensure_skus_free(conn: &mut AnyConnection, skus: &[&str], field: impl Fn(usize) -> String) -> Result<()> {
    let taken = store::taken_skus(conn, skus).await?;
    match skus.iter().position(|sku| taken.contains(*sku)) {
        Some(i) => Err(domain::duplicate_sku(&field(i), skus[i])),
        None => Ok(()),
    }
}

#[async_trait]
impl CatalogPort for CatalogModule {
    #[tracing::instrument(name = "catalog.list_channels", skip_all, fields(module = "catalog", correlation_id = %_ctx.correlation_id))]
    async fn list_channels(&self, _ctx: &RequestContext) -> Result<Vec<Channel>> {
        self.channels().await
    }

    #[tracing::instrument(name = "catalog.create_product", skip_all, fields(module = "catalog", correlation_id = %ctx.correlation_id))]
    async fn create_product(&self, ctx: &RequestContext, input: NewProduct) -> Result<Product> {
        let draft = domain::new_product(input, &self.channels().await?)?;
        domain::ensure_distinct_skus(&draft.variants)?;
        // Asked before the write lock is taken: the answer may come from another service.
        if !self.sellers.seller_exists(ctx, draft.seller_id).await? {
            return Err(Error::validation("seller_id", "no such seller"));
        }

        let mut uow = self.db.begin().await?;
        ensure_categories_exist(&mut uow, &draft.category_ids).await?;
        let skus: Vec<&str> = draft.variants.iter().map(|v| v.sku.as_str()).collect();
        ensure_skus_free(&mut uow, &skus, |i| format!("variants[{i}].sku")).await?;
        let slug = free_slug(&mut uow, Sluggable::Products, draft.slug.clone()).await?;
        let id = new_id();
        let now = time::to_db(&now());
        let record = ProductRecord {
            id,
            seller_id: draft.seller_id,
            slug: &slug,
            name: &draft.name,
            description: &draft.description,
            attributes: &draft.attributes,
            now: &now,
        };
        store::insert_product(&mut uow, &record).await?;
        store::replace_product_categories(&mut uow, id, &draft.category_ids).await?;
        for (i, variant) in draft.variants.iter().enumerate() {
            store::insert_variant(&mut uow, id, i, variant, &format!("variants[{i}].")).await?;
        }
        let product = product_as_written(&mut uow, id).await?;
        emit_product(&mut uow, ctx, events::PRODUCT_CREATED, &product).await?;
        self.commit(uow).await?;
        Ok(product)
    }

    #[tracing::instrument(name = "catalog.update_product", skip_all, fields(module = "catalog", correlation_id = %ctx.correlation_id))]
    async fn update_product(&self, ctx: &RequestContext, id: Uuid, patch: ProductPatch) -> Result<Product> {
        let changes = domain::product_changes(patch)?;
        let mut uow = self.db.begin().await?;
        let mut product = product_for_update(&mut uow, id).await?;
        if changes.is_empty() {
            return Ok(product);
        }
        if let Some(slug) = changes.slug {
            if store::slug_taken(&mut uow, Sluggable::Products, &slug, Some(id)).await? {
                return Err(store::duplicate_slug(&slug));
            }
            product.slug = slug;
        }
        if let Some(category_ids) = changes.category_ids {
            ensure_categories_exist(&mut uow, &category_ids).await?;
            store::replace_product_categories(&mut uow, id, &category_ids).await?;
            product.category_ids = category_ids;
        }
        product.name = changes.name.unwrap_or(product.name);
        product.description = changes.description.unwrap_or(product.description);
        product.attributes = changes.attributes.unwrap_or(product.attributes);
        product.updated_at = now();
        store::update_product(&mut uow, &product).await?;
        emit_product(&mut uow, ctx, events::PRODUCT_UPDATED, &product).await?;
        self.commit(uow).await?;
        Ok(product)
    }

    #[tracing::instrument(name = "catalog.delete_product", skip_all, fields(module = "catalog", correlation_id = %ctx.correlation_id))]
    async fn delete_product(&self, ctx: &RequestContext, id: Uuid) -> Result<()> {
        let mut uow = self.db.begin().await?;
        let product = product_for_update(&mut uow, id).await?;
        store::delete_product(&mut uow, id).await?;
        emit_product(&mut uow, ctx, events::PRODUCT_DELETED, &product).await?;
        self.commit(uow).await
    }

    #[tracing::instrument(name = "catalog.add_variant", skip_all, fields(module = "catalog", correlation_id = %ctx.correlation_id))]
    async fn add_variant(&self, ctx: &RequestContext, product_id: Uuid, input: NewVariant) -> Result<Product> {
        let draft = domain::new_variant(&input, &self.channels().await?)?;
        let mut uow = self.db.begin().await?;
        let product = product_for_update(&mut uow, product_id).await?;
        domain::ensure_room_for_variant(product.variants.len())?;
        ensure_skus_free(&mut uow, &[draft.sku.as_str()], |_| "sku".to_string()).await?;
        store::insert_variant(&mut uow, product_id, product.variants.len(), &draft, "").await?;
        store::touch_product(&mut uow, product_id, &time::to_db(&now())).await?;
        let product = product_as_written(&mut uow, product_id).await?;
        emit_product(&mut uow, ctx, events::PRODUCT_UPDATED, &product).await?;
        self.commit(uow).await?;
        Ok(product)
    }

    #[tracing::instrument(name = "catalog.set_prices", skip_all, fields(module = "catalog", correlation_id = %ctx.correlation_id))]
    async fn set_prices(&self, ctx: &RequestContext, sku: &str, prices: Vec<PriceInput>) -> Result<Product> {
        let prices = domain::new_prices(&prices, &self.channels().await?)?;
        let mut uow = self.db.begin().await?;
        let (variant_id, product_id) =
            store::variant_of_sku(&mut uow, sku.trim()).await?.ok_or_else(|| Error::not_found("sku", sku))?;
        if prices.is_empty() {
            return product_as_written(&mut uow, product_id).await;
        }
        // The product's lock before its prices, in the order every change to a product takes them;
        // a SKU whose product was deleted meanwhile is gone.
        if !store::lock_product(&mut uow, product_id).await? {
            return Err(Error::not_found("sku", sku));
        }
        store::upsert_prices(&mut uow, variant_id, &prices).await?;
        store::touch_product(&mut uow, product_id, &time::to_db(&now())).await?;
        let product = product_as_written(&mut uow, product_id).await?;
        emit_product(&mut uow, ctx, events::PRODUCT_UPDATED, &product).await?;
        self.commit(uow).await?;
        Ok(product)
    }

    #[tracing::instrument(name = "catalog.publish", skip_all, fields(module = "catalog", correlation_id = %ctx.correlation_id))]
    async fn publish(&self, ctx: &RequestContext, id: Uuid) -> Result<Product> {
        let mut uow = self.db.begin().await?;
        let mut product = product_for_update(&mut uow, id).await?;
        if product.status == ProductStatus::Published {
            return Ok(product);
        }
        domain::ensure_publishable(&product)?;
        product.status = ProductStatus::Published;
        product.updated_at = now();
        store::set_status(&mut uow, id, product.status, &time::to_db(&product.updated_at)).await?;
        emit_product(&mut uow, ctx, events::PRODUCT_PUBLISHED, &product).await?;
        self.commit(uow).await?;
        Ok(product)
    }

    #[tracing::instrument(name = "catalog.unpublish", skip_all, fields(module = "catalog", correlation_id = %ctx.correlation_id))]
    async fn unpublish(&self, ctx: &RequestContext, id: Uuid) -> Result<Product> {
        let mut uow = self.db.begin().await?;
        let mut product = product_for_update(&mut uow, id).await?;
        if product.status == ProductStatus::Draft {
            return Ok(product);
        }
        product.status = ProductStatus::Draft;
        product.updated_at = now();
        store::set_status(&mut uow, id, product.status, &time::to_db(&product.updated_at)).await?;
        emit_product(&mut uow, ctx, events::PRODUCT_UNPUBLISHED, &product).await?;
        self.commit(uow).await?;
        Ok(product)
    }

    #[tracing::instrument(name = "catalog.get_product", skip_all, fields(module = "catalog", correlation_id = %_ctx.correlation_id))]
    async fn get_product(&self, _ctx: &RequestContext, id_or_slug: &str, visibility: Visibility) -> Result<Product> {
        let key = read_cache::product_key(id_or_slug, visibility);
        if let Some(product) = self.cache.product(&key) {
            return Ok(product.as_ref().clone());
        }
        let generation = self.cache.generation();
        let product = store::find_product(&mut *self.reader().await?, &Lookup::parse(id_or_slug), visibility)
            .await?
            .ok_or_else(|| Error::not_found("product", id_or_slug))?;
        self.cache.put_product(key, generation, Arc::new(product.clone()));
        Ok(product)
    }

    #[tracing::instrument(name = "catalog.list_products", skip_all, fields(module = "catalog", correlation_id = %_ctx.correlation_id))]
    async fn list_products(
        &self,
        _ctx: &RequestContext,
        filter: ProductFilter,
        visibility: Visibility,
        page: PageRequest,
    ) -> Result<Page<Product>> {
        page.validate()?;
        let key = read_cache::page_key(&filter, visibility, page);
        if let Some(cached) = self.cache.page(&key) {
            return Ok(cached.as_ref().clone());
        }
        let generation = self.cache.generation();
        let query = domain::product_query(filter, visibility);
        let mut conn = self.reader().await?;
        if let Some(channel) = &query.channel
            && !store::channel_exists(&mut conn, channel).await?
        {
            return Err(Error::validation("channel", format!("no such channel {channel:?}")));
        }
        let (products, total) = store::list_products(&mut conn, &query, page).await?;
        let listed = Page::new(products, page, total);
        self.cache.put_page(key, generation, Arc::new(listed.clone()));
        Ok(listed)
    }

    #[tracing::instrument(name = "catalog.create_category", skip_all, fields(module = "catalog", correlation_id = %ctx.correlation_id))]
    async fn create_category(&self, ctx: &RequestContext, input: NewCategory) -> Result<Category> {
        let draft = domain::new_category(input)?;
        let mut uow = self.db.begin().await?;
        let parent_depth = match draft.parent_id {
            Some(parent) => Some(
                store::category_depth(&mut uow, parent)
                    .await?
                    .ok_or_else(|| Error::validation("parent_id", "no such category"))?,
            ),
            None => None,
        };
        let depth = domain::child_depth(parent_depth)?;
        let slug = free_slug(&mut uow, Sluggable::Categories, draft.slug).await?;
        let category =
            Category { id: new_id(), parent_id: draft.parent_id, name: draft.name, slug, position: draft.position };
        store::insert_category(&mut uow, &category, depth, &time::to_db(&now())).await?;
        uow.emit(&EventEnvelope::new(ctx, SOURCE, events::CATEGORY_CREATED, &category)).await?;
        self.commit(uow).await?;
        Ok(category)
    }

    #[tracing::instrument(name = "catalog.category_tree", skip_all, fields(module = "catalog", correlation_id = %_ctx.correlation_id))]
    async fn category_tree(&self, _ctx: &RequestContext) -> Result<Vec<CategoryNode>> {
        let categories = store::categories(&mut *self.reader().await?).await?;
        Ok(domain::category_tree(categories))
    }

    #[tracing::instrument(name = "catalog.create_collection", skip_all, fields(module = "catalog", correlation_id = %ctx.correlation_id))]
    async fn create_collection(&self, ctx: &RequestContext, input: NewCollection) -> Result<Collection> {
        let draft = domain::new_collection(input)?;
        let mut uow = self.db.begin().await?;
        ensure_products_exist(&mut uow, &draft.product_ids).await?;
        let slug = free_slug(&mut uow, Sluggable::Collections, draft.slug).await?;
        let now = now();
        let collection = Collection {
            id: new_id(),
            name: draft.name,
            slug,
            description: draft.description,
            product_ids: draft.product_ids,
            created_at: now,
            updated_at: now,
        };
        store::insert_collection(&mut uow, &collection).await?;
        uow.emit(&EventEnvelope::new(ctx, SOURCE, events::COLLECTION_CREATED, domain::collection_changed(&collection)))
            .await?;
        self.commit(uow).await?;
        Ok(collection)
    }

    #[tracing::instrument(name = "catalog.update_collection", skip_all, fields(module = "catalog", correlation_id = %ctx.correlation_id))]
    async fn update_collection(&self, ctx: &RequestContext, id: Uuid, patch: CollectionPatch) -> Result<Collection> {
        let changes = domain::collection_changes(patch)?;
        let mut uow = self.db.begin().await?;
        // Locked before it is read, as a product is: concurrent patches apply one after the other.
        if !store::lock_collection(&mut uow, id).await? {
            return Err(Error::not_found("collection", id));
        }
        let mut collection = store::find_collection(&mut uow, &Lookup::Id(id))
            .await?
            .ok_or_else(|| Error::not_found("collection", id))?;
        if let Some(product_ids) = changes.product_ids {
            ensure_products_exist(&mut uow, &product_ids).await?;
            collection.product_ids = product_ids;
        }
        collection.name = changes.name.unwrap_or(collection.name);
        collection.description = changes.description.unwrap_or(collection.description);
        collection.updated_at = now();
        store::update_collection(&mut uow, &collection).await?;
        uow.emit(&EventEnvelope::new(ctx, SOURCE, events::COLLECTION_UPDATED, domain::collection_changed(&collection)))
            .await?;
        self.commit(uow).await?;
        Ok(collection)
    }

    #[tracing::instrument(name = "catalog.get_collection", skip_all, fields(module = "catalog", correlation_id = %_ctx.correlation_id))]
    async fn get_collection(&self, _ctx: &RequestContext, id_or_slug: &str) -> Result<Collection> {
        store::find_collection(&mut *self.reader().await?, &Lookup::parse(id_or_slug))
            .await?
            .ok_or_else(|| Error::not_found("collection", id_or_slug))
    }

    #[tracing::instrument(name = "catalog.list_collections", skip_all, fields(module = "catalog", correlation_id = %_ctx.correlation_id))]
    async fn list_collections(&self, _ctx: &RequestContext, page: PageRequest) -> Result<Page<Collection>> {
        page.validate()?;
        let (collections, total) = store::list_collections(&mut *self.reader().await?, page).await?;
        Ok(Page::new(collections, page, total))
    }

    #[tracing::instrument(name = "catalog.offer", skip_all, fields(module = "catalog", correlation_id = %_ctx.correlation_id))]
    async fn offer(&self, _ctx: &RequestContext, sku: &str, channel: &str) -> Result<SkuOffer> {
        let (sku, channel) = (sku.trim(), channel.trim());
        let mut conn = self.reader().await?;
        let found = store::offer(&mut conn, sku, channel).await?;
        let Some(found) = found.filter(|f| f.status == ProductStatus::Published) else {
            return Err(Error::not_found("sku", sku));
        };
        match found.offer {
            Some(offer) => Ok(offer),
            None if !store::channel_exists(&mut conn, channel).await? => {
                Err(Error::validation("channel", format!("no such channel {channel:?}")))
            }
            None => Err(Error::validation("sku", format!("has no price in channel {channel}"))),
        }
    }
}
