//! The `BillingPort` of a billing service running elsewhere: callers holding an
//! `Arc<dyn BillingPort>` get the same answers and the same errors as from the module in process.
//!
//! Reads and the tax computation (which stores nothing) are retried when the request never
//! reached the service; so is setting a channel's tax mode, which writes an absolute value and
//! lands the same way twice. Creating and deleting a tax rule are sent once: a second attempt
//! would turn a success into a `duplicate-tax-rule` conflict or a not found.

use async_trait::async_trait;
use comptoir_contracts::billing::{
    BillingPort, ChannelTaxMode, CreditNote, Invoice, NewTaxRule, TaxBreakdown, TaxRequest, TaxRule,
};
use comptoir_grpc::convert::{all, page, to_page_request};
use comptoir_grpc::{Call, MAX_MESSAGE_BYTES, Remote};
use comptoir_kernel::{Error, Page, PageRequest, RequestContext, Result};
use tonic::transport::Channel;
use uuid::Uuid;

use crate::convert;
use crate::pb;
use crate::pb::billing_service_client::BillingServiceClient;

#[derive(Clone)]
pub struct BillingClient {
    remote: Remote,
}

impl BillingClient {
    pub fn new(remote: Remote) -> Self {
        BillingClient { remote }
    }
}

fn grpc(channel: Channel) -> BillingServiceClient<Channel> {
    BillingServiceClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// A reply that does not decode is the service's fault, not the caller's: an internal error rather
/// than the bad request decoding reports on the server side.
fn decoded<T>(result: Result<T>) -> Result<T> {
    result.map_err(|e| Error::internal(format!("the billing service sent a malformed reply: {e}")))
}

#[async_trait]
impl BillingPort for BillingClient {
    async fn create_tax_rule(&self, ctx: &RequestContext, input: NewTaxRule) -> Result<TaxRule> {
        let message = convert::to_create_tax_rule_request(input);
        let reply = self
            .remote
            .call(ctx, Call::Once, "CreateTaxRule", message, |channel, request| async move {
                grpc(channel).create_tax_rule(request).await
            })
            .await?;
        decoded(convert::tax_rule(reply))
    }

    async fn list_tax_rules(&self, ctx: &RequestContext, page_request: PageRequest) -> Result<Page<TaxRule>> {
        let message = pb::ListTaxRulesRequest { page: Some(to_page_request(&page_request)) };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "ListTaxRules", message, |channel, request| async move {
                grpc(channel).list_tax_rules(request).await
            })
            .await?;
        decoded(all(reply.tax_rules, convert::tax_rule).and_then(|rules| page(rules, reply.page)))
    }

    async fn delete_tax_rule(&self, ctx: &RequestContext, id: Uuid) -> Result<()> {
        let message = pb::DeleteTaxRuleRequest { id: id.to_string() };
        self.remote
            .call(ctx, Call::Once, "DeleteTaxRule", message, |channel, request| async move {
                grpc(channel).delete_tax_rule(request).await
            })
            .await?;
        Ok(())
    }

    async fn set_channel_tax_mode(&self, ctx: &RequestContext, mode: ChannelTaxMode) -> Result<ChannelTaxMode> {
        let message = convert::to_set_channel_tax_mode_request(mode);
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "SetChannelTaxMode", message, |channel, request| async move {
                grpc(channel).set_channel_tax_mode(request).await
            })
            .await?;
        Ok(convert::channel_tax_mode(reply))
    }

    async fn channel_tax_mode(&self, ctx: &RequestContext, channel_code: &str) -> Result<ChannelTaxMode> {
        let message = pb::ChannelTaxModeRequest { channel: channel_code.to_string() };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "ChannelTaxMode", message, |channel, request| async move {
                grpc(channel).channel_tax_mode(request).await
            })
            .await?;
        Ok(convert::channel_tax_mode(reply))
    }

    async fn compute_tax(&self, ctx: &RequestContext, request: TaxRequest) -> Result<TaxBreakdown> {
        let message = convert::to_compute_tax_request(request);
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "ComputeTax", message, |channel, request| async move {
                grpc(channel).compute_tax(request).await
            })
            .await?;
        decoded(convert::tax_breakdown(reply))
    }

    async fn invoice_for_order(&self, ctx: &RequestContext, order_id: Uuid) -> Result<Invoice> {
        let message = pb::InvoiceForOrderRequest { order_id: order_id.to_string() };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "InvoiceForOrder", message, |channel, request| async move {
                grpc(channel).invoice_for_order(request).await
            })
            .await?;
        decoded(convert::invoice(reply))
    }

    async fn list_invoices(&self, ctx: &RequestContext, page_request: PageRequest) -> Result<Page<Invoice>> {
        let message = pb::ListInvoicesRequest { page: Some(to_page_request(&page_request)) };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "ListInvoices", message, |channel, request| async move {
                grpc(channel).list_invoices(request).await
            })
            .await?;
        decoded(all(reply.invoices, convert::invoice).and_then(|invoices| page(invoices, reply.page)))
    }

    async fn credit_notes_for_order(&self, ctx: &RequestContext, order_id: Uuid) -> Result<Vec<CreditNote>> {
        let message = pb::CreditNotesForOrderRequest { order_id: order_id.to_string() };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "CreditNotesForOrder", message, |channel, request| async move {
                grpc(channel).credit_notes_for_order(request).await
            })
            .await?;
        decoded(all(reply.credit_notes, convert::credit_note))
    }

    async fn invoice_pdf(&self, ctx: &RequestContext, invoice_id: Uuid) -> Result<Vec<u8>> {
        let message = pb::InvoicePdfRequest { invoice_id: invoice_id.to_string() };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "InvoicePdf", message, |channel, request| async move {
                grpc(channel).invoice_pdf(request).await
            })
            .await?;
        Ok(reply.pdf)
    }

    async fn credit_note_pdf(&self, ctx: &RequestContext, credit_note_id: Uuid) -> Result<Vec<u8>> {
        let message = pb::CreditNotePdfRequest { credit_note_id: credit_note_id.to_string() };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "CreditNotePdf", message, |channel, request| async move {
                grpc(channel).credit_note_pdf(request).await
            })
            .await?;
        Ok(reply.pdf)
    }
}
