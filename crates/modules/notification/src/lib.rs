//! Notification owns the messages Comptoir writes to customers and to the merchant: the mailbox
//! (every message written, whatever became of its delivery), customers' marketing preferences, and
//! a small projection of orders (id → number, email, customer) so that shipping events, which carry
//! no address, can be sent to the right person. Messages are plain text, written from the templates
//! in [`templates`] with the shop's name. With SMTP configured they are sent after the unit of work
//! that stored them commits; without it they stay in the mailbox, where staff can read them.
//!
//! Consumes `auth.user.registered` (consumer `notification.welcome`), `order.order.placed`,
//! `order.checkout.completed`, `order.order.cancelled` and `order.order.refunded`
//! (`notification.orders`), `shipping.shipment.shipped` (`notification.shipments`) and
//! `inventory.stock.low` (`notification.stock-alerts`), `webhook.subscription.disabled`
//! (`notification.webhook-alerts`), and `admin.settings.updated`
//! (`notification.shop`: messages are signed with the shop's name as staff last set it). Publishes `notification.message.sent` when
//! a message reaches the mailbox or the SMTP server, and `notification.preferences.changed`.

mod consumers;
mod domain;
mod mailer;
mod service;
mod store;
pub mod templates;

use std::fmt;
use std::sync::Arc;

use comptoir_contracts::admin::events as admin;
use comptoir_contracts::identity::events as identity;
use comptoir_contracts::inventory::events as inventory;
use comptoir_contracts::ordering::events as ordering;
use comptoir_contracts::shipping::events as shipping;
use comptoir_contracts::webhooks::events as webhooks;
use comptoir_eventbus::Consumer;
use comptoir_storage::{Db, Migrations};

pub use consumers::{ORDERS, SHIPMENTS, SHOP_NAME, STOCK_ALERTS, WEBHOOK_ALERTS, WELCOME};

/// The schema is plain enough to be the same SQL on SQLite and PostgreSQL.
const SCHEMA: &[(i64, &str, &str)] = &[
    (1, "notification", include_str!("../migrations/portable/0001_notification.sql")),
    (2, "shop", include_str!("../migrations/portable/0002_shop.sql")),
];

pub const MIGRATIONS: Migrations = Migrations { sqlite: SCHEMA, postgres: SCHEMA };

#[derive(Debug, Clone)]
pub struct NotificationConfig {
    /// Signs every message and prefixes merchant alerts, until admin announces another name.
    pub shop_name: String,
    /// The sender address (`Comptoir <shop@example.com>` or a bare address).
    pub from: String,
    /// Receives merchant alerts (low stock).
    pub merchant_email: String,
    /// `None`: messages are kept in the mailbox only.
    pub smtp: Option<SmtpConfig>,
}

/// A plain SMTP relay, without TLS: credentials, if any, cross the network in clear, so point it at
/// a relay on the same host or network.
#[derive(Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
}

// Written by hand so that configuration dumps and logs never show the password.
impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .finish()
    }
}

/// The notification module; cheap to clone.
#[derive(Clone)]
pub struct NotificationModule {
    db: Db,
    config: Arc<NotificationConfig>,
    /// Present when SMTP is configured.
    mailer: Option<Arc<mailer::Mailer>>,
}

impl NotificationModule {
    pub fn new(db: Db, config: NotificationConfig) -> Self {
        let mailer = config.smtp.as_ref().map(|smtp| Arc::new(mailer::Mailer::new(smtp, &config.from)));
        NotificationModule { db, config: Arc::new(config), mailer }
    }

    /// The event consumers to subscribe on the bus.
    pub fn consumers(&self) -> Vec<Consumer> {
        let db = self.db.clone();
        let module = self.clone();
        vec![
            Consumer::new(
                WELCOME,
                &[identity::USER_REGISTERED],
                db.clone(),
                Arc::new(consumers::Welcome { module: module.clone() }),
            ),
            Consumer::new(
                ORDERS,
                &[
                    ordering::ORDER_PLACED,
                    ordering::CHECKOUT_COMPLETED,
                    ordering::ORDER_CANCELLED,
                    ordering::ORDER_REFUNDED,
                ],
                db.clone(),
                Arc::new(consumers::Orders { module: module.clone() }),
            ),
            Consumer::new(
                SHIPMENTS,
                &[shipping::SHIPMENT_SHIPPED],
                db.clone(),
                Arc::new(consumers::Shipments { module: module.clone() }),
            ),
            Consumer::new(
                STOCK_ALERTS,
                &[inventory::STOCK_LOW],
                db.clone(),
                Arc::new(consumers::StockAlerts { module: module.clone() }),
            ),
            Consumer::new(
                WEBHOOK_ALERTS,
                &[webhooks::SUBSCRIPTION_DISABLED],
                db.clone(),
                Arc::new(consumers::WebhookAlerts { module: module.clone() }),
            ),
            Consumer::new(SHOP_NAME, &[admin::SETTINGS_UPDATED], db, Arc::new(consumers::ShopName { module })),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_smtp_password_never_shows_in_debug_output() {
        let smtp = SmtpConfig {
            host: "mail.example.com".into(),
            port: 25,
            username: Some("shop".into()),
            password: Some("s3cret-pass".into()),
        };
        let config = NotificationConfig {
            shop_name: "Comptoir".into(),
            from: "shop@example.com".into(),
            merchant_email: "owner@example.com".into(),
            smtp: Some(smtp),
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cret-pass"), "{shown}");
        assert!(shown.contains("<hidden>") && shown.contains("mail.example.com"), "{shown}");
    }
}
