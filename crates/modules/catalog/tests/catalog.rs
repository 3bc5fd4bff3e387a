//! The catalog against a real database: SQLite, or PostgreSQL with `COMPTOIR_TEST_BACKEND=postgres`.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use comptoir_catalog::{CatalogModule, MIGRATIONS};
use comptoir_contracts::catalog::events::{CollectionChanged, ProductChanged};
use comptoir_contracts::catalog::{
    CatalogPort, CollectionPatch, NewCategory, NewCollection, NewProduct, NewVariant, PriceInput, Product,
    ProductFilter, ProductPatch, ProductStatus, Visibility,
};
use comptoir_contracts::identity::SellerDirectory;
use comptoir_kernel::{Actor, Currency, Error, EventEnvelope, Money, PageRequest, RequestContext, Result};
use comptoir_storage::testing::{self, TestDb};
use comptoir_storage::{Db, outbox};
use uuid::Uuid;

/// Identity's seller port, answering for a fixed set of sellers.
struct KnownSellers(HashSet<Uuid>);

#[async_trait]
impl SellerDirectory for KnownSellers {
    async fn seller_exists(&self, _ctx: &RequestContext, id: Uuid) -> Result<bool> {
        Ok(self.0.contains(&id))
    }
}

struct Shop {
    db: TestDb,
    catalog: CatalogModule,
    seller: Uuid,
    other_seller: Uuid,
    ctx: RequestContext,
}

async fn shop() -> Shop {
    let db = testing::open("catalog", &MIGRATIONS).await;
    let (seller, other_seller) = (Uuid::now_v7(), Uuid::now_v7());
    let sellers = Arc::new(KnownSellers(HashSet::from([seller, other_seller])));
    let catalog = CatalogModule::new(db.db.clone(), sellers);
    let ctx = RequestContext::new("corr-catalog", Actor::user("staff-1"));
    Shop { db, catalog, seller, other_seller, ctx }
}

fn eur(channel: &str, amount: i64) -> PriceInput {
    PriceInput { channel: channel.into(), amount, currency: Currency::EUR }
}

fn variant(sku: &str, prices: Vec<PriceInput>) -> NewVariant {
    NewVariant { sku: sku.into(), options: BTreeMap::new(), weight_grams: Some(250), prices }
}

fn product(seller: Uuid, name: &str, skus: &[&str]) -> NewProduct {
    NewProduct {
        seller_id: seller,
        name: name.into(),
        slug: None,
        description: String::new(),
        category_ids: vec![],
        attributes: BTreeMap::new(),
        variants: skus.iter().map(|sku| variant(sku, vec![eur("online", 1999)])).collect(),
    }
}

/// The status and field paths of a refusal.
fn refusal<T: std::fmt::Debug>(result: Result<T>) -> (u16, Vec<String>) {
    let e: Error = result.expect_err("should be refused");
    (e.status(), e.field_errors().iter().map(|f| f.field.clone()).collect())
}

fn fields(paths: &[&str]) -> Vec<String> {
    paths.iter().map(|p| p.to_string()).collect()
}

async fn events(db: &Db) -> Vec<EventEnvelope> {
    outbox::pending(db, 1000).await.unwrap()
}

async fn event_types(db: &Db) -> Vec<String> {
    events(db).await.into_iter().map(|e| e.event_type).collect()
}

fn page(page: u32, per_page: u32) -> PageRequest {
    PageRequest::new(page, per_page).unwrap()
}

impl Shop {
    async fn create(&self, input: NewProduct) -> Product {
        self.catalog.create_product(&self.ctx, input).await.unwrap()
    }

    async fn published(&self, input: NewProduct) -> Product {
        let p = self.create(input).await;
        self.catalog.publish(&self.ctx, p.id).await.unwrap()
    }

    async fn list(&self, filter: ProductFilter, visibility: Visibility) -> (Vec<String>, u64) {
        let page = self.catalog.list_products(&self.ctx, filter, visibility, page(1, 100)).await.unwrap();
        (page.items.into_iter().map(|p| p.name).collect(), page.total)
    }

    async fn category(&self, name: &str, parent: Option<Uuid>) -> Uuid {
        let input = NewCategory { name: name.into(), slug: None, parent_id: parent, position: 0 };
        self.catalog.create_category(&self.ctx, input).await.unwrap().id
    }
}

#[tokio::test]
async fn channels_are_seeded() {
    let shop = shop().await;
    let channels = shop.catalog.list_channels(&shop.ctx).await.unwrap();
    let seen: Vec<(&str, &str, Currency)> =
        channels.iter().map(|c| (c.code.as_str(), c.name.as_str(), c.currency)).collect();
    assert_eq!(seen, [("online", "Online store", Currency::EUR), ("store", "Physical store", Currency::EUR)]);
}

