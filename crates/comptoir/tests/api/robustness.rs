//! No input makes the server answer 500 or panic: every operation of the OpenAPI document is
//! called with hostile path parameters and bodies, anonymously and as an admin.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::spawn_app;

fn hostile_bodies() -> Vec<Option<Value>> {
    vec![
        None,
        Some(json!({})),
        Some(json!([])),
        Some(json!(null)),
        Some(json!("text")),
        Some(json!(-1)),
        Some(json!({"email": 1, "password": [], "quantity": "many", "sku": {"a": 1}, "lines": "x", "variants": [{}]})),
        Some(json!({"quantity": i64::MAX, "delta": i64::MIN, "amount": -1, "ttl_seconds": -5, "per_page": 0})),
        Some(json!({"name": "x".repeat(10_000), "tier": "platinum", "kind": "castle", "scopes": ["everything"]})),
        Some(json!({"seller_id": "not-a-uuid", "category_ids": ["nope"], "product_ids": [null]})),
    ]
}

const PATH_VALUES: &[&str] =
    &["00000000-0000-0000-0000-000000000000", "not-an-id", "%F0%9F%92%A5", "..%2F..%2Fetc", "' OR 1=1 --"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_operation_answers_500_to_hostile_input() {
    let t = spawn_app().await;
    let admin = t.admin_token().await;
    let doc = t.get("/openapi.json", None).await.expect(200);
    let mut calls = 0;
    for (path, operations) in doc["paths"].as_object().expect("paths") {
        for method in operations.as_object().expect("operations").keys() {
            let method: Method = method.to_uppercase().parse().expect("method");
            for value in PATH_VALUES {
                let concrete = fill_path(path, value);
                for body in hostile_bodies() {
                    for token in [None, Some(admin.as_str())] {
                        let reply = t.call(method.clone(), &concrete, token, body.clone()).await;
                        calls += 1;
                        assert!(
                            reply.status.as_u16() < 500,
                            "{method} {concrete} with {body:?} answered {}: {}",
                            reply.status,
                            reply.body
                        );
                    }
                }
            }
        }
    }
    assert!(calls > 1000, "only {calls} calls made");
    // And the hostile queries on list endpoints.
    for query in
        ["page=-1", "page=99999999999", "per_page=abc", "category=%00", "q=%25%25%25", "seller_id=nope", "tier=gold"]
    {
        for path in
            ["/api/v1/products", "/api/v1/admin/products", "/api/v1/admin/customers", "/api/v1/admin/stock-movements"]
        {
            let reply = t.get(&format!("{path}?{query}"), Some(&admin)).await;
            assert!(reply.status.as_u16() < 500, "{path}?{query} answered {}: {}", reply.status, reply.body);
        }
    }
}

/// Replaces every `{param}` in an OpenAPI path template.
fn fill_path(template: &str, value: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').map_or(rest.len(), |e| start + e + 1);
        out.push_str(value);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}
