//! The catalog module served over gRPC and driven through `CatalogClient`, on a real database
//! (SQLite, or PostgreSQL when COMPTOIR_TEST_BACKEND=postgres): every port method answers what the
//! module answers in process, and every error comes back with the same status, code and fields.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use comptoir_catalog::{CatalogModule, MIGRATIONS};
use comptoir_catalog_grpc::pb::catalog_service_client::CatalogServiceClient;
use comptoir_catalog_grpc::{CatalogClient, pb, service};
use comptoir_contracts::catalog::{
    CatalogPort, CollectionPatch, NewCategory, NewCollection, NewProduct, NewVariant, PriceInput, Product,
    ProductFilter, ProductPatch, ProductStatus, Visibility,
};
use comptoir_contracts::identity::SellerDirectory;
use comptoir_grpc::server::ServiceSet;
use comptoir_grpc::{Remote, RemoteSettings, from_status};
use comptoir_kernel::{Actor, Currency, Error, Money, PageRequest, RequestContext, Result};
use comptoir_storage::{outbox, testing};
use serde::Serialize;
use tokio::net::TcpListener;
use uuid::Uuid;

/// Identity's seller port, answering for a fixed set of sellers.
struct KnownSellers(HashSet<Uuid>);

#[async_trait]
impl SellerDirectory for KnownSellers {
    async fn seller_exists(&self, _ctx: &RequestContext, id: Uuid) -> Result<bool> {
        Ok(self.0.contains(&id))
    }
}

/// The module in process (`local`) and the same module behind a gRPC server (`remote`).
struct Harness {
    database: testing::TestDb,
    local: CatalogModule,
    remote: CatalogClient,
    url: String,
    seller: Uuid,
}

async fn start() -> Harness {
    let database = testing::open("catalog", &MIGRATIONS).await;
    let seller = Uuid::now_v7();
    let local = CatalogModule::new(database.db.clone(), Arc::new(KnownSellers(HashSet::from([seller]))));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let services = ServiceSet::new().add(service(Arc::new(local.clone())));
    tokio::spawn(services.serve(listener, std::future::pending()));
    let remote = CatalogClient::new(Remote::connect("catalog", &url, RemoteSettings::default()).unwrap());
    Harness { database, local, remote, url, seller }
}

fn ctx() -> RequestContext {
    RequestContext::new("corr-catalog-grpc", Actor::user("staff-1"))
}

/// Both sides serialise alike: every field crossed the wire intact.
fn assert_same<T: Serialize>(remote: &T, local: &T) {
    assert_eq!(serde_json::to_value(remote).unwrap(), serde_json::to_value(local).unwrap());
}

fn assert_same_error(remote: &Error, local: &Error) {
    assert_eq!(
        (remote.status(), remote.code(), remote.field_errors(), remote.to_string()),
        (local.status(), local.code(), local.field_errors(), local.to_string())
    );
}

/// Makes the same failing call on the module and through the client; both must fail alike.
/// Answers the remote error.
macro_rules! fails_alike {
    ($harness:expr, |$port:ident| $call:expr) => {{
        let local = {
            let $port: &dyn CatalogPort = &$harness.local;
            $call.await.unwrap_err()
        };
        let remote = {
            let $port: &dyn CatalogPort = &$harness.remote;
            $call.await.unwrap_err()
        };
        assert_same_error(&remote, &local);
        remote
    }};
}

fn field_names(e: &Error) -> Vec<&str> {
    e.field_errors().iter().map(|f| f.field.as_str()).collect()
}

fn eur(channel: &str, amount: i64) -> PriceInput {
    PriceInput { channel: channel.into(), amount, currency: Currency::EUR }
}

