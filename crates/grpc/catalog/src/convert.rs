//! Catalog's contract types and their wire form, both ways: `to_*` encodes, the plain-named
//! function decodes. Inputs carry every field exactly as the caller built it (names, slugs, SKUs,
//! channel codes and search words untouched, `None` apart from `Some("")`, an absent list apart
//! from an empty one), so the module's own checks answer the same errors in both topologies.
//! Decoding fails, naming the field, on a malformed id, a missing message, an unknown currency or
//! an enum value that is unspecified or unknown.

use comptoir_contracts::catalog::{
    Category, CategoryNode, Channel, ChannelPrice, Collection, CollectionPatch, NewCategory, NewCollection, NewProduct,
    NewVariant, PriceInput, Product, ProductFilter, ProductPatch, ProductStatus, SkuOffer, Variant, Visibility,
};
use comptoir_grpc::convert::{currency, money, optional_uuid, page, required, timestamp, to_money, to_timestamp, uuid};
use comptoir_kernel::{Error, Page, Result};
use uuid::Uuid;

use crate::pb;

/// The path of `name` inside the message at `path` (the top-level message has the empty path).
fn field(path: &str, name: &str) -> String {
    if path.is_empty() { name.to_string() } else { format!("{path}.{name}") }
}

/// Decodes each element, naming it by its index (`variants[1]`) so that an error points at it.
fn indexed<A, B>(values: Vec<A>, path: &str, decode: impl Fn(A, &str) -> Result<B>) -> Result<Vec<B>> {
    values.into_iter().enumerate().map(|(i, value)| decode(value, &format!("{path}[{i}]"))).collect()
}

fn to_ids(ids: &[Uuid]) -> Vec<String> {
    ids.iter().map(Uuid::to_string).collect()
}

fn ids(values: Vec<String>, path: &str) -> Result<Vec<Uuid>> {
    indexed(values, path, |value, path| uuid(&value, path))
}

/// An enum number the contract does not define (or `*_UNSPECIFIED`, which means "not set").
fn unknown_enum(field: &str, value: i32) -> Error {
    Error::bad_request(format!("{field}: `{value}` is not a known value"))
}

// ---- Enums -------------------------------------------------------------------------------------

pub fn to_product_status(status: ProductStatus) -> pb::ProductStatus {
    match status {
        ProductStatus::Draft => pb::ProductStatus::Draft,
        ProductStatus::Published => pb::ProductStatus::Published,
    }
}

pub fn product_status(value: i32, field: &str) -> Result<ProductStatus> {
    match pb::ProductStatus::try_from(value) {
        Ok(pb::ProductStatus::Draft) => Ok(ProductStatus::Draft),
        Ok(pb::ProductStatus::Published) => Ok(ProductStatus::Published),
        Ok(pb::ProductStatus::Unspecified) | Err(_) => Err(unknown_enum(field, value)),
    }
}

pub fn to_visibility(visibility: Visibility) -> pb::Visibility {
    match visibility {
        Visibility::PublishedOnly => pb::Visibility::PublishedOnly,
        Visibility::All => pb::Visibility::All,
    }
}

pub fn visibility(value: i32, field: &str) -> Result<Visibility> {
    match pb::Visibility::try_from(value) {
        Ok(pb::Visibility::PublishedOnly) => Ok(Visibility::PublishedOnly),
        Ok(pb::Visibility::All) => Ok(Visibility::All),
        Ok(pb::Visibility::Unspecified) | Err(_) => Err(unknown_enum(field, value)),
    }
}

// ---- Channels, products and variants -----------------------------------------------------------

pub fn to_channel(channel: &Channel) -> pb::Channel {
    pb::Channel {
        code: channel.code.clone(),
        name: channel.name.clone(),
        currency: channel.currency.code().to_string(),
    }
}

pub fn channel(message: pb::Channel, path: &str) -> Result<Channel> {
    Ok(Channel {
        currency: currency(&message.currency, &field(path, "currency"))?,
        code: message.code,
        name: message.name,
    })
}

fn to_channel_price(price: &ChannelPrice) -> pb::ChannelPrice {
    pb::ChannelPrice { channel: price.channel.clone(), price: Some(to_money(&price.price)) }
}

fn channel_price(message: pb::ChannelPrice, path: &str) -> Result<ChannelPrice> {
    Ok(ChannelPrice { price: money(message.price, &field(path, "price"))?, channel: message.channel })
}

fn to_variant(variant: &Variant) -> pb::Variant {
    pb::Variant {
        id: variant.id.to_string(),
        sku: variant.sku.clone(),
        options: variant.options.clone(),
        weight_grams: variant.weight_grams,
        prices: variant.prices.iter().map(to_channel_price).collect(),
    }
}

