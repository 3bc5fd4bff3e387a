use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use comptoir::app::App;
use comptoir::config::{AuthConfig, Config, EventsConfig, RateLimitConfig, ServiceConfig};
use comptoir::topology::{Module, Role};
use comptoir_eventbus::EventBus;
use comptoir_storage::{Backend, Db, testing};

/// Every database the application opens.
pub const MODULES: [&str; 19] = [
    "identity",
    "catalog",
    "inventory",
    "cart",
    "payment",
    "billing",
    "shipping",
    "notification",
    "ordering",
    "admin",
    "search",
    "webhooks",
    "recommendations",
    "pos",
    "reporting",
    "audit",
    "api",
    "storefront",
    "backoffice",
];
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    /// The process serving the API: the monolith, or the gateway.
    pub app: App,
    /// The modules running as their own services (none in the monolith).
    pub services: Vec<Service>,
    config: Config,
    _dir: tempfile::TempDir,
}

/// One module running as its own service, on a fixed address so that it can be stopped and
/// started again where its callers expect it.
pub struct Service {
    pub module: Module,
    pub addr: std::net::SocketAddr,
    /// None while stopped.
    pub app: Option<App>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl Service {
    async fn start(module: Module, config: &Config, listener: tokio::net::TcpListener) -> Service {
        let addr = listener.local_addr().expect("addr");
        let mut app = App::build_as(config.clone(), Role::Service(module)).await.expect("the service builds");
        app.start();
        let router = app.grpc_services().into_router().await;
        let listener = listener.tap_io(no_delay as fn(&mut tokio::net::TcpStream));
        let server = tokio::spawn(async move { axum::serve(listener, router).await.expect("service runs") });
        Service { module, addr, app: Some(app), server: Some(server) }
    }
}

/// The storefront and the back office of a test application, each on a free port (the web tests
/// use them; the API tests share this file).
#[allow(dead_code)]
pub struct WebFronts {
    pub storefront: String,
    pub backoffice: String,
    /// Their own processes in the distributed topology (none in the monolith).
    pub apps: Vec<App>,
}

impl Drop for WebFronts {
    fn drop(&mut self) {
        let processes: Vec<(Arc<dyn EventBus>, Vec<Db>)> =
            self.apps.iter().map(|a| (a.bus.clone(), a.databases.clone())).collect();
        let runtime = tokio::runtime::Handle::current();
        tokio::task::block_in_place(|| {
            runtime.block_on(async move {
                for (bus, databases) in processes {
                    bus.close().await;
                    for db in databases {
                        db.close().await;
                    }
                }
            })
        });
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "unexpected status; body: {}", self.body);
        self.body
    }

    /// Asserts a problem response and returns its field names.
    #[track_caller]
    pub fn problem(self, status: u16) -> Vec<String> {
        assert_eq!(self.status.as_u16(), status, "unexpected status; body: {}", self.body);
        assert_eq!(
            self.headers.get("content-type").and_then(|v| v.to_str().ok()),
            Some("application/problem+json"),
            "problems are application/problem+json"
        );
        assert_eq!(self.body["status"], status);
        assert!(self.body["type"].as_str().is_some_and(|t| t.starts_with("https://")), "{}", self.body);
        assert!(self.body["detail"].as_str().is_some_and(|d| !d.is_empty()));
        self.body["errors"]
            .as_array()
            .map(|a| a.iter().map(|e| e["field"].as_str().unwrap_or("").to_string()).collect())
            .unwrap_or_default()
    }
}

/// The topology the suite runs against: `COMPTOIR_TEST_TOPOLOGY` = `monolith` (default),
/// `distributed` (every module its own gRPC service behind the gateway) or `mixed` (the monolith
/// with payment extracted). The tests are the same; only the processes behind the URL differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topology {
    Monolith,
    Distributed,
    Mixed,
}

pub fn topology() -> Topology {
    match std::env::var("COMPTOIR_TEST_TOPOLOGY").as_deref() {
        Ok("distributed") => Topology::Distributed,
        Ok("mixed") => Topology::Mixed,
        Ok("monolith") | Err(_) => Topology::Monolith,
        Ok(other) => panic!("COMPTOIR_TEST_TOPOLOGY={other}: use monolith, distributed or mixed"),
    }
}

