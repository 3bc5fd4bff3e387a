//! Search: queries per second and latency of `GET /api/v1/search` on the loaded catalog (words
//! taken from product names, some misspelt, some with facet filters), of suggestions as one
//! types, and how long a product change takes to become searchable.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use reqwest::Client;
use serde_json::{Value, json};

use crate::{Args, Catalog, Outcome, fetch, staff_token, timed};

/// Words of three letters or more from the sampled product names.
fn words(catalog: &Catalog) -> Vec<String> {
    let mut words: Vec<String> = catalog
        .names
        .iter()
        .flat_map(|(name, _)| name.split_whitespace().map(|w| w.to_lowercase()))
        .filter(|w| w.chars().count() >= 3 && w.chars().all(char::is_alphabetic))
        .collect();
    words.sort();
    words.dedup();
    words
}

/// The word with two neighbouring letters swapped: one typo.
fn misspelt(word: &str) -> String {
    let mut letters: Vec<char> = word.chars().collect();
    if letters.len() >= 4 {
        letters.swap(1, 2);
    }
    letters.into_iter().collect()
}

fn encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The query of request `i`: one word, two words, a misspelt word, or a word within the first
/// category of a product, in stock, cheapest first.
fn query(i: usize, words: &[String], catalog: &Catalog) -> String {
    let word = &words[i % words.len()];
    match i % 4 {
        0 => format!("q={}", encode(word)),
        1 => format!("q={}", encode(&format!("{word} {}", words[(i / 4 + 7) % words.len()]))),
        2 => format!("q={}", encode(&misspelt(word))),
        _ => {
            let (name, _) = &catalog.names[i % catalog.names.len()];
            let first = name.split_whitespace().next().unwrap_or(word);
            format!("q={}&in_stock=true&sort=price_asc", encode(first))
        }
    }
}

pub async fn search(args: &Args, client: &Client, catalog: &Catalog) -> anyhow::Result<()> {
    let words = Arc::new(words(catalog));
    ensure!(!words.is_empty(), "no words in the sampled product names");
    let catalog_names =
        Arc::new(Catalog { total: catalog.total, slugs: vec![], skus: vec![], names: catalog.names.clone() });
    let (base, http) = (args.base.clone(), client.clone());
    let (w, c) = (words.clone(), catalog_names.clone());
    let out: Outcome = timed(args, move |i| {
        let url = format!("{base}/api/v1/search?{}", query(i, &w, &c));
        let http = http.clone();
        async move { fetch(http.get(url)).await }
    })
    .await;
    out.report("search", "errors");

    let (base, http) = (args.base.clone(), client.clone());
    let out = timed(args, move |i| {
        let word = &words[i % words.len()];
        let typed: String = word.chars().take(2 + i % 3).collect();
        let url = format!("{base}/api/v1/search/suggestions?q={}", encode(&typed));
        let http = http.clone();
        async move { fetch(http.get(url)).await }
    })
    .await;
    out.report("suggestions", "errors");
    Ok(())
}

/// Renames products one after another and times, for each, from the rename's answer to the first
/// search that finds the new name (searched every millisecond).
pub async fn lag(args: &Args, client: &Client, catalog: &Catalog, changes: usize) -> anyhow::Result<()> {
    let token = staff_token(args, client).await?;
    let mut lags = Vec::new();
    for i in 0..changes {
        let slug = &catalog.slugs[(i * 37) % catalog.slugs.len()];
        // A made-up word far (more than two typos) from every other: random letters.
        let letters: String = uuid::Uuid::new_v4().simple().to_string()[..12]
            .chars()
            .map(|c| if c.is_ascii_digit() { (b'q' + c as u8 - b'0') as char } else { c })
            .collect();
        let marker = format!("zq{letters}");
        let product: Value = client
            .get(format!("{}/api/v1/products/{slug}", args.base))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let id = product["id"].as_str().context("product id")?;
        let name = format!("{} {marker}", product["name"].as_str().unwrap_or_default());
        client
            .patch(format!("{}/api/v1/admin/products/{id}", args.base))
            .bearer_auth(&token)
            .json(&json!({ "name": name }))
            .send()
            .await?
            .error_for_status()
            .context("renaming a product")?;
        let renamed = Instant::now();
        loop {
            let found: Value =
                client.get(format!("{}/api/v1/search?q={marker}", args.base)).send().await?.json().await?;
            if found["hits"][0]["name"].as_str().is_some_and(|name| name.ends_with(&marker)) {
                lags.push(renamed.elapsed());
                break;
            }
            ensure!(renamed.elapsed() < Duration::from_secs(10), "{marker} not searchable after 10 s");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    lags.sort_unstable();
    let pct = |p: f64| lags[((lags.len() as f64 * p) as usize).min(lags.len() - 1)];
    println!(
        "search-lag       {changes:>8} renames, searchable after: p50 {:>7.2} ms  p95 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
        crate::ms(pct(0.50)),
        crate::ms(pct(0.95)),
        crate::ms(pct(0.99)),
        crate::ms(*lags.last().expect("at least one change")),
    );
    Ok(())
}
