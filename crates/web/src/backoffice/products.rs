//! Products: the catalogue list, a new product with its first variant, and a product's page where
//! staff edit it, add variants, set channel prices and publish or unpublish it.

use std::collections::BTreeMap;

use askama::Template;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use comptoir_contracts::catalog::{
    Channel, NewProduct, NewVariant, PriceInput, Product, ProductFilter, ProductPatch, ProductStatus, Visibility,
};
use comptoir_contracts::identity::{Permission, Seller};
use comptoir_kernel::{Error, PageRequest};
use uuid::Uuid;

use super::{Chrome, staff};
use crate::form::{FormData, FormErrors};
use crate::present::{category_options, date_time};
use crate::session::{FlashKind, Session};
use crate::storefront::Pager;
use crate::view::{PageError, redirect_with, render, render_status};
use crate::{PageResult, WebState};

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/products", get(list).post(create))
        .route("/products/new", get(new_page))
        .route("/products/{id}", get(show).post(update))
        .route("/products/{id}/variants", post(add_variant))
        .route("/products/{id}/prices", post(set_price))
        .route("/products/{id}/publish", post(publish))
        .route("/products/{id}/unpublish", post(unpublish))
}

/// How a catalogue error's field names become this form's (`variants[0].sku` → `sku`).
type Rename = fn(&str) -> String;

pub struct ProductRow {
    pub id: String,
    pub name: String,
    pub published: bool,
    pub skus: String,
    pub updated: String,
}

#[derive(Template)]
#[template(path = "backoffice/products.html")]
struct ProductsPage {
    chrome: Chrome,
    q: String,
    products: Vec<ProductRow>,
    total: u64,
    pager: Pager,
    can_write: bool,
}

async fn list(State(state): State<WebState>, session: Session, RawQuery(raw): RawQuery) -> PageResult {
    let chrome = match staff(&state, &session, Some(Permission::CatalogRead), "/products").await {
        Ok(chrome) => chrome,
        Err(response) => return Ok(response),
    };
    let params = FormData::from_query(raw);
    let (q, page) = (params.text("q"), params.page_number());
    let filter = ProductFilter { q: Some(q.clone()).filter(|q| !q.is_empty()), ..Default::default() };
    let found =
        state.catalog.list_products(&session.ctx, filter, Visibility::All, PageRequest { page, per_page: 25 }).await?;
    Ok(render(&ProductsPage {
        chrome,
        pager: Pager::new("/products", &[("q", q.clone())], page, 25, found.total),
        q,
        total: found.total,
        products: found
            .items
            .iter()
            .map(|p| ProductRow {
                id: p.id.to_string(),
                name: p.name.clone(),
                published: p.status == ProductStatus::Published,
                skus: p.variants.iter().map(|v| v.sku.as_str()).collect::<Vec<_>>().join(", "),
                updated: date_time(&p.updated_at),
            })
            .collect(),
        can_write: session.can(Permission::CatalogWrite),
    }))
}

/// The new-product form's values, to show them again.
#[derive(Default)]
struct NewProductForm {
    seller: String,
    name: String,
    description: String,
    category: String,
    attributes: String,
    sku: String,
    options: String,
    weight: String,
    price: String,
    publish: bool,
}

#[derive(Template)]
#[template(path = "backoffice/product_new.html")]
struct NewProductPage {
    chrome: Chrome,
    sellers: Vec<Seller>,
    categories: Vec<(String, String)>,
    price_label: String,
    form: NewProductForm,
    errors: FormErrors,
}

/// The channel staff price in first: the shop's default one.
async fn default_channel(state: &WebState, session: &Session) -> Result<Channel, PageError> {
    let settings = crate::storefront::shop(state).await?;
    let channels = state.catalog.list_channels(&session.ctx).await?;
    channels
        .into_iter()
        .find(|c| c.code == settings.channel())
        .ok_or_else(|| PageError(Error::unavailable("the shop's default channel is not in the catalogue")))
}

