//! The catalogue's structure: the category tree, collections (with the products in them) and the
//! sellers products belong to.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use comptoir_contracts::catalog::{Collection, CollectionPatch, NewCategory, NewCollection};
use comptoir_contracts::identity::{NewSeller, Permission, Seller};
use comptoir_kernel::{Error, PageRequest};
use uuid::Uuid;

use super::{Chrome, staff};
use crate::form::{FormData, FormErrors};
use crate::present::category_options;
use crate::session::{FlashKind, Session};
use crate::view::{PageError, redirect_with, render, render_status};
use crate::{PageResult, WebState};

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/catalogue", get(show))
        .route("/catalogue/categories", post(create_category))
        .route("/catalogue/collections", post(create_collection))
        .route("/catalogue/collections/{id}", post(update_collection))
        .route("/catalogue/sellers", post(create_seller))
}

/// A collection with its products' names, and the text staff edit its members with.
pub struct CollectionRow {
    pub collection: Collection,
    pub products: Vec<String>,
    pub skus_or_slugs: String,
}

#[derive(Template)]
#[template(path = "backoffice/catalogue.html")]
struct CataloguePage {
    chrome: Chrome,
    categories: Vec<(String, String)>,
    collections: Vec<CollectionRow>,
    sellers: Vec<Seller>,
    can_write: bool,
    can_manage_sellers: bool,
    errors: FormErrors,
}

async fn catalogue_page(
    state: &WebState,
    session: &Session,
    chrome: Chrome,
    errors: FormErrors,
) -> Result<CataloguePage, PageError> {
    let ctx = &session.ctx;
    let (tree, collections, sellers) = tokio::join!(
        state.catalog.category_tree(ctx),
        state.catalog.list_collections(ctx, PageRequest { page: 1, per_page: 100 }),
        state.identity.list_sellers(ctx, PageRequest { page: 1, per_page: 100 }),
    );
    let categories = category_options(&tree?, |c| c.id.to_string());
    let mut rows = Vec::new();
    for collection in collections?.items {
        let mut products = Vec::new();
        let mut slugs = Vec::new();
        for id in &collection.product_ids {
            if let Ok(p) =
                state.catalog.get_product(ctx, &id.to_string(), comptoir_contracts::catalog::Visibility::All).await
            {
                products.push(p.name);
                slugs.push(p.slug);
            }
        }
        rows.push(CollectionRow { collection, products, skus_or_slugs: slugs.join(", ") });
    }
    Ok(CataloguePage {
        chrome,
        categories,
        collections: rows,
        sellers: sellers?.items,
        can_write: session.can(Permission::CatalogWrite),
        can_manage_sellers: session.can(Permission::SellersManage),
        errors,
    })
}

async fn show(State(state): State<WebState>, session: Session) -> PageResult {
    let chrome = match staff(&state, &session, Some(Permission::CatalogRead), "/catalogue").await {
        Ok(chrome) => chrome,
        Err(response) => return Ok(response),
    };
    Ok(render(&catalogue_page(&state, &session, chrome, FormErrors::default()).await?))
}

/// Runs a change for staff holding `permission`; the page again with the errors otherwise.
async fn change<Fut>(
    state: &WebState,
    session: &Session,
    permission: Permission,
    done: &str,
    rename: fn(&str) -> String,
    action: Fut,
) -> PageResult
where
    Fut: std::future::Future<Output = Result<(), Error>>,
{
    let chrome = match staff(state, session, Some(permission), "/catalogue").await {
        Ok(chrome) => chrome,
        Err(response) => return Ok(response),
    };
    match action.await {
        Ok(()) => Ok(redirect_with(session, "/catalogue", FlashKind::Success, done)),
        Err(error) => {
            let mut errors = FormErrors::default();
            let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            errors.absorb(error, rename)?;
            Ok(render_status(status, &catalogue_page(state, session, chrome, errors).await?))
        }
    }
}

async fn create_category(State(state): State<WebState>, session: Session, form: FormData) -> PageResult {
    let input = NewCategory {
        name: form.text("category_name"),
        slug: form.optional("category_slug"),
        parent_id: form.optional("parent").and_then(|p| Uuid::parse_str(&p).ok()),
        position: form.text("position").parse().unwrap_or(0),
    };
    let action = async { state.catalog.create_category(&session.ctx, input).await.map(|_| ()) };
    change(&state, &session, Permission::CatalogWrite, "Category created.", |f| format!("category_{f}"), action).await
}

/// Products named by their storefront slugs or ids, comma separated.
async fn products_named(state: &WebState, session: &Session, text: &str) -> Result<Vec<Uuid>, Error> {
    let mut ids = Vec::new();
    for key in text.split(',').map(str::trim).filter(|k| !k.is_empty()) {
        match state.catalog.get_product(&session.ctx, key, comptoir_contracts::catalog::Visibility::All).await {
            Ok(product) => ids.push(product.id),
            Err(Error::NotFound { .. }) => {
                return Err(Error::validation("products", format!("no product has the address “{key}”")));
            }
            Err(error) => return Err(error),
        }
    }
    Ok(ids)
}

async fn create_collection(State(state): State<WebState>, session: Session, form: FormData) -> PageResult {
    let action = async {
        let product_ids =
            products_named(&state, &session, &form.text("collection_products")).await.map_err(|e| {
                match e.field_errors().is_empty() {
                    true => e,
                    false => Error::validation("products", e.field_errors()[0].message.clone()),
                }
            })?;
        let input = NewCollection {
            name: form.text("collection_name"),
            slug: form.optional("collection_slug"),
            description: form.text("collection_description"),
            product_ids,
        };
        state.catalog.create_collection(&session.ctx, input).await.map(|_| ())
    };
    change(&state, &session, Permission::CatalogWrite, "Collection created.", |f| format!("collection_{f}"), action)
        .await
}

async fn update_collection(
    State(state): State<WebState>,
    session: Session,
    Path(id): Path<String>,
    form: FormData,
) -> PageResult {
    let id = Uuid::parse_str(&id).map_err(|_| PageError(Error::not_found("collection", &id)))?;
    let action = async {
        let product_ids = products_named(&state, &session, &form.text("products")).await?;
        let patch = CollectionPatch { name: None, description: None, product_ids: Some(product_ids) };
        state.catalog.update_collection(&session.ctx, id, patch).await.map(|_| ())
    };
    let rename: fn(&str) -> String = |_| "collection_update".into();
    change(&state, &session, Permission::CatalogWrite, "Collection saved.", rename, action).await
}

async fn create_seller(State(state): State<WebState>, session: Session, form: FormData) -> PageResult {
    let input = NewSeller { name: form.text("seller_name"), email: form.optional("seller_email") };
    let action = async { state.identity.create_seller(&session.ctx, input).await.map(|_| ()) };
    change(&state, &session, Permission::SellersManage, "Seller created.", |f| format!("seller_{f}"), action).await
}
