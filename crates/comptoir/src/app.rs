//! The composition root: opens each module's database, builds the modules, wires their ports and
//! event consumers, and starts the outbox relays. The only place that knows the topology.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use comptoir_api::{ApiSettings, ApiState, DbProbe, IdempotencyStore, Probe};
use comptoir_billing::{BillingConfig, BillingModule};
use comptoir_cart::CartModule;
use comptoir_catalog::CatalogModule;
use comptoir_contracts::address::PostalAddress;
use comptoir_contracts::billing::Party;
use comptoir_eventbus::{DeadLetterOffice, DualWriteBus, EventBus, OutboxRelay};
use comptoir_identity::{IdentityConfig, IdentityModule};
use comptoir_inventory::InventoryModule;
use comptoir_notification::{NotificationConfig, NotificationModule, SmtpConfig};
use comptoir_ordering::{OrderingConfig, OrderingModule, OrderingPorts};
use comptoir_payment::{PaymentConfig, PaymentModule};
use comptoir_shipping::{ShippingConfig, ShippingModule};
use comptoir_storage::{Db, Migrations, outbox};
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::events;

pub struct App {
    pub config: Config,
    pub identity: Arc<IdentityModule>,
    pub catalog: Arc<CatalogModule>,
    pub inventory: Arc<InventoryModule>,
    pub cart: Arc<CartModule>,
    pub payment: Arc<PaymentModule>,
    pub billing: Arc<BillingModule>,
    pub shipping: Arc<ShippingModule>,
    pub notification: Arc<NotificationModule>,
    pub ordering: Arc<OrderingModule>,
    pub bus: Arc<dyn EventBus>,
    /// What each side received, when publishing to two providers while migrating.
    pub dual_write: Option<Arc<DualWriteBus>>,
    /// Every module database, the API's own included.
    pub databases: Vec<Db>,
    api_db: Db,
    background: Vec<JoinHandle<()>>,
}

impl App {
    /// Opens and migrates every database, builds the modules and subscribes their consumers.
    /// Background work (relays, sweeper) starts with [`App::start`].
    pub async fn build(config: Config) -> anyhow::Result<App> {
        let identity_db = open(&config, "identity", &comptoir_identity::MIGRATIONS).await?;
        let catalog_db = open(&config, "catalog", &comptoir_catalog::MIGRATIONS).await?;
        let inventory_db = open(&config, "inventory", &comptoir_inventory::MIGRATIONS).await?;
        let cart_db = open(&config, "cart", &comptoir_cart::MIGRATIONS).await?;
        let payment_db = open(&config, "payment", &comptoir_payment::MIGRATIONS).await?;
        let billing_db = open(&config, "billing", &comptoir_billing::MIGRATIONS).await?;
        let shipping_db = open(&config, "shipping", &comptoir_shipping::MIGRATIONS).await?;
        let notification_db = open(&config, "notification", &comptoir_notification::MIGRATIONS).await?;
        let ordering_db = open(&config, "ordering", &comptoir_ordering::MIGRATIONS).await?;
        let api_db = open(&config, "api", &comptoir_api::IDEMPOTENCY_MIGRATIONS).await?;

        let identity = Arc::new(IdentityModule::new(
            identity_db.clone(),
            IdentityConfig {
                jwt_secret: config.jwt_secret()?,
                access_ttl: Duration::from_secs(config.auth.access_ttl_secs),
                refresh_ttl: Duration::from_secs(config.auth.refresh_ttl_secs),
                ..IdentityConfig::default()
            },
        ));
        let catalog = Arc::new(CatalogModule::new(catalog_db.clone(), identity.clone()));
        let inventory = Arc::new(InventoryModule::new(inventory_db.clone()));
        let cart = Arc::new(CartModule::new(cart_db.clone(), catalog.clone(), inventory.clone()));
        let payment = Arc::new(PaymentModule::new(
            payment_db.clone(),
            PaymentConfig { webhook_secret: config.secret("payment-webhook.secret", &config.payment.webhook_secret)? },
        ));
        let billing = Arc::new(BillingModule::new(billing_db.clone(), BillingConfig { seller: shop_party(&config) }));
        let shipping = Arc::new(ShippingModule::new(
            shipping_db.clone(),
            ShippingConfig {
                webhook_secret: config.secret("carrier-webhook.secret", &config.shipping.webhook_secret)?,
                ship_from: shop_address(&config),
            },
        ));
        let notification = Arc::new(NotificationModule::new(notification_db.clone(), notification_config(&config)));
        let ordering = Arc::new(OrderingModule::new(
            ordering_db.clone(),
            OrderingPorts {
                cart: cart.clone(),
                catalog: catalog.clone(),
                inventory: inventory.clone(),
                payment: payment.clone(),
                billing: billing.clone(),
                shipping: shipping.clone(),
            },
            OrderingConfig { reservation_ttl: Duration::from_secs(config.ordering.reservation_ttl_secs) },
        ));

        let events::Bus { bus, dual_write } = events::connect(&config.events, &api_db).await?;
        let consumers = [
            inventory.consumers(),
            cart.consumers(),
            billing.consumers(),
            shipping.consumers(),
            notification.consumers(),
            ordering.consumers(),
        ];
        for consumer in consumers.into_iter().flatten() {
            bus.subscribe(consumer).await?;
        }
        events::subscribe_system_events(&bus, &api_db).await?;

        Ok(App {
            config,
            identity,
            catalog,
            inventory,
            cart,
            payment,
            billing,
            shipping,
            notification,
            ordering,
            bus,
            dual_write,
            databases: vec![
                identity_db,
                catalog_db,
                inventory_db,
                cart_db,
                payment_db,
                billing_db,
                shipping_db,
                notification_db,
                ordering_db,
                api_db.clone(),
            ],
            api_db,
            background: Vec::new(),
        })
    }