async fn new_product_page(
    state: &WebState,
    session: &Session,
    chrome: Chrome,
    form: NewProductForm,
    errors: FormErrors,
) -> Result<NewProductPage, PageError> {
    let (sellers, tree, channel) = tokio::join!(
        state.identity.list_sellers(&session.ctx, PageRequest { page: 1, per_page: 100 }),
        state.catalog.category_tree(&session.ctx),
        default_channel(state, session)
    );
    let categories = category_options(&tree?, |c| c.id.to_string());
    let channel = channel?;
    let price_label = format!("Price in {} ({})", channel.name, channel.currency);
    Ok(NewProductPage { chrome, sellers: sellers?.items, categories, price_label, form, errors })
}

async fn new_page(State(state): State<WebState>, session: Session) -> PageResult {
    let chrome = match staff(&state, &session, Some(Permission::CatalogWrite), "/products").await {
        Ok(chrome) => chrome,
        Err(response) => return Ok(response),
    };
    let form = NewProductForm { publish: true, ..Default::default() };
    Ok(render(&new_product_page(&state, &session, chrome, form, FormErrors::default()).await?))
}

/// `key: value` pairs, one per line (attributes) or comma separated (variant options).
fn pairs(text: &str, separator: char, field: &str, errors: &mut FormErrors) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for item in text.split(separator).map(str::trim).filter(|i| !i.is_empty()) {
        match item.split_once(':') {
            Some((key, value)) if !key.trim().is_empty() && !value.trim().is_empty() => {
                map.insert(key.trim().to_lowercase(), value.trim().to_string());
            }
            _ => errors.add(field, format!("Write “name: value” (not “{item}”).")),
        }
    }
    map
}

fn weight(form: &FormData, errors: &mut FormErrors) -> Option<i64> {
    form.optional("weight").and_then(|_| form.integer("weight", "a weight in grams", errors))
}

async fn create(State(state): State<WebState>, session: Session, form: FormData) -> PageResult {
    let chrome = match staff(&state, &session, Some(Permission::CatalogWrite), "/products").await {
        Ok(chrome) => chrome,
        Err(response) => return Ok(response),
    };
    let channel = default_channel(&state, &session).await?;
    let values = NewProductForm {
        seller: form.text("seller"),
        name: form.text("name"),
        description: form.text("description"),
        category: form.text("category"),
        attributes: form.text("attributes"),
        sku: form.text("sku"),
        options: form.text("options"),
        weight: form.text("weight"),
        price: form.text("price"),
        publish: form.checked("publish"),
    };
    let mut errors = FormErrors::default();
    let seller_id = Uuid::parse_str(&values.seller).ok();
    if seller_id.is_none() {
        errors.add("seller", "Choose the seller.");
    }
    let category_ids: Vec<Uuid> = Uuid::parse_str(&values.category).ok().into_iter().collect();
    let attributes = pairs(&values.attributes, '\n', "attributes", &mut errors);
    let options = pairs(&values.options, ',', "options", &mut errors);
    let weight_grams = weight(&form, &mut errors);
    let amount = form.amount("price", "a price", channel.currency, &mut errors);
    if errors.is_empty() {
        let input = NewProduct {
            seller_id: seller_id.unwrap_or_default(),
            name: values.name.clone(),
            slug: None,
            description: values.description.clone(),
            category_ids,
            attributes,
            variants: vec![NewVariant {
                sku: values.sku.clone(),
                options,
                weight_grams,
                prices: vec![PriceInput {
                    channel: channel.code.clone(),
                    amount: amount.unwrap_or_default(),
                    currency: channel.currency,
                }],
            }],
        };
        match state.catalog.create_product(&session.ctx, input).await {
            Ok(product) => {
                let mut message = "Product created.";
                if values.publish {
                    state.catalog.publish(&session.ctx, product.id).await?;
                    message = "Product created and published.";
                }
                return Ok(redirect_with(&session, &format!("/products/{}", product.id), FlashKind::Success, message));
            }
            Err(error) => errors.absorb(error, |field| match field {
                "seller_id" => "seller".into(),
                f if f.ends_with(".sku") => "sku".into(),
                f if f.ends_with(".weight_grams") => "weight".into(),
                f if f.contains(".prices") => "price".into(),
                f if f.contains(".options") => "options".into(),
                f => f.into(),
            })?,
        }
    }
    let page = new_product_page(&state, &session, chrome, values, errors).await?;
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

pub struct VariantRow {
    pub sku: String,
    pub options: String,
    pub weight: String,
    pub prices: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "backoffice/product.html")]
