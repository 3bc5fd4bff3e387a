//! The `CatalogPort` of a catalog service running elsewhere: callers holding an
//! `Arc<dyn CatalogPort>` (the API, the cart pricing its lines, the admin) get the same answers and
//! the same errors as from the module in process.
//!
//! Reads are retried when the request never reached the service, and so are `publish` and
//! `unpublish`: a product already in the asked state is answered as it is, with no second event.
//! Every other write is sent once: a second create is a `duplicate-sku` conflict (or, for a
//! category or collection with a derived slug, a second one with a suffixed slug), a second delete
//! is not found, a second variant is a duplicate, and a patch or a price change applied twice
//! emits its `product.*.updated` event twice.

use async_trait::async_trait;
use comptoir_contracts::catalog::{
    CatalogPort, Category, CategoryNode, Channel, Collection, CollectionPatch, NewCategory, NewCollection, NewProduct,
    NewVariant, PriceInput, Product, ProductFilter, ProductPatch, SkuOffer, Visibility,
};
use comptoir_grpc::convert::to_page_request;
use comptoir_grpc::{Call, MAX_MESSAGE_BYTES, Remote};
use comptoir_kernel::{Error, Page, PageRequest, RequestContext, Result};
use tonic::transport::Channel as Transport;
use uuid::Uuid;

use crate::convert;
use crate::pb;
use crate::pb::catalog_service_client::CatalogServiceClient;

#[derive(Clone)]
pub struct CatalogClient {
    remote: Remote,
}

impl CatalogClient {
    pub fn new(remote: Remote) -> Self {
        CatalogClient { remote }
    }
}

