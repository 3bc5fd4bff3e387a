//! The composition root: opens each module's database, builds the modules, wires their ports and
//! event consumers, and starts the outbox relays. The only place that knows the topology.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use comptoir_admin::{AdminConfig, AdminModule};
use comptoir_admin_grpc::AdminClient;
use comptoir_api::audit::AuditTrail;
use comptoir_api::maintenance::ShopSettingsCache;
use comptoir_api::rate_limit::RateLimiter;
use comptoir_api::{ApiSettings, ApiState, Authenticator, DbProbe, IdempotencyStore, IdentityAuthenticator, Probe};
use comptoir_audit::AuditModule;
use comptoir_audit_grpc::AuditClient;
use comptoir_billing::{BillingConfig, BillingModule};
use comptoir_billing_grpc::BillingClient;
use comptoir_cart::CartModule;
use comptoir_cart_grpc::CartClient;
use comptoir_catalog::CatalogModule;
use comptoir_catalog_grpc::CatalogClient;
use comptoir_contracts::address::PostalAddress;
use comptoir_contracts::admin::AdminPort;
use comptoir_contracts::audit::AuditPort;
use comptoir_contracts::billing::{BillingPort, Party};
use comptoir_contracts::cart::CartPort;
use comptoir_contracts::catalog::CatalogPort;
use comptoir_contracts::identity::{IdentityPort, SellerDirectory};
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
use comptoir_eventbus::{DeadLetterOffice, DualWriteBus, EventBus, OutboxRelay};
use comptoir_grpc::operations::RemoteDeadLetters;
use comptoir_grpc::server::ServiceSet;
use comptoir_identity::{IdentityConfig, IdentityModule, TokenVerifier};
use comptoir_identity_grpc::IdentityClient;
use comptoir_inventory::InventoryModule;
use comptoir_inventory_grpc::InventoryClient;
use comptoir_notification::{NotificationConfig, NotificationModule, SmtpConfig};
use comptoir_notification_grpc::NotificationClient;
use comptoir_ordering::{OrderingConfig, OrderingModule, OrderingPorts};
use comptoir_ordering_grpc::OrderingClient;
use comptoir_payment::{PaymentConfig, PaymentModule};
use comptoir_payment_grpc::PaymentClient;
use comptoir_pos::PosModule;
use comptoir_pos_grpc::PosClient;
use comptoir_recommendations::RecommendationsModule;
use comptoir_recommendations_grpc::RecommendationsClient;
use comptoir_reporting::ReportingModule;
use comptoir_reporting_grpc::ReportingClient;
use comptoir_search::{SearchConfig, SearchModule, SearchPorts};
use comptoir_search_grpc::SearchClient;
use comptoir_shipping::{ShippingConfig, ShippingModule};
use comptoir_shipping_grpc::ShippingClient;
use comptoir_storage::{Db, Migrations, outbox};
use comptoir_webhooks::{WebhooksConfig, WebhooksModule};
use comptoir_webhooks_grpc::WebhooksClient;
use tokio::task::JoinHandle;

use crate::auth_cache::{self, CachedAuthenticator};
use crate::config::Config;
use crate::events;
use crate::remote;
use crate::topology::{Module, Role, Topology};