#[tokio::test]
async fn a_product_is_created_as_a_draft_and_read_by_id_or_slug() {
    let shop = shop().await;
    let mut input = product(shop.seller, "Blue Shirt", &["SHIRT-S", "SHIRT-M"]);
    input.description = "Soft cotton".into();
    input.attributes.insert("material".into(), "cotton".into());
    input.variants[1].options.insert("size".into(), "M".into());
    input.variants[1].prices.push(eur("store", 2199));
    let created = shop.create(input).await;

    assert_eq!(created.slug, "blue-shirt");
    assert_eq!(created.status, ProductStatus::Draft);
    assert_eq!(created.seller_id, shop.seller);
    assert_eq!(created.attributes["material"], "cotton");
    let skus: Vec<&str> = created.variants.iter().map(|v| v.sku.as_str()).collect();
    assert_eq!(skus, ["SHIRT-S", "SHIRT-M"]);
    assert_eq!(created.variants[1].options["size"], "M");
    assert_eq!(created.variants[1].weight_grams, Some(250));
    let prices: Vec<(&str, Money)> = created.variants[1].prices.iter().map(|p| (p.channel.as_str(), p.price)).collect();
    assert_eq!(prices, [("online", Money::new(1999, Currency::EUR)), ("store", Money::new(2199, Currency::EUR))]);

    let by_id = shop.catalog.get_product(&shop.ctx, &created.id.to_string(), Visibility::All).await.unwrap();
    let by_slug = shop.catalog.get_product(&shop.ctx, "blue-shirt", Visibility::All).await.unwrap();
    assert_eq!(serde_json::to_value(&by_id).unwrap(), serde_json::to_value(&created).unwrap());
    assert_eq!(by_slug.id, created.id);

    let e = shop.catalog.get_product(&shop.ctx, "no-such-thing", Visibility::All).await.unwrap_err();
    assert_eq!(e.status(), 404);

    let created_events = events(&shop.db).await;
    assert_eq!(created_events.len(), 1);
    let event = &created_events[0];
    assert_eq!((event.event_type.as_str(), event.source.as_str()), ("product.item.created", "catalog"));
    assert_eq!(event.correlation_id, "corr-catalog");
    let payload: ProductChanged = event.data_as().unwrap();
    assert_eq!(payload.product_id, created.id);
    assert_eq!(payload.skus, ["SHIRT-S", "SHIRT-M"]);
    assert_eq!(payload.status, ProductStatus::Draft);
}

#[tokio::test]
async fn drafts_are_hidden_from_the_public_until_published() {
    let shop = shop().await;
    let p = shop.create(product(shop.seller, "Mug", &["MUG-1"])).await;
    let slug = p.slug.clone();

    let hidden = shop.catalog.get_product(&shop.ctx, &slug, Visibility::PublishedOnly).await.unwrap_err();
    assert_eq!(hidden.status(), 404);
    assert_eq!(shop.list(ProductFilter::default(), Visibility::PublishedOnly).await, (vec![], 0));
    assert_eq!(shop.list(ProductFilter::default(), Visibility::All).await.1, 1);

    let published = shop.catalog.publish(&shop.ctx, p.id).await.unwrap();
    assert_eq!(published.status, ProductStatus::Published);
    let again = shop.catalog.publish(&shop.ctx, p.id).await.unwrap();
    assert_eq!(again.status, ProductStatus::Published);
    let seen = shop.catalog.get_product(&shop.ctx, &slug, Visibility::PublishedOnly).await.unwrap();
    assert_eq!(seen.status, ProductStatus::Published);
    assert_eq!(shop.list(ProductFilter::default(), Visibility::PublishedOnly).await, (vec!["Mug".into()], 1));

    shop.catalog.unpublish(&shop.ctx, p.id).await.unwrap();
    assert_eq!(shop.catalog.get_product(&shop.ctx, &slug, Visibility::PublishedOnly).await.unwrap_err().status(), 404);

    assert_eq!(
        event_types(&shop.db).await,
        ["product.item.created", "product.item.published", "product.item.unpublished"],
        "publishing twice emits once"
    );
    assert_eq!(shop.catalog.publish(&shop.ctx, Uuid::now_v7()).await.unwrap_err().status(), 404);
}

#[tokio::test]
async fn publishing_needs_a_price() {
    let shop = shop().await;
    let mut input = product(shop.seller, "Unpriced", &["UNPRICED"]);
    input.variants[0].prices.clear();
    let p = shop.create(input).await;
    let e = shop.catalog.publish(&shop.ctx, p.id).await.unwrap_err();
    assert_eq!((e.status(), e.code()), (409, "not-publishable"));

    shop.catalog.set_prices(&shop.ctx, "UNPRICED", vec![eur("online", 0)]).await.unwrap();
    assert_eq!(shop.catalog.publish(&shop.ctx, p.id).await.unwrap().status, ProductStatus::Published);
}

