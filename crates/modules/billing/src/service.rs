//! The billing port, and the invoice and credit note life cycle the event consumers drive. Each
//! change is made in one unit of work with its event, and a document number is taken in the same
//! unit of work that issues the document.

use async_trait::async_trait;
use chrono::Datelike;
use comptoir_contracts::billing::events::{self, CreditNoteIssued, InvoiceEvent};
use comptoir_contracts::billing::{
    BillingPort, ChannelTaxMode, CreditNote, Invoice, InvoiceStatus, NewTaxRule, Party, TaxBreakdown, TaxRequest,
    TaxRule,
};
use comptoir_contracts::ordering::OrderSnapshot;
use comptoir_contracts::payment::events::RefundCompleted;
use comptoir_kernel::{Error, EventEnvelope, Page, PageRequest, RequestContext, Result, new_id, time, validate};
use comptoir_storage::{UnitOfWork, db_error, is_unique_violation};
use sqlx::pool::PoolConnection;
use uuid::Uuid;

use crate::store::{self, StoredCreditNote};
use crate::{BillingModule, domain, pdf};

const SOURCE: &str = "billing";

fn event(ctx: &RequestContext, event_type: &str, data: impl serde::Serialize) -> EventEnvelope {
    EventEnvelope::new(ctx, SOURCE, event_type, data)
}

fn invoice_event(ctx: &RequestContext, event_type: &str, invoice: &Invoice) -> EventEnvelope {
    let data = InvoiceEvent {
        invoice_id: invoice.id,
        order_id: invoice.order_id,
        number: invoice.number.clone(),
        gross: invoice.gross,
    };
    event(ctx, event_type, data)
}

/// Runs a PDF rendering off the async workers: it is CPU work.
async fn render(work: impl FnOnce() -> Result<Vec<u8>> + Send + 'static) -> Result<Vec<u8>> {
    tokio::task::spawn_blocking(work).await.map_err(|e| Error::internal(format!("PDF rendering failed: {e}")))?
}

impl BillingModule {
    async fn reader(&self) -> Result<PoolConnection<sqlx::Any>> {
        self.db.reader().acquire().await.map_err(db_error)
    }

    /// The order's invoice, drafted from the snapshot when the order has none yet.
    pub(crate) async fn draft_invoice(
        &self,
        uow: &mut UnitOfWork,
        ctx: &RequestContext,
        order: &OrderSnapshot,
    ) -> Result<Invoice> {
        if let Some(existing) = store::invoice_for_order(uow, order.order_id).await? {
            return Ok(existing);
        }
        // Tax follows the goods: the labels are those of the shipping destination's rule.
        let destination = &order.shipping_address;
        let rules = store::country_rules(uow, &destination.country.trim().to_ascii_uppercase()).await?;
        let applied = domain::applied_rate(&rules, destination.region.as_deref());
        let content = domain::invoice_content(order, &applied)?;
        let invoice = Invoice {
            id: new_id(),
            number: None,
            order_id: order.order_id,
            order_number: order.number.clone(),
            customer_id: order.customer_id,
            status: InvoiceStatus::Draft,
            seller: self.config.seller.clone(),
            buyer: Party {
                name: order.billing_address.name.clone(),
                email: Some(order.email.clone()),
                address: Some(order.billing_address.clone()),
            },
            lines: content.lines,
            summary: content.summary,
            net: content.net,
            tax: content.tax,
            gross: content.gross,
            issued_at: None,
            created_at: time::now(),
        };
        if !store::insert_invoice(uow, &invoice).await? {
            // Drafted by a concurrent writer since we looked (only possible with several writers,
            // as on PostgreSQL): its draft, now committed, is the order's invoice.
            return store::invoice_for_order(uow, order.order_id).await?.ok_or_else(|| {
                Error::internal(format!("order {} has an invoice that cannot be read", order.order_id))
            });
        }
        uow.emit(&invoice_event(ctx, events::INVOICE_DRAFTED, &invoice)).await?;
        Ok(invoice)
    }

    /// Gives a draft the next invoice number. An issued invoice comes back unchanged.
    pub(crate) async fn issue_invoice(
        &self,
        uow: &mut UnitOfWork,
        ctx: &RequestContext,
        mut invoice: Invoice,
    ) -> Result<Invoice> {
        if invoice.status == InvoiceStatus::Issued {
            return Ok(invoice);
        }
        let issued_at = time::now();
        let sequence = store::take_number(uow, domain::INVOICE_SERIES, issued_at.year()).await?;
        let number = domain::document_number(domain::INVOICE_SERIES, issued_at.year(), sequence);
        if !store::mark_issued(uow, invoice.id, &number, &issued_at).await? {
            // Issued by a concurrent writer (only possible with several writers, as on
            // PostgreSQL): failing rolls our number back, and a retry finds the invoice issued.
            return Err(Error::unavailable(format!("invoice {} is being issued concurrently; retry", invoice.id)));
        }
        invoice.status = InvoiceStatus::Issued;
        invoice.number = Some(number);
        invoice.issued_at = Some(issued_at);
        uow.emit(&invoice_event(ctx, events::INVOICE_ISSUED, &invoice)).await?;
        Ok(invoice)
    }

