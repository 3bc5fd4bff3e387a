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

pub const ORDERS: &str = "inventory.orders";

/// Follows orders through their life: a confirmed checkout sells the reserved units, a cancelled
/// order gives them back, a refund puts the units staff chose back on the shelf.
pub struct Orders {
    pub(crate) inventory: crate::InventoryModule,
}

#[async_trait]
impl EventHandler for Orders {
    async fn handle(&self, event: &EventEnvelope) -> Result<()> {
        use comptoir_contracts::inventory::InventoryPort;
        use comptoir_contracts::ordering::events::{self as ordering, OrderCancelled, OrderPlaced, OrderRefunded};
        let ctx = event.context();
        match event.event_type.as_str() {
            // Committing and releasing are idempotent by the reservation's state, so a redelivered
            // event finds the work done and changes nothing.
            ordering::CHECKOUT_COMPLETED => {
                let placed: OrderPlaced = event.data_as()?;
                if let Some(reservation) = placed.reservation_id {
                    self.inventory.commit_reservation(&ctx, reservation).await?;
                }
                Ok(())
            }
            ordering::ORDER_CANCELLED => {
                let cancelled: OrderCancelled = event.data_as()?;
                match cancelled.reservation_id {
                    // A reservation already sold is not released: the refund event restocks it.
                    Some(reservation) => match self.inventory.release_reservation(&ctx, reservation).await {
                        Ok(_) => Ok(()),
                        Err(comptoir_kernel::Error::Conflict { .. }) => Ok(()),
                        Err(other) => Err(other),
                    },
                    None => Ok(()),
                }
            }
            ordering::ORDER_REFUNDED => {
                let refunded: OrderRefunded = event.data_as()?;
                self.inventory.restock_refund(&ctx, ORDERS, event.id, &refunded).await
            }
            _ => Ok(()),
        }
    }
}
