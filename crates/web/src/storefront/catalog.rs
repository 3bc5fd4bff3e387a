//! Browsing: the home page, categories, collections, search and the product page.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use comptoir_contracts::catalog::{Category, CategoryNode, Product, ProductFilter, Visibility};
use comptoir_contracts::search::{MAX_QUERY_CHARS, SearchHit, SearchQuery, SuggestionKind};
use comptoir_kernel::{Error, Money, Page, PageRequest, RequestContext};

use super::{Chrome, Pager, chrome, shop};
use crate::form::FormData;
use crate::present::capitalised;
use crate::session::Session;
use crate::view::{PageError, render};
use crate::{PageResult, WebState};

const PER_PAGE: u32 = 24;

/// A product as a list shows it.
pub struct ProductCard {
    pub name: String,
    pub url: String,
    /// The lowest price of its variants in the shop's channel.
    pub price: Option<Money>,
    pub in_stock: bool,
    pub several_prices: bool,
}

/// Cards for a page of products, with their stock read in one call.
async fn cards(state: &WebState, ctx: &RequestContext, products: &[Product], channel: &str) -> Vec<ProductCard> {
    let skus: Vec<String> = products.iter().flat_map(|p| p.variants.iter().map(|v| v.sku.clone())).collect();
    let available: HashMap<String, i64> = match state.inventory.available(ctx, &skus).await {
        Ok(levels) => levels.into_iter().collect(),
        Err(error) => {
            tracing::warn!(%error, "stock levels unavailable for a product list");
            HashMap::new()
        }
    };
    products
        .iter()
        .map(|p| {
            let prices: Vec<Money> = p
                .variants
                .iter()
                .flat_map(|v| v.prices.iter().filter(|c| c.channel == channel).map(|c| c.price))
                .collect();
            let lowest = prices.iter().min_by_key(|m| m.amount).copied();
            ProductCard {
                name: p.name.clone(),
                url: format!("/p/{}", p.slug),
                price: lowest,
                several_prices: prices.iter().any(|m| Some(m.amount) != lowest.map(|l| l.amount)),
                in_stock: p.variants.iter().any(|v| available.get(&v.sku).copied().unwrap_or(0) > 0),
            }
        })
        .collect()
}

#[derive(Template)]
#[template(path = "storefront/home.html")]
struct HomePage {
    chrome: Chrome,
    collections: Vec<(String, String)>,
    products: Vec<ProductCard>,
}

pub async fn home(State(state): State<WebState>, session: Session) -> PageResult {
    let shop = shop(&state).await?;
    let ctx = &session.ctx;
    let filter = ProductFilter { channel: Some(shop.channel().to_string()), ..Default::default() };
    let (chrome, collections, products) = tokio::join!(
        chrome(&state, &session),
        state.catalog.list_collections(ctx, PageRequest { page: 1, per_page: 6 }),
        state.catalog.list_products(ctx, filter, Visibility::PublishedOnly, PageRequest { page: 1, per_page: 12 }),
    );
    let products = products?.items;
    Ok(render(&HomePage {
        chrome: chrome?,
        collections: collections?.items.into_iter().map(|c| (c.name, format!("/collections/{}", c.slug))).collect(),
        products: cards(&state, ctx, &products, shop.channel()).await,
    }))
}

#[derive(Template)]
#[template(path = "storefront/listing.html")]
struct ListingPage {
    chrome: Chrome,
    title: String,
    intro: String,
    /// Sub-categories to narrow down to.
    children: Vec<(String, String)>,
    products: Vec<ProductCard>,
    total: u64,
    pager: Pager,
}

fn find<'a>(nodes: &'a [CategoryNode], slug: &str) -> Option<&'a CategoryNode> {
    nodes.iter().find_map(|n| if n.category.slug == slug { Some(n) } else { find(&n.children, slug) })
}

async fn listing(
    state: &WebState,
    session: &Session,
    filter: ProductFilter,
    page: u32,
) -> Result<(Chrome, Page<Product>, Vec<ProductCard>), PageError> {
    let shop = shop(state).await?;
    let filter = ProductFilter { channel: Some(shop.channel().to_string()), ..filter };
    let request = PageRequest { page, per_page: PER_PAGE };
    let (chrome, products) = tokio::join!(
        chrome(state, session),
        state.catalog.list_products(&session.ctx, filter, Visibility::PublishedOnly, request)
    );
    let products = products?;
    let cards = cards(state, &session.ctx, &products.items, shop.channel()).await;
    Ok((chrome?, products, cards))
}