pub struct App {
    pub config: Config,
    pub topology: Topology,
    pub identity: Arc<dyn IdentityPort>,
    pub catalog: Arc<dyn CatalogPort>,
    pub inventory: Arc<dyn InventoryPort>,
    pub cart: Arc<dyn CartPort>,
    pub payment: Arc<dyn PaymentPort>,
    pub billing: Arc<dyn BillingPort>,
    pub shipping: Arc<dyn ShippingPort>,
    pub notification: Arc<dyn NotificationPort>,
    pub ordering: Arc<dyn OrderingPort>,
    pub admin: Arc<dyn AdminPort>,
    pub search: Arc<dyn SearchPort>,
    pub webhooks: Arc<dyn WebhooksPort>,
    pub recommendations: Arc<dyn RecommendationsPort>,
    pub pos: Arc<dyn PosPort>,
    pub reporting: Arc<dyn ReportingPort>,
    pub audit: Arc<dyn AuditPort>,
    /// The front-ends' audit entries on their way to the audit module.
    pub audit_trail: Arc<AuditTrail>,
    /// How the API tells who calls: the identity port, or a cache in front of its service.
    pub authenticator: Arc<dyn Authenticator>,
    /// The admin settings as this process acts on them, shared by the API and the web pages so
    /// that a change made through either applies to both at once.
    pub shop_settings: Arc<ShopSettingsCache>,
    pub bus: Arc<dyn EventBus>,
    /// What each side received, when publishing to two providers while migrating.
    pub dual_write: Option<Arc<DualWriteBus>>,
    /// The databases of the modules running here, and the API's own where it serves the API.
    pub databases: Vec<Db>,
    /// Background work only the process owning the module runs.
    inventory_module: Option<InventoryModule>,
    ordering_module: Option<OrderingModule>,
    search_module: Option<SearchModule>,
    webhooks_module: Option<WebhooksModule>,
    pos_module: Option<PosModule>,
    audit_module: Option<AuditModule>,
    api_db: Option<Db>,
    /// The connections to the services this process calls.
    remotes: remote::Remotes,
    background: Vec<JoinHandle<()>>,
}

impl App {
    /// The monolith: every module here except those configured as remote services.
    pub async fn build(config: Config) -> anyhow::Result<App> {
        Self::build_as(config, Role::Monolith).await
    }

