use std::sync::Arc;

use async_trait::async_trait;
use comptoir_contracts::admin::AdminPort;
use comptoir_contracts::audit::AuditPort;
use comptoir_contracts::billing::BillingPort;
use comptoir_contracts::cart::CartPort;
use comptoir_contracts::catalog::CatalogPort;
use comptoir_contracts::identity::{IdentityPort, Principal};
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
use comptoir_eventbus::{DeadLetterOffice, EventBus};
use comptoir_kernel::Result;
use comptoir_storage::Db;

use crate::idempotency::IdempotencyStore;
use crate::maintenance::ShopSettingsCache;

/// A dependency `/readyz` reports on.
#[async_trait]
pub trait Probe: Send + Sync {
    fn name(&self) -> String;
    async fn check(&self) -> Result<()>;
}

/// A module database is ready when it answers a query.
pub struct DbProbe(pub Db);

#[async_trait]
impl Probe for DbProbe {
    fn name(&self) -> String {
        format!("database:{}", self.0.module())
    }
    async fn check(&self) -> Result<()> {
        self.0.ping().await
    }
}

/// Who is calling: turns a bearer token or an API key into a principal. In process it is the
/// identity port itself; a gateway caches the answers of the remote identity service.
#[async_trait]
pub trait Authenticator: Send + Sync {
    async fn bearer(&self, token: &str) -> Result<Principal>;
    async fn api_key(&self, key: &str) -> Result<Principal>;
    /// A change made through this process (logout, a key revoked, a customer's tier changed)
    /// takes effect here at once: forget what was cached for it. Other instances learn it from
    /// identity's events.
    fn forget_session(&self, _session_id: uuid::Uuid) {}
    fn forget_api_key(&self, _key_id: uuid::Uuid) {}
    fn forget_user(&self, _user_id: uuid::Uuid) {}
}

/// Asks the identity port every time.
pub struct IdentityAuthenticator(pub Arc<dyn IdentityPort>);

#[async_trait]
impl Authenticator for IdentityAuthenticator {
    async fn bearer(&self, token: &str) -> Result<Principal> {
        self.0.authenticate_token(token).await
    }
    async fn api_key(&self, key: &str) -> Result<Principal> {
        self.0.authenticate_api_key(key).await
    }
}

/// Everything the handlers use: the modules' ports, never their internals.
#[derive(Clone)]
pub struct ApiState {
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
    /// Read by admins; written through [`audit_trail`](Self::audit_trail).
    pub audit: Arc<dyn AuditPort>,
    /// Where this front-end's audit entries queue on their way to the audit module.
    pub audit_trail: Arc<crate::audit::AuditTrail>,
    /// The admin settings as the API acts on them (maintenance mode), read at most every few seconds.
    pub shop_settings: Arc<ShopSettingsCache>,
    pub bus: Arc<dyn EventBus>,
    pub dead_letters: DeadLetterOffice,
    pub probes: Vec<Arc<dyn Probe>>,
    pub idempotency: IdempotencyStore,
    pub rate_limiter: Arc<crate::rate_limit::RateLimiter>,
    pub settings: ApiSettings,
}

#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    pub request_timeout: std::time::Duration,
}

impl Default for ApiSettings {
    fn default() -> Self {
        ApiSettings { body_limit: 1024 * 1024, request_timeout: std::time::Duration::from_secs(30) }
    }
}
