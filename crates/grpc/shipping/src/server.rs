//! Serves a `ShippingPort` (the module itself) to remote callers: each rpc reads the caller's
//! context from metadata, decodes the message, calls the port and encodes its answer; the port's
//! errors travel as statuses the client turns back into the same errors.

use std::sync::Arc;

use comptoir_contracts::shipping::ShippingPort;
use comptoir_grpc::convert::{page_request, to_page_info, uuid};
use comptoir_grpc::server::{RpcResult, reply};
use comptoir_grpc::{MAX_MESSAGE_BYTES, incoming_context};
use tonic::Request;

use crate::convert;
use crate::pb;
use crate::pb::shipping_service_server::{ShippingService, ShippingServiceServer};

pub struct ShippingServer {
    port: Arc<dyn ShippingPort>,
}

/// The generated service around `port`, ready to add to a `ServiceSet`.
pub fn service(port: Arc<dyn ShippingPort>) -> ShippingServiceServer<ShippingServer> {
    ShippingServiceServer::new(ShippingServer { port })
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

#[tonic::async_trait]
impl ShippingService for ShippingServer {
    async fn create_zone(&self, request: Request<pb::CreateZoneRequest>) -> RpcResult<pb::Zone> {
        let ctx = incoming_context(&request);
        let input = convert::new_zone(request.into_inner());
        reply(self.port.create_zone(&ctx, input).await.map(|zone| convert::to_zone(&zone)))
    }

    async fn list_zones(&self, request: Request<pb::ListZonesRequest>) -> RpcResult<pb::ListZonesResponse> {
        let ctx = incoming_context(&request);
        let page = page_request(request.into_inner().page);
        reply(self.port.list_zones(&ctx, page).await.map(|page| pb::ListZonesResponse {
            zones: page.items.iter().map(convert::to_zone).collect(),
            page: Some(to_page_info(&page)),
        }))
    }

    async fn create_method(&self, request: Request<pb::CreateMethodRequest>) -> RpcResult<pb::ShippingMethod> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        reply(
            async {
                let input = convert::new_method(message)?;
                Ok(convert::to_method(&self.port.create_method(&ctx, input).await?))
            }
            .await,
        )
    }

    async fn list_methods(&self, request: Request<pb::ListMethodsRequest>) -> RpcResult<pb::ListMethodsResponse> {
        let ctx = incoming_context(&request);
        let page = page_request(request.into_inner().page);
        reply(self.port.list_methods(&ctx, page).await.map(|page| pb::ListMethodsResponse {
            methods: page.items.iter().map(convert::to_method).collect(),
            page: Some(to_page_info(&page)),
        }))
    }

    async fn set_method_active(&self, request: Request<pb::SetMethodActiveRequest>) -> RpcResult<pb::ShippingMethod> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        let method = self.port.set_method_active(&ctx, &message.code, message.active).await;
        reply(method.map(|method| convert::to_method(&method)))
    }

    async fn quotes(&self, request: Request<pb::QuotesRequest>) -> RpcResult<pb::QuotesResponse> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        reply(
            async {
                let quotes = self.port.quotes(&ctx, convert::quote_request(message.query)?).await?;
                Ok(pb::QuotesResponse { quotes: quotes.iter().map(convert::to_quote).collect() })
            }
            .await,
        )
    }

    async fn quote(&self, request: Request<pb::QuoteRequest>) -> RpcResult<pb::Quote> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        reply(
            async {
                let query = convert::quote_request(message.query)?;
                Ok(convert::to_quote(&self.port.quote(&ctx, &message.method, query).await?))
            }
            .await,
        )
    }

    async fn shipment_for_order(&self, request: Request<pb::ShipmentForOrderRequest>) -> RpcResult<pb::Shipment> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        reply(
            async {
                let order_id = uuid(&message.order_id, "order_id")?;
                Ok(convert::to_shipment(&self.port.shipment_for_order(&ctx, order_id).await?))
            }
            .await,
        )
    }

    async fn list_shipments(&self, request: Request<pb::ListShipmentsRequest>) -> RpcResult<pb::ListShipmentsResponse> {
        let ctx = incoming_context(&request);
        let page = page_request(request.into_inner().page);
        reply(self.port.list_shipments(&ctx, page).await.map(|page| pb::ListShipmentsResponse {
            shipments: page.items.iter().map(convert::to_shipment).collect(),
            page: Some(to_page_info(&page)),
        }))
    }

    async fn track(&self, request: Request<pb::TrackRequest>) -> RpcResult<pb::Shipment> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        reply(
            async {
                let shipment_id = uuid(&message.shipment_id, "shipment_id")?;
                let update = convert::tracking_update(message.update)?;
                Ok(convert::to_shipment(&self.port.track(&ctx, shipment_id, update).await?))
            }
            .await,
        )
    }

    async fn carrier_webhook(
        &self,
        request: Request<pb::CarrierWebhookRequest>,
    ) -> RpcResult<pb::CarrierWebhookResponse> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        let handled = self.port.carrier_webhook(&ctx, &message.carrier, &message.signature, &message.body).await;
        reply(handled.map(|()| pb::CarrierWebhookResponse {}))
    }

    async fn label_pdf(&self, request: Request<pb::LabelPdfRequest>) -> RpcResult<pb::LabelPdfResponse> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        reply(
            async {
                let shipment_id = uuid(&message.shipment_id, "shipment_id")?;
                Ok(pb::LabelPdfResponse { pdf: self.port.label_pdf(&ctx, shipment_id).await? })
            }
            .await,
        )
    }
}
