//! Serves a `NotificationPort` (the module itself) to remote callers: each rpc reads the caller's
//! context from metadata, decodes the message, calls the port and encodes its answer; the port's
//! errors travel as statuses the client turns back into the same errors.

use std::sync::Arc;

use comptoir_contracts::notification::{NotificationPort, Preferences};
use comptoir_grpc::convert::{page_request, to_page_info, uuid};
use comptoir_grpc::server::RpcResult;
use comptoir_grpc::{MAX_MESSAGE_BYTES, incoming_context, to_status};
use comptoir_kernel::Result;
use tonic::{Request, Response};

use crate::convert;
use crate::pb;
use crate::pb::notification_service_server::{NotificationService, NotificationServiceServer};

pub struct NotificationServer {
    port: Arc<dyn NotificationPort>,
}

/// The generated service around `port`, ready to add to a `ServiceSet`.
pub fn service(port: Arc<dyn NotificationPort>) -> NotificationServiceServer<NotificationServer> {
    NotificationServiceServer::new(NotificationServer { port })
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// The port's preferences as the rpc's reply, its error as a status.
fn reply_preferences(result: Result<Preferences>) -> RpcResult<pb::Preferences> {
    comptoir_grpc::server::reply(result.map(|preferences| convert::to_preferences(&preferences)))
}

#[tonic::async_trait]
impl NotificationService for NotificationServer {
    async fn messages(&self, request: Request<pb::MessagesRequest>) -> RpcResult<pb::MessagesResponse> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        // The filter and the page go as sent: the module checks them and names the field.
        let filter = convert::filter(message.filter);
        let page = page_request(message.page);
        let listed = self.port.messages(&ctx, filter, page).await.map_err(to_status)?;
        Ok(Response::new(pb::MessagesResponse {
            messages: listed.items.iter().map(convert::to_message).collect(),
            page: Some(to_page_info(&listed)),
        }))
    }

    async fn preferences(&self, request: Request<pb::PreferencesRequest>) -> RpcResult<pb::Preferences> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        reply_preferences(async { self.port.preferences(&ctx, uuid(&message.customer_id, "customer_id")?).await }.await)
    }

    async fn set_marketing_opt_out(
        &self,
        request: Request<pb::SetMarketingOptOutRequest>,
    ) -> RpcResult<pb::Preferences> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        reply_preferences(
            async {
                let customer_id = uuid(&message.customer_id, "customer_id")?;
                self.port.set_marketing_opt_out(&ctx, customer_id, message.opt_out).await
            }
            .await,
        )
    }
}
