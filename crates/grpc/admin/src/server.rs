//! Serves an `AdminPort` (the module itself) to remote callers: each rpc reads the caller's context
//! from metadata, decodes the message, calls the port and encodes its answer; the port's errors
//! travel as statuses the client turns back into the same errors.

use std::sync::Arc;

use comptoir_contracts::admin::{AdminPort, ShopSettings};
use comptoir_grpc::server::RpcResult;
use comptoir_grpc::{MAX_MESSAGE_BYTES, incoming_context};
use comptoir_kernel::Result;
use tonic::Request;

use crate::convert;
use crate::pb;
use crate::pb::admin_service_server::{AdminService, AdminServiceServer};

pub struct AdminServer {
    port: Arc<dyn AdminPort>,
}

/// The generated service around `port`, ready to add to a `ServiceSet`.
pub fn service(port: Arc<dyn AdminPort>) -> AdminServiceServer<AdminServer> {
    AdminServiceServer::new(AdminServer { port })
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

fn reply_settings(result: Result<ShopSettings>) -> RpcResult<pb::Settings> {
    comptoir_grpc::server::reply(result.map(|settings| convert::to_settings(&settings)))
}

#[tonic::async_trait]
impl AdminService for AdminServer {
    async fn get_settings(&self, request: Request<pb::GetSettingsRequest>) -> RpcResult<pb::Settings> {
        let ctx = incoming_context(&request);
        reply_settings(self.port.settings(&ctx).await)
    }

    async fn update_settings(&self, request: Request<pb::UpdateSettingsRequest>) -> RpcResult<pb::Settings> {
        let ctx = incoming_context(&request);
        let update = convert::update(request.into_inner());
        reply_settings(self.port.update_settings(&ctx, update).await)
    }
}
