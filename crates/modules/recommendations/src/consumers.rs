//! Ordering's events that change what was bought together. Each is handled in one unit of work
//! with its inbox claim: the order is counted, or taken back out, or remembered, and committed
//! with the claim.

use async_trait::async_trait;
use comptoir_contracts::ordering::events::{self as ordering, OrderCancelled, OrderPlaced, OrderRefunded};
use comptoir_eventbus::EventHandler;
use comptoir_kernel::{EventEnvelope, Result};

use crate::store::{self, OrderRow, OrderState};
use crate::{Purchase, RecommendationsModule, Tally, uncount};

pub const ORDERS: &str = "recommendations.orders";

pub struct Handlers {
    pub(crate) module: RecommendationsModule,
}

#[async_trait]
impl EventHandler for Handlers {
    async fn handle(&self, event: &EventEnvelope) -> Result<()> {
        match event.event_type.as_str() {
            ordering::CHECKOUT_COMPLETED => self.module.order_confirmed(event, &event.data_as()?).await,
            ordering::ORDER_REFUNDED => self.module.order_refunded(event, &event.data_as()?).await,
            ordering::ORDER_CANCELLED => self.module.order_cancelled(event, &event.data_as()?).await,
            _ => Ok(()),
        }
    }
}

/// Refunds that add up to what the order cost: the order is no longer a purchase.
fn fully_refunded(gross: Option<i64>, refunded: i64) -> bool {
    gross.is_some_and(|gross| gross > 0 && refunded >= gross)
}

impl RecommendationsModule {
    /// Counts the order, unless it was counted already (another event, a rebuild), or cancelled,
    /// or refunded in full before this event came.
    async fn order_confirmed(&self, event: &EventEnvelope, placed: &OrderPlaced) -> Result<()> {
        let order = &placed.order;
        let mut uow = self.db.begin().await?;
        if !uow.claim_inbox(ORDERS, event.id).await? {
            return Ok(());
        }
        store::add_to_total(&mut uow, 0).await?;
        let refunded = match store::order(&mut uow, order.order_id).await? {
            None => 0,
            Some(OrderRow { state: OrderState::Unseen, refunded, .. }) => refunded,
            Some(_) => return uow.commit().await, // counted already, or removed for good
        };
        let mut tally = Tally::default();
        if fully_refunded(Some(order.totals.gross.amount), refunded) {
            tally.remove(OrderRow {
                order_id: order.order_id,
                state: OrderState::Removed,
                currency: Some(order.currency.to_string()),
                gross: Some(order.totals.gross.amount),
                refunded,
            });
        } else {
            tally.count(Purchase {
                order_id: order.order_id,
                currency: order.currency.to_string(),
                gross: order.totals.gross.amount,
                refunded,
                placed_at: order.placed_at,
                lines: &order.lines,
            });
        }
        tally.write(&mut uow).await?;
        uow.commit().await
    }

    /// Adds the refund to the order's; once they make the whole order, it leaves the counts. A
    /// refund of an order not heard of yet waits for it.
    async fn order_refunded(&self, event: &EventEnvelope, refund: &OrderRefunded) -> Result<()> {
        let mut uow = self.db.begin().await?;
        if !uow.claim_inbox(ORDERS, event.id).await? {
            return Ok(());
        }
        // A refund of nothing (units put back on the shelf alone) changes no amount.
        if refund.amount.amount <= 0 {
            return uow.commit().await;
        }
        store::add_to_total(&mut uow, 0).await?;
        match store::order(&mut uow, refund.order_id).await? {
            None => {
                let row = OrderRow {
                    order_id: refund.order_id,
                    state: OrderState::Unseen,
                    currency: None,
                    gross: None,
                    refunded: refund.amount.amount,
                };
                store::put_orders(&mut uow, &[row]).await?;
            }
            Some(row) if row.state == OrderState::Removed => {}
            Some(row) => {
                let row = OrderRow { refunded: row.refunded + refund.amount.amount, ..row };
                if row.state == OrderState::Counted && fully_refunded(row.gross, row.refunded) {
                    uncount(&mut uow, row).await?;
                } else {
                    store::put_orders(&mut uow, &[row]).await?;
                }
            }
        }
        uow.commit().await
    }

    /// An order cancelled after its confirmation leaves the counts; one cancelled before was
    /// never counted and never will be.
    async fn order_cancelled(&self, event: &EventEnvelope, cancelled: &OrderCancelled) -> Result<()> {
        let mut uow = self.db.begin().await?;
        if !uow.claim_inbox(ORDERS, event.id).await? {
            return Ok(());
        }
        store::add_to_total(&mut uow, 0).await?;
        match store::order(&mut uow, cancelled.order_id).await? {
            Some(row) if row.state == OrderState::Counted => uncount(&mut uow, row).await?,
            Some(row) if row.state == OrderState::Unseen => {
                store::put_orders(&mut uow, &[OrderRow { state: OrderState::Removed, ..row }]).await?
            }
            Some(_) => {}
            // Never confirmed (declined, abandoned): no checkout event will ever come for it.
            None if cancelled.before_confirmation => {}
            // Its checkout event may still be on its way: it must not count when it comes.
            None => {
                let row = OrderRow {
                    order_id: cancelled.order_id,
                    state: OrderState::Removed,
                    currency: None,
                    gross: None,
                    refunded: 0,
                };
                store::put_orders(&mut uow, &[row]).await?;
            }
        }
        uow.commit().await
    }
}
