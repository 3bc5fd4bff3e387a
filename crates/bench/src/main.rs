//! `comptoir-bench`: drives a running Comptoir over HTTP and prints throughput and latency
//! percentiles per scenario. Run by `scripts/bench.sh`; see docs/BENCHMARKS.md.

mod pages;
mod search;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use clap::{Parser, ValueEnum};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

#[derive(Parser)]
#[command(about = "Load generator for the Comptoir API")]
struct Args {
    /// The REST API (the catalog is sampled from it for every scenario).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    base: String,
    /// The storefront, for the `storefront` scenario.
    #[arg(long, default_value = "http://127.0.0.1:9000")]
    storefront: String,
    /// The back office, for the `backoffice` scenario.
    #[arg(long, default_value = "http://127.0.0.1:9010")]
    backoffice: String,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Seconds each timed scenario runs.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    #[arg(long, default_value = "admin@comptoir.test")]
    admin_email: String,
    #[arg(long, default_value = "demo-admin-password")]
    admin_password: String,
    /// The customer whose profile `me` reads.
    #[arg(long, default_value = "customer@comptoir.test")]
    customer_email: String,
    #[arg(long, default_value = "demo-customer-password")]
    customer_password: String,
    /// Units of the SKU the reservation scenario competes for.
    #[arg(long, default_value_t = 100)]
    units: i64,
    /// Concurrent reservation attempts of one unit each.
    #[arg(long, default_value_t = 1000)]
    attempts: usize,
    /// Product renames the search-lag scenario times.
    #[arg(long, default_value_t = 200)]
    changes: usize,
    #[arg(value_enum, default_values_t = [Scenario::ProductDetail, Scenario::ProductList, Scenario::AddToCart, Scenario::Reservations, Scenario::Checkout, Scenario::CheckoutHot])]
    scenarios: Vec<Scenario>,
}

#[derive(Clone, Copy, ValueEnum, Debug)]
enum Scenario {
    ProductDetail,
    ProductList,
    AddToCart,
    Reservations,
    /// Each buyer checks out one unit of a SKU of their own.
    Checkout,
    /// Every buyer checks out the same SKU.
    CheckoutHot,
    /// `GET /api/v1/me` as the demo customer: an authenticated read (the token checked, the
    /// profile read from identity).
    Me,
    /// `GET /api/v1/admin/stock/{sku}` as the demo admin, cycling over SKUs: an authenticated read
    /// from inventory's database.
    AdminStock,
    /// The storefront's pages one after another (home, category, search, search in a category,
    /// product, cart, login), each for `duration`, by anonymous visitors with one item in their cart.
    Storefront,
    /// `GET /api/v1/search` with words from product names (one, two, misspelt, with filters),
    /// then `GET /api/v1/search/suggestions` with the first letters of a word.
    Search,
    /// Renames products and times until each new name is searchable.
    SearchLag,
    /// The back office's pages one after another (dashboard, orders, products, product search,
    /// a SKU's stock, customers, sales report), each for `duration`, signed in as the demo admin.
    Backoffice,
}

struct Outcome {
    latencies: Vec<Duration>,
    ok: usize,
    rejected: usize,
    elapsed: Duration,
}