    /// Opens and migrates the databases of the modules running here, builds them with the ports
    /// they call (local or remote) and subscribes their consumers. Background work (relays,
    /// sweepers) starts with [`App::start`].
    pub async fn build_as(config: Config, role: Role) -> anyhow::Result<App> {
        let topology = Topology::new(role, &config)?;
        let mut databases = Vec::new();
        let mut local_db = async |module: Module, migrations: &Migrations| -> anyhow::Result<Option<Db>> {
            if !topology.is_local(module) {
                return Ok(None);
            }
            let db = open(&config, module.name(), migrations).await?;
            databases.push(db.clone());
            Ok(Some(db))
        };
        let identity_db = local_db(Module::Identity, &comptoir_identity::MIGRATIONS).await?;
        let catalog_db = local_db(Module::Catalog, &comptoir_catalog::MIGRATIONS).await?;
        let inventory_db = local_db(Module::Inventory, &comptoir_inventory::MIGRATIONS).await?;
        let cart_db = local_db(Module::Cart, &comptoir_cart::MIGRATIONS).await?;
        let payment_db = local_db(Module::Payment, &comptoir_payment::MIGRATIONS).await?;
        let billing_db = local_db(Module::Billing, &comptoir_billing::MIGRATIONS).await?;
        let shipping_db = local_db(Module::Shipping, &comptoir_shipping::MIGRATIONS).await?;
        let notification_db = local_db(Module::Notification, &comptoir_notification::MIGRATIONS).await?;
        let ordering_db = local_db(Module::Ordering, &comptoir_ordering::MIGRATIONS).await?;
        let admin_db = local_db(Module::Admin, &comptoir_admin::MIGRATIONS).await?;
        let search_db = local_db(Module::Search, &comptoir_search::MIGRATIONS).await?;
        let webhooks_db = local_db(Module::Webhooks, &comptoir_webhooks::MIGRATIONS).await?;
        let recommendations_db = local_db(Module::Recommendations, &comptoir_recommendations::MIGRATIONS).await?;
        let pos_db = local_db(Module::Pos, &comptoir_pos::MIGRATIONS).await?;
        let reporting_db = local_db(Module::Reporting, &comptoir_reporting::MIGRATIONS).await?;
        let audit_db = local_db(Module::Audit, &comptoir_audit::MIGRATIONS).await?;
        let api_db = match role.own_database() {
            Some(name) => Some(open(&config, name, &comptoir_api::IDEMPOTENCY_MIGRATIONS).await?),
            None => None,
        };
        databases.extend(api_db.clone());
        let mut consumers = Vec::new();
        let remotes = remote::Remotes::new(&config);

        let (identity, sellers): (Arc<dyn IdentityPort>, Arc<dyn SellerDirectory>) = match identity_db {
            Some(db) => {
                let module = Arc::new(IdentityModule::new(db, identity_config(&config)?));
                (module.clone(), module)
            }
            None => {
                let client = Arc::new(IdentityClient::new(remotes.get(Module::Identity)?));
                (client.clone(), client)
            }
        };
        let catalog: Arc<dyn CatalogPort> = match catalog_db {
            Some(db) => Arc::new(CatalogModule::new(db, sellers)),
            None => Arc::new(CatalogClient::new(remotes.get(Module::Catalog)?)),
        };
        let inventory_module = inventory_db.map(InventoryModule::new);
        consumers.extend(inventory_module.iter().flat_map(InventoryModule::consumers));
        let inventory: Arc<dyn InventoryPort> = match &inventory_module {
            Some(module) => Arc::new(module.clone()),
            None => Arc::new(InventoryClient::new(remotes.get(Module::Inventory)?)),
        };
        let cart: Arc<dyn CartPort> = match cart_db {
            Some(db) => {
                let module = CartModule::new(db, catalog.clone(), inventory.clone());
                consumers.extend(module.consumers());
                Arc::new(module)
            }
            None => Arc::new(CartClient::new(remotes.get(Module::Cart)?)),
        };
        let payment: Arc<dyn PaymentPort> = match payment_db {
            Some(db) => Arc::new(PaymentModule::new(
                db,
                PaymentConfig {
                    webhook_secret: config.secret("payment-webhook.secret", &config.payment.webhook_secret)?,
                },
            )),
            None => Arc::new(PaymentClient::new(remotes.get(Module::Payment)?)),
        };
        let billing: Arc<dyn BillingPort> = match billing_db {
            Some(db) => {
                let module = BillingModule::new(db, BillingConfig { seller: shop_party(&config) });
                consumers.extend(module.consumers());
                Arc::new(module)
            }
            None => Arc::new(BillingClient::new(remotes.get(Module::Billing)?)),
        };
        let shipping: Arc<dyn ShippingPort> = match shipping_db {
            Some(db) => {
                let module = ShippingModule::new(
                    db,
                    ShippingConfig {
                        webhook_secret: config.secret("carrier-webhook.secret", &config.shipping.webhook_secret)?,
                        ship_from: shop_address(&config),
                    },
                );
                consumers.extend(module.consumers());
                Arc::new(module)
            }
            None => Arc::new(ShippingClient::new(remotes.get(Module::Shipping)?)),
        };
        let notification: Arc<dyn NotificationPort> = match notification_db {
            Some(db) => {
                let module = NotificationModule::new(db, notification_config(&config));
                consumers.extend(module.consumers());
                Arc::new(module)
            }
            None => Arc::new(NotificationClient::new(remotes.get(Module::Notification)?)),
        };
        let ordering_module = ordering_db.map(|db| {
            OrderingModule::new(
                db,
                OrderingPorts {
                    cart: cart.clone(),
                    catalog: catalog.clone(),
                    inventory: inventory.clone(),
                    payment: payment.clone(),
                    billing: billing.clone(),
                    shipping: shipping.clone(),
                },
                OrderingConfig { reservation_ttl: Duration::from_secs(config.ordering.reservation_ttl_secs) },
            )
        });
        consumers.extend(ordering_module.iter().flat_map(OrderingModule::consumers));
        let ordering: Arc<dyn OrderingPort> = match &ordering_module {
            Some(module) => Arc::new(module.clone()),
            None => Arc::new(OrderingClient::new(remotes.get(Module::Ordering)?)),
        };
        let admin: Arc<dyn AdminPort> = match admin_db {
            Some(db) => Arc::new(AdminModule::new(db, catalog.clone(), admin_config(&config))),
            None => Arc::new(AdminClient::new(remotes.get(Module::Admin)?)),
        };
        let search_module = match search_db {
            Some(db) => {
                let ports =
                    SearchPorts { catalog: catalog.clone(), inventory: inventory.clone(), identity: identity.clone() };
                let module =
                    SearchModule::new(db, ports, SearchConfig { channel: config.shop.default_channel.clone() })?;
                consumers.extend(module.consumers());
                Some(module)
            }
            None => None,
        };
        let search: Arc<dyn SearchPort> = match &search_module {
            Some(module) => Arc::new(module.clone()),
            None => Arc::new(SearchClient::new(remotes.get(Module::Search)?)),
        };
        let webhooks_module = webhooks_db.map(|db| WebhooksModule::new(db, webhooks_config(&config)));
        consumers.extend(webhooks_module.iter().flat_map(WebhooksModule::consumers));
        let webhooks: Arc<dyn WebhooksPort> = match &webhooks_module {
            Some(module) => Arc::new(module.clone()),
            None => Arc::new(WebhooksClient::new(remotes.get(Module::Webhooks)?)),
        };
        let recommendations: Arc<dyn RecommendationsPort> = match recommendations_db {
            Some(db) => {
                let module = RecommendationsModule::new(db, ordering.clone());
                consumers.extend(module.consumers());
                Arc::new(module)
            }
            None => Arc::new(RecommendationsClient::new(remotes.get(Module::Recommendations)?)),
        };
        let pos_module = pos_db.map(|db| {
            let ports = comptoir_pos::PosPorts {
                catalog: catalog.clone(),
                inventory: inventory.clone(),
                payment: payment.clone(),
                billing: billing.clone(),
            };
            PosModule::new(db, ports)
        });
        let pos: Arc<dyn PosPort> = match &pos_module {
            Some(module) => Arc::new(module.clone()),
            None => Arc::new(PosClient::new(remotes.get(Module::Pos)?)),
        };
        let reporting: Arc<dyn ReportingPort> = match reporting_db {
            Some(db) => {
                let module = ReportingModule::new(db, catalog.clone(), ordering.clone(), pos.clone());
                consumers.extend(module.consumers());
                Arc::new(module)
            }
            None => Arc::new(ReportingClient::new(remotes.get(Module::Reporting)?)),
        };
        let audit_module = audit_db.map(AuditModule::new);
        consumers.extend(audit_module.iter().flat_map(AuditModule::consumers));
        let audit: Arc<dyn AuditPort> = match &audit_module {
            Some(module) => Arc::new(module.clone()),
            None => Arc::new(AuditClient::new(remotes.get(Module::Audit)?)),
        };
        let audit_trail = AuditTrail::start(audit.clone());

        // The API's database where there is one; otherwise the module's own.
        let home_db = api_db.clone().or_else(|| databases.first().cloned()).context("no database to keep events in")?;
        let events::Bus { bus, dual_write } = events::connect(&config.events, &home_db).await?;
        for consumer in consumers {
            bus.subscribe(consumer).await?;
        }
        events::subscribe_system_events(&bus, &home_db).await?;
        let authenticator: Arc<dyn Authenticator> = match topology.is_local(Module::Identity) {
            true => Arc::new(IdentityAuthenticator(identity.clone())),
            false => {
                anyhow::ensure!(
                    !config.auth.jwt_secret.is_empty() || config.data_dir.join("jwt.secret").exists(),
                    "identity runs as its own service: set auth.jwt_secret (COMPTOIR_AUTH__JWT_SECRET) to the \
                     identity service's, so that this process can check access tokens"
                );
                let verifier = TokenVerifier::new(&identity_config(&config)?);
                let ttl = Duration::from_secs(config.auth.cache_ttl_secs);
                let cache = CachedAuthenticator::new(identity.clone(), verifier, ttl);
                if role.faces_users() {
                    auth_cache::subscribe(&bus, &home_db, cache.clone()).await?;
                }
                cache
            }
        };

        let shop_settings =
            Arc::new(ShopSettingsCache::new(admin.clone(), Duration::from_millis(config.http.settings_cache_ms)));
        Ok(App {
            shop_settings,
            config,
            topology,
            identity,
            catalog,
            inventory,
            cart,
            payment,
            billing,
            shipping,
            notification,
            ordering,
            admin,
            search,
            webhooks,
            recommendations,
            pos,
            reporting,
            audit,
            audit_trail,
            authenticator,
            bus,
            dual_write,
            databases,
            inventory_module,
            ordering_module,
            search_module,
            webhooks_module,
            pos_module,
            audit_module,
            api_db,
            remotes,
            background: Vec::new(),
        })
    }

