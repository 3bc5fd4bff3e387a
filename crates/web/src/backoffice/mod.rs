//! The back office (port 9010): staff sign in and run the shop. Every page names the permission
//! it needs; the navigation shows only what the staff member's roles allow, and a page opened
//! without the permission answers 403 (a support agent never sees the shop's settings).

mod api_keys;
mod audit;
mod auth;
mod catalogue;
mod customers;
mod dashboard;
mod fulfilment;
mod operations;
mod orders;
mod products;
mod reports;
mod settings;
mod stock;
mod till;
mod webhooks;

use axum::Router;
use axum::response::Response;
use axum::routing::{get, post};
use comptoir_contracts::identity::Permission;
use comptoir_kernel::Error;

use crate::WebState;
use crate::session::{Flash, Session};
use crate::view::PageError;

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/login", get(auth::login_page).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/", get(dashboard::show))
        .merge(orders::routes())
        .merge(products::routes())
        .merge(catalogue::routes())
        .merge(stock::routes())
        .merge(customers::routes())
        .merge(reports::routes())
        .merge(till::routes())
        .merge(fulfilment::routes())
        .merge(operations::routes())
        .merge(api_keys::routes())
        .merge(webhooks::routes())
        .merge(audit::routes())
        .merge(settings::routes())
}

/// A link of the navigation, shown to those holding its permission.
pub struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// The back office's sections and who sees them (the dashboard is for every staff member).
const NAVIGATION: [(&str, &str, Option<Permission>); 16] = [
    ("/", "Dashboard", None),
    ("/orders", "Orders", Some(Permission::OrdersRead)),
    ("/products", "Products", Some(Permission::CatalogRead)),
    ("/catalogue", "Categories & sellers", Some(Permission::CatalogRead)),
    ("/stock", "Stock", Some(Permission::InventoryRead)),
    ("/customers", "Customers", Some(Permission::CustomersRead)),
    ("/till", "Till", Some(Permission::PosSell)),
    ("/reports/sales", "Reports", Some(Permission::ReportsRead)),
    ("/tax-rules", "Tax rules", Some(Permission::BillingManage)),
    ("/shipping", "Shipping", Some(Permission::ShippingManage)),
    ("/mailbox", "Mailbox", Some(Permission::MessagesRead)),
    ("/dead-letters", "Dead letters", Some(Permission::EventsManage)),
    ("/api-keys", "API keys", Some(Permission::ApiKeysManage)),
    ("/webhooks", "Webhooks", Some(Permission::EventsManage)),
    ("/audit", "Audit log", Some(Permission::AuditRead)),
    ("/settings", "Settings", Some(Permission::SettingsManage)),
];

/// What every back-office page shows around its content.
pub struct Chrome {
    pub shop_name: String,
    pub csrf: String,
    pub email: String,
    pub nav: Vec<NavItem>,
    pub flash: Option<Flash>,
}

/// The signed-in staff member holding `permission`, with the page's frame; otherwise the login
/// page (not signed in) or a 403 page naming what is missing.
pub async fn staff(
    state: &WebState,
    session: &Session,
    permission: Option<Permission>,
    here: &'static str,
) -> Result<Chrome, Response> {
    use axum::response::IntoResponse;
    let Some(principal) = &session.principal else {
        return Err(axum::response::Redirect::to("/login").into_response());
    };
    if let Err(error) = permission.map_or(Ok(()), |p| principal.require(p)) {
        return Err(PageError(error).into_response());
    }
    let shop_name = match state.shop_settings.current().await {
        Some(settings) => settings.shop_name.clone(),
        None => return Err(PageError(Error::unavailable("the shop's settings cannot be read")).into_response()),
    };
    Ok(Chrome {
        shop_name,
        csrf: session.csrf.clone(),
        email: session.email().unwrap_or_default().to_string(),
        nav: NAVIGATION
            .iter()
            .filter(|(_, _, needs)| needs.is_none_or(|p| principal.has(p)))
            .map(|(href, label, _)| NavItem { href, label, current: *href == here })
            .collect(),
        flash: session.flash.clone(),
    })
}
