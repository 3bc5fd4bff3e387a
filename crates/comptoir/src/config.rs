//! Configuration: defaults, then a TOML file, then `COMPTOIR_*` environment variables
//! (`__` separates sections: `COMPTOIR_HTTP__ADDR=0.0.0.0:8080`). See `comptoir.example.toml`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the embedded databases live: one SQLite file per module.
    pub data_dir: PathBuf,
    pub http: HttpConfig,
    pub auth: AuthConfig,
    pub events: EventsConfig,
    pub inventory: InventoryConfig,
    pub ordering: OrderingConfig,
    pub shop: ShopConfig,
    pub payment: WebhookConfig,
    pub shipping: WebhookConfig,
    pub notification: NotificationConfig,
    pub search: SearchSettings,
    pub webhooks: WebhooksSettings,
    pub audit: AuditSettings,
    pub log: LogConfig,
    /// OpenTelemetry traces.
    pub telemetry: TelemetryConfig,
    /// Per-module database URLs overriding the embedded default (`catalog = "sqlite:///var/lib/catalog.sqlite"`).
    pub databases: BTreeMap<String, String>,
    pub storage: StorageConfig,
    /// Modules running as their own service: `[services.payment] url = "http://127.0.0.1:9006"`.
    /// A module with a URL is called over gRPC instead of running in this process.
    pub services: BTreeMap<String, ServiceConfig>,
    /// How this process calls remote services.
    pub remote: RemoteConfig,
    pub grpc: GrpcConfig,
    /// The storefront and the back office.
    pub web: WebConfig,
}

/// How this process uses its module databases.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Connections each module running here keeps to PostgreSQL at most. A process opens one pool
    /// per module it runs: the monolith eleven, a service one or two; size them so that every
    /// process together stays under the server's `max_connections`.
    pub postgres_pool_size: u32,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig { postgres_pool_size: comptoir_storage::POSTGRES_POOL_SIZE }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceConfig {
    /// Where the module's service answers (`http://catalog:9002`).
    pub url: String,
    /// Where `comptoir serve --service <module>` listens; default `0.0.0.0:<its port>`.
    pub listen: Option<SocketAddr>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RemoteConfig {
    /// Deadline of one call, retries included.
    pub timeout_ms: u64,
    pub connect_timeout_ms: u64,
    /// Extra attempts for calls that are safe to repeat, when the service was not reached.
    pub retries: u32,
    /// Consecutive failures that open a service's circuit breaker...
    pub breaker_failures: u32,
    /// ...and how long calls to it then fail at once before it is tried again.
    pub breaker_open_ms: u64,
}

impl Default for RemoteConfig {
    fn default() -> Self {
        RemoteConfig {
            timeout_ms: 10_000,
            connect_timeout_ms: 1_000,
            retries: 2,
            breaker_failures: 5,
            breaker_open_ms: 5_000,
        }
    }
}

/// The web front-ends: served by the monolith beside the API, or by their own roles
/// (`comptoir serve --storefront`, `--backoffice`) in front of the services.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// Whether the monolith serves the storefront and the back office beside the API.
    pub enabled: bool,
    pub storefront_addr: SocketAddr,
    pub backoffice_addr: SocketAddr,
    /// Session cookies are `Secure` (HTTPS only; browsers accept them from `http://localhost`
    /// too). Turn off only to try the shop over plain HTTP on another host.
    pub secure_cookies: bool,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            enabled: true,
            storefront_addr: "0.0.0.0:9000".parse().expect("valid address"),
            backoffice_addr: "0.0.0.0:9010".parse().expect("valid address"),
            secure_cookies: true,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcConfig {
    /// The monolith also answers gRPC for its modules here (for services extracted from it that
    /// call back into it). Off by default: the gRPC services trust the caller's identity, so this
    /// address must stay on a private network.
    pub listen: Option<SocketAddr>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub addr: SocketAddr,
    pub body_limit_bytes: usize,
    pub request_timeout_secs: u64,
    pub rate_limit: RateLimitConfig,
    /// How long the API acts on the admin settings it last read (maintenance mode) before asking
    /// again. A change made through this process applies at once; through another, within this.
    pub settings_cache_ms: u64,
    /// At shutdown, how long requests in progress may finish before they are cut short.
    pub shutdown_grace_secs: u64,
}

/// Requests per second allowed (bursts of twice that); 0 turns a limit off. Over it: 429 with
/// `Retry-After`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Per client address (the TCP peer).
    pub per_ip: u32,
    /// Per customer or staff member.
    pub per_customer: u32,
    pub per_api_key: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        let d = comptoir_api::rate_limit::RateLimits::default();
        RateLimitConfig { per_ip: d.per_ip, per_customer: d.per_customer, per_api_key: d.per_api_key }
    }
}