    /// Starts the outbox relays and the sweepers of the modules running here.
    pub fn start(&mut self) {
        for db in &self.databases {
            let relay = OutboxRelay::new(db.clone(), self.bus.clone());
            self.background.push(tokio::spawn(relay.run()));
        }
        let sweep = Duration::from_secs(self.config.inventory.reservation_sweep_secs.max(1));
        if let Some(inventory) = &self.inventory_module {
            self.background.push(tokio::spawn(inventory.clone().run_expiry_sweeper(sweep)));
        }
        if let Some(ordering) = &self.ordering_module {
            self.background.push(tokio::spawn(ordering.clone().run_stale_checkout_sweeper(sweep)));
        }
        if let Some(pos) = &self.pos_module {
            self.background.push(tokio::spawn(pos.clone().run_stale_sale_sweeper(sweep)));
        }
        if let (Some(audit), days @ 1..) = (&self.audit_module, self.config.audit.retention_days) {
            self.background.push(tokio::spawn(prune_audit_daily(audit.clone(), days)));
        }
        if let Some(search) = &self.search_module {
            let poll = Duration::from_millis(self.config.search.poll_ms.max(10));
            self.background.push(tokio::spawn(search.clone().run_indexer(poll)));
        }
        if let Some(webhooks) = &self.webhooks_module {
            let poll = Duration::from_millis(self.config.webhooks.poll_ms.max(10));
            self.background.push(tokio::spawn(webhooks.clone().run_dispatcher(poll)));
        }
        let databases = self.databases.clone();
        self.background
            .push(tokio::spawn(comptoir_storage::load::sample_busy_connections(databases, Duration::from_millis(10))));
        let bus = self.bus.clone();
        self.background.push(tokio::spawn(async move { events::announce(&bus, "system.instance.started").await }));
    }

