//! The `WebhooksPort` of a webhooks service running elsewhere: callers holding an
//! `Arc<dyn WebhooksPort>` get the same answers and the same errors as from the module in process.
//!
//! Reads are retried when the request never reached the service, and so is an update: a patch
//! sets absolute values, so sending it twice lands the same way. Creating, deleting, rotating and
//! redelivering are sent once: a second creation would be a second subscription, a second rotation
//! a second secret, a second redelivery a second POST.

use async_trait::async_trait;
use comptoir_contracts::webhooks::{
    Delivery, DeliveryDetail, DeliveryFilter, NewSubscription, Subscription, SubscriptionPatch, SubscriptionWithSecret,
    WebhooksPort,
};
use comptoir_grpc::convert::{page, to_page_request};
use comptoir_grpc::{Call, MAX_MESSAGE_BYTES, Remote};
use comptoir_kernel::{Error, Page, PageRequest, RequestContext, Result};
use tonic::transport::Channel;
use uuid::Uuid;

use crate::convert;
use crate::pb;
use crate::pb::webhooks_service_client::WebhooksServiceClient;

#[derive(Clone)]
pub struct WebhooksClient {
    remote: Remote,
}

impl WebhooksClient {
    pub fn new(remote: Remote) -> Self {
        WebhooksClient { remote }
    }
}

fn grpc(channel: Channel) -> WebhooksServiceClient<Channel> {
    WebhooksServiceClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// A reply that does not decode is the service's fault, not the caller's: an internal error rather
/// than the bad request decoding reports on the server side.
fn decoded<T>(result: Result<T>) -> Result<T> {
    result.map_err(|e| Error::internal(format!("the webhooks service sent a malformed reply: {e}")))
}

fn subscription_id(id: Uuid) -> pb::SubscriptionId {
    pb::SubscriptionId { id: id.to_string() }
}

fn delivery_id(id: Uuid) -> pb::DeliveryId {
    pb::DeliveryId { id: id.to_string() }
}

#[async_trait]
impl WebhooksPort for WebhooksClient {
    async fn create_subscription(&self, ctx: &RequestContext, new: NewSubscription) -> Result<SubscriptionWithSecret> {
        let reply = self
            .remote
            .call(ctx, Call::Once, "CreateSubscription", convert::to_create(new), |channel, request| async move {
                grpc(channel).create_subscription(request).await
            })
            .await?;
        decoded(convert::with_secret(reply))
    }

    async fn subscriptions(&self, ctx: &RequestContext, page_request: PageRequest) -> Result<Page<Subscription>> {
        let message = pb::SubscriptionsRequest { page: Some(to_page_request(&page_request)) };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "Subscriptions", message, |channel, request| async move {
                grpc(channel).subscriptions(request).await
            })
            .await?;
        decoded(convert::subscriptions(reply.subscriptions).and_then(|items| page(items, reply.page)))
    }

    async fn subscription(&self, ctx: &RequestContext, id: Uuid) -> Result<Subscription> {
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "Subscription", subscription_id(id), |channel, request| async move {
                grpc(channel).subscription(request).await
            })
            .await?;
        decoded(convert::subscription(reply, "subscription"))
    }

    async fn update_subscription(
        &self,
        ctx: &RequestContext,
        id: Uuid,
        patch: SubscriptionPatch,
    ) -> Result<Subscription> {
        let message = convert::to_update(id, patch);
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "UpdateSubscription", message, |channel, request| async move {
                grpc(channel).update_subscription(request).await
            })
            .await?;
        decoded(convert::subscription(reply, "subscription"))
    }

    async fn delete_subscription(&self, ctx: &RequestContext, id: Uuid) -> Result<()> {
        self.remote
            .call(ctx, Call::Once, "DeleteSubscription", subscription_id(id), |channel, request| async move {
                grpc(channel).delete_subscription(request).await
            })
            .await?;
        Ok(())
    }

    async fn rotate_secret(&self, ctx: &RequestContext, id: Uuid) -> Result<SubscriptionWithSecret> {
        let reply = self
            .remote
            .call(ctx, Call::Once, "RotateSecret", subscription_id(id), |channel, request| async move {
                grpc(channel).rotate_secret(request).await
            })
            .await?;
        decoded(convert::with_secret(reply))
    }

    async fn deliveries(
        &self,
        ctx: &RequestContext,
        subscription_id: Uuid,
        filter: DeliveryFilter,
        page_request: PageRequest,
    ) -> Result<Page<Delivery>> {
        let message = pb::DeliveriesRequest {
            subscription_id: subscription_id.to_string(),
            status: filter.status.map(|s| convert::to_status(s).into()),
            page: Some(to_page_request(&page_request)),
        };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "Deliveries", message, |channel, request| async move {
                grpc(channel).deliveries(request).await
            })
            .await?;
        decoded(convert::deliveries(reply.deliveries).and_then(|items| page(items, reply.page)))
    }

    async fn delivery(&self, ctx: &RequestContext, id: Uuid) -> Result<DeliveryDetail> {
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "Delivery", delivery_id(id), |channel, request| async move {
                grpc(channel).delivery(request).await
            })
            .await?;
        decoded(convert::detail(reply))
    }

    async fn redeliver(&self, ctx: &RequestContext, id: Uuid) -> Result<DeliveryDetail> {
        let reply = self
            .remote
            .call(ctx, Call::Once, "Redeliver", delivery_id(id), |channel, request| async move {
                grpc(channel).redeliver(request).await
            })
            .await?;
        decoded(convert::detail(reply))
    }
}