pub async fn category(
    State(state): State<WebState>,
    session: Session,
    Path(slug): Path<String>,
    RawQuery(raw): RawQuery,
) -> PageResult {
    let tree = state.catalog.category_tree(&session.ctx).await?;
    let node = find(&tree, &slug).ok_or_else(|| PageError(Error::not_found("category", &slug)))?;
    let page = FormData::from_query(raw).page_number();
    let filter = ProductFilter { category: Some(slug.clone()), ..Default::default() };
    let (chrome, products, cards) = listing(&state, &session, filter, page).await?;
    Ok(render(&ListingPage {
        chrome,
        title: node.category.name.clone(),
        intro: String::new(),
        children: node.children.iter().map(|c| link(&c.category)).collect(),
        total: products.total,
        pager: Pager::new(&format!("/c/{slug}"), &[], page, PER_PAGE, products.total),
        products: cards,
    }))
}

fn link(category: &Category) -> (String, String) {
    (category.name.clone(), format!("/c/{}", category.slug))
}

pub async fn collection(
    State(state): State<WebState>,
    session: Session,
    Path(slug): Path<String>,
    RawQuery(raw): RawQuery,
) -> PageResult {
    let collection = state.catalog.get_collection(&session.ctx, &slug).await?;
    let page = FormData::from_query(raw).page_number();
    let filter = ProductFilter { collection: Some(collection.id.to_string()), ..Default::default() };
    let (chrome, products, cards) = listing(&state, &session, filter, page).await?;
    Ok(render(&ListingPage {
        chrome,
        title: collection.name,
        intro: collection.description,
        children: Vec::new(),
        total: products.total,
        pager: Pager::new(&format!("/collections/{slug}"), &[], page, PER_PAGE, products.total),
        products: cards,
    }))
}

#[derive(Template)]
#[template(path = "storefront/search.html")]
struct SearchPage {
    chrome: Chrome,
    q: String,
    sort: String,
    /// The active filters, to keep when the words or the sort change.
    kept: Vec<(String, String)>,
    groups: Vec<FacetGroup>,
    /// Removes every filter, keeping the words.
    clear: Option<String>,
    products: Vec<ProductCard>,
    total: u64,
    pager: Pager,
}

/// One facet of the search page: its values as links that add or remove that filter.
pub struct FacetGroup {
    pub title: String,
    pub values: Vec<FacetLink>,
}

pub struct FacetLink {
    pub label: String,
    pub count: u64,
    pub url: String,
    pub selected: bool,
}

/// The search page's query string with one filter toggled (and back to page 1).
fn toggled(pairs: &[(String, String)], name: &str, value: &str, single: bool) -> (String, bool) {
    let selected = pairs.iter().any(|(n, v)| n == name && v == value);
    let mut next: Vec<&(String, String)> =
        pairs.iter().filter(|(n, v)| n != "page" && !(n == name && (single || v == value))).collect();
    let added = (name.to_string(), value.to_string());
    if !selected {
        next.push(&added);
    }
    let mut url = form_urlencoded::Serializer::new(String::new());
    for (n, v) in next.into_iter().filter(|(_, v)| !v.is_empty()) {
        url.append_pair(n, v);
    }
    (format!("/search?{}", url.finish()), selected)
}

fn facet_group(
    pairs: &[(String, String)],
    title: &str,
    param: &str,
    single: bool,
    values: impl IntoIterator<Item = (String, String, u64)>,
) -> FacetGroup {
    let values = values
        .into_iter()
        .map(|(value, label, count)| {
            let (url, selected) = toggled(pairs, param, &value, single);
            FacetLink { label, count, url, selected }
        })
        .collect();
    FacetGroup { title: title.to_string(), values }
}

fn money_label(minor: i64, currency: &str) -> String {
    match currency.parse::<comptoir_kernel::Currency>() {
        Ok(currency) => Money::new(minor, currency).to_string(),
        Err(_) => minor.to_string(),
    }
}

