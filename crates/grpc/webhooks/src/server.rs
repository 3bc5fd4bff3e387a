//! Serves a `WebhooksPort` (the module itself) to remote callers: each rpc reads the caller's
//! context from metadata, decodes the message, calls the port and encodes its answer; the port's
//! errors travel as statuses the client turns back into the same errors.

use std::sync::Arc;

use comptoir_contracts::webhooks::{
    DeliveryDetail, DeliveryFilter, Subscription, SubscriptionWithSecret, WebhooksPort,
};
use comptoir_grpc::convert::{page_request, to_page_info, uuid};
use comptoir_grpc::server::{RpcResult, reply};
use comptoir_grpc::{MAX_MESSAGE_BYTES, incoming_context, to_status};
use comptoir_kernel::Result;
use tonic::{Request, Response};

use crate::convert;
use crate::pb;
use crate::pb::webhooks_service_server::{WebhooksService, WebhooksServiceServer};

pub struct WebhooksServer {
    port: Arc<dyn WebhooksPort>,
}

/// The generated service around `port`, ready to add to a `ServiceSet`.
pub fn service(port: Arc<dyn WebhooksPort>) -> WebhooksServiceServer<WebhooksServer> {
    WebhooksServiceServer::new(WebhooksServer { port })
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

fn reply_subscription(result: Result<Subscription>) -> RpcResult<pb::Subscription> {
    reply(result.map(|s| convert::to_subscription(&s)))
}

fn reply_with_secret(result: Result<SubscriptionWithSecret>) -> RpcResult<pb::SubscriptionWithSecret> {
    reply(result.map(|s| convert::to_with_secret(&s)))
}

fn reply_detail(result: Result<DeliveryDetail>) -> RpcResult<pb::DeliveryDetail> {
    reply(result.map(|d| convert::to_detail(&d)))
}

#[tonic::async_trait]
impl WebhooksService for WebhooksServer {
    async fn create_subscription(
        &self,
        request: Request<pb::CreateSubscriptionRequest>,
    ) -> RpcResult<pb::SubscriptionWithSecret> {
        let ctx = incoming_context(&request);
        // The fields go as sent: the module checks them and names the field.
        let new = convert::new_subscription(request.into_inner());
        reply_with_secret(self.port.create_subscription(&ctx, new).await)
    }

    async fn subscriptions(&self, request: Request<pb::SubscriptionsRequest>) -> RpcResult<pb::SubscriptionsResponse> {
        let ctx = incoming_context(&request);
        let page = page_request(request.into_inner().page);
        let listed = self.port.subscriptions(&ctx, page).await.map_err(to_status)?;
        Ok(Response::new(pb::SubscriptionsResponse {
            subscriptions: listed.items.iter().map(convert::to_subscription).collect(),
            page: Some(to_page_info(&listed)),
        }))
    }

    async fn subscription(&self, request: Request<pb::SubscriptionId>) -> RpcResult<pb::Subscription> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        reply_subscription(async { self.port.subscription(&ctx, uuid(&message.id, "id")?).await }.await)
    }

    async fn update_subscription(
        &self,
        request: Request<pb::UpdateSubscriptionRequest>,
    ) -> RpcResult<pb::Subscription> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        reply_subscription(
            async {
                let id = uuid(&message.id, "id")?;
                self.port.update_subscription(&ctx, id, convert::patch(message)).await
            }
            .await,
        )
    }

    async fn delete_subscription(&self, request: Request<pb::SubscriptionId>) -> RpcResult<comptoir_grpc::pb::Empty> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        let deleted = async { self.port.delete_subscription(&ctx, uuid(&message.id, "id")?).await }.await;
        reply(deleted.map(|()| comptoir_grpc::pb::Empty {}))
    }

    async fn rotate_secret(&self, request: Request<pb::SubscriptionId>) -> RpcResult<pb::SubscriptionWithSecret> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        reply_with_secret(async { self.port.rotate_secret(&ctx, uuid(&message.id, "id")?).await }.await)
    }

    async fn deliveries(&self, request: Request<pb::DeliveriesRequest>) -> RpcResult<pb::DeliveriesResponse> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        let page = page_request(message.page);
        let listed = async {
            let subscription_id = uuid(&message.subscription_id, "subscription_id")?;
            let status = message.status.map(|s| convert::status(s, "status")).transpose()?;
            self.port.deliveries(&ctx, subscription_id, DeliveryFilter { status }, page).await
        }
        .await
        .map_err(to_status)?;
        Ok(Response::new(pb::DeliveriesResponse {
            deliveries: listed.items.iter().map(convert::to_delivery).collect(),
            page: Some(to_page_info(&listed)),
        }))
    }

    async fn delivery(&self, request: Request<pb::DeliveryId>) -> RpcResult<pb::DeliveryDetail> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        reply_detail(async { self.port.delivery(&ctx, uuid(&message.id, "id")?).await }.await)
    }

    async fn redeliver(&self, request: Request<pb::DeliveryId>) -> RpcResult<pb::DeliveryDetail> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        reply_detail(async { self.port.redeliver(&ctx, uuid(&message.id, "id")?).await }.await)
    }
}