#[tokio::test]
async fn skus_and_slugs_are_unique() {
    let shop = shop().await;
    shop.create(product(shop.seller, "Shirt", &["SKU-1"])).await;

    let e =
        shop.catalog.create_product(&shop.ctx, product(shop.seller, "Other", &["SKU-2", "SKU-1"])).await.unwrap_err();
    assert_eq!((e.status(), e.code()), (409, "duplicate-sku"));
    assert_eq!(e.field_errors()[0].field, "variants[1].sku");

    let e =
        shop.catalog.create_product(&shop.ctx, product(shop.seller, "Twice", &["SKU-3", "SKU-3"])).await.unwrap_err();
    assert_eq!((e.code(), e.field_errors()[0].field.as_str()), ("duplicate-sku", "variants[1].sku"));

    let mut given = product(shop.seller, "Another", &["SKU-4"]);
    given.slug = Some("shirt".into());
    let e = shop.catalog.create_product(&shop.ctx, given).await.unwrap_err();
    assert_eq!((e.status(), e.code(), e.field_errors()[0].field.as_str()), (409, "duplicate-slug", "slug"));

    // A slug derived from a name already taken gets a suffix instead.
    let second = shop.create(product(shop.seller, "Shirt", &["SKU-5"])).await;
    assert!(second.slug.starts_with("shirt-") && second.slug != "shirt", "{}", second.slug);

    let e = shop.catalog.add_variant(&shop.ctx, second.id, variant("SKU-1", vec![])).await.unwrap_err();
    assert_eq!((e.code(), e.field_errors()[0].field.as_str()), ("duplicate-sku", "sku"));
}

#[tokio::test]
async fn bad_input_is_refused_with_the_field_path_and_writes_nothing() {
    let shop = shop().await;

    let mut bad_prices = product(shop.seller, "Lamp", &["LAMP-1", "LAMP-2"]);
    bad_prices.variants[1].prices = vec![
        eur("online", -5),
        PriceInput { channel: "store".into(), amount: 100, currency: Currency::USD },
        eur("moon", 100),
    ];
    assert_eq!(
        refusal(shop.catalog.create_product(&shop.ctx, bad_prices).await),
        (
            422,
            fields(&[
                "variants[1].prices[0].amount",
                "variants[1].prices[1].currency",
                "variants[1].prices[2].channel"
            ])
        )
    );

    let unknown_seller = product(Uuid::now_v7(), "Lamp", &["LAMP-1"]);
    assert_eq!(refusal(shop.catalog.create_product(&shop.ctx, unknown_seller).await), (422, fields(&["seller_id"])));

    let mut unknown_category = product(shop.seller, "Lamp", &["LAMP-1"]);
    unknown_category.category_ids = vec![Uuid::now_v7()];
    assert_eq!(
        refusal(shop.catalog.create_product(&shop.ctx, unknown_category).await),
        (422, fields(&["category_ids[0]"]))
    );

    let mut no_variants = product(shop.seller, "", &[]);
    no_variants.slug = Some("Bad Slug".into());
    assert_eq!(
        refusal(shop.catalog.create_product(&shop.ctx, no_variants).await),
        (422, fields(&["name", "slug", "variants"]))
    );

    assert_eq!(shop.list(ProductFilter::default(), Visibility::All).await, (vec![], 0));
    assert!(events(&shop.db).await.is_empty(), "no event for a refused change");
    // The SKU of a refused product is still free.
    shop.create(product(shop.seller, "Lamp", &["LAMP-1"])).await;
}

#[tokio::test]
async fn products_are_patched() {
    let shop = shop().await;
    let shoes = shop.category("Shoes", None).await;
    let shirts = shop.category("Shirts", None).await;
    shop.create(product(shop.seller, "Taken", &["T-1"])).await;
    let mut input = product(shop.seller, "Boot", &["BOOT-1"]);
    input.category_ids = vec![shoes];
    let p = shop.create(input).await;

    let patch = ProductPatch {
        name: Some("Leather Boot".into()),
        slug: Some("leather-boot".into()),
        category_ids: Some(vec![shirts, shoes]),
        attributes: Some(BTreeMap::from([("colour".into(), "brown".into())])),
        ..Default::default()
    };
    let updated = shop.catalog.update_product(&shop.ctx, p.id, patch).await.unwrap();
    assert_eq!((updated.name.as_str(), updated.slug.as_str()), ("Leather Boot", "leather-boot"));
    assert_eq!(updated.category_ids, [shirts, shoes]);
    assert!(updated.updated_at >= p.updated_at);
    let read = shop.catalog.get_product(&shop.ctx, "leather-boot", Visibility::All).await.unwrap();
    assert_eq!(serde_json::to_value(&read).unwrap(), serde_json::to_value(&updated).unwrap());

    let taken = ProductPatch { slug: Some("taken".into()), ..Default::default() };
    assert_eq!(shop.catalog.update_product(&shop.ctx, p.id, taken).await.unwrap_err().code(), "duplicate-slug");
    let same = ProductPatch { slug: Some("leather-boot".into()), ..Default::default() };
    assert!(shop.catalog.update_product(&shop.ctx, p.id, same).await.is_ok(), "keeping its own slug is fine");
    let bad = ProductPatch { category_ids: Some(vec![shoes, Uuid::now_v7()]), ..Default::default() };
    assert_eq!(refusal(shop.catalog.update_product(&shop.ctx, p.id, bad).await), (422, fields(&["category_ids[1]"])));
    let missing = shop.catalog.update_product(&shop.ctx, Uuid::now_v7(), ProductPatch::default()).await;
    assert_eq!(refusal(missing).0, 404);

    let types = event_types(&shop.db).await;
    assert_eq!(types.iter().filter(|t| *t == "product.item.updated").count(), 2);
}