fn variant(sku: &str, prices: Vec<PriceInput>) -> NewVariant {
    NewVariant { sku: sku.into(), options: BTreeMap::new(), weight_grams: None, prices }
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

fn category(name: &str, parent_id: Option<Uuid>, position: i64) -> NewCategory {
    NewCategory { name: name.into(), slug: None, parent_id, position }
}

fn collection(name: &str, product_ids: Vec<Uuid>) -> NewCollection {
    NewCollection { name: name.into(), slug: None, description: "Picked for you".into(), product_ids }
}

fn page(page: u32, per_page: u32) -> PageRequest {
    PageRequest::new(page, per_page).unwrap()
}

impl Harness {
    /// A published product made in process, to read remotely.
    async fn published(&self, input: NewProduct) -> Product {
        let created = self.local.create_product(&ctx(), input).await.unwrap();
        self.local.publish(&ctx(), created.id).await.unwrap()
    }

    async fn read(&self, id: Uuid) -> Product {
        self.local.get_product(&ctx(), &id.to_string(), Visibility::All).await.unwrap()
    }
}

#[tokio::test]
async fn channels_come_back_with_their_currency() {
    let h = start().await;
    let channels = h.remote.list_channels(&ctx()).await.unwrap();
    let seen: Vec<(&str, Currency)> = channels.iter().map(|c| (c.code.as_str(), c.currency)).collect();
    assert_eq!(seen, [("online", Currency::EUR), ("store", Currency::EUR)]);
    assert_same(&channels, &h.local.list_channels(&ctx()).await.unwrap());
}

#[tokio::test]
async fn a_product_is_created_read_published_and_unpublished_remotely() {
    let h = start().await;
    let shirts = h.remote.create_category(&ctx(), category("Shirts", None, 0)).await.unwrap();
    let mut input = product(h.seller, "Blue Shirt", &["SHIRT-S", "SHIRT-M"]);
    input.description = "Soft cotton".into();
    input.category_ids = vec![shirts.id];
    input.attributes.insert("material".into(), "cotton".into());
    input.variants[0].weight_grams = Some(0);
    input.variants[1].options = BTreeMap::from([("size".into(), "M".into()), ("colour".into(), "blue".into())]);
    input.variants[1].weight_grams = Some(250);
    input.variants[1].prices.push(eur("store", 2199));

    let created = h.remote.create_product(&ctx(), input).await.unwrap();
    assert_eq!((created.slug.as_str(), created.status), ("blue-shirt", ProductStatus::Draft));
    assert_eq!((created.seller_id, created.category_ids.clone()), (h.seller, vec![shirts.id]));
    assert_eq!(created.attributes["material"], "cotton");
    assert_eq!(created.variants[1].options["colour"], "blue");
    let weights: Vec<Option<i64>> = created.variants.iter().map(|v| v.weight_grams).collect();
    assert_eq!(weights, [Some(0), Some(250)], "zero stays apart from absent");
    let prices: Vec<(&str, Money)> = created.variants[1].prices.iter().map(|p| (p.channel.as_str(), p.price)).collect();
    assert_eq!(prices, [("online", Money::new(1999, Currency::EUR)), ("store", Money::new(2199, Currency::EUR))]);
    assert_same(&created, &h.read(created.id).await);

    let by_id = h.remote.get_product(&ctx(), &created.id.to_string(), Visibility::All).await.unwrap();
    let by_slug = h.remote.get_product(&ctx(), "blue-shirt", Visibility::All).await.unwrap();
    assert_same(&by_id, &created);
    assert_same(&by_slug, &created);
    let hidden = fails_alike!(h, |port| port.get_product(&ctx(), "blue-shirt", Visibility::PublishedOnly));
    assert_eq!(hidden.status(), 404);

    let published = h.remote.publish(&ctx(), created.id).await.unwrap();
    assert_eq!(published.status, ProductStatus::Published);
    assert_same(&h.remote.publish(&ctx(), created.id).await.unwrap(), &published);
    let public = h.remote.get_product(&ctx(), "blue-shirt", Visibility::PublishedOnly).await.unwrap();
    assert_same(&public, &published);

    let unpublished = h.remote.unpublish(&ctx(), created.id).await.unwrap();
    assert_eq!(unpublished.status, ProductStatus::Draft);
    assert_same(&unpublished, &h.read(created.id).await);

    // The caller's context crossed the wire into the events the module wrote.
    let events = outbox::pending(&h.database.db, 100).await.unwrap();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        ["product.category.created", "product.item.created", "product.item.published", "product.item.unpublished"],
        "publishing twice emits once"
    );
    assert!(events.iter().all(|e| e.correlation_id == "corr-catalog-grpc"));
    assert!(events.iter().all(|e| e.metadata.actor_id.as_deref() == Some("staff-1")));
}

