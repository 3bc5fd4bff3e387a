//! Serves a `PosPort` (the module itself) to remote callers: each rpc reads the caller's context
//! from metadata, decodes the message (a bad request if it is malformed), calls the port and
//! encodes its answer; the port's errors travel as statuses the client turns back into the same
//! errors.

use std::sync::Arc;

use comptoir_contracts::pos::PosPort;
use comptoir_grpc::convert::uuid;
use comptoir_grpc::server::{RpcResult, reply};
use comptoir_grpc::{MAX_MESSAGE_BYTES, incoming_context, to_status};
use comptoir_kernel::Result;
use tonic::{Request, Status};

use crate::convert;
use crate::pb;
use crate::pb::pos_service_server::{PosService, PosServiceServer};

pub struct PosServer {
    port: Arc<dyn PosPort>,
}

/// The generated service around `port`, ready to add to a `ServiceSet`.
pub fn service(port: Arc<dyn PosPort>) -> PosServiceServer<PosServer> {
    PosServiceServer::new(PosServer { port })
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// A request that does not decode is answered as the bad request it is, before the port is called.
fn decoded<T>(value: Result<T>) -> std::result::Result<T, Status> {
    value.map_err(to_status)
}

#[tonic::async_trait]
impl PosService for PosServer {
    async fn upsert_store(&self, request: Request<pb::StoreInput>) -> RpcResult<pb::Store> {
        let ctx = incoming_context(&request);
        let input = decoded(convert::store_input(request.into_inner()))?;
        reply(self.port.upsert_store(&ctx, input).await.map(|store| convert::to_store(&store)))
    }

    async fn list_stores(&self, request: Request<pb::ListStoresRequest>) -> RpcResult<pb::StoreList> {
        let ctx = incoming_context(&request);
        let stores = self.port.list_stores(&ctx).await;
        reply(stores.map(|stores| pb::StoreList { stores: stores.iter().map(convert::to_store).collect() }))
    }

    async fn scan(&self, request: Request<pb::ScanRequest>) -> RpcResult<pb::ScannedItem> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        let item = self.port.scan(&ctx, &message.location, &message.sku).await;
        reply(item.map(|item| convert::to_scanned_item(&item)))
    }

    async fn sell(&self, request: Request<pb::SellRequest>) -> RpcResult<pb::Sale> {
        let ctx = incoming_context(&request);
        let sell = decoded(convert::sell(request.into_inner()))?;
        reply(self.port.sell(&ctx, sell).await.map(|sale| convert::to_sale(&sale)))
    }

    async fn get_sale(&self, request: Request<pb::GetSaleRequest>) -> RpcResult<pb::Sale> {
        let ctx = incoming_context(&request);
        let id = decoded(uuid(&request.into_inner().id, "id"))?;
        reply(self.port.get_sale(&ctx, id).await.map(|sale| convert::to_sale(&sale)))
    }

    async fn list_sales(&self, request: Request<pb::ListSalesRequest>) -> RpcResult<pb::ListSalesResponse> {
        let ctx = incoming_context(&request);
        let (filter, page) = decoded(convert::list_sales_query(request.into_inner()))?;
        reply(self.port.list_sales(&ctx, filter, page).await.map(|page| pb::ListSalesResponse {
            sales: page.items.iter().map(convert::to_sale).collect(),
            page: Some(comptoir_grpc::convert::to_page_info(&page)),
        }))
    }

    async fn take_return(&self, request: Request<pb::TakeReturnRequest>) -> RpcResult<pb::StoreReturn> {
        let ctx = incoming_context(&request);
        let take = decoded(convert::take_return(request.into_inner()))?;
        reply(self.port.take_return(&ctx, take).await.map(|r| convert::to_store_return(&r)))
    }

    async fn returns_for_sale(&self, request: Request<pb::ReturnsForSaleRequest>) -> RpcResult<pb::StoreReturnList> {
        let ctx = incoming_context(&request);
        let sale_id = decoded(uuid(&request.into_inner().sale_id, "sale_id"))?;
        let returns = self.port.returns_for_sale(&ctx, sale_id).await;
        reply(
            returns
                .map(|returns| pb::StoreReturnList { returns: returns.iter().map(convert::to_store_return).collect() }),
        )
    }

    async fn receipt(&self, request: Request<pb::ReceiptRequest>) -> RpcResult<pb::ReceiptText> {
        let ctx = incoming_context(&request);
        let sale_id = decoded(uuid(&request.into_inner().sale_id, "sale_id"))?;
        reply(self.port.receipt(&ctx, sale_id).await.map(|text| pb::ReceiptText { text }))
    }
}