fn grpc(channel: Transport) -> CatalogServiceClient<Transport> {
    CatalogServiceClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// A reply that does not decode is the service's fault, not the caller's: an internal error rather
/// than the bad request decoding reports on the server side.
fn decoded<T>(result: Result<T>) -> Result<T> {
    result.map_err(|e| Error::internal(format!("the catalog service sent a malformed reply: {e}")))
}

fn decoded_product(reply: pb::Product) -> Result<Product> {
    decoded(convert::product(reply, "product"))
}

#[async_trait]
impl CatalogPort for CatalogClient {
    async fn list_channels(&self, ctx: &RequestContext) -> Result<Vec<Channel>> {
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "ListChannels", pb::ListChannelsRequest {}, |channel, request| async move {
                grpc(channel).list_channels(request).await
            })
            .await?;
        decoded(convert::channels(reply))
    }

    async fn create_product(&self, ctx: &RequestContext, input: NewProduct) -> Result<Product> {
        let message = convert::to_create_product_request(input);
        let reply = self
            .remote
            .call(ctx, Call::Once, "CreateProduct", message, |channel, request| async move {
                grpc(channel).create_product(request).await
            })
            .await?;
        decoded_product(reply)
    }

    async fn update_product(&self, ctx: &RequestContext, id: Uuid, patch: ProductPatch) -> Result<Product> {
        let message = convert::to_update_product_request(id, patch);
        let reply = self
            .remote
            .call(ctx, Call::Once, "UpdateProduct", message, |channel, request| async move {
                grpc(channel).update_product(request).await
            })
            .await?;
        decoded_product(reply)
    }

    async fn delete_product(&self, ctx: &RequestContext, id: Uuid) -> Result<()> {
        let message = pb::DeleteProductRequest { id: id.to_string() };
        self.remote
            .call(ctx, Call::Once, "DeleteProduct", message, |channel, request| async move {
                grpc(channel).delete_product(request).await
            })
            .await?;
        Ok(())
    }

    async fn add_variant(&self, ctx: &RequestContext, product_id: Uuid, input: NewVariant) -> Result<Product> {
        let message =
            pb::AddVariantRequest { product_id: product_id.to_string(), variant: Some(convert::to_new_variant(input)) };
        let reply = self
            .remote
            .call(ctx, Call::Once, "AddVariant", message, |channel, request| async move {
                grpc(channel).add_variant(request).await
            })
            .await?;
        decoded_product(reply)
    }

    async fn set_prices(&self, ctx: &RequestContext, sku: &str, prices: Vec<PriceInput>) -> Result<Product> {
        let message = pb::SetPricesRequest { sku: sku.to_string(), prices: convert::to_price_inputs(&prices) };
        let reply = self
            .remote
            .call(ctx, Call::Once, "SetPrices", message, |channel, request| async move {
                grpc(channel).set_prices(request).await
            })
            .await?;
        decoded_product(reply)
    }

    async fn publish(&self, ctx: &RequestContext, id: Uuid) -> Result<Product> {
        let message = pb::PublishRequest { id: id.to_string() };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "Publish", message, |channel, request| async move {
                grpc(channel).publish(request).await
            })
            .await?;
        decoded_product(reply)
    }

    async fn unpublish(&self, ctx: &RequestContext, id: Uuid) -> Result<Product> {
        let message = pb::UnpublishRequest { id: id.to_string() };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "Unpublish", message, |channel, request| async move {
                grpc(channel).unpublish(request).await
            })
            .await?;
        decoded_product(reply)
    }

    async fn get_product(&self, ctx: &RequestContext, id_or_slug: &str, visibility: Visibility) -> Result<Product> {
        let message = pb::GetProductRequest {
            id_or_slug: id_or_slug.to_string(),
            visibility: convert::to_visibility(visibility).into(),
        };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "GetProduct", message, |channel, request| async move {
                grpc(channel).get_product(request).await
            })
            .await?;
        decoded_product(reply)
    }

    async fn list_products(
        &self,
        ctx: &RequestContext,
        filter: ProductFilter,
        visibility: Visibility,
        page: PageRequest,
    ) -> Result<Page<Product>> {
        let message = pb::ListProductsRequest {
            filter: Some(convert::to_product_filter(filter)),
            visibility: convert::to_visibility(visibility).into(),
            page: Some(to_page_request(&page)),
        };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "ListProducts", message, |channel, request| async move {
                grpc(channel).list_products(request).await
            })
            .await?;
        decoded(convert::product_page(reply))
    }

    async fn create_category(&self, ctx: &RequestContext, input: NewCategory) -> Result<Category> {
        let message = convert::to_create_category_request(input);
        let reply = self
            .remote
            .call(ctx, Call::Once, "CreateCategory", message, |channel, request| async move {
                grpc(channel).create_category(request).await
            })
            .await?;
        decoded(convert::category(reply, "category"))
    }

    async fn category_tree(&self, ctx: &RequestContext) -> Result<Vec<CategoryNode>> {
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "CategoryTree", pb::CategoryTreeRequest {}, |channel, request| async move {
                grpc(channel).category_tree(request).await
            })
            .await?;
        decoded(convert::category_tree(reply))
    }

    async fn create_collection(&self, ctx: &RequestContext, input: NewCollection) -> Result<Collection> {
        let message = convert::to_create_collection_request(input);
        let reply = self
            .remote
            .call(ctx, Call::Once, "CreateCollection", message, |channel, request| async move {
                grpc(channel).create_collection(request).await
            })
            .await?;
        decoded(convert::collection(reply, "collection"))
    }

    async fn update_collection(&self, ctx: &RequestContext, id: Uuid, patch: CollectionPatch) -> Result<Collection> {
        let message = convert::to_update_collection_request(id, patch);
        let reply = self
            .remote
            .call(ctx, Call::Once, "UpdateCollection", message, |channel, request| async move {
                grpc(channel).update_collection(request).await
            })
            .await?;
        decoded(convert::collection(reply, "collection"))
    }

    async fn get_collection(&self, ctx: &RequestContext, id_or_slug: &str) -> Result<Collection> {
        let message = pb::GetCollectionRequest { id_or_slug: id_or_slug.to_string() };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "GetCollection", message, |channel, request| async move {
                grpc(channel).get_collection(request).await
            })
            .await?;
        decoded(convert::collection(reply, "collection"))
    }

    async fn list_collections(&self, ctx: &RequestContext, page: PageRequest) -> Result<Page<Collection>> {
        let message = pb::ListCollectionsRequest { page: Some(to_page_request(&page)) };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "ListCollections", message, |channel, request| async move {
                grpc(channel).list_collections(request).await
            })
            .await?;
        decoded(convert::collection_page(reply))
    }

    async fn offer(&self, ctx: &RequestContext, sku: &str, channel: &str) -> Result<SkuOffer> {
        let message = pb::OfferRequest { sku: sku.to_string(), channel: channel.to_string() };
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "Offer", message, |channel, request| async move {
                grpc(channel).offer(request).await
            })
            .await?;
        decoded(convert::sku_offer(reply, "offer"))
    }
}