impl Outcome {
    fn report(&self, name: &str, rejected_label: &str) {
        let mut l = self.latencies.clone();
        l.sort_unstable();
        let pct =
            |p: f64| l.get(((l.len() as f64 * p) as usize).min(l.len().saturating_sub(1))).copied().unwrap_or_default();
        let total = self.ok + self.rejected;
        println!(
            "{name:<16} {total:>8} requests in {:>5.1} s  {:>9.0} req/s  p50 {:>7.2} ms  p95 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms  ok {}  {rejected_label} {}",
            self.elapsed.as_secs_f64(),
            total as f64 / self.elapsed.as_secs_f64(),
            ms(pct(0.50)),
            ms(pct(0.95)),
            ms(pct(0.99)),
            ms(l.last().copied().unwrap_or_default()),
            self.ok,
            self.rejected,
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let client = Client::builder().pool_max_idle_per_host(args.concurrency * 2).build()?;
    let catalog = Catalog::load(&client, &args.base).await?;
    println!(
        "target {}  concurrency {}  duration {} s  catalog {} products ({} sampled)",
        args.base,
        args.concurrency,
        args.duration,
        catalog.total,
        catalog.slugs.len()
    );
    // Categories and search words for the pages, read before any page is asked for.
    let sample = match args.scenarios.iter().any(|s| matches!(s, Scenario::Storefront | Scenario::Backoffice)) {
        true => Some(pages::Sample::load(&client, &args.base, &catalog).await?),
        false => None,
    };
    for scenario in &args.scenarios {
        match scenario {
            Scenario::ProductDetail => {
                let slugs = Arc::new(catalog.slugs.clone());
                let (base, client) = (args.base.clone(), client.clone());
                let out = timed(&args, move |i| {
                    let url = format!("{base}/api/v1/products/{}", slugs[i % slugs.len()]);
                    let client = client.clone();
                    async move { fetch(client.get(url)).await }
                })
                .await;
                out.report("product-detail", "errors");
            }
            Scenario::ProductList => {
                let pages = (catalog.total / 20).clamp(1, 500);
                let (base, client) = (args.base.clone(), client.clone());
                let out = timed(&args, move |i| {
                    let url = format!("{base}/api/v1/products?page={}&per_page=20", i % pages + 1);
                    let client = client.clone();
                    async move { fetch(client.get(url)).await }
                })
                .await;
                out.report("product-list", "errors");
            }
            Scenario::AddToCart => add_to_cart(&args, &client, &catalog).await?,
            Scenario::Reservations => reservations(&args, &client).await?,
            Scenario::Checkout => checkouts(&args, &client, &catalog, false).await?,
            Scenario::CheckoutHot => checkouts(&args, &client, &catalog, true).await?,
            Scenario::Me => {
                let token = customer_token(&args, &client).await?;
                let (base, client) = (args.base.clone(), client.clone());
                let out = timed(&args, move |_| {
                    let request = client.get(format!("{base}/api/v1/me")).bearer_auth(&token);
                    async move { fetch(request).await }
                })
                .await;
                out.report("me", "errors");
            }
            Scenario::AdminStock => {
                let token = staff_token(&args, &client).await?;
                let skus = Arc::new(catalog.skus.clone());
                let (base, client) = (args.base.clone(), client.clone());
                let out = timed(&args, move |i| {
                    let url = format!("{base}/api/v1/admin/stock/{}", skus[i % skus.len()]);
                    let request = client.get(url).bearer_auth(&token);
                    async move { fetch(request).await }
                })
                .await;
                out.report("admin-stock", "errors");
            }
            Scenario::Search => search::search(&args, &client, &catalog).await?,
            Scenario::SearchLag => search::lag(&args, &client, &catalog, args.changes).await?,
            Scenario::Storefront => pages::storefront(&args, &catalog, sample.as_ref().expect("sampled")).await?,
            Scenario::Backoffice => pages::backoffice(&args, &catalog, sample.as_ref().expect("sampled")).await?,
        }
    }
    Ok(())
}

/// Published products sampled from the public list: their slugs and SKUs, their names with their
/// first category's id.
struct Catalog {
    total: usize,
    slugs: Vec<String>,
    skus: Vec<String>,
    names: Vec<(String, Option<String>)>,
}

impl Catalog {
    async fn load(client: &Client, base: &str) -> anyhow::Result<Catalog> {
        let first: Value =
            client.get(format!("{base}/api/v1/products?per_page=100")).send().await?.error_for_status()?.json().await?;
        let total = first["total"].as_u64().unwrap_or(0) as usize;
        ensure!(total > 0, "the catalog is empty: load the demo first (comptoir demo --products 10000)");
        let mut slugs = Vec::new();
        let mut skus = Vec::new();
        let mut names = Vec::new();
        let pages = total.div_ceil(100).min(20);
        for page in 1..=pages {
            let body: Value =
                client.get(format!("{base}/api/v1/products?per_page=100&page={page}")).send().await?.json().await?;
            for product in body["items"].as_array().into_iter().flatten() {
                slugs.push(product["slug"].as_str().unwrap_or_default().to_string());
                names.push((
                    product["name"].as_str().unwrap_or_default().to_string(),
                    product["category_ids"][0].as_str().map(str::to_string),
                ));
                for variant in product["variants"].as_array().into_iter().flatten() {
                    skus.push(variant["sku"].as_str().unwrap_or_default().to_string());
                }
            }
        }
        Ok(Catalog { total, slugs, skus, names })
    }
}

/// Sends a request and reads the whole answer, as a real client does (and so the connection can
/// be reused).
async fn fetch(request: reqwest::RequestBuilder) -> reqwest::Result<StatusCode> {
    let response = request.send().await?;
    let status = response.status();
    response.bytes().await?;
    Ok(status)
}

/// Runs `concurrency` workers for `duration`, each issuing one request after another.
async fn timed<F, Fut>(args: &Args, request: F) -> Outcome
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = reqwest::Result<StatusCode>> + Send,
{
    let deadline = Instant::now() + Duration::from_secs(args.duration);
    let counter = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers = (0..args.concurrency).map(|_| {
        let request = request.clone();
        let counter = counter.clone();
        tokio::spawn(async move {
            let (mut latencies, mut ok, mut rejected) = (Vec::new(), 0, 0);
            while Instant::now() < deadline {
                let i = counter.fetch_add(1, Ordering::Relaxed);
                let sent = Instant::now();
                match request(i).await {
                    Ok(status) if status.is_success() => ok += 1,
                    _ => rejected += 1,
                }
                latencies.push(sent.elapsed());
            }
            (latencies, ok, rejected)
        })
    });
    let mut outcome = Outcome { latencies: Vec::new(), ok: 0, rejected: 0, elapsed: Duration::ZERO };
    for worker in futures::future::join_all(workers).await {
        let (latencies, ok, rejected) = worker.expect("worker task");
        outcome.latencies.extend(latencies);
        outcome.ok += ok;
        outcome.rejected += rejected;
    }
    outcome.elapsed = started.elapsed();
    outcome
}

/// One anonymous cart per worker; each request adds one unit of an in-stock SKU.
async fn add_to_cart(args: &Args, client: &Client, catalog: &Catalog) -> anyhow::Result<()> {
    let mut carts = Vec::new();
    for _ in 0..args.concurrency {
        let cart: Value =
            client.post(format!("{}/api/v1/carts", args.base)).send().await?.error_for_status()?.json().await?;
        carts.push((
            cart["id"].as_str().context("cart id")?.to_string(),
            cart["token"].as_str().context("cart token")?.to_string(),
        ));
    }
    let carts = Arc::new(carts);
    let skus = Arc::new(catalog.skus.clone());
    let base = args.base.clone();
    let client = client.clone();
    let out = timed(args, move |i| {
        let cart = i % carts.len();
        let (id, token) = carts[cart].clone();
        // Each cart cycles over its own 50 SKUs: a real cart's size, far below the 100-line
        // limit, and few units per line, far below the stock of each SKU.
        let sku = skus[(cart * 50 + (i / carts.len()) % 50) % skus.len()].clone();
        let request = client
            .post(format!("{base}/api/v1/carts/{id}/lines"))
            .header("x-cart-token", token)
            .json(&json!({"sku": sku, "quantity": 1}));
        async move { fetch(request).await }
    })
    .await;
    out.report("add-to-cart", "409/other");
    Ok(())
}

/// Logs the demo admin in; returns the access token.
async fn staff_token(args: &Args, client: &Client) -> anyhow::Result<String> {
    let login: Value = client
        .post(format!("{}/api/v1/staff/auth/login", args.base))
        .json(&json!({"email": args.admin_email, "password": args.admin_password}))
        .send()
        .await?
        .error_for_status()
        .context("staff login (is the demo loaded?)")?
        .json()
        .await?;
    Ok(login["access_token"].as_str().context("access token")?.to_string())
}

/// Logs the demo customer in; returns the access token.
async fn customer_token(args: &Args, client: &Client) -> anyhow::Result<String> {
    let login: Value = client
        .post(format!("{}/api/v1/auth/login", args.base))
        .json(&json!({"email": args.customer_email, "password": args.customer_password}))
        .send()
        .await?
        .error_for_status()
        .context("customer login (is the demo loaded?)")?
        .json()
        .await?;
    Ok(login["access_token"].as_str().context("access token")?.to_string())
}

/// `concurrency` buyers, each looping: open their cart, add one unit, check out. Only the checkout
/// (place order → reserve → pay → confirmed) is timed. Stock is topped up first so that no buyer
/// runs out.
async fn checkouts(args: &Args, client: &Client, catalog: &Catalog, hot: bool) -> anyhow::Result<()> {
    let base = args.base.clone();
    let staff = staff_token(args, client).await?;
    let locations: Value =
        client.get(format!("{base}/api/v1/admin/locations")).bearer_auth(&staff).send().await?.json().await?;
    let location = locations["items"][0]["code"].as_str().context("a stock location")?.to_string();
    let skus: Vec<String> =
        if hot { vec![catalog.skus[0].clone()] } else { catalog.skus.iter().take(args.concurrency).cloned().collect() };
    for sku in &skus {
        client
            .post(format!("{base}/api/v1/admin/stock/receive"))
            .bearer_auth(&staff)
            .json(&json!({"sku": sku, "location": location, "quantity": 1_000_000}))
            .send()
            .await?
            .error_for_status()
            .with_context(|| format!("stocking {sku}"))?;
    }
    let run = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis();
    let buyers = futures::future::join_all((0..args.concurrency).map(|i| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let email = format!("buyer-{run}-{i}@bench.comptoir.test");
            let credentials = json!({"email": email, "password": "bench-password-1"});
            client.post(format!("{base}/api/v1/auth/register")).json(&credentials).send().await?.error_for_status()?;
            let login: Value = client
                .post(format!("{base}/api/v1/auth/login"))
                .json(&credentials)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            anyhow::Ok(login["access_token"].as_str().context("token")?.to_string())
        }
    }))
    .await
    .into_iter()
    .collect::<anyhow::Result<Vec<_>>>()?;