impl RateLimitConfig {
    pub fn limits(&self) -> comptoir_api::rate_limit::RateLimits {
        comptoir_api::rate_limit::RateLimits {
            per_ip: self.per_ip,
            per_customer: self.per_customer,
            per_api_key: self.per_api_key,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// HMAC secret for access tokens. Empty: one is generated on first start and kept in
    /// `<data_dir>/jwt.secret`.
    pub jwt_secret: String,
    pub access_ttl_secs: u64,
    pub refresh_ttl_secs: u64,
    /// Where identity runs elsewhere (the gateway): how long its answer for a session or an API
    /// key is reused. Revocations are broadcast and forgotten at once; this bounds the staleness
    /// should a broadcast be lost.
    pub cache_ttl_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// `memory` (in-process, the default), `rabbitmq`, `nats` or `kafka`.
    pub provider: String,
    /// Waits before each retry of a failed handling, in milliseconds; then the event is dead-lettered.
    pub retry_delays_ms: Vec<u64>,
    /// Events each consumer handles at once.
    pub prefetch: usize,
    /// Prefixes every exchange, queue, stream and topic, so that several shops (or test runs) can
    /// share one broker. Empty: none.
    pub namespace: String,
    /// While moving from the in-process bus to a broker: publish every event to both, serve
    /// consumers from `dual_write_primary`, and count what each side received.
    pub dual_write: bool,
    /// `memory` or `broker`: which side serves the consumers in dual-write mode.
    pub dual_write_primary: String,
    pub rabbitmq: RabbitMqSettings,
    pub nats: NatsSettings,
    pub kafka: KafkaSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RabbitMqSettings {
    pub url: String,
    /// Replicated quorum queues instead of classic ones (for a RabbitMQ cluster).
    pub quorum_queues: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NatsSettings {
    pub url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaSettings {
    /// Bootstrap servers, comma-separated.
    pub brokers: String,
    /// Partitions of each topic Comptoir creates.
    pub partitions: i32,
}

impl Default for RabbitMqSettings {
    fn default() -> Self {
        RabbitMqSettings { url: "amqp://guest:guest@127.0.0.1:5672/%2f".into(), quorum_queues: false }
    }
}

impl Default for NatsSettings {
    fn default() -> Self {
        NatsSettings { url: "nats://127.0.0.1:4222".into() }
    }
}

impl Default for KafkaSettings {
    fn default() -> Self {
        KafkaSettings { brokers: "127.0.0.1:9092".into(), partitions: 3 }
    }
}

/// The event bus providers `events.provider` accepts.
pub const EVENT_PROVIDERS: &[&str] = &["memory", "rabbitmq", "nats", "kafka"];

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InventoryConfig {
    /// How often expired reservations are released.
    pub reservation_sweep_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OrderingConfig {
    /// How long stock stays reserved for a checkout that has not been paid.
    pub reservation_ttl_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchSettings {
    /// How often the index looks for changes stored by another process (a rebuild run from the
    /// command line); changes made by events are searchable as soon as they are handled.
    pub poll_ms: u64,
}

impl Default for SearchSettings {
    fn default() -> Self {
        SearchSettings { poll_ms: 1000 }
    }
}

/// The audit log (docs/AUDIT.md).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSettings {
    /// Days an audit entry is kept; older ones are deleted once a day by the process running the
    /// audit module. 0 (the default): kept until an operator removes them.
    pub retention_days: u32,
}

/// Outbound webhooks to third-party applications (docs/WEBHOOKS.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksSettings {
    /// Accept `http://` endpoints; otherwise only `https://`. For development only.
    pub allow_http: bool,
    /// Accept endpoints on loopback and private networks. Off in production: a subscription
    /// could otherwise reach internal services.
    pub allow_private_hosts: bool,
    /// The deadline of one delivery attempt.
    pub timeout_secs: u64,
    /// The wait before each automatic retry, in seconds.
    pub retry_delays_secs: Vec<u64>,
    /// Consecutive failed attempts that disable a subscription (0: never).
    pub disable_after_failures: u32,
    /// Hours of failing attempts that disable a subscription (0: never).
    pub disable_after_failing_hours: u64,
    /// How often the dispatcher looks for due retries when nothing wakes it.
    pub poll_ms: u64,
}

impl Default for WebhooksSettings {
    fn default() -> Self {
        WebhooksSettings {
            allow_http: false,
            allow_private_hosts: false,
            timeout_secs: 10,
            retry_delays_secs: vec![30, 120, 600, 3600, 6 * 3600],
            disable_after_failures: 20,
            disable_after_failing_hours: 72,
            poll_ms: 1000,
        }
    }
}

/// Who sells: printed on invoices and labels, signing messages.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShopConfig {
    /// The name the shop starts with; staff change it in the admin settings afterwards.
    pub name: String,
    pub email: String,
    pub address_line1: String,
    pub postal_code: String,
    pub city: String,
    pub country: String,
    /// The sales channel (catalog channel code) and currency the shop starts with, until staff
    /// change them in the admin settings.
    pub default_channel: String,
    pub default_currency: String,
}

/// A provider's signed webhooks.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    /// HMAC key of the `Comptoir-Signature` header. Empty: generated on first start and kept in
    /// the data directory.
    pub webhook_secret: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotificationConfig {
    /// The sender of every message.
    pub from: String,
    /// Receives merchant alerts (low stock).
    pub merchant_email: String,
    /// SMTP server; empty host: messages stay in the mailbox only.
    pub smtp_host: String,
    pub smtp_port: u16,
    pub smtp_username: String,
    pub smtp_password: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `auto` (text in a terminal, JSON otherwise), `json` or `text`.
    pub format: String,
    /// A tracing filter (`info`, `comptoir=debug,sqlx=warn`); `RUST_LOG` wins when set.
    pub level: String,
}

/// Traces are sent over OTLP/gRPC when `otlp_endpoint` is set (`http://otel-collector:4317`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    pub otlp_endpoint: Option<String>,
    /// `service.name` of this process; default `comptoir-<role>` (`comptoir-gateway`,
    /// `comptoir-catalog`, `comptoir-monolith`, ...).
    pub service_name: Option<String>,
    /// Share of new traces kept, 0.0 to 1.0 (a trace begun upstream keeps its caller's choice).
    pub sample_ratio: f64,
    /// How long finished spans wait to be sent together, in milliseconds.
    pub batch_delay_ms: u64,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig { otlp_endpoint: None, service_name: None, sample_ratio: 1.0, batch_delay_ms: 2000 }
    }
}

impl Config {
    pub fn log_settings(&self) -> comptoir_telemetry::LogSettings {
        comptoir_telemetry::LogSettings { format: self.log.format.clone(), level: self.log.level.clone() }
    }

    /// Traces settings for a process in `role`.
    pub fn traces_settings(&self, role: crate::topology::Role) -> comptoir_telemetry::TracesSettings {
        let t = &self.telemetry;
        comptoir_telemetry::TracesSettings {
            endpoint: t.otlp_endpoint.clone().filter(|e| !e.trim().is_empty()),
            service_name: t.service_name.clone().unwrap_or_else(|| format!("comptoir-{}", role.slug())),
            sample_ratio: t.sample_ratio,
            batch_delay: std::time::Duration::from_millis(t.batch_delay_ms),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./data"),
            http: HttpConfig::default(),
            auth: AuthConfig::default(),
            events: EventsConfig::default(),
            inventory: InventoryConfig::default(),
            ordering: OrderingConfig::default(),
            shop: ShopConfig::default(),
            payment: WebhookConfig::default(),
            shipping: WebhookConfig::default(),
            notification: NotificationConfig::default(),
            search: SearchSettings::default(),
            webhooks: WebhooksSettings::default(),
            audit: AuditSettings::default(),
            log: LogConfig::default(),
            telemetry: TelemetryConfig::default(),
            databases: BTreeMap::new(),
            storage: StorageConfig::default(),
            services: BTreeMap::new(),
            remote: RemoteConfig::default(),
            grpc: GrpcConfig::default(),
            web: WebConfig::default(),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            addr: "0.0.0.0:8080".parse().expect("valid address"),
            body_limit_bytes: 1024 * 1024,
            request_timeout_secs: 30,
            rate_limit: RateLimitConfig::default(),
            settings_cache_ms: 5000,
            shutdown_grace_secs: 30,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            jwt_secret: String::new(),
            access_ttl_secs: 15 * 60,
            refresh_ttl_secs: 30 * 24 * 3600,
            cache_ttl_secs: 10,
        }
    }
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            provider: "memory".into(),
            retry_delays_ms: vec![1_000, 5_000, 30_000],
            prefetch: 10,
            namespace: String::new(),
            dual_write: false,
            dual_write_primary: "memory".into(),
            rabbitmq: RabbitMqSettings::default(),
            nats: NatsSettings::default(),
            kafka: KafkaSettings::default(),
        }
    }
}

