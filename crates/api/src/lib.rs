//! The public REST API of Comptoir, under `/api/v1`.
//!
//! Handlers are thin: they read the request, check the caller's permission and call a module's
//! port. They never touch a module's storage. Cross-cutting concerns live in layers: correlation
//! ids, request metrics, idempotency keys, body limits, timeouts and panics turned into problems.
//! The OpenAPI document is generated from the handlers' annotations and served at `/openapi.json`.

pub mod audit;
pub mod context;
pub mod csv_export;
pub mod extract;
pub mod idempotency;
pub mod maintenance;
pub mod observability;
pub mod problem;
pub mod rate_limit;
mod routes;
pub mod state;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::response::IntoResponse;
use tower_http::catch_panic::CatchPanicLayer;
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use idempotency::{IdempotencyStore, MIGRATIONS as IDEMPOTENCY_MIGRATIONS};
pub use state::{ApiSettings, ApiState, Authenticator, DbProbe, IdentityAuthenticator, Probe};

#[derive(OpenApi)]
#[openapi(
    info(title = "Comptoir API", description = "The commerce backbone: identity, catalog, inventory, cart, checkout, payment, billing, shipping, notification, search, recommendations, reporting, webhooks, point of sale, audit and the shop's settings."),
    modifiers(&SecuritySchemes),
    tags(
        (name = "auth", description = "Registration, login, tokens"),
        (name = "account", description = "The logged-in customer's profile and addresses"),
        (name = "catalog", description = "Public catalog: published products, categories, collections"),
        (name = "search", description = "Product search with typo tolerance, facets and suggestions; similar products"),
        (name = "recommendations", description = "Products frequently bought together, for a product or a cart"),
        (name = "cart", description = "Anonymous and customer carts"),
        (name = "checkout", description = "Shipping quotes and the checkout saga"),
        (name = "admin: customers", description = "Staff: customers, staff accounts, sellers, API keys"),
        (name = "admin: catalog", description = "Staff: products, variants, prices, categories, collections"),
        (name = "admin: inventory", description = "Staff: locations, stock, movements, reservations"),
        (name = "admin: orders", description = "Staff: orders, refunds, returns, payments, invoices, shipments"),
        (name = "admin: fulfilment", description = "Staff: tax rules, invoices, shipping zones and methods, tracking, the mailbox"),
        (name = "admin: search", description = "Staff: rebuilding the search index and the recommendations, the index's status"),
        (name = "admin: webhooks", description = "Staff: third-party apps' webhook subscriptions, delivery log, redelivery"),
        (name = "admin: reports", description = "Staff: sales by day, channel, product, category and seller; refunds; stock value; cart conversion; CSV"),
        (name = "point of sale", description = "A store's till: scanning, cash and card sales, receipts, returns"),
        (name = "admin: audit", description = "Admins: staff actions and security events"),
        (name = "admin: operations", description = "Staff: dead-lettered events"),
        (name = "admin: settings", description = "Staff: the shop's name, default channel and currency, maintenance mode"),
        (name = "shop", description = "The shop's public settings"),
        (name = "webhooks", description = "Signed callbacks from payment providers and carriers"),
        (name = "operations", description = "Health, readiness, metrics"),
    )
)]
struct ApiDoc;

struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
        components
            .add_security_scheme("api_key", SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Api-Key"))));
    }
}

fn api_routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .merge(routes::auth::routes())
        .merge(routes::account::routes())
        .merge(routes::catalog::routes())
        .merge(routes::search::routes())
        .merge(routes::recommendations::routes())
        .merge(routes::carts::routes())
        .merge(routes::admin_identity::routes())
        .merge(routes::admin_catalog::routes())
        .merge(routes::admin_inventory::routes())
        .merge(routes::admin_operations::routes())
        .merge(routes::admin_webhooks::routes())
        .merge(routes::reporting::routes())
        .merge(routes::pos::routes())
        .merge(routes::audit::routes())
        .merge(routes::orders::routes())
        .merge(routes::admin_orders::routes())
        .merge(routes::admin_fulfilment::routes())
        .merge(routes::webhooks::routes())
        .merge(routes::shop::routes())
}

/// The OpenAPI document, as served at `/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, doc) = full_router().split_for_parts();
    doc
}

fn full_router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", api_routes())
        .routes(routes!(observability::healthz))
        .routes(routes!(observability::readyz))
        .routes(routes!(observability::metrics_endpoint))
}

/// The whole HTTP application.
pub fn router(state: ApiState) -> Router {
    observability::prometheus();
    let (router, doc) = full_router().split_for_parts();
    let doc = std::sync::Arc::new(doc);
    let settings = state.settings.clone();
    router
        .route(
            "/openapi.json",
            axum::routing::get(move || async move { axum::Json(doc.as_ref().clone()).into_response() }),
        )
        .fallback(problem::not_found_fallback)
        .method_not_allowed_fallback(problem::method_not_allowed_fallback)
        .layer(middleware::from_fn_with_state(state.clone(), idempotency::idempotency))
        .layer(middleware::from_fn_with_state(state.clone(), maintenance::gate))
        .layer(middleware::from_fn_with_state(state.clone(), rate_limit::limit_by_ip))
        .layer(middleware::from_fn_with_state(
            audit::AuditLayer { trail: state.audit_trail.clone(), source: "api" },
            audit::record_requests,
        ))
        .layer(middleware::from_fn(observability::track_requests))
        .layer(DefaultBodyLimit::max(settings.body_limit))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            settings.request_timeout,
        ))
        .layer(CatchPanicLayer::custom(|_| {
            problem::ApiError(comptoir_kernel::Error::internal("a handler panicked")).into_response()
        }))
        .layer(middleware::from_fn(context::correlation))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    /// The whole public contract in one reviewed file: any change to a route, a schema or a
    /// status shows up as a diff of `src/snapshots/`. Accept intended changes with
    /// `INSTA_UPDATE=always cargo test -p comptoir-api` (or `cargo insta review`).
    #[test]
    fn the_openapi_document_is_reviewed() {
        insta::assert_json_snapshot!("openapi", super::openapi());
    }
}
