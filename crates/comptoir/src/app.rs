//! The composition root: opens each module's database, builds the modules, wires their ports and
//! event consumers, and starts the outbox relays. The only place that knows the topology.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use comptoir_api::{ApiSettings, ApiState, DbProbe, IdempotencyStore, Probe};
use comptoir_cart::CartModule;
use comptoir_catalog::CatalogModule;
use comptoir_eventbus::{DeadLetterOffice, EventBus, MemoryBus, OutboxRelay, RetryPolicy};
use comptoir_identity::{IdentityConfig, IdentityModule};
use comptoir_inventory::InventoryModule;
use comptoir_storage::{Db, Migrations, outbox};
use tokio::task::JoinHandle;

use crate::config::Config;

pub struct App {
    pub config: Config,
    pub identity: Arc<IdentityModule>,
    pub catalog: Arc<CatalogModule>,
    pub inventory: Arc<InventoryModule>,
    pub cart: Arc<CartModule>,
    pub bus: MemoryBus,
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

        let retry =
            RetryPolicy { delays: config.events.retry_delays_ms.iter().map(|ms| Duration::from_millis(*ms)).collect() };
        let bus = MemoryBus::new(retry);
        for consumer in inventory.consumers().into_iter().chain(cart.consumers()) {
            bus.subscribe(consumer).await?;
        }

        Ok(App {
            config,
            identity,
            catalog,
            inventory,
            cart,
            bus,
            databases: vec![identity_db, catalog_db, inventory_db, cart_db, api_db.clone()],
            api_db,
            background: Vec::new(),
        })
    }

    /// Starts the outbox relays and the reservation sweeper.
    pub fn start(&mut self) {
        for db in &self.databases {
            let relay = OutboxRelay::new(db.clone(), Arc::new(self.bus.clone()));
            self.background.push(tokio::spawn(relay.run()));
        }
        let sweep = Duration::from_secs(self.config.inventory.reservation_sweep_secs.max(1));
        self.background.push(tokio::spawn(self.inventory.as_ref().clone().run_expiry_sweeper(sweep)));
    }

    pub fn dead_letter_office(&self) -> DeadLetterOffice {
        DeadLetterOffice::new(self.databases.clone(), Arc::new(self.bus.clone()))
    }

    pub fn api_state(&self) -> ApiState {
        let probes: Vec<Arc<dyn Probe>> =
            self.databases.iter().map(|db| Arc::new(DbProbe(db.clone())) as Arc<dyn Probe>).collect();
        ApiState {
            identity: self.identity.clone(),
            catalog: self.catalog.clone(),
            inventory: self.inventory.clone(),
            cart: self.cart.clone(),
            bus: Arc::new(self.bus.clone()),
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

    /// Stops background work after publishing what is left in the outboxes.
    pub async fn shutdown(mut self) {
        for handle in self.background.drain(..) {
            handle.abort();
        }
        for db in &self.databases {
            let relay = OutboxRelay::new(db.clone(), Arc::new(self.bus.clone()));
            if let Err(e) = relay.relay_pending().await {
                tracing::warn!(module = db.module(), error = %e, "could not flush the outbox at shutdown");
            }
        }
        self.bus.wait_idle(Duration::from_secs(5)).await;
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