    /// The credit note for a refund against the order's issued invoice, issued the first time a
    /// refund is seen.
    pub(crate) async fn credit_refund(
        &self,
        uow: &mut UnitOfWork,
        ctx: &RequestContext,
        refund: &RefundCompleted,
    ) -> Result<Option<CreditNote>> {
        let invoice = match store::invoice_for_order(uow, refund.order_id).await? {
            // Locked before anything credited against it is read: concurrent credits of one
            // invoice (several writers, as on PostgreSQL) queue here and see each other's notes.
            Some(invoice) if store::lock_issued_invoice(uow, invoice.id).await? => invoice,
            // The order was cancelled before its checkout completed (a payment taken, then the
            // checkout abandoned): nothing was invoiced, so there is nothing to credit.
            _ if store::cancelled_unconfirmed(uow, refund.order_id).await? => {
                tracing::info!(order_id = %refund.order_id, refund_id = %refund.refund_id,
                    "refund of an order cancelled before confirmation: never invoiced, no credit note");
                return Ok(None);
            }
            // The refund overtook the order's completion (or its cancellation): the bus retries
            // later, and a refund that never finds an invoice ends up as a dead letter.
            _ => {
                return Err(Error::unavailable(format!(
                    "order {} has no issued invoice yet to credit refund {}",
                    refund.order_id, refund.refund_id
                )));
            }
        };
        if let Some(existing) = store::credit_note_for_refund(uow, refund.refund_id).await? {
            return Ok(Some(existing));
        }
        if refund.amount.currency != invoice.gross.currency {
            return Err(Error::internal(format!(
                "refund {} is in {} but invoice {} is in {}",
                refund.refund_id, refund.amount.currency, invoice.id, invoice.gross.currency
            )));
        }
        let (credited_gross, credited_tax) = store::credited(uow, invoice.id).await?;
        let tax = domain::credit_tax(
            refund.amount.amount,
            invoice.gross.amount,
            invoice.tax.amount,
            credited_gross,
            credited_tax,
        )?;
        let issued_at = time::now();
        let sequence = store::take_number(uow, domain::CREDIT_NOTE_SERIES, issued_at.year()).await?;
        let note = CreditNote {
            id: new_id(),
            number: domain::document_number(domain::CREDIT_NOTE_SERIES, issued_at.year(), sequence),
            invoice_id: invoice.id,
            order_id: invoice.order_id,
            gross: refund.amount,
            tax: comptoir_kernel::Money::new(tax, refund.amount.currency),
            reason: None,
            issued_at,
        };
        let stored = StoredCreditNote { note, refund_id: refund.refund_id, payment_id: refund.payment_id };
        store::insert_credit_note(uow, &stored).await?;
        let note = stored.note;
        let issued = CreditNoteIssued {
            credit_note_id: note.id,
            invoice_id: note.invoice_id,
            order_id: note.order_id,
            number: note.number.clone(),
            gross: note.gross,
        };
        uow.emit(&event(ctx, events::CREDIT_NOTE_ISSUED, issued)).await?;
        Ok(Some(note))
    }
}

fn channel(value: &str) -> Result<String> {
    validate::slug("channel", value)
}

#[async_trait]
impl BillingPort for BillingModule {
    #[tracing::instrument(name = "billing.create_tax_rule", skip_all, fields(module = "billing", correlation_id = %_ctx.correlation_id))]
    async fn create_tax_rule(&self, _ctx: &RequestContext, input: NewTaxRule) -> Result<TaxRule> {
        let draft = domain::parse_new_tax_rule(input)?;
        let rule = TaxRule {
            id: new_id(),
            country: draft.country.clone(),
            region: draft.region.clone(),
            rate: draft.rate,
            label: draft.label.clone(),
            created_at: time::now(),
        };
        let mut uow = self.db.begin().await?;
        match store::insert_tax_rule(&mut uow, &rule, &draft).await {
            Ok(()) => {}
            Err(e) if is_unique_violation(&e) => {
                let place = match &rule.region {
                    Some(region) => format!("{} ({region})", rule.country),
                    None => rule.country.clone(),
                };
                return Err(Error::conflict_on(
                    "duplicate-tax-rule",
                    if rule.region.is_some() { "region" } else { "country" },
                    format!("{place} already has a tax rule"),
                ));
            }
            Err(e) => return Err(db_error(e)),
        }
        uow.commit().await?;
        Ok(rule)
    }

    #[tracing::instrument(name = "billing.list_tax_rules", skip_all, fields(module = "billing", correlation_id = %_ctx.correlation_id))]
    async fn list_tax_rules(&self, _ctx: &RequestContext, page: PageRequest) -> Result<Page<TaxRule>> {
        page.validate()?;
        let (items, total) = store::list_tax_rules(&mut *self.reader().await?, page).await?;
        Ok(Page::new(items, page, total))
    }

