//! The `AdminPort` of an admin service running elsewhere: callers holding an `Arc<dyn AdminPort>`
//! get the same answers and the same errors as from the module in process.
//!
//! Reading the settings is retried when the request never reached the service. An update is sent
//! once: retried after a lost answer it could land twice, or be refused as stale after landing.

use async_trait::async_trait;
use comptoir_contracts::admin::{AdminPort, SettingsUpdate, ShopSettings};
use comptoir_grpc::{Call, MAX_MESSAGE_BYTES, Remote};
use comptoir_kernel::{Error, RequestContext, Result};
use tonic::transport::Channel;

use crate::convert;
use crate::pb;
use crate::pb::admin_service_client::AdminServiceClient;

#[derive(Clone)]
pub struct AdminClient {
    remote: Remote,
}

impl AdminClient {
    pub fn new(remote: Remote) -> Self {
        AdminClient { remote }
    }
}

fn grpc(channel: Channel) -> AdminServiceClient<Channel> {
    AdminServiceClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// A reply that does not decode is the service's fault, not the caller's.
fn decoded<T>(result: Result<T>) -> Result<T> {
    result.map_err(|e| Error::internal(format!("the admin service sent a malformed reply: {e}")))
}

#[async_trait]
impl AdminPort for AdminClient {
    async fn settings(&self, ctx: &RequestContext) -> Result<ShopSettings> {
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "GetSettings", pb::GetSettingsRequest {}, |channel, request| async move {
                grpc(channel).get_settings(request).await
            })
            .await?;
        decoded(convert::settings(reply))
    }

    async fn update_settings(&self, ctx: &RequestContext, update: SettingsUpdate) -> Result<ShopSettings> {
        let message = convert::to_update(update);
        let reply = self
            .remote
            .call(ctx, Call::Once, "UpdateSettings", message, |channel, request| async move {
                grpc(channel).update_settings(request).await
            })
            .await?;
        decoded(convert::settings(reply))
    }
}