#[tokio::test]
async fn variants_are_added_and_prices_set_by_sku() {
    let shop = shop().await;
    let p = shop.create(product(shop.seller, "Cap", &["CAP-S"])).await;

    let with_m = shop.catalog.add_variant(&shop.ctx, p.id, variant("CAP-M", vec![eur("store", 1500)])).await.unwrap();
    let skus: Vec<&str> = with_m.variants.iter().map(|v| v.sku.as_str()).collect();
    assert_eq!(skus, ["CAP-S", "CAP-M"]);
    let missing = shop.catalog.add_variant(&shop.ctx, Uuid::now_v7(), variant("CAP-L", vec![])).await;
    assert_eq!(refusal(missing).0, 404);
    let bad = shop.catalog.add_variant(&shop.ctx, p.id, variant("CAP L", vec![eur("online", -1)])).await;
    assert_eq!(refusal(bad), (422, fields(&["sku", "prices[0].amount"])));

    let repriced =
        shop.catalog.set_prices(&shop.ctx, "CAP-S", vec![eur("store", 1800), eur("online", 1700)]).await.unwrap();
    let prices: Vec<(&str, i64)> =
        repriced.variants[0].prices.iter().map(|p| (p.channel.as_str(), p.price.amount)).collect();
    assert_eq!(prices, [("online", 1700), ("store", 1800)]);
    let repriced = shop.catalog.set_prices(&shop.ctx, "CAP-S", vec![eur("store", 1600)]).await.unwrap();
    let prices: Vec<(&str, i64)> =
        repriced.variants[0].prices.iter().map(|p| (p.channel.as_str(), p.price.amount)).collect();
    assert_eq!(prices, [("online", 1700), ("store", 1600)], "other channels keep their price");

    assert_eq!(refusal(shop.catalog.set_prices(&shop.ctx, "NOPE", vec![eur("online", 1)]).await).0, 404);
    let wrong_currency = vec![PriceInput { channel: "online".into(), amount: 1, currency: Currency::USD }];
    assert_eq!(
        refusal(shop.catalog.set_prices(&shop.ctx, "CAP-S", wrong_currency).await),
        (422, fields(&["prices[0].currency"]))
    );
    let twice = vec![eur("online", 1), eur("online", 2)];
    assert_eq!(
        refusal(shop.catalog.set_prices(&shop.ctx, "CAP-S", twice).await),
        (422, fields(&["prices[1].channel"]))
    );

    let last: ProductChanged = events(&shop.db).await.last().unwrap().data_as().unwrap();
    assert_eq!(last.skus, ["CAP-S", "CAP-M"]);
    assert_eq!(
        event_types(&shop.db).await,
        ["product.item.created", "product.item.updated", "product.item.updated", "product.item.updated"]
    );
}

