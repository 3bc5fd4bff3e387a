//! Serves a `CartPort` (the module itself) to remote callers: each rpc reads the caller's context
//! from metadata, decodes the message, calls the port and encodes its answer; the port's errors
//! travel as statuses the client turns back into the same errors.

use std::sync::Arc;

use comptoir_contracts::cart::CartPort;
use comptoir_grpc::convert::{optional_uuid, uuid};
use comptoir_grpc::server::RpcResult;
use comptoir_grpc::{MAX_MESSAGE_BYTES, incoming_context};
use comptoir_kernel::Result;
use tonic::Request;

use crate::convert;
use crate::pb;
use crate::pb::cart_service_server::{CartService, CartServiceServer};

pub struct CartServer {
    port: Arc<dyn CartPort>,
}

/// The generated service around `port`, ready to add to a `ServiceSet`.
pub fn service(port: Arc<dyn CartPort>) -> CartServiceServer<CartServer> {
    CartServiceServer::new(CartServer { port })
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// The port's answer encoded as the rpc's reply, its error as a status.
fn reply<T, M>(result: Result<T>, encode: impl FnOnce(&T) -> M) -> RpcResult<M> {
    comptoir_grpc::server::reply(result.map(|answer| encode(&answer)))
}

#[tonic::async_trait]
impl CartService for CartServer {
    async fn create_cart(&self, request: Request<pb::CreateCartRequest>) -> RpcResult<pb::Cart> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        reply(
            async {
                let customer_id = optional_uuid(message.customer_id.as_deref(), "customer_id")?;
                let input = convert::new_cart(message.cart)?;
                self.port.create_cart(&ctx, customer_id, input).await
            }
            .await,
            convert::to_cart,
        )
    }

    async fn get_cart(&self, request: Request<pb::GetCartRequest>) -> RpcResult<pb::Cart> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        reply(
            async {
                let id = uuid(&message.cart_id, "cart_id")?;
                let access = convert::access(message.access)?;
                self.port.get_cart(&ctx, id, &access).await
            }
            .await,
            convert::to_cart,
        )
    }

    async fn customer_cart(&self, request: Request<pb::CustomerCartRequest>) -> RpcResult<pb::CustomerCartResponse> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        let found = async {
            let customer_id = uuid(&message.customer_id, "customer_id")?;
            self.port.customer_cart(&ctx, customer_id).await
        }
        .await;
        reply(found, |cart| pb::CustomerCartResponse { cart: cart.as_ref().map(convert::to_cart) })
    }

    async fn add_line(&self, request: Request<pb::AddLineRequest>) -> RpcResult<pb::Cart> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        reply(
            async {
                let id = uuid(&message.cart_id, "cart_id")?;
                let access = convert::access(message.access)?;
                let input = convert::add_line(message.line)?;
                self.port.add_line(&ctx, id, &access, input).await
            }
            .await,
            convert::to_cart,
        )
    }

    async fn set_quantity(&self, request: Request<pb::SetQuantityRequest>) -> RpcResult<pb::Cart> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        reply(
            async {
                let id = uuid(&message.cart_id, "cart_id")?;
                let access = convert::access(message.access)?;
                let input = convert::set_quantity(message.input)?;
                self.port.set_quantity(&ctx, id, &access, &message.sku, input).await
            }
            .await,
            convert::to_cart,
        )
    }

    async fn remove_line(&self, request: Request<pb::RemoveLineRequest>) -> RpcResult<pb::Cart> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        reply(
            async {
                let id = uuid(&message.cart_id, "cart_id")?;
                let access = convert::access(message.access)?;
                self.port.remove_line(&ctx, id, &access, &message.sku).await
            }
            .await,
            convert::to_cart,
        )
    }

    async fn merge(&self, request: Request<pb::MergeRequest>) -> RpcResult<pb::Cart> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        reply(
            async {
                let anonymous_cart_id = uuid(&message.anonymous_cart_id, "anonymous_cart_id")?;
                let customer_id = uuid(&message.customer_id, "customer_id")?;
                self.port.merge(&ctx, anonymous_cart_id, &message.token, customer_id).await
            }
            .await,
            convert::to_cart,
        )
    }
}