struct ProductPage {
    chrome: Chrome,
    product: Product,
    published: bool,
    attributes: String,
    categories: Vec<(String, String, bool)>,
    variants: Vec<VariantRow>,
    channels: Vec<Channel>,
    can_write: bool,
    errors: FormErrors,
}

fn product_id(id: &str) -> Result<Uuid, PageError> {
    Uuid::parse_str(id).map_err(|_| PageError(Error::not_found("product", id)))
}

async fn product_page(
    state: &WebState,
    session: &Session,
    chrome: Chrome,
    id: Uuid,
    errors: FormErrors,
) -> Result<ProductPage, PageError> {
    let ctx = &session.ctx;
    let key = id.to_string();
    let (product, tree, channels) = tokio::join!(
        state.catalog.get_product(ctx, &key, Visibility::All),
        state.catalog.category_tree(ctx),
        state.catalog.list_channels(ctx)
    );
    let product = product?;
    let categories = category_options(&tree?, |c| c.id.to_string());
    Ok(ProductPage {
        chrome,
        published: product.status == ProductStatus::Published,
        attributes: product.attributes.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join("\n"),
        categories: categories
            .into_iter()
            .map(|(cid, name)| {
                let chosen = product.category_ids.iter().any(|c| c.to_string() == cid);
                (cid, name, chosen)
            })
            .collect(),
        variants: product
            .variants
            .iter()
            .map(|v| VariantRow {
                sku: v.sku.clone(),
                options: v.options.iter().map(|(k, val)| format!("{k}: {val}")).collect::<Vec<_>>().join(", "),
                weight: v.weight_grams.map(|w| format!("{w} g")).unwrap_or_default(),
                prices: v.prices.iter().map(|p| (p.channel.clone(), p.price.to_string())).collect(),
            })
            .collect(),
        channels: channels?,
        can_write: session.can(Permission::CatalogWrite),
        product,
        errors,
    })
}

async fn show(State(state): State<WebState>, session: Session, Path(id): Path<String>) -> PageResult {
    let chrome = match staff(&state, &session, Some(Permission::CatalogRead), "/products").await {
        Ok(chrome) => chrome,
        Err(response) => return Ok(response),
    };
    Ok(render(&product_page(&state, &session, chrome, product_id(&id)?, FormErrors::default()).await?))
}

/// Runs a change to a product for staff with `catalog:write`: back to its page with a message, or
/// the page again with the errors beside the fields.
async fn change<F, Fut>(state: &WebState, session: &Session, id: &str, done: &str, action: F) -> PageResult
where
    F: FnOnce(Uuid, FormErrors) -> Fut,
    Fut: std::future::Future<Output = Result<(), (Error, Rename)>>,
{
    let chrome = match staff(state, session, Some(Permission::CatalogWrite), "/products").await {
        Ok(chrome) => chrome,
        Err(response) => return Ok(response),
    };
    let id = product_id(id)?;
    match action(id, FormErrors::default()).await {
        Ok(()) => Ok(redirect_with(session, &format!("/products/{id}"), FlashKind::Success, done)),
        Err((error, rename)) => {
            let mut errors = FormErrors::default();
            let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            errors.absorb(error, rename)?;
            Ok(render_status(status, &product_page(state, session, chrome, id, errors).await?))
        }
    }
}

