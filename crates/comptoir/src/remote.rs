//! Connections to the modules that run as their own service.

use std::time::Duration;

use anyhow::Context;
use comptoir_grpc::{Remote, RemoteSettings};

use crate::config::Config;
use crate::topology::Module;

/// A lazily connected channel to `module`'s service, with the configured deadline, retries and
/// circuit breaker. The topology has checked that the modules this process calls have a URL; a
/// module it never calls may have none.
pub fn connect(config: &Config, module: Module) -> anyhow::Result<Remote> {
    let url = config.services.get(module.name()).map(|s| s.url.trim()).unwrap_or_default();
    if url.is_empty() {
        return Ok(Remote::unconfigured(module.name()));
    }
    Remote::connect(module.name(), url, settings(config)).with_context(|| format!("services.{module}.url"))
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
