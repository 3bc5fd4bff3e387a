//! The two faces of the shop, rendered on the server: the **storefront** customers buy from (port
//! 9000) and the **back office** staff run the shop from (port 9010).
//!
//! Like the REST API, the pages talk to the modules only through their ports, so they work the same
//! in the monolith and in front of the services. Every page works without JavaScript; htmx, served
//! from here, only makes some of them livelier. Cross-cutting protections live in layers every
//! route passes through: CSRF checks on every form post, security headers, session cookies that are
//! HTTP-only, SameSite and Secure, panics and timeouts turned into an error page.

mod backoffice;
mod form;
mod present;
mod security;
mod session;
mod storefront;
mod view;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use comptoir_api::audit::AuditLayer;
use comptoir_api::maintenance::ShopSettingsCache;
use comptoir_api::{Authenticator, Probe};
use comptoir_contracts::admin::AdminPort;
use comptoir_contracts::audit::AuditPort;
use comptoir_contracts::billing::BillingPort;
use comptoir_contracts::cart::CartPort;
use comptoir_contracts::catalog::CatalogPort;
use comptoir_contracts::identity::IdentityPort;
use comptoir_contracts::inventory::InventoryPort;
use comptoir_contracts::notification::NotificationPort;
use comptoir_contracts::ordering::OrderingPort;
use comptoir_contracts::payment::PaymentPort;
use comptoir_contracts::pos::PosPort;
use comptoir_contracts::recommendations::RecommendationsPort;
use comptoir_contracts::reporting::ReportingPort;
use comptoir_contracts::search::SearchPort;
use comptoir_contracts::shipping::ShippingPort;
use comptoir_contracts::webhooks::WebhooksPort;
use comptoir_eventbus::DeadLetterOffice;
use tower_http::catch_panic::CatchPanicLayer;

/// What the pages use: the modules' ports, never their internals.
#[derive(Clone)]
pub struct WebState {
    pub identity: Arc<dyn IdentityPort>,
    pub authenticator: Arc<dyn Authenticator>,
    pub catalog: Arc<dyn CatalogPort>,
    pub inventory: Arc<dyn InventoryPort>,
    pub cart: Arc<dyn CartPort>,
    pub ordering: Arc<dyn OrderingPort>,
    pub payment: Arc<dyn PaymentPort>,
    pub billing: Arc<dyn BillingPort>,
    pub shipping: Arc<dyn ShippingPort>,
    pub notification: Arc<dyn NotificationPort>,
    pub admin: Arc<dyn AdminPort>,
    pub search: Arc<dyn SearchPort>,
    pub webhooks: Arc<dyn WebhooksPort>,
    pub recommendations: Arc<dyn RecommendationsPort>,
    pub reporting: Arc<dyn ReportingPort>,
    pub pos: Arc<dyn PosPort>,
    pub audit: Arc<dyn AuditPort>,
    /// Where the back office's audit entries (staff actions, failed sign-ins, denials) queue.
    pub audit_trail: Arc<comptoir_api::audit::AuditTrail>,
    pub shop_settings: Arc<ShopSettingsCache>,
    pub dead_letters: DeadLetterOffice,
    pub probes: Vec<Arc<dyn Probe>>,
    /// The event bus provider's name, for `/readyz`.
    pub event_bus: String,
    pub settings: WebSettings,
}

#[derive(Debug, Clone)]
pub struct WebSettings {
    /// Marks session cookies `Secure` (sent over HTTPS only; browsers also accept them from
    /// `http://localhost`). Turn off only to serve plain HTTP on another host while trying things out.
    pub secure_cookies: bool,
    /// Largest accepted form, in bytes.
    pub body_limit: usize,
    pub request_timeout: Duration,
}

impl Default for WebSettings {
    fn default() -> Self {
        WebSettings { secure_cookies: true, body_limit: 256 * 1024, request_timeout: Duration::from_secs(30) }
    }
}

/// The storefront: catalog, cart, checkout and the customer's account.
pub fn storefront(state: WebState) -> Router {
    let routes =
        storefront::routes().route_layer(middleware::from_fn_with_state(state.clone(), storefront::maintenance));
    finish(routes, state, session::App::Storefront)
}

/// The back office: staff only, each page behind the permission it needs.
pub fn backoffice(state: WebState) -> Router {
    finish(backoffice::routes(), state, session::App::BackOffice)
}

/// The layers every page passes through, outermost last.
fn finish(routes: Router<WebState>, state: WebState, app: session::App) -> Router {
    comptoir_api::observability::prometheus();
    let operations = comptoir_api::observability::operations_router(state.probes.clone(), state.event_bus.clone());
    let settings = state.settings.clone();
    let routes = routes
        .route("/static/{file}", axum::routing::get(view::static_file))
        .fallback(view::not_found)
        .layer(middleware::from_fn_with_state(state.clone(), session::load));
    // Outside the session layer, which tells it who the staff member is.
    let routes = match app {
        session::App::BackOffice => routes.layer(middleware::from_fn_with_state(
            AuditLayer { trail: state.audit_trail.clone(), source: "backoffice" },
            comptoir_api::audit::record_requests,
        )),
        session::App::Storefront => routes,
    };
    routes
        .layer(middleware::from_fn_with_state(state.clone(), security::csrf))
        .layer(axum::Extension(app))
        .layer(middleware::from_fn(comptoir_api::observability::track_requests))
        .layer(DefaultBodyLimit::max(settings.body_limit))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            settings.request_timeout,
        ))
        .layer(CatchPanicLayer::custom(|_| view::error_page(comptoir_kernel::Error::internal("a page panicked"))))
        .layer(middleware::from_fn(security::headers))
        .with_state(state)
        .merge(operations)
        .layer(middleware::from_fn(comptoir_api::context::correlation))
}

/// A response that is always HTML, for handlers that may fail.
pub(crate) type PageResult = Result<axum::response::Response, view::PageError>;