/// Starts the application with fast retries, on a fresh data directory and free ports. Rate
/// limits are off: tests drive many requests a second as one admin.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|config| config.http.rate_limit = RateLimitConfig { per_ip: 0, per_customer: 0, per_api_key: 0 })
        .await
}

/// Starts the application with a configuration changed by `customize`.
pub async fn spawn_app_with(customize: impl FnOnce(&mut Config)) -> TestApp {
    install_telemetry();
    let dir = tempfile::tempdir().expect("temp dir");
    let defaults = Config::default();
    // With COMPTOIR_TEST_BACKEND=postgres every module gets a PostgreSQL schema of its own, as a
    // production deployment gives each its own database.
    let mut databases = std::collections::BTreeMap::new();
    if testing::backend() == Backend::Postgres {
        for module in MODULES {
            databases.insert(module.to_string(), testing::new_postgres_schema().await);
        }
    }
    let mut config = Config {
        data_dir: dir.path().to_path_buf(),
        databases,
        events: EventsConfig { retry_delays_ms: vec![10, 20], ..test_bus(&defaults.events).await },
        auth: AuthConfig { jwt_secret: "test-secret-test-secret-test-secret-0123".into(), ..defaults.auth.clone() },
        ..defaults
    };
    // A burst of 200 logins hashes 200 passwords: give remote calls the HTTP request's time.
    config.remote.timeout_ms = 30_000;
    // Two tests at once, each with fifteen databases (one pool per module and process), must stay
    // under PostgreSQL's 100 connections.
    config.storage.postgres_pool_size = 3;
    // Receivers in tests listen on http://127.0.0.1 and answer at once.
    config.webhooks.allow_http = true;
    config.webhooks.allow_private_hosts = true;
    config.webhooks.retry_delays_secs = vec![0, 0];
    config.webhooks.poll_ms = 50;
    customize(&mut config);
    let extracted: Vec<Module> = match topology() {
        Topology::Monolith => vec![],
        Topology::Distributed => Module::ALL.to_vec(),
        Topology::Mixed => vec![Module::Payment],
    };
    assert!(
        extracted.is_empty() || config.events.provider != "memory",
        "the {:?} topology needs a broker: set COMPTOIR_TEST_BUS=rabbitmq (or nats, kafka)",
        topology()
    );
    // Every service gets a free port first, so that each knows where the others answer.
    let mut listeners = Vec::new();
    for module in &extracted {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        config.services.insert(module.name().into(), ServiceConfig { url, listen: None });
        listeners.push((*module, listener));
    }
    let mut services = Vec::new();
    for (module, listener) in listeners {
        services.push(Service::start(module, &config, listener).await);
    }
    let role = if topology() == Topology::Distributed { Role::Gateway } else { Role::Monolith };
    let mut app = App::build_as(config.clone(), role).await.expect("the app builds");
    app.start();
    let router = comptoir_api::router(app.api_state());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let listener = listener.tap_io(no_delay as fn(&mut tokio::net::TcpStream));
    tokio::spawn(async move { axum::serve(listener, service).await.expect("server runs") });
    TestApp { base, http: reqwest::Client::new(), app, services, config, _dir: dir }
}

/// Logs and the per-module load measures, as `comptoir` installs them: warnings and errors in the
/// test's captured output. A test binary that installed its own first keeps it.
fn install_telemetry() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let logs = comptoir_telemetry::LogSettings { format: "text".into(), level: "warn".into() };
        let traces = comptoir_telemetry::TracesSettings::default();
        let _ = comptoir_telemetry::init_with_writer(&logs, &traces, false, tracing_subscriber::fmt::TestWriter::new());
    });
}

/// As `comptoir serve` does: replies leave at once instead of waiting for a delayed ACK.
fn no_delay(tcp: &mut tokio::net::TcpStream) {
    tcp.set_nodelay(true).expect("TCP_NODELAY");
}

