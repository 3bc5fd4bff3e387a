//! The dashboard: today's orders and sales, what is running low, the latest orders. Each part
//! shows only to staff allowed to see it, and a module that does not answer blanks its part of
//! the page, not the whole page.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::State;
use comptoir_contracts::identity::Permission;
use comptoir_contracts::inventory::SkuStock;
use comptoir_contracts::ordering::OrderFilter;
use comptoir_kernel::{Money, PageRequest};

use super::reports;
use super::{Chrome, staff};
use crate::present::OrderView;
use crate::session::Session;
use crate::storefront::shop;
use crate::view::render;
use crate::{PageResult, WebState};

/// Low-stock alerts shown at most.
const LOW_STOCK_SHOWN: u32 = 10;

/// Today's figures.
struct Today {
    /// Orders placed today, cancelled ones left out.
    orders: u64,
    /// Their gross, per currency (`123.00 EUR`).
    sales: Vec<String>,
}

struct LowStockRow {
    sku: String,
    available: i64,
    threshold: i64,
    out: bool,
}

impl LowStockRow {
    fn new(stock: &SkuStock) -> LowStockRow {
        LowStockRow {
            sku: stock.sku.clone(),
            available: stock.available,
            threshold: stock.low_stock_threshold.unwrap_or_default(),
            out: stock.available <= 0,
        }
    }
}

#[derive(Template)]
#[template(path = "backoffice/dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    can_see_orders: bool,
    can_see_sales: bool,
    /// `None` when reporting did not answer.
    today: Option<Today>,
    recent: Option<Vec<OrderView>>,
    can_see_stock: bool,
    /// `None` when inventory did not answer.
    low_stock: Option<Vec<LowStockRow>>,
    low_stock_total: u64,
}

async fn today(state: &WebState, session: &Session) -> Option<Today> {
    let found = match reports::today(state, &session.ctx).await {
        Ok(found) => found,
        Err(error) => {
            tracing::warn!(%error, correlation_id = %session.ctx.correlation_id, "the dashboard could not read today's orders");
            return None;
        }
    };
    let mut by_currency: BTreeMap<&str, Money> = BTreeMap::new();
    for sale in &found.sales {
        let total = by_currency.entry(sale.currency.code()).or_insert(Money::zero(sale.currency));
        total.amount = total.amount.saturating_add(sale.gross);
    }
    let mut sales: Vec<String> = by_currency.values().map(Money::to_string).collect();
    if sales.is_empty() {
        sales.push(match shop(state).await {
            Ok(shop) => Money::zero(shop.currency).to_string(),
            Err(_) => "0".to_string(),
        });
    }
    Some(Today { orders: found.sales.iter().map(|s| s.orders).sum(), sales })
}

pub async fn show(State(state): State<WebState>, session: Session) -> PageResult {
    let chrome = match staff(&state, &session, None, "/").await {
        Ok(chrome) => chrome,
        Err(response) => return Ok(response),
    };
    let can_see_orders = session.can(Permission::OrdersRead);
    // Today's figures come from reporting (online orders and till sales), as the reports do.
    let can_see_sales = session.can(Permission::ReportsRead);
    let can_see_stock = session.can(Permission::InventoryRead);
    let ctx = &session.ctx;
    let latest = async {
        if !can_see_orders {
            return None;
        }
        let page = PageRequest { page: 1, per_page: 10 };
        match state.ordering.search_orders(ctx, OrderFilter::default(), page).await {
            Ok(found) => Some(found.items.into_iter().map(OrderView::new).collect()),
            Err(error) => {
                tracing::warn!(%error, correlation_id = %ctx.correlation_id, "the dashboard could not read the latest orders");
                None
            }
        }
    };
    let low = async {
        if !can_see_stock {
            return None;
        }
        let page = PageRequest { page: 1, per_page: LOW_STOCK_SHOWN };
        match state.inventory.low_stock(ctx, page).await {
            Ok(found) => Some((found.items.iter().map(LowStockRow::new).collect::<Vec<_>>(), found.total)),
            Err(error) => {
                tracing::warn!(%error, correlation_id = %ctx.correlation_id, "the dashboard could not read low stock");
                None
            }
        }
    };
    let today = async { if can_see_sales { today(&state, &session).await } else { None } };
    let (today, recent, low) = tokio::join!(today, latest, low);
    let low_stock_total = low.as_ref().map_or(0, |(_, total)| *total);
    Ok(render(&DashboardPage {
        chrome,
        can_see_orders,
        can_see_sales,
        today,
        recent,
        can_see_stock,
        low_stock: low.map(|(rows, _)| rows),
        low_stock_total,
    }))
}