#[tokio::test]
async fn lists_filter_by_category_tree_collection_seller_words_and_channel() {
    let shop = shop().await;
    let clothing = shop.category("Clothing", None).await;
    let shirts = shop.category("Shirts", Some(clothing)).await;
    let t_shirts = shop.category("T-Shirts", Some(shirts)).await;
    let kitchen = shop.category("Kitchen", None).await;

    let mut tee = product(shop.seller, "Plain Tee", &["TEE"]);
    tee.category_ids = vec![t_shirts];
    tee.description = "Organic COTTON, 100%".into();
    let tee = shop.published(tee).await;
    let mut oxford = product(shop.seller, "Oxford Shirt", &["OXFORD"]);
    oxford.category_ids = vec![shirts];
    let oxford = shop.published(oxford).await;
    let mut coat = product(shop.other_seller, "Wool Coat", &["COAT"]);
    coat.category_ids = vec![clothing];
    coat.variants[0].prices = vec![eur("store", 9900)];
    shop.published(coat).await;
    let mut pan = product(shop.other_seller, "Cotton Oven Mitt", &["MITT"]);
    pan.category_ids = vec![kitchen];
    shop.create(pan).await; // stays a draft

    let by_category = |c: &str| ProductFilter { category: Some(c.into()), ..Default::default() };
    let all = Visibility::All;
    assert_eq!(
        shop.list(ProductFilter::default(), all).await.0,
        ["Cotton Oven Mitt", "Wool Coat", "Oxford Shirt", "Plain Tee"],
        "newest first"
    );
    assert_eq!(
        shop.list(by_category("clothing"), all).await,
        (vec!["Wool Coat".into(), "Oxford Shirt".into(), "Plain Tee".into()], 3)
    );
    assert_eq!(shop.list(by_category(&shirts.to_string()), all).await.0, ["Oxford Shirt", "Plain Tee"]);
    assert_eq!(shop.list(by_category("t-shirts"), all).await.0, ["Plain Tee"]);
    assert_eq!(shop.list(by_category("kitchen"), Visibility::PublishedOnly).await.1, 0);
    assert_eq!(shop.list(by_category("no-such-category"), all).await.1, 0);

    let seller = ProductFilter { seller_id: Some(shop.other_seller), ..Default::default() };
    assert_eq!(shop.list(seller, all).await.0, ["Cotton Oven Mitt", "Wool Coat"]);
    let words = |q: &str| ProductFilter { q: Some(q.into()), ..Default::default() };
    assert_eq!(
        shop.list(words("cotton"), all).await.0,
        ["Cotton Oven Mitt", "Plain Tee"],
        "name or description, any case"
    );
    assert_eq!(shop.list(words("COTTON tee"), all).await.0, ["Plain Tee"], "every word must match");
    assert_eq!(shop.list(words("100%"), all).await.0, ["Plain Tee"]);
    assert_eq!(shop.list(words("%"), all).await.0, ["Plain Tee"], "LIKE wildcards are taken literally");
    let channel = |c: &str| ProductFilter { channel: Some(c.into()), ..Default::default() };
    assert_eq!(shop.list(channel("store"), all).await.0, ["Wool Coat"]);
    let e = shop.catalog.list_products(&shop.ctx, channel("moon"), all, page(1, 10)).await;
    assert_eq!(refusal(e), (422, fields(&["channel"])));

    let collection = NewCollection {
        name: "Summer".into(),
        slug: None,
        description: String::new(),
        product_ids: vec![tee.id, oxford.id],
    };
    let collection = shop.catalog.create_collection(&shop.ctx, collection).await.unwrap();
    let in_collection = |c: String| ProductFilter { collection: Some(c), ..Default::default() };
    assert_eq!(shop.list(in_collection("summer".into()), all).await.0, ["Oxford Shirt", "Plain Tee"]);
    assert_eq!(shop.list(in_collection(collection.id.to_string()), all).await.1, 2);
    let combined =
        ProductFilter { collection: Some("summer".into()), category: Some("t-shirts".into()), ..Default::default() };
    assert_eq!(shop.list(combined, all).await.0, ["Plain Tee"]);

    // Each listed product comes with its variants, prices and categories.
    let listed = shop.catalog.list_products(&shop.ctx, by_category("shirts"), all, page(1, 10)).await.unwrap();
    let plain = listed.items.iter().find(|p| p.id == tee.id).unwrap();
    assert_eq!(plain.category_ids, [t_shirts]);
    assert_eq!(plain.variants[0].sku, "TEE");
    assert_eq!(plain.variants[0].prices[0].price.amount, 1999);
}

#[tokio::test]
async fn pages_carry_the_total() {
    let shop = shop().await;
    for i in 0..7 {
        shop.create(product(shop.seller, &format!("Item {i}"), &[&format!("ITEM-{i}")])).await;
    }
    let names = |p: &comptoir_kernel::Page<Product>| p.items.iter().map(|p| p.name.clone()).collect::<Vec<_>>();
    let first =
        shop.catalog.list_products(&shop.ctx, ProductFilter::default(), Visibility::All, page(1, 3)).await.unwrap();
    assert_eq!((first.total, first.page, first.per_page), (7, 1, 3));
    assert_eq!(names(&first), ["Item 6", "Item 5", "Item 4"]);
    let last =
        shop.catalog.list_products(&shop.ctx, ProductFilter::default(), Visibility::All, page(3, 3)).await.unwrap();
    assert_eq!((names(&last), last.total), (vec!["Item 0".to_string()], 7));
    let beyond =
        shop.catalog.list_products(&shop.ctx, ProductFilter::default(), Visibility::All, page(9, 3)).await.unwrap();
    assert!(beyond.items.is_empty());
    assert_eq!(beyond.total, 7);
    let invalid = PageRequest { page: 0, per_page: 3 };
    assert_eq!(
        refusal(shop.catalog.list_products(&shop.ctx, ProductFilter::default(), Visibility::All, invalid).await).0,
        422
    );
}