    /// The dead letters operators see: this process's, and where it serves the API, those of the
    /// services it calls (each process asked once, however many modules it runs).
    pub fn dead_letter_office(&self) -> DeadLetterOffice {
        let mut office = self.local_dead_letters();
        if self.topology.role.faces_users() {
            for modules in self.remote_services().into_values() {
                if let Ok(remote) = self.remotes.get(modules[0]) {
                    office = office.with_source(RemoteDeadLetters::new(remote));
                }
            }
        }
        office
    }

    /// The dead letters held in this process's databases only.
    fn local_dead_letters(&self) -> DeadLetterOffice {
        DeadLetterOffice::new(self.databases.clone(), self.bus.clone())
    }

    /// The gRPC services of the modules running here, and the operations service over their
    /// dead letters.
    pub fn grpc_services(&self) -> ServiceSet {
        let mut set = ServiceSet::new().add(comptoir_grpc::operations::service(self.local_dead_letters()));
        for module in self.topology.local_modules() {
            set = match module {
                Module::Identity => set.add(comptoir_identity_grpc::service(self.identity.clone())),
                Module::Catalog => set.add(comptoir_catalog_grpc::service(self.catalog.clone())),
                Module::Inventory => set.add(comptoir_inventory_grpc::service(self.inventory.clone())),
                Module::Cart => set.add(comptoir_cart_grpc::service(self.cart.clone())),
                Module::Payment => set.add(comptoir_payment_grpc::service(self.payment.clone())),
                Module::Billing => set.add(comptoir_billing_grpc::service(self.billing.clone())),
                Module::Shipping => set.add(comptoir_shipping_grpc::service(self.shipping.clone())),
                Module::Notification => set.add(comptoir_notification_grpc::service(self.notification.clone())),
                Module::Ordering => set.add(comptoir_ordering_grpc::service(self.ordering.clone())),
                Module::Admin => set.add(comptoir_admin_grpc::service(self.admin.clone())),
                Module::Search => set.add(comptoir_search_grpc::service(self.search.clone())),
                Module::Webhooks => set.add(comptoir_webhooks_grpc::service(self.webhooks.clone())),
                Module::Recommendations => {
                    set.add(comptoir_recommendations_grpc::service(self.recommendations.clone()))
                }
                Module::Pos => set.add(comptoir_pos_grpc::service(self.pos.clone())),
                Module::Reporting => set.add(comptoir_reporting_grpc::service(self.reporting.clone())),
                Module::Audit => set.add(comptoir_audit_grpc::service(self.audit.clone())),
            };
        }
        set
    }

