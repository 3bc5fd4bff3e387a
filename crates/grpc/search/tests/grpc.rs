//! The search module served over gRPC and driven through `SearchClient`, against the same module
//! in process: every port method answers the same values (hits with their scores and prices,
//! totals, facets, suggestions, similar products, rebuild reports, index status), and every
//! refusal the same status, code, fields and message. The catalog is built through the real
//! identity, catalog and inventory modules; search does not listen to the bus and learns it by a
//! rebuild. SQLite by default, PostgreSQL with COMPTOIR_TEST_BACKEND=postgres.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use comptoir_catalog::CatalogModule;
use comptoir_contracts::catalog::{CatalogPort, NewCategory, NewProduct, NewVariant, PriceInput};
use comptoir_contracts::identity::{IdentityPort, NewSeller};
use comptoir_contracts::inventory::{InventoryPort, LocationKind, NewLocation, ReceiveStock};
use comptoir_contracts::search::{
    FacetValue, RebuildReport, SearchPort, SearchQuery, SearchResults, SearchSort, SuggestionKind,
};
use comptoir_eventbus::{EventBus, MemoryBus, OutboxRelay, RetryPolicy};
use comptoir_grpc::server::ServiceSet;
use comptoir_grpc::{Remote, RemoteSettings, from_status};
use comptoir_identity::{IdentityConfig, IdentityModule};
use comptoir_inventory::InventoryModule;
use comptoir_kernel::{Actor, Currency, Error, Money, RequestContext, Result};
use comptoir_search::{MIGRATIONS, SearchConfig, SearchModule, SearchPorts};
use comptoir_search_grpc::{SearchClient, pb, service};
use comptoir_storage::outbox;
use comptoir_storage::testing::{self, TestDb};
use tokio::net::TcpListener;
use tonic::transport::{Channel, Endpoint};
use uuid::Uuid;

fn ctx() -> RequestContext {
    RequestContext::new("corr-search-grpc", Actor::user("staff-7"))
}

#[derive(Default)]
struct Ids {
    atelier: Uuid,
    nordic: Uuid,
    merino: Uuid,
    apron: Uuid,
    gift_card: Uuid,
}

struct Shop {
    catalog: Arc<CatalogModule>,
    /// The module in process, for the answers the client must match.
    local: SearchModule,
    /// The same module through its server.
    remote: SearchClient,
    address: SocketAddr,
    bus: Arc<MemoryBus>,
    /// Every database; kept open as long as the shop.
    databases: Vec<TestDb>,
    relays: Vec<tokio::task::JoinHandle<()>>,
    ids: Ids,
}

impl Drop for Shop {
    fn drop(&mut self) {
        for relay in &self.relays {
            relay.abort();
        }
    }
}

/// Every field, compared through the JSON form (most contract types have no `PartialEq`).
fn assert_same<T: serde::Serialize>(remote: &T, local: &T) {
    assert_eq!(serde_json::to_value(remote).unwrap(), serde_json::to_value(local).unwrap());
}

fn fields(error: &Error) -> Vec<&str> {
    error.field_errors().iter().map(|f| f.field.as_str()).collect()
}

fn counts(values: &[FacetValue]) -> BTreeMap<String, u64> {
    values.iter().map(|v| (v.label.clone(), v.count)).collect()
}

