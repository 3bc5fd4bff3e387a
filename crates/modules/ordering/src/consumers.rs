//! What ordering learns from other modules' events.

use async_trait::async_trait;
use comptoir_contracts::inventory::events::{self as inventory, ReservationChanged};
use comptoir_contracts::ordering::{OrderStatus, events};
use comptoir_contracts::shipping::events::{self as shipping, ShipmentEvent};
use comptoir_eventbus::EventHandler;
use comptoir_kernel::{Error, EventEnvelope, Result};
use uuid::Uuid;

use crate::OrderingModule;
use crate::domain::{self, SYSTEM};
use crate::service::event as envelope;

pub const SHIPMENTS: &str = "ordering.shipments";
pub const RESERVATIONS: &str = "ordering.reservations";

/// Follows the parcel: a shipped or in-transit shipment ships its confirmed order, a delivered one
/// delivers it (passing through shipped when that news was missed). Orders cancelled, refunded or
/// already further along are left as they are.
pub struct Shipments {
    pub(crate) module: OrderingModule,
}

#[async_trait]
impl EventHandler for Shipments {
    async fn handle(&self, event: &EventEnvelope) -> Result<()> {
        if !matches!(
            event.event_type.as_str(),
            shipping::SHIPMENT_SHIPPED | shipping::SHIPMENT_IN_TRANSIT | shipping::SHIPMENT_DELIVERED
        ) {
            return Ok(());
        }
        let shipment: ShipmentEvent = event.data_as()?;
        let ctx = event.context();
        let now = domain::now();
        let changed = self
            .module
            .change(shipment.order_id, Some((SHIPMENTS, event.id)), |r| {
                let path = domain::shipment_path(r.status(), shipment.status);
                if path.is_empty() {
                    tracing::debug!(
                        order = %r.order.number,
                        status = domain::status_to_db(r.status()),
                        event_type = %event.event_type,
                        "shipment news no longer applies to the order"
                    );
                    return Ok(None);
                }
                let mut out = Vec::new();
                for &to in path {
                    let (cause, event_type) = if to == OrderStatus::Shipped {
                        (
                            format!("shipped with {} (tracking {})", shipment.carrier, shipment.tracking_number),
                            events::ORDER_SHIPPED,
                        )
                    } else {
                        ("delivered".to_string(), events::ORDER_DELIVERED)
                    };
                    r.move_to(to, cause, SYSTEM, now)?;
                    let data = r.shipment_event(shipment.shipment_id, &shipment.carrier, &shipment.tracking_number);
                    out.push(envelope(&ctx, event_type, data));
                }
                Ok(Some(out))
            })
            .await;
        match changed {
            Ok(_) => Ok(()),
            Err(Error::NotFound { .. }) => {
                tracing::debug!(order_id = %shipment.order_id, "a shipment for an order ordering does not know");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

/// A checkout whose reservation expired before it was paid cannot be honoured: its order is
/// cancelled. Reservations of orders already paid, cancelled or unknown are not ordering's concern.
pub struct Reservations {
    pub(crate) module: OrderingModule,
}

#[async_trait]
impl EventHandler for Reservations {
    async fn handle(&self, event: &EventEnvelope) -> Result<()> {
        if event.event_type != inventory::RESERVATION_EXPIRED {
            return Ok(());
        }
        let expired: ReservationChanged = event.data_as()?;
        // Orders reserve under their own id; other references are carts or other holders.
        let Ok(order_id) = Uuid::parse_str(&expired.reference) else {
            tracing::debug!(reference = %expired.reference, "an expired reservation that is not an order's");
            return Ok(());
        };
        let ctx = event.context();
        let waiting = [OrderStatus::Pending, OrderStatus::StockReserved];
        let reason = "reservation expired before payment";
        let inbox = Some((RESERVATIONS, event.id));
        match self.module.abandon(&ctx, order_id, &waiting, Some(expired.reservation_id), reason, inbox).await {
            Ok(_) => Ok(()),
            Err(Error::NotFound { .. }) => {
                tracing::debug!(%order_id, "an expired reservation for an order ordering does not know");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}
