//! Catalog: products and variants, attributes, the category tree, collections, channels and
//! per-channel prices.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use comptoir_kernel::{Currency, Money, Page, PageRequest, RequestContext, Result};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A sales channel (`online`, `store`) with the currency its prices are in.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Channel {
    pub code: String,
    pub name: String,
    pub currency: Currency,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProductStatus {
    Draft,
    Published,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChannelPrice {
    pub channel: String,
    pub price: Money,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Variant {
    pub id: Uuid,
    pub sku: String,
    /// Option values that tell this variant apart (`{"size": "M", "colour": "blue"}`).
    pub options: BTreeMap<String, String>,
    pub weight_grams: Option<i64>,
    pub prices: Vec<ChannelPrice>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Product {
    pub id: Uuid,
    pub seller_id: Uuid,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub status: ProductStatus,
    pub category_ids: Vec<Uuid>,
    pub attributes: BTreeMap<String, String>,
    pub variants: Vec<Variant>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceInput {
    pub channel: String,
    /// Minor units (1999 = 19.99); zero or more.
    pub amount: i64,
    pub currency: Currency,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVariant {
    pub sku: String,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    #[serde(default)]
    pub weight_grams: Option<i64>,
    #[serde(default)]
    pub prices: Vec<PriceInput>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProduct {
    pub seller_id: Uuid,
    pub name: String,
    /// Derived from the name when absent.
    #[serde(default)]
    pub slug: Option<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub category_ids: Vec<Uuid>,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// At least one variant.
    pub variants: Vec<NewVariant>,
}

/// A partial update: absent fields keep their value.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductPatch {
    pub name: Option<String>,
    pub slug: Option<String>,
    pub description: Option<String>,
    pub category_ids: Option<Vec<Uuid>>,
    pub attributes: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Category {
    pub id: Uuid,
    pub parent_id: Option<Uuid>,
    pub name: String,
    pub slug: String,
    pub position: i64,
}

/// A category with its descendants, for the storefront's navigation.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CategoryNode {
    #[serde(flatten)]
    pub category: Category,
    #[schema(no_recursion)]
    pub children: Vec<CategoryNode>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCategory {
    pub name: String,
    #[serde(default)]
    pub slug: Option<String>,
    #[serde(default)]
    pub parent_id: Option<Uuid>,
    #[serde(default)]
    pub position: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Collection {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    pub description: String,
    pub product_ids: Vec<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCollection {
    pub name: String,
    #[serde(default)]
    pub slug: Option<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub product_ids: Vec<Uuid>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CollectionPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub product_ids: Option<Vec<Uuid>>,
}

/// Which products a read may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// Public readers: published products only.
    PublishedOnly,
    /// Staff: drafts too.
    All,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProductFilter {
    /// Category id or slug; includes its sub-categories.
    pub category: Option<String>,
    /// Collection id or slug.
    pub collection: Option<String>,
    pub seller_id: Option<Uuid>,
    /// Words in the name or description.
    pub q: Option<String>,
    /// Only products with a price in this channel.
    pub channel: Option<String>,
}

/// What the cart needs to know about a SKU to put it in a line.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SkuOffer {
    pub sku: String,
    pub product_id: Uuid,
    pub product_name: String,
    pub options: BTreeMap<String, String>,
    pub channel: String,
    pub price: Money,
}

#[async_trait]
pub trait CatalogPort: Send + Sync {
    async fn list_channels(&self, ctx: &RequestContext) -> Result<Vec<Channel>>;

    async fn create_product(&self, ctx: &RequestContext, input: NewProduct) -> Result<Product>;
    async fn update_product(&self, ctx: &RequestContext, id: Uuid, patch: ProductPatch) -> Result<Product>;
    async fn delete_product(&self, ctx: &RequestContext, id: Uuid) -> Result<()>;
    async fn add_variant(&self, ctx: &RequestContext, product_id: Uuid, input: NewVariant) -> Result<Product>;
    /// Replaces a variant's prices for the channels given; other channels keep theirs.
    async fn set_prices(&self, ctx: &RequestContext, sku: &str, prices: Vec<PriceInput>) -> Result<Product>;
    async fn publish(&self, ctx: &RequestContext, id: Uuid) -> Result<Product>;
    async fn unpublish(&self, ctx: &RequestContext, id: Uuid) -> Result<Product>;
    /// By id or slug.
    async fn get_product(&self, ctx: &RequestContext, id_or_slug: &str, visibility: Visibility) -> Result<Product>;
    async fn list_products(
        &self,
        ctx: &RequestContext,
        filter: ProductFilter,
        visibility: Visibility,
        page: PageRequest,
    ) -> Result<Page<Product>>;

    async fn create_category(&self, ctx: &RequestContext, input: NewCategory) -> Result<Category>;
    async fn category_tree(&self, ctx: &RequestContext) -> Result<Vec<CategoryNode>>;

    async fn create_collection(&self, ctx: &RequestContext, input: NewCollection) -> Result<Collection>;
    async fn update_collection(&self, ctx: &RequestContext, id: Uuid, patch: CollectionPatch) -> Result<Collection>;
    async fn get_collection(&self, ctx: &RequestContext, id_or_slug: &str) -> Result<Collection>;
    async fn list_collections(&self, ctx: &RequestContext, page: PageRequest) -> Result<Page<Collection>>;

    /// The price of a published SKU in a channel; 404 for an unknown or unpublished SKU, 422 when
    /// it has no price in that channel.
    async fn offer(&self, ctx: &RequestContext, sku: &str, channel: &str) -> Result<SkuOffer>;
}

/// Event types and payloads published by catalog (source `catalog`).
pub mod events {
    use super::*;

    pub const PRODUCT_CREATED: &str = "product.item.created";
    pub const PRODUCT_UPDATED: &str = "product.item.updated";
    pub const PRODUCT_DELETED: &str = "product.item.deleted";
    pub const PRODUCT_PUBLISHED: &str = "product.item.published";
    pub const PRODUCT_UNPUBLISHED: &str = "product.item.unpublished";
    pub const COLLECTION_CREATED: &str = "product.collection.created";
    pub const COLLECTION_UPDATED: &str = "product.collection.updated";
    pub const CATEGORY_CREATED: &str = "product.category.created";

    /// Payload of every `product.item.*` event: the product as it is after the change.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct ProductChanged {
        pub product_id: Uuid,
        pub seller_id: Uuid,
        pub name: String,
        pub slug: String,
        pub status: ProductStatus,
        pub skus: Vec<String>,
    }

    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct CollectionChanged {
        pub collection_id: Uuid,
        pub name: String,
        pub product_ids: Vec<Uuid>,
    }
}
