//! Serves an `InventoryPort` (the module itself) to remote callers: each rpc reads the caller's
//! context from metadata, decodes the message, calls the port and encodes its answer; the port's
//! errors travel as statuses the client turns back into the same errors.

use std::sync::Arc;

use comptoir_contracts::inventory::InventoryPort;
use comptoir_grpc::convert::{page_request, to_page_info, uuid};
use comptoir_grpc::server::{RpcResult, reply};
use comptoir_grpc::{MAX_MESSAGE_BYTES, incoming_context, to_status};
use comptoir_kernel::Result;
use tonic::{Request, Status};

use crate::convert;
use crate::pb;
use crate::pb::inventory_service_server::{InventoryService, InventoryServiceServer};

pub struct InventoryServer {
    port: Arc<dyn InventoryPort>,
}

/// The generated service around `port`, ready to add to a `ServiceSet`.
pub fn service(port: Arc<dyn InventoryPort>) -> InventoryServiceServer<InventoryServer> {
    InventoryServiceServer::new(InventoryServer { port })
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// A value read from the peer's message; malformed, it is a bad request naming the field.
fn decoded<T>(value: Result<T>) -> std::result::Result<T, Status> {
    value.map_err(to_status)
}

#[tonic::async_trait]
impl InventoryService for InventoryServer {
    async fn create_location(&self, request: Request<pb::CreateLocationRequest>) -> RpcResult<pb::Location> {
        let ctx = incoming_context(&request);
        let input = decoded(convert::new_location(request.into_inner()))?;
        reply(self.port.create_location(&ctx, input).await.map(|location| convert::to_location(&location)))
    }

    async fn list_locations(&self, request: Request<pb::ListLocationsRequest>) -> RpcResult<pb::ListLocationsResponse> {
        let ctx = incoming_context(&request);
        let page = page_request(request.into_inner().page);
        reply(self.port.list_locations(&ctx, page).await.map(|page| pb::ListLocationsResponse {
            locations: page.items.iter().map(convert::to_location).collect(),
            page: Some(to_page_info(&page)),
        }))
    }

    async fn receive(&self, request: Request<pb::ReceiveRequest>) -> RpcResult<pb::SkuStock> {
        let ctx = incoming_context(&request);
        let input = convert::receive_stock(request.into_inner());
        reply(self.port.receive(&ctx, input).await.map(|stock| convert::to_sku_stock(&stock)))
    }

    async fn adjust(&self, request: Request<pb::AdjustRequest>) -> RpcResult<pb::SkuStock> {
        let ctx = incoming_context(&request);
        let input = convert::adjust_stock(request.into_inner());
        reply(self.port.adjust(&ctx, input).await.map(|stock| convert::to_sku_stock(&stock)))
    }

    async fn stock(&self, request: Request<pb::StockRequest>) -> RpcResult<pb::SkuStock> {
        let ctx = incoming_context(&request);
        let sku = request.into_inner().sku;
        reply(self.port.stock(&ctx, &sku).await.map(|stock| convert::to_sku_stock(&stock)))
    }

    async fn available(&self, request: Request<pb::AvailableRequest>) -> RpcResult<pb::AvailableResponse> {
        let ctx = incoming_context(&request);
        let skus = request.into_inner().skus;
        reply(self.port.available(&ctx, &skus).await.map(convert::to_available_response))
    }

    async fn movements(&self, request: Request<pb::MovementsRequest>) -> RpcResult<pb::MovementsResponse> {
        let ctx = incoming_context(&request);
        let (filter, page) = convert::movements_query(request.into_inner());
        reply(self.port.movements(&ctx, filter, page).await.map(|page| pb::MovementsResponse {
            movements: page.items.iter().map(convert::to_movement).collect(),
            page: Some(to_page_info(&page)),
        }))
    }

    async fn set_low_stock_threshold(
        &self,
        request: Request<pb::SetLowStockThresholdRequest>,
    ) -> RpcResult<pb::SkuStock> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        let stock = self.port.set_low_stock_threshold(&ctx, &message.sku, message.threshold).await;
        reply(stock.map(|stock| convert::to_sku_stock(&stock)))
    }

    async fn low_stock(&self, request: Request<pb::LowStockRequest>) -> RpcResult<pb::LowStockResponse> {
        let ctx = incoming_context(&request);
        let page = page_request(request.into_inner().page);
        reply(self.port.low_stock(&ctx, page).await.map(|page| pb::LowStockResponse {
            skus: page.items.iter().map(convert::to_sku_stock).collect(),
            page: Some(to_page_info(&page)),
        }))
    }

    async fn reserve(&self, request: Request<pb::ReserveRequest>) -> RpcResult<pb::Reservation> {
        let ctx = incoming_context(&request);
        let input = convert::reserve_stock(request.into_inner());
        reply(self.port.reserve(&ctx, input).await.map(|r| convert::to_reservation(&r)))
    }

    async fn commit_reservation(&self, request: Request<pb::CommitReservationRequest>) -> RpcResult<pb::Reservation> {
        let ctx = incoming_context(&request);
        let id = decoded(uuid(&request.into_inner().id, "id"))?;
        reply(self.port.commit_reservation(&ctx, id).await.map(|r| convert::to_reservation(&r)))
    }

    async fn release_reservation(&self, request: Request<pb::ReleaseReservationRequest>) -> RpcResult<pb::Reservation> {
        let ctx = incoming_context(&request);
        let id = decoded(uuid(&request.into_inner().id, "id"))?;
        reply(self.port.release_reservation(&ctx, id).await.map(|r| convert::to_reservation(&r)))
    }

    async fn get_reservation(&self, request: Request<pb::GetReservationRequest>) -> RpcResult<pb::Reservation> {
        let ctx = incoming_context(&request);
        let id = decoded(uuid(&request.into_inner().id, "id"))?;
        reply(self.port.get_reservation(&ctx, id).await.map(|r| convert::to_reservation(&r)))
    }

    async fn restock(&self, request: Request<pb::RestockRequest>) -> RpcResult<pb::SkuStock> {
        let ctx = incoming_context(&request);
        let input = convert::restock_units(request.into_inner());
        reply(self.port.restock(&ctx, input).await.map(|stock| convert::to_sku_stock(&stock)))
    }

    async fn release_expired(
        &self,
        request: Request<pb::ReleaseExpiredRequest>,
    ) -> RpcResult<pb::ReleaseExpiredResponse> {
        let ctx = incoming_context(&request);
        reply(self.port.release_expired(&ctx).await.map(|released| pb::ReleaseExpiredResponse { released }))
    }
}
