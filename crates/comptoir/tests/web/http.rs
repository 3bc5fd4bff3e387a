//! The pages' protections and errors, checked over HTTP without a browser: CSRF on every post,
//! security headers, cookie flags, bad input shown beside the field, maintenance, permissions.

use std::collections::BTreeMap;

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;

use crate::support;

/// A client that keeps cookies as a browser would, and follows no redirects (so they can be checked).
struct Visitor {
    http: reqwest::Client,
    base: String,
    cookies: BTreeMap<String, String>,
}

struct Page {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Visitor {
    fn new(base: &str) -> Visitor {
        let http = reqwest::Client::builder().redirect(Policy::none()).build().expect("client");
        Visitor { http, base: base.to_string(), cookies: BTreeMap::new() }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let response = request.header(COOKIE, self.cookie_header()).send().await.expect("the page answers");
        for value in response.headers().get_all(SET_COOKIE) {
            let text = value.to_str().expect("ascii cookie");
            let (pair, _) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').expect("name=value");
            if value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_string(), value.to_string());
            }
        }
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        Page { status, headers, body: response.text().await.expect("a body") }
    }

    async fn get(&mut self, path: &str) -> Page {
        let request = self.http.get(format!("{}{path}", self.base));
        self.send(request).await
    }

    /// Posts a form with the CSRF token the pages carry.
    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let token = self.cookies.get("comptoir_csrf").cloned().unwrap_or_default();
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        form.push(("csrf_token", &token));
        let request = self.http.post(format!("{}{path}", self.base)).form(&form);
        self.send(request).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_is_protected_and_bad_input_comes_back_to_the_form() {
    let shop = support::spawn_app().await;
    let admin = shop.admin_token().await;
    shop.stocked_product(&admin, "WEB", 3).await;
    shop.settle().await;
    let web = shop.start_web().await;

    let mut visitor = Visitor::new(&web.storefront);
    let home = visitor.get("/").await;
    assert_eq!(home.status, 200);
    let csp = home.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"), "{csp}");
    assert_eq!(home.headers["x-frame-options"], "DENY");
    assert_eq!(home.headers["x-content-type-options"], "nosniff");
    let csrf_cookie = home.headers[SET_COOKIE].to_str().unwrap();
    for flag in ["HttpOnly", "Secure", "SameSite=Strict"] {
        assert!(csrf_cookie.contains(flag), "the CSRF cookie is {flag}: {csrf_cookie}");
    }
    assert!(home.body.contains("Product WEB"), "the published product is on the home page");

    // A post without the page's token is refused, and changes nothing.
    let token = visitor.cookies.remove("comptoir_csrf").unwrap();
    let forged = visitor.post("/cart/add", &[("sku", "WEB-S"), ("quantity", "1")]).await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert!(forged.body.contains("security token"));
    visitor.cookies.insert("comptoir_csrf".into(), token.clone());
    let cross_site = visitor
        .send(visitor.http.post(format!("{}/cart/add", web.storefront)).header("sec-fetch-site", "cross-site").form(&[
            ("sku", "WEB-S"),
            ("quantity", "1"),
            ("csrf_token", &token),
        ]))
        .await;
    assert_eq!(cross_site.status, 403);
    assert!(!visitor.cookies.contains_key("comptoir_cart"), "no cart was made by a refused post");

    // With the token: an anonymous cart, in an HTTP-only cookie.
    let added = visitor.post("/cart/add", &[("sku", "WEB-S"), ("quantity", "2"), ("back", "/p/product-web")]).await;
    assert_eq!((added.status, added.headers[LOCATION].to_str().unwrap()), (303, "/cart"));
    let cart_cookie =
        added.headers.get_all(SET_COOKIE).iter().find(|c| c.to_str().unwrap().starts_with("comptoir_cart="));
    assert!(cart_cookie.expect("a cart cookie").to_str().unwrap().contains("HttpOnly"));
    let cart = visitor.get("/cart").await;
    assert!(cart.body.contains("WEB-S") && cart.body.contains("Added to your cart."), "{}", cart.body);

    // Too many units: the reason comes back to the product page, not an error page.
    let too_many = visitor.post("/cart/add", &[("sku", "WEB-M"), ("quantity", "50"), ("back", "/p/product-web")]).await;
    assert_eq!(too_many.headers[LOCATION], "/p/product-web");
    let product = visitor.get("/p/product-web").await;
    assert!(product.body.contains("flash-error"), "the refusal is shown: {}", product.body);
    let not_a_number = visitor.post("/cart/add", &[("sku", "WEB-M"), ("quantity", "lots")]).await;
    assert_eq!(not_a_number.status, 303);

    // Registration errors are shown beside their fields, with what was typed kept.
    let register = visitor
        .post(
            "/register",
            &[
                ("email", "not-an-email"),
                ("password", "short"),
                ("password_confirmation", "short"),
                ("first_name", "Zoé"),
            ],
        )
        .await;
    assert_eq!(register.status, 422);
    assert!(register.body.contains("id=\"email-error\""), "{}", register.body);
    assert!(register.body.contains("aria-invalid=\"true\""));
    assert!(register.body.contains("value=\"Zoé\""), "what was typed is kept");

    // Checkout needs an account; after registering, the anonymous cart is the customer's.
    let checkout = visitor.get("/checkout").await;
    assert_eq!((checkout.status, checkout.headers[LOCATION].to_str().unwrap()), (303, "/login?next=%2Fcheckout"));
    let registered = visitor
        .post(
            "/register",
            &[
                ("email", "web-visitor@shop.test"),
                ("password", "a long enough password"),
                ("password_confirmation", "a long enough password"),
                ("next", "/checkout"),
            ],
        )
        .await;
    assert_eq!((registered.status, registered.headers[LOCATION].to_str().unwrap()), (303, "/checkout"));
    for cookie in registered.headers.get_all(SET_COOKIE).iter().map(|c| c.to_str().unwrap()) {
        if cookie.starts_with("comptoir_session=") || cookie.starts_with("comptoir_refresh=") {
            assert!(
                cookie.contains("HttpOnly") && cookie.contains("Secure") && cookie.contains("SameSite=Lax"),
                "{cookie}"
            );
        }
    }
    let checkout = visitor.get("/checkout").await;
    assert_eq!(checkout.status, 200);
    assert!(checkout.body.contains("Product WEB"), "the merged cart is checked out");

    // An expired access token is renewed with the refresh token on the way.
    visitor.cookies.remove("comptoir_session");
    let account = visitor.get("/account").await;
    assert_eq!(account.status, 200, "{}", account.body);
    assert!(account.body.contains("web-visitor@shop.test"));
    assert!(visitor.cookies.contains_key("comptoir_session"), "a new access token was set");

    // Unknown pages and ids are a 404 page, never a raw error.
    assert_eq!(visitor.get("/p/no-such-product").await.status, 404);
    assert_eq!(visitor.get("/account/orders/not-an-id").await.status, 404);
    assert_eq!(visitor.get("/nowhere").await.status, 404);

    // The back office: staff only, a customer's session means nothing there.
    let mut staff = Visitor::new(&web.backoffice);
    let dashboard = staff.get("/").await;
    assert_eq!((dashboard.status, dashboard.headers[LOCATION].to_str().unwrap()), (303, "/login"));
    staff.get("/login").await;
    let wrong = staff.post("/login", &[("email", "root@shop.test"), ("password", "wrong password")]).await;
    assert_eq!(wrong.status, 422);
    assert!(wrong.body.contains("form-error"));
    let login = staff.post("/login", &[("email", "root@shop.test"), ("password", "staff-password-123")]).await;
    assert_eq!(login.status, 303);
    let products = staff.get("/products").await;
    assert!(products.body.contains("Product WEB"));
    let bad_product = staff.post("/products", &[("name", ""), ("sku", ""), ("price", "12.345")]).await;
    assert_eq!(bad_product.status, 422);
    for field in ["seller-error", "price-error"] {
        assert!(bad_product.body.contains(field), "{field} is shown: {}", bad_product.body);
    }

    // Maintenance closes the storefront with the shop's message; the back office stays open.
    let settings = staff.get("/settings").await;
    let version =
        settings.body.split("name=\"version\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let saved = staff
        .post(
            "/settings",
            &[
                ("version", &version),
                ("shop_name", "Web Test Shop"),
                ("default_channel", "online"),
                ("maintenance_mode", "true"),
                ("maintenance_message", "Back at noon"),
                ("maintenance_retry_after_secs", "120"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303);
    // The storefront acts on it at once in the monolith; as its own process (distributed), once
    // its settings cache expires (http.settings_cache_ms).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let closed = loop {
        let page = visitor.get("/").await;
        if page.status != 200 || std::time::Instant::now() > deadline {
            break page;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(closed.status, 503);
    assert!(closed.body.contains("Back at noon") && closed.body.contains("Web Test Shop"));
    assert_eq!(closed.headers["retry-after"], "120");
    assert_eq!(staff.get("/orders").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_search_page_filters_by_facets_and_suggests_as_one_types() {
    let shop = support::spawn_app().await;
    let admin = shop.admin_token().await;
    shop.stocked_product(&admin, "SRCH", 3).await;
    shop.stocked_product(&admin, "OTHER", 1).await;
    for sku in ["OTHER-S", "OTHER-M"] {
        let sold = serde_json::json!({"sku": sku, "location": "main-wh", "delta": -1, "reason": "sold at the fair"});
        shop.post("/api/v1/admin/stock/adjust", Some(&admin), sold).await.expect(200);
    }
    shop.settle().await;
    let web = shop.start_web().await;
    let mut visitor = Visitor::new(&web.storefront);

    let page = visitor.get("/search?q=prodcut").await; // a typo still finds them
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("2 products for “prodcut”"), "{}", page.body);
    assert!(page.body.contains("Product SRCH") && page.body.contains("Product OTHER"));
    for facet in ["<h2>Availability</h2>", "<h2>Price</h2>", "<h2>Size</h2>", "<h2>Seller</h2>"] {
        assert!(page.body.contains(facet), "{facet} facet shown: {}", page.body);
    }
    // The availability facet is a link that adds the filter; followed, it narrows the hits.
    let in_stock = "/search?q=prodcut&#38;in_stock=true";
    assert!(page.body.contains(in_stock), "{}", page.body);
    let filtered = visitor.get(&in_stock.replace("&#38;", "&")).await;
    assert!(filtered.body.contains("1 product for") && filtered.body.contains("Product SRCH"), "{}", filtered.body);
    assert!(!filtered.body.contains("Product OTHER"));
    assert!(filtered.body.contains("Clear filters"));
    // Bad input is named, not a 500.
    let bad = visitor.get("/search?price_min=cheap").await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(bad.body.contains("price_min"), "{}", bad.body);

    let suggestions = visitor.get("/search/suggest?q=prod").await;
    assert!(
        suggestions.body.contains("Product SRCH") && suggestions.body.contains("/p/product-srch"),
        "{}",
        suggestions.body
    );
    let product = visitor.get("/p/product-srch").await;
    assert!(product.body.contains("You may also like") && product.body.contains("Product OTHER"), "{}", product.body);
    // The cart suggests products like those in it, not those already in it.
    let added = visitor.post("/cart/add", &[("sku", "SRCH-S"), ("quantity", "1"), ("back", "/cart")]).await;
    assert_eq!(added.status, 303, "{}", added.body);
    let cart = visitor.get("/cart").await;
    let suggested =
        cart.body.split("You may also like").nth(1).unwrap_or_else(|| panic!("no suggestions: {}", cart.body));
    assert!(suggested.contains("Product OTHER") && !suggested.contains("Product SRCH"), "{suggested}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_subscribe_an_app_to_webhooks_and_read_its_deliveries() {
    let shop = support::spawn_app().await;
    let admin = shop.admin_token().await;
    let web = shop.start_web().await;
    let mut staff = Visitor::new(&web.backoffice);
    staff.get("/login").await;
    staff.post("/login", &[("email", "root@shop.test"), ("password", "staff-password-123")]).await;

    let page = staff.get("/webhooks").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("No app is subscribed yet."));
    let bad = staff.post("/webhooks", &[("url", "not a url"), ("patterns", "order.#")]).await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(bad.body.contains("url-error"), "the field is marked: {}", bad.body);

    // An endpoint that answers 200 to anything: the delivery log shows what it got.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}/hooks", listener.local_addr().unwrap());
    let app = axum::Router::new().route("/hooks", axum::routing::post(|| async { "ok" }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let created =
        staff.post("/webhooks", &[("url", &endpoint), ("patterns", "product.item.*"), ("description", "PIM")]).await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert!(created.body.contains("whsec_") && created.headers["cache-control"] == "no-store", "the secret, once");
    let id = created.body.split("href=\"/webhooks/").nth(1).unwrap().split('"').next().unwrap().to_string();

    shop.stocked_product(&admin, "BOHOOK", 1).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let log = loop {
        let log = staff.get(&format!("/webhooks/{id}?status=delivered")).await;
        if log.body.contains("product.item.published") || std::time::Instant::now() > deadline {
            break log;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(log.body.contains("product.item.created") && log.body.contains("product.item.published"), "{}", log.body);
    let delivery = log.body.split("href=\"/webhook-deliveries/").nth(1).unwrap().split('"').next().unwrap().to_string();
    let detail = staff.get(&format!("/webhook-deliveries/{delivery}")).await;
    assert!(detail.body.contains("Delivered") && detail.body.contains("200"), "{}", detail.body);
    let again = staff.post(&format!("/webhook-deliveries/{delivery}/redeliver"), &[]).await;
    assert_eq!(again.status, 303);
    let detail = staff.get(&format!("/webhook-deliveries/{delivery}")).await;
    assert!(detail.body.contains("(by staff)"), "{}", detail.body);

    let disabled = staff.post(&format!("/webhooks/{id}/disable"), &[]).await;
    assert_eq!(disabled.status, 303);
    assert!(staff.get(&format!("/webhooks/{id}")).await.body.contains("Disabled"));
}

/// The distinct values of the hidden `name` fields of a page (each form of the till carries the
/// basket), unescaped, in order.
fn hidden_values(body: &str, name: &str) -> Vec<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let mut values: Vec<String> = body
        .split(&marker)
        .skip(1)
        .map(|rest| {
            let raw = rest.split('"').next().unwrap_or_default();
            raw.replace("&quot;", "\"")
                .replace("&#34;", "\"")
                .replace("&#39;", "'")
                .replace("&#x27;", "'")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&")
        })
        .collect();
    let mut seen = std::collections::HashSet::new();
    values.retain(|v| seen.insert(v.clone()));
    values
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cashier_sells_at_the_till_and_admins_see_it_in_the_reports_and_the_audit_log() {
    use serde_json::json;
    let shop = support::spawn_app().await;
    let admin = shop.admin_token().await;
    shop.stocked_product(&admin, "TILL", 10).await;
    shop.post("/api/v1/admin/locations", Some(&admin), json!({"code": "nice-store", "name": "Nice", "kind": "store"}))
        .await
        .expect(201);
    shop.post(
        "/api/v1/admin/stock/receive",
        Some(&admin),
        json!({"sku": "TILL-S", "location": "nice-store", "quantity": 4}),
    )
    .await
    .expect(200);
    let prices = json!({"prices": [{"channel": "store", "amount": 1500, "currency": "EUR"}]});
    shop.call(reqwest::Method::PUT, "/api/v1/admin/variants/TILL-S/prices", Some(&admin), Some(prices))
        .await
        .expect(200);
    shop.staff_token("till@shop.test", &["cashier"]).await;
    let web = shop.start_web().await;

    // Without a store set up, the cashier is told whom to ask; the admin sets one up.
    let mut cashier = Visitor::new(&web.backoffice);
    cashier.get("/login").await;
    let wrong = cashier.post("/login", &[("email", "till@shop.test"), ("password", "not-the-password")]).await;
    assert_eq!(wrong.status, 422, "a failed sign-in comes back to the form");
    cashier.post("/login", &[("email", "till@shop.test"), ("password", "staff-password-123")]).await;
    let empty = cashier.get("/till").await;
    assert_eq!(empty.status, 200, "{}", empty.body);
    assert!(empty.body.contains("pos:manage"), "{}", empty.body);
    assert_eq!(cashier.get("/till/stores").await.status, 403, "setting stores up is for pos:manage");
    assert_eq!(cashier.get("/reports/sales").await.status, 403);

    let mut manager = Visitor::new(&web.backoffice);
    manager.get("/login").await;
    manager.post("/login", &[("email", "root@shop.test"), ("password", "staff-password-123")]).await;
    let store = [
        ("location", "nice-store"),
        ("name", "Comptoir Nice"),
        ("line1", "1 promenade des Anglais"),
        ("postal_code", "06000"),
        ("city", "Nice"),
        ("country", "FR"),
        ("channel", "store"),
        ("currency", "EUR"),
    ];
    let set_up = manager.post("/till/stores", &store).await;
    assert_eq!(set_up.status, 303, "{}", set_up.body);

    // Scan two units, a typo, then pay cash.
    let till = cashier.get("/till?store=nice-store").await;
    assert_eq!(till.status, 200, "{}", till.body);
    let scanned = cashier.post("/till/scan", &[("store", "nice-store"), ("sku", "TILL-S"), ("quantity", "2")]).await;
    assert_eq!(scanned.status, 200, "{}", scanned.body);
    assert!(scanned.body.contains("Product TILL") && scanned.body.contains("15.00"), "{}", scanned.body);
    let lines = hidden_values(&scanned.body, "line");
    assert_eq!(lines.len(), 1, "{}", scanned.body);
    let mut typo: Vec<(&str, &str)> = vec![("store", "nice-store"), ("sku", "TIL-S"), ("quantity", "1")];
    typo.extend(lines.iter().map(|l| ("line", l.as_str())));
    let typo = cashier.post("/till/scan", &typo).await;
    assert_eq!(typo.status, 422, "{}", typo.body);
    assert!(typo.body.contains("sku-error") && typo.body.contains("Product TILL"), "the basket is kept: {}", typo.body);

    let key = hidden_values(&scanned.body, "idempotency_key").pop().expect("the pay form's key");
    let mut pay: Vec<(&str, &str)> =
        vec![("store", "nice-store"), ("idempotency_key", &key), ("method", "cash"), ("tendered", "40.00")];
    pay.extend(lines.iter().map(|l| ("line", l.as_str())));
    let paid = cashier.post("/till/pay", &pay).await;
    assert_eq!(paid.status, 303, "{}", paid.body);
    let sale_page = paid.headers[LOCATION].to_str().unwrap().to_string();
    let again = cashier.post("/till/pay", &pay).await;
    assert_eq!(again.headers[LOCATION].to_str().unwrap(), sale_page, "a double submit is the same sale");
    let receipt = cashier.get(&sale_page).await;
    assert!(
        receipt.body.contains("Comptoir Nice") && receipt.body.contains("30.00") && receipt.body.contains("10.00"),
        "{}",
        receipt.body
    );
    let stock = shop.get("/api/v1/admin/stock/TILL-S", Some(&admin)).await.expect(200);
    let nice = stock["levels"].as_array().unwrap().iter().find(|l| l["location"] == "nice-store").unwrap();
    assert_eq!(nice["on_hand"], 2, "{stock}");
    shop.settle().await;

    // The admin sees the store's sale beside the (absent) online ones, and the CSV.
    let today = chrono::Utc::now().date_naive().to_string();
    let report = manager.get(&format!("/reports/sales?from={today}&to={today}&group_by=channel")).await;
    assert_eq!(report.status, 200, "{}", report.body);
    assert!(report.body.contains("store") && report.body.contains("30.00"), "{}", report.body);
    let csv = manager.get(&format!("/reports/sales.csv?from={today}&to={today}&group_by=channel")).await;
    assert!(csv.body.contains("store,store,EUR,1,2,"), "{}", csv.body);
    let bad = manager.get(&format!("/reports/sales?from={today}&to=2000-01-01")).await;
    assert_eq!(bad.status, 422, "{}", bad.body);

    // The audit log shows the cashier's sale, the failed sign-in and the denials.
    let log = manager.get("/audit?q=till%40shop.test").await;
    assert_eq!(log.status, 200, "{}", log.body);
    for expected in ["POST /till/pay", "auth.login.failed", "auth.permission.denied"] {
        assert!(log.body.contains(expected), "{expected} in the audit log: {}", log.body);
    }
    assert_eq!(cashier.get("/audit").await.status, 403);
}
