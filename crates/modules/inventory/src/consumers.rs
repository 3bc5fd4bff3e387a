//! What inventory learns from other modules' events.

use async_trait::async_trait;
use comptoir_contracts::catalog::events::{self as catalog, ProductChanged};
use comptoir_eventbus::EventHandler;
use comptoir_kernel::{EventEnvelope, Result, time};
use comptoir_storage::Db;

use crate::store;

pub const CATALOG_SKUS: &str = "inventory.catalog-skus";

/// Keeps the SKUs the catalog sells: stock can only be received for a SKU announced here. A
/// deleted product's SKUs are marked discontinued; their stock and history are kept.
pub struct CatalogSkus {
    pub(crate) db: Db,
}

#[async_trait]
impl EventHandler for CatalogSkus {
    async fn handle(&self, event: &EventEnvelope) -> Result<()> {
        let deleted = match event.event_type.as_str() {
            catalog::PRODUCT_CREATED | catalog::PRODUCT_UPDATED => false,
            catalog::PRODUCT_DELETED => true,
            _ => return Ok(()),
        };
        let product: ProductChanged = event.data_as()?;
        let mut uow = self.db.begin().await?;
        if !uow.claim_inbox(CATALOG_SKUS, event.id).await? {
            return Ok(());
        }
        let event_at = time::to_db(&event.timestamp);
        if deleted {
            store::discontinue_skus(&mut uow, product.product_id, &[], &event_at).await?;
        } else {
            for sku in &product.skus {
                store::upsert_sku(&mut uow, sku, product.product_id, &product.name, &event_at).await?;
            }
            // A SKU the product no longer lists is no longer sold.
            store::discontinue_skus(&mut uow, product.product_id, &product.skus, &event_at).await?;
        }
        uow.commit().await
    }
}
