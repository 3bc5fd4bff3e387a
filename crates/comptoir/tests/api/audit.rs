//! The audit log through the API, in every topology: staff actions and security events are
//! recorded with who, what, when and the correlation id, and only admins read them.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{TestApp, spawn_app};

async fn audit(t: &TestApp, admin: &str, query: &str) -> Vec<Value> {
    t.settle().await;
    let page = t.get(&format!("/api/v1/admin/audit?per_page=100&{query}"), Some(admin)).await.expect(200);
    page["items"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_actions_and_security_events_are_recorded_and_filterable_by_admins() {
    let t = spawn_app().await;
    let admin = t.admin_token().await;
    let support = t.staff_token("ann@shop.test", &["support"]).await;

    // A staff action, under a correlation id of the caller's choosing.
    let seller = t
        .call_with(
            Method::POST,
            "/api/v1/admin/sellers",
            Some(&admin),
            Some(json!({"name": "Audited seller"})),
            &[("x-correlation-id", "audit-test-0001")],
        )
        .await
        .expect(201);
    // A permission denied, a failed login, a refused token, an API key's use.
    t.call(Method::PATCH, "/api/v1/admin/settings", Some(&support), Some(json!({"shop_name": "Mine"})))
        .await
        .problem(403);
    t.post("/api/v1/staff/auth/login", None, json!({"email": "ann@shop.test", "password": "not-her-password"}))
        .await
        .problem(401);
    t.get("/api/v1/admin/orders", Some("forged.token.value")).await.problem(401);
    let key = t
        .post("/api/v1/admin/api-keys", Some(&admin), json!({"name": "ERP", "scopes": ["catalog:read"]}))
        .await
        .expect(201);
    let secret = key["secret"].as_str().unwrap();
    t.call_with(Method::GET, "/api/v1/admin/products", None, None, &[("x-api-key", secret)]).await.expect(200);

    // The request as the API saw it, and identity's event of the seller created under it.
    let trail = audit(&t, &admin, "correlation_id=audit-test-0001").await;
    let sources: Vec<&str> = trail.iter().map(|e| e["source"].as_str().unwrap()).collect();
    assert_eq!(sources.len(), 2, "{trail:?}");
    let from_identity = trail.iter().find(|e| e["source"] == "audit").unwrap();
    assert_eq!(from_identity["action"], "auth.seller.created");
    assert_eq!(from_identity["target"], format!("seller:{}", seller["id"].as_str().unwrap()));
    let e = trail.iter().find(|e| e["source"] == "api").unwrap();
    assert_eq!((e["category"].as_str(), e["outcome"].as_str()), (Some("action"), Some("success")));
    assert_eq!(e["action"], "POST /api/v1/admin/sellers");
    assert_eq!((e["actor_label"].as_str(), e["actor_type"].as_str()), (Some("root@shop.test"), Some("user")));
    assert_eq!((e["status"].as_u64(), e["source"].as_str()), (Some(201), Some("api")));
    assert!(e["ip"].as_str().is_some_and(|ip| ip.starts_with("127.")), "{e}");

    let security = audit(&t, &admin, "category=security").await;
    let actions: Vec<&str> = security.iter().map(|e| e["action"].as_str().unwrap()).collect();
    for expected in ["auth.permission.denied", "auth.login.failed", "auth.credentials.rejected", "auth.apikey.used"] {
        assert!(actions.contains(&expected), "{expected} in {actions:?}");
    }
    let failed = security.iter().find(|e| e["action"] == "auth.login.failed").unwrap();
    assert_eq!((failed["actor_label"].as_str(), failed["outcome"].as_str()), (Some("ann@shop.test"), Some("denied")));
    assert!(!failed.to_string().contains("not-her-password"), "a password is never kept: {failed}");
    let denied = security.iter().find(|e| e["action"] == "auth.permission.denied").unwrap();
    assert_eq!(denied["actor_label"], "ann@shop.test");
    assert_eq!(denied["target"], "/api/v1/admin/settings");
    let used = security.iter().find(|e| e["action"] == "auth.apikey.used").unwrap();
    assert_eq!((used["actor_type"].as_str(), used["actor_label"].as_str()), (Some("app"), Some("ERP")));
    assert!(!security.iter().any(|e| e.to_string().contains(secret)), "an API key's secret is never kept");

    // Identity's own events land in the log too, and filters combine.
    let created = audit(&t, &admin, "action=auth.apikey.created").await;
    assert_eq!(created.len(), 1, "{created:?}");
    let by_ann = audit(&t, &admin, "q=ann%40shop.test&outcome=denied").await;
    assert!(by_ann.len() >= 2 && by_ann.iter().all(|e| e["outcome"] == "denied"), "{by_ann:?}");

    let one = t.get(&format!("/api/v1/admin/audit/{}", e["id"].as_str().unwrap()), Some(&admin)).await.expect(200);
    assert_eq!(one["action"], "POST /api/v1/admin/sellers");
    t.get("/api/v1/admin/audit/00000000-0000-0000-0000-000000000000", Some(&admin)).await.problem(404);
    t.get("/api/v1/admin/audit", Some(&support)).await.problem(403);
    assert_eq!(t.get("/api/v1/admin/audit?category=everything", Some(&admin)).await.problem(422), ["category"]);
}
