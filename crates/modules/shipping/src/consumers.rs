//! What shipping learns from other modules' events.

use async_trait::async_trait;
use comptoir_contracts::ordering::events::{self as ordering, OrderPlaced};
use comptoir_eventbus::EventHandler;
use comptoir_kernel::{EventEnvelope, Result};

use crate::ShippingModule;

pub const SHIPMENTS: &str = "shipping.shipments";

/// Creates the shipment of each confirmed order, with its tracking number and label, from the
/// order's snapshot: method, carrier, address and weight as the customer checked out.
pub struct Shipments {
    pub(crate) module: ShippingModule,
}

#[async_trait]
impl EventHandler for Shipments {
    async fn handle(&self, event: &EventEnvelope) -> Result<()> {
        if event.event_type != ordering::CHECKOUT_COMPLETED {
            return Ok(());
        }
        let placed: OrderPlaced = event.data_as()?;
        self.module.create_shipment(&event.context(), event.id, &placed.order).await
    }
}
