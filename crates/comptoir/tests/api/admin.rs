//! The shop's settings and maintenance mode, through the API, in every topology.

use std::time::{Duration, Instant};

use comptoir::config::RateLimitConfig;
use comptoir::topology::Module;
use comptoir_contracts::admin::SettingsUpdate;
use comptoir_kernel::RequestContext;
use reqwest::Method;
use serde_json::json;

use crate::support::{spawn_app, spawn_app_with, topology};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shop_is_described_publicly_and_only_admins_change_its_settings() {
    let t = spawn_app().await;
    let shop = t.get("/api/v1/shop", None).await.expect(200);
    assert_eq!(shop["name"], "Comptoir Demo Shop");
    assert_eq!((shop["default_channel"].as_str(), shop["default_currency"].as_str()), (Some("online"), Some("EUR")));
    assert_eq!(shop["maintenance_mode"], false);

    let rename = json!({"shop_name": "Chez Ann", "expected_version": 1});
    t.call(Method::PATCH, "/api/v1/admin/settings", None, Some(rename.clone())).await.problem(401);
    let support = t.staff_token("help@shop.test", &["support"]).await;
    t.call(Method::PATCH, "/api/v1/admin/settings", Some(&support), Some(rename.clone())).await.problem(403);
    t.get("/api/v1/admin/settings", Some(&support)).await.problem(403);
    let (_, customer, _) = t.customer("ann@shop.test").await;
    t.call(Method::PATCH, "/api/v1/admin/settings", Some(&customer), Some(rename.clone())).await.problem(403);

    let admin = t.admin_token().await;
    let settings = t.get("/api/v1/admin/settings", Some(&admin)).await.expect(200);
    assert_eq!((settings["version"].as_i64(), settings["updated_by"].is_null()), (Some(1), true));
    let renamed = t.call(Method::PATCH, "/api/v1/admin/settings", Some(&admin), Some(rename.clone())).await.expect(200);
    assert_eq!((renamed["shop_name"].as_str(), renamed["version"].as_i64()), (Some("Chez Ann"), Some(2)));
    assert!(renamed["updated_by"].is_string());
    assert_eq!(t.get("/api/v1/shop", None).await.expect(200)["name"], "Chez Ann");
    // Notification learns the new name from admin's event and signs the next messages with it.
    t.settle().await;
    t.customer("bob@shop.test").await;
    t.settle().await;
    let welcome = t.get("/api/v1/admin/messages?to=bob@shop.test", Some(&admin)).await.expect(200);
    assert_eq!(welcome["items"][0]["subject"], "Welcome to Chez Ann");

    // The same change sent from the old version again: someone else's edit must not be lost.
    let stale = t.call(Method::PATCH, "/api/v1/admin/settings", Some(&admin), Some(rename)).await;
    assert_eq!(stale.problem(409), ["expected_version"]);
    let bad = json!({"default_channel": "moon", "maintenance_retry_after_secs": 0, "shop_name": ""});
    let fields = t.call(Method::PATCH, "/api/v1/admin/settings", Some(&admin), Some(bad)).await.problem(422);
    assert_eq!(fields, ["shop_name", "default_channel", "maintenance_retry_after_secs"]);
    t.call(Method::PATCH, "/api/v1/admin/settings", Some(&admin), Some(json!({"colour": "red"}))).await.problem(422);
    t.call(Method::PATCH, "/api/v1/admin/settings", Some(&admin), Some(json!({}))).await.problem(400);
    let now = t.get("/api/v1/admin/settings", Some(&admin)).await.expect(200);
    assert_eq!(
        (now["version"].as_i64(), now["default_channel"].as_str()),
        (Some(2), Some("online")),
        "nothing half-written"
    );

    let store = json!({"default_channel": "store"});
    let moved = t.call(Method::PATCH, "/api/v1/admin/settings", Some(&admin), Some(store)).await.expect(200);
    assert_eq!((moved["default_channel"].as_str(), moved["default_currency"].as_str()), (Some("store"), Some("EUR")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_closes_the_shop_to_customers_but_not_to_staff() {
    let t = spawn_app().await;
    let admin = t.admin_token().await;
    t.stocked_product(&admin, "MAINT", 5).await;
    let (_, customer, refresh) = t.customer("ann@shop.test").await;

    let closing = json!({"maintenance_mode": true, "maintenance_message": "Stocktaking; back at noon", "maintenance_retry_after_secs": 120});
    let closed = t.call(Method::PATCH, "/api/v1/admin/settings", Some(&admin), Some(closing)).await.expect(200);
    assert_eq!(closed["maintenance_mode"], true);

    for (path, token) in
        [("/api/v1/products", None), ("/api/v1/me", Some(customer.as_str())), ("/api/v1/products", Some(&customer))]
    {
        let reply = t.get(path, token).await;
        assert_eq!(reply.headers["retry-after"], "120", "{path}");
        assert_eq!(reply.body["detail"], "Stocktaking; back at noon");
        assert!(reply.body["type"].as_str().unwrap().ends_with("/maintenance"));
        reply.problem(503);
    }
    let register = json!({"email": "bob@shop.test", "password": "customer-pass-1"});
    t.post("/api/v1/auth/register", None, register.clone()).await.problem(503);

    // Staff work on: the catalog, the back office, the shop's own description, health.
    assert_eq!(t.get("/api/v1/products", Some(&admin)).await.expect(200)["total"], 1);
    t.get("/api/v1/admin/orders", Some(&admin)).await.expect(200);
    let shop = t.get("/api/v1/shop", None).await.expect(200);
    assert_eq!(
        (shop["maintenance_mode"].as_bool(), shop["maintenance_message"].as_str()),
        (Some(true), Some("Stocktaking; back at noon"))
    );
    t.get("/healthz", None).await.expect(200);
    // A customer's session survives the closing: tokens can still be refreshed.
    t.post("/api/v1/auth/refresh", None, json!({"refresh_token": refresh})).await.expect(200);

    let opening = json!({"maintenance_mode": false, "expected_version": closed["version"]});
    t.call(Method::PATCH, "/api/v1/admin/settings", Some(&admin), Some(opening)).await.expect(200);
    assert_eq!(t.get("/api/v1/products", None).await.expect(200)["total"], 1);
    t.post("/api/v1/auth/register", None, register).await.expect(201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_made_elsewhere_closes_the_shop_within_the_cache_lifetime() {
    // As if another gateway instance took the change: this one learns it by asking admin again.
    let t = spawn_app_with(|config| {
        config.http.rate_limit = RateLimitConfig { per_ip: 0, per_customer: 0, per_api_key: 0 };
        config.http.settings_cache_ms = 200;
    })
    .await;
    t.get("/api/v1/products", None).await.expect(200);
    let close = SettingsUpdate { maintenance_mode: Some(true), ..SettingsUpdate::default() };
    t.app.admin.update_settings(&RequestContext::system(), close).await.expect("maintenance on");
    let started = Instant::now();
    loop {
        let reply = t.get("/api/v1/products", None).await;
        if reply.status == 503 {
            assert_eq!(reply.headers["retry-after"], "300", "the default wait");
            assert!(reply.body["detail"].as_str().unwrap().contains("closed for maintenance"), "{}", reply.body);
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "the shop never closed: {}", reply.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shop_keeps_its_last_known_state_while_admin_is_down() {
    let mut t = spawn_app_with(|config| {
        config.http.rate_limit = RateLimitConfig { per_ip: 0, per_customer: 0, per_api_key: 0 };
        config.http.settings_cache_ms = 100;
    })
    .await;
    if !t.runs_as_service(Module::Admin) {
        eprintln!(
            "NOT RUN in the {:?} topology: admin runs in the monolith; run with COMPTOIR_TEST_TOPOLOGY=distributed",
            topology()
        );
        return;
    }
    assert_eq!(t.get("/api/v1/shop", None).await.expect(200)["maintenance_mode"], false);
    t.stop_service(Module::Admin).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    t.get("/api/v1/products", None).await.expect(200);
    assert_eq!(t.get("/api/v1/shop", None).await.expect(200)["maintenance_mode"], false, "the last settings seen");
    let admin = t.admin_token().await;
    let reply = t.call(Method::PATCH, "/api/v1/admin/settings", Some(&admin), Some(json!({"shop_name": "X"}))).await;
    assert!(reply.body["detail"].as_str().unwrap().contains("admin"), "the service at fault is named: {}", reply.body);
    reply.problem(503);

    t.start_service(Module::Admin).await;
    let renamed =
        t.call(Method::PATCH, "/api/v1/admin/settings", Some(&admin), Some(json!({"shop_name": "Back"}))).await;
    assert_eq!(renamed.expect(200)["shop_name"], "Back");
}
