//! Serves a `CatalogPort` (the module itself) to remote callers: each rpc reads the caller's
//! context from metadata, decodes the message (a bad request if it is malformed), calls the port
//! and encodes its answer; the port's errors travel as statuses the client turns back into the
//! same errors.

use std::sync::Arc;

use comptoir_contracts::catalog::{CatalogPort, Product};
use comptoir_grpc::convert::{page_request, required, to_page_info, uuid};
use comptoir_grpc::server::{RpcResult, reply};
use comptoir_grpc::{MAX_MESSAGE_BYTES, incoming_context, to_status};
use comptoir_kernel::Result;
use tonic::{Request, Status};

use crate::convert;
use crate::pb;
use crate::pb::catalog_service_server::{CatalogService, CatalogServiceServer};

pub struct CatalogServer {
    port: Arc<dyn CatalogPort>,
}

/// The generated service around `port`, ready to add to a `ServiceSet`.
pub fn service(port: Arc<dyn CatalogPort>) -> CatalogServiceServer<CatalogServer> {
    CatalogServiceServer::new(CatalogServer { port })
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// A request that does not decode is answered as the bad request it is, before the port is called.
fn decoded<T>(result: Result<T>) -> std::result::Result<T, Status> {
    result.map_err(to_status)
}

/// Most writes, and the product read, answer a product.
fn product_reply(result: Result<Product>) -> RpcResult<pb::Product> {
    reply(result.map(|product| convert::to_product(&product)))
}

#[tonic::async_trait]
impl CatalogService for CatalogServer {
    async fn list_channels(&self, request: Request<pb::ListChannelsRequest>) -> RpcResult<pb::ListChannelsResponse> {
        let ctx = incoming_context(&request);
        let channels = self.port.list_channels(&ctx).await;
        reply(
            channels.map(|channels| pb::ListChannelsResponse {
                channels: channels.iter().map(convert::to_channel).collect(),
            }),
        )
    }

    async fn create_product(&self, request: Request<pb::CreateProductRequest>) -> RpcResult<pb::Product> {
        let ctx = incoming_context(&request);
        let input = decoded(convert::new_product(request.into_inner()))?;
        product_reply(self.port.create_product(&ctx, input).await)
    }

    async fn update_product(&self, request: Request<pb::UpdateProductRequest>) -> RpcResult<pb::Product> {
        let ctx = incoming_context(&request);
        let (id, patch) = decoded(convert::product_patch(request.into_inner()))?;
        product_reply(self.port.update_product(&ctx, id, patch).await)
    }

    async fn delete_product(&self, request: Request<pb::DeleteProductRequest>) -> RpcResult<pb::DeleteProductResponse> {
        let ctx = incoming_context(&request);
        let id = decoded(uuid(&request.get_ref().id, "id"))?;
        reply(self.port.delete_product(&ctx, id).await.map(|()| pb::DeleteProductResponse {}))
    }

    async fn add_variant(&self, request: Request<pb::AddVariantRequest>) -> RpcResult<pb::Product> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        let product_id = decoded(uuid(&message.product_id, "product_id"))?;
        // The module names the fields of an added variant without a prefix (`sku`, `prices[0].amount`).
        let variant = decoded(required(message.variant, "variant").and_then(|v| convert::new_variant(v, "")))?;
        product_reply(self.port.add_variant(&ctx, product_id, variant).await)
    }

    async fn set_prices(&self, request: Request<pb::SetPricesRequest>) -> RpcResult<pb::Product> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        let prices = decoded(convert::price_inputs(message.prices, "prices"))?;
        product_reply(self.port.set_prices(&ctx, &message.sku, prices).await)
    }

    async fn publish(&self, request: Request<pb::PublishRequest>) -> RpcResult<pb::Product> {
        let ctx = incoming_context(&request);
        let id = decoded(uuid(&request.get_ref().id, "id"))?;
        product_reply(self.port.publish(&ctx, id).await)
    }

    async fn unpublish(&self, request: Request<pb::UnpublishRequest>) -> RpcResult<pb::Product> {
        let ctx = incoming_context(&request);
        let id = decoded(uuid(&request.get_ref().id, "id"))?;
        product_reply(self.port.unpublish(&ctx, id).await)
    }

    async fn get_product(&self, request: Request<pb::GetProductRequest>) -> RpcResult<pb::Product> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        let visibility = decoded(convert::visibility(message.visibility, "visibility"))?;
        product_reply(self.port.get_product(&ctx, &message.id_or_slug, visibility).await)
    }

    async fn list_products(&self, request: Request<pb::ListProductsRequest>) -> RpcResult<pb::ListProductsResponse> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        let filter = decoded(convert::product_filter(message.filter))?;
        let visibility = decoded(convert::visibility(message.visibility, "visibility"))?;
        let page = self.port.list_products(&ctx, filter, visibility, page_request(message.page)).await;
        reply(page.map(|page| pb::ListProductsResponse {
            products: page.items.iter().map(convert::to_product).collect(),
            page: Some(to_page_info(&page)),
        }))
    }

    async fn create_category(&self, request: Request<pb::CreateCategoryRequest>) -> RpcResult<pb::Category> {
        let ctx = incoming_context(&request);
        let input = decoded(convert::new_category(request.into_inner()))?;
        reply(self.port.create_category(&ctx, input).await.map(|category| convert::to_category(&category)))
    }

    async fn category_tree(&self, request: Request<pb::CategoryTreeRequest>) -> RpcResult<pb::CategoryTreeResponse> {
        let ctx = incoming_context(&request);
        let tree = self.port.category_tree(&ctx).await;
        reply(
            tree.map(|roots| pb::CategoryTreeResponse { roots: roots.iter().map(convert::to_category_node).collect() }),
        )
    }

    async fn create_collection(&self, request: Request<pb::CreateCollectionRequest>) -> RpcResult<pb::Collection> {
        let ctx = incoming_context(&request);
        let input = decoded(convert::new_collection(request.into_inner()))?;
        reply(self.port.create_collection(&ctx, input).await.map(|collection| convert::to_collection(&collection)))
    }

    async fn update_collection(&self, request: Request<pb::UpdateCollectionRequest>) -> RpcResult<pb::Collection> {
        let ctx = incoming_context(&request);
        let (id, patch) = decoded(convert::collection_patch(request.into_inner()))?;
        reply(self.port.update_collection(&ctx, id, patch).await.map(|collection| convert::to_collection(&collection)))
    }

    async fn get_collection(&self, request: Request<pb::GetCollectionRequest>) -> RpcResult<pb::Collection> {
        let ctx = incoming_context(&request);
        let collection = self.port.get_collection(&ctx, &request.get_ref().id_or_slug).await;
        reply(collection.map(|collection| convert::to_collection(&collection)))
    }

    async fn list_collections(
        &self,
        request: Request<pb::ListCollectionsRequest>,
    ) -> RpcResult<pb::ListCollectionsResponse> {
        let ctx = incoming_context(&request);
        let page = self.port.list_collections(&ctx, page_request(request.into_inner().page)).await;
        reply(page.map(|page| pb::ListCollectionsResponse {
            collections: page.items.iter().map(convert::to_collection).collect(),
            page: Some(to_page_info(&page)),
        }))
    }

    async fn offer(&self, request: Request<pb::OfferRequest>) -> RpcResult<pb::SkuOffer> {
        let ctx = incoming_context(&request);
        let message = request.into_inner();
        let offer = self.port.offer(&ctx, &message.sku, &message.channel).await;
        reply(offer.map(|offer| convert::to_sku_offer(&offer)))
    }
}