fn map(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// The counts of a report, without the time it took (which differs from one rebuild to the next).
fn counted(report: &RebuildReport) -> (u64, u64, u64, u64, u64) {
    (report.products, report.indexed, report.categories, report.sellers, report.removed)
}

/// The search module over the known catalog, served on a free port; not yet indexed.
async fn shop() -> Shop {
    let identity_db = testing::open("identity", &comptoir_identity::MIGRATIONS).await;
    let catalog_db = testing::open("catalog", &comptoir_catalog::MIGRATIONS).await;
    let inventory_db = testing::open("inventory", &comptoir_inventory::MIGRATIONS).await;
    let search_db = testing::open("search", &MIGRATIONS).await;
    let config = IdentityConfig { jwt_secret: "x".repeat(32), ..IdentityConfig::default() };
    let identity = Arc::new(IdentityModule::new(identity_db.db.clone(), config));
    let catalog = Arc::new(CatalogModule::new(catalog_db.db.clone(), identity.clone()));
    let inventory = InventoryModule::new(inventory_db.db.clone());
    let ports =
        SearchPorts { catalog: catalog.clone(), inventory: Arc::new(inventory.clone()), identity: identity.clone() };
    let local = SearchModule::new(search_db.db.clone(), ports, SearchConfig { channel: "online".into() }).unwrap();

    // Inventory learns the SKUs from catalog's events; search does not listen.
    let bus = Arc::new(MemoryBus::new(RetryPolicy { delays: vec![Duration::from_millis(20); 3] }));
    for consumer in inventory.consumers() {
        bus.subscribe(consumer).await.unwrap();
    }
    let mut relays = Vec::new();
    for db in [&identity_db, &catalog_db, &inventory_db] {
        relays.push(tokio::spawn(OutboxRelay::new(db.db.clone(), bus.clone()).run()));
    }

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(ServiceSet::new().add(service(Arc::new(local.clone()))).serve(listener, std::future::pending()));
    let remote = Remote::connect("search", &format!("http://{address}"), RemoteSettings::default()).unwrap();

    let mut shop = Shop {
        catalog,
        local,
        remote: SearchClient::new(remote),
        address,
        bus,
        databases: vec![identity_db, catalog_db, inventory_db, search_db],
        relays,
        ids: Ids::default(),
    };
    shop.stock_the_known_catalog(&identity, &inventory).await;
    shop
}

type Spec<'a> = (
    &'a str,
    &'a str,
    Uuid,
    Uuid,
    &'a [(&'a str, &'a str)],
    &'a [(&'a str, &'a [(&'a str, &'a str)])],
    &'a str,
    i64,
    i64,
    bool,
);

