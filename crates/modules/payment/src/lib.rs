//! Payment owns payments: each charge attempt of an order, authorised then captured through a
//! provider (the built-in `test` provider, `cash` at a point of sale, real PSPs later behind the
//! same [`PaymentProvider`] interface), the refunds taken from it, and the providers' signed
//! webhooks. Card tokens go to the provider and nowhere else: only the provider's reference is
//! kept. Charges and refunds are idempotent by the caller's key, and refunds never exceed what was
//! captured, whatever the concurrency.
//!
//! Publishes `payment.charge.succeeded`, `payment.charge.failed` and `payment.refund.completed`
//! (also for refunds the provider reports by webhook). Consumes no events: the ordering saga calls
//! the port.

mod domain;
mod provider;
mod service;
mod store;

use std::fmt;
use std::sync::Arc;

use comptoir_storage::{Db, Migrations};

pub use domain::{WEBHOOK_TOLERANCE_SECONDS, sign_webhook};
pub use provider::{Authorization, CashProvider, PaymentProvider, TestProvider};

/// The schema is plain enough to be the same SQL on SQLite and PostgreSQL.
const SCHEMA: &[(i64, &str, &str)] = &[(1, "payment", include_str!("../migrations/portable/0001_payment.sql"))];

pub const MIGRATIONS: Migrations = Migrations { sqlite: SCHEMA, postgres: SCHEMA };

#[derive(Clone)]
pub struct PaymentConfig {
    /// The HMAC-SHA256 key providers sign their webhooks with. Empty: every webhook is refused.
    pub webhook_secret: String,
}

impl fmt::Debug for PaymentConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The secret must not reach logs.
        let secret = if self.webhook_secret.is_empty() { "<empty>" } else { "<redacted>" };
        f.debug_struct("PaymentConfig").field("webhook_secret", &secret).finish()
    }
}

/// The payment module; cheap to clone.
#[derive(Clone)]
pub struct PaymentModule {
    db: Db,
    providers: Arc<[Arc<dyn PaymentProvider>]>,
    webhook_secret: Arc<str>,
}

impl PaymentModule {
    /// With the built-in providers, `test` and `cash`.
    pub fn new(db: Db, config: PaymentConfig) -> Self {
        Self::with_providers(db, config, vec![Arc::new(TestProvider), Arc::new(CashProvider)])
    }

    /// With these providers instead of the built-in ones. When two share a name, the first counts.
    pub fn with_providers(db: Db, config: PaymentConfig, providers: Vec<Arc<dyn PaymentProvider>>) -> Self {
        PaymentModule { db, providers: providers.into(), webhook_secret: config.webhook_secret.into() }
    }

    /// The names payments can be made with, in configuration order.
    pub fn provider_names(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = Vec::with_capacity(self.providers.len());
        for p in self.providers.iter() {
            if !names.contains(&p.name()) {
                names.push(p.name());
            }
        }
        names
    }

    fn provider(&self, name: &str) -> Option<&Arc<dyn PaymentProvider>> {
        self.providers.iter().find(|p| p.name() == name)
    }
}
