//! The `RecommendationsPort` of a recommendations service running elsewhere: callers holding an
//! `Arc<dyn RecommendationsPort>` get the same answers and the same errors as from the module in
//! process.
//!
//! Every rpc is retried when the request never reached the service: two are reads, and a rebuild
//! recomputes every count from ordering and replaces what was there, so sending it twice lands
//! the same way.

use async_trait::async_trait;
use comptoir_contracts::recommendations::{RebuildReport, Recommendation, RecommendationsPort};
use comptoir_grpc::{Call, MAX_MESSAGE_BYTES, Remote};
use comptoir_kernel::{Error, RequestContext, Result};
use tonic::transport::Channel;
use uuid::Uuid;

use crate::convert;
use crate::pb;
use crate::pb::recommendations_service_client::RecommendationsServiceClient;

/// A rebuild reads every order through the ordering service: minutes for a large shop, not the
/// seconds an ordinary call gets.
const REBUILD_DEADLINE: std::time::Duration = std::time::Duration::from_secs(600);

#[derive(Clone)]
pub struct RecommendationsClient {
    remote: Remote,
}

impl RecommendationsClient {
    pub fn new(remote: Remote) -> Self {
        RecommendationsClient { remote }
    }
}

fn grpc(channel: Channel) -> RecommendationsServiceClient<Channel> {
    RecommendationsServiceClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// A reply that does not decode is the service's fault, not the caller's: an internal error rather
/// than the bad request decoding reports on the server side.
fn decoded<T>(result: Result<T>) -> Result<T> {
    result.map_err(|e| Error::internal(format!("the recommendations service sent a malformed reply: {e}")))
}

#[async_trait]
impl RecommendationsPort for RecommendationsClient {
    async fn bought_together(&self, ctx: &RequestContext, product_id: Uuid, limit: u32) -> Result<Vec<Recommendation>> {
        let message = pb::BoughtTogetherRequest { product_id: product_id.to_string(), limit };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "BoughtTogether", message, |channel, request| async move {
                grpc(channel).bought_together(request).await
            })
            .await?;
        decoded(convert::list(reply))
    }

    async fn for_cart(&self, ctx: &RequestContext, product_ids: Vec<Uuid>, limit: u32) -> Result<Vec<Recommendation>> {
        let message = pb::ForCartRequest { product_ids: product_ids.iter().map(|id| id.to_string()).collect(), limit };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "ForCart", message, |channel, request| async move {
                grpc(channel).for_cart(request).await
            })
            .await?;
        decoded(convert::list(reply))
    }

    async fn rebuild(&self, ctx: &RequestContext) -> Result<RebuildReport> {
        let reply = self
            .remote
            .call_within(
                ctx,
                Call::Idempotent,
                "Rebuild",
                pb::RebuildRequest {},
                REBUILD_DEADLINE,
                |channel, request| async move { grpc(channel).rebuild(request).await },
            )
            .await?;
        Ok(convert::rebuild_report(reply))
    }
}
