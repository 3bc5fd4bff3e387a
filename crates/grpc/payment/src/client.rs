//! The `PaymentPort` of a payment service running elsewhere: callers holding an
//! `Arc<dyn PaymentPort>` get the same answers and the same errors as from the module in process.
//!
//! Every rpc is retried when the request never reached the service, writes included: the module
//! de-duplicates them itself. A charge or a refund repeated with its idempotency key answers the
//! first payment or refund (the provider is not asked again), and a webhook event already handled
//! is acknowledged without effect (the module records each provider event id once, in the same
//! transaction as its effect).

use async_trait::async_trait;
use comptoir_contracts::payment::{ChargeRequest, Payment, PaymentPort, RefundRequest};
use comptoir_grpc::convert::{page, to_page_request};
use comptoir_grpc::{Call, MAX_MESSAGE_BYTES, Remote};
use comptoir_kernel::{Error, Page, PageRequest, RequestContext, Result};
use tonic::transport::Channel;
use uuid::Uuid;

use crate::convert;
use crate::pb;
use crate::pb::payment_service_client::PaymentServiceClient;

#[derive(Clone)]
pub struct PaymentClient {
    remote: Remote,
}

impl PaymentClient {
    pub fn new(remote: Remote) -> Self {
        PaymentClient { remote }
    }
}

fn grpc(channel: Channel) -> PaymentServiceClient<Channel> {
    PaymentServiceClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// A reply that does not decode is the service's fault, not the caller's: an internal error rather
/// than the bad request decoding reports on the server side.
fn decoded<T>(result: Result<T>) -> Result<T> {
    result.map_err(|e| Error::internal(format!("the payment service sent a malformed reply: {e}")))
}

#[async_trait]
impl PaymentPort for PaymentClient {
    async fn charge(&self, ctx: &RequestContext, request: ChargeRequest) -> Result<Payment> {
        let message = convert::to_charge_request(request);
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "Charge", message, |channel, request| async move {
                grpc(channel).charge(request).await
            })
            .await?;
        decoded(convert::payment(reply))
    }

    async fn refund(&self, ctx: &RequestContext, request: RefundRequest) -> Result<Payment> {
        let message = convert::to_refund_request(request);
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "Refund", message, |channel, request| async move {
                grpc(channel).refund(request).await
            })
            .await?;
        decoded(convert::payment(reply))
    }

    async fn get_payment(&self, ctx: &RequestContext, id: Uuid) -> Result<Payment> {
        let message = pb::GetPaymentRequest { payment_id: id.to_string() };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "GetPayment", message, |channel, request| async move {
                grpc(channel).get_payment(request).await
            })
            .await?;
        decoded(convert::payment(reply))
    }

    async fn payments_for_order(&self, ctx: &RequestContext, order_id: Uuid) -> Result<Vec<Payment>> {
        let message = pb::PaymentsForOrderRequest { order_id: order_id.to_string() };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "PaymentsForOrder", message, |channel, request| async move {
                grpc(channel).payments_for_order(request).await
            })
            .await?;
        decoded(convert::payments(reply.payments))
    }

    async fn list_payments(&self, ctx: &RequestContext, page_request: PageRequest) -> Result<Page<Payment>> {
        let message = pb::ListPaymentsRequest { page: Some(to_page_request(&page_request)) };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "ListPayments", message, |channel, request| async move {
                grpc(channel).list_payments(request).await
            })
            .await?;
        decoded(convert::payments(reply.payments).and_then(|payments| page(payments, reply.page)))
    }

    async fn provider_webhook(&self, ctx: &RequestContext, provider: &str, signature: &str, body: &[u8]) -> Result<()> {
        let message = pb::ProviderWebhookRequest {
            provider: provider.to_string(),
            signature: signature.to_string(),
            body: body.to_vec(),
        };
        self.remote
            .call(ctx, Call::Idempotent, "ProviderWebhook", message, |channel, request| async move {
                grpc(channel).provider_webhook(request).await
            })
            .await?;
        Ok(())
    }
}
