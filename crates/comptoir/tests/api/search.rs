//! Search through the public API, in every topology: in the distributed one the gateway asks the
//! search service over gRPC, and the index is fed by catalog's and inventory's events through the
//! broker.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{TestApp, spawn_app};

fn names(results: &Value) -> Vec<String> {
    results["hits"].as_array().expect("hits").iter().map(|h| h["name"].as_str().unwrap().to_string()).collect()
}

fn facet(results: &Value, group: &str) -> Vec<(String, u64)> {
    results["facets"][group]
        .as_array()
        .unwrap_or_else(|| panic!("facet {group}: {results}"))
        .iter()
        .map(|v| (v["label"].as_str().unwrap().to_string(), v["count"].as_u64().unwrap()))
        .collect()
}

/// Three sellers' products in a small tree (Clothing › Sweaters, Home), published, stocked but
/// for the cashmere; returns the products by name.
async fn small_catalog(t: &TestApp, admin: &str) -> std::collections::BTreeMap<String, Value> {
    let seller = t.post("/api/v1/admin/sellers", Some(admin), json!({"name": "Nordic Wool"})).await.expect(201);
    let clothing = t.post("/api/v1/admin/categories", Some(admin), json!({"name": "Clothing"})).await.expect(201);
    let sweaters = t
        .post("/api/v1/admin/categories", Some(admin), json!({"name": "Sweaters", "parent_id": clothing["id"]}))
        .await
        .expect(201);
    let home = t.post("/api/v1/admin/categories", Some(admin), json!({"name": "Home"})).await.expect(201);
    t.post("/api/v1/admin/locations", Some(admin), json!({"code": "wh", "name": "Warehouse", "kind": "warehouse"}))
        .await
        .expect(201);
    let mut products = std::collections::BTreeMap::new();
    for (name, sku, category, colour, price, stock) in [
        ("Merino Wool Sweater", "SW-MERINO", &sweaters, "navy", 8900, 5),
        ("Cashmere Sweater", "SW-CASH", &sweaters, "grey", 15900, 0),
        ("Wool Socks", "SOCKS", &clothing, "navy", 1500, 20),
        ("Linen Apron", "APRON", &home, "natural", 3200, 3),
    ] {
        let product = t
            .post(
                "/api/v1/admin/products",
                Some(admin),
                json!({
                    "seller_id": seller["id"], "name": name, "description": format!("{name}, made to last."),
                    "category_ids": [category["id"]], "attributes": {"colour": colour},
                    "variants": [{"sku": sku, "prices": [{"channel": "online", "amount": price, "currency": "EUR"}]}]
                }),
            )
            .await
            .expect(201);
        let id = product["id"].as_str().unwrap().to_string();
        t.post(&format!("/api/v1/admin/products/{id}/publish"), Some(admin), json!({})).await.expect(200);
        if stock > 0 {
            t.settle().await; // inventory learns the SKU from catalog's event first
            t.post(
                "/api/v1/admin/stock/receive",
                Some(admin),
                json!({"sku": sku, "location": "wh", "quantity": stock}),
            )
            .await
            .expect(200);
        }
        products.insert(name.to_string(), product);
    }
    t.settle().await;
    products
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shoppers_search_with_typos_facets_sorting_and_suggestions() {
    let t = spawn_app().await;
    let admin = t.admin_token().await;
    small_catalog(&t, &admin).await;

    let found = t.get("/api/v1/search?q=wool%20swaeter", None).await.expect(200);
    assert_eq!(names(&found)[0], "Merino Wool Sweater", "{found}");
    assert_eq!(found["hits"][0]["price"], json!({"amount": 8900, "currency": "EUR"}));
    assert_eq!(found["hits"][0]["in_stock"], true);

    let all = t.get("/api/v1/search", None).await.expect(200);
    assert_eq!(all["total"], 4);
    assert_eq!(facet(&all, "categories"), [("Clothing".to_string(), 3), ("Home".to_string(), 1)]);
    assert_eq!(facet(&all, "availability"), [("In stock".to_string(), 3), ("Out of stock".to_string(), 1)]);
    assert_eq!(facet(&all, "sellers"), [("Nordic Wool".to_string(), 4)]);
    assert_eq!(all["facets"]["attributes"]["colour"][0], json!({"value": "navy", "label": "navy", "count": 2}));

    let navy_clothes = t.get("/api/v1/search?category=clothing&attr.colour=navy&in_stock=true", None).await.expect(200);
    assert_eq!(navy_clothes["total"], 2);
    assert_eq!(facet(&navy_clothes, "categories"), [("Sweaters".to_string(), 1)]);
    let page = t.get("/api/v1/search?sort=price_asc&per_page=2&page=2", None).await.expect(200);
    assert_eq!(names(&page), ["Merino Wool Sweater", "Cashmere Sweater"]);
    assert_eq!(page["total"], 4);
    let cheap = t.get("/api/v1/search?price_max=3500&sort=price_desc", None).await.expect(200);
    assert_eq!(names(&cheap), ["Linen Apron", "Wool Socks"]);

    assert_eq!(t.get("/api/v1/search?price_min=cheap", None).await.problem(422), ["price_min"]);
    assert_eq!(t.get("/api/v1/search?per_page=500", None).await.problem(422), ["per_page"]);
    assert_eq!(t.get("/api/v1/search?sort=cheapest", None).await.problem(422), ["sort"]);

    let suggestions = t.get("/api/v1/search/suggestions?q=swe", None).await.expect(200);
    let labels: Vec<&str> = suggestions.as_array().unwrap().iter().map(|s| s["label"].as_str().unwrap()).collect();
    assert!(labels.contains(&"Merino Wool Sweater") && labels.contains(&"Sweaters"), "{suggestions}");
    assert_eq!(t.get("/api/v1/search/suggestions?q=swe&limit=0", None).await.problem(422), ["limit"]);

    let similar = t.get("/api/v1/products/merino-wool-sweater/similar?limit=2", None).await.expect(200);
    let mut names: Vec<&str> = similar.as_array().unwrap().iter().map(|h| h["name"].as_str().unwrap()).collect();
    names.sort();
    // The same category and word, or two words and the seller: on this catalog they may tie.
    assert_eq!(names, ["Cashmere Sweater", "Wool Socks"], "{similar}");
    t.get("/api/v1/products/no-such-product/similar", None).await.problem(404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_follows_the_catalog_and_staff_can_rebuild_it() {
    let t = spawn_app().await;
    let admin = t.admin_token().await;
    let products = small_catalog(&t, &admin).await;
    let merino = products["Merino Wool Sweater"]["id"].as_str().unwrap();
    let apron = products["Linen Apron"]["id"].as_str().unwrap();

    t.call(
        Method::PATCH,
        &format!("/api/v1/admin/products/{merino}"),
        Some(&admin),
        Some(json!({"name": "Merino Cardigan"})),
    )
    .await
    .expect(200);
    t.call(Method::DELETE, &format!("/api/v1/admin/products/{apron}"), Some(&admin), None).await.expect(204);
    t.post("/api/v1/admin/stock/receive", Some(&admin), json!({"sku": "SW-CASH", "location": "wh", "quantity": 2}))
        .await
        .expect(200);
    t.settle().await;
    assert_eq!(names(&t.get("/api/v1/search?q=cardigan", None).await.expect(200)), ["Merino Cardigan"]);
    assert_eq!(t.get("/api/v1/search?q=apron", None).await.expect(200)["total"], 0);
    let in_stock = t.get("/api/v1/search?in_stock=true", None).await.expect(200);
    assert_eq!(in_stock["total"], 3, "the cashmere came into stock, the apron is gone: {in_stock}");

    let (_, customer, _) = t.customer("shopper@shop.test").await;
    t.post("/api/v1/admin/search/rebuild", Some(&customer), json!({})).await.problem(403);
    t.post("/api/v1/admin/search/rebuild", None, json!({})).await.problem(401);
    let report = t.post("/api/v1/admin/search/rebuild", Some(&admin), json!({})).await.expect(200);
    assert_eq!((report["products"].as_u64(), report["indexed"].as_u64()), (Some(3), Some(3)), "{report}");
    assert_eq!((report["categories"].as_u64(), report["sellers"].as_u64()), (Some(3), Some(1)), "{report}");
    let status = t.get("/api/v1/admin/search/status", Some(&admin)).await.expect(200);
    assert_eq!((status["documents"].as_u64(), status["pending"].as_u64()), (Some(3), Some(0)), "{status}");
    assert_eq!(names(&t.get("/api/v1/search?q=merino%20cardigan", None).await.expect(200)), ["Merino Cardigan"]);
}
