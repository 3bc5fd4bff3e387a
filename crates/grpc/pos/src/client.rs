//! The `PosPort` of a point-of-sale service running elsewhere: callers holding an
//! `Arc<dyn PosPort>` get the same answers and the same errors as from the module in process.
//!
//! Every rpc is retried when the request never reached the service, because every one lands the
//! same way twice:
//! - reads (stores, scans, sales, returns, receipts) change nothing;
//! - setting a store up writes the same values again;
//! - a sale and a return carry their idempotency key: the module answers a repeated key with the
//!   first sale or return (or resumes it), never charging, refunding or moving stock twice.
//!
//! Ringing up a sale and taking a return call catalog, inventory, payment and billing in turn, so
//! they get a longer deadline than a single call.

use std::time::Duration;

use async_trait::async_trait;
use comptoir_contracts::pos::{
    PosPort, Sale, SaleFilter, ScannedItem, Sell, Store, StoreInput, StoreReturn, TakeReturn,
};
use comptoir_grpc::convert::{all, page};
use comptoir_grpc::{Call, MAX_MESSAGE_BYTES, Remote};
use comptoir_kernel::{Error, Page, PageRequest, RequestContext, Result};
use tonic::transport::Channel;
use uuid::Uuid;

use crate::convert;
use crate::pb;
use crate::pb::pos_service_client::PosServiceClient;

/// A sale or a return waits on several services, each within its own deadline.
const SAGA_DEADLINE: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct PosClient {
    remote: Remote,
}

impl PosClient {
    pub fn new(remote: Remote) -> Self {
        PosClient { remote }
    }
}

fn grpc(channel: Channel) -> PosServiceClient<Channel> {
    PosServiceClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// A reply that does not decode is the service's fault, not the caller's: an internal error rather
/// than the bad request decoding reports on the server side.
fn decoded<T>(result: Result<T>) -> Result<T> {
    result.map_err(|e| Error::internal(format!("the pos service sent a malformed reply: {e}")))
}

#[async_trait]
impl PosPort for PosClient {
    async fn upsert_store(&self, ctx: &RequestContext, input: StoreInput) -> Result<Store> {
        let message = convert::to_store_input(input);
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "UpsertStore", message, |channel, request| async move {
                grpc(channel).upsert_store(request).await
            })
            .await?;
        decoded(convert::store(reply))
    }

    async fn list_stores(&self, ctx: &RequestContext) -> Result<Vec<Store>> {
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "ListStores", pb::ListStoresRequest {}, |channel, request| async move {
                grpc(channel).list_stores(request).await
            })
            .await?;
        decoded(all(reply.stores, convert::store))
    }

    async fn scan(&self, ctx: &RequestContext, location: &str, sku: &str) -> Result<ScannedItem> {
        let message = pb::ScanRequest { location: location.to_string(), sku: sku.to_string() };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "Scan", message, |channel, request| async move {
                grpc(channel).scan(request).await
            })
            .await?;
        decoded(convert::scanned_item(reply))
    }

    async fn sell(&self, ctx: &RequestContext, sell: Sell) -> Result<Sale> {
        let message = convert::to_sell_request(&sell);
        let reply = self
            .remote
            .call_within(ctx, Call::Idempotent, "Sell", message, SAGA_DEADLINE, |channel, request| async move {
                grpc(channel).sell(request).await
            })
            .await?;
        decoded(convert::sale(reply))
    }

    async fn get_sale(&self, ctx: &RequestContext, id: Uuid) -> Result<Sale> {
        let message = pb::GetSaleRequest { id: id.to_string() };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "GetSale", message, |channel, request| async move {
                grpc(channel).get_sale(request).await
            })
            .await?;
        decoded(convert::sale(reply))
    }

    async fn list_sales(
        &self,
        ctx: &RequestContext,
        filter: SaleFilter,
        page_request: PageRequest,
    ) -> Result<Page<Sale>> {
        let message = convert::to_list_sales_request(&filter, &page_request);
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "ListSales", message, |channel, request| async move {
                grpc(channel).list_sales(request).await
            })
            .await?;
        decoded(all(reply.sales, convert::sale).and_then(|sales| page(sales, reply.page)))
    }

    async fn take_return(&self, ctx: &RequestContext, input: TakeReturn) -> Result<StoreReturn> {
        let message = convert::to_take_return_request(&input);
        let reply = self
            .remote
            .call_within(ctx, Call::Idempotent, "TakeReturn", message, SAGA_DEADLINE, |channel, request| async move {
                grpc(channel).take_return(request).await
            })
            .await?;
        decoded(convert::store_return(reply))
    }

    async fn returns_for_sale(&self, ctx: &RequestContext, sale_id: Uuid) -> Result<Vec<StoreReturn>> {
        let message = pb::ReturnsForSaleRequest { sale_id: sale_id.to_string() };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "ReturnsForSale", message, |channel, request| async move {
                grpc(channel).returns_for_sale(request).await
            })
            .await?;
        decoded(all(reply.returns, convert::store_return))
    }

    async fn receipt(&self, ctx: &RequestContext, sale_id: Uuid) -> Result<String> {
        let message = pb::ReceiptRequest { sale_id: sale_id.to_string() };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "Receipt", message, |channel, request| async move {
                grpc(channel).receipt(request).await
            })
            .await?;
        Ok(reply.text)
    }
}