    /// Starts the outbox relays and the reservation sweeper.
    pub fn start(&mut self) {
        for db in &self.databases {
            let relay = OutboxRelay::new(db.clone(), self.bus.clone());
            self.background.push(tokio::spawn(relay.run()));
        }
        let sweep = Duration::from_secs(self.config.inventory.reservation_sweep_secs.max(1));
        self.background.push(tokio::spawn(self.inventory.as_ref().clone().run_expiry_sweeper(sweep)));
        self.background.push(tokio::spawn(self.ordering.as_ref().clone().run_stale_checkout_sweeper(sweep)));
        let bus = self.bus.clone();
        self.background.push(tokio::spawn(async move { events::announce(&bus, "system.instance.started").await }));
    }

    pub fn dead_letter_office(&self) -> DeadLetterOffice {
        DeadLetterOffice::new(self.databases.clone(), self.bus.clone())
    }

    pub fn api_state(&self) -> ApiState {
        let mut probes: Vec<Arc<dyn Probe>> =
            self.databases.iter().map(|db| Arc::new(DbProbe(db.clone())) as Arc<dyn Probe>).collect();
        probes.push(Arc::new(events::BusProbe(self.bus.clone())));
        ApiState {
            identity: self.identity.clone(),
            catalog: self.catalog.clone(),
            inventory: self.inventory.clone(),
            cart: self.cart.clone(),
            ordering: self.ordering.clone(),
            payment: self.payment.clone(),
            billing: self.billing.clone(),
            shipping: self.shipping.clone(),
            notification: self.notification.clone(),
            bus: self.bus.clone(),
            dead_letters: self.dead_letter_office(),
            probes,
            idempotency: IdempotencyStore::new(self.api_db.clone()),
            settings: ApiSettings {
                body_limit: self.config.http.body_limit_bytes,
                request_timeout: Duration::from_secs(self.config.http.request_timeout_secs),
            },
        }
    }

    /// Waits until every outbox is empty and every delivered event handled (or dead-lettered).
    pub async fn settle(&self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let mut backlog = 0;
            for db in &self.databases {
                backlog += outbox::backlog(db).await?.0;
            }
            if backlog == 0 && self.bus.in_flight() == 0 {
                return Ok(());
            }
            anyhow::ensure!(tokio::time::Instant::now() < deadline, "events still pending after {timeout:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops background work after publishing what is left in the outboxes, then stops consuming
    /// (deliveries in progress finish; the rest wait on the broker for the next instance).
    pub async fn shutdown(mut self) {
        events::announce(&self.bus, "system.instance.stopping").await;
        for handle in self.background.drain(..) {
            handle.abort();
        }
        for db in &self.databases {
            let relay = OutboxRelay::new(db.clone(), self.bus.clone());
            if let Err(e) = relay.relay_pending().await {
                tracing::warn!(module = db.module(), error = %e, "could not flush the outbox at shutdown");
            }
        }
        self.bus.wait_idle(Duration::from_secs(5)).await;
        self.bus.close().await;
        for db in &self.databases {
            db.close().await;
        }
    }
}

async fn open(config: &Config, module: &'static str, migrations: &Migrations) -> anyhow::Result<Db> {
    let db = match config.databases.get(module) {
        Some(url) => Db::connect(module, url).await,
        None => Db::open_sqlite(module, &config.data_dir).await,
    }
    .with_context(|| format!("opening the {module} database"))?;
    db.migrate(migrations).await.with_context(|| format!("migrating the {module} database"))?;
    Ok(db)
}

fn shop_address(config: &Config) -> PostalAddress {
    let shop = &config.shop;
    PostalAddress {
        name: shop.name.clone(),
        line1: shop.address_line1.clone(),
        line2: None,
        city: shop.city.clone(),
        postal_code: shop.postal_code.clone(),
        region: None,
        country: shop.country.clone(),
        phone: None,
    }
}

fn shop_party(config: &Config) -> Party {
    Party {
        name: config.shop.name.clone(),
        email: Some(config.shop.email.clone()),
        address: Some(shop_address(config)),
    }
}

fn notification_config(config: &Config) -> NotificationConfig {
    let n = &config.notification;
    let optional = |s: &String| (!s.is_empty()).then(|| s.clone());
    NotificationConfig {
        shop_name: config.shop.name.clone(),
        from: n.from.clone(),
        merchant_email: n.merchant_email.clone(),
        smtp: optional(&n.smtp_host).map(|host| SmtpConfig {
            host,
            port: n.smtp_port,
            username: optional(&n.smtp_username),
            password: optional(&n.smtp_password),
        }),
    }
}