#[tokio::test]
async fn deleting_a_product_removes_everything_that_hangs_off_it() {
    let shop = shop().await;
    let category = shop.category("Toys", None).await;
    let mut input = product(shop.seller, "Kite", &["KITE-1", "KITE-2"]);
    input.category_ids = vec![category];
    let kite = shop.published(input).await;
    let keep = shop.create(product(shop.seller, "Ball", &["BALL"])).await;
    let collection = NewCollection {
        name: "Outdoor".into(),
        slug: None,
        description: String::new(),
        product_ids: vec![kite.id, keep.id],
    };
    shop.catalog.create_collection(&shop.ctx, collection).await.unwrap();

    shop.catalog.delete_product(&shop.ctx, kite.id).await.unwrap();
    assert_eq!(
        shop.catalog.get_product(&shop.ctx, &kite.id.to_string(), Visibility::All).await.unwrap_err().status(),
        404
    );
    assert_eq!(shop.catalog.offer(&shop.ctx, "KITE-1", "online").await.unwrap_err().status(), 404);
    assert_eq!(shop.catalog.get_collection(&shop.ctx, "outdoor").await.unwrap().product_ids, [keep.id]);
    let toys = ProductFilter { category: Some("toys".into()), ..Default::default() };
    assert_eq!(shop.list(toys, Visibility::All).await.1, 0);
    assert_eq!(shop.catalog.delete_product(&shop.ctx, kite.id).await.unwrap_err().status(), 404);

    let deleted = events(&shop.db).await.into_iter().find(|e| e.event_type == "product.item.deleted").unwrap();
    let payload: ProductChanged = deleted.data_as().unwrap();
    assert_eq!((payload.product_id, payload.skus), (kite.id, vec!["KITE-1".to_string(), "KITE-2".to_string()]));
    // Its SKUs and slug are free again.
    let again = shop.create(product(shop.seller, "Kite", &["KITE-1"])).await;
    assert_eq!(again.slug, "kite");
}

#[tokio::test]
async fn categories_form_an_ordered_tree() {
    let shop = shop().await;
    let new = |name: &str, parent: Option<Uuid>, position: i64| NewCategory {
        name: name.into(),
        slug: None,
        parent_id: parent,
        position,
    };
    let women = shop.catalog.create_category(&shop.ctx, new("Women", None, 2)).await.unwrap();
    let men = shop.catalog.create_category(&shop.ctx, new("Men", None, 1)).await.unwrap();
    shop.catalog.create_category(&shop.ctx, new("Shoes", Some(men.id), 0)).await.unwrap();
    shop.catalog.create_category(&shop.ctx, new("Coats", Some(men.id), 0)).await.unwrap();
    shop.catalog.create_category(&shop.ctx, new("Bags", Some(women.id), 0)).await.unwrap();
    assert_eq!(men.slug, "men");

    let tree = shop.catalog.category_tree(&shop.ctx).await.unwrap();
    let names: Vec<&str> = tree.iter().map(|n| n.category.name.as_str()).collect();
    assert_eq!(names, ["Men", "Women"]);
    let under_men: Vec<&str> = tree[0].children.iter().map(|n| n.category.name.as_str()).collect();
    assert_eq!(under_men, ["Coats", "Shoes"], "same position: by name");
    assert_eq!(tree[1].children[0].category.parent_id, Some(women.id));

    let orphan = new("Lost", Some(Uuid::now_v7()), 0);
    assert_eq!(refusal(shop.catalog.create_category(&shop.ctx, orphan).await), (422, fields(&["parent_id"])));
    let taken = NewCategory { name: "Other".into(), slug: Some("men".into()), parent_id: None, position: 0 };
    assert_eq!(shop.catalog.create_category(&shop.ctx, taken).await.unwrap_err().code(), "duplicate-slug");

    let created: Vec<EventEnvelope> = events(&shop.db).await;
    assert_eq!(created.len(), 5);
    assert!(created.iter().all(|e| e.event_type == "product.category.created"));
    assert_eq!(created[1].data["slug"], "men");
}