#[tokio::test]
async fn products_are_patched_extended_repriced_and_deleted_remotely() {
    let h = start().await;
    let shoes = h.local.create_category(&ctx(), category("Shoes", None, 0)).await.unwrap();
    let mut input = product(h.seller, "Boot", &["BOOT-1"]);
    input.category_ids = vec![shoes.id];
    input.attributes.insert("colour".into(), "brown".into());
    input.description = "Sturdy".into();
    let boot = h.local.create_product(&ctx(), input).await.unwrap();

    // Empty lists and maps clear; absent fields keep their value.
    let patch = ProductPatch {
        name: Some("Leather Boot".into()),
        category_ids: Some(vec![]),
        attributes: Some(BTreeMap::new()),
        ..Default::default()
    };
    let patched = h.remote.update_product(&ctx(), boot.id, patch).await.unwrap();
    assert_eq!((patched.name.as_str(), patched.description.as_str()), ("Leather Boot", "Sturdy"));
    assert_eq!((patched.slug.as_str(), patched.category_ids.len(), patched.attributes.len()), ("boot", 0, 0));
    assert_same(&patched, &h.read(boot.id).await);
    let unchanged = h.remote.update_product(&ctx(), boot.id, ProductPatch::default()).await.unwrap();
    assert_same(&unchanged, &patched);

    let with_m = h.remote.add_variant(&ctx(), boot.id, variant("BOOT-2", vec![eur("store", 1500)])).await.unwrap();
    let skus: Vec<&str> = with_m.variants.iter().map(|v| v.sku.as_str()).collect();
    assert_eq!(skus, ["BOOT-1", "BOOT-2"]);
    assert_same(&with_m, &h.read(boot.id).await);

    let repriced = h.remote.set_prices(&ctx(), "BOOT-1", vec![eur("store", 1800), eur("online", 1700)]).await.unwrap();
    let prices: Vec<(&str, i64)> =
        repriced.variants[0].prices.iter().map(|p| (p.channel.as_str(), p.price.amount)).collect();
    assert_eq!(prices, [("online", 1700), ("store", 1800)]);
    assert_same(&repriced, &h.read(boot.id).await);
    let nothing_to_set = h.remote.set_prices(&ctx(), "BOOT-1", vec![]).await.unwrap();
    assert_same(&nothing_to_set, &repriced);

    h.remote.delete_product(&ctx(), boot.id).await.unwrap();
    let gone = fails_alike!(h, |port| port.get_product(&ctx(), &boot.id.to_string(), Visibility::All));
    assert!(matches!(&gone, Error::NotFound { resource: "product", id } if *id == boot.id.to_string()));
    let again = fails_alike!(h, |port| port.delete_product(&ctx(), boot.id));
    assert_eq!(again.status(), 404);
}

#[tokio::test]
async fn products_are_listed_with_filters_and_pages() {
    let h = start().await;
    let clothing = h.local.create_category(&ctx(), category("Clothing", None, 0)).await.unwrap();
    let mut tee = product(h.seller, "Plain Tee", &["TEE"]);
    tee.category_ids = vec![clothing.id];
    tee.description = "Organic cotton".into();
    let tee = h.published(tee).await;
    let mut coat = product(h.seller, "Wool Coat", &["COAT"]);
    coat.variants[0].prices = vec![eur("store", 9900)];
    h.published(coat).await;
    for i in 0..3 {
        h.local
            .create_product(&ctx(), product(h.seller, &format!("Draft {i}"), &[&format!("DRAFT-{i}")]))
            .await
            .unwrap();
    }
    let summer = h.local.create_collection(&ctx(), collection("Summer", vec![tee.id])).await.unwrap();

    let filters = [
        ProductFilter::default(),
        ProductFilter { category: Some("clothing".into()), ..Default::default() },
        ProductFilter { collection: Some(summer.id.to_string()), ..Default::default() },
        ProductFilter { seller_id: Some(h.seller), ..Default::default() },
        ProductFilter { seller_id: Some(Uuid::now_v7()), ..Default::default() },
        ProductFilter { q: Some("COTTON".into()), ..Default::default() },
        ProductFilter { channel: Some("store".into()), ..Default::default() },
        // Blank values are no filter at all, for the module to decide: they travel as sent.
        ProductFilter { category: Some(String::new()), q: Some("  ".into()), ..Default::default() },
    ];
    for filter in filters {
        for visibility in [Visibility::All, Visibility::PublishedOnly] {
            for request in [page(1, 2), page(2, 2), page(9, 2)] {
                let remote = h.remote.list_products(&ctx(), filter.clone(), visibility, request).await.unwrap();
                let local = h.local.list_products(&ctx(), filter.clone(), visibility, request).await.unwrap();
                assert_same(&remote, &local);
            }
        }
    }

    let first = h.remote.list_products(&ctx(), ProductFilter::default(), Visibility::All, page(1, 2)).await.unwrap();
    assert_eq!((first.items.len(), first.page, first.per_page, first.total), (2, 1, 2, 5));
    let public =
        h.remote.list_products(&ctx(), ProductFilter::default(), Visibility::PublishedOnly, page(1, 10)).await.unwrap();
    let names: Vec<&str> = public.items.iter().map(|p| p.name.as_str()).collect();
    assert_eq!((names, public.total), (vec!["Wool Coat", "Plain Tee"], 2));
    let in_store = ProductFilter { channel: Some("store".into()), ..Default::default() };
    let in_store = h.remote.list_products(&ctx(), in_store, Visibility::All, page(1, 10)).await.unwrap();
    assert_eq!(in_store.items[0].variants[0].prices[0].price, Money::new(9900, Currency::EUR));
}

