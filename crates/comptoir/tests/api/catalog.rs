use reqwest::Method;
use serde_json::json;

use crate::support::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drafts_are_hidden_until_published() {
    let t = spawn_app().await;
    let admin = t.admin_token().await;
    let seller = t.post("/api/v1/admin/sellers", Some(&admin), json!({"name": "Atelier"})).await.expect(201);
    let shirts = t.post("/api/v1/admin/categories", Some(&admin), json!({"name": "Shirts"})).await.expect(201);
    let product = t
        .post("/api/v1/admin/products", Some(&admin), json!({
            "seller_id": seller["id"], "name": "Linen Shirt", "category_ids": [shirts["id"]],
            "attributes": {"material": "linen"},
            "variants": [{"sku": "LIN-S", "options": {"size": "S"}, "prices": [{"channel": "online", "amount": 4500, "currency": "EUR"}]}]
        }))
        .await
        .expect(201);
    assert_eq!(product["status"], "draft");
    assert_eq!(product["slug"], "linen-shirt");
    t.get("/api/v1/products/linen-shirt", None).await.problem(404);
    assert_eq!(t.get("/api/v1/products", None).await.expect(200)["total"], 0);
    assert_eq!(t.get("/api/v1/admin/products", Some(&admin)).await.expect(200)["total"], 1);

    let id = product["id"].as_str().unwrap();
    t.post(&format!("/api/v1/admin/products/{id}/publish"), Some(&admin), json!({})).await.expect(200);
    let public = t.get("/api/v1/products/linen-shirt", None).await.expect(200);
    assert_eq!(public["variants"][0]["prices"][0]["price"], json!({"amount": 4500, "currency": "EUR"}));
    let listed =
        t.get(&format!("/api/v1/products?category={}", shirts["slug"].as_str().unwrap()), None).await.expect(200);
    assert_eq!(listed["total"], 1);
    assert_eq!(t.get("/api/v1/categories", None).await.expect(200)[0]["name"], "Shirts");

    // Events reached the inventory: it knows the SKU now.
    t.settle().await;
    let stock = t.get("/api/v1/admin/stock/LIN-S", Some(&admin)).await.expect(200);
    assert_eq!(stock["available"], 0);

    t.call(Method::DELETE, &format!("/api/v1/admin/products/{id}"), Some(&admin), None).await.expect(204);
    t.get(&format!("/api/v1/products/{id}"), None).await.problem(404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_products_name_the_field_and_write_nothing() {
    let t = spawn_app().await;
    let admin = t.admin_token().await;
    let seller = t.post("/api/v1/admin/sellers", Some(&admin), json!({"name": "Atelier"})).await.expect(201);
    let product =
        |variants: serde_json::Value| json!({"seller_id": seller["id"], "name": "Thing", "variants": variants});

    let negative = product(json!([{"sku": "T-1", "prices": [{"channel": "online", "amount": -1, "currency": "EUR"}]}]));
    assert_eq!(
        t.post("/api/v1/admin/products", Some(&admin), negative).await.problem(422),
        vec!["variants[0].prices[0].amount"]
    );
    let bad_currency =
        product(json!([{"sku": "T-1", "prices": [{"channel": "online", "amount": 100, "currency": "EURO"}]}]));
    assert_eq!(
        t.post("/api/v1/admin/products", Some(&admin), bad_currency).await.problem(422),
        vec!["variants[0].prices[0].currency"]
    );
    let wrong_type =
        product(json!([{"sku": "T-1", "prices": [{"channel": "online", "amount": "cheap", "currency": "EUR"}]}]));
    assert_eq!(
        t.post("/api/v1/admin/products", Some(&admin), wrong_type).await.problem(422),
        vec!["variants[0].prices[0].amount"]
    );
    let no_seller = json!({"seller_id": uuid::Uuid::now_v7(), "name": "Thing", "variants": [{"sku": "T-1"}]});
    assert_eq!(t.post("/api/v1/admin/products", Some(&admin), no_seller).await.problem(422), vec!["seller_id"]);

    t.post("/api/v1/admin/products", Some(&admin), product(json!([{"sku": "T-1"}]))).await.expect(201);
    let duplicate = product(json!([{"sku": "T-2"}, {"sku": "T-1"}]));
    assert_eq!(t.post("/api/v1/admin/products", Some(&admin), duplicate).await.problem(409), vec!["variants[1].sku"]);
    // Only the one valid product exists: no failed request left anything behind.
    assert_eq!(t.get("/api/v1/admin/products", Some(&admin)).await.expect(200)["total"], 1);

    // Malformed JSON is a 400, not a 500.
    let malformed = t
        .http
        .post(format!("{}/api/v1/admin/products", t.base))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    // Bad pagination is named.
    assert_eq!(t.get("/api/v1/products?per_page=1000", None).await.problem(422), vec!["per_page"]);
    assert_eq!(t.get("/api/v1/products?page=abc", None).await.problem(422), vec!["page"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_are_paginated() {
    let t = spawn_app().await;
    let admin = t.admin_token().await;
    let seller = t.post("/api/v1/admin/sellers", Some(&admin), json!({"name": "Atelier"})).await.expect(201);
    for i in 0..25 {
        let p = t
            .post("/api/v1/admin/products", Some(&admin), json!({"seller_id": seller["id"], "name": format!("Item {i}"),
                "variants": [{"sku": format!("ITEM-{i}"), "prices": [{"channel": "online", "amount": 100 + i, "currency": "EUR"}]}]}))
            .await
            .expect(201);
        t.post(&format!("/api/v1/admin/products/{}/publish", p["id"].as_str().unwrap()), Some(&admin), json!({}))
            .await
            .expect(200);
    }
    let page1 = t.get("/api/v1/products?per_page=10", None).await.expect(200);
    let page3 = t.get("/api/v1/products?per_page=10&page=3", None).await.expect(200);
    assert_eq!((page1["total"].as_u64(), page1["items"].as_array().unwrap().len()), (Some(25), 10));
    assert_eq!(page3["items"].as_array().unwrap().len(), 5);
    let collection = t
        .post(
            "/api/v1/admin/collections",
            Some(&admin),
            json!({"name": "Picks", "product_ids": [page1["items"][0]["id"]]}),
        )
        .await
        .expect(201);
    let fetched =
        t.get(&format!("/api/v1/collections/{}", collection["slug"].as_str().unwrap()), None).await.expect(200);
    assert_eq!(fetched["product_ids"].as_array().unwrap().len(), 1);
    assert_eq!(t.get("/api/v1/products?collection=picks", None).await.expect(200)["total"], 1);
}
