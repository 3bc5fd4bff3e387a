//! Exposes an [`OrderingPort`] (the module, in its own process) as `comptoir.ordering.v1.OrderingService`.

use std::sync::Arc;

use comptoir_contracts::ordering::{Order, OrderingPort, SalesQuery};
use comptoir_grpc::convert::{page_request, timestamp, to_money, to_page_info, uuid};
use comptoir_grpc::pb::PageInfo;
use comptoir_grpc::{MAX_MESSAGE_BYTES, incoming_context, to_status};
use comptoir_kernel::{Page, Result};
use tonic::{Request, Response, Status};

use crate::convert;
use crate::pb;
use crate::pb::ordering_service_server::{OrderingService, OrderingServiceServer};

pub struct OrderingServer {
    port: Arc<dyn OrderingPort>,
}

/// The generated service around `port`, with Comptoir's message size limits.
pub fn service(port: Arc<dyn OrderingPort>) -> OrderingServiceServer<OrderingServer> {
    OrderingServiceServer::new(OrderingServer { port })
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// The answer to send: the encoded value, or the error as a status carrying its detail.
fn reply<T, M>(result: Result<T>, encode: impl FnOnce(T) -> M) -> comptoir_grpc::server::RpcResult<M> {
    comptoir_grpc::server::reply(result.map(encode))
}

/// A page of orders as its encoded items and its position.
fn order_page(page: Page<Order>) -> (Vec<pb::Order>, Option<PageInfo>) {
    let info = Some(to_page_info(&page));
    (page.items.into_iter().map(convert::to_order).collect(), info)
}

#[tonic::async_trait]
impl OrderingService for OrderingServer {
    async fn estimate(&self, request: Request<pb::EstimateRequest>) -> Result<Response<pb::CartEstimate>, Status> {
        let ctx = incoming_context(&request);
        let (cart_id, access, input) = convert::estimate_request(request.into_inner()).map_err(to_status)?;
        reply(self.port.estimate(&ctx, cart_id, &access, input).await, convert::to_estimate)
    }

    async fn checkout(&self, request: Request<pb::CheckoutRequest>) -> Result<Response<pb::Order>, Status> {
        let ctx = incoming_context(&request);
        let checkout = convert::checkout(request.into_inner()).map_err(to_status)?;
        reply(self.port.checkout(&ctx, checkout).await, convert::to_order)
    }

    async fn get_order(&self, request: Request<pb::GetOrderRequest>) -> Result<Response<pb::Order>, Status> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        let id = uuid(&message.id, "id").map_err(to_status)?;
        let access = convert::order_access(message.access).map_err(to_status)?;
        reply(self.port.get_order(&ctx, id, access).await, convert::to_order)
    }

    async fn customer_orders(
        &self,
        request: Request<pb::CustomerOrdersRequest>,
    ) -> Result<Response<pb::CustomerOrdersResponse>, Status> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        let customer_id = uuid(&message.customer_id, "customer_id").map_err(to_status)?;
        let result = self.port.customer_orders(&ctx, customer_id, page_request(message.page)).await;
        reply(result, |page| {
            let (orders, page) = order_page(page);
            pb::CustomerOrdersResponse { orders, page }
        })
    }

    async fn search_orders(
        &self,
        request: Request<pb::SearchOrdersRequest>,
    ) -> Result<Response<pb::SearchOrdersResponse>, Status> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        let filter = convert::filter(message.filter).map_err(to_status)?;
        let result = self.port.search_orders(&ctx, filter, page_request(message.page)).await;
        reply(result, |page| {
            let (orders, page) = order_page(page);
            pb::SearchOrdersResponse { orders, page }
        })
    }

    async fn cancel(&self, request: Request<pb::CancelRequest>) -> Result<Response<pb::Order>, Status> {
        let ctx = incoming_context(&request);
        let (id, access, input) = convert::cancel_request(request.into_inner()).map_err(to_status)?;
        reply(self.port.cancel(&ctx, id, access, input).await, convert::to_order)
    }

    async fn refund(&self, request: Request<pb::RefundRequest>) -> Result<Response<pb::Order>, Status> {
        let ctx = incoming_context(&request);
        let (id, input) = convert::refund_request(request.into_inner()).map_err(to_status)?;
        reply(self.port.refund(&ctx, id, input).await, convert::to_order)
    }

    async fn request_return(
        &self,
        request: Request<pb::RequestReturnRequest>,
    ) -> Result<Response<pb::OrderReturn>, Status> {
        let ctx = incoming_context(&request);
        let (id, access, input) = convert::request_return_request(request.into_inner()).map_err(to_status)?;
        reply(self.port.request_return(&ctx, id, access, input).await, convert::to_order_return)
    }

    async fn receive_return(
        &self,
        request: Request<pb::ReceiveReturnRequest>,
    ) -> Result<Response<pb::OrderReturn>, Status> {
        let ctx = incoming_context(&request);
        let return_id = uuid(&request.get_ref().return_id, "return_id").map_err(to_status)?;
        reply(self.port.receive_return(&ctx, return_id).await, convert::to_order_return)
    }

    async fn returns_for_order(
        &self,
        request: Request<pb::ReturnsForOrderRequest>,
    ) -> Result<Response<pb::ReturnsForOrderResponse>, Status> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        let id = uuid(&message.id, "id").map_err(to_status)?;
        let access = convert::order_access(message.access).map_err(to_status)?;
        reply(self.port.returns_for_order(&ctx, id, access).await, |returns| pb::ReturnsForOrderResponse {
            returns: returns.into_iter().map(convert::to_order_return).collect(),
        })
    }

    async fn daily_sales(
        &self,
        request: Request<pb::DailySalesRequest>,
    ) -> Result<Response<pb::DailySalesResponse>, Status> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        let query = SalesQuery {
            from: timestamp(message.from, "from").map_err(to_status)?,
            to: timestamp(message.to, "to").map_err(to_status)?,
            channel: message.channel,
        };
        reply(self.port.daily_sales(&ctx, query).await, |days| pb::DailySalesResponse {
            days: days
                .into_iter()
                .map(|d| pb::DailySales {
                    day: d.day,
                    channel: d.channel,
                    orders: d.orders,
                    gross: Some(to_money(&d.gross)),
                    refunded: Some(to_money(&d.refunded)),
                    cancelled: d.cancelled,
                })
                .collect(),
        })
    }
}