#[tokio::test]
async fn categories_form_the_same_tree_remotely() {
    let h = start().await;
    let women = h.remote.create_category(&ctx(), category("Women", None, 2)).await.unwrap();
    let men = h.remote.create_category(&ctx(), category("Men", None, 1)).await.unwrap();
    let shoes = h.remote.create_category(&ctx(), category("Shoes", Some(men.id), -1)).await.unwrap();
    h.remote.create_category(&ctx(), category("Boots", Some(shoes.id), 0)).await.unwrap();
    h.remote.create_category(&ctx(), category("Bags", Some(women.id), 0)).await.unwrap();
    assert_eq!((men.slug.as_str(), men.parent_id, shoes.parent_id, shoes.position), ("men", None, Some(men.id), -1));

    let tree = h.remote.category_tree(&ctx()).await.unwrap();
    assert_same(&tree, &h.local.category_tree(&ctx()).await.unwrap());
    let roots: Vec<&str> = tree.iter().map(|n| n.category.name.as_str()).collect();
    assert_eq!(roots, ["Men", "Women"]);
    assert_eq!(tree[0].children[0].children[0].category.name, "Boots", "three levels deep");
}

#[tokio::test]
async fn collections_are_created_updated_read_and_listed_remotely() {
    let h = start().await;
    let a = h.local.create_product(&ctx(), product(h.seller, "A", &["A"])).await.unwrap();
    let b = h.local.create_product(&ctx(), product(h.seller, "B", &["B"])).await.unwrap();

    let gifts = h.remote.create_collection(&ctx(), collection("Gift Ideas", vec![b.id, a.id])).await.unwrap();
    assert_eq!((gifts.slug.as_str(), gifts.product_ids.clone()), ("gift-ideas", vec![b.id, a.id]));
    let by_slug = h.remote.get_collection(&ctx(), "gift-ideas").await.unwrap();
    assert_same(&by_slug, &gifts);
    assert_same(&h.remote.get_collection(&ctx(), &gifts.id.to_string()).await.unwrap(), &gifts);

    let patch = CollectionPatch { name: Some("Gifts".into()), product_ids: Some(vec![]), ..Default::default() };
    let emptied = h.remote.update_collection(&ctx(), gifts.id, patch).await.unwrap();
    assert_eq!(
        (emptied.name.as_str(), emptied.description.as_str(), emptied.product_ids.len()),
        ("Gifts", "Picked for you", 0),
        "an empty list clears, an absent description stays"
    );
    assert_same(&emptied, &h.local.get_collection(&ctx(), "gift-ideas").await.unwrap());

    for name in ["Sale", "New In"] {
        h.remote.create_collection(&ctx(), collection(name, vec![a.id])).await.unwrap();
    }
    for request in [page(1, 2), page(2, 2), page(3, 2)] {
        let remote = h.remote.list_collections(&ctx(), request).await.unwrap();
        assert_same(&remote, &h.local.list_collections(&ctx(), request).await.unwrap());
    }
    let first = h.remote.list_collections(&ctx(), page(1, 2)).await.unwrap();
    let names: Vec<&str> = first.items.iter().map(|c| c.name.as_str()).collect();
    assert_eq!((names, first.total), (vec!["New In", "Sale"], 3));
}

