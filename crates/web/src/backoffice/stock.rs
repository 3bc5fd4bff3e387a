//! Stock: locations, a SKU's levels per location with receipts, adjustments and its low-stock
//! threshold, and the history of movements.

use askama::Template;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use comptoir_contracts::identity::Permission;
use comptoir_contracts::inventory::{
    AdjustStock, Location, LocationKind, Movement, MovementFilter, NewLocation, ReceiveStock, SkuStock,
};
use comptoir_kernel::{Error, PageRequest};

use super::{Chrome, staff};
use crate::form::{FormData, FormErrors};
use crate::present::date_time;
use crate::session::{FlashKind, Session};
use crate::storefront::Pager;
use crate::view::{PageError, redirect_with, render_status};
use crate::{PageResult, WebState};

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/stock", get(show))
        .route("/stock/receive", post(receive))
        .route("/stock/adjust", post(adjust))
        .route("/stock/threshold", post(threshold))
        .route("/stock/locations", post(create_location))
}

#[derive(Template)]
#[template(path = "backoffice/stock.html")]
struct StockPage {
    chrome: Chrome,
    sku: String,
    stock: Option<SkuStock>,
    locations: Vec<Location>,
    movements: Vec<(Movement, String)>,
    pager: Pager,
    can_write: bool,
    errors: FormErrors,
}

async fn stock_page(
    state: &WebState,
    session: &Session,
    chrome: Chrome,
    sku: String,
    page: u32,
    mut errors: FormErrors,
) -> Result<StockPage, PageError> {
    let ctx = &session.ctx;
    let filter = MovementFilter { sku: Some(sku.clone()).filter(|s| !s.is_empty()), location: None };
    let (locations, movements) = tokio::join!(
        state.inventory.list_locations(ctx, PageRequest { page: 1, per_page: 100 }),
        state.inventory.movements(ctx, filter, PageRequest { page, per_page: 25 })
    );
    let stock = match sku.is_empty() {
        true => None,
        false => match state.inventory.stock(ctx, &sku).await {
            Ok(stock) => Some(stock),
            Err(Error::NotFound { .. }) => {
                errors.add("sku", "No such SKU in the catalogue.");
                None
            }
            Err(error) => return Err(error.into()),
        },
    };
    let movements = movements?;
    Ok(StockPage {
        chrome,
        pager: Pager::new("/stock", &[("sku", sku.clone())], page, 25, movements.total),
        sku,
        stock,
        locations: locations?.items,
        movements: movements.items.into_iter().map(|m| (m.clone(), date_time(&m.created_at))).collect(),
        can_write: session.can(Permission::InventoryWrite),
        errors,
    })
}

async fn show(State(state): State<WebState>, session: Session, RawQuery(raw): RawQuery) -> PageResult {
    let chrome = match staff(&state, &session, Some(Permission::InventoryRead), "/stock").await {
        Ok(chrome) => chrome,
        Err(response) => return Ok(response),
    };
    let params = FormData::from_query(raw);
    let page =
        stock_page(&state, &session, chrome, params.text("sku"), params.page_number(), FormErrors::default()).await?;
    let status = if page.errors.is_empty() { StatusCode::OK } else { StatusCode::NOT_FOUND };
    Ok(render_status(status, &page))
}

/// Runs a stock change for staff with `inventory:write`: back to the SKU's page with a message,
/// or the page again with the errors beside the fields.
async fn change<F, Fut>(state: &WebState, session: &Session, form: &FormData, done: &str, action: F) -> PageResult
where
    F: FnOnce(FormErrors) -> Fut,
    Fut: std::future::Future<Output = Result<(), Error>>,
{
    let chrome = match staff(state, session, Some(Permission::InventoryWrite), "/stock").await {
        Ok(chrome) => chrome,
        Err(response) => return Ok(response),
    };
    let sku = form.text("sku");
    match action(FormErrors::default()).await {
        Ok(()) => {
            let to = match sku.is_empty() {
                true => "/stock".to_string(),
                false => format!("/stock?sku={}", form_urlencoded::byte_serialize(sku.as_bytes()).collect::<String>()),
            };
            Ok(redirect_with(session, &to, FlashKind::Success, done))
        }
        Err(error) => {
            let mut errors = FormErrors::default();
            let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            errors.absorb(error, str::to_string)?;
            Ok(render_status(status, &stock_page(state, session, chrome, sku, 1, errors).await?))
        }
    }
}

async fn receive(State(state): State<WebState>, session: Session, form: FormData) -> PageResult {
    let (inventory, ctx) = (state.inventory.clone(), session.ctx.clone());
    let f = form.clone();
    change(&state, &session, &form, "Stock received.", |mut errors| async move {
        let quantity = f.integer("quantity", "a number of units", &mut errors);
        errors.check()?;
        let input = ReceiveStock {
            sku: f.text("sku"),
            location: f.text("location"),
            quantity: quantity.unwrap_or_default(),
            reference: f.optional("reference"),
        };
        inventory.receive(&ctx, input).await.map(|_| ())
    })
    .await
}

async fn adjust(State(state): State<WebState>, session: Session, form: FormData) -> PageResult {
    let (inventory, ctx) = (state.inventory.clone(), session.ctx.clone());
    let f = form.clone();
    change(&state, &session, &form, "Stock adjusted.", |mut errors| async move {
        let delta = f.integer("delta", "a change in units", &mut errors);
        errors.check()?;
        let input = AdjustStock {
            sku: f.text("sku"),
            location: f.text("location"),
            delta: delta.unwrap_or_default(),
            reason: f.text("reason"),
        };
        inventory.adjust(&ctx, input).await.map(|_| ())
    })
    .await
}

async fn threshold(State(state): State<WebState>, session: Session, form: FormData) -> PageResult {
    let (inventory, ctx) = (state.inventory.clone(), session.ctx.clone());
    let f = form.clone();
    change(&state, &session, &form, "Low-stock threshold saved.", |mut errors| async move {
        let threshold = f.optional("threshold").and_then(|_| f.integer("threshold", "a number of units", &mut errors));
        errors.check()?;
        inventory.set_low_stock_threshold(&ctx, &f.text("sku"), threshold).await.map(|_| ())
    })
    .await
}

async fn create_location(State(state): State<WebState>, session: Session, form: FormData) -> PageResult {
    let (inventory, ctx) = (state.inventory.clone(), session.ctx.clone());
    let f = form.clone();
    change(&state, &session, &form, "Location created.", |_| async move {
        let kind = match f.text("kind").as_str() {
            "store" => LocationKind::Store,
            _ => LocationKind::Warehouse,
        };
        inventory
            .create_location(&ctx, NewLocation { code: f.text("code"), name: f.text("name"), kind })
            .await
            .map(|_| ())
    })
    .await
}