fn same(field: &str) -> String {
    field.to_string()
}

async fn update(State(state): State<WebState>, session: Session, Path(id): Path<String>, form: FormData) -> PageResult {
    let (catalog, ctx) = (state.catalog.clone(), session.ctx.clone());
    change(&state, &session, &id, "Product saved.", |id, mut errors| async move {
        let attributes = pairs(&form.text("attributes"), '\n', "attributes", &mut errors);
        let category_ids = form.all("category").iter().filter_map(|c| Uuid::parse_str(c).ok()).collect();
        errors.check().map_err(|e| (e, same as Rename))?;
        let patch = ProductPatch {
            name: Some(form.text("name")),
            slug: form.optional("slug"),
            description: Some(form.text("description")),
            category_ids: Some(category_ids),
            attributes: Some(attributes),
        };
        catalog.update_product(&ctx, id, patch).await.map(|_| ()).map_err(|e| (e, same as Rename))
    })
    .await
}

async fn add_variant(
    State(state): State<WebState>,
    session: Session,
    Path(id): Path<String>,
    form: FormData,
) -> PageResult {
    let channel = default_channel(&state, &session).await?;
    let (catalog, ctx) = (state.catalog.clone(), session.ctx.clone());
    change(&state, &session, &id, "Variant added.", |id, mut errors| async move {
        let options = pairs(&form.text("options"), ',', "options", &mut errors);
        let weight_grams = weight(&form, &mut errors);
        let amount = form.amount("price", "a price", channel.currency, &mut errors);
        errors.check().map_err(|e| (e, same as Rename))?;
        let input = NewVariant {
            sku: form.text("sku"),
            options,
            weight_grams,
            prices: vec![PriceInput {
                channel: channel.code.clone(),
                amount: amount.unwrap_or_default(),
                currency: channel.currency,
            }],
        };
        catalog.add_variant(&ctx, id, input).await.map(|_| ()).map_err(|e| (e, same as Rename))
    })
    .await
}

async fn set_price(
    State(state): State<WebState>,
    session: Session,
    Path(id): Path<String>,
    form: FormData,
) -> PageResult {
    let channels = state.catalog.list_channels(&session.ctx).await?;
    let (catalog, ctx) = (state.catalog.clone(), session.ctx.clone());
    change(&state, &session, &id, "Price saved.", |_, mut errors| async move {
        let Some(channel) = channels.into_iter().find(|c| c.code == form.text("channel")) else {
            return Err((Error::validation("channel", "Choose a channel."), same as Rename));
        };
        let amount = form.amount("amount", "a price", channel.currency, &mut errors);
        errors.check().map_err(|e| (e, same as Rename))?;
        let price = PriceInput {
            channel: channel.code.clone(),
            amount: amount.unwrap_or_default(),
            currency: channel.currency,
        };
        catalog.set_prices(&ctx, &form.text("sku"), vec![price]).await.map(|_| ()).map_err(|e| {
            let rename: Rename = |f| if f.contains("amount") { "amount".into() } else { f.into() };
            (e, rename)
        })
    })
    .await
}

async fn publish(State(state): State<WebState>, session: Session, Path(id): Path<String>) -> PageResult {
    let (catalog, ctx) = (state.catalog.clone(), session.ctx.clone());
    change(&state, &session, &id, "Published: the product is on the storefront.", |id, _| async move {
        catalog.publish(&ctx, id).await.map(|_| ()).map_err(|e| (e, same as Rename))
    })
    .await
}

async fn unpublish(State(state): State<WebState>, session: Session, Path(id): Path<String>) -> PageResult {
    let (catalog, ctx) = (state.catalog.clone(), session.ctx.clone());
    change(&state, &session, &id, "Unpublished: the product is hidden from the storefront.", |id, _| async move {
        catalog.unpublish(&ctx, id).await.map(|_| ()).map_err(|e| (e, same as Rename))
    })
    .await
}