/// The event bus the tests run on: `COMPTOIR_TEST_BUS` = memory (default), rabbitmq, nats or
/// kafka. On a broker each application gets a namespace of its own, as separate shops would.
async fn test_bus(defaults: &EventsConfig) -> EventsConfig {
    let provider = std::env::var("COMPTOIR_TEST_BUS").unwrap_or_else(|_| "memory".into());
    if provider == "memory" {
        return defaults.clone();
    }
    let mut events = EventsConfig {
        provider,
        namespace: format!("api-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]),
        ..defaults.clone()
    };
    // scripts/test.sh gives the tests a virtual host of their own and deletes it afterwards.
    if let Ok(url) = std::env::var("COMPTOIR_TEST_RABBITMQ_URL") {
        events.rabbitmq.url = url;
    }
    if events.provider == "kafka" {
        events.kafka.brokers = comptoir_eventbus_kafka::testing::broker().address();
    }
    events
}

/// A connection pool keeps its idle connections until it is closed, even once dropped: without
/// this, every test would leave its PostgreSQL connections open until the suite ends, and a
/// distributed run (ten processes, ten pools) would exhaust the server's connections. The suite
/// runs on the multi-thread runtime so that a drop can wait for the closing.
impl Drop for TestApp {
    fn drop(&mut self) {
        let mut processes: Vec<(Arc<dyn EventBus>, Vec<Db>)> = vec![(self.app.bus.clone(), self.app.databases.clone())];
        processes
            .extend(self.services.iter().filter_map(|s| s.app.as_ref()).map(|a| (a.bus.clone(), a.databases.clone())));
        let close = async move {
            for (bus, databases) in processes {
                bus.close().await;
                for db in databases {
                    db.close().await;
                }
            }
        };
        let runtime = tokio::runtime::Handle::current();
        assert_eq!(
            runtime.runtime_flavor(),
            tokio::runtime::RuntimeFlavor::MultiThread,
            "API tests run on #[tokio::test(flavor = \"multi_thread\")]: closing the application waits"
        );
        tokio::task::block_in_place(|| runtime.block_on(close));
    }
}

impl TestApp {
    /// Serves the storefront and the back office: from the monolith's own ports, or in the
    /// distributed topology as their own roles reaching every module through its service.
    #[allow(dead_code)]
    pub async fn start_web(&self) -> WebFronts {
        let mut apps = Vec::new();
        let states = match topology() {
            Topology::Distributed => {
                for role in [Role::Storefront, Role::BackOffice] {
                    let mut app = App::build_as(self.config.clone(), role).await.expect("the web role builds");
                    app.start();
                    apps.push(app);
                }
                (apps[0].web_state(), apps[1].web_state())
            }
            Topology::Monolith | Topology::Mixed => (self.app.web_state(), self.app.web_state()),
        };
        let serve = async |router: axum::Router| {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
            // Browsers keep Secure cookies for http://localhost, not for a bare IP address.
            let url = format!("http://localhost:{}", listener.local_addr().expect("addr").port());
            let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
            let listener = listener.tap_io(no_delay as fn(&mut tokio::net::TcpStream));
            tokio::spawn(async move { axum::serve(listener, service).await.expect("server runs") });
            url
        };
        let storefront = serve(comptoir_web::storefront(states.0)).await;
        let backoffice = serve(comptoir_web::backoffice(states.1)).await;
        WebFronts { storefront, backoffice, apps }
    }

    /// Whether `module` runs as its own service in this topology.
    pub fn runs_as_service(&self, module: Module) -> bool {
        self.services.iter().any(|s| s.module == module)
    }

    /// Stops `module`'s service as a crash would: its server goes away mid-flight, then the
    /// process's consumers stop (events for it wait on the broker).
    pub async fn stop_service(&mut self, module: Module) {
        let service = self.services.iter_mut().find(|s| s.module == module).expect("a service");
        if let Some(server) = service.server.take() {
            server.abort();
            let _ = server.await;
        }
        if let Some(app) = service.app.take() {
            app.shutdown().await;
        }
    }

    /// Starts `module`'s service again on its address, on the same database.
    pub async fn start_service(&mut self, module: Module) {
        let config = self.config.clone();
        let service = self.services.iter_mut().find(|s| s.module == module).expect("a service");
        let listener = tokio::net::TcpListener::bind(service.addr).await.expect("the service's address is free again");
        *service = Service::start(module, &config, listener).await;
    }

    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
        self.call_with(method, path, token, body, &[]).await
    }

    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body read");
        let body =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        Reply { status, headers, body }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.call(Method::POST, path, token, Some(body)).await
    }

    /// Waits for every event to be relayed and handled. Across processes, an event the broker is
    /// still carrying is in no outbox and no in-flight count: every process must then stay quiet
    /// over several checks in a row (a local broker delivers within milliseconds).
    pub async fn settle(&self) {
        if self.services.is_empty() {
            return self.app.settle(Duration::from_secs(10)).await.expect("events settle");
        }
        let processes: Vec<&App> =
            std::iter::once(&self.app).chain(self.services.iter().filter_map(|s| s.app.as_ref())).collect();
        let mut quiet_checks = 0;
        while quiet_checks < 4 {
            let mut quiet = true;
            for process in &processes {
                quiet &= process.is_quiet().await;
                // Sixteen services, the gateway and the web roles of two tests (and a browser) share
                // two cores: a relay may wait seconds for a connection. Settling returns as soon as
                // all is quiet; the budget only bounds how long a real hang takes to fail.
                process.settle(Duration::from_secs(30)).await.expect("events settle");
            }
            quiet_checks = if quiet { quiet_checks + 1 } else { 0 };
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Creates a staff account with the given roles directly through the identity port (the
    /// bootstrap path the CLI uses) and logs it in; returns its access token.
    pub async fn staff_token(&self, email: &str, roles: &[&str]) -> String {
        use comptoir_contracts::identity::{NewStaff, Role};
        let roles = roles.iter().map(|r| Role::parse(r).expect("known role")).collect();
        self.app
            .identity
            .create_staff(
                &comptoir_kernel::RequestContext::system(),
                NewStaff { email: email.into(), password: "staff-password-123".into(), name: "Staff".into(), roles },
            )
            .await
            .expect("staff created");
        let body = self
            .post("/api/v1/staff/auth/login", None, json!({"email": email, "password": "staff-password-123"}))
            .await
            .expect(200);
        body["access_token"].as_str().expect("token").to_string()
    }

    pub async fn admin_token(&self) -> String {
        self.staff_token("root@shop.test", &["admin"]).await
    }

    /// Registers and logs in a customer; returns (customer id, access token, refresh token).
    pub async fn customer(&self, email: &str) -> (String, String, String) {
        let body = self
            .post("/api/v1/auth/register", None, json!({"email": email, "password": "customer-pass-1"}))
            .await
            .expect(201);
        let id = body["id"].as_str().expect("id").to_string();
        let login = self
            .post("/api/v1/auth/login", None, json!({"email": email, "password": "customer-pass-1"}))
            .await
            .expect(200);
        (
            id,
            login["access_token"].as_str().expect("access").to_string(),
            login["refresh_token"].as_str().expect("refresh").to_string(),
        )
    }

    /// A seller, a published product with two variants priced in `online`, both stocked at one
    /// location; returns the product JSON.
    pub async fn stocked_product(&self, admin: &str, sku_prefix: &str, units: i64) -> Value {
        let seller = self
            .post("/api/v1/admin/sellers", Some(admin), json!({"name": format!("Seller {sku_prefix}")}))
            .await
            .expect(201);
        let product = self
            .post(
                "/api/v1/admin/products",
                Some(admin),
                json!({
                    "seller_id": seller["id"],
                    "name": format!("Product {sku_prefix}"),
                    "description": "A product for tests",
                    "variants": [
                        {"sku": format!("{sku_prefix}-S"), "options": {"size": "S"}, "prices": [{"channel": "online", "amount": 1999, "currency": "EUR"}]},
                        {"sku": format!("{sku_prefix}-M"), "options": {"size": "M"}, "prices": [{"channel": "online", "amount": 2499, "currency": "EUR"}]}
                    ]
                }),
            )
            .await
            .expect(201);
        let id = product["id"].as_str().expect("id");
        self.post(&format!("/api/v1/admin/products/{id}/publish"), Some(admin), json!({})).await.expect(200);
        self.settle().await;
        let locations = self.get("/api/v1/admin/locations", Some(admin)).await.expect(200);
        if locations["total"] == 0 {
            self.post(
                "/api/v1/admin/locations",
                Some(admin),
                json!({"code": "main-wh", "name": "Main warehouse", "kind": "warehouse"}),
            )
            .await
            .expect(201);
        }
        for size in ["S", "M"] {
            self.post(
                "/api/v1/admin/stock/receive",
                Some(admin),
                json!({"sku": format!("{sku_prefix}-{size}"), "location": "main-wh", "quantity": units}),
            )
            .await
            .expect(200);
        }
        product
    }
}
