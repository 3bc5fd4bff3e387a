use std::time::Duration;

use comptoir::app::App;
use comptoir::config::{AuthConfig, Config, EventsConfig};
use comptoir_storage::{Backend, testing};

/// Every database the application opens.
const MODULES: [&str; 10] =
    ["identity", "catalog", "inventory", "cart", "payment", "billing", "shipping", "notification", "ordering", "api"];
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub app: App,
    _dir: tempfile::TempDir,
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

/// Starts the application with fast retries, on a fresh data directory and a free port.
pub async fn spawn_app() -> TestApp {
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
    let config = Config {
        data_dir: dir.path().to_path_buf(),
        databases,
        events: EventsConfig { retry_delays_ms: vec![10, 20], ..test_bus(&defaults.events).await },
        auth: AuthConfig { jwt_secret: "test-secret-test-secret-test-secret-0123".into(), ..defaults.auth.clone() },
        ..defaults
    };
    let mut app = App::build(config).await.expect("the app builds");
    app.start();
    let router = comptoir_api::router(app.api_state());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, router).await.expect("server runs") });
    TestApp { base, http: reqwest::Client::new(), app, _dir: dir }
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

impl TestApp {
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

    /// Waits for every event to be relayed and handled.
    pub async fn settle(&self) {
        self.app.settle(Duration::from_secs(10)).await.expect("events settle");
    }

    /// Creates a staff account with the given roles directly through the identity port (the
    /// bootstrap path the CLI uses) and logs it in; returns its access token.
    pub async fn staff_token(&self, email: &str, roles: &[&str]) -> String {
        use comptoir_contracts::identity::{IdentityPort, NewStaff, Role};
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
