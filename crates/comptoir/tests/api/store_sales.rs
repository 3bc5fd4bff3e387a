//! The point of sale and reporting through the API, in every topology: a cashier sells at a
//! store's till, stock leaves that store's shelves, a return comes back, and the reports show the
//! store's sales beside the online orders, consistent with ordering's own figures.

use reqwest::Method;
use serde_json::{Value, json};

use crate::shop::{cart_with, checkout, checkout_body, fulfilment};
use crate::support::{Reply, TestApp, spawn_app};

fn store_address() -> Value {
    json!({"name": "Comptoir Paris", "line1": "8 rue du Bac", "city": "Paris", "postal_code": "75007", "country": "FR"})
}

async fn sell(t: &TestApp, token: &str, key: &str, body: Value) -> Reply {
    t.call_with(Method::POST, "/api/v1/pos/sales", Some(token), Some(body), &[("idempotency-key", key)]).await
}

/// A store location `paris-store` with 5 units of `sku`, set up for the till, beside the
/// warehouse's stock; the SKU priced 21.00 in the `store` channel.
async fn store_with(t: &TestApp, admin: &str, sku: &str) {
    t.post(
        "/api/v1/admin/locations",
        Some(admin),
        json!({"code": "paris-store", "name": "Paris store", "kind": "store"}),
    )
    .await
    .expect(201);
    t.post("/api/v1/admin/stock/receive", Some(admin), json!({"sku": sku, "location": "paris-store", "quantity": 5}))
        .await
        .expect(200);
    t.call(
        Method::PUT,
        &format!("/api/v1/admin/variants/{sku}/prices"),
        Some(admin),
        Some(json!({"prices": [{"channel": "store", "amount": 2100, "currency": "EUR"}]})),
    )
    .await
    .expect(200);
    let store = t
        .call(
            Method::PUT,
            "/api/v1/admin/pos/stores",
            Some(admin),
            Some(json!({"location": "paris-store", "name": "Comptoir Paris", "address": store_address()})),
        )
        .await
        .expect(200);
    assert_eq!((store["channel"].as_str(), store["currency"].as_str()), (Some("store"), Some("EUR")), "{store}");
}