impl Shop {
    async fn settle(&self) {
        for _ in 0..1000 {
            let mut backlog = 0;
            for db in &self.databases[..3] {
                backlog += outbox::backlog(&db.db).await.unwrap().0;
            }
            if backlog == 0 && self.bus.in_flight() == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("events still pending after 5 s");
    }

    /// Two sellers, a small category tree and seven products: one a draft, one out of stock, one
    /// priced only in the physical store (no price in the indexed channel).
    async fn stock_the_known_catalog(&mut self, identity: &IdentityModule, inventory: &InventoryModule) {
        let seller = |name: &str| NewSeller { name: name.into(), email: None };
        self.ids.atelier = identity.create_seller(&ctx(), seller("Atelier Lyon")).await.unwrap().id;
        self.ids.nordic = identity.create_seller(&ctx(), seller("Nordic Wool")).await.unwrap().id;
        let category = |name: &str, parent: Option<Uuid>| NewCategory {
            name: name.into(),
            slug: None,
            parent_id: parent,
            position: 0,
        };
        let catalog = &self.catalog;
        let clothing = catalog.create_category(&ctx(), category("Clothing", None)).await.unwrap().id;
        let sweaters = catalog.create_category(&ctx(), category("Sweaters", Some(clothing))).await.unwrap().id;
        let tees = catalog.create_category(&ctx(), category("T-shirts", Some(clothing))).await.unwrap().id;
        let home = catalog.create_category(&ctx(), category("Home", None)).await.unwrap().id;
        let kitchen = catalog.create_category(&ctx(), category("Kitchen", Some(home))).await.unwrap().id;
        let main = NewLocation { code: "main".into(), name: "Main".into(), kind: LocationKind::Warehouse };
        inventory.create_location(&ctx(), main).await.unwrap();

        let (atelier, nordic) = (self.ids.atelier, self.ids.nordic);
        let specs: [Spec; 7] = [
            (
                "Merino Wool Sweater",
                "Warm merino wool, knitted in Lyon. Washable.",
                sweaters,
                nordic,
                &[("colour", "navy"), ("material", "wool")],
                &[("SWEATER-MERINO", &[])],
                "online",
                8900,
                5,
                true,
            ),
            (
                "Cashmere Sweater",
                "Soft and light.",
                sweaters,
                atelier,
                &[("colour", "grey"), ("material", "cashmere")],
                &[("SWEATER-CASH", &[])],
                "online",
                15900,
                0,
                true,
            ),
            (
                "Wool Socks",
                "Thick socks for the winter.",
                clothing,
                nordic,
                &[("colour", "navy"), ("material", "wool")],
                &[("SOCKS-WOOL", &[])],
                "online",
                1500,
                20,
                true,
            ),
            (
                "Organic Cotton T-Shirt",
                "A plain tee.",
                tees,
                atelier,
                &[("colour", "white"), ("material", "cotton")],
                &[("TEE-ORG-S", &[("size", "S")]), ("TEE-ORG-M", &[("size", "M")])],
                "online",
                2500,
                10,
                true,
            ),
            (
                "Linen Apron",
                "An apron for the kitchen.",
                kitchen,
                atelier,
                &[("colour", "natural"), ("material", "linen")],
                &[("APRON-LINEN", &[])],
                "online",
                3200,
                3,
                true,
            ),
            (
                "Wool Scarf",
                "A draft nobody may find.",
                clothing,
                nordic,
                &[("material", "wool")],
                &[("SCARF-WOOL", &[])],
                "online",
                2900,
                4,
                false,
            ),
            (
                "Wool Gift Card",
                "Sold at the counter only.",
                home,
                atelier,
                &[],
                &[("GIFT-WOOL", &[])],
                "store",
                5000,
                1,
                true,
            ),
        ];
        let mut to_receive = Vec::new();
        for (name, description, category, seller, attributes, variants, channel, price, stock, published) in specs {
            let new = NewProduct {
                seller_id: seller,
                name: name.into(),
                slug: None,
                description: description.into(),
                category_ids: vec![category],
                attributes: attributes.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
                variants: variants
                    .iter()
                    .map(|(sku, options)| NewVariant {
                        sku: sku.to_string(),
                        options: options.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
                        weight_grams: None,
                        prices: vec![PriceInput { channel: channel.into(), amount: price, currency: Currency::EUR }],
                    })
                    .collect(),
            };
            let product = self.catalog.create_product(&ctx(), new).await.unwrap();
            if published {
                self.catalog.publish(&ctx(), product.id).await.unwrap();
            }
            match name {
                "Merino Wool Sweater" => self.ids.merino = product.id,
                "Linen Apron" => self.ids.apron = product.id,
                "Wool Gift Card" => self.ids.gift_card = product.id,
                _ => {}
            }
            if stock > 0 {
                to_receive.extend(variants.iter().map(|(sku, _)| (sku.to_string(), stock)));
            }
        }
        self.settle().await;
        for (sku, quantity) in to_receive {
            let input = ReceiveStock { sku, location: "main".into(), quantity, reference: None };
            inventory.receive(&ctx(), input).await.unwrap();
        }
        self.settle().await;
    }

    /// The query answered through the client, checked against the module's own answer.
    async fn find(&self, query: SearchQuery) -> SearchResults {
        let remote = self.remote.search(&ctx(), query.clone()).await.unwrap();
        assert_same(&remote, &self.local.search(&ctx(), query).await.unwrap());
        remote
    }

    async fn names(&self, query: SearchQuery) -> Vec<String> {
        self.find(query).await.hits.into_iter().map(|h| h.name).collect()
    }

    /// Makes the same call through the client and in process: both must be refused alike (status,
    /// code, field names and messages, text). The remote error is returned for further checks.
    async fn refused<T: Debug>(&self, call: impl AsyncFn(&dyn SearchPort) -> Result<T>) -> Error {
        let remote = call(&self.remote).await.expect_err("refused through the client");
        let local = call(&self.local).await.expect_err("refused in process");
        assert_eq!(
            (remote.status(), remote.code(), remote.field_errors(), remote.to_string()),
            (local.status(), local.code(), local.field_errors(), local.to_string()),
        );
        remote
    }

    /// A raw client of the generated service, to send messages `SearchClient` never builds.
    fn raw(&self) -> pb::search_service_client::SearchServiceClient<Channel> {
        let channel = Endpoint::from_shared(format!("http://{}", self.address)).unwrap().connect_lazy();
        pb::search_service_client::SearchServiceClient::new(channel)
    }
}

#[tokio::test]
async fn a_rebuild_through_the_client_indexes_the_catalog_and_reports_what_it_found() {
    let shop = shop().await;
    let before = shop.remote.status(&ctx()).await.unwrap();
    assert_same(&before, &shop.local.status(&ctx()).await.unwrap());
    assert_eq!(before.documents, 0);
    assert_eq!(shop.find(SearchQuery::default()).await.total, 0, "nothing indexed before the rebuild");

    let report = shop.remote.rebuild(&ctx()).await.unwrap();
    assert_eq!(counted(&report), (7, 6, 5, 2, 0));
    let status = shop.remote.status(&ctx()).await.unwrap();
    assert_same(&status, &shop.local.status(&ctx()).await.unwrap());
    assert_eq!((status.documents, status.pending), (6, 0));
    assert!(status.applied > before.applied, "{status:?}");

    // In process, the same rebuild finds the same things.
    let again = shop.local.rebuild(&ctx()).await.unwrap();
    assert_eq!(counted(&again), counted(&report));

    // A product deleted since is removed by the next rebuild, and the report says so.
    shop.catalog.delete_product(&ctx(), shop.ids.apron).await.unwrap();
    let report = shop.remote.rebuild(&ctx()).await.unwrap();
    assert_eq!(counted(&report), (6, 5, 5, 2, 1));
    assert!(shop.names(SearchQuery::words("apron")).await.is_empty());
    let status = shop.remote.status(&ctx()).await.unwrap();
    assert_same(&status, &shop.local.status(&ctx()).await.unwrap());
    assert_eq!((status.documents, status.pending), (5, 0));
}

#[tokio::test]
async fn every_query_answers_the_same_hits_totals_and_facets_through_the_client() {
    let shop = shop().await;
    shop.remote.rebuild(&ctx()).await.unwrap();

    let all = shop.find(SearchQuery::default()).await;
    assert_eq!((all.total, all.page, all.per_page, all.hits.len()), (6, 1, 20, 6));
    let f = &all.facets;
    assert_eq!(counts(&f.categories), map(&[("Clothing", 4), ("Home", 2)]));
    assert_eq!(counts(&f.availability), map(&[("In stock", 5), ("Out of stock", 1)]));
    assert_eq!(counts(&f.sellers), map(&[("Atelier Lyon", 4), ("Nordic Wool", 2)]));
    assert_eq!(counts(&f.attributes["colour"]), map(&[("navy", 2), ("grey", 1), ("white", 1), ("natural", 1)]));
    assert_eq!(counts(&f.attributes["size"]), map(&[("S", 1), ("M", 1)]));
    assert!(f.price_ranges.iter().any(|r| r.max.is_some()), "{:?}", f.price_ranges);
    let seller_ids: Vec<&str> = f.sellers.iter().map(|v| v.value.as_str()).collect();
    assert!(seller_ids.contains(&shop.ids.atelier.to_string().as_str()), "{seller_ids:?}");

    // Prices stay optional: the gift card has none in the indexed channel.
    let gift = all.hits.iter().find(|h| h.product_id == shop.ids.gift_card).expect("the gift card is found");
    assert_eq!(gift.price, None);
    let merino = all.hits.iter().find(|h| h.product_id == shop.ids.merino).expect("the sweater is found");
    assert_eq!(merino.price, Some(Money::new(8900, Currency::EUR)));
    assert_eq!((merino.seller_id, merino.in_stock), (shop.ids.nordic, true));
    assert_eq!(merino.summary, "Warm merino wool, knitted in Lyon.");

    let relevant = shop.find(SearchQuery::words("wool sweater")).await;
    assert_eq!(relevant.hits[0].name, "Merino Wool Sweater");
    assert!(relevant.hits[0].score > 0.0, "the score travels");
    assert_eq!(shop.names(SearchQuery::words("cashmre")).await, ["Cashmere Sweater"], "typos travel as typed");

    let clothing = shop.find(SearchQuery { category: Some("clothing".into()), ..SearchQuery::default() }).await;
    assert_eq!(clothing.total, 4);
    assert_eq!(counts(&clothing.facets.categories), map(&[("Sweaters", 2), ("T-shirts", 1)]));
    let navy_wool = SearchQuery {
        attributes: BTreeMap::from([("colour".into(), vec!["navy".into()])]),
        ..SearchQuery::words("wool")
    };
    assert_eq!(shop.find(navy_wool).await.total, 2);
    let either = SearchQuery {
        attributes: BTreeMap::from([("colour".into(), vec!["grey".into(), "white".into()])]),
        ..SearchQuery::default()
    };
    assert_eq!(shop.find(either).await.total, 2);
    assert_eq!(shop.find(SearchQuery { seller_id: Some(shop.ids.nordic), ..SearchQuery::default() }).await.total, 2);
    assert_eq!(shop.find(SearchQuery { in_stock: true, ..SearchQuery::default() }).await.total, 5);
    let between = SearchQuery {
        price_min: Some(2_000),
        price_max: Some(5_000),
        sort: SearchSort::PriceAsc,
        ..SearchQuery::default()
    };
    assert_eq!(shop.names(between).await, ["Organic Cotton T-Shirt", "Linen Apron"]);
    let no_values = SearchQuery { attributes: BTreeMap::from([("colour".into(), vec![])]), ..SearchQuery::default() };
    shop.find(no_values).await;
    shop.find(SearchQuery { category: Some(String::new()), ..SearchQuery::default() }).await;

    for sort in
        [SearchSort::Relevance, SearchSort::PriceAsc, SearchSort::PriceDesc, SearchSort::Newest, SearchSort::Name]
    {
        let sorted = shop.find(SearchQuery { sort, ..SearchQuery::words("wool") }).await;
        assert!(sorted.total > 0, "{sort:?}");
    }
    let by_name = shop.names(SearchQuery { sort: SearchSort::Name, ..SearchQuery::default() }).await;
    assert_eq!(by_name[..2], ["Cashmere Sweater", "Linen Apron"]);
    let page_two =
        shop.find(SearchQuery { sort: SearchSort::PriceAsc, page: 2, per_page: 2, ..SearchQuery::default() }).await;
    assert_eq!((page_two.total, page_two.page, page_two.per_page), (6, 2, 2));
    assert_eq!(
        page_two.hits.iter().map(|h| h.name.as_str()).collect::<Vec<_>>(),
        ["Linen Apron", "Merino Wool Sweater"]
    );
    assert!(shop.find(SearchQuery { page: 9, per_page: 2, ..SearchQuery::default() }).await.hits.is_empty());
}

#[tokio::test]
async fn suggestions_and_similar_products_answer_the_same_through_the_client() {
    let shop = shop().await;
    shop.remote.rebuild(&ctx()).await.unwrap();

    for (prefix, limit) in [("mer", 5), ("swe", 5), ("wool so", 5), ("wool", 2), ("", 5), ("zzz", 20)] {
        let remote = shop.remote.suggest(&ctx(), prefix, limit).await.unwrap();
        assert_same(&remote, &shop.local.suggest(&ctx(), prefix, limit).await.unwrap());
        assert!(remote.len() <= limit as usize);
    }
    let swe = shop.remote.suggest(&ctx(), "swe", 5).await.unwrap();
    let kinds: Vec<(&str, SuggestionKind)> = swe.iter().map(|s| (s.label.as_str(), s.kind)).collect();
    assert!(kinds.contains(&("Cashmere Sweater", SuggestionKind::Product)), "{kinds:?}");
    assert!(kinds.contains(&("Sweaters", SuggestionKind::Category)), "{kinds:?}");
    let merino = shop.remote.suggest(&ctx(), "mer", 5).await.unwrap();
    assert_eq!((merino.len(), merino[0].slug.as_str()), (1, "merino-wool-sweater"));

    let similar = shop.remote.similar(&ctx(), shop.ids.merino, 3).await.unwrap();
    assert_same(&similar, &shop.local.similar(&ctx(), shop.ids.merino, 3).await.unwrap());
    let names: Vec<&str> = similar.iter().map(|h| h.name.as_str()).collect();
    assert!(!names.is_empty() && names.len() <= 3, "{names:?}");
    assert!(!names.contains(&"Merino Wool Sweater") && !names.contains(&"Wool Scarf"), "{names:?}");
    let with_gift = shop.remote.similar(&ctx(), shop.ids.gift_card, 20).await.unwrap();
    assert_same(&with_gift, &shop.local.similar(&ctx(), shop.ids.gift_card, 20).await.unwrap());
    assert!(shop.remote.similar(&ctx(), Uuid::now_v7(), 3).await.unwrap().is_empty(), "unknown product: none");
}

#[tokio::test]
async fn bad_queries_and_limits_are_refused_as_in_process_naming_the_field() {
    let shop = shop().await;
    shop.remote.rebuild(&ctx()).await.unwrap();
    let bad_queries = [
        (SearchQuery { per_page: 0, ..SearchQuery::default() }, "per_page"),
        (SearchQuery { per_page: 101, ..SearchQuery::default() }, "per_page"),
        (SearchQuery { page: 0, ..SearchQuery::default() }, "page"),
        (SearchQuery { price_min: Some(-5), ..SearchQuery::default() }, "price_min"),
        (SearchQuery { price_min: Some(10), price_max: Some(5), ..SearchQuery::default() }, "price_max"),
        (SearchQuery::words("x".repeat(201)), "q"),
        (
            SearchQuery { attributes: BTreeMap::from([(" ".into(), vec!["navy".into()])]), ..SearchQuery::default() },
            "attributes. ",
        ),
    ];
    for (query, field) in bad_queries {
        let e = shop.refused(async |port| port.search(&ctx(), query.clone()).await).await;
        assert!(matches!(e, Error::Validation { .. }), "{e:?}");
        assert_eq!((e.status(), fields(&e)), (422, vec![field]));
    }

    for limit in [0, 21] {
        let e = shop.refused(async |port| port.suggest(&ctx(), "mer", limit).await).await;
        assert!(matches!(e, Error::Validation { .. }), "{e:?}");
        assert_eq!((e.status(), fields(&e)), (422, vec!["limit"]));
        let e = shop.refused(async |port| port.similar(&ctx(), Uuid::now_v7(), limit).await).await;
        assert_eq!((e.status(), fields(&e)), (422, vec!["limit"]));
    }
    let long = "y".repeat(201);
    let e = shop.refused(async |port| port.suggest(&ctx(), &long, 5).await).await;
    assert_eq!((e.status(), fields(&e)), (422, vec!["q"]));
}

#[tokio::test]
async fn malformed_messages_are_bad_requests_naming_the_field() {
    let shop = shop().await;
    let mut raw = shop.raw();
    let bad_request = |status: tonic::Status| {
        let e = from_status("search", &status);
        assert_eq!(e.status(), 400, "{e}");
        e.to_string()
    };
    let message =
        pb::SearchRequest { seller_id: Some("nope".into()), sort: pb::SearchSort::Name.into(), ..Default::default() };
    assert!(bad_request(raw.search(message).await.unwrap_err()).contains("seller_id"));
    let message = pb::SearchRequest::default();
    assert!(bad_request(raw.search(message).await.unwrap_err()).contains("sort"), "an unspecified sort is not guessed");
    let message = pb::SimilarRequest { product_id: String::new(), limit: 3 };
    assert!(bad_request(raw.similar(message).await.unwrap_err()).contains("product_id"));

    // An absent page is the first page of the default size, as in the contract.
    let message = pb::SearchRequest { sort: pb::SearchSort::Relevance.into(), ..Default::default() };
    let results = raw.search(message).await.unwrap().into_inner();
    let info = results.page.unwrap();
    assert_eq!((results.hits.len(), info.page, info.per_page, info.total), (0, 1, 20, 0));
    assert!(results.facets.is_some());
}