impl Default for InventoryConfig {
    fn default() -> Self {
        InventoryConfig { reservation_sweep_secs: 30 }
    }
}

impl Default for OrderingConfig {
    fn default() -> Self {
        OrderingConfig { reservation_ttl_secs: 900 }
    }
}

impl Default for ShopConfig {
    fn default() -> Self {
        ShopConfig {
            name: "Comptoir Demo Shop".into(),
            email: "shop@comptoir.test".into(),
            address_line1: "1 rue du Commerce".into(),
            postal_code: "75015".into(),
            city: "Paris".into(),
            country: "FR".into(),
            default_channel: "online".into(),
            default_currency: "EUR".into(),
        }
    }
}

impl Default for NotificationConfig {
    fn default() -> Self {
        NotificationConfig {
            from: "shop@comptoir.test".into(),
            merchant_email: "merchant@comptoir.test".into(),
            smtp_host: String::new(),
            smtp_port: 25,
            smtp_username: String::new(),
            smtp_password: String::new(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { format: "auto".into(), level: "info".into() }
    }
}

/// `COMPTOIR_*` variables that feed command-line arguments, not the configuration.
const COMMAND_LINE_VARIABLES: &[&str] = &["config", "admin_password"];

/// Whether a `COMPTOIR_*` variable (prefix removed) is configuration: not a command-line argument,
/// not one of the test harness's `COMPTOIR_TEST_*`.
fn is_configuration(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    !key.starts_with("test_") && !COMMAND_LINE_VARIABLES.contains(&key.as_str())
}

impl Config {
    /// Loads defaults, then `file` (or `comptoir.toml` if present), then the environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Config> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(path) => {
                anyhow::ensure!(path.exists(), "configuration file {} does not exist", path.display());
                figment = figment.merge(Toml::file(path));
            }
            None if Path::new("comptoir.toml").exists() => figment = figment.merge(Toml::file("comptoir.toml")),
            None => {}
        }
        let config: Config = figment
            .merge(Env::prefixed("COMPTOIR_").filter(|key| is_configuration(key.as_str())).split("__"))
            .extract()
            .context("invalid configuration")?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        let events = &self.events;
        anyhow::ensure!(
            EVENT_PROVIDERS.contains(&events.provider.as_str()),
            "events.provider {:?} is not one of {}",
            events.provider,
            EVENT_PROVIDERS.join(", ")
        );
        anyhow::ensure!(
            ["memory", "broker"].contains(&events.dual_write_primary.as_str()),
            "events.dual_write_primary {:?} must be \"memory\" or \"broker\"",
            events.dual_write_primary
        );
        anyhow::ensure!(
            !events.dual_write || events.provider != "memory",
            "events.dual_write needs a broker in events.provider (rabbitmq, nats or kafka)"
        );
        anyhow::ensure!(
            events.namespace.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "events.namespace {:?} may hold only lowercase letters, digits and dashes",
            events.namespace
        );
        anyhow::ensure!(
            (1..=1000).contains(&self.storage.postgres_pool_size),
            "storage.postgres_pool_size {} must be between 1 and 1000",
            self.storage.postgres_pool_size
        );
        for name in self.services.keys() {
            anyhow::ensure!(
                crate::topology::Module::parse(name).is_some(),
                "services.{name}: no such module (one of {})",
                crate::topology::Module::ALL.map(|m| m.name()).join(", ")
            );
        }
        Ok(())
    }

    /// The JWT secret: configured, or generated once and kept beside the data.
    pub fn jwt_secret(&self) -> anyhow::Result<String> {
        anyhow::ensure!(
            self.auth.jwt_secret.is_empty() || self.auth.jwt_secret.len() >= 32,
            "auth.jwt_secret must be at least 32 characters"
        );
        self.secret("jwt.secret", &self.auth.jwt_secret)
    }

    /// A secret from the configuration, or, when it is empty, one generated on first use and kept
    /// in `<data_dir>/<file>` (readable by the owner only) so that restarts keep it.
    pub fn secret(&self, file: &str, configured: &str) -> anyhow::Result<String> {
        if !configured.is_empty() {
            return Ok(configured.to_string());
        }
        let path = self.data_dir.join(file);
        if let Ok(existing) = std::fs::read_to_string(&path) {
            return Ok(existing.trim().to_string());
        }
        std::fs::create_dir_all(&self.data_dir).with_context(|| format!("creating {}", self.data_dir.display()))?;
        let secret = hex::encode(rand::random::<[u8; 32]>());
        write_private(&path, &secret).with_context(|| format!("writing {}", path.display()))?;
        Ok(secret)
    }
}

