//! Serves an `AuditPort` (the module itself) to remote callers: each rpc reads the caller's
//! context from metadata, decodes the message (a bad request if it is malformed), calls the port
//! and encodes its answer; the port's errors travel as statuses the client turns back into the
//! same errors.

use std::sync::Arc;

use comptoir_contracts::audit::AuditPort;
use comptoir_grpc::convert::{to_page_info, uuid};
use comptoir_grpc::pb::Empty;
use comptoir_grpc::server::{RpcResult, reply};
use comptoir_grpc::{MAX_MESSAGE_BYTES, incoming_context, to_status};
use comptoir_kernel::Result;
use tonic::{Request, Status};

use crate::convert;
use crate::pb;
use crate::pb::audit_service_server::{AuditService, AuditServiceServer};

pub struct AuditServer {
    port: Arc<dyn AuditPort>,
}

/// The generated service around `port`, ready to add to a `ServiceSet`.
pub fn service(port: Arc<dyn AuditPort>) -> AuditServiceServer<AuditServer> {
    AuditServiceServer::new(AuditServer { port })
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// A request that does not decode is answered as the bad request it is, before the port is called.
fn decoded<T>(result: Result<T>) -> std::result::Result<T, Status> {
    result.map_err(to_status)
}

#[tonic::async_trait]
impl AuditService for AuditServer {
    async fn record(&self, request: Request<pb::RecordRequest>) -> RpcResult<Empty> {
        let ctx = incoming_context(&request);
        let entries = decoded(convert::record(request.into_inner()))?;
        reply(self.port.record(&ctx, entries).await.map(|()| Empty {}))
    }

    async fn search(&self, request: Request<pb::SearchRequest>) -> RpcResult<pb::SearchResponse> {
        let ctx = incoming_context(&request);
        let (filter, page) = decoded(convert::search(request.into_inner()))?;
        let found = self.port.search(&ctx, filter, page).await;
        reply(found.map(|found| pb::SearchResponse {
            entries: found.items.iter().map(convert::to_entry).collect(),
            page: Some(to_page_info(&found)),
        }))
    }

    async fn get(&self, request: Request<pb::EntryId>) -> RpcResult<pb::Entry> {
        let ctx = incoming_context(&request);
        let id = decoded(uuid(&request.get_ref().id, "id"))?;
        reply(self.port.get(&ctx, id).await.map(|entry| convert::to_entry(&entry)))
    }
}
