//! Recommendations through the API, in every topology: orders placed through the checkout make
//! products "frequently bought together", for one product and for a cart.

use serde_json::json;

use crate::shop::{cart_with, checkout, checkout_body, fulfilment};
use crate::support::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn products_bought_in_the_same_orders_are_recommended_together() {
    let t = spawn_app().await;
    let admin = t.admin_token().await;
    fulfilment(&t, &admin).await;
    let tea = t.stocked_product(&admin, "TEA", 20).await;
    let mug = t.stocked_product(&admin, "MUG", 20).await;
    let jam = t.stocked_product(&admin, "JAM", 20).await;
    // Tea with a mug twice, tea with jam once.
    for (i, second) in ["MUG-S", "MUG-M", "JAM-S"].into_iter().enumerate() {
        let (_, buyer, _) = t.customer(&format!("buyer{i}@shop.test")).await;
        let cart = cart_with(&t, &buyer, "TEA-S", 1).await;
        t.post(&format!("/api/v1/carts/{cart}/lines"), Some(&buyer), json!({"sku": second, "quantity": 1}))
            .await
            .expect(200);
        checkout(&t, &buyer, &format!("together-{i}"), checkout_body(&cart, "tok_visa")).await.expect(201);
    }
    t.settle().await;

    let together = t.get("/api/v1/products/product-tea/bought-together", None).await.expect(200);
    let names: Vec<&str> = together.as_array().unwrap().iter().map(|r| r["product_name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Product MUG", "Product JAM"], "{together}");
    assert_eq!(together[0]["orders_together"], 2);
    assert_eq!(together[0]["product_id"], mug["id"]);

    let tea_id = tea["id"].as_str().unwrap();
    let jam_id = jam["id"].as_str().unwrap();
    let for_cart =
        t.get(&format!("/api/v1/recommendations?product_id={tea_id}&product_id={jam_id}"), None).await.expect(200);
    let names: Vec<&str> = for_cart.as_array().unwrap().iter().map(|r| r["product_name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Product MUG"], "what is in the cart is not recommended: {for_cart}");

    assert_eq!(t.get("/api/v1/products/product-tea/bought-together?limit=0", None).await.problem(422), ["limit"]);
    assert_eq!(t.get("/api/v1/recommendations", None).await.problem(422), ["product_id"]);
    assert_eq!(t.get("/api/v1/recommendations?product_id=tea", None).await.problem(422), ["product_id"]);
    t.get("/api/v1/products/no-such-product/bought-together", None).await.problem(404);

    let (_, customer, _) = t.customer("curious@shop.test").await;
    t.post("/api/v1/admin/recommendations/rebuild", Some(&customer), json!({})).await.problem(403);
    let report = t.post("/api/v1/admin/recommendations/rebuild", Some(&admin), json!({})).await.expect(200);
    assert_eq!((report["orders"].as_u64(), report["pairs"].as_u64()), (Some(3), Some(2)), "{report}");
    let again = t.get("/api/v1/products/product-tea/bought-together", None).await.expect(200);
    assert_eq!(again, together, "a rebuild from the orders finds what the events counted");
}
