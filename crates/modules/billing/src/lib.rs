//! Billing owns tax and invoicing: tax rules (a rate per country, or per region of a country),
//! whether each channel's prices include tax, the tax computation carts and orders rely on,
//! invoices (drafted when an order is placed, numbered from one gap-free sequence per year when
//! the checkout completes, immutable once issued, rendered as A4 PDF) and credit notes for
//! refunds (their own gap-free sequence, tax credited pro rata).
//!
//! Publishes `billing.invoice.drafted`, `billing.invoice.issued` and `billing.credit_note.issued`.
//! Consumes `order.order.placed` (consumer `billing.invoice-drafts`), `order.checkout.completed`
//! (`billing.invoice-issue`) and `payment.refund.completed` (`billing.credit-notes`).

mod consumers;
mod domain;
mod pdf;
mod service;
mod store;

use std::sync::Arc;

use comptoir_contracts::billing::Party;
use comptoir_contracts::ordering::events as ordering;
use comptoir_contracts::payment::events as payment;
use comptoir_eventbus::Consumer;
use comptoir_storage::{Db, Migrations};

pub use consumers::{CANCELLATIONS, CREDIT_NOTES, INVOICE_DRAFTS, INVOICE_ISSUE};

/// The schema is plain enough to be the same SQL on SQLite and PostgreSQL.
const SCHEMA: &[(i64, &str, &str)] = &[
    (1, "billing", include_str!("../migrations/portable/0001_billing.sql")),
    (2, "unconfirmed cancellations", include_str!("../migrations/portable/0002_unconfirmed_cancellations.sql")),
];

pub const MIGRATIONS: Migrations = Migrations { sqlite: SCHEMA, postgres: SCHEMA };

#[derive(Debug, Clone)]
pub struct BillingConfig {
    /// The shop as printed on invoices and credit notes: name, email and address.
    pub seller: Party,
}

/// The billing module; cheap to clone.
#[derive(Clone)]
pub struct BillingModule {
    db: Db,
    config: Arc<BillingConfig>,
}

impl BillingModule {
    pub fn new(db: Db, config: BillingConfig) -> Self {
        BillingModule { db, config: Arc::new(config) }
    }

    /// The event consumers to subscribe on the bus.
    pub fn consumers(&self) -> Vec<Consumer> {
        let db = || self.db.clone();
        vec![
            Consumer::new(
                INVOICE_DRAFTS,
                &[ordering::ORDER_PLACED],
                db(),
                Arc::new(consumers::InvoiceDrafts { billing: self.clone() }),
            ),
            Consumer::new(
                INVOICE_ISSUE,
                &[ordering::CHECKOUT_COMPLETED],
                db(),
                Arc::new(consumers::InvoiceIssue { billing: self.clone() }),
            ),
            Consumer::new(
                CANCELLATIONS,
                &[ordering::ORDER_CANCELLED],
                db(),
                Arc::new(consumers::Cancellations { billing: self.clone() }),
            ),
            Consumer::new(
                CREDIT_NOTES,
                &[payment::REFUND_COMPLETED],
                db(),
                Arc::new(consumers::CreditNotes { billing: self.clone() }),
            ),
        ]
    }
}
