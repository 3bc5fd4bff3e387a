//! Serves a `PaymentPort` (the module itself) to remote callers: each rpc reads the caller's context
//! from metadata, decodes the message, calls the port and encodes its answer; the port's errors
//! travel as statuses the client turns back into the same errors.

use std::sync::Arc;

use comptoir_contracts::payment::{Payment, PaymentPort};
use comptoir_grpc::convert::{page_request, to_page_info, uuid};
use comptoir_grpc::server::RpcResult;
use comptoir_grpc::{MAX_MESSAGE_BYTES, incoming_context};
use comptoir_kernel::Result;
use tonic::Request;

use crate::convert;
use crate::pb;
use crate::pb::payment_service_server::{PaymentService, PaymentServiceServer};

pub struct PaymentServer {
    port: Arc<dyn PaymentPort>,
}

/// The generated service around `port`, ready to add to a `ServiceSet`.
pub fn service(port: Arc<dyn PaymentPort>) -> PaymentServiceServer<PaymentServer> {
    PaymentServiceServer::new(PaymentServer { port })
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// The port's answer as the rpc's reply, its error as a status.
fn reply<T, M>(result: Result<T>, encode: impl FnOnce(T) -> M) -> RpcResult<M> {
    comptoir_grpc::server::reply(result.map(encode))
}

fn reply_payment(result: Result<Payment>) -> RpcResult<pb::Payment> {
    reply(result, |payment| convert::to_payment(&payment))
}

#[tonic::async_trait]
impl PaymentService for PaymentServer {
    async fn charge(&self, request: Request<pb::ChargeRequest>) -> RpcResult<pb::Payment> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        reply_payment(async { self.port.charge(&ctx, convert::charge_request(message)?).await }.await)
    }

    async fn refund(&self, request: Request<pb::RefundRequest>) -> RpcResult<pb::Payment> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        reply_payment(async { self.port.refund(&ctx, convert::refund_request(message)?).await }.await)
    }

    async fn get_payment(&self, request: Request<pb::GetPaymentRequest>) -> RpcResult<pb::Payment> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        reply_payment(async { self.port.get_payment(&ctx, uuid(&message.payment_id, "payment_id")?).await }.await)
    }

    async fn payments_for_order(
        &self,
        request: Request<pb::PaymentsForOrderRequest>,
    ) -> RpcResult<pb::PaymentsForOrderResponse> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        let found = async { self.port.payments_for_order(&ctx, uuid(&message.order_id, "order_id")?).await }.await;
        reply(found, |payments| pb::PaymentsForOrderResponse {
            payments: payments.iter().map(convert::to_payment).collect(),
        })
    }

    async fn list_payments(&self, request: Request<pb::ListPaymentsRequest>) -> RpcResult<pb::ListPaymentsResponse> {
        let ctx = incoming_context(&request);
        // The page goes as sent: the module checks its bounds and names the field.
        let page = page_request(request.into_inner().page);
        reply(self.port.list_payments(&ctx, page).await, |page| pb::ListPaymentsResponse {
            payments: page.items.iter().map(convert::to_payment).collect(),
            page: Some(to_page_info(&page)),
        })
    }

    async fn provider_webhook(
        &self,
        request: Request<pb::ProviderWebhookRequest>,
    ) -> RpcResult<pb::ProviderWebhookResponse> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        let handled = self.port.provider_webhook(&ctx, &message.provider, &message.signature, &message.body).await;
        reply(handled, |()| pb::ProviderWebhookResponse {})
    }
}
