//! The search module against real databases (SQLite, or PostgreSQL with
//! `COMPTOIR_TEST_BACKEND=postgres`), fed through the in-process bus by the real identity, catalog
//! and inventory modules, on a small catalog whose relevance and facet counts are known.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use comptoir_catalog::CatalogModule;
use comptoir_contracts::catalog::{CatalogPort, NewCategory, NewProduct, NewVariant, PriceInput, ProductPatch};
use comptoir_contracts::identity::{IdentityPort, NewSeller};
use comptoir_contracts::inventory::{AdjustStock, InventoryPort, LocationKind, NewLocation, ReceiveStock};
use comptoir_contracts::search::{FacetValue, PriceRange, SearchPort, SearchQuery, SearchResults, SearchSort};
use comptoir_eventbus::{EventBus, MemoryBus, OutboxRelay, RetryPolicy};
use comptoir_identity::{IdentityConfig, IdentityModule};
use comptoir_inventory::InventoryModule;
use comptoir_kernel::{Currency, Error, RequestContext};
use comptoir_search::{MIGRATIONS, SearchConfig, SearchModule, SearchPorts};
use comptoir_storage::testing::{TestDb, open};
use comptoir_storage::{Db, outbox};
use uuid::Uuid;

fn ctx() -> RequestContext {
    RequestContext::system()
}

struct Shop {
    identity: Arc<IdentityModule>,
    catalog: Arc<CatalogModule>,
    inventory: InventoryModule,
    search: SearchModule,
    search_db: TestDb,
    bus: Arc<MemoryBus>,
    /// Every database, for settling; kept open as long as the shop.
    databases: Vec<TestDb>,
    relays: Vec<tokio::task::JoinHandle<()>>,
    ids: Ids,
}

/// A product of the known catalog.
struct Spec {
    name: &'static str,
    description: &'static str,
    category: Uuid,
    seller: Uuid,
    attributes: &'static [(&'static str, &'static str)],
    /// SKU and its options.
    variants: &'static [(&'static str, &'static [(&'static str, &'static str)])],
    price: i64,
    stock: i64,
    published: bool,
}

#[derive(Default)]
struct Ids {
    atelier: Uuid,
    nordic: Uuid,
    merino: Uuid,
    cashmere: Uuid,
    socks: Uuid,
    tee: Uuid,
    apron: Uuid,
    scarf: Uuid,
}

impl Drop for Shop {
    fn drop(&mut self) {
        for relay in &self.relays {
            relay.abort();
        }
    }
}

fn ports(
    shop_identity: &Arc<IdentityModule>,
    catalog: &Arc<CatalogModule>,
    inventory: &InventoryModule,
) -> SearchPorts {
    SearchPorts { catalog: catalog.clone(), inventory: Arc::new(inventory.clone()), identity: shop_identity.clone() }
}

impl Shop {
    /// The shop with search subscribed (`listening`) or not, and the known catalog in it.
    async fn open(listening: bool) -> Shop {
        let identity_db = open("identity", &comptoir_identity::MIGRATIONS).await;
        let catalog_db = open("catalog", &comptoir_catalog::MIGRATIONS).await;
        let inventory_db = open("inventory", &comptoir_inventory::MIGRATIONS).await;
        let search_db = open("search", &MIGRATIONS).await;
        let config = IdentityConfig { jwt_secret: "x".repeat(32), ..IdentityConfig::default() };
        let identity = Arc::new(IdentityModule::new(identity_db.db.clone(), config));
        let catalog = Arc::new(CatalogModule::new(catalog_db.db.clone(), identity.clone()));
        let inventory = InventoryModule::new(inventory_db.db.clone());
        let search = SearchModule::new(
            search_db.db.clone(),
            ports(&identity, &catalog, &inventory),
            SearchConfig { channel: "online".into() },
        )
        .unwrap();
        let bus = Arc::new(MemoryBus::new(RetryPolicy { delays: vec![Duration::from_millis(20); 3] }));
        for consumer in inventory.consumers() {
            bus.subscribe(consumer).await.unwrap();
        }
        if listening {
            for consumer in search.consumers() {
                bus.subscribe(consumer).await.unwrap();
            }
        }
        let mut relays = Vec::new();
        for db in [&identity_db, &catalog_db, &inventory_db] {
            relays.push(tokio::spawn(OutboxRelay::new(db.db.clone(), bus.clone()).run()));
        }
        let mut shop = Shop {
            identity,
            catalog,
            inventory,
            search,
            search_db,
            bus,
            databases: vec![identity_db, catalog_db, inventory_db],
            relays,
            ids: Ids::default(),
        };
        shop.stock_the_known_catalog().await;
        shop
    }

