//! What the cart learns from other modules' events.

use async_trait::async_trait;
use comptoir_contracts::ordering::events::OrderPlaced;
use comptoir_eventbus::EventHandler;
use comptoir_kernel::{EventEnvelope, Result, time};
use comptoir_storage::Db;

use crate::store;

pub const CHECKOUTS: &str = "cart.checkouts";

/// A confirmed checkout turns its cart into an order: the cart is closed, so the customer's next
/// visit starts a new one.
pub struct Checkouts {
    pub(crate) db: Db,
}

#[async_trait]
impl EventHandler for Checkouts {
    async fn handle(&self, event: &EventEnvelope) -> Result<()> {
        let placed: OrderPlaced = event.data_as()?;
        let mut uow = self.db.begin().await?;
        if !uow.claim_inbox(CHECKOUTS, event.id).await? {
            return Ok(());
        }
        if let Some(cart_id) = placed.cart_id {
            store::mark_checked_out(&mut uow, cart_id, &time::now()).await?;
        }
        uow.commit().await
    }
}