    let deadline = Instant::now() + Duration::from_secs(args.duration);
    let started = Instant::now();
    // Times a buyer found its ordered cart still open: the tail of the saga running behind.
    let polls = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let workers = buyers.into_iter().enumerate().map(|(i, token)| {
        let (client, base, sku) = (client.clone(), base.clone(), skus[i % skus.len()].clone());
        let polls = polls.clone();
        tokio::spawn(async move {
            let (mut latencies, mut ok, mut rejected, mut n) = (Vec::new(), 0, 0, 0);
            let mut ordered_cart = String::new();
            while Instant::now() < deadline {
                n += 1;
                // The ordered cart closes when the confirmation event reaches the cart module,
                // moments after the checkout answered: until then, asking for a cart returns it.
                // The buyer asks again after 2, 4, 8 ... up to 64 ms, as a client should, rather
                // than spending the server's time on polls.
                let mut cart_id = ordered_cart.clone();
                let mut wait = Duration::from_millis(2);
                while cart_id == ordered_cart {
                    let cart: Value =
                        client.post(format!("{base}/api/v1/carts")).bearer_auth(&token).send().await?.json().await?;
                    cart_id = cart["id"].as_str().context("cart id")?.to_string();
                    if cart_id == ordered_cart {
                        polls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(Duration::from_millis(64));
                    }
                }
                let added = client
                    .post(format!("{base}/api/v1/carts/{cart_id}/lines"))
                    .bearer_auth(&token)
                    .json(&json!({"sku": sku, "quantity": 1}))
                    .send()
                    .await?;
                if !added.status().is_success() {
                    anyhow::bail!("adding to cart {cart_id}: {}", added.text().await?);
                }
                let body = json!({
                    "cart_id": cart_id,
                    "shipping_address": {"name": "Bench Buyer", "line1": "1 rue de Rivoli", "city": "Paris", "postal_code": "75001", "country": "FR"},
                    "shipping_method": "standard",
                    "payment": {"provider": "test", "token": "tok_visa"}
                });
                let request = client
                    .post(format!("{base}/api/v1/checkout"))
                    .bearer_auth(&token)
                    .header("idempotency-key", format!("bench-{run}-{i}-{n}"))
                    .json(&body);
                let sent = Instant::now();
                let status = fetch(request).await?;
                latencies.push(sent.elapsed());
                if status == StatusCode::CREATED {
                    ok += 1;
                    ordered_cart = cart_id;
                } else {
                    rejected += 1;
                }
            }
            anyhow::Ok((latencies, ok, rejected))
        })
    });
    let mut outcome = Outcome { latencies: Vec::new(), ok: 0, rejected: 0, elapsed: Duration::ZERO };
    for worker in futures::future::join_all(workers).await {
        let (latencies, ok, rejected) = worker.context("buyer task")??;
        outcome.latencies.extend(latencies);
        outcome.ok += ok;
        outcome.rejected += rejected;
    }
    outcome.elapsed = started.elapsed();
    outcome.report(if hot { "checkout-hot" } else { "checkout" }, "failed");
    let polls = polls.load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "{:<16} {polls} times a buyer found its ordered cart not closed yet ({:.2} per checkout)",
        "",
        polls as f64 / outcome.ok.max(1) as f64
    );
    Ok(())
}