#[cfg(unix)]
fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(content.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    std::fs::write(path, content)
}

#[cfg(test)]
// figment's test jail returns its own (large) error type; nothing to gain from boxing it here.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_the_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("c.toml", "data_dir = \"/tmp/x\"\n[http]\naddr = \"127.0.0.1:1\"\n")?;
            jail.set_env("COMPTOIR_HTTP__ADDR", "127.0.0.1:9999");
            let config = Config::load(Some(Path::new("c.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(config.data_dir, PathBuf::from("/tmp/x"));
            assert_eq!(config.http.addr.port(), 9999);
            assert_eq!(config.events.retry_delays_ms, vec![1000, 5000, 30000]);
            Ok(())
        });
    }

    #[test]
    fn command_line_variables_are_not_configuration() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("COMPTOIR_ADMIN_PASSWORD", "a-long-password");
            jail.set_env("COMPTOIR_CONFIG", "elsewhere.toml");
            jail.set_env("COMPTOIR_TEST_BACKEND", "postgres");
            Config::load(None).map_err(|e| e.to_string())?;
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_refused() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("c.toml", "[http]\nadress = \"127.0.0.1:1\"\n")?;
            assert!(Config::load(Some(Path::new("c.toml"))).is_err());
            Ok(())
        });
    }

    #[test]
    fn the_example_file_documents_the_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("example.toml", include_str!("../../../comptoir.example.toml"))?;
            let loaded = Config::load(Some(Path::new("example.toml"))).map_err(|e| e.to_string())?;
            let defaults = serde_json::to_value(Config::default()).map_err(|e| e.to_string())?;
            assert_eq!(serde_json::to_value(loaded).map_err(|e| e.to_string())?, defaults);
            Ok(())
        });
    }

    #[test]
    fn the_postgres_pool_size_is_configurable_within_reason() {
        figment::Jail::expect_with(|jail| {
            assert_eq!(Config::load(None).map_err(|e| e.to_string())?.storage.postgres_pool_size, 5);
            jail.set_env("COMPTOIR_STORAGE__POSTGRES_POOL_SIZE", "2");
            assert_eq!(Config::load(None).map_err(|e| e.to_string())?.storage.postgres_pool_size, 2);
            jail.set_env("COMPTOIR_STORAGE__POSTGRES_POOL_SIZE", "0");
            let error = format!("{:#}", Config::load(None).unwrap_err());
            assert!(error.contains("storage.postgres_pool_size 0 must be between 1 and 1000"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn event_settings_are_checked() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("COMPTOIR_EVENTS__PROVIDER", "kafka");
            jail.set_env("COMPTOIR_EVENTS__KAFKA__BROKERS", "10.0.0.1:9092");
            let config = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(config.events.kafka.brokers, "10.0.0.1:9092");
            for (key, value, complaint) in [
                ("COMPTOIR_EVENTS__PROVIDER", "pigeon", "not one of memory, rabbitmq, nats, kafka"),
                ("COMPTOIR_EVENTS__NAMESPACE", "Shop One", "lowercase letters"),
                ("COMPTOIR_EVENTS__DUAL_WRITE_PRIMARY", "both", "\"memory\" or \"broker\""),
            ] {
                jail.set_env(key, value);
                let error = format!("{:#}", Config::load(None).unwrap_err());
                assert!(error.contains(complaint), "{key}={value}: {error}");
                jail.set_env(
                    key,
                    if key.ends_with("PROVIDER") {
                        "kafka"
                    } else if key.ends_with("PRIMARY") {
                        "memory"
                    } else {
                        ""
                    },
                );
            }
            jail.set_env("COMPTOIR_EVENTS__PROVIDER", "memory");
            jail.set_env("COMPTOIR_EVENTS__DUAL_WRITE", "true");
            let error = format!("{:#}", Config::load(None).unwrap_err());
            assert!(error.contains("dual_write needs a broker"), "{error}");
            Ok(())
        });
    }
}
