//! The web pages: the storefront's (port 9000) and the back office's (port 9010), rendered on the
//! server. Each page is measured on its own for `--duration` seconds by `--concurrency` visitors,
//! each with cookies of their own kept by hand as a browser keeps them (every `Set-Cookie` is
//! sent back): storefront visitors with one item in their cart, back-office visitors signed in as
//! the demo admin. Redirects are not followed, so a page counts as served only when it answers 200.
//!
//! Around each page the server's own histogram (`http_request_duration_seconds`, by route, on
//! `/metrics`) is read before and after, so that each line also shows the mean time the server
//! spent on that page and the share of its requests served within 50 ms (Prometheus buckets).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use reqwest::header::{CONTENT_TYPE, COOKIE, HeaderMap, SET_COOKIE};
use reqwest::{Client, RequestBuilder, StatusCode};
use serde_json::Value;

use crate::{Args, Catalog, ms};

/// The aim: every page within this much server time.
const AIM: Duration = Duration::from_millis(50);

/// One page to measure: the paths it cycles over, and the route template its server time is
/// recorded under.
struct Page {
    label: String,
    route: &'static str,
    paths: Vec<String>,
}

impl Page {
    fn new(label: &str, route: &'static str, paths: Vec<String>) -> Page {
        Page { label: label.to_string(), route, paths }
    }
}

/// A visitor's cookies.
#[derive(Clone, Default)]
struct Jar(BTreeMap<String, String>);

impl Jar {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Keeps what the answer's `Set-Cookie` headers set; forgets what they remove.
    fn absorb(&mut self, headers: &HeaderMap) {
        for value in headers.get_all(SET_COOKIE).iter().filter_map(|v| v.to_str().ok()) {
            let mut attributes = value.split(';');
            let Some((name, value)) = attributes.next().and_then(|pair| pair.split_once('=')) else { continue };
            let (name, value) = (name.trim(), value.trim());
            let removed = value.is_empty() || attributes.any(|a| a.trim().eq_ignore_ascii_case("max-age=0"));
            if removed {
                self.0.remove(name);
            } else {
                self.0.insert(name.to_string(), value.to_string());
            }
        }
    }

    /// Sends `request` with these cookies, keeps the cookies of the answer; returns its status,
    /// headers and body (read whole, as a browser does).
    async fn send(&mut self, request: RequestBuilder) -> reqwest::Result<(StatusCode, HeaderMap, String)> {
        let request = match self.0.is_empty() {
            true => request,
            false => {
                let cookies: Vec<String> = self.0.iter().map(|(name, value)| format!("{name}={value}")).collect();
                request.header(COOKIE, cookies.join("; "))
            }
        };
        let response = request.send().await?;
        let (status, headers) = (response.status(), response.headers().clone());
        let body = response.text().await?;
        self.absorb(&headers);
        Ok((status, headers, body))
    }
}

/// `application/x-www-form-urlencoded` (and query string) encoding of one value.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn form(fields: &[(&str, &str)]) -> String {
    fields.iter().map(|(name, value)| format!("{name}={}", encode(value))).collect::<Vec<_>>().join("&")
}

/// The value of the hidden `name` input of a page.
fn hidden_input(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\" value=\""))?;
    let rest = &html[at + name.len() + 15..];
    Some(rest[..rest.find('"')?].to_string())
}

/// What the pages are asked about: categories and search words taken from the catalog.
pub struct Sample {
    /// Every category's slug, top level and leaves.
    categories: Vec<String>,
    /// Words of product names, each with the slug of a category holding a product so named.
    words: Vec<(String, String)>,
}

impl Sample {
    pub async fn load(client: &Client, base: &str, catalog: &Catalog) -> anyhow::Result<Sample> {
        let tree: Value =
            client.get(format!("{base}/api/v1/categories")).send().await?.error_for_status()?.json().await?;
        let mut slugs_by_id = BTreeMap::new();
        let mut stack: Vec<&Value> = tree.as_array().into_iter().flatten().collect();
        while let Some(node) = stack.pop() {
            if let (Some(id), Some(slug)) = (node["id"].as_str(), node["slug"].as_str()) {
                slugs_by_id.insert(id.to_string(), slug.to_string());
            }
            stack.extend(node["children"].as_array().into_iter().flatten());
        }
        ensure!(!slugs_by_id.is_empty(), "the catalog has no categories");
        let mut categories: Vec<String> = slugs_by_id.values().cloned().collect();
        categories.sort();
        let mut seen = HashSet::new();
        let mut words = Vec::new();
        for (name, category) in &catalog.names {
            let Some(slug) = category.as_ref().and_then(|id| slugs_by_id.get(id)) else { continue };
            for word in name.split_whitespace().map(str::to_lowercase) {
                if word.len() >= 3 && word.chars().all(char::is_alphabetic) && seen.insert(word.clone()) {
                    words.push((word, slug.clone()));
                }
            }
        }
        ensure!(!words.is_empty(), "no search words in the product names");
        words.truncate(50);
        Ok(Sample { categories, words })
    }
}