pub async fn search(State(state): State<WebState>, session: Session, RawQuery(raw): RawQuery) -> PageResult {
    let params = FormData::from_query(raw);
    let pairs: Vec<(String, String)> = params.pairs().iter().filter(|(_, v)| !v.trim().is_empty()).cloned().collect();
    let query = SearchQuery { per_page: PER_PAGE, ..SearchQuery::from_pairs(&pairs)? };
    let (chrome, results) = tokio::join!(chrome(&state, &session), state.search.search(&session.ctx, query.clone()));
    let (mut chrome, results) = (chrome?, results?);
    chrome.query = query.q.clone();
    let currency = results.hits.iter().find_map(|h| h.price.map(|p| p.currency.to_string())).unwrap_or_default();
    let f = &results.facets;
    let mut groups = vec![facet_group(
        &pairs,
        "Category",
        "category",
        true,
        f.categories.iter().map(|v| (v.value.clone(), v.label.clone(), v.count)),
    )];
    groups.push(facet_group(
        &pairs,
        "Availability",
        "in_stock",
        true,
        f.availability.iter().filter(|v| v.value == "in_stock").map(|v| ("true".into(), v.label.clone(), v.count)),
    ));
    let ranges = f.price_ranges.iter().map(|r| {
        let label = match (r.min, r.max) {
            (0, Some(max)) => format!("Under {}", money_label(max, &currency)),
            (min, Some(max)) => format!("{} – {}", money_label(min, &currency), money_label(max, &currency)),
            (min, None) => format!("{} and more", money_label(min, &currency)),
        };
        // Minor units, inclusive both ends: the range's upper bound is the next one's start.
        let value = format!("{}-{}", r.min, r.max.map(|m| (m - 1).to_string()).unwrap_or_default());
        (value, label, r.count)
    });
    groups.push(facet_group(&pairs, "Price", "price", true, ranges));
    for (name, values) in &f.attributes {
        let param = format!("attr.{name}");
        let values = values.iter().map(|v| (v.value.clone(), v.label.clone(), v.count));
        groups.push(facet_group(&pairs, &capitalised(name), &param, false, values));
    }
    groups.push(facet_group(
        &pairs,
        "Seller",
        "seller_id",
        true,
        f.sellers.iter().map(|v| (v.value.clone(), v.label.clone(), v.count)),
    ));
    groups.retain(|g| !g.values.is_empty());
    let filtering = |name: &str| !matches!(name, "q" | "sort" | "page" | "per_page");
    let kept: Vec<(String, String)> = pairs.iter().filter(|(n, _)| filtering(n)).cloned().collect();
    let clear = (!kept.is_empty()).then(|| {
        let mut url = form_urlencoded::Serializer::new(String::new());
        url.append_pair("q", &query.q);
        format!("/search?{}", url.finish())
    });
    let pager_query: Vec<(&str, String)> =
        pairs.iter().filter(|(n, _)| n != "page").map(|(n, v)| (n.as_str(), v.clone())).collect();
    let pager = Pager::new("/search", &pager_query, query.page, PER_PAGE, results.total);
    Ok(render(&SearchPage {
        chrome,
        q: query.q.clone(),
        sort: query.sort.as_str().to_string(),
        kept,
        groups,
        clear,
        total: results.total,
        products: results.hits.into_iter().map(ProductCard::from).collect(),
        pager,
    }))
}

impl From<SearchHit> for ProductCard {
    fn from(hit: SearchHit) -> Self {
        ProductCard {
            name: hit.name,
            url: format!("/p/{}", hit.slug),
            price: hit.price,
            in_stock: hit.in_stock,
            several_prices: false,
        }
    }
}

/// A variant as the product page offers it.
pub struct VariantChoice {
    pub sku: String,
    /// `Size: M, Colour: blue`, or the SKU when it has no options.
    pub label: String,
    pub price: Option<Money>,
    pub available: i64,
}

#[derive(Template)]
#[template(path = "storefront/product.html")]
struct ProductPage {
    chrome: Chrome,
    name: String,
    slug: String,
    description: String,
    attributes: Vec<(String, String)>,
    variants: Vec<VariantChoice>,
    /// The variant chosen first: the first one in stock.
    selected: String,
    categories: Vec<(String, String)>,
    /// Products like this one, from search.
    similar: Vec<ProductCard>,
    /// Products often in the same orders: name, link, orders together.
    bought_together: Vec<(String, String, u64)>,
}

