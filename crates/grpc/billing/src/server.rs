//! Serves a `BillingPort` (the module itself) to remote callers: each rpc reads the caller's
//! context from metadata, decodes the message, calls the port and encodes its answer; the port's
//! errors travel as statuses the client turns back into the same errors.

use std::sync::Arc;

use comptoir_contracts::billing::BillingPort;
use comptoir_grpc::convert::{page_request, to_page_info, uuid};
use comptoir_grpc::server::{RpcResult, reply};
use comptoir_grpc::{MAX_MESSAGE_BYTES, incoming_context};
use tonic::Request;

use crate::convert;
use crate::pb;
use crate::pb::billing_service_server::{BillingService, BillingServiceServer};

pub struct BillingServer {
    port: Arc<dyn BillingPort>,
}

/// The generated service around `port`, ready to add to a `ServiceSet`.
pub fn service(port: Arc<dyn BillingPort>) -> BillingServiceServer<BillingServer> {
    BillingServiceServer::new(BillingServer { port })
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

#[tonic::async_trait]
impl BillingService for BillingServer {
    async fn create_tax_rule(&self, request: Request<pb::CreateTaxRuleRequest>) -> RpcResult<pb::TaxRule> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        reply(
            async {
                let input = convert::new_tax_rule(message)?;
                Ok(convert::to_tax_rule(&self.port.create_tax_rule(&ctx, input).await?))
            }
            .await,
        )
    }

    async fn list_tax_rules(&self, request: Request<pb::ListTaxRulesRequest>) -> RpcResult<pb::ListTaxRulesResponse> {
        let ctx = incoming_context(&request);
        let page = page_request(request.into_inner().page);
        reply(self.port.list_tax_rules(&ctx, page).await.map(|page| pb::ListTaxRulesResponse {
            tax_rules: page.items.iter().map(convert::to_tax_rule).collect(),
            page: Some(to_page_info(&page)),
        }))
    }

    async fn delete_tax_rule(
        &self,
        request: Request<pb::DeleteTaxRuleRequest>,
    ) -> RpcResult<pb::DeleteTaxRuleResponse> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        reply(
            async {
                let id = uuid(&message.id, "id")?;
                self.port.delete_tax_rule(&ctx, id).await?;
                Ok(pb::DeleteTaxRuleResponse {})
            }
            .await,
        )
    }

    async fn set_channel_tax_mode(
        &self,
        request: Request<pb::SetChannelTaxModeRequest>,
    ) -> RpcResult<pb::ChannelTaxMode> {
        let ctx = incoming_context(&request);
        let mode = convert::new_channel_tax_mode(request.into_inner());
        reply(self.port.set_channel_tax_mode(&ctx, mode).await.map(|mode| convert::to_channel_tax_mode(&mode)))
    }

    async fn channel_tax_mode(&self, request: Request<pb::ChannelTaxModeRequest>) -> RpcResult<pb::ChannelTaxMode> {
        let ctx = incoming_context(&request);
        let channel = request.into_inner().channel;
        reply(self.port.channel_tax_mode(&ctx, &channel).await.map(|mode| convert::to_channel_tax_mode(&mode)))
    }

    async fn compute_tax(&self, request: Request<pb::ComputeTaxRequest>) -> RpcResult<pb::TaxBreakdown> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        reply(
            async {
                let input = convert::tax_request(message)?;
                Ok(convert::to_tax_breakdown(&self.port.compute_tax(&ctx, input).await?))
            }
            .await,
        )
    }

    async fn invoice_for_order(&self, request: Request<pb::InvoiceForOrderRequest>) -> RpcResult<pb::Invoice> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        reply(
            async {
                let order_id = uuid(&message.order_id, "order_id")?;
                Ok(convert::to_invoice(&self.port.invoice_for_order(&ctx, order_id).await?))
            }
            .await,
        )
    }

    async fn list_invoices(&self, request: Request<pb::ListInvoicesRequest>) -> RpcResult<pb::ListInvoicesResponse> {
        let ctx = incoming_context(&request);
        let page = page_request(request.into_inner().page);
        reply(self.port.list_invoices(&ctx, page).await.map(|page| pb::ListInvoicesResponse {
            invoices: page.items.iter().map(convert::to_invoice).collect(),
            page: Some(to_page_info(&page)),
        }))
    }

    async fn credit_notes_for_order(
        &self,
        request: Request<pb::CreditNotesForOrderRequest>,
    ) -> RpcResult<pb::CreditNotesForOrderResponse> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        reply(
            async {
                let order_id = uuid(&message.order_id, "order_id")?;
                let notes = self.port.credit_notes_for_order(&ctx, order_id).await?;
                Ok(pb::CreditNotesForOrderResponse {
                    credit_notes: notes.iter().map(convert::to_credit_note).collect(),
                })
            }
            .await,
        )
    }

    async fn invoice_pdf(&self, request: Request<pb::InvoicePdfRequest>) -> RpcResult<pb::InvoicePdfResponse> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        reply(
            async {
                let invoice_id = uuid(&message.invoice_id, "invoice_id")?;
                Ok(pb::InvoicePdfResponse { pdf: self.port.invoice_pdf(&ctx, invoice_id).await? })
            }
            .await,
        )
    }

    async fn credit_note_pdf(
        &self,
        request: Request<pb::CreditNotePdfRequest>,
    ) -> RpcResult<pb::CreditNotePdfResponse> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        reply(
            async {
                let credit_note_id = uuid(&message.credit_note_id, "credit_note_id")?;
                Ok(pb::CreditNotePdfResponse { pdf: self.port.credit_note_pdf(&ctx, credit_note_id).await? })
            }
            .await,
        )
    }
}