/// The storefront's pages, each for `duration`, by `concurrency` anonymous visitors with one item
/// in their cart.
pub async fn storefront(args: &Args, catalog: &Catalog, sample: &Sample) -> anyhow::Result<()> {
    let client = page_client(args)?;
    let base = args.storefront.trim_end_matches('/').to_string();
    let words = &sample.words;
    let pages = [
        Page::new("storefront /", "/", vec!["/".into()]),
        Page::new("storefront /c/{slug}", "/c/{slug}", sample.categories.iter().map(|c| format!("/c/{c}")).collect()),
        Page::new("storefront /search?q", "/search", words.iter().map(|(w, _)| format!("/search?q={w}")).collect()),
        Page::new(
            "storefront /search?q&category",
            "/search",
            words.iter().map(|(w, c)| format!("/search?q={w}&category={c}")).collect(),
        ),
        Page::new("storefront /p/{slug}", "/p/{slug}", catalog.slugs.iter().map(|s| format!("/p/{s}")).collect()),
        Page::new("storefront /cart", "/cart", vec!["/cart".into()]),
        Page::new("storefront /login", "/login", vec!["/login".into()]),
    ];
    // Visitors: a first page (the empty cart) gives them their CSRF cookie; each then puts one
    // unit of a SKU in a cart of their own (SKUs far from those the checkout scenario buys).
    let mut visitors = Vec::new();
    for v in 0..args.concurrency {
        let mut jar = Jar::default();
        let (status, _, _) = jar.send(client.get(format!("{base}/cart"))).await?;
        ensure!(status == StatusCode::OK, "the storefront's cart page answered {status}");
        let csrf = jar.get("comptoir_csrf").context("no comptoir_csrf cookie from the storefront")?.to_string();
        let mut added = false;
        for sku in catalog.skus.iter().cycle().skip(1000 + v * 7).take(10) {
            let body = form(&[("sku", sku), ("quantity", "1"), ("csrf_token", &csrf), ("back", "/")]);
            let request = client
                .post(format!("{base}/cart/add"))
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(body);
            let (status, headers, _) = jar.send(request).await?;
            ensure!(status == StatusCode::SEE_OTHER, "adding to the cart answered {status}");
            // Success redirects to the cart; a refusal (out of stock) back to `back`.
            if headers.get(reqwest::header::LOCATION).is_some_and(|l| l == "/cart") {
                added = true;
                break;
            }
        }
        ensure!(added && jar.get("comptoir_cart").is_some(), "no SKU could be added to a cart");
        // Read the cart once: the page shows the flash message and clears its cookie.
        jar.send(client.get(format!("{base}/cart"))).await?;
        visitors.push(jar);
    }
    run_pages(args, &client, &base, &pages, visitors).await
}

/// The back office's pages, each for `duration`, by `concurrency` staff sessions of the demo admin.
pub async fn backoffice(args: &Args, catalog: &Catalog, sample: &Sample) -> anyhow::Result<()> {
    let client = page_client(args)?;
    let base = args.backoffice.trim_end_matches('/').to_string();
    let pages = [
        Page::new("back office / (dashboard)", "/", vec!["/".into()]),
        Page::new("back office /orders", "/orders", vec!["/orders".into()]),
        Page::new("back office /products", "/products", vec!["/products".into()]),
        Page::new(
            "back office /products?q",
            "/products",
            sample.words.iter().map(|(w, _)| format!("/products?q={w}")).collect(),
        ),
        Page::new(
            "back office /stock?sku",
            "/stock",
            catalog.skus.iter().map(|s| format!("/stock?sku={}", encode(s))).collect(),
        ),
        Page::new("back office /customers", "/customers", vec!["/customers".into()]),
        Page::new("back office /reports/sales", "/reports/sales", vec!["/reports/sales".into()]),
    ];
    let mut visitors = Vec::new();
    for _ in 0..args.concurrency {
        visitors.push(staff_sign_in(args, &client, &base).await?);
    }
    run_pages(args, &client, &base, &pages, visitors).await
}

