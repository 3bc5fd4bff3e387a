use reqwest::Method;
use serde_json::json;

use crate::support::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_login_refresh_logout() {
    let t = spawn_app().await;
    let (_, access, refresh) = t.customer("ann@shop.test").await;

    let me = t.get("/api/v1/me", Some(&access)).await.expect(200);
    assert_eq!(me["email"], "ann@shop.test");
    assert_eq!(me["tier"], "standard");

    let pair = t.post("/api/v1/auth/refresh", None, json!({"refresh_token": refresh})).await.expect(200);
    let new_access = pair["access_token"].as_str().unwrap().to_string();
    t.get("/api/v1/me", Some(&new_access)).await.expect(200);
    t.call(Method::POST, "/api/v1/auth/logout", Some(&new_access), None).await.expect(204);
    t.get("/api/v1/me", Some(&new_access)).await.problem(401);
    t.post("/api/v1/auth/refresh", None, json!({"refresh_token": pair["refresh_token"]})).await.problem(401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_refresh_token_revokes_the_session() {
    let t = spawn_app().await;
    let (_, _, refresh) = t.customer("ann@shop.test").await;
    let pair = t.post("/api/v1/auth/refresh", None, json!({"refresh_token": refresh})).await.expect(200);
    // Someone presents the old token again: it may have been stolen, so the session ends.
    t.post("/api/v1/auth/refresh", None, json!({"refresh_token": refresh})).await.problem(401);
    t.get("/api/v1/me", pair["access_token"].as_str()).await.problem(401);
    t.post("/api/v1/auth/refresh", None, json!({"refresh_token": pair["refresh_token"]})).await.problem(401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_registrations_and_logins_are_clear_4xx() {
    let t = spawn_app().await;
    t.customer("bob@shop.test").await;

    let dup =
        t.post("/api/v1/auth/register", None, json!({"email": "BOB@shop.test", "password": "another-pass-1"})).await;
    assert_eq!(dup.problem(409), vec!["email"]);
    let fields = t
        .post("/api/v1/auth/register", None, json!({"email": "not-an-email", "password": "long-enough-pass"}))
        .await
        .problem(422);
    assert_eq!(fields, vec!["email"]);
    let fields =
        t.post("/api/v1/auth/register", None, json!({"email": "c@shop.test", "password": "short"})).await.problem(422);
    assert_eq!(fields, vec!["password"]);
    let fields = t.post("/api/v1/auth/register", None, json!({"email": "c@shop.test"})).await.problem(422);
    assert_eq!(fields, vec!["password"], "a missing field is named");
    let fields = t
        .post(
            "/api/v1/auth/register",
            None,
            json!({"email": "c@shop.test", "password": "long-enough-pass", "admin": true}),
        )
        .await
        .problem(422);
    assert_eq!(fields, vec!["admin"], "an unknown field is named");

    // Wrong password and unknown email answer the same, revealing nothing.
    let wrong =
        t.post("/api/v1/auth/login", None, json!({"email": "bob@shop.test", "password": "wrong-password"})).await;
    let unknown =
        t.post("/api/v1/auth/login", None, json!({"email": "nobody@shop.test", "password": "wrong-password"})).await;
    assert_eq!(wrong.body["detail"], unknown.body["detail"]);
    wrong.problem(401);
    unknown.problem(401);
    // A customer cannot log in as staff.
    t.post("/api/v1/staff/auth/login", None, json!({"email": "bob@shop.test", "password": "customer-pass-1"}))
        .await
        .problem(401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_malformed_tokens_are_401() {
    let t = spawn_app().await;
    let (_, access, _) = t.customer("eve@shop.test").await;
    let mut forged = access.clone();
    forged.pop();
    forged.push(if access.ends_with('A') { 'B' } else { 'A' });
    t.get("/api/v1/me", Some(&forged)).await.problem(401);
    t.get("/api/v1/me", Some("not-a-jwt")).await.problem(401);
    let basic = t.call_with(Method::GET, "/api/v1/me", None, None, &[("authorization", "Basic Zm9vOmJhcg==")]).await;
    basic.problem(401);
    t.call_with(Method::GET, "/api/v1/admin/customers", None, None, &[("x-api-key", "ck_nope_nope")])
        .await
        .problem(401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_roles_gate_the_back_office() {
    let t = spawn_app().await;
    let admin = t.admin_token().await;
    let support = t.staff_token("help@shop.test", &["support"]).await;
    let stock = t.staff_token("stock@shop.test", &["stock_manager"]).await;
    let (customer_id, customer, _) = t.customer("cara@shop.test").await;

    // A customer on a staff endpoint: 403.
    t.get("/api/v1/admin/customers", Some(&customer)).await.problem(403);
    // Anonymous: 401.
    t.get("/api/v1/admin/customers", None).await.problem(401);
    // Support reads customers but cannot change a tier or manage staff.
    let list = t.get("/api/v1/admin/customers?per_page=5", Some(&support)).await.expect(200);
    assert_eq!(list["total"], 1);
    t.call(
        Method::PUT,
        &format!("/api/v1/admin/customers/{customer_id}/tier"),
        Some(&support),
        Some(json!({"tier": "vip"})),
    )
    .await
    .problem(403);
    t.get("/api/v1/admin/staff", Some(&support)).await.problem(403);
    // A stock manager cannot create products.
    t.post(
        "/api/v1/admin/products",
        Some(&stock),
        json!({"seller_id": uuid::Uuid::nil(), "name": "x", "variants": []}),
    )
    .await
    .problem(403);

    // Admin sets the tier; the customer sees it.
    let updated = t
        .call(
            Method::PUT,
            &format!("/api/v1/admin/customers/{customer_id}/tier"),
            Some(&admin),
            Some(json!({"tier": "vip"})),
        )
        .await
        .expect(200);
    assert_eq!(updated["tier"], "vip");
    assert_eq!(t.get("/api/v1/me", Some(&customer)).await.expect(200)["tier"], "vip");
    t.call(
        Method::PUT,
        &format!("/api/v1/admin/customers/{customer_id}/tier"),
        Some(&admin),
        Some(json!({"tier": "gold"})),
    )
    .await
    .problem(422);
    t.get(&format!("/api/v1/admin/customers/{}", uuid::Uuid::now_v7()), Some(&admin)).await.problem(404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn addresses_belong_to_their_customer() {
    let t = spawn_app().await;
    let (_, ann, _) = t.customer("ann@shop.test").await;
    let (_, bob, _) = t.customer("bob@shop.test").await;
    let address = json!({"kind": "shipping", "name": "Ann", "line1": "1 rue de Rivoli", "city": "Paris", "postal_code": "75001", "country": "FR", "is_default": true});
    let created = t.post("/api/v1/me/addresses", Some(&ann), address.clone()).await.expect(201);
    let id = created["id"].as_str().unwrap();
    assert_eq!(t.get("/api/v1/me/addresses", Some(&ann)).await.expect(200)["total"], 1);
    assert_eq!(t.get("/api/v1/me/addresses", Some(&bob)).await.expect(200)["total"], 0);
    // Bob cannot touch Ann's address.
    t.call(Method::DELETE, &format!("/api/v1/me/addresses/{id}"), Some(&bob), None).await.problem(404);
    t.call(Method::PUT, &format!("/api/v1/me/addresses/{id}"), Some(&bob), Some(address.clone())).await.problem(404);
    let mut bad = address.clone();
    bad["country"] = json!("XX");
    assert_eq!(t.post("/api/v1/me/addresses", Some(&ann), bad).await.problem(422), vec!["country"]);
    t.call(Method::DELETE, &format!("/api/v1/me/addresses/{id}"), Some(&ann), None).await.expect(204);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_carry_scopes() {
    let t = spawn_app().await;
    let admin = t.admin_token().await;
    let created = t
        .post(
            "/api/v1/admin/api-keys",
            Some(&admin),
            json!({"name": "ERP", "scopes": ["catalog:read", "inventory:read"]}),
        )
        .await
        .expect(201);
    let secret = created["secret"].as_str().unwrap().to_string();
    let key_id = created["id"].as_str().unwrap().to_string();
    let key_header = [("x-api-key", secret.as_str())];
    let with_key = |path: &'static str| t.call_with(Method::GET, path, None, None, &key_header);
    with_key("/api/v1/admin/products").await.expect(200);
    with_key("/api/v1/admin/customers").await.problem(403);
    let listed = t.get("/api/v1/admin/api-keys", Some(&admin)).await.expect(200);
    assert!(listed["items"][0].get("secret").is_none(), "the secret is shown only once");
    t.call(Method::DELETE, &format!("/api/v1/admin/api-keys/{key_id}"), Some(&admin), None).await.expect(200);
    with_key("/api/v1/admin/products").await.problem(401);
}
