//! The storefront and the back office in a real browser: headless Chromium (Debian's `chromium`)
//! driven by `playwright-core` from `crates/web/tests/browser`, against a shop running in this
//! test, in whichever topology `COMPTOIR_TEST_TOPOLOGY` names (monolith by default; distributed:
//! the storefront and the back office as their own roles in front of every module's service).
//!
//! `scripts/test.sh` installs Chromium, Node.js and the npm packages; without them this test fails
//! and says what is missing. Screenshots of the key pages are kept in `$SCREENSHOT_DIR` when set
//! (`docs/screenshots` is refreshed with `SCREENSHOT_DIR=$PWD/docs/screenshots`).

#[allow(dead_code)]
#[path = "../api/support.rs"]
mod support;

mod http;

use std::path::{Path, PathBuf};
use std::process::Command;

use comptoir_contracts::identity::{NewStaff, RegisterCustomer, Role};
use comptoir_kernel::RequestContext;

const CHROMIUM: &str = "/usr/bin/chromium";

fn browser_tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/tests/browser")
}

/// What the browser tests need, or a failure naming what is missing and how to get it.
fn check_tools() {
    let dir = browser_tests_dir();
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| CHROMIUM.into());
    let missing: Vec<String> = [
        (Path::new(&chromium).exists(), format!("Chromium at {chromium} (apt-get install chromium)")),
        (
            Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success()),
            "Node.js (apt-get install nodejs)".into(),
        ),
        (dir.join("node_modules/playwright-core").exists(), format!("playwright-core (npm ci in {})", dir.display())),
    ]
    .into_iter()
    .filter(|(present, _)| !present)
    .map(|(_, what)| what)
    .collect();
    assert!(missing.is_empty(), "the browser tests need {}; scripts/test.sh installs them", missing.join(", "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn visitors_buy_and_staff_run_the_shop_in_a_browser() {
    check_tools();
    let shop = support::spawn_app().await;
    comptoir::demo::load(&shop.app, 30).await.expect("the demo shop loads");
    shop.settle().await;
    let ctx = RequestContext::system();
    let identity = &shop.app.identity;
    let support_password = "support-password-123";
    identity
        .create_staff(
            &ctx,
            NewStaff {
                email: "support@shop.test".into(),
                password: support_password.into(),
                name: "Sam Support".into(),
                roles: vec![Role::Support],
            },
        )
        .await
        .expect("the support agent is created");
    let customer_password = "customer-password-123";
    for email in ["declined@shop.test", "buyer@shop.test"] {
        let input = RegisterCustomer {
            email: email.into(),
            password: customer_password.into(),
            first_name: Some("Alex".into()),
            last_name: None,
        };
        identity.register_customer(&ctx, input).await.expect("the customer registers");
    }
    let till_sku = sku_on_the_shelves_of(&shop, "lyon-store").await;
    let web = shop.start_web().await;

    let dir = browser_tests_dir();
    let output = tokio::process::Command::new("node")
        .arg("--test")
        .arg("--test-reporter=spec")
        .arg("scenarios.test.mjs")
        .current_dir(&dir)
        .env("STOREFRONT_URL", &web.storefront)
        .env("BACKOFFICE_URL", &web.backoffice)
        .env("ADMIN_EMAIL", comptoir::demo::ADMIN_EMAIL)
        .env("ADMIN_PASSWORD", comptoir::demo::ADMIN_PASSWORD)
        .env("SUPPORT_EMAIL", "support@shop.test")
        .env("SUPPORT_PASSWORD", support_password)
        .env("CASHIER_EMAIL", comptoir::demo::CASHIER_EMAIL)
        .env("CASHIER_PASSWORD", comptoir::demo::CASHIER_PASSWORD)
        .env("TILL_SKU", &till_sku)
        .env("DECLINED_EMAIL", "declined@shop.test")
        .env("BUYER_EMAIL", "buyer@shop.test")
        .env("CUSTOMER_PASSWORD", customer_password)
        .kill_on_drop(true)
        .output()
        .await
        .expect("node runs");
    let report = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    println!("{report}");
    assert!(output.status.success(), "a browser scenario failed:\n{report}");
}

/// A published SKU of the demo shop with two units or more at `location`, for the till scenario.
async fn sku_on_the_shelves_of(shop: &support::TestApp, location: &str) -> String {
    use comptoir_contracts::catalog::{ProductFilter, Visibility};
    use comptoir_kernel::PageRequest;
    let ctx = RequestContext::system();
    let page = PageRequest::new(1, 100).expect("a page");
    let products =
        shop.app.catalog.list_products(&ctx, ProductFilter::default(), Visibility::PublishedOnly, page).await;
    for product in products.expect("the demo catalog").items {
        for variant in product.variants {
            let stock = shop.app.inventory.stock(&ctx, &variant.sku).await.expect("stock");
            if stock.levels.iter().any(|l| l.location == location && l.available >= 2) {
                return variant.sku;
            }
        }
    }
    panic!("the demo shop stocks {location}")
}
