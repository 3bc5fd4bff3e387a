//! Setting up a shop that can sell over HTTP, for the suites that need a placed order.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::TestApp;

/// VAT 20 % in France, a European zone with a flat `standard` method (4.90, free from 50.00).
pub(crate) async fn fulfilment(t: &TestApp, admin: &str) {
    t.post("/api/v1/admin/tax-rules", Some(admin), json!({"country": "FR", "rate": "0.20", "label": "TVA 20%"}))
        .await
        .expect(201);
    let zone = t
        .post("/api/v1/admin/shipping/zones", Some(admin), json!({"name": "Europe", "countries": ["FR", "DE"]}))
        .await
        .expect(201);
    let method = json!({"code": "standard", "name": "Standard", "carrier": "La Poste", "zone_id": zone["id"], "currency": "EUR",
        "rate": {"kind": "flat", "amount": 490}, "free_above": 5000});
    t.post("/api/v1/admin/shipping/methods", Some(admin), method).await.expect(201);
}

fn address() -> Value {
    json!({"name": "Ann Martin", "line1": "1 rue de Rivoli", "city": "Paris", "postal_code": "75001", "country": "FR"})
}

pub(crate) fn checkout_body(cart_id: &str, token: &str) -> Value {
    json!({"cart_id": cart_id, "shipping_address": address(), "shipping_method": "standard", "payment": {"provider": "test", "token": token}})
}

/// A customer cart holding `quantity` of `sku`; returns its id.
pub(crate) async fn cart_with(t: &TestApp, customer: &str, sku: &str, quantity: i64) -> String {
    let cart = t.call(Method::POST, "/api/v1/carts", Some(customer), None).await.expect(201);
    let id = cart["id"].as_str().unwrap().to_string();
    t.post(&format!("/api/v1/carts/{id}/lines"), Some(customer), json!({"sku": sku, "quantity": quantity}))
        .await
        .expect(200);
    id
}

pub(crate) async fn checkout(t: &TestApp, customer: &str, key: &str, body: Value) -> crate::support::Reply {
    t.call_with(Method::POST, "/api/v1/checkout", Some(customer), Some(body), &[("idempotency-key", key)]).await
}