    /// What `/readyz` checks: the databases here, the bus, and the services this process calls
    /// (one check per process, named after the modules it runs).
    pub fn probes(&self) -> Vec<Arc<dyn Probe>> {
        let mut probes: Vec<Arc<dyn Probe>> =
            self.databases.iter().map(|db| Arc::new(DbProbe(db.clone())) as Arc<dyn Probe>).collect();
        probes.push(Arc::new(events::BusProbe(self.bus.clone())));
        for (url, modules) in self.remote_services() {
            if let Ok(remote) = self.remotes.get(modules[0]) {
                tracing::debug!(%url, "readiness checks this service");
                probes.push(Arc::new(remote::ServiceProbe { modules, remote }));
            }
        }
        probes
    }

    /// The services this process calls, by address, with the modules each runs.
    fn remote_services(&self) -> std::collections::BTreeMap<String, Vec<Module>> {
        let needed: Vec<Module> = match self.topology.role {
            Role::Service(module) => module.dependencies().to_vec(),
            Role::Monolith | Role::Gateway | Role::Storefront | Role::BackOffice => Module::ALL.to_vec(),
        };
        let mut services = std::collections::BTreeMap::<String, Vec<Module>>::new();
        for module in needed.into_iter().filter(|m| !self.topology.is_local(*m)) {
            if let Some(service) = self.config.services.get(module.name()).filter(|s| !s.url.trim().is_empty()) {
                services.entry(service.url.trim().to_string()).or_default().push(module);
            }
        }
        services
    }

    /// The REST API's state; only roles that serve the API have one.
    pub fn api_state(&self) -> ApiState {
        let api_db = self.api_db.clone().expect("only the monolith and the gateway serve the API");
        ApiState {
            identity: self.identity.clone(),
            authenticator: self.authenticator.clone(),
            catalog: self.catalog.clone(),
            inventory: self.inventory.clone(),
            cart: self.cart.clone(),
            ordering: self.ordering.clone(),
            payment: self.payment.clone(),
            billing: self.billing.clone(),
            shipping: self.shipping.clone(),
            notification: self.notification.clone(),
            admin: self.admin.clone(),
            search: self.search.clone(),
            webhooks: self.webhooks.clone(),
            recommendations: self.recommendations.clone(),
            reporting: self.reporting.clone(),
            pos: self.pos.clone(),
            audit: self.audit.clone(),
            audit_trail: self.audit_trail.clone(),
            shop_settings: self.shop_settings.clone(),
            bus: self.bus.clone(),
            dead_letters: self.dead_letter_office(),
            probes: self.probes(),
            idempotency: IdempotencyStore::new(api_db),
            rate_limiter: Arc::new(RateLimiter::new(self.config.http.rate_limit.limits())),
            settings: ApiSettings {
                body_limit: self.config.http.body_limit_bytes,
                request_timeout: Duration::from_secs(self.config.http.request_timeout_secs),
            },
        }
    }

