use reqwest::Method;
use serde_json::json;

use crate::support::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anonymous_cart_is_merged_at_login() {
    let t = spawn_app().await;
    let admin = t.admin_token().await;
    t.stocked_product(&admin, "TEE", 3).await;

    let cart = t.call(Method::POST, "/api/v1/carts", None, None).await.expect(201);
    let id = cart["id"].as_str().unwrap().to_string();
    let token = cart["token"].as_str().unwrap().to_string();
    assert_eq!(cart["currency"], "EUR");
    let with_token = [("x-cart-token", token.as_str())];

    let added = t
        .call_with(
            Method::POST,
            &format!("/api/v1/carts/{id}/lines"),
            None,
            Some(json!({"sku": "TEE-S", "quantity": 2})),
            &with_token,
        )
        .await
        .expect(200);
    assert_eq!(added["subtotal"], json!({"amount": 3998, "currency": "EUR"}));
    // More than available: a conflict naming the quantity.
    let too_many = t
        .call_with(
            Method::POST,
            &format!("/api/v1/carts/{id}/lines"),
            None,
            Some(json!({"sku": "TEE-S", "quantity": 2})),
            &with_token,
        )
        .await;
    assert_eq!(too_many.problem(409), vec!["quantity"]);
    for bad in [0, -1] {
        let r = t
            .call_with(
                Method::POST,
                &format!("/api/v1/carts/{id}/lines"),
                None,
                Some(json!({"sku": "TEE-S", "quantity": bad})),
                &with_token,
            )
            .await;
        assert_eq!(r.problem(422), vec!["quantity"]);
    }
    t.call_with(
        Method::POST,
        &format!("/api/v1/carts/{id}/lines"),
        None,
        Some(json!({"sku": "NOPE", "quantity": 1})),
        &with_token,
    )
    .await
    .problem(404);
    // Without the token the cart does not exist for the caller.
    t.get(&format!("/api/v1/carts/{id}"), None).await.problem(401);
    t.call_with(Method::GET, &format!("/api/v1/carts/{id}"), None, None, &[("x-cart-token", "wrong")])
        .await
        .problem(404);

    t.customer("dana@shop.test").await;
    let login = t
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "dana@shop.test", "password": "customer-pass-1", "cart": {"id": id, "token": token}}),
        )
        .await
        .expect(200);
    assert_eq!(login["cart"]["lines"][0]["sku"], "TEE-S");
    assert_eq!(login["cart"]["lines"][0]["quantity"], 2);
    let access = login["access_token"].as_str().unwrap();
    let mine = t.get("/api/v1/me/cart", Some(access)).await.expect(200);
    assert_eq!(mine["item_count"], 2);
    // The anonymous cart is spent.
    t.call_with(
        Method::POST,
        &format!("/api/v1/carts/{id}/lines"),
        None,
        Some(json!({"sku": "TEE-M", "quantity": 1})),
        &with_token,
    )
    .await
    .problem(409);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_cannot_reach_another_customers_cart() {
    let t = spawn_app().await;
    let admin = t.admin_token().await;
    t.stocked_product(&admin, "CAP", 5).await;
    let (_, ann, _) = t.customer("ann@shop.test").await;
    let (_, bob, _) = t.customer("bob@shop.test").await;
    let cart = t.call(Method::POST, "/api/v1/carts", Some(&ann), None).await.expect(201);
    assert!(cart.get("token").is_none(), "a customer cart needs no token");
    let id = cart["id"].as_str().unwrap();
    t.post(&format!("/api/v1/carts/{id}/lines"), Some(&ann), json!({"sku": "CAP-M", "quantity": 1})).await.expect(200);
    t.get(&format!("/api/v1/carts/{id}"), Some(&bob)).await.problem(404);
    t.post(&format!("/api/v1/carts/{id}/lines"), Some(&bob), json!({"sku": "CAP-M", "quantity": 1})).await.problem(404);
    let changed = t
        .call(Method::PATCH, &format!("/api/v1/carts/{id}/lines/CAP-M"), Some(&ann), Some(json!({"quantity": 4})))
        .await
        .expect(200);
    assert_eq!(changed["total"]["amount"], 4 * 2499);
    t.call(Method::DELETE, &format!("/api/v1/carts/{id}/lines/CAP-M"), Some(&ann), None).await.expect(200);
    // Support staff can read a cart, not change it.
    let support = t.staff_token("help@shop.test", &["support"]).await;
    t.get(&format!("/api/v1/carts/{id}"), Some(&support)).await.expect(200);
    t.post(&format!("/api/v1/carts/{id}/lines"), Some(&support), json!({"sku": "CAP-M", "quantity": 1}))
        .await
        .problem(403);
}