#[tokio::test]
async fn collections_are_created_updated_and_listed() {
    let shop = shop().await;
    let a = shop.create(product(shop.seller, "A", &["A"])).await;
    let b = shop.create(product(shop.seller, "B", &["B"])).await;

    let input = NewCollection {
        name: "Gift Ideas".into(),
        slug: None,
        description: "For you".into(),
        product_ids: vec![b.id, a.id],
    };
    let gifts = shop.catalog.create_collection(&shop.ctx, input).await.unwrap();
    assert_eq!((gifts.slug.as_str(), gifts.product_ids.clone()), ("gift-ideas", vec![b.id, a.id]));
    let read = shop.catalog.get_collection(&shop.ctx, "gift-ideas").await.unwrap();
    assert_eq!(serde_json::to_value(&read).unwrap(), serde_json::to_value(&gifts).unwrap());

    let patch = CollectionPatch { name: Some("Gifts".into()), product_ids: Some(vec![a.id]), ..Default::default() };
    let updated = shop.catalog.update_collection(&shop.ctx, gifts.id, patch).await.unwrap();
    assert_eq!(
        (updated.name.as_str(), updated.description.as_str(), updated.product_ids.clone()),
        ("Gifts", "For you", vec![a.id])
    );
    assert_eq!(shop.catalog.get_collection(&shop.ctx, &gifts.id.to_string()).await.unwrap().product_ids, [a.id]);

    let unknown = NewCollection {
        name: "Bad".into(),
        slug: None,
        description: String::new(),
        product_ids: vec![a.id, Uuid::now_v7()],
    };
    assert_eq!(refusal(shop.catalog.create_collection(&shop.ctx, unknown).await), (422, fields(&["product_ids[1]"])));
    let bad_patch = CollectionPatch { product_ids: Some(vec![Uuid::now_v7()]), ..Default::default() };
    assert_eq!(
        refusal(shop.catalog.update_collection(&shop.ctx, gifts.id, bad_patch).await),
        (422, fields(&["product_ids[0]"]))
    );
    assert_eq!(
        refusal(shop.catalog.update_collection(&shop.ctx, Uuid::now_v7(), CollectionPatch::default()).await).0,
        404
    );
    assert_eq!(shop.catalog.get_collection(&shop.ctx, "nope").await.unwrap_err().status(), 404);
    let taken = NewCollection {
        name: "X".into(),
        slug: Some("gift-ideas".into()),
        description: String::new(),
        product_ids: vec![],
    };
    assert_eq!(shop.catalog.create_collection(&shop.ctx, taken).await.unwrap_err().code(), "duplicate-slug");

    for name in ["Sale", "New In"] {
        let input = NewCollection { name: name.into(), slug: None, description: String::new(), product_ids: vec![] };
        shop.catalog.create_collection(&shop.ctx, input).await.unwrap();
    }
    let first = shop.catalog.list_collections(&shop.ctx, page(1, 2)).await.unwrap();
    let names: Vec<&str> = first.items.iter().map(|c| c.name.as_str()).collect();
    assert_eq!((names, first.total), (vec!["New In", "Sale"], 3));
    let second = shop.catalog.list_collections(&shop.ctx, page(2, 2)).await.unwrap();
    assert_eq!(second.items[0].product_ids, [a.id]);

    let collection_events: Vec<EventEnvelope> =
        events(&shop.db).await.into_iter().filter(|e| e.event_type.starts_with("product.collection.")).collect();
    let types: Vec<&str> = collection_events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "product.collection.created",
            "product.collection.updated",
            "product.collection.created",
            "product.collection.created"
        ]
    );
    let updated_payload: CollectionChanged = collection_events[1].data_as().unwrap();
    assert_eq!((updated_payload.collection_id, updated_payload.product_ids), (gifts.id, vec![a.id]));
}

#[tokio::test]
async fn offers_price_a_published_sku_in_a_channel() {
    let shop = shop().await;
    let mut input = product(shop.seller, "Tea", &["TEA-100G", "TEA-500G"]);
    input.variants[0].options.insert("weight".into(), "100 g".into());
    let tea = shop.published(input).await;
    shop.create(product(shop.seller, "Draft", &["DRAFT-1"])).await;

    let offer = shop.catalog.offer(&shop.ctx, "TEA-100G", "online").await.unwrap();
    assert_eq!((offer.sku.as_str(), offer.product_id, offer.product_name.as_str()), ("TEA-100G", tea.id, "Tea"));
    assert_eq!((offer.channel.as_str(), offer.price), ("online", Money::new(1999, Currency::EUR)));
    assert_eq!(offer.options["weight"], "100 g");

    let e = shop.catalog.offer(&shop.ctx, "NOPE", "online").await.unwrap_err();
    assert_eq!((e.status(), e.to_string()), (404, "sku NOPE not found".to_string()));
    assert_eq!(shop.catalog.offer(&shop.ctx, "DRAFT-1", "online").await.unwrap_err().status(), 404);
    assert_eq!(refusal(shop.catalog.offer(&shop.ctx, "TEA-100G", "moon").await), (422, fields(&["channel"])));
    let e = shop.catalog.offer(&shop.ctx, "TEA-100G", "store").await.unwrap_err();
    assert_eq!((e.status(), e.field_errors()[0].field.as_str()), (422, "sku"));
    assert!(e.to_string().contains("no price in channel store"), "{e}");
}

