//! Browsing: the home page, categories, collections, search and the product page.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use comptoir_contracts::catalog::{Category, CategoryNode, Product, ProductFilter, Visibility};
use comptoir_kernel::{Error, Money, Page, PageRequest, RequestContext};

use super::{Chrome, Pager, chrome, shop};
use crate::form::FormData;
use crate::present::{capitalised, category_options};
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
    category: String,
    /// Every category, indented by depth, to filter by.
    categories: Vec<(String, String)>,
    products: Vec<ProductCard>,
    total: u64,
    pager: Pager,
}

pub async fn search(State(state): State<WebState>, session: Session, RawQuery(raw): RawQuery) -> PageResult {
    let params = FormData::from_query(raw);
    let (q, category, page) = (params.text("q"), params.text("category"), params.page_number());
    let filter = ProductFilter {
        q: Some(q.clone()).filter(|q| !q.is_empty()),
        category: Some(category.clone()).filter(|c| !c.is_empty()),
        ..Default::default()
    };
    let (mut chrome, products, cards) = listing(&state, &session, filter, page).await?;
    chrome.query = q.clone();
    let categories = category_options(&state.catalog.category_tree(&session.ctx).await?, |c| c.slug.clone());
    let pager =
        Pager::new("/search", &[("q", q.clone()), ("category", category.clone())], page, PER_PAGE, products.total);
    Ok(render(&SearchPage { chrome, q, category, categories, total: products.total, products: cards, pager }))
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
    let available: HashMap<String, i64> = state.inventory.available(ctx, &skus).await?.into_iter().collect();
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

/// Products whose name matches what is being typed in the search box: an HTML fragment htmx puts
/// under the box (without JavaScript the box simply searches).
pub async fn suggest(State(state): State<WebState>, session: Session, RawQuery(raw): RawQuery) -> PageResult {
    let q = FormData::from_query(raw).text("q");
    if q.chars().count() < 2 {
        return Ok(render(&Suggestions { items: Vec::new() }));
    }
    let shop = shop(&state).await?;
    let filter = ProductFilter { q: Some(q), channel: Some(shop.channel().to_string()), ..Default::default() };
    let found = state
        .catalog
        .list_products(&session.ctx, filter, Visibility::PublishedOnly, PageRequest { page: 1, per_page: 6 })
        .await?;
    Ok(render(&Suggestions { items: found.items.into_iter().map(|p| (p.name, format!("/p/{}", p.slug))).collect() }))
}
