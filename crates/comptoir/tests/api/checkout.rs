//! The checkout saga end to end over HTTP, with every module real: cart → order → stock reserved →
//! payment → confirmed → stock committed, shipment, invoice, notification; and its compensations.

use reqwest::Method;
use serde_json::json;

use crate::support::spawn_app;

pub(crate) use crate::shop::{cart_with, checkout, checkout_body, fulfilment};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_order_is_confirmed_invoiced_shipped_and_refunded() {
    let t = spawn_app().await;
    let admin = t.admin_token().await;
    fulfilment(&t, &admin).await;
    t.stocked_product(&admin, "CHK", 5).await;
    let (customer_id, customer, _) = t.customer("ann@shop.test").await;

    let quotes = t
        .post(
            "/api/v1/shipping/quotes",
            None,
            json!({"country": "FR", "weight_grams": 500, "subtotal": {"amount": 3998, "currency": "EUR"}}),
        )
        .await
        .expect(200);
    assert_eq!(quotes[0]["method"], "standard");
    assert_eq!(quotes[0]["price"]["amount"], 490);

    let cart = cart_with(&t, &customer, "CHK-S", 2).await;
    let order = checkout(&t, &customer, "checkout-1", checkout_body(&cart, "tok_visa")).await.expect(201);
    assert_eq!(order["status"], "confirmed");
    assert_eq!(order["customer_id"], customer_id);
    // 2 × 19.99 + 4.90 shipping, prices include 20 % VAT.
    assert_eq!(order["totals"]["gross"], json!({"amount": 4488, "currency": "EUR"}));
    assert_eq!(order["totals"]["tax"]["amount"], 748);
    let statuses: Vec<&str> = order["timeline"].as_array().unwrap().iter().map(|s| s["to"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["pending", "stock_reserved", "paid", "confirmed"]);
    let id = order["id"].as_str().unwrap().to_string();

    // The same request again: the first answer, not a second order or charge.
    let again = checkout(&t, &customer, "checkout-1", checkout_body(&cart, "tok_visa")).await;
    assert_eq!(again.expect(201)["id"], order["id"]);
    t.settle().await;
    assert_eq!(t.get("/api/v1/me/orders", Some(&customer)).await.expect(200)["total"], 1);
    assert_eq!(
        t.get(&format!("/api/v1/admin/orders/{id}/payments"), Some(&admin)).await.expect(200).as_array().unwrap().len(),
        1
    );
    // The same cart under another key is not ordered twice.
    let twice = checkout(&t, &customer, "checkout-2", checkout_body(&cart, "tok_visa")).await;
    twice.problem(409);
    // Ten more retries at once with the first key: still the one order.
    let retries = futures::future::join_all(
        (0..10).map(|_| checkout(&t, &customer, "checkout-1", checkout_body(&cart, "tok_visa"))),
    )
    .await;
    assert!(retries.iter().all(|r| r.status == 201 && r.body["id"] == order["id"]));
    // The cart became the order.
    t.settle().await;
    t.post(&format!("/api/v1/carts/{cart}/lines"), Some(&customer), json!({"sku": "CHK-S", "quantity": 1}))
        .await
        .problem(409);

    // The tail of the saga ran through events: stock committed, invoice issued, shipment created,
    // confirmation written.
    let stock = t.get("/api/v1/admin/stock/CHK-S", Some(&admin)).await.expect(200);
    assert_eq!((stock["on_hand"].as_i64(), stock["reserved"].as_i64()), (Some(3), Some(0)));
    let invoice = t.get(&format!("/api/v1/me/orders/{id}/invoice"), Some(&customer)).await.expect(200);
    assert_eq!(invoice["status"], "issued");
    assert!(invoice["number"].as_str().unwrap().starts_with("INV-"));
    assert_eq!(invoice["gross"]["amount"], 4488);
    let pdf = t
        .http
        .get(format!("{}/api/v1/me/orders/{id}/invoice.pdf", t.base))
        .bearer_auth(&customer)
        .send()
        .await
        .unwrap();
    assert_eq!(pdf.status(), 200);
    assert_eq!(pdf.headers()["content-type"], "application/pdf");
    assert!(pdf.bytes().await.unwrap().starts_with(b"%PDF-"));
    let shipment = t.get(&format!("/api/v1/me/orders/{id}/shipment"), Some(&customer)).await.expect(200);
    assert_eq!(shipment["status"], "label_created");
    let mail =
        t.get("/api/v1/admin/messages?to=ann@shop.test&template=order_confirmation", Some(&admin)).await.expect(200);
    assert_eq!(mail["total"], 1);

    // Another customer sees nothing of it.
    let (_, bob, _) = t.customer("bob@shop.test").await;
    t.get(&format!("/api/v1/me/orders/{id}"), Some(&bob)).await.problem(404);
    t.get(&format!("/api/v1/me/orders/{id}/invoice.pdf"), Some(&bob)).await.problem(404);

    // Shipped, then delivered, by staff tracking updates.
    let shipment_id = shipment["id"].as_str().unwrap();
    t.post(&format!("/api/v1/admin/shipments/{shipment_id}/tracking"), Some(&admin), json!({"status": "shipped"}))
        .await
        .expect(200);
    t.settle().await;
    assert_eq!(t.get(&format!("/api/v1/me/orders/{id}"), Some(&customer)).await.expect(200)["status"], "shipped");
    t.post(&format!("/api/v1/me/orders/{id}/cancel"), Some(&customer), json!({})).await.problem(409);
    t.post(&format!("/api/v1/admin/shipments/{shipment_id}/tracking"), Some(&admin), json!({"status": "delivered"}))
        .await
        .expect(200);
    t.settle().await;
    assert_eq!(t.get(&format!("/api/v1/me/orders/{id}"), Some(&customer)).await.expect(200)["status"], "delivered");

    // A partial refund with one unit back on the shelf, then more than what is left.
    let refunded = t
        .post(
            &format!("/api/v1/admin/orders/{id}/refund"),
            Some(&admin),
            json!({"amount": 1999, "restock": [{"sku": "CHK-S", "quantity": 1}], "reason": "returned"}),
        )
        .await
        .expect(200);
    assert_eq!(refunded["status"], "partially_refunded");
    let fields = t
        .post(&format!("/api/v1/admin/orders/{id}/refund"), Some(&admin), json!({"amount": 10_000}))
        .await
        .problem(422);
    assert_eq!(fields, vec!["amount"]);
    t.settle().await;
    let notes = t.get(&format!("/api/v1/admin/orders/{id}/credit-notes"), Some(&admin)).await.expect(200);
    assert_eq!(notes[0]["gross"]["amount"], 1999);
    let stock = t.get("/api/v1/admin/stock/CHK-S", Some(&admin)).await.expect(200);
    assert_eq!(stock["on_hand"], 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_payment_cancels_the_order_and_releases_the_stock() {
    let t = spawn_app().await;
    let admin = t.admin_token().await;
    fulfilment(&t, &admin).await;
    t.stocked_product(&admin, "DEC", 3).await;
    let (_, customer, _) = t.customer("ann@shop.test").await;
    let cart = cart_with(&t, &customer, "DEC-M", 2).await;

    let declined = checkout(&t, &customer, "declined-1", checkout_body(&cart, "tok_decline_insufficient_funds")).await;
    let detail = declined.body["detail"].as_str().unwrap_or_default().to_string();
    declined.problem(402);
    assert!(detail.contains("insufficient funds"), "{detail}");
    t.settle().await;
    let orders = t.get("/api/v1/me/orders", Some(&customer)).await.expect(200);
    assert_eq!(orders["items"][0]["status"], "cancelled");
    let stock = t.get("/api/v1/admin/stock/DEC-M", Some(&admin)).await.expect(200);
    assert_eq!((stock["reserved"].as_i64(), stock["available"].as_i64()), (Some(0), Some(3)));
    // The cart is still there: the customer can pay with another card.
    let paid = checkout(&t, &customer, "declined-2", checkout_body(&cart, "tok_visa")).await.expect(201);
    assert_eq!(paid["status"], "confirmed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_stock_cancels_the_order_without_a_charge() {
    let t = spawn_app().await;
    let admin = t.admin_token().await;
    fulfilment(&t, &admin).await;
    t.stocked_product(&admin, "LOW", 2).await;
    let (_, customer, _) = t.customer("ann@shop.test").await;
    let cart = cart_with(&t, &customer, "LOW-S", 2).await;
    // Between cart and checkout, a unit is found damaged.
    t.post(
        "/api/v1/admin/stock/adjust",
        Some(&admin),
        json!({"sku": "LOW-S", "location": "main-wh", "delta": -1, "reason": "damaged"}),
    )
    .await
    .expect(200);

    checkout(&t, &customer, "low-1", checkout_body(&cart, "tok_visa")).await.problem(409);
    t.settle().await;
    let orders = t.get("/api/v1/me/orders", Some(&customer)).await.expect(200);
    assert_eq!(orders["items"][0]["status"], "cancelled");
    assert_eq!(t.get("/api/v1/admin/payments", Some(&admin)).await.expect(200)["total"], 0, "no charge");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_checkouts_are_refused_and_change_nothing() {
    let t = spawn_app().await;
    let admin = t.admin_token().await;
    fulfilment(&t, &admin).await;
    t.stocked_product(&admin, "BAD", 5).await;
    let (_, ann, _) = t.customer("ann@shop.test").await;
    let (_, bob, _) = t.customer("bob@shop.test").await;
    let cart = cart_with(&t, &ann, "BAD-S", 1).await;

    // No Idempotency-Key.
    t.post("/api/v1/checkout", Some(&ann), checkout_body(&cart, "tok_visa")).await.problem(400);
    // Somebody else's cart.
    checkout(&t, &bob, "bad-1", checkout_body(&cart, "tok_visa")).await.problem(404);
    // An empty cart.
    let empty = t.call(Method::POST, "/api/v1/carts", Some(&bob), None).await.expect(201);
    let fields =
        checkout(&t, &bob, "bad-2", checkout_body(empty["id"].as_str().unwrap(), "tok_visa")).await.problem(422);
    assert_eq!(fields, vec!["cart_id"]);
    // Unknown shipping method, address without a city, no token.
    let mut body = checkout_body(&cart, "tok_visa");
    body["shipping_method"] = json!("teleport");
    assert_eq!(checkout(&t, &ann, "bad-3", body).await.problem(422), vec!["shipping_method"]);
    let mut body = checkout_body(&cart, "tok_visa");
    body["shipping_address"]["city"] = json!(" ");
    assert_eq!(checkout(&t, &ann, "bad-4", body).await.problem(422), vec!["shipping_address.city"]);
    // Anonymous and staff callers cannot check out.
    checkout(&t, "not-a-token", "bad-5", checkout_body(&cart, "tok_visa")).await.problem(401);
    checkout(&t, &admin, "bad-6", checkout_body(&cart, "tok_visa")).await.problem(403);

    t.settle().await;
    assert_eq!(t.get("/api/v1/admin/orders", Some(&admin)).await.expect(200)["total"], 0);
    assert_eq!(t.get("/api/v1/admin/payments", Some(&admin)).await.expect(200)["total"], 0);
    let stock = t.get("/api/v1/admin/stock/BAD-S", Some(&admin)).await.expect(200);
    assert_eq!(stock["reserved"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_buyers_for_fifty_units() {
    let t = spawn_app().await;
    let admin = t.admin_token().await;
    fulfilment(&t, &admin).await;
    t.stocked_product(&admin, "HOT", 50).await;
    // Each buyer puts one unit in a cart while stock lasts for everyone, then all pay at once.
    let buyers = futures::future::join_all((0..200).map(|i| {
        let t = &t;
        async move {
            let (_, token, _) = t.customer(&format!("buyer{i}@shop.test")).await;
            let cart = cart_with(t, &token, "HOT-S", 1).await;
            (token, cart)
        }
    }))
    .await;
    let outcomes = futures::future::join_all(buyers.iter().enumerate().map(|(i, (token, cart))| {
        let t = &t;
        async move { checkout(t, token, &format!("hot-{i}"), checkout_body(cart, "tok_visa")).await.status.as_u16() }
    }))
    .await;
    assert_eq!(outcomes.iter().filter(|s| **s == 201).count(), 50, "{outcomes:?}");
    assert_eq!(outcomes.iter().filter(|s| **s == 409).count(), 150, "{outcomes:?}");
    t.settle().await;
    let stock = t.get("/api/v1/admin/stock/HOT-S", Some(&admin)).await.expect(200);
    assert_eq!((stock["on_hand"].as_i64(), stock["reserved"].as_i64()), (Some(0), Some(0)));
    let payments = t.get("/api/v1/admin/payments?per_page=100", Some(&admin)).await.expect(200);
    assert_eq!(payments["total"], 50, "a charge for every paid order and no other");
    let confirmed = t.get("/api/v1/admin/orders?status=confirmed&per_page=100", Some(&admin)).await.expect(200);
    assert_eq!(confirmed["total"], 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cart_is_priced_with_tax_and_shipping_before_checkout() {
    let t = spawn_app().await;
    let admin = t.admin_token().await;
    fulfilment(&t, &admin).await;
    t.stocked_product(&admin, "EST", 5).await;
    let cart = t.call(Method::POST, "/api/v1/carts", None, None).await.expect(201);
    let (id, token) = (cart["id"].as_str().unwrap().to_string(), cart["token"].as_str().unwrap().to_string());
    let with_token = [("x-cart-token", token.as_str())];
    t.call_with(
        Method::POST,
        &format!("/api/v1/carts/{id}/lines"),
        None,
        Some(json!({"sku": "EST-S", "quantity": 3})),
        &with_token,
    )
    .await
    .expect(200);

    let estimate = t
        .call_with(
            Method::POST,
            &format!("/api/v1/carts/{id}/estimate"),
            None,
            Some(json!({"country": "fr"})),
            &with_token,
        )
        .await
        .expect(200);
    // 3 × 19.99 = 59.97: shipping is free from 50.00; 20 % VAT included.
    assert_eq!(estimate["shipping"]["method"], "standard");
    assert_eq!(estimate["shipping"]["gross"]["amount"], 0);
    assert_eq!(estimate["totals"]["gross"]["amount"], 5997);
    // net = 59.97 / 1.2 = 49.975, rounded half away from zero to 49.98; tax is the rest.
    assert_eq!(estimate["totals"]["tax"]["amount"], 999);
    assert_eq!(estimate["shipping_options"].as_array().unwrap().len(), 1);
    // Nowhere to ship, a bad country, a method that does not exist, a missing token.
    let nowhere = json!({"country": "JP"});
    let r = t.call_with(Method::POST, &format!("/api/v1/carts/{id}/estimate"), None, Some(nowhere), &with_token).await;
    assert_eq!(r.problem(422), vec!["country"]);
    let r = t
        .call_with(
            Method::POST,
            &format!("/api/v1/carts/{id}/estimate"),
            None,
            Some(json!({"country": "XX"})),
            &with_token,
        )
        .await;
    assert_eq!(r.problem(422), vec!["country"]);
    let teleport = json!({"country": "FR", "shipping_method": "teleport"});
    let r = t.call_with(Method::POST, &format!("/api/v1/carts/{id}/estimate"), None, Some(teleport), &with_token).await;
    assert_eq!(r.problem(422), vec!["shipping_method"]);
    t.post(&format!("/api/v1/carts/{id}/estimate"), None, json!({"country": "FR"})).await.problem(401);

    // A method staff take off the list is no longer offered.
    let off = json!({"active": false});
    t.call(Method::PUT, "/api/v1/admin/shipping/methods/standard/active", Some(&admin), Some(off)).await.expect(200);
    let r = t
        .call_with(
            Method::POST,
            &format!("/api/v1/carts/{id}/estimate"),
            None,
            Some(json!({"country": "FR"})),
            &with_token,
        )
        .await;
    assert_eq!(r.problem(422), vec!["country"]);
    t.call(Method::PUT, "/api/v1/admin/shipping/methods/teleport/active", Some(&admin), Some(json!({"active": true})))
        .await
        .problem(404);
}