#[tokio::test]
async fn offers_price_a_published_sku_remotely() {
    let h = start().await;
    let mut input = product(h.seller, "Tea", &["TEA-100G"]);
    input.variants[0].options.insert("weight".into(), "100 g".into());
    let tea = h.published(input).await;
    h.local.create_product(&ctx(), product(h.seller, "Draft", &["DRAFT-1"])).await.unwrap();

    let offer = h.remote.offer(&ctx(), " TEA-100G ", "online").await.unwrap();
    assert_eq!((offer.sku.as_str(), offer.product_id, offer.product_name.as_str()), ("TEA-100G", tea.id, "Tea"));
    assert_eq!((offer.channel.as_str(), offer.price), ("online", Money::new(1999, Currency::EUR)));
    assert_eq!(offer.options["weight"], "100 g");
    assert_same(&offer, &h.local.offer(&ctx(), "TEA-100G", "online").await.unwrap());

    let unknown = fails_alike!(h, |port| port.offer(&ctx(), "NOPE", "online"));
    assert_eq!((unknown.status(), unknown.to_string().as_str()), (404, "sku NOPE not found"));
    assert_eq!(fails_alike!(h, |port| port.offer(&ctx(), "DRAFT-1", "online")).status(), 404);
    let moon = fails_alike!(h, |port| port.offer(&ctx(), "TEA-100G", "moon"));
    assert_eq!((moon.status(), field_names(&moon)), (422, vec!["channel"]));
    let unpriced = fails_alike!(h, |port| port.offer(&ctx(), "TEA-100G", "store"));
    assert_eq!((unpriced.status(), field_names(&unpriced)), (422, vec!["sku"]));
}