fn units_at(stock: &Value, location: &str) -> i64 {
    stock["levels"].as_array().unwrap().iter().find(|l| l["location"] == location).unwrap()["on_hand"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_till_sale_and_a_return_show_in_the_reports_beside_online_orders() {
    let t = spawn_app().await;
    let admin = t.admin_token().await;
    fulfilment(&t, &admin).await;
    t.stocked_product(&admin, "TEA", 20).await;
    store_with(&t, &admin, "TEA-S").await;
    let cashier = t.staff_token("cashier@shop.test", &["cashier"]).await;

    // Scanning shows the store's price and its own shelves, not the warehouse's.
    let scanned = t.get("/api/v1/pos/stores/paris-store/items/TEA-S", Some(&cashier)).await.expect(200);
    assert_eq!((scanned["price"]["amount"].as_i64(), scanned["available_here"].as_i64()), (Some(2100), Some(5)));
    t.get("/api/v1/pos/stores/paris-store/items/NOPE", Some(&cashier)).await.problem(404);

    // Bad sales are refused, naming the problem, and sell nothing.
    let cash = |lines: Value, tendered: i64| json!({"location": "paris-store", "lines": lines, "payment": {"method": "cash", "tendered": tendered}});
    assert_eq!(
        sell(&t, &cashier, "short", cash(json!([{"sku": "TEA-S", "quantity": 2}]), 4000)).await.problem(422),
        ["payment.tendered"]
    );
    assert_eq!(
        sell(&t, &cashier, "ghost", cash(json!([{"sku": "NOPE", "quantity": 1}]), 9000)).await.problem(422),
        ["lines[0].sku"]
    );
    sell(&t, &cashier, "too-many", cash(json!([{"sku": "TEA-S", "quantity": 6}]), 99000)).await.problem(409);
    let declined = json!({"location": "paris-store", "lines": [{"sku": "TEA-S", "quantity": 1}],
        "payment": {"method": "card", "token": "tok_decline_insufficient_funds"}});
    sell(&t, &cashier, "declined", declined).await.problem(402);
    let no_key =
        t.post("/api/v1/pos/sales", Some(&cashier), cash(json!([{"sku": "TEA-S", "quantity": 1}]), 5000)).await;
    assert_eq!(no_key.problem(400), ["Idempotency-Key"]);
    let (_, shopper, _) = t.customer("shopper@shop.test").await;
    sell(&t, &shopper, "customer", cash(json!([{"sku": "TEA-S", "quantity": 1}]), 5000)).await.problem(403);

    // Two teas for cash: 42.00 paid with 50.00, 8.00 back; a retry is the same sale.
    let sale = sell(&t, &cashier, "sale-1", cash(json!([{"sku": "TEA-S", "quantity": 2}]), 5000)).await.expect(201);
    let again = sell(&t, &cashier, "sale-1", cash(json!([{"sku": "TEA-S", "quantity": 2}]), 5000)).await.expect(201);
    assert_eq!(again["id"], sale["id"], "a retried sale is the first one");
    assert_eq!(sale["totals"]["gross"]["amount"], 4200);
    assert_eq!(
        (sale["tender"]["method"].as_str(), sale["tender"]["change"]["amount"].as_i64()),
        (Some("cash"), Some(800))
    );
    assert_eq!(sale["cashier"]["name"], "cashier@shop.test");
    let stock = t.get("/api/v1/admin/stock/TEA-S", Some(&admin)).await.expect(200);
    assert_eq!(
        (units_at(&stock, "paris-store"), units_at(&stock, "main-wh")),
        (3, 20),
        "sold off the store's shelves: {stock}"
    );

    let id = sale["id"].as_str().unwrap();
    let receipt = t.call(Method::GET, &format!("/api/v1/pos/sales/{id}/receipt"), Some(&cashier), None).await;
    assert_eq!(receipt.status, 200);
    let text = receipt.body.as_str().map(str::to_string).unwrap_or_else(|| receipt.body.to_string());
    for expected in ["Comptoir Paris", "Product TEA", "42.00", "50.00", "8.00", sale["number"].as_str().unwrap()] {
        assert!(text.contains(expected), "the receipt shows {expected}:\n{text}");
    }
    assert!(text.lines().all(|l| l.chars().count() <= 40), "40 columns:\n{text}");

    // One tea comes back: 21.00 refunded in cash, the unit back on the store's shelf.
    let returns = format!("/api/v1/pos/sales/{id}/returns");
    let over = json!({"lines": [{"sku": "TEA-S", "quantity": 3}], "reason": "too much"});
    let over = t.call_with(Method::POST, &returns, Some(&cashier), Some(over), &[("idempotency-key", "ret-0")]).await;
    assert_eq!(over.problem(422), ["lines[0].quantity"]);
    let one = json!({"lines": [{"sku": "TEA-S", "quantity": 1}], "reason": "a gift they had already"});
    let taken = t
        .call_with(Method::POST, &returns, Some(&cashier), Some(one), &[("idempotency-key", "ret-1")])
        .await
        .expect(201);
    assert_eq!(taken["amount"]["amount"], 2100);
    let stock = t.get("/api/v1/admin/stock/TEA-S", Some(&admin)).await.expect(200);
    assert_eq!(units_at(&stock, "paris-store"), 4);
    let listed = t.get("/api/v1/pos/sales?location=paris-store", Some(&cashier)).await.expect(200);
    assert_eq!(listed["total"], 1, "declined and refused sales leave nothing: {listed}");
    assert_eq!(listed["items"][0]["status"], "partly_returned");

    // One online order of a tea (19.99) the same day.
    let (_, buyer, _) = t.customer("buyer@shop.test").await;
    let cart = cart_with(&t, &buyer, "TEA-S", 1).await;
    let order = checkout(&t, &buyer, "online-1", checkout_body(&cart, "tok_visa")).await.expect(201);
    t.settle().await;

    let today = chrono::Utc::now().date_naive();
    let period = format!("from={today}&to={today}");
    t.get(&format!("/api/v1/admin/reports/sales?{period}"), Some(&cashier)).await.problem(403);
    let by_channel =
        t.get(&format!("/api/v1/admin/reports/sales?{period}&group_by=channel"), Some(&admin)).await.expect(200);
    let row =
        |channel: &str| by_channel["rows"].as_array().unwrap().iter().find(|r| r["key"] == channel).cloned().unwrap();
    assert_eq!((row("store")["orders"].as_u64(), row("store")["units"].as_i64()), (Some(1), Some(2)), "{by_channel}");
    assert_eq!(row("store")["gross"]["amount"], 4200);
    assert_eq!(row("online")["orders"], 1);
    assert_eq!(
        row("online")["gross"]["amount"].as_i64().unwrap() + row("online")["shipping"]["amount"].as_i64().unwrap(),
        order["totals"]["gross"]["amount"].as_i64().unwrap(),
        "the online row is what the order charged: {by_channel} {order}"
    );
    assert_eq!(by_channel["totals"][0]["orders"], 2);

    let by_product =
        t.get(&format!("/api/v1/admin/reports/sales?{period}&group_by=product"), Some(&admin)).await.expect(200);
    assert_eq!(by_product["rows"][0]["label"], "Product TEA");
    assert_eq!(by_product["rows"][0]["units"], 3);
    let by_seller =
        t.get(&format!("/api/v1/admin/reports/sales?{period}&group_by=seller"), Some(&admin)).await.expect(200);
    assert_eq!(by_seller["rows"][0]["label"], "Seller TEA");

    let refunds = t.get(&format!("/api/v1/admin/reports/refunds?{period}"), Some(&admin)).await.expect(200);
    assert_eq!(
        refunds,
        json!([{"day": today.to_string(), "channel": "store", "currency": "EUR", "refunds": 1,
        "amount": {"amount": 2100, "currency": "EUR"}}])
    );

    let value =
        t.get("/api/v1/admin/reports/stock-value?location=paris-store&channel=store", Some(&admin)).await.expect(200);
    assert_eq!((value[0]["units"].as_i64(), value[0]["value"]["amount"].as_i64()), (Some(4), Some(8400)), "{value}");
    t.get("/api/v1/admin/reports/stock-value?location=atlantis", Some(&admin)).await.problem(404);

    let conversion = t.get(&format!("/api/v1/admin/reports/conversion?{period}"), Some(&admin)).await.expect(200);
    assert_eq!(
        (conversion[0]["carts"].as_u64(), conversion[0]["ordered"].as_u64()),
        (Some(1), Some(1)),
        "{conversion}"
    );

    let csv = t
        .call(
            Method::GET,
            &format!("/api/v1/admin/reports/sales?{period}&group_by=channel&format=csv"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(csv.status, 200);
    assert!(csv.headers["content-type"].to_str().unwrap().starts_with("text/csv"));
    let text = csv.body.as_str().map(str::to_string).unwrap_or_else(|| csv.body.to_string());
    assert!(text.starts_with("key,label,currency,orders,units,net,tax,gross,shipping\n"), "{text}");
    assert!(text.contains("store,store,EUR,1,2,"), "{text}");

    let backwards = format!("/api/v1/admin/reports/sales?from={today}&to={}", today.pred_opt().unwrap());
    assert_eq!(t.get(&backwards, Some(&admin)).await.problem(422), ["to"]);
    assert_eq!(t.get("/api/v1/admin/reports/sales?from=yesterday&to=today", Some(&admin)).await.problem(422), ["from"]);

    // The reports agree with ordering's own figures, and a rebuild finds the same.
    let rebuilt = t.post("/api/v1/admin/reports/rebuild", Some(&admin), json!({})).await.expect(200);
    assert_eq!((rebuilt["orders"].as_u64(), rebuilt["store_sales"].as_u64()), (Some(1), Some(1)), "{rebuilt}");
    let after =
        t.get(&format!("/api/v1/admin/reports/sales?{period}&group_by=channel"), Some(&admin)).await.expect(200);
    assert_eq!(after, by_channel, "a rebuild counts what the events counted");
}
