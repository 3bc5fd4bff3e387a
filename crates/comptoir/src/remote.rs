//! Connections to the modules that run as their own service.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use comptoir_grpc::{Remote, RemoteSettings};

use crate::config::Config;
use crate::topology::Module;

/// The connections of one process to the services it calls: one per module, made on first use and
/// shared by the module's port client, the dead-letter office and the readiness probe, so that
/// they use one HTTP/2 connection and see the same circuit breaker.
#[derive(Clone)]
pub struct Remotes {
    urls: BTreeMap<String, String>,
    settings: RemoteSettings,
    connected: Arc<Mutex<BTreeMap<Module, Remote>>>,
}

impl Remotes {
    pub fn new(config: &Config) -> Self {
        let urls = config.services.iter().map(|(module, service)| (module.clone(), service.url.trim().to_string()));
        Remotes { urls: urls.collect(), settings: settings(config), connected: Arc::default() }
    }

    /// A lazily connected channel to `module`'s service, with the configured deadline, retries
    /// and circuit breaker. The topology has checked that the modules this process calls have a
    /// URL; a module it never calls may have none.
    pub fn get(&self, module: Module) -> anyhow::Result<Remote> {
        let mut connected = self.connected.lock().expect("remotes poisoned");
        if let Some(remote) = connected.get(&module) {
            return Ok(remote.clone());
        }
        let url = self.urls.get(module.name()).map(String::as_str).unwrap_or_default();
        let remote = match url.is_empty() {
            true => Remote::unconfigured(module.name()),
            false => Remote::connect(module.name(), url, self.settings.clone())
                .with_context(|| format!("services.{module}.url"))?,
        };
        connected.insert(module, remote.clone());
        Ok(remote)
    }
}

pub fn settings(config: &Config) -> RemoteSettings {
    let r = &config.remote;
    RemoteSettings {
        timeout: Duration::from_millis(r.timeout_ms),
        connect_timeout: Duration::from_millis(r.connect_timeout_ms),
        retries: r.retries,
        retry_backoff: Duration::from_millis(50),
        breaker_failures: r.breaker_failures,
        breaker_open_for: Duration::from_millis(r.breaker_open_ms),
    }
}

/// `/readyz` reports each service this process calls: `service:<module>` is up when its gRPC
/// health endpoint answers SERVING.
pub struct ServiceProbe {
    pub modules: Vec<Module>,
    pub remote: Remote,
}

#[async_trait::async_trait]
impl comptoir_api::Probe for ServiceProbe {
    fn name(&self) -> String {
        let names: Vec<&str> = self.modules.iter().map(|m| m.name()).collect();
        format!("service:{}", names.join("+"))
    }

    async fn check(&self) -> comptoir_kernel::Result<()> {
        self.remote.check_health().await
    }
}
