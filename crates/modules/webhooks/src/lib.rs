//! Webhooks owns the URLs third-party applications subscribe to Comptoir's events, and their
//! deliveries. Every event on the bus reaches the consumer `webhooks.deliveries` (pattern `#`),
//! which records, in the unit of work that claims the event, one pending delivery per enabled
//! subscription whose patterns match its type. The dispatcher ([`WebhooksModule::run_dispatcher`])
//! POSTs due deliveries, signed with the subscription's secret (`Comptoir-Signature`), logs each
//! attempt, retries failures on a backoff schedule, and disables a subscription whose endpoint
//! keeps failing (announcing it with `webhook.subscription.disabled`). Staff manage subscriptions,
//! read deliveries and redeliver through the [`WebhooksPort`](comptoir_contracts::webhooks::WebhooksPort).
//!
//! Publishes `webhook.subscription.created`, `.updated` (also on secret rotation), `.deleted` and
//! `.disabled`. The signing secret is shown once, at creation and rotation, and is never part of
//! an event or a log line.

mod consumers;
mod dispatcher;
pub mod domain;
mod sender;
mod service;
mod store;

use std::sync::Arc;
use std::time::Duration;

use comptoir_eventbus::Consumer;
use comptoir_storage::{Db, Migrations};
use tokio::sync::Notify;

pub use consumers::DELIVERIES;

/// The schema is plain enough to be the same SQL on SQLite and PostgreSQL.
const SCHEMA: &[(i64, &str, &str)] = &[(1, "webhooks", include_str!("../migrations/portable/0001_webhooks.sql"))];

pub const MIGRATIONS: Migrations = Migrations { sqlite: SCHEMA, postgres: SCHEMA };

#[derive(Debug, Clone)]
pub struct WebhooksConfig {
    /// Accept `http://` endpoints (development, tests); otherwise only `https://`.
    pub allow_http: bool,
    /// Accept endpoints on loopback or private networks (`localhost`, `10.0.0.0/8`, ...), by
    /// address or by what their name resolves to. Off in production: a subscription could reach
    /// internal services.
    pub allow_private_hosts: bool,
    /// The deadline of one attempt: connecting, sending and reading the answer.
    pub timeout: Duration,
    /// The wait before each automatic retry; a delivery is attempted once more than there are
    /// delays, then failed.
    pub retry_delays: Vec<Duration>,
    /// Consecutive failed attempts that disable a subscription; 0: never on the count.
    pub disable_after_failures: u32,
    /// How long a subscription's attempts may keep failing before it is disabled; zero: never
    /// on the time.
    pub disable_after_failing_for: Duration,
    /// How long the secret replaced by a rotation still signs deliveries (a second `v1`).
    pub secret_grace: Duration,
    /// Deliveries sent at once by one dispatcher.
    pub concurrency: usize,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        WebhooksConfig {
            allow_http: false,
            allow_private_hosts: false,
            timeout: Duration::from_secs(10),
            retry_delays: [30, 120, 600, 3600, 6 * 3600].into_iter().map(Duration::from_secs).collect(),
            disable_after_failures: 20,
            disable_after_failing_for: Duration::from_secs(3 * 24 * 3600),
            secret_grace: Duration::from_secs(24 * 3600),
            concurrency: 8,
        }
    }
}

/// The webhooks module; cheap to clone.
#[derive(Clone)]
pub struct WebhooksModule {
    db: Db,
    config: Arc<WebhooksConfig>,
    sender: sender::Sender,
    /// Woken when the consumer records deliveries, so that the dispatcher sends them at once.
    wake: Arc<Notify>,
}

impl WebhooksModule {
    pub fn new(db: Db, config: WebhooksConfig) -> Self {
        let sender = sender::Sender::new(config.timeout, domain_policy(&config));
        WebhooksModule { db, config: Arc::new(config), sender, wake: Arc::new(Notify::new()) }
    }

    /// The event consumers to subscribe on the bus.
    pub fn consumers(&self) -> Vec<Consumer> {
        let handler = Arc::new(consumers::Deliveries { module: self.clone() });
        vec![Consumer::new(DELIVERIES, &["#"], self.db.clone(), handler)]
    }

    fn url_policy(&self) -> domain::UrlPolicy {
        domain_policy(&self.config)
    }
}

fn domain_policy(config: &WebhooksConfig) -> domain::UrlPolicy {
    domain::UrlPolicy { allow_http: config.allow_http, allow_private_hosts: config.allow_private_hosts }
}