/// Signs the demo admin in through the login form; returns the session's cookies.
async fn staff_sign_in(args: &Args, client: &Client, base: &str) -> anyhow::Result<Jar> {
    let mut jar = Jar::default();
    let (status, _, html) = jar.send(client.get(format!("{base}/login"))).await?;
    ensure!(status == StatusCode::OK, "the back office's login page answered {status}");
    let token = hidden_input(&html, "csrf_token").context("no csrf_token input on the login page")?;
    ensure!(jar.get("comptoir_csrf") == Some(token.as_str()), "the login form's token is not the csrf cookie");
    let body = form(&[("email", &args.admin_email), ("password", &args.admin_password), ("csrf_token", &token)]);
    let request =
        client.post(format!("{base}/login")).header(CONTENT_TYPE, "application/x-www-form-urlencoded").body(body);
    let (status, _, _) = jar.send(request).await?;
    ensure!(status == StatusCode::SEE_OTHER, "signing in answered {status} (is the demo loaded?)");
    ensure!(
        jar.get("comptoir_staff_session").is_some() && jar.get("comptoir_staff_refresh").is_some(),
        "signing in set no staff session cookies"
    );
    // The dashboard once: it shows the "signed in" flash message and clears its cookie.
    jar.send(client.get(format!("{base}/"))).await?;
    Ok(jar)
}

fn page_client(args: &Args) -> reqwest::Result<Client> {
    Client::builder().redirect(reqwest::redirect::Policy::none()).pool_max_idle_per_host(args.concurrency * 2).build()
}

async fn run_pages(args: &Args, client: &Client, base: &str, pages: &[Page], visitors: Vec<Jar>) -> anyhow::Result<()> {
    println!(
        "{:<30} {:>8} {:>9} {:>8} {:>8} {:>8} {:>8} {:>7}  {:>11} {:>9}",
        "page", "requests", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "failed", "server ms", "≤ 50 ms"
    );
    let mut visitors = visitors;
    for page in pages {
        let before = server_times(client, base).await?;
        let (outcome, back) = measure(args, client, base, page, visitors).await;
        visitors = back;
        let after = server_times(client, base).await?;
        outcome.report(page, after.get(page.route).map(|a| a.since(before.get(page.route))));
    }
    Ok(())
}

/// Latencies seen by the client, and the failures (any answer but 200, or none).
struct PageOutcome {
    latencies: Vec<Duration>,
    failed: usize,
    /// The first failure, to say what went wrong.
    first_failure: Option<String>,
    elapsed: Duration,
}

impl PageOutcome {
    fn report(&self, page: &Page, server: Option<ServerTime>) {
        let mut l = self.latencies.clone();
        l.sort_unstable();
        let pct =
            |p: f64| l.get(((l.len() as f64 * p) as usize).min(l.len().saturating_sub(1))).copied().unwrap_or_default();
        let (mean, within) = match server {
            Some(s) if s.count > 0.0 => {
                (format!("{:.2}", s.sum / s.count * 1000.0), format!("{:.1} %", s.within_aim / s.count * 100.0))
            }
            _ => ("-".into(), "-".into()),
        };
        println!(
            "{:<30} {:>8} {:>9.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>7}  {:>11} {:>9}",
            page.label,
            l.len(),
            l.len() as f64 / self.elapsed.as_secs_f64(),
            ms(pct(0.50)),
            ms(pct(0.90)),
            ms(pct(0.99)),
            ms(l.last().copied().unwrap_or_default()),
            self.failed,
            mean,
            within,
        );
        if let Some(failure) = &self.first_failure {
            println!("{:<30} first failure: {failure}", "");
        }
    }
}

