use serde_json::json;

use crate::support::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_moves_and_never_goes_negative() {
    let t = spawn_app().await;
    let admin = t.admin_token().await;
    t.stocked_product(&admin, "INV", 5).await;

    let stock = t.get("/api/v1/admin/stock/INV-S", Some(&admin)).await.expect(200);
    assert_eq!((stock["on_hand"].as_i64(), stock["available"].as_i64()), (Some(5), Some(5)));
    let fields = t
        .post(
            "/api/v1/admin/stock/adjust",
            Some(&admin),
            json!({"sku": "INV-S", "location": "main-wh", "delta": -6, "reason": "count"}),
        )
        .await
        .problem(409);
    assert_eq!(fields, vec!["delta"]);
    t.post(
        "/api/v1/admin/stock/adjust",
        Some(&admin),
        json!({"sku": "INV-S", "location": "main-wh", "delta": -2, "reason": "damaged"}),
    )
    .await
    .expect(200);
    let movements = t.get("/api/v1/admin/stock-movements?sku=INV-S", Some(&admin)).await.expect(200);
    assert_eq!(movements["total"], 2);
    assert_eq!(movements["items"][0]["kind"], "adjusted");

    assert_eq!(
        t.post(
            "/api/v1/admin/stock/receive",
            Some(&admin),
            json!({"sku": "INV-S", "location": "main-wh", "quantity": 0})
        )
        .await
        .problem(422),
        vec!["quantity"]
    );
    t.post("/api/v1/admin/stock/receive", Some(&admin), json!({"sku": "NOPE", "location": "main-wh", "quantity": 1}))
        .await
        .problem(404);
    t.get("/api/v1/admin/stock/NOPE", Some(&admin)).await.problem(404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_reservations_never_oversell() {
    let t = spawn_app().await;
    let admin = t.admin_token().await;
    t.stocked_product(&admin, "HOT", 7).await;

    let attempts = (0..60).map(|i| {
        let t = &t;
        let admin = admin.clone();
        async move {
            t.post(
                "/api/v1/admin/reservations",
                Some(&admin),
                json!({"reference": format!("order-{i}"), "lines": [{"sku": "HOT-S", "quantity": 1}]}),
            )
            .await
            .status
            .as_u16()
        }
    });
    let statuses = futures::future::join_all(attempts).await;
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 7, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 53, "{statuses:?}");
    let stock = t.get("/api/v1/admin/stock/HOT-S", Some(&admin)).await.expect(200);
    assert_eq!((stock["reserved"].as_i64(), stock["available"].as_i64()), (Some(7), Some(0)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reservations_commit_and_release() {
    let t = spawn_app().await;
    let admin = t.admin_token().await;
    t.stocked_product(&admin, "RES", 4).await;
    let r = t
        .post(
            "/api/v1/admin/reservations",
            Some(&admin),
            json!({"reference": "order-1", "lines": [{"sku": "RES-S", "quantity": 3}]}),
        )
        .await
        .expect(201);
    // Same reference: the same reservation, not a second one.
    let again = t
        .post(
            "/api/v1/admin/reservations",
            Some(&admin),
            json!({"reference": "order-1", "lines": [{"sku": "RES-S", "quantity": 3}]}),
        )
        .await
        .expect(201);
    assert_eq!(r["id"], again["id"]);
    let id = r["id"].as_str().unwrap();
    t.post(&format!("/api/v1/admin/reservations/{id}/commit"), Some(&admin), json!({})).await.expect(200);
    t.post(&format!("/api/v1/admin/reservations/{id}/release"), Some(&admin), json!({})).await.problem(409);
    let stock = t.get("/api/v1/admin/stock/RES-S", Some(&admin)).await.expect(200);
    assert_eq!((stock["on_hand"].as_i64(), stock["reserved"].as_i64()), (Some(1), Some(0)));
}