    #[tracing::instrument(name = "billing.delete_tax_rule", skip_all, fields(module = "billing", correlation_id = %_ctx.correlation_id))]
    async fn delete_tax_rule(&self, _ctx: &RequestContext, id: Uuid) -> Result<()> {
        let mut uow = self.db.begin().await?;
        if !store::delete_tax_rule(&mut uow, id).await? {
            return Err(Error::not_found("tax_rule", id));
        }
        uow.commit().await
    }

    #[tracing::instrument(name = "billing.set_channel_tax_mode", skip_all, fields(module = "billing", correlation_id = %_ctx.correlation_id))]
    async fn set_channel_tax_mode(&self, _ctx: &RequestContext, mode: ChannelTaxMode) -> Result<ChannelTaxMode> {
        let code = channel(&mode.channel)?;
        let mut uow = self.db.begin().await?;
        store::set_channel_mode(&mut uow, &code, mode.prices_include_tax).await?;
        uow.commit().await?;
        Ok(ChannelTaxMode { channel: code, prices_include_tax: mode.prices_include_tax })
    }

    #[tracing::instrument(name = "billing.channel_tax_mode", skip_all, fields(module = "billing", correlation_id = %_ctx.correlation_id))]
    async fn channel_tax_mode(&self, _ctx: &RequestContext, channel: &str) -> Result<ChannelTaxMode> {
        let stored = store::channel_mode(&mut *self.reader().await?, channel.trim()).await?;
        Ok(ChannelTaxMode {
            channel: channel.trim().to_string(),
            prices_include_tax: stored.unwrap_or(domain::DEFAULT_PRICES_INCLUDE_TAX),
        })
    }

    #[tracing::instrument(name = "billing.compute_tax", skip_all, fields(module = "billing", correlation_id = %_ctx.correlation_id))]
    async fn compute_tax(&self, _ctx: &RequestContext, request: TaxRequest) -> Result<TaxBreakdown> {
        let code = channel(&request.channel)?;
        let input = domain::parse_tax_request(
            request.currency,
            &request.destination.country,
            request.destination.region.as_deref(),
            &request.lines,
            request.shipping,
        )?;
        let mut c = self.reader().await?;
        let include = store::channel_mode(&mut c, &code).await?.unwrap_or(domain::DEFAULT_PRICES_INCLUDE_TAX);
        let rules = store::country_rules(&mut c, &input.country).await?;
        let applied = domain::applied_rate(&rules, input.region.as_deref());
        domain::compute(&input, request.currency, &applied, include)
    }

    #[tracing::instrument(name = "billing.invoice_for_order", skip_all, fields(module = "billing", correlation_id = %_ctx.correlation_id))]
    async fn invoice_for_order(&self, _ctx: &RequestContext, order_id: Uuid) -> Result<Invoice> {
        store::invoice_for_order(&mut *self.reader().await?, order_id)
            .await?
            .ok_or_else(|| Error::not_found("invoice for order", order_id))
    }

    #[tracing::instrument(name = "billing.list_invoices", skip_all, fields(module = "billing", correlation_id = %_ctx.correlation_id))]
    async fn list_invoices(&self, _ctx: &RequestContext, page: PageRequest) -> Result<Page<Invoice>> {
        page.validate()?;
        let (items, total) = store::list_invoices(&mut *self.reader().await?, page).await?;
        Ok(Page::new(items, page, total))
    }

    #[tracing::instrument(name = "billing.credit_notes_for_order", skip_all, fields(module = "billing", correlation_id = %_ctx.correlation_id))]
    async fn credit_notes_for_order(&self, _ctx: &RequestContext, order_id: Uuid) -> Result<Vec<CreditNote>> {
        store::credit_notes_for_order(&mut *self.reader().await?, order_id).await
    }

    #[tracing::instrument(name = "billing.invoice_pdf", skip_all, fields(module = "billing", correlation_id = %_ctx.correlation_id))]
    async fn invoice_pdf(&self, _ctx: &RequestContext, invoice_id: Uuid) -> Result<Vec<u8>> {
        let invoice = store::invoice(&mut *self.reader().await?, invoice_id)
            .await?
            .ok_or_else(|| Error::not_found("invoice", invoice_id))?;
        if invoice.status != InvoiceStatus::Issued {
            return Err(Error::conflict(
                "invoice-not-issued",
                format!("invoice {invoice_id} is still a draft; its PDF exists once it is issued"),
            ));
        }
        render(move || pdf::invoice(&invoice)).await
    }

    #[tracing::instrument(name = "billing.credit_note_pdf", skip_all, fields(module = "billing", correlation_id = %_ctx.correlation_id))]
    async fn credit_note_pdf(&self, _ctx: &RequestContext, credit_note_id: Uuid) -> Result<Vec<u8>> {
        let mut c = self.reader().await?;
        let note = store::credit_note(&mut c, credit_note_id)
            .await?
            .ok_or_else(|| Error::not_found("credit_note", credit_note_id))?;
        let invoice = store::invoice(&mut c, note.invoice_id).await?.ok_or_else(|| {
            Error::internal(format!("credit note {} credits invoice {}, which is missing", note.id, note.invoice_id))
        })?;
        render(move || pdf::credit_note(&note, &invoice)).await
    }
}