#[tokio::test]
async fn refusals_come_back_with_the_same_status_code_and_fields() {
    let h = start().await;
    let taken = h.local.create_product(&ctx(), product(h.seller, "Shirt", &["SKU-1"])).await.unwrap();

    // Validation: every field path the module names, as in process.
    let mut bad = product(h.seller, "", &["LAMP-1", "LAMP-2"]);
    bad.slug = Some("Bad Slug".into());
    bad.variants[1].prices = vec![
        eur("online", -5),
        PriceInput { channel: "store".into(), amount: 100, currency: Currency::USD },
        eur("moon", 100),
    ];
    let e = fails_alike!(h, |port| port.create_product(&ctx(), bad.clone()));
    assert_eq!(
        (e.status(), field_names(&e)),
        (
            422,
            vec![
                "name",
                "slug",
                "variants[1].prices[0].amount",
                "variants[1].prices[1].currency",
                "variants[1].prices[2].channel"
            ]
        )
    );
    let e = fails_alike!(h, |port| port.create_product(&ctx(), product(Uuid::now_v7(), "Lamp", &["LAMP-1"])));
    assert_eq!((e.status(), field_names(&e)), (422, vec!["seller_id"]));
    let e = fails_alike!(h, |port| port.add_variant(&ctx(), taken.id, variant("CAP L", vec![eur("online", -1)])));
    assert_eq!((e.status(), field_names(&e)), (422, vec!["sku", "prices[0].amount"]));
    let twice = vec![eur("online", 1), eur("online", 2)];
    let e = fails_alike!(h, |port| port.set_prices(&ctx(), "SKU-1", twice.clone()));
    assert_eq!(field_names(&e), ["prices[1].channel"]);
    let orphan = category("Lost", Some(Uuid::now_v7()), 0);
    assert_eq!(field_names(&fails_alike!(h, |port| port.create_category(&ctx(), orphan.clone()))), ["parent_id"]);
    let unknown_products = collection("Bad", vec![taken.id, Uuid::now_v7()]);
    let e = fails_alike!(h, |port| port.create_collection(&ctx(), unknown_products.clone()));
    assert_eq!(field_names(&e), ["product_ids[1]"]);
    let invalid_page = PageRequest { page: 0, per_page: 3 };
    let e = fails_alike!(h, |port| port.list_products(&ctx(), ProductFilter::default(), Visibility::All, invalid_page));
    assert_eq!((e.status(), field_names(&e)), (422, vec!["page"]));
    let e = fails_alike!(h, |port| port.list_collections(&ctx(), PageRequest { page: 1, per_page: 0 }));
    assert_eq!(field_names(&e), ["per_page"]);

    // Conflicts: their stable code and field.
    let e = fails_alike!(h, |port| port.create_product(&ctx(), product(h.seller, "Other", &["SKU-2", "SKU-1"])));
    assert_eq!((e.status(), e.code(), field_names(&e)), (409, "duplicate-sku", vec!["variants[1].sku"]));
    let e = fails_alike!(h, |port| port.add_variant(&ctx(), taken.id, variant("SKU-1", vec![])));
    assert_eq!((e.code(), field_names(&e)), ("duplicate-sku", vec!["sku"]));
    let other = h.local.create_product(&ctx(), product(h.seller, "Other", &["SKU-3"])).await.unwrap();
    let steal = ProductPatch { slug: Some("shirt".into()), ..Default::default() };
    let e = fails_alike!(h, |port| port.update_product(&ctx(), other.id, steal.clone()));
    assert_eq!((e.status(), e.code(), field_names(&e)), (409, "duplicate-slug", vec!["slug"]));
    let mut unpriced = product(h.seller, "Unpriced", &["UNPRICED"]);
    unpriced.variants[0].prices.clear();
    let unpriced = h.local.create_product(&ctx(), unpriced).await.unwrap();
    let e = fails_alike!(h, |port| port.publish(&ctx(), unpriced.id));
    assert_eq!((e.status(), e.code()), (409, "not-publishable"));
    let men = h.local.create_category(&ctx(), category("Men", None, 0)).await.unwrap();
    let same_slug = NewCategory { slug: Some(men.slug.clone()), ..category("Other", None, 0) };
    assert_eq!(fails_alike!(h, |port| port.create_category(&ctx(), same_slug.clone())).code(), "duplicate-slug");

    // Not found, for every kind of key.
    let missing = Uuid::now_v7();
    for e in [
        fails_alike!(h, |port| port.update_product(&ctx(), missing, ProductPatch::default())),
        fails_alike!(h, |port| port.add_variant(&ctx(), missing, variant("NEW", vec![]))),
        fails_alike!(h, |port| port.set_prices(&ctx(), "NOPE", vec![eur("online", 1)])),
        fails_alike!(h, |port| port.publish(&ctx(), missing)),
        fails_alike!(h, |port| port.unpublish(&ctx(), missing)),
        fails_alike!(h, |port| port.update_collection(&ctx(), missing, CollectionPatch::default())),
        fails_alike!(h, |port| port.get_collection(&ctx(), "nope")),
    ] {
        assert_eq!(e.status(), 404, "{e}");
    }

    // Nothing refused was written.
    let all = h.remote.list_products(&ctx(), ProductFilter::default(), Visibility::All, page(1, 100)).await.unwrap();
    assert_eq!(all.total, 3);
}

#[tokio::test]
async fn malformed_requests_are_bad_requests_naming_the_field() {
    let h = start().await;
    let mut raw = CatalogServiceClient::connect(h.url.clone()).await.unwrap();

    let status = raw.delete_product(pb::DeleteProductRequest { id: "nope".into() }).await.unwrap_err();
    let e = from_status("catalog", &status);
    assert_eq!(e.status(), 400);
    assert!(e.to_string().contains("id: `nope` is not a UUID"), "{e}");

    let unspecified = pb::GetProductRequest { id_or_slug: "x".into(), visibility: pb::Visibility::Unspecified.into() };
    let e = from_status("catalog", &raw.get_product(unspecified).await.unwrap_err());
    assert!(e.status() == 400 && e.to_string().starts_with("visibility:"), "{e}");

    let no_variant = pb::AddVariantRequest { product_id: Uuid::now_v7().to_string(), variant: None };
    let e = from_status("catalog", &raw.add_variant(no_variant).await.unwrap_err());
    assert!(e.status() == 400 && e.to_string().contains("variant"), "{e}");

    let bad_currency = pb::SetPricesRequest {
        sku: "SKU".into(),
        prices: vec![pb::PriceInput { channel: "online".into(), amount: 1, currency: "XXX".into() }],
    };
    let e = from_status("catalog", &raw.set_prices(bad_currency).await.unwrap_err());
    assert!(e.status() == 400 && e.to_string().contains("prices[0].currency"), "{e}");
}
