//! The [`OrderingPort`] of a remote ordering service. Reads and checkouts may be retried (a checkout
//! is de-duplicated by its customer and idempotency key); cancellations, refunds and returns are
//! sent at most once, because a second one is not answered like the first.

use async_trait::async_trait;
use comptoir_contracts::cart::CartAccess;
use comptoir_contracts::ordering::{
    CancelInput, CartEstimate, Checkout, DailySales, EstimateRequest, Order, OrderAccess, OrderFilter, OrderReturn,
    OrderingPort, RefundInput, ReturnInput, SalesQuery,
};
use comptoir_grpc::convert::{all, money, page, to_page_request, to_timestamp};
use comptoir_grpc::{Call, MAX_MESSAGE_BYTES, Remote};
use comptoir_kernel::{Page, PageRequest, RequestContext, Result};
use tonic::transport::Channel;
use uuid::Uuid;

use crate::convert;
use crate::pb;
use crate::pb::ordering_service_client::OrderingServiceClient;

pub struct OrderingClient {
    remote: Remote,
}

impl OrderingClient {
    pub fn new(remote: Remote) -> Self {
        OrderingClient { remote }
    }
}

/// The generated client on `channel`, accepting Comptoir's largest messages.
fn grpc(channel: Channel) -> OrderingServiceClient<Channel> {
    OrderingServiceClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

#[async_trait]
impl OrderingPort for OrderingClient {
    async fn estimate(
        &self,
        ctx: &RequestContext,
        cart_id: Uuid,
        access: &CartAccess,
        request: EstimateRequest,
    ) -> Result<CartEstimate> {
        let message = convert::to_estimate_request(cart_id, access, request);
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "Estimate", message, |channel, request| async move {
                grpc(channel).estimate(request).await
            })
            .await?;
        convert::estimate(reply)
    }

    /// Idempotent: the module answers a repeated customer + idempotency key with the first order
    /// (or the refusal it remembered), never placing or charging twice.
    async fn checkout(&self, ctx: &RequestContext, checkout: Checkout) -> Result<Order> {
        let message = convert::to_checkout_request(checkout);
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "Checkout", message, |channel, request| async move {
                grpc(channel).checkout(request).await
            })
            .await?;
        convert::order(reply)
    }

    async fn get_order(&self, ctx: &RequestContext, id: Uuid, access: OrderAccess) -> Result<Order> {
        let message = pb::GetOrderRequest { id: id.to_string(), access: Some(convert::to_order_access(access)) };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "GetOrder", message, |channel, request| async move {
                grpc(channel).get_order(request).await
            })
            .await?;
        convert::order(reply)
    }

    async fn customer_orders(
        &self,
        ctx: &RequestContext,
        customer_id: Uuid,
        page_request: PageRequest,
    ) -> Result<Page<Order>> {
        let message = pb::CustomerOrdersRequest {
            customer_id: customer_id.to_string(),
            page: Some(to_page_request(&page_request)),
        };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "CustomerOrders", message, |channel, request| async move {
                grpc(channel).customer_orders(request).await
            })
            .await?;
        page(convert::orders(reply.orders)?, reply.page)
    }

    async fn search_orders(
        &self,
        ctx: &RequestContext,
        filter: OrderFilter,
        page_request: PageRequest,
    ) -> Result<Page<Order>> {
        let message = pb::SearchOrdersRequest {
            filter: Some(convert::to_filter(filter)),
            page: Some(to_page_request(&page_request)),
        };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "SearchOrders", message, |channel, request| async move {
                grpc(channel).search_orders(request).await
            })
            .await?;
        page(convert::orders(reply.orders)?, reply.page)
    }

    /// Once: a repeated cancellation is refused (the order is already cancelled).
    async fn cancel(&self, ctx: &RequestContext, id: Uuid, access: OrderAccess, input: CancelInput) -> Result<Order> {
        let message = convert::to_cancel_request(id, access, input);
        let reply =
            self.remote
                .call(ctx, Call::Once, "Cancel", message, |channel, request| async move {
                    grpc(channel).cancel(request).await
                })
                .await?;
        convert::order(reply)
    }

    /// Once: each refund the order records is a new one; a resent request would refund again.
    async fn refund(&self, ctx: &RequestContext, id: Uuid, input: RefundInput) -> Result<Order> {
        let message = convert::to_refund_request(id, input);
        let reply =
            self.remote
                .call(ctx, Call::Once, "Refund", message, |channel, request| async move {
                    grpc(channel).refund(request).await
                })
                .await?;
        convert::order(reply)
    }

    /// Once: every request opens a new return.
    async fn request_return(
        &self,
        ctx: &RequestContext,
        id: Uuid,
        access: OrderAccess,
        input: ReturnInput,
    ) -> Result<OrderReturn> {
        let message = convert::to_request_return_request(id, access, input);
        let reply = self
            .remote
            .call(ctx, Call::Once, "RequestReturn", message, |channel, request| async move {
                grpc(channel).request_return(request).await
            })
            .await?;
        convert::order_return(reply)
    }

    /// Once: a return received twice is refused the second time.
    async fn receive_return(&self, ctx: &RequestContext, return_id: Uuid) -> Result<OrderReturn> {
        let message = pb::ReceiveReturnRequest { return_id: return_id.to_string() };
        let reply = self
            .remote
            .call(ctx, Call::Once, "ReceiveReturn", message, |channel, request| async move {
                grpc(channel).receive_return(request).await
            })
            .await?;
        convert::order_return(reply)
    }

    async fn returns_for_order(&self, ctx: &RequestContext, id: Uuid, access: OrderAccess) -> Result<Vec<OrderReturn>> {
        let message = pb::ReturnsForOrderRequest { id: id.to_string(), access: Some(convert::to_order_access(access)) };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "ReturnsForOrder", message, |channel, request| async move {
                grpc(channel).returns_for_order(request).await
            })
            .await?;
        all(reply.returns, convert::order_return)
    }

    async fn daily_sales(&self, ctx: &RequestContext, query: SalesQuery) -> Result<Vec<DailySales>> {
        let message = pb::DailySalesRequest {
            from: Some(to_timestamp(&query.from)),
            to: Some(to_timestamp(&query.to)),
            channel: query.channel,
        };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "DailySales", message, |channel, request| async move {
                grpc(channel).daily_sales(request).await
            })
            .await?;
        all(reply.days, |day| {
            Ok(DailySales {
                gross: money(day.gross, "gross")?,
                refunded: money(day.refunded, "refunded")?,
                day: day.day,
                channel: day.channel,
                orders: day.orders,
                cancelled: day.cancelled,
            })
        })
    }
}