/// `concurrency` visitors (each with their own cookies) asking for the page's paths in turn for
/// `duration`; gives the visitors back for the next page.
async fn measure(args: &Args, client: &Client, base: &str, page: &Page, visitors: Vec<Jar>) -> (PageOutcome, Vec<Jar>) {
    let deadline = Instant::now() + Duration::from_secs(args.duration);
    let counter = Arc::new(AtomicUsize::new(0));
    let paths = Arc::new(page.paths.clone());
    let started = Instant::now();
    let workers = visitors.into_iter().map(|mut jar| {
        let (client, counter, paths) = (client.clone(), counter.clone(), paths.clone());
        let base = base.to_string();
        tokio::spawn(async move {
            let (mut latencies, mut failed, mut first_failure) = (Vec::new(), 0, None);
            while Instant::now() < deadline {
                let path = &paths[counter.fetch_add(1, Ordering::Relaxed) % paths.len()];
                let sent = Instant::now();
                let result = jar.send(client.get(format!("{base}{path}"))).await;
                latencies.push(sent.elapsed());
                let failure = match result {
                    Ok((StatusCode::OK, _, _)) => continue,
                    Ok((status, headers, _)) => match headers.get(reqwest::header::LOCATION) {
                        Some(location) => format!("GET {path}: {status} to {location:?}"),
                        None => format!("GET {path}: {status}"),
                    },
                    Err(error) => format!("GET {path}: {error}"),
                };
                failed += 1;
                first_failure.get_or_insert(failure);
            }
            (latencies, failed, first_failure, jar)
        })
    });
    let mut outcome = PageOutcome { latencies: Vec::new(), failed: 0, first_failure: None, elapsed: Duration::ZERO };
    let mut visitors = Vec::new();
    for worker in futures::future::join_all(workers).await {
        let (latencies, failed, first_failure, jar) = worker.expect("visitor task");
        outcome.latencies.extend(latencies);
        outcome.failed += failed;
        outcome.first_failure = outcome.first_failure.or(first_failure);
        visitors.push(jar);
    }
    outcome.elapsed = started.elapsed();
    (outcome, visitors)
}

/// A route's server-side histogram so far: seconds spent, requests, requests within the aim.
#[derive(Clone, Copy, Default)]
struct ServerTime {
    sum: f64,
    count: f64,
    within_aim: f64,
}

impl ServerTime {
    fn since(self, before: Option<&ServerTime>) -> ServerTime {
        let before = before.copied().unwrap_or_default();
        ServerTime {
            sum: self.sum - before.sum,
            count: self.count - before.count,
            within_aim: self.within_aim - before.within_aim,
        }
    }
}

/// `http_request_duration_seconds` of the GET requests, by route, from the server's `/metrics`.
async fn server_times(client: &Client, base: &str) -> anyhow::Result<BTreeMap<String, ServerTime>> {
    let text = client.get(format!("{base}/metrics")).send().await?.error_for_status()?.text().await?;
    let aim = format!("le=\"{}\"", AIM.as_secs_f64());
    let mut times: BTreeMap<String, ServerTime> = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with("http_request_duration_seconds")) {
        let Some((series, value)) = line.rsplit_once(' ') else { continue };
        let Some((name, labels)) = series.split_once('{') else { continue };
        if !labels.contains("method=\"GET\"") {
            continue;
        }
        let Some(route) = labels.split("route=\"").nth(1).and_then(|r| r.split('"').next()) else { continue };
        let value: f64 = value.parse().with_context(|| format!("a metric's value: {line}"))?;
        let time = times.entry(route.to_string()).or_default();
        match name {
            "http_request_duration_seconds_sum" => time.sum += value,
            "http_request_duration_seconds_count" => time.count += value,
            "http_request_duration_seconds_bucket" if labels.contains(&aim) => time.within_aim += value,
            "http_request_duration_seconds_bucket" => {}
            other => bail!("unexpected series {other} in /metrics"),
        }
    }
    Ok(times)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_kept_and_removed_as_set() {
        let mut jar = Jar::default();
        let mut headers = HeaderMap::new();
        headers.append(SET_COOKIE, "comptoir_csrf=abc; Path=/; HttpOnly; SameSite=Strict".parse().unwrap());
        headers.append(SET_COOKIE, "comptoir_flash=ok%3AHi; Path=/; Max-Age=60".parse().unwrap());
        jar.absorb(&headers);
        assert_eq!(jar.get("comptoir_csrf"), Some("abc"));
        assert_eq!(jar.get("comptoir_flash"), Some("ok%3AHi"));
        let mut removal = HeaderMap::new();
        removal.append(
            SET_COOKIE,
            "comptoir_flash=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT".parse().unwrap(),
        );
        jar.absorb(&removal);
        assert_eq!(jar.get("comptoir_flash"), None);
        assert_eq!(jar.get("comptoir_csrf"), Some("abc"));
    }

    #[test]
    fn forms_are_encoded_and_tokens_found() {
        assert_eq!(form(&[("email", "admin@comptoir.test"), ("q", "a b")]), "email=admin%40comptoir.test&q=a%20b");
        let html = r#"<form><input type="hidden" name="csrf_token" value="tok-en_1"><input name="next"></form>"#;
        assert_eq!(hidden_input(html, "csrf_token").as_deref(), Some("tok-en_1"));
        assert_eq!(hidden_input(html, "other"), None);
    }
}