fn variant(message: pb::Variant, path: &str) -> Result<Variant> {
    Ok(Variant {
        id: uuid(&message.id, &field(path, "id"))?,
        sku: message.sku,
        options: message.options,
        weight_grams: message.weight_grams,
        prices: indexed(message.prices, &field(path, "prices"), channel_price)?,
    })
}

pub fn to_product(product: &Product) -> pb::Product {
    pb::Product {
        id: product.id.to_string(),
        seller_id: product.seller_id.to_string(),
        slug: product.slug.clone(),
        name: product.name.clone(),
        description: product.description.clone(),
        status: to_product_status(product.status).into(),
        category_ids: to_ids(&product.category_ids),
        attributes: product.attributes.clone(),
        variants: product.variants.iter().map(to_variant).collect(),
        created_at: Some(to_timestamp(&product.created_at)),
        updated_at: Some(to_timestamp(&product.updated_at)),
    }
}

pub fn product(message: pb::Product, path: &str) -> Result<Product> {
    Ok(Product {
        id: uuid(&message.id, &field(path, "id"))?,
        seller_id: uuid(&message.seller_id, &field(path, "seller_id"))?,
        slug: message.slug,
        name: message.name,
        description: message.description,
        status: product_status(message.status, &field(path, "status"))?,
        category_ids: ids(message.category_ids, &field(path, "category_ids"))?,
        attributes: message.attributes,
        variants: indexed(message.variants, &field(path, "variants"), variant)?,
        created_at: timestamp(message.created_at, &field(path, "created_at"))?,
        updated_at: timestamp(message.updated_at, &field(path, "updated_at"))?,
    })
}

pub fn to_sku_offer(offer: &SkuOffer) -> pb::SkuOffer {
    pb::SkuOffer {
        sku: offer.sku.clone(),
        product_id: offer.product_id.to_string(),
        product_name: offer.product_name.clone(),
        options: offer.options.clone(),
        channel: offer.channel.clone(),
        price: Some(to_money(&offer.price)),
    }
}

pub fn sku_offer(message: pb::SkuOffer, path: &str) -> Result<SkuOffer> {
    Ok(SkuOffer {
        product_id: uuid(&message.product_id, &field(path, "product_id"))?,
        price: money(message.price, &field(path, "price"))?,
        sku: message.sku,
        product_name: message.product_name,
        options: message.options,
        channel: message.channel,
    })
}

// ---- Categories and collections ----------------------------------------------------------------

pub fn to_category(category: &Category) -> pb::Category {
    pb::Category {
        id: category.id.to_string(),
        parent_id: category.parent_id.map(|id| id.to_string()),
        name: category.name.clone(),
        slug: category.slug.clone(),
        position: category.position,
    }
}

pub fn category(message: pb::Category, path: &str) -> Result<Category> {
    Ok(Category {
        id: uuid(&message.id, &field(path, "id"))?,
        parent_id: optional_uuid(message.parent_id.as_deref(), &field(path, "parent_id"))?,
        name: message.name,
        slug: message.slug,
        position: message.position,
    })
}

/// Recursive, like the tree: the module bounds its depth (ten levels), far below prost's decoding
/// recursion limit.
pub fn to_category_node(node: &CategoryNode) -> pb::CategoryNode {
    pb::CategoryNode {
        category: Some(to_category(&node.category)),
        children: node.children.iter().map(to_category_node).collect(),
    }
}

pub fn category_node(message: pb::CategoryNode, path: &str) -> Result<CategoryNode> {
    let category_path = field(path, "category");
    Ok(CategoryNode {
        category: category(required(message.category, &category_path)?, &category_path)?,
        children: indexed(message.children, &field(path, "children"), category_node)?,
    })
}

pub fn to_collection(collection: &Collection) -> pb::Collection {
    pb::Collection {
        id: collection.id.to_string(),
        name: collection.name.clone(),
        slug: collection.slug.clone(),
        description: collection.description.clone(),
        product_ids: to_ids(&collection.product_ids),
        created_at: Some(to_timestamp(&collection.created_at)),
        updated_at: Some(to_timestamp(&collection.updated_at)),
    }
}

pub fn collection(message: pb::Collection, path: &str) -> Result<Collection> {
    Ok(Collection {
        id: uuid(&message.id, &field(path, "id"))?,
        product_ids: ids(message.product_ids, &field(path, "product_ids"))?,
        created_at: timestamp(message.created_at, &field(path, "created_at"))?,
        updated_at: timestamp(message.updated_at, &field(path, "updated_at"))?,
        name: message.name,
        slug: message.slug,
        description: message.description,
    })
}

// ---- Replies holding lists -------------------------------------------------------------------

pub fn channels(reply: pb::ListChannelsResponse) -> Result<Vec<Channel>> {
    indexed(reply.channels, "channels", channel)
}