#[tokio::test]
async fn cached_reads_never_outlive_a_write() {
    let s = shop().await;
    let shirt = s.published(product(s.seller, "Shirt", &["CACHE-1"])).await;
    let public = |key: String| {
        let s = &s;
        async move { s.catalog.get_product(&s.ctx, &key, Visibility::PublishedOnly).await }
    };
    // Read twice: the second answer comes from the cache.
    assert_eq!(public(shirt.slug.clone()).await.unwrap().name, "Shirt");
    assert_eq!(public(shirt.id.to_string()).await.unwrap().name, "Shirt");
    assert_eq!(s.list(ProductFilter::default(), Visibility::PublishedOnly).await, (vec!["Shirt".to_string()], 1));

    let patch = ProductPatch { name: Some("Linen Shirt".into()), ..ProductPatch::default() };
    s.catalog.update_product(&s.ctx, shirt.id, patch).await.unwrap();
    assert_eq!(public(shirt.id.to_string()).await.unwrap().name, "Linen Shirt");
    assert_eq!(s.list(ProductFilter::default(), Visibility::PublishedOnly).await.0, vec!["Linen Shirt".to_string()]);

    s.catalog.set_prices(&s.ctx, "CACHE-1", vec![eur("online", 2500)]).await.unwrap();
    assert_eq!(public(shirt.slug.clone()).await.unwrap().variants[0].prices[0].price.amount, 2500);

    s.catalog.unpublish(&s.ctx, shirt.id).await.unwrap();
    assert_eq!(public(shirt.slug.clone()).await.unwrap_err().status(), 404);
    assert_eq!(s.list(ProductFilter::default(), Visibility::PublishedOnly).await.1, 0);

    s.published(product(s.seller, "Hat", &["CACHE-2"])).await;
    assert_eq!(s.list(ProductFilter::default(), Visibility::PublishedOnly).await, (vec!["Hat".to_string()], 1));
    s.catalog.delete_product(&s.ctx, shirt.id).await.unwrap();
    assert_eq!(s.catalog.get_product(&s.ctx, &shirt.slug, Visibility::All).await.unwrap_err().status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_changes_to_one_product_lose_nothing() {
    let shop = shop().await;
    let p = shop.create(product(shop.seller, "Sock", &["SOCK-0"])).await;

    // Patches of different fields race: each must survive the other.
    for round in 0..5 {
        let (name, description) = (format!("Sock {round}"), format!("Round {round}"));
        let rename = ProductPatch { name: Some(name.clone()), ..Default::default() };
        let describe = ProductPatch { description: Some(description.clone()), ..Default::default() };
        let (a, b) = (shop.catalog.clone(), shop.catalog.clone());
        let (ctx_a, ctx_b) = (shop.ctx.clone(), shop.ctx.clone());
        let (renamed, described) = tokio::join!(
            tokio::spawn(async move { a.update_product(&ctx_a, p.id, rename).await }),
            tokio::spawn(async move { b.update_product(&ctx_b, p.id, describe).await }),
        );
        renamed.unwrap().unwrap();
        described.unwrap().unwrap();
        let read = shop.catalog.get_product(&shop.ctx, &p.id.to_string(), Visibility::All).await.unwrap();
        assert_eq!((read.name, read.description), (name, description), "round {round}");
    }

    // Variants added at once (all spawned before any is awaited) each get a place of their own, in
    // the order they were committed.
    let adds = (1..=8)
        .map(|i| {
            let (catalog, ctx) = (shop.catalog.clone(), shop.ctx.clone());
            tokio::spawn(async move {
                catalog.add_variant(&ctx, p.id, variant(&format!("SOCK-{i}"), vec![eur("online", 500)])).await
            })
        })
        .collect::<Vec<_>>();
    let mut counts = Vec::new();
    for add in adds {
        counts.push(add.await.unwrap().unwrap().variants.len());
    }
    counts.sort();
    assert_eq!(counts, (2..=9).collect::<Vec<_>>(), "each addition saw the ones committed before it");
    let read = shop.catalog.get_product(&shop.ctx, &p.id.to_string(), Visibility::All).await.unwrap();
    let skus: HashSet<String> = read.variants.iter().map(|v| v.sku.clone()).collect();
    assert_eq!((read.variants.len(), skus.len()), (9, 9));

    // Two products racing for one SKU: one is created, the other refused as a duplicate.
    let racers = (0..2)
        .map(|i| {
            let (catalog, ctx) = (shop.catalog.clone(), shop.ctx.clone());
            let mut input = product(shop.seller, "Glove", &["GLOVE-1"]);
            input.slug = Some(format!("glove-{i}"));
            tokio::spawn(async move { catalog.create_product(&ctx, input).await })
        })
        .collect::<Vec<_>>();
    let mut outcomes = Vec::new();
    for racer in racers {
        outcomes.push(racer.await.unwrap().map(|_| ()).map_err(|e| e.code().to_string()));
    }
    outcomes.sort();
    assert_eq!(outcomes, [Ok(()), Err("duplicate-sku".to_string())]);
}
