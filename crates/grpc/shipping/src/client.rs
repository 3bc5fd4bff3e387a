//! The `ShippingPort` of a shipping service running elsewhere: callers holding an
//! `Arc<dyn ShippingPort>` get the same answers and the same errors as from the module in process.
//!
//! Reads are retried when the request never reached the service; so are the writes that land the
//! same way twice: activating a method sets a flag, and the module applies a carrier event once by
//! its id. Creating zones or methods and staff tracking are sent once: a second attempt would
//! create a second zone, or turn a success into a conflict.

use async_trait::async_trait;
use comptoir_contracts::shipping::{
    NewShippingMethod, NewZone, Quote, QuoteRequest, Shipment, ShippingMethod, ShippingPort, TrackingUpdate, Zone,
};
use comptoir_grpc::convert::{all, page, to_page_request};
use comptoir_grpc::{Call, MAX_MESSAGE_BYTES, Remote};
use comptoir_kernel::{Error, Page, PageRequest, RequestContext, Result};
use tonic::transport::Channel;
use uuid::Uuid;

use crate::convert;
use crate::pb;
use crate::pb::shipping_service_client::ShippingServiceClient;

#[derive(Clone)]
pub struct ShippingClient {
    remote: Remote,
}

impl ShippingClient {
    pub fn new(remote: Remote) -> Self {
        ShippingClient { remote }
    }
}

fn grpc(channel: Channel) -> ShippingServiceClient<Channel> {
    ShippingServiceClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// A reply that does not decode is the service's fault, not the caller's: an internal error rather
/// than the bad request decoding reports on the server side.
fn decoded<T>(result: Result<T>) -> Result<T> {
    result.map_err(|e| Error::internal(format!("the shipping service sent a malformed reply: {e}")))
}

#[async_trait]
impl ShippingPort for ShippingClient {
    async fn create_zone(&self, ctx: &RequestContext, input: NewZone) -> Result<Zone> {
        let message = convert::to_create_zone_request(input);
        let reply = self
            .remote
            .call(ctx, Call::Once, "CreateZone", message, |channel, request| async move {
                grpc(channel).create_zone(request).await
            })
            .await?;
        decoded(convert::zone(reply))
    }

    async fn list_zones(&self, ctx: &RequestContext, page_request: PageRequest) -> Result<Page<Zone>> {
        let message = pb::ListZonesRequest { page: Some(to_page_request(&page_request)) };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "ListZones", message, |channel, request| async move {
                grpc(channel).list_zones(request).await
            })
            .await?;
        decoded(all(reply.zones, convert::zone).and_then(|zones| page(zones, reply.page)))
    }

    async fn create_method(&self, ctx: &RequestContext, input: NewShippingMethod) -> Result<ShippingMethod> {
        let message = convert::to_create_method_request(input);
        let reply = self
            .remote
            .call(ctx, Call::Once, "CreateMethod", message, |channel, request| async move {
                grpc(channel).create_method(request).await
            })
            .await?;
        decoded(convert::method(reply))
    }

    async fn list_methods(&self, ctx: &RequestContext, page_request: PageRequest) -> Result<Page<ShippingMethod>> {
        let message = pb::ListMethodsRequest { page: Some(to_page_request(&page_request)) };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "ListMethods", message, |channel, request| async move {
                grpc(channel).list_methods(request).await
            })
            .await?;
        decoded(all(reply.methods, convert::method).and_then(|methods| page(methods, reply.page)))
    }

    async fn set_method_active(&self, ctx: &RequestContext, code: &str, active: bool) -> Result<ShippingMethod> {
        // Sets the flag rather than toggling it: a second attempt leaves the method as the first did.
        let message = pb::SetMethodActiveRequest { code: code.to_string(), active };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "SetMethodActive", message, |channel, request| async move {
                grpc(channel).set_method_active(request).await
            })
            .await?;
        decoded(convert::method(reply))
    }

    async fn quotes(&self, ctx: &RequestContext, request: QuoteRequest) -> Result<Vec<Quote>> {
        let message = pb::QuotesRequest { query: Some(convert::to_quote_query(request)) };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "Quotes", message, |channel, request| async move {
                grpc(channel).quotes(request).await
            })
            .await?;
        decoded(all(reply.quotes, convert::quote))
    }

    async fn quote(&self, ctx: &RequestContext, method: &str, request: QuoteRequest) -> Result<Quote> {
        let message = pb::QuoteRequest { method: method.to_string(), query: Some(convert::to_quote_query(request)) };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "Quote", message, |channel, request| async move {
                grpc(channel).quote(request).await
            })
            .await?;
        decoded(convert::quote(reply))
    }

    async fn shipment_for_order(&self, ctx: &RequestContext, order_id: Uuid) -> Result<Shipment> {
        let message = pb::ShipmentForOrderRequest { order_id: order_id.to_string() };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "ShipmentForOrder", message, |channel, request| async move {
                grpc(channel).shipment_for_order(request).await
            })
            .await?;
        decoded(convert::shipment(reply))
    }

    async fn list_shipments(&self, ctx: &RequestContext, page_request: PageRequest) -> Result<Page<Shipment>> {
        let message = pb::ListShipmentsRequest { page: Some(to_page_request(&page_request)) };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "ListShipments", message, |channel, request| async move {
                grpc(channel).list_shipments(request).await
            })
            .await?;
        decoded(all(reply.shipments, convert::shipment).and_then(|shipments| page(shipments, reply.page)))
    }

    async fn track(&self, ctx: &RequestContext, shipment_id: Uuid, update: TrackingUpdate) -> Result<Shipment> {
        let message = pb::TrackRequest {
            shipment_id: shipment_id.to_string(),
            update: Some(convert::to_tracking_update(update)),
        };
        let reply =
            self.remote
                .call(ctx, Call::Once, "Track", message, |channel, request| async move {
                    grpc(channel).track(request).await
                })
                .await?;
        decoded(convert::shipment(reply))
    }

    async fn carrier_webhook(&self, ctx: &RequestContext, carrier: &str, signature: &str, body: &[u8]) -> Result<()> {
        // The module records each carrier event id it applied: a second delivery changes nothing.
        let message = pb::CarrierWebhookRequest {
            carrier: carrier.to_string(),
            signature: signature.to_string(),
            body: body.to_vec(),
        };
        self.remote
            .call(ctx, Call::Idempotent, "CarrierWebhook", message, |channel, request| async move {
                grpc(channel).carrier_webhook(request).await
            })
            .await?;
        Ok(())
    }

    async fn label_pdf(&self, ctx: &RequestContext, shipment_id: Uuid) -> Result<Vec<u8>> {
        let message = pb::LabelPdfRequest { shipment_id: shipment_id.to_string() };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "LabelPdf", message, |channel, request| async move {
                grpc(channel).label_pdf(request).await
            })
            .await?;
        Ok(reply.pdf)
    }
}