pub fn category_tree(reply: pb::CategoryTreeResponse) -> Result<Vec<CategoryNode>> {
    indexed(reply.roots, "roots", category_node)
}

pub fn product_page(reply: pb::ListProductsResponse) -> Result<Page<Product>> {
    page(indexed(reply.products, "products", product)?, reply.page)
}

pub fn collection_page(reply: pb::ListCollectionsResponse) -> Result<Page<Collection>> {
    page(indexed(reply.collections, "collections", collection)?, reply.page)
}

// ---- Inputs ------------------------------------------------------------------------------------
// Decoded with the field paths the module uses for the same input (`variants[1].prices[0].currency`),
// so that a peer's malformed value is reported where the module would report a wrong one.

pub fn to_price_inputs(prices: &[PriceInput]) -> Vec<pb::PriceInput> {
    prices
        .iter()
        .map(|price| pb::PriceInput {
            channel: price.channel.clone(),
            amount: price.amount,
            currency: price.currency.code().to_string(),
        })
        .collect()
}

pub fn price_inputs(messages: Vec<pb::PriceInput>, path: &str) -> Result<Vec<PriceInput>> {
    indexed(messages, path, |message, path| {
        Ok(PriceInput {
            currency: currency(&message.currency, &field(path, "currency"))?,
            channel: message.channel,
            amount: message.amount,
        })
    })
}

pub fn to_new_variant(variant: NewVariant) -> pb::NewVariant {
    pb::NewVariant {
        prices: to_price_inputs(&variant.prices),
        sku: variant.sku,
        options: variant.options,
        weight_grams: variant.weight_grams,
    }
}

pub fn new_variant(message: pb::NewVariant, path: &str) -> Result<NewVariant> {
    Ok(NewVariant {
        prices: price_inputs(message.prices, &field(path, "prices"))?,
        sku: message.sku,
        options: message.options,
        weight_grams: message.weight_grams,
    })
}

pub fn to_create_product_request(input: NewProduct) -> pb::CreateProductRequest {
    pb::CreateProductRequest {
        seller_id: input.seller_id.to_string(),
        name: input.name,
        slug: input.slug,
        description: input.description,
        category_ids: to_ids(&input.category_ids),
        attributes: input.attributes,
        variants: input.variants.into_iter().map(to_new_variant).collect(),
    }
}

pub fn new_product(message: pb::CreateProductRequest) -> Result<NewProduct> {
    Ok(NewProduct {
        seller_id: uuid(&message.seller_id, "seller_id")?,
        category_ids: ids(message.category_ids, "category_ids")?,
        variants: indexed(message.variants, "variants", new_variant)?,
        name: message.name,
        slug: message.slug,
        description: message.description,
        attributes: message.attributes,
    })
}

pub fn to_update_product_request(id: Uuid, patch: ProductPatch) -> pb::UpdateProductRequest {
    pb::UpdateProductRequest {
        id: id.to_string(),
        name: patch.name,
        slug: patch.slug,
        description: patch.description,
        category_ids: patch.category_ids.map(|ids| pb::IdList { ids: to_ids(&ids) }),
        attributes: patch.attributes.map(|entries| pb::StringMap { entries }),
    }
}

/// The product to change and the patch.
pub fn product_patch(message: pb::UpdateProductRequest) -> Result<(Uuid, ProductPatch)> {
    let patch = ProductPatch {
        category_ids: message.category_ids.map(|list| ids(list.ids, "category_ids")).transpose()?,
        attributes: message.attributes.map(|map| map.entries),
        name: message.name,
        slug: message.slug,
        description: message.description,
    };
    Ok((uuid(&message.id, "id")?, patch))
}

pub fn to_product_filter(filter: ProductFilter) -> pb::ProductFilter {
    pb::ProductFilter {
        category: filter.category,
        collection: filter.collection,
        seller_id: filter.seller_id.map(|id| id.to_string()),
        q: filter.q,
        channel: filter.channel,
    }
}

/// An absent filter is the empty one: every product.
pub fn product_filter(message: Option<pb::ProductFilter>) -> Result<ProductFilter> {
    let message = message.unwrap_or_default();
    Ok(ProductFilter {
        seller_id: optional_uuid(message.seller_id.as_deref(), "seller_id")?,
        category: message.category,
        collection: message.collection,
        q: message.q,
        channel: message.channel,
    })
}

pub fn to_create_category_request(input: NewCategory) -> pb::CreateCategoryRequest {
    pb::CreateCategoryRequest {
        name: input.name,
        slug: input.slug,
        parent_id: input.parent_id.map(|id| id.to_string()),
        position: input.position,
    }
}

