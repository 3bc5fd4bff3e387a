//! Maintenance mode: while the admin settings say so, the shop answers 503 with `Retry-After` to
//! everyone but staff, so that a migration or a stocktake can run while the back office works.
//!
//! The settings are read through a short cache ([`ShopSettingsCache`]): a gateway does not call
//! the admin service per request, and an admin service that is down leaves the shop as it was last
//! seen (open when it was never seen) rather than closing it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use comptoir_contracts::admin::{AdminPort, ShopSettings};
use comptoir_contracts::identity::Principal;
use comptoir_kernel::RequestContext;

use crate::context;
use crate::problem;
use crate::state::ApiState;

/// The settings as last read from admin, refreshed at most once per `ttl`.
pub struct ShopSettingsCache {
    admin: Arc<dyn AdminPort>,
    ttl: Duration,
    seen: Mutex<Seen>,
    /// One refresh at a time: the requests arriving meanwhile wait for it rather than each asking.
    refreshing: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Seen {
    settings: Option<Arc<ShopSettings>>,
    /// When admin was last asked, whatever it answered.
    asked_at: Option<Instant>,
}

impl ShopSettingsCache {
    pub fn new(admin: Arc<dyn AdminPort>, ttl: Duration) -> Self {
        ShopSettingsCache { admin, ttl, seen: Mutex::default(), refreshing: tokio::sync::Mutex::new(()) }
    }

    /// The settings, at most `ttl` old; the last ones seen when admin cannot answer; `None` when
    /// it never could.
    pub async fn current(&self) -> Option<Arc<ShopSettings>> {
        if let Some(fresh) = self.fresh() {
            return fresh;
        }
        let _refresh = self.refreshing.lock().await;
        if let Some(fresh) = self.fresh() {
            return fresh;
        }
        match self.admin.settings(&RequestContext::system()).await {
            Ok(settings) => Some(self.remember(settings)),
            Err(error) => {
                tracing::warn!(%error, "could not read the shop settings; keeping the last ones seen");
                let mut seen = self.seen.lock().expect("settings cache poisoned");
                seen.asked_at = Some(Instant::now());
                seen.settings.clone()
            }
        }
    }

    /// Takes settings just written through this process, so that it acts on them at once.
    pub fn remember(&self, settings: ShopSettings) -> Arc<ShopSettings> {
        let mut seen = self.seen.lock().expect("settings cache poisoned");
        seen.asked_at = Some(Instant::now());
        // An answer that raced with a newer write must not bring older settings back.
        match &seen.settings {
            Some(known) if known.version > settings.version => known.clone(),
            _ => {
                let settings = Arc::new(settings);
                seen.settings = Some(settings.clone());
                settings
            }
        }
    }

    /// `Some` with what is known when it is recent enough, `None` when admin must be asked.
    fn fresh(&self) -> Option<Option<Arc<ShopSettings>>> {
        let seen = self.seen.lock().expect("settings cache poisoned");
        let recent = seen.asked_at.is_some_and(|at| at.elapsed() < self.ttl);
        recent.then(|| seen.settings.clone())
    }
}

/// Paths that stay open during maintenance: outside the API (health, metrics, the OpenAPI
/// document), the shop's public settings (the storefront shows the maintenance message), staff
/// login and the back office, tokens being refreshed or revoked, and providers' webhooks (payments
/// and parcels in flight must still be recorded).
fn stays_open(path: &str) -> bool {
    let Some(api_path) = path.strip_prefix("/api/v1/") else { return true };
    api_path == "shop"
        || api_path == "auth/refresh"
        || api_path == "auth/logout"
        || ["staff/", "admin/", "webhooks/"].iter().any(|prefix| api_path.starts_with(prefix))
}

/// Closes the shop to everyone but staff and applications while maintenance mode is on.
pub async fn gate(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    if stays_open(req.uri().path()) {
        return next.run(req).await;
    }
    let Some(settings) = state.shop_settings.current().await.filter(|s| s.maintenance_mode) else {
        return next.run(req).await;
    };
    let staff = matches!(
        context::principal_of(&state, req.headers()).await,
        Some(Principal::Staff { .. } | Principal::App { .. })
    );
    if staff {
        return next.run(req).await;
    }
    closed(&settings)
}

fn closed(settings: &ShopSettings) -> Response {
    let detail = match settings.maintenance_message.is_empty() {
        true => format!("{} is closed for maintenance; please come back later", settings.shop_name),
        false => settings.maintenance_message.clone(),
    };
    let mut response = problem::problem_response(StatusCode::SERVICE_UNAVAILABLE, "maintenance", detail, vec![]);
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(settings.maintenance_retry_after_secs));
    response
}

#[cfg(test)]
mod tests {
    use super::stays_open;

    #[test]
    fn the_back_office_and_operations_stay_open_the_shop_does_not() {
        for open in [
            "/healthz",
            "/readyz",
            "/metrics",
            "/openapi.json",
            "/api/v1/shop",
            "/api/v1/staff/auth/login",
            "/api/v1/admin/settings",
            "/api/v1/admin/products",
            "/api/v1/webhooks/payments/test",
            "/api/v1/auth/refresh",
        ] {
            assert!(stays_open(open), "{open}");
        }
        for closed in [
            "/api/v1/products",
            "/api/v1/checkout",
            "/api/v1/auth/register",
            "/api/v1/auth/login",
            "/api/v1/me",
            "/api/v1/shopping",
        ] {
            assert!(!stays_open(closed), "{closed}");
        }
    }
}
