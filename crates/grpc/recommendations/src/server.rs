//! Serves a `RecommendationsPort` (the module itself) to remote callers: each rpc reads the
//! caller's context from metadata, decodes the message (a bad request if it is malformed), calls
//! the port and encodes its answer; the port's errors travel as statuses the client turns back
//! into the same errors.

use std::sync::Arc;

use comptoir_contracts::recommendations::RecommendationsPort;
use comptoir_grpc::convert::{uuid, uuids};
use comptoir_grpc::server::{RpcResult, reply};
use comptoir_grpc::{MAX_MESSAGE_BYTES, incoming_context, to_status};
use comptoir_kernel::Result;
use tonic::{Request, Status};

use crate::convert;
use crate::pb;
use crate::pb::recommendations_service_server::{RecommendationsService, RecommendationsServiceServer};

pub struct RecommendationsServer {
    port: Arc<dyn RecommendationsPort>,
}

/// The generated service around `port`, ready to add to a `ServiceSet`.
pub fn service(port: Arc<dyn RecommendationsPort>) -> RecommendationsServiceServer<RecommendationsServer> {
    RecommendationsServiceServer::new(RecommendationsServer { port })
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// A request that does not decode is answered as the bad request it is, before the port is called.
fn decoded<T>(result: Result<T>) -> std::result::Result<T, Status> {
    result.map_err(to_status)
}

#[tonic::async_trait]
impl RecommendationsService for RecommendationsServer {
    async fn bought_together(&self, request: Request<pb::BoughtTogetherRequest>) -> RpcResult<pb::RecommendationList> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        let product_id = decoded(uuid(&message.product_id, "product_id"))?;
        let found = self.port.bought_together(&ctx, product_id, message.limit).await;
        reply(found.map(|list| convert::to_list(&list)))
    }

    async fn for_cart(&self, request: Request<pb::ForCartRequest>) -> RpcResult<pb::RecommendationList> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        let product_ids = decoded(uuids(&message.product_ids, "product_ids"))?;
        let found = self.port.for_cart(&ctx, product_ids, message.limit).await;
        reply(found.map(|list| convert::to_list(&list)))
    }

    async fn rebuild(&self, request: Request<pb::RebuildRequest>) -> RpcResult<pb::RebuildReport> {
        let ctx = incoming_context(&request);
        reply(self.port.rebuild(&ctx).await.map(|report| convert::to_rebuild_report(&report)))
    }
}
