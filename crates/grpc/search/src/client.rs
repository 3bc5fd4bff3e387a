//! The `SearchPort` of a search service running elsewhere: callers holding an
//! `Arc<dyn SearchPort>` get the same answers and the same errors as from the module in process.
//!
//! Every rpc is retried when the request never reached the service: four are reads, and a rebuild
//! recomputes the whole index from catalog, inventory and identity, so sending it twice lands the
//! same way (the second finds nothing left to remove).

use async_trait::async_trait;
use comptoir_contracts::search::{
    IndexStatus, RebuildReport, SearchHit, SearchPort, SearchQuery, SearchResults, Suggestion,
};
use comptoir_grpc::{Call, MAX_MESSAGE_BYTES, Remote};
use comptoir_kernel::{Error, RequestContext, Result};
use tonic::transport::Channel;
use uuid::Uuid;

/// A rebuild reads the whole catalog through other services: minutes for a large one, not the
/// seconds an ordinary call gets.
const REBUILD_DEADLINE: std::time::Duration = std::time::Duration::from_secs(600);

use crate::convert;
use crate::pb;
use crate::pb::search_service_client::SearchServiceClient;

#[derive(Clone)]
pub struct SearchClient {
    remote: Remote,
}

impl SearchClient {
    pub fn new(remote: Remote) -> Self {
        SearchClient { remote }
    }
}

fn grpc(channel: Channel) -> SearchServiceClient<Channel> {
    SearchServiceClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// A reply that does not decode is the service's fault, not the caller's: an internal error rather
/// than the bad request decoding reports on the server side.
fn decoded<T>(result: Result<T>) -> Result<T> {
    result.map_err(|e| Error::internal(format!("the search service sent a malformed reply: {e}")))
}

#[async_trait]
impl SearchPort for SearchClient {
    async fn search(&self, ctx: &RequestContext, query: SearchQuery) -> Result<SearchResults> {
        let message = convert::to_search_request(&query);
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "Search", message, |channel, request| async move {
                grpc(channel).search(request).await
            })
            .await?;
        decoded(convert::results(reply))
    }

    async fn suggest(&self, ctx: &RequestContext, prefix: &str, limit: u32) -> Result<Vec<Suggestion>> {
        let message = pb::SuggestRequest { prefix: prefix.to_string(), limit };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "Suggest", message, |channel, request| async move {
                grpc(channel).suggest(request).await
            })
            .await?;
        decoded(convert::suggestions(reply.suggestions))
    }

    async fn similar(&self, ctx: &RequestContext, product_id: Uuid, limit: u32) -> Result<Vec<SearchHit>> {
        let message = pb::SimilarRequest { product_id: product_id.to_string(), limit };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "Similar", message, |channel, request| async move {
                grpc(channel).similar(request).await
            })
            .await?;
        decoded(convert::hits(reply.hits, "hits"))
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

    async fn status(&self, ctx: &RequestContext) -> Result<IndexStatus> {
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "Status", pb::StatusRequest {}, |channel, request| async move {
                grpc(channel).status(request).await
            })
            .await?;
        Ok(convert::index_status(reply))
    }
}
