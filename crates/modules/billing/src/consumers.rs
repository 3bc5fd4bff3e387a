//! What billing does when orders and payments move: each handler claims the event in its inbox
//! and makes its change in the same unit of work, so a redelivered event changes nothing.

use async_trait::async_trait;
use comptoir_contracts::ordering::events::{self as ordering, OrderCancelled, OrderPlaced};
use comptoir_contracts::payment::events::{self as payment, RefundCompleted};
use comptoir_eventbus::EventHandler;
use comptoir_kernel::{EventEnvelope, Result};

use crate::{BillingModule, store};

pub const INVOICE_DRAFTS: &str = "billing.invoice-drafts";
pub const INVOICE_ISSUE: &str = "billing.invoice-issue";
pub const CREDIT_NOTES: &str = "billing.credit-notes";
pub const CANCELLATIONS: &str = "billing.cancellations";

/// `order.order.placed`: drafts the order's invoice from its snapshot.
pub struct InvoiceDrafts {
    pub(crate) billing: BillingModule,
}

#[async_trait]
impl EventHandler for InvoiceDrafts {
    async fn handle(&self, event: &EventEnvelope) -> Result<()> {
        if event.event_type != ordering::ORDER_PLACED {
            return Ok(());
        }
        let placed: OrderPlaced = event.data_as()?;
        let mut uow = self.billing.db.begin().await?;
        if !uow.claim_inbox(INVOICE_DRAFTS, event.id).await? {
            return Ok(());
        }
        self.billing.draft_invoice(&mut uow, &event.context(), &placed.order).await?;
        uow.commit().await
    }
}

/// `order.checkout.completed`: issues the order's invoice, drafting it first if the placed event
/// has not been handled (events of different types may arrive in any order).
pub struct InvoiceIssue {
    pub(crate) billing: BillingModule,
}

#[async_trait]
impl EventHandler for InvoiceIssue {
    async fn handle(&self, event: &EventEnvelope) -> Result<()> {
        if event.event_type != ordering::CHECKOUT_COMPLETED {
            return Ok(());
        }
        let completed: OrderPlaced = event.data_as()?;
        let ctx = event.context();
        let mut uow = self.billing.db.begin().await?;
        if !uow.claim_inbox(INVOICE_ISSUE, event.id).await? {
            return Ok(());
        }
        let draft = self.billing.draft_invoice(&mut uow, &ctx, &completed.order).await?;
        self.billing.issue_invoice(&mut uow, &ctx, draft).await?;
        uow.commit().await
    }
}

/// `payment.refund.completed`: credits the refunded amount against the order's invoice.
pub struct CreditNotes {
    pub(crate) billing: BillingModule,
}

#[async_trait]
impl EventHandler for CreditNotes {
    async fn handle(&self, event: &EventEnvelope) -> Result<()> {
        if event.event_type != payment::REFUND_COMPLETED {
            return Ok(());
        }
        let refund: RefundCompleted = event.data_as()?;
        let mut uow = self.billing.db.begin().await?;
        if !uow.claim_inbox(CREDIT_NOTES, event.id).await? {
            return Ok(());
        }
        self.billing.credit_refund(&mut uow, &event.context(), &refund).await?;
        uow.commit().await
    }
}

/// `order.order.cancelled` before the checkout completed: remembers that the order will never be
/// invoiced, so that the refund of its payment is not kept waiting for an invoice to credit.
pub struct Cancellations {
    pub(crate) billing: BillingModule,
}

#[async_trait]
impl EventHandler for Cancellations {
    async fn handle(&self, event: &EventEnvelope) -> Result<()> {
        let cancelled: OrderCancelled = event.data_as()?;
        if !cancelled.before_confirmation {
            return Ok(());
        }
        let mut uow = self.billing.db.begin().await?;
        if !uow.claim_inbox(CANCELLATIONS, event.id).await? {
            return Ok(());
        }
        store::record_unconfirmed_cancellation(&mut uow, cancelled.order_id).await?;
        uow.commit().await
    }
}