    /// The storefront's and the back office's state; only roles that face users have one.
    pub fn web_state(&self) -> comptoir_web::WebState {
        comptoir_web::WebState {
            identity: self.identity.clone(),
            authenticator: self.authenticator.clone(),
            catalog: self.catalog.clone(),
            inventory: self.inventory.clone(),
            cart: self.cart.clone(),
            ordering: self.ordering.clone(),
            payment: self.payment.clone(),
            billing: self.billing.clone(),
            shipping: self.shipping.clone(),
            notification: self.notification.clone(),
            admin: self.admin.clone(),
            search: self.search.clone(),
            webhooks: self.webhooks.clone(),
            recommendations: self.recommendations.clone(),
            reporting: self.reporting.clone(),
            pos: self.pos.clone(),
            audit: self.audit.clone(),
            audit_trail: self.audit_trail.clone(),
            shop_settings: self.shop_settings.clone(),
            dead_letters: self.dead_letter_office(),
            probes: self.probes(),
            event_bus: self.bus.provider().to_string(),
            settings: comptoir_web::WebSettings {
                secure_cookies: self.config.web.secure_cookies,
                request_timeout: Duration::from_secs(self.config.http.request_timeout_secs),
                ..comptoir_web::WebSettings::default()
            },
        }
    }

    /// Whether nothing is waiting in an outbox or being handled right now.
    pub async fn is_quiet(&self) -> bool {
        for db in &self.databases {
            if outbox::backlog(db).await.map_or(true, |(count, ..)| count > 0) {
                return false;
            }
        }
        self.bus.in_flight() == 0 && self.search_pending().await.is_ok_and(|pending| pending == 0)
    }

    /// Changes the search index of this process has yet to apply (none without a running indexer).
    async fn search_pending(&self) -> anyhow::Result<u64> {
        match &self.search_module {
            Some(search) if !self.background.is_empty() => Ok(search.pending().await?),
            _ => Ok(0),
        }
    }

    /// Waits until every outbox is empty, every delivered event handled (or dead-lettered) and
    /// the search index has applied what the handlers stored.
    pub async fn settle(&self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let mut backlog = 0;
            for db in &self.databases {
                backlog += outbox::backlog(db).await?.0;
            }
            if backlog == 0 && self.bus.in_flight() == 0 && self.search_pending().await? == 0 {
                // What the front-ends saw is written too, so that a test reads it back.
                self.audit_trail.flush().await;
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

/// Deletes audit entries past their retention, at start and then once a day.
async fn prune_audit_daily(audit: AuditModule, days: u32) {
    let mut ticks = tokio::time::interval(Duration::from_secs(24 * 3600));
    loop {
        ticks.tick().await;
        match audit.prune_older_than(days).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, days, "audit entries past their retention deleted"),
            Err(error) => tracing::warn!(%error, "could not delete audit entries past their retention"),
        }
    }
}

async fn open(config: &Config, module: &'static str, migrations: &Migrations) -> anyhow::Result<Db> {
    let db = match config.databases.get(module) {
        Some(url) => Db::connect_with_pool(module, url, config.storage.postgres_pool_size).await,
        None => Db::open_sqlite(module, &config.data_dir).await,
    }
    .with_context(|| format!("opening the {module} database"))?;
    db.migrate(migrations).await.with_context(|| format!("migrating the {module} database"))?;
    Ok(db)
}

fn identity_config(config: &Config) -> anyhow::Result<IdentityConfig> {
    Ok(IdentityConfig {
        jwt_secret: config.jwt_secret()?,
        access_ttl: Duration::from_secs(config.auth.access_ttl_secs),
        refresh_ttl: Duration::from_secs(config.auth.refresh_ttl_secs),
        ..IdentityConfig::default()
    })
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

fn admin_config(config: &Config) -> AdminConfig {
    AdminConfig {
        shop_name: config.shop.name.clone(),
        default_channel: config.shop.default_channel.clone(),
        default_currency: config.shop.default_currency.clone(),
    }
}

fn webhooks_config(config: &Config) -> WebhooksConfig {
    let w = &config.webhooks;
    WebhooksConfig {
        allow_http: w.allow_http,
        allow_private_hosts: w.allow_private_hosts,
        timeout: Duration::from_secs(w.timeout_secs.max(1)),
        retry_delays: w.retry_delays_secs.iter().map(|s| Duration::from_secs(*s)).collect(),
        disable_after_failures: w.disable_after_failures,
        disable_after_failing_for: Duration::from_secs(w.disable_after_failing_hours * 3600),
        ..WebhooksConfig::default()
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