/// `attempts` concurrent one-unit reservations on a fresh SKU holding `units`: exactly `units` must succeed.
async fn reservations(args: &Args, client: &Client) -> anyhow::Result<()> {
    let base = &args.base;
    let token = staff_token(args, client).await?;
    let admin = |r: reqwest::RequestBuilder| r.bearer_auth(&token);

    let sellers: Value = admin(client.get(format!("{base}/api/v1/admin/sellers"))).send().await?.json().await?;
    let seller = sellers["items"][0]["id"].clone();
    let sku = format!("BENCH-RES-{}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis());
    let product: Value = admin(client.post(format!("{base}/api/v1/admin/products")))
        .json(&json!({"seller_id": seller, "name": sku, "variants": [{"sku": sku, "prices": [{"channel": "online", "amount": 1000, "currency": "EUR"}]}]}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let locations: Value = admin(client.get(format!("{base}/api/v1/admin/locations"))).send().await?.json().await?;
    let location = locations["items"][0]["code"].as_str().context("a stock location")?.to_string();
    // Inventory learns the SKU from the catalog's event; wait for it.
    let mut stocked = false;
    for _ in 0..200 {
        let r = admin(client.post(format!("{base}/api/v1/admin/stock/receive")))
            .json(&json!({"sku": sku, "location": location, "quantity": args.units}))
            .send()
            .await?;
        if r.status().is_success() {
            stocked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    ensure!(stocked, "inventory never learned SKU {sku}");

    let started = Instant::now();
    let attempts = (0..args.attempts).map(|i| {
        let request = admin(client.post(format!("{base}/api/v1/admin/reservations")))
            .json(&json!({"reference": format!("{sku}-order-{i}"), "lines": [{"sku": sku, "quantity": 1}]}));
        async move {
            let sent = Instant::now();
            let status = request.send().await.map(|r| r.status());
            (status, sent.elapsed())
        }
    });
    let results = futures::future::join_all(attempts).await;
    let elapsed = started.elapsed();
    let mut outcome = Outcome { latencies: Vec::new(), ok: 0, rejected: 0, elapsed };
    for (status, latency) in results {
        outcome.latencies.push(latency);
        match status {
            Ok(StatusCode::CREATED) => outcome.ok += 1,
            Ok(StatusCode::CONFLICT) => outcome.rejected += 1,
            other => bail!("unexpected reservation answer: {other:?}"),
        }
    }
    outcome.report("reservations", "409");
    let stock: Value = admin(client.get(format!("{base}/api/v1/admin/stock/{sku}"))).send().await?.json().await?;
    println!(
        "reservations     {} of {} attempts reserved {} units; stock now on_hand {} reserved {} available {}",
        outcome.ok, args.attempts, args.units, stock["on_hand"], stock["reserved"], stock["available"]
    );
    ensure!(
        outcome.ok as i64 == args.units,
        "expected exactly {} successful reservations, got {}",
        args.units,
        outcome.ok
    );
    ensure!(stock["available"] == 0 && stock["reserved"] == args.units, "stock does not add up: {stock}");
    // Leave the shop as it was: the benchmark product goes away, its reserved units with it.
    admin(client.delete(format!("{base}/api/v1/admin/products/{}", product["id"].as_str().unwrap_or_default())))
        .send()
        .await?;
    Ok(())
}