impl ProductPage {
    fn purchasable(&self) -> bool {
        self.variants.iter().any(|v| v.available > 0 && v.price.is_some())
    }
}

pub async fn product(State(state): State<WebState>, session: Session, Path(slug): Path<String>) -> PageResult {
    let shop = shop(&state).await?;
    let ctx = &session.ctx;
    let (chrome, product, tree) = tokio::join!(
        chrome(&state, &session),
        state.catalog.get_product(ctx, &slug, Visibility::PublishedOnly),
        state.catalog.category_tree(ctx)
    );
    let product = product?;
    let skus: Vec<String> = product.variants.iter().map(|v| v.sku.clone()).collect();
    let (available, similar, bought_together) = tokio::join!(
        state.inventory.available(ctx, &skus),
        state.search.similar(ctx, product.id, 4),
        state.recommendations.bought_together(ctx, product.id, 4)
    );
    let available: HashMap<String, i64> = available?.into_iter().collect();
    // A page without suggestions is better than no page.
    let similar = similar.unwrap_or_else(|error| {
        tracing::warn!(%error, "similar products unavailable");
        Vec::new()
    });
    let bought_together = bought_together.unwrap_or_else(|error| {
        tracing::warn!(%error, "products bought together unavailable");
        Vec::new()
    });
    let variants: Vec<VariantChoice> = product
        .variants
        .iter()
        .map(|v| VariantChoice {
            sku: v.sku.clone(),
            label: match v.options.is_empty() {
                true => v.sku.clone(),
                false => {
                    v.options.iter().map(|(k, val)| format!("{}: {val}", capitalised(k))).collect::<Vec<_>>().join(", ")
                }
            },
            price: v.prices.iter().find(|p| p.channel == shop.channel()).map(|p| p.price),
            available: available.get(&v.sku).copied().unwrap_or(0),
        })
        .collect();
    let selected = variants
        .iter()
        .find(|v| v.available > 0 && v.price.is_some())
        .or(variants.first())
        .map(|v| v.sku.clone())
        .unwrap_or_default();
    let tree = tree?;
    let categories = product
        .category_ids
        .iter()
        .filter_map(|id| all_categories(&tree).into_iter().find(|c| c.id == *id).map(link))
        .collect();
    Ok(render(&ProductPage {
        chrome: chrome?,
        name: product.name,
        slug: product.slug,
        description: product.description,
        attributes: product.attributes.into_iter().map(|(k, v)| (capitalised(&k), v)).collect(),
        variants,
        selected,
        categories,
        similar: similar.into_iter().map(ProductCard::from).collect(),
        bought_together: bought_together
            .into_iter()
            .map(|r| (r.product_name, format!("/p/{}", r.product_id), r.orders_together))
            .collect(),
    }))
}

fn all_categories(nodes: &[CategoryNode]) -> Vec<&Category> {
    nodes.iter().flat_map(|n| std::iter::once(&n.category).chain(all_categories(&n.children))).collect()
}

#[derive(Template)]
#[template(path = "storefront/_suggestions.html")]
struct Suggestions {
    items: Vec<(String, String)>,
}

/// Products and categories whose names begin like what is being typed in the search box: an HTML
/// fragment htmx puts under the box (without JavaScript the box simply searches).
pub async fn suggest(State(state): State<WebState>, session: Session, RawQuery(raw): RawQuery) -> PageResult {
    let q = FormData::from_query(raw).text("q");
    if q.chars().count() < 2 || q.chars().count() > MAX_QUERY_CHARS {
        return Ok(render(&Suggestions { items: Vec::new() }));
    }
    let found = state.search.suggest(&session.ctx, &q, 8).await?;
    let items = found
        .into_iter()
        .map(|s| match s.kind {
            SuggestionKind::Product => (s.label, format!("/p/{}", s.slug)),
            SuggestionKind::Category => (format!("{} (category)", s.label), format!("/c/{}", s.slug)),
        })
        .collect();
    Ok(render(&Suggestions { items }))
}
