//! The `InventoryPort` of an inventory service running elsewhere: callers holding an
//! `Arc<dyn InventoryPort>` get the same answers and the same errors as from the module in process.
//!
//! Reads are retried when the request never reached the service; so are the writes the module
//! makes land the same way twice, which the checkout saga relies on:
//! - `reserve` answers the active reservation already held for the same reference (the order id);
//! - committing a committed reservation, or releasing a released or expired one, answers it as is;
//! - a threshold is set, not added to; sweeping expired reservations again finds nothing new;
//! - restocking again with the same reference and SKU puts nothing back twice.
//!
//! Creating a location, receiving and adjusting stock are sent once: a second attempt would count
//! the units twice, or turn a success into a `duplicate-location` conflict.

use async_trait::async_trait;
use comptoir_contracts::inventory::{
    AdjustStock, InventoryPort, Location, Movement, MovementFilter, NewLocation, ReceiveStock, Reservation,
    ReserveStock, RestockUnits, SkuStock,
};
use comptoir_grpc::convert::{all, page, to_page_request};
use comptoir_grpc::{Call, MAX_MESSAGE_BYTES, Remote};
use comptoir_kernel::{Error, Page, PageRequest, RequestContext, Result};
use tonic::transport::Channel;
use uuid::Uuid;

use crate::convert;
use crate::pb;
use crate::pb::inventory_service_client::InventoryServiceClient;

#[derive(Clone)]
pub struct InventoryClient {
    remote: Remote,
}

impl InventoryClient {
    pub fn new(remote: Remote) -> Self {
        InventoryClient { remote }
    }
}

fn grpc(channel: Channel) -> InventoryServiceClient<Channel> {
    InventoryServiceClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// A reply that does not decode is the service's fault, not the caller's: an internal error rather
/// than the bad request decoding reports on the server side.
fn decoded<T>(result: Result<T>) -> Result<T> {
    result.map_err(|e| Error::internal(format!("the inventory service sent a malformed reply: {e}")))
}

#[async_trait]
impl InventoryPort for InventoryClient {
    async fn create_location(&self, ctx: &RequestContext, input: NewLocation) -> Result<Location> {
        let message = convert::to_create_location_request(input);
        let reply = self
            .remote
            .call(ctx, Call::Once, "CreateLocation", message, |channel, request| async move {
                grpc(channel).create_location(request).await
            })
            .await?;
        decoded(convert::location(reply))
    }

    async fn list_locations(&self, ctx: &RequestContext, page_request: PageRequest) -> Result<Page<Location>> {
        let message = pb::ListLocationsRequest { page: Some(to_page_request(&page_request)) };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "ListLocations", message, |channel, request| async move {
                grpc(channel).list_locations(request).await
            })
            .await?;
        decoded(all(reply.locations, convert::location).and_then(|locations| page(locations, reply.page)))
    }

    async fn receive(&self, ctx: &RequestContext, input: ReceiveStock) -> Result<SkuStock> {
        let message = convert::to_receive_request(input);
        let reply = self
            .remote
            .call(ctx, Call::Once, "Receive", message, |channel, request| async move {
                grpc(channel).receive(request).await
            })
            .await?;
        Ok(convert::sku_stock(reply))
    }

    async fn adjust(&self, ctx: &RequestContext, input: AdjustStock) -> Result<SkuStock> {
        let message = convert::to_adjust_request(input);
        let reply =
            self.remote
                .call(ctx, Call::Once, "Adjust", message, |channel, request| async move {
                    grpc(channel).adjust(request).await
                })
                .await?;
        Ok(convert::sku_stock(reply))
    }

    async fn stock(&self, ctx: &RequestContext, sku: &str) -> Result<SkuStock> {
        let message = pb::StockRequest { sku: sku.to_string() };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "Stock", message, |channel, request| async move {
                grpc(channel).stock(request).await
            })
            .await?;
        Ok(convert::sku_stock(reply))
    }

    async fn available(&self, ctx: &RequestContext, skus: &[String]) -> Result<Vec<(String, i64)>> {
        let message = pb::AvailableRequest { skus: skus.to_vec() };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "Available", message, |channel, request| async move {
                grpc(channel).available(request).await
            })
            .await?;
        Ok(convert::available(reply))
    }

    async fn movements(
        &self,
        ctx: &RequestContext,
        filter: MovementFilter,
        page_request: PageRequest,
    ) -> Result<Page<Movement>> {
        let message = convert::to_movements_request(filter, &page_request);
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "Movements", message, |channel, request| async move {
                grpc(channel).movements(request).await
            })
            .await?;
        decoded(all(reply.movements, convert::movement).and_then(|movements| page(movements, reply.page)))
    }

    async fn set_low_stock_threshold(
        &self,
        ctx: &RequestContext,
        sku: &str,
        threshold: Option<i64>,
    ) -> Result<SkuStock> {
        let message = pb::SetLowStockThresholdRequest { sku: sku.to_string(), threshold };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "SetLowStockThreshold", message, |channel, request| async move {
                grpc(channel).set_low_stock_threshold(request).await
            })
            .await?;
        Ok(convert::sku_stock(reply))
    }

    async fn low_stock(&self, ctx: &RequestContext, page_request: PageRequest) -> Result<Page<SkuStock>> {
        let message = pb::LowStockRequest { page: Some(to_page_request(&page_request)) };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "LowStock", message, |channel, request| async move {
                grpc(channel).low_stock(request).await
            })
            .await?;
        decoded(page(reply.skus.into_iter().map(convert::sku_stock).collect(), reply.page))
    }

    async fn reserve(&self, ctx: &RequestContext, input: ReserveStock) -> Result<Reservation> {
        let message = convert::to_reserve_request(input);
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "Reserve", message, |channel, request| async move {
                grpc(channel).reserve(request).await
            })
            .await?;
        decoded(convert::reservation(reply))
    }

    async fn commit_reservation(&self, ctx: &RequestContext, id: Uuid) -> Result<Reservation> {
        let message = pb::CommitReservationRequest { id: id.to_string() };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "CommitReservation", message, |channel, request| async move {
                grpc(channel).commit_reservation(request).await
            })
            .await?;
        decoded(convert::reservation(reply))
    }

    async fn release_reservation(&self, ctx: &RequestContext, id: Uuid) -> Result<Reservation> {
        let message = pb::ReleaseReservationRequest { id: id.to_string() };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "ReleaseReservation", message, |channel, request| async move {
                grpc(channel).release_reservation(request).await
            })
            .await?;
        decoded(convert::reservation(reply))
    }

    async fn get_reservation(&self, ctx: &RequestContext, id: Uuid) -> Result<Reservation> {
        let message = pb::GetReservationRequest { id: id.to_string() };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "GetReservation", message, |channel, request| async move {
                grpc(channel).get_reservation(request).await
            })
            .await?;
        decoded(convert::reservation(reply))
    }

    async fn release_expired(&self, ctx: &RequestContext) -> Result<u64> {
        let reply = self
            .remote
            .call(
                ctx,
                Call::Idempotent,
                "ReleaseExpired",
                pb::ReleaseExpiredRequest {},
                |channel, request| async move { grpc(channel).release_expired(request).await },
            )
            .await?;
        Ok(reply.released)
    }

    async fn restock(&self, ctx: &RequestContext, input: RestockUnits) -> Result<SkuStock> {
        let message = convert::to_restock_request(input);
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "Restock", message, |channel, request| async move {
                grpc(channel).restock(request).await
            })
            .await?;
        Ok(convert::sku_stock(reply))
    }
}
