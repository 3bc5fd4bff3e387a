//! The `CartPort` of a cart service running elsewhere: callers holding an `Arc<dyn CartPort>` get
//! the same answers and the same errors as from the module in process.
//!
//! Reads are retried when the request never reached the service, and so are the writes that land
//! the same way twice: a customer's cart creation answers their existing active cart, setting a
//! quantity sets an absolute value, and the module answers a repeated merge with the cart it went
//! into. Creating an anonymous cart (a second cart and token), adding units (they would add up)
//! and removing a line (the second attempt finds no line: 404) are sent once.

use async_trait::async_trait;
use comptoir_contracts::cart::{AddLine, Cart, CartAccess, CartPort, NewCart, SetQuantity};
use comptoir_grpc::{Call, MAX_MESSAGE_BYTES, Remote};
use comptoir_kernel::{Error, RequestContext, Result};
use tonic::transport::Channel;
use uuid::Uuid;

use crate::convert;
use crate::pb;
use crate::pb::cart_service_client::CartServiceClient;

#[derive(Clone)]
pub struct CartClient {
    remote: Remote,
}

impl CartClient {
    pub fn new(remote: Remote) -> Self {
        CartClient { remote }
    }
}

fn grpc(channel: Channel) -> CartServiceClient<Channel> {
    CartServiceClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// A reply that does not decode is the service's fault, not the caller's: an internal error rather
/// than the bad request decoding reports on the server side.
fn decoded<T>(result: Result<T>) -> Result<T> {
    result.map_err(|e| Error::internal(format!("the cart service sent a malformed reply: {e}")))
}

#[async_trait]
impl CartPort for CartClient {
    async fn create_cart(&self, ctx: &RequestContext, customer_id: Option<Uuid>, input: NewCart) -> Result<Cart> {
        // A customer gets their active cart back when asked again; an anonymous cart is new each time.
        let kind = if customer_id.is_some() { Call::Idempotent } else { Call::Once };
        let message = pb::CreateCartRequest {
            customer_id: customer_id.map(|id| id.to_string()),
            cart: Some(convert::to_new_cart(input)),
        };
        let reply = self
            .remote
            .call(ctx, kind, "CreateCart", message, |channel, request| async move {
                grpc(channel).create_cart(request).await
            })
            .await?;
        decoded(convert::cart(reply))
    }

    async fn get_cart(&self, ctx: &RequestContext, id: Uuid, access: &CartAccess) -> Result<Cart> {
        let message = pb::GetCartRequest { cart_id: id.to_string(), access: Some(convert::to_access(access)) };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "GetCart", message, |channel, request| async move {
                grpc(channel).get_cart(request).await
            })
            .await?;
        decoded(convert::cart(reply))
    }

    async fn customer_cart(&self, ctx: &RequestContext, customer_id: Uuid) -> Result<Option<Cart>> {
        let message = pb::CustomerCartRequest { customer_id: customer_id.to_string() };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "CustomerCart", message, |channel, request| async move {
                grpc(channel).customer_cart(request).await
            })
            .await?;
        decoded(convert::optional_cart(reply.cart))
    }

    async fn add_line(&self, ctx: &RequestContext, id: Uuid, access: &CartAccess, input: AddLine) -> Result<Cart> {
        let message = pb::AddLineRequest {
            cart_id: id.to_string(),
            access: Some(convert::to_access(access)),
            line: Some(convert::to_add_line(input)),
        };
        let reply = self
            .remote
            .call(ctx, Call::Once, "AddLine", message, |channel, request| async move {
                grpc(channel).add_line(request).await
            })
            .await?;
        decoded(convert::cart(reply))
    }

    async fn set_quantity(
        &self,
        ctx: &RequestContext,
        id: Uuid,
        access: &CartAccess,
        sku: &str,
        input: SetQuantity,
    ) -> Result<Cart> {
        let message = pb::SetQuantityRequest {
            cart_id: id.to_string(),
            access: Some(convert::to_access(access)),
            sku: sku.to_string(),
            input: Some(convert::to_set_quantity(input)),
        };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "SetQuantity", message, |channel, request| async move {
                grpc(channel).set_quantity(request).await
            })
            .await?;
        decoded(convert::cart(reply))
    }

    async fn remove_line(&self, ctx: &RequestContext, id: Uuid, access: &CartAccess, sku: &str) -> Result<Cart> {
        let message = pb::RemoveLineRequest {
            cart_id: id.to_string(),
            access: Some(convert::to_access(access)),
            sku: sku.to_string(),
        };
        let reply = self
            .remote
            .call(ctx, Call::Once, "RemoveLine", message, |channel, request| async move {
                grpc(channel).remove_line(request).await
            })
            .await?;
        decoded(convert::cart(reply))
    }

    async fn merge(
        &self,
        ctx: &RequestContext,
        anonymous_cart_id: Uuid,
        token: &str,
        customer_id: Uuid,
    ) -> Result<Cart> {
        let message = pb::MergeRequest {
            anonymous_cart_id: anonymous_cart_id.to_string(),
            token: token.to_string(),
            customer_id: customer_id.to_string(),
        };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "Merge", message, |channel, request| async move {
                grpc(channel).merge(request).await
            })
            .await?;
        decoded(convert::cart(reply))
    }
}
