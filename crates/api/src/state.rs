use std::sync::Arc;

use async_trait::async_trait;
use comptoir_contracts::billing::BillingPort;
use comptoir_contracts::cart::CartPort;
use comptoir_contracts::catalog::CatalogPort;
use comptoir_contracts::identity::IdentityPort;
use comptoir_contracts::inventory::InventoryPort;
use comptoir_contracts::notification::NotificationPort;
use comptoir_contracts::ordering::OrderingPort;
use comptoir_contracts::payment::PaymentPort;
use comptoir_contracts::shipping::ShippingPort;
use comptoir_eventbus::{DeadLetterOffice, EventBus};
use comptoir_kernel::Result;
use comptoir_storage::Db;

use crate::idempotency::IdempotencyStore;

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

/// Everything the handlers use: the modules' ports, never their internals.
#[derive(Clone)]
pub struct ApiState {
    pub identity: Arc<dyn IdentityPort>,
    pub catalog: Arc<dyn CatalogPort>,
    pub inventory: Arc<dyn InventoryPort>,
    pub cart: Arc<dyn CartPort>,
    pub ordering: Arc<dyn OrderingPort>,
    pub payment: Arc<dyn PaymentPort>,
    pub billing: Arc<dyn BillingPort>,
    pub shipping: Arc<dyn ShippingPort>,
    pub notification: Arc<dyn NotificationPort>,
    pub bus: Arc<dyn EventBus>,
    pub dead_letters: DeadLetterOffice,
    pub probes: Vec<Arc<dyn Probe>>,
    pub idempotency: IdempotencyStore,
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