    async fn settle(&self) {
        for _ in 0..1000 {
            let mut backlog = 0;
            for db in &self.databases {
                backlog += outbox::backlog(&db.db).await.unwrap().0;
            }
            if backlog == 0 && self.bus.in_flight() == 0 {
                // Handled events wake the indexer of a running shop; here the test applies them.
                self.search.sync().await.unwrap();
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("events still pending after 5 s");
    }

    async fn stock_the_known_catalog(&mut self) {
        let seller = |name: &str| NewSeller { name: name.into(), email: None };
        self.ids.atelier = self.identity.create_seller(&ctx(), seller("Atelier Lyon")).await.unwrap().id;
        self.ids.nordic = self.identity.create_seller(&ctx(), seller("Nordic Wool")).await.unwrap().id;
        let category = |name: &str, parent: Option<Uuid>| NewCategory {
            name: name.into(),
            slug: None,
            parent_id: parent,
            position: 0,
        };
        let clothing = self.catalog.create_category(&ctx(), category("Clothing", None)).await.unwrap().id;
        let sweaters = self.catalog.create_category(&ctx(), category("Sweaters", Some(clothing))).await.unwrap().id;
        let tees = self.catalog.create_category(&ctx(), category("T-shirts", Some(clothing))).await.unwrap().id;
        let home = self.catalog.create_category(&ctx(), category("Home", None)).await.unwrap().id;
        let kitchen = self.catalog.create_category(&ctx(), category("Kitchen", Some(home))).await.unwrap().id;
        self.inventory
            .create_location(
                &ctx(),
                NewLocation { code: "main".into(), name: "Main".into(), kind: LocationKind::Warehouse },
            )
            .await
            .unwrap();
        let (atelier, nordic) = (self.ids.atelier, self.ids.nordic);
        let spec = |name, description, category, seller, attributes, variants, price, stock, published| Spec {
            name,
            description,
            category,
            seller,
            attributes,
            variants,
            price,
            stock,
            published,
        };
        let specs = [
            spec(
                "Merino Wool Sweater",
                "Warm merino wool, knitted in Lyon.",
                sweaters,
                nordic,
                &[("colour", "navy"), ("material", "wool")],
                &[("SWEATER-MERINO", &[])],
                8900,
                5,
                true,
            ),
            spec(
                "Cashmere Sweater",
                "Soft and light.",
                sweaters,
                atelier,
                &[("colour", "grey"), ("material", "cashmere")],
                &[("SWEATER-CASH", &[])],
                15900,
                0,
                true,
            ),
            spec(
                "Wool Socks",
                "Thick socks for the winter.",
                clothing,
                nordic,
                &[("colour", "navy"), ("material", "wool")],
                &[("SOCKS-WOOL", &[])],
                1500,
                20,
                true,
            ),
            spec(
                "Organic Cotton T-Shirt",
                "A plain tee.",
                tees,
                atelier,
                &[("colour", "white"), ("material", "cotton")],
                &[("TEE-ORG-S", &[("size", "S")]), ("TEE-ORG-M", &[("size", "M")])],
                2500,
                10,
                true,
            ),
            spec(
                "Linen Apron",
                "An apron for the kitchen.",
                kitchen,
                atelier,
                &[("colour", "natural"), ("material", "linen")],
                &[("APRON-LINEN", &[])],
                3200,
                3,
                true,
            ),
            spec(
                "Wool Scarf",
                "A draft nobody may find.",
                clothing,
                nordic,
                &[("material", "wool")],
                &[("SCARF-WOOL", &[])],
                2900,
                4,
                false,
            ),
        ];
        let mut to_receive = Vec::new();
        let mut ids = Vec::new();
        for s in specs {
            let product = self
                .catalog
                .create_product(
                    &ctx(),
                    NewProduct {
                        seller_id: s.seller,
                        name: s.name.into(),
                        slug: None,
                        description: s.description.into(),
                        category_ids: vec![s.category],
                        attributes: s.attributes.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
                        variants: s
                            .variants
                            .iter()
                            .map(|(sku, options)| NewVariant {
                                sku: sku.to_string(),
                                options: options.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
                                weight_grams: None,
                                prices: vec![PriceInput {
                                    channel: "online".into(),
                                    amount: s.price,
                                    currency: Currency::EUR,
                                }],
                            })
                            .collect(),
                    },
                )
                .await
                .unwrap();
            if s.published {
                self.catalog.publish(&ctx(), product.id).await.unwrap();
            }
            ids.push(product.id);
            if s.stock > 0 {
                to_receive.extend(s.variants.iter().map(|(sku, _)| (sku.to_string(), s.stock)));
            }
        }
        [self.ids.merino, self.ids.cashmere, self.ids.socks, self.ids.tee, self.ids.apron, self.ids.scarf] =
            ids.try_into().expect("six products");
        self.settle().await; // inventory learns the SKUs from catalog's events
        for (sku, quantity) in to_receive {
            self.receive(&sku, quantity).await;
        }
        self.settle().await;
    }

    async fn receive(&self, sku: &str, quantity: i64) {
        let input = ReceiveStock { sku: sku.into(), location: "main".into(), quantity, reference: None };
        self.inventory.receive(&ctx(), input).await.unwrap();
    }

    async fn find(&self, query: SearchQuery) -> SearchResults {
        self.search.search(&ctx(), query).await.unwrap()
    }

    async fn names(&self, query: SearchQuery) -> Vec<String> {
        self.find(query).await.hits.into_iter().map(|h| h.name).collect()
    }
}

fn counts(values: &[FacetValue]) -> BTreeMap<String, u64> {
    values.iter().map(|v| (v.label.clone(), v.count)).collect()
}

fn map(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[tokio::test]
async fn the_best_match_comes_first_and_misspelt_or_unfinished_words_still_find_it() {
    let shop = Shop::open(true).await;
    let names = shop.names(SearchQuery::words("wool sweater")).await;
    assert_eq!(names.first().map(String::as_str), Some("Merino Wool Sweater"), "{names:?}");
    assert!(!names.contains(&"Wool Scarf".to_string()), "a draft is never found: {names:?}");

    let sweaters = shop.names(SearchQuery::words("sweaters")).await;
    assert_eq!(sweaters.len(), 2, "plural finds singular: {sweaters:?}");
    for typo in ["swaeter", "sweatr", "cashmre sweeter"] {
        let found = shop.names(SearchQuery::words(typo)).await;
        assert!(found.iter().any(|n| n.contains("Sweater")), "{typo:?} found {found:?}");
    }
    assert_eq!(shop.names(SearchQuery::words("cashmre")).await, ["Cashmere Sweater"]);
    assert_eq!(
        shop.names(SearchQuery::words("merin")).await,
        ["Merino Wool Sweater"],
        "the last word may be unfinished"
    );
    assert_eq!(
        shop.names(SearchQuery::words("TEE-ORG-M")).await,
        ["Organic Cotton T-Shirt"],
        "a SKU finds its product"
    );
    assert_eq!(shop.names(SearchQuery::words("kitchen")).await, ["Linen Apron"], "category names are searched");
    assert_eq!(shop.names(SearchQuery::words("navy wool")).await.len(), 2, "attribute values are searched");
    assert!(shop.names(SearchQuery::words("bicycle")).await.is_empty());
    let results = shop.find(SearchQuery::words("wool sweater")).await;
    assert!(results.hits[0].score > 0.0 && results.hits[0].in_stock && results.hits[0].price.unwrap().amount == 8900);
}

#[tokio::test]
async fn facets_count_the_hits_by_category_attribute_price_availability_and_seller() {
    let shop = Shop::open(true).await;
    let all = shop.find(SearchQuery::default()).await;
    assert_eq!(all.total, 5);
    let f = &all.facets;
    assert_eq!(counts(&f.categories), map(&[("Clothing", 4), ("Home", 1)]));
    assert_eq!(counts(&f.availability), map(&[("In stock", 4), ("Out of stock", 1)]));
    assert_eq!(counts(&f.sellers), map(&[("Atelier Lyon", 3), ("Nordic Wool", 2)]));
    assert_eq!(counts(&f.attributes["colour"]), map(&[("navy", 2), ("grey", 1), ("white", 1), ("natural", 1)]));
    assert_eq!(counts(&f.attributes["material"]), map(&[("wool", 2), ("cashmere", 1), ("cotton", 1), ("linen", 1)]));
    assert_eq!(counts(&f.attributes["size"]), map(&[("S", 1), ("M", 1)]));
    let range = |min, max, count| PriceRange { min, max, count };
    assert_eq!(
        f.price_ranges,
        [
            range(0, Some(2_500), 1),
            range(2_500, Some(5_000), 2),
            range(5_000, Some(10_000), 1),
            range(10_000, Some(25_000), 1)
        ]
    );

    // Drilling into a category counts its children, and the filters narrow the counts.
    let clothing = shop.find(SearchQuery { category: Some("clothing".into()), ..SearchQuery::default() }).await;
    assert_eq!(clothing.total, 4);
    assert_eq!(counts(&clothing.facets.categories), map(&[("Sweaters", 2), ("T-shirts", 1)]));
    assert_eq!(counts(&clothing.facets.sellers), map(&[("Atelier Lyon", 2), ("Nordic Wool", 2)]));
    let navy_wool = shop
        .find(SearchQuery { attributes: [("colour".into(), vec!["navy".into()])].into(), ..SearchQuery::words("wool") })
        .await;
    assert_eq!(navy_wool.total, 2);
    assert_eq!(counts(&navy_wool.facets.availability), map(&[("In stock", 2)]));
}

#[tokio::test]
async fn filters_sorting_and_pages() {
    let shop = Shop::open(true).await;
    let query = |q: SearchQuery| q;
    assert_eq!(shop.find(SearchQuery { in_stock: true, ..SearchQuery::default() }).await.total, 4);
    let between = SearchQuery {
        price_min: Some(2_000),
        price_max: Some(5_000),
        sort: SearchSort::PriceAsc,
        ..SearchQuery::default()
    };
    assert_eq!(shop.names(between).await, ["Organic Cotton T-Shirt", "Linen Apron"]);
    let by_seller = SearchQuery { seller_id: Some(shop.ids.nordic), ..SearchQuery::default() };
    assert_eq!(shop.find(by_seller).await.total, 2);
    let either = SearchQuery {
        attributes: [("colour".into(), vec!["grey".into(), "white".into()])].into(),
        ..SearchQuery::default()
    };
    assert_eq!(shop.find(either).await.total, 2, "values of one attribute are alternatives");
    assert_eq!(
        shop.find(SearchQuery { category: Some("no-such-category".into()), ..SearchQuery::default() }).await.total,
        0
    );

    let cheapest_first =
        ["Wool Socks", "Organic Cotton T-Shirt", "Linen Apron", "Merino Wool Sweater", "Cashmere Sweater"];
    assert_eq!(
        shop.names(query(SearchQuery { sort: SearchSort::PriceAsc, ..SearchQuery::default() })).await,
        cheapest_first
    );
    let mut dearest_first = cheapest_first;
    dearest_first.reverse();
    assert_eq!(shop.names(SearchQuery { sort: SearchSort::PriceDesc, ..SearchQuery::default() }).await, dearest_first);
    let by_name = shop.names(SearchQuery { sort: SearchSort::Name, ..SearchQuery::default() }).await;
    assert_eq!(
        by_name,
        ["Cashmere Sweater", "Linen Apron", "Merino Wool Sweater", "Organic Cotton T-Shirt", "Wool Socks"]
    );
    let newest = shop.names(SearchQuery::default()).await;
    assert_eq!(newest.first().map(String::as_str), Some("Linen Apron"), "no words: newest first");

    let page_two =
        shop.find(SearchQuery { sort: SearchSort::PriceAsc, page: 2, per_page: 2, ..SearchQuery::default() }).await;
    assert_eq!(page_two.total, 5);
    assert_eq!(
        page_two.hits.iter().map(|h| h.name.as_str()).collect::<Vec<_>>(),
        ["Linen Apron", "Merino Wool Sweater"]
    );

    for bad in [
        SearchQuery { per_page: 0, ..SearchQuery::default() },
        SearchQuery { price_min: Some(-5), ..SearchQuery::default() },
    ] {
        assert!(matches!(shop.search.search(&ctx(), bad).await, Err(Error::Validation { .. })));
    }
}

#[tokio::test]
async fn suggestions_complete_product_and_category_names_as_typed() {
    let shop = Shop::open(true).await;
    let labels = |s: Vec<comptoir_contracts::search::Suggestion>| s.into_iter().map(|s| s.label).collect::<Vec<_>>();
    assert_eq!(labels(shop.search.suggest(&ctx(), "mer", 5).await.unwrap()), ["Merino Wool Sweater"]);
    let swe = labels(shop.search.suggest(&ctx(), "swe", 5).await.unwrap());
    assert!(swe.contains(&"Cashmere Sweater".into()) && swe.contains(&"Sweaters".into()), "{swe:?}");
    assert_eq!(labels(shop.search.suggest(&ctx(), "wool so", 5).await.unwrap()), ["Wool Socks"]);
    assert!(shop.search.suggest(&ctx(), "", 5).await.unwrap().is_empty());
    assert!(matches!(shop.search.suggest(&ctx(), "mer", 0).await, Err(Error::Validation { .. })));
}

#[tokio::test]
async fn the_index_follows_updates_deletions_publication_and_stock() {
    let shop = Shop::open(true).await;
    let (merino, cashmere, socks, apron) = (shop.ids.merino, shop.ids.cashmere, shop.ids.socks, shop.ids.apron);
    let patch = ProductPatch { name: Some("Merino Wool Cardigan".into()), ..ProductPatch::default() };
    shop.catalog.update_product(&ctx(), merino, patch).await.unwrap();
    shop.settle().await;
    assert_eq!(shop.names(SearchQuery::words("cardigan")).await, ["Merino Wool Cardigan"]);
    let sweaters = shop.names(SearchQuery::words("sweater")).await;
    assert_eq!(
        sweaters,
        ["Cashmere Sweater", "Merino Wool Cardigan"],
        "the old name is gone; its category still matches"
    );

    shop.catalog.delete_product(&ctx(), apron).await.unwrap();
    shop.catalog.unpublish(&ctx(), socks).await.unwrap();
    shop.settle().await;
    assert!(shop.names(SearchQuery::words("apron")).await.is_empty());
    assert!(shop.names(SearchQuery::words("socks")).await.is_empty());
    assert_eq!(shop.find(SearchQuery::default()).await.total, 3);

    shop.catalog.publish(&ctx(), socks).await.unwrap();
    shop.receive("SWEATER-CASH", 2).await;
    let sold_out =
        AdjustStock { sku: "SOCKS-WOOL".into(), location: "main".into(), delta: -20, reason: "inventory count".into() };
    shop.inventory.adjust(&ctx(), sold_out).await.unwrap();
    shop.settle().await;
    let hits = shop.find(SearchQuery::words("sweater socks cardigan")).await; // nothing has all three
    assert_eq!(hits.total, 0);
    let all = shop.find(SearchQuery::default()).await;
    assert_eq!(all.total, 4);
    let in_stock: BTreeMap<Uuid, bool> = all.hits.iter().map(|h| (h.product_id, h.in_stock)).collect();
    assert!(in_stock[&cashmere], "received stock shows at once");
    assert!(!in_stock[&socks], "sold out shows at once");
    assert_eq!(counts(&all.facets.availability), map(&[("In stock", 3), ("Out of stock", 1)]));
    let status = shop.search.status(&ctx()).await.unwrap();
    assert_eq!((status.documents, status.pending), (4, 0));
}

#[tokio::test]
async fn a_rebuild_restores_the_index_from_catalog_inventory_and_identity() {
    // Search was not listening: it knows nothing until rebuilt.
    let shop = Shop::open(false).await;
    assert_eq!(shop.find(SearchQuery::default()).await.total, 0);
    let report = shop.search.rebuild(&ctx()).await.unwrap();
    assert_eq!((report.products, report.indexed, report.categories, report.sellers), (6, 5, 5, 2));
    let all = shop.find(SearchQuery::default()).await;
    assert_eq!(all.total, 5);
    assert_eq!(counts(&all.facets.sellers), map(&[("Atelier Lyon", 3), ("Nordic Wool", 2)]));
    assert_eq!(counts(&all.facets.availability), map(&[("In stock", 4), ("Out of stock", 1)]));

    // A product deleted while nobody listened disappears at the next rebuild.
    shop.catalog.delete_product(&ctx(), shop.ids.apron).await.unwrap();
    let report = shop.search.rebuild(&ctx()).await.unwrap();
    assert_eq!((report.indexed, report.removed), (4, 1));
    assert!(shop.names(SearchQuery::words("apron")).await.is_empty());

    // Another process (a restart) builds its index from the same tables.
    let restarted = SearchModule::new(
        shop.search_db.db.clone(),
        ports(&shop.identity, &shop.catalog, &shop.inventory),
        SearchConfig { channel: "online".into() },
    )
    .unwrap();
    assert_eq!(restarted.search(&ctx(), SearchQuery::default()).await.unwrap().total, 0, "empty before its first sync");
    restarted.sync().await.unwrap();
    let found = restarted.search(&ctx(), SearchQuery::words("wool sweater")).await.unwrap();
    assert_eq!(found.hits[0].name, "Merino Wool Sweater");
    assert_eq!(found.total, shop.find(SearchQuery::words("wool sweater")).await.total);
    let _unused: &Db = &shop.search_db.db;
}

#[tokio::test]
async fn similar_products_share_a_category_words_or_attributes() {
    let shop = Shop::open(true).await;
    let similar = shop.search.similar(&ctx(), shop.ids.merino, 3).await.unwrap();
    let names: Vec<&str> = similar.iter().map(|h| h.name.as_str()).collect();
    assert!(!names.contains(&"Merino Wool Sweater") && !names.contains(&"Wool Scarf"), "{names:?}");
    assert!(matches!(names.first(), Some(&"Cashmere Sweater") | Some(&"Wool Socks")), "{names:?}");
    assert!(shop.search.similar(&ctx(), Uuid::now_v7(), 3).await.unwrap().is_empty());
}

#[tokio::test]
async fn stock_news_older_than_what_is_stored_changes_nothing() {
    use comptoir_contracts::inventory::events::{STOCK_CHANGED, StockChanged};
    use comptoir_kernel::EventEnvelope;
    let shop = Shop::open(true).await;
    let consumers = shop.search.consumers();
    let stock = consumers.iter().find(|c| c.name == comptoir_search::STOCK).expect("the stock consumer");
    let news = |available: i64| {
        let changed = StockChanged {
            sku: "SWEATER-CASH".into(),
            location: "main".into(),
            on_hand: available,
            reserved: 0,
            available,
        };
        EventEnvelope::new(&ctx(), "inventory", STOCK_CHANGED, changed)
    };
    let (older, newer) = (news(7), news(0));
    let (older, newer) = (older, EventEnvelope { timestamp: newer.timestamp + chrono::Duration::seconds(1), ..newer });
    stock.handler.handle(&older).await.unwrap();
    shop.search.sync().await.unwrap();
    let in_stock = |results: SearchResults| results.hits[0].in_stock;
    assert!(in_stock(shop.find(SearchQuery::words("cashmere")).await), "came into stock");
    stock.handler.handle(&newer).await.unwrap();
    stock.handler.handle(&older).await.unwrap(); // redelivered late: already handled, and older anyway
    let replayed_older = EventEnvelope { id: Uuid::now_v7(), ..older.clone() };
    stock.handler.handle(&replayed_older).await.unwrap(); // a different event, still older news
    shop.search.sync().await.unwrap();
    assert!(!in_stock(shop.find(SearchQuery::words("cashmere")).await), "the newest news wins");
}