pub fn new_category(message: pb::CreateCategoryRequest) -> Result<NewCategory> {
    Ok(NewCategory {
        parent_id: optional_uuid(message.parent_id.as_deref(), "parent_id")?,
        name: message.name,
        slug: message.slug,
        position: message.position,
    })
}

pub fn to_create_collection_request(input: NewCollection) -> pb::CreateCollectionRequest {
    pb::CreateCollectionRequest {
        name: input.name,
        slug: input.slug,
        description: input.description,
        product_ids: to_ids(&input.product_ids),
    }
}

pub fn new_collection(message: pb::CreateCollectionRequest) -> Result<NewCollection> {
    Ok(NewCollection {
        product_ids: ids(message.product_ids, "product_ids")?,
        name: message.name,
        slug: message.slug,
        description: message.description,
    })
}

pub fn to_update_collection_request(id: Uuid, patch: CollectionPatch) -> pb::UpdateCollectionRequest {
    pb::UpdateCollectionRequest {
        id: id.to_string(),
        name: patch.name,
        description: patch.description,
        product_ids: patch.product_ids.map(|ids| pb::IdList { ids: to_ids(&ids) }),
    }
}

/// The collection to change and the patch.
pub fn collection_patch(message: pb::UpdateCollectionRequest) -> Result<(Uuid, CollectionPatch)> {
    let patch = CollectionPatch {
        product_ids: message.product_ids.map(|list| ids(list.ids, "product_ids")).transpose()?,
        name: message.name,
        description: message.description,
    };
    Ok((uuid(&message.id, "id")?, patch))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use comptoir_kernel::Currency;

    use super::*;

    #[test]
    fn a_patch_keeps_absent_apart_from_empty() {
        let id = Uuid::now_v7();
        let clearing = ProductPatch {
            name: Some(String::new()),
            category_ids: Some(vec![]),
            attributes: Some(BTreeMap::new()),
            ..Default::default()
        };
        let (back_id, back) = product_patch(to_update_product_request(id, clearing)).unwrap();
        assert_eq!(back_id, id);
        assert_eq!(back.name.as_deref(), Some(""));
        assert_eq!((back.slug, back.description), (None, None));
        assert_eq!(back.category_ids, Some(vec![]));
        assert_eq!(back.attributes, Some(BTreeMap::new()));

        let (_, untouched) = product_patch(to_update_product_request(id, ProductPatch::default())).unwrap();
        assert!(untouched.category_ids.is_none() && untouched.attributes.is_none() && untouched.name.is_none());

        let (_, patch) = collection_patch(to_update_collection_request(
            id,
            CollectionPatch { product_ids: Some(vec![]), ..Default::default() },
        ))
        .unwrap();
        assert_eq!((patch.product_ids, patch.name), (Some(vec![]), None));
    }

    #[test]
    fn a_new_product_reaches_the_module_as_built() {
        let input = NewProduct {
            seller_id: Uuid::now_v7(),
            name: "  Blue Shirt ".into(),
            slug: Some(String::new()),
            description: String::new(),
            category_ids: vec![Uuid::now_v7()],
            attributes: BTreeMap::from([("material".into(), "cotton".into())]),
            variants: vec![NewVariant {
                sku: "shirt m".into(),
                options: BTreeMap::from([("size".into(), "M".into())]),
                weight_grams: Some(0),
                prices: vec![PriceInput { channel: "moon".into(), amount: -1, currency: Currency::USD }],
            }],
        };
        let back = new_product(to_create_product_request(input.clone())).unwrap();
        assert_eq!(format!("{back:?}"), format!("{input:?}"));
    }

    #[test]
    fn malformed_peer_data_names_its_field() {
        let mut message = to_create_product_request(NewProduct {
            seller_id: Uuid::now_v7(),
            name: "x".into(),
            slug: None,
            description: String::new(),
            category_ids: vec![],
            attributes: BTreeMap::new(),
            variants: vec![],
        });
        message.variants = vec![pb::NewVariant::default(), pb::NewVariant::default()];
        message.variants[1].prices =
            vec![pb::PriceInput { channel: "online".into(), amount: 1, currency: "???".into() }];
        let e = new_product(message).unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(e.to_string().contains("variants[1].prices[0].currency"), "{e}");

        let e = visibility(pb::Visibility::Unspecified.into(), "visibility").unwrap_err();
        assert!(e.to_string().starts_with("visibility:"), "{e}");
        assert_eq!(product_status(42, "product.status").unwrap_err().status(), 400);

        let root = pb::Category { id: Uuid::now_v7().to_string(), ..Default::default() };
        let orphan = pb::CategoryNode { category: None, children: vec![] };
        let e =
            category_node(pb::CategoryNode { category: Some(root), children: vec![orphan] }, "roots[0]").unwrap_err();
        assert!(e.to_string().contains("roots[0].children[0].category"), "{e}");
    }
}
