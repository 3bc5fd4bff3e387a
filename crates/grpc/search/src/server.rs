//! Serves a `SearchPort` (the module itself) to remote callers: each rpc reads the caller's
//! context from metadata, decodes the message (a bad request if it is malformed), calls the port
//! and encodes its answer; the port's errors travel as statuses the client turns back into the
//! same errors.

use std::sync::Arc;

use comptoir_contracts::search::SearchPort;
use comptoir_grpc::convert::uuid;
use comptoir_grpc::server::{RpcResult, reply};
use comptoir_grpc::{MAX_MESSAGE_BYTES, incoming_context, to_status};
use comptoir_kernel::Result;
use tonic::{Request, Status};

use crate::convert;
use crate::pb;
use crate::pb::search_service_server::{SearchService, SearchServiceServer};

pub struct SearchServer {
    port: Arc<dyn SearchPort>,
}

/// The generated service around `port`, ready to add to a `ServiceSet`.
pub fn service(port: Arc<dyn SearchPort>) -> SearchServiceServer<SearchServer> {
    SearchServiceServer::new(SearchServer { port })
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// A request that does not decode is answered as the bad request it is, before the port is called.
fn decoded<T>(result: Result<T>) -> std::result::Result<T, Status> {
    result.map_err(to_status)
}

#[tonic::async_trait]
impl SearchService for SearchServer {
    async fn search(&self, request: Request<pb::SearchRequest>) -> RpcResult<pb::SearchResults> {
        let ctx = incoming_context(&request);
        // The query goes as sent: the module checks it and names the field.
        let query = decoded(convert::search_query(request.into_inner()))?;
        reply(self.port.search(&ctx, query).await.map(|results| convert::to_results(&results)))
    }

    async fn suggest(&self, request: Request<pb::SuggestRequest>) -> RpcResult<pb::SuggestResponse> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        let suggested = self.port.suggest(&ctx, &message.prefix, message.limit).await;
        reply(suggested.map(|suggestions| pb::SuggestResponse {
            suggestions: suggestions.iter().map(convert::to_suggestion).collect(),
        }))
    }

    async fn similar(&self, request: Request<pb::SimilarRequest>) -> RpcResult<pb::SimilarResponse> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        let product_id = decoded(uuid(&message.product_id, "product_id"))?;
        let similar = self.port.similar(&ctx, product_id, message.limit).await;
        reply(similar.map(|hits| pb::SimilarResponse { hits: hits.iter().map(convert::to_hit).collect() }))
    }

    async fn rebuild(&self, request: Request<pb::RebuildRequest>) -> RpcResult<pb::RebuildReport> {
        let ctx = incoming_context(&request);
        reply(self.port.rebuild(&ctx).await.map(|report| convert::to_rebuild_report(&report)))
    }

    async fn status(&self, request: Request<pb::StatusRequest>) -> RpcResult<pb::IndexStatus> {
        let ctx = incoming_context(&request);
        reply(self.port.status(&ctx).await.map(|status| convert::to_index_status(&status)))
    }
}
