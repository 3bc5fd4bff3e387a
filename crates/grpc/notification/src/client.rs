//! The `NotificationPort` of a notification service running elsewhere: callers holding an
//! `Arc<dyn NotificationPort>` get the same answers and the same errors as from the module in
//! process.
//!
//! Every rpc is retried when the request never reached the service: two are reads, and setting the
//! marketing opt-out sets an absolute value (the module announces only a real change), so sending
//! it twice lands the same way.

use async_trait::async_trait;
use comptoir_contracts::notification::{Message, MessageFilter, NotificationPort, Preferences};
use comptoir_grpc::convert::{page, to_page_request};
use comptoir_grpc::{Call, MAX_MESSAGE_BYTES, Remote};
use comptoir_kernel::{Error, Page, PageRequest, RequestContext, Result};
use tonic::transport::Channel;
use uuid::Uuid;

use crate::convert;
use crate::pb;
use crate::pb::notification_service_client::NotificationServiceClient;

#[derive(Clone)]
pub struct NotificationClient {
    remote: Remote,
}

impl NotificationClient {
    pub fn new(remote: Remote) -> Self {
        NotificationClient { remote }
    }
}

fn grpc(channel: Channel) -> NotificationServiceClient<Channel> {
    NotificationServiceClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// A reply that does not decode is the service's fault, not the caller's: an internal error rather
/// than the bad request decoding reports on the server side.
fn decoded<T>(result: Result<T>) -> Result<T> {
    result.map_err(|e| Error::internal(format!("the notification service sent a malformed reply: {e}")))
}

#[async_trait]
impl NotificationPort for NotificationClient {
    async fn messages(
        &self,
        ctx: &RequestContext,
        filter: MessageFilter,
        page_request: PageRequest,
    ) -> Result<Page<Message>> {
        let message = pb::MessagesRequest {
            filter: Some(convert::to_filter(filter)),
            page: Some(to_page_request(&page_request)),
        };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "Messages", message, |channel, request| async move {
                grpc(channel).messages(request).await
            })
            .await?;
        decoded(convert::messages(reply.messages).and_then(|messages| page(messages, reply.page)))
    }

    async fn preferences(&self, ctx: &RequestContext, customer_id: Uuid) -> Result<Preferences> {
        let message = pb::PreferencesRequest { customer_id: customer_id.to_string() };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "Preferences", message, |channel, request| async move {
                grpc(channel).preferences(request).await
            })
            .await?;
        decoded(convert::preferences(reply))
    }

    async fn set_marketing_opt_out(
        &self,
        ctx: &RequestContext,
        customer_id: Uuid,
        opt_out: bool,
    ) -> Result<Preferences> {
        let message = pb::SetMarketingOptOutRequest { customer_id: customer_id.to_string(), opt_out };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "SetMarketingOptOut", message, |channel, request| async move {
                grpc(channel).set_marketing_opt_out(request).await
            })
            .await?;
        decoded(convert::preferences(reply))
    }
}
