//! Chooses the event bus from the configuration: the in-process bus, a broker (RabbitMQ, NATS
//! JetStream, Kafka), or both at once while migrating (dual write).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use comptoir_api::Probe;
use comptoir_eventbus::{Consumer, DualWriteBus, EventBus, EventHandler, MemoryBus, RetryPolicy};
use comptoir_eventbus_kafka::{KafkaBus, KafkaConfig};
use comptoir_eventbus_nats::{NatsBus, NatsConfig};
use comptoir_eventbus_rabbitmq::{RabbitBus, RabbitConfig};
use comptoir_kernel::{EventEnvelope, RequestContext, Result};
use comptoir_storage::Db;

use crate::config::EventsConfig;

/// The bus the application publishes to and consumes from, and the dual-write view when on.
#[derive(Clone)]
pub struct Bus {
    pub bus: Arc<dyn EventBus>,
    pub dual_write: Option<Arc<DualWriteBus>>,
}

/// Connects the configured provider. A provider named without a broker address falls back to the
/// in-process bus, loudly (the design's rule); a broker that is configured but cannot be reached
/// at start is an error, because a silent fallback would keep events from the other services.
pub async fn connect(config: &EventsConfig, audit_db: &Db) -> anyhow::Result<Bus> {
    let retry = RetryPolicy { delays: config.retry_delays_ms.iter().map(|ms| Duration::from_millis(*ms)).collect() };
    let memory = || Arc::new(MemoryBus::with_prefetch(retry.clone(), config.prefetch)) as Arc<dyn EventBus>;
    if config.provider == "memory" {
        return Ok(Bus { bus: memory(), dual_write: None });
    }
    if broker_address(config).trim().is_empty() {
        tracing::warn!(provider = %config.provider,
            "events.provider names a broker but its address is empty; FALLING BACK TO THE IN-PROCESS BUS: \
             events will not leave this process");
        return Ok(Bus { bus: memory(), dual_write: None });
    }
    let broker = connect_broker(config, retry.clone())
        .await
        .with_context(|| format!("connecting the {} event bus (events.provider)", config.provider))?;
    tracing::info!(provider = broker.provider(), namespace = %config.namespace, dual_write = config.dual_write,
        "event bus connected");
    if !config.dual_write {
        return Ok(Bus { bus: broker, dual_write: None });
    }
    let (primary, secondary) =
        if config.dual_write_primary == "broker" { (broker, memory()) } else { (memory(), broker) };
    let dual = Arc::new(DualWriteBus::new(primary, secondary, audit_db.clone()).await?);
    Ok(Bus { bus: dual.clone(), dual_write: Some(dual) })
}

fn broker_address(config: &EventsConfig) -> &str {
    match config.provider.as_str() {
        "rabbitmq" => &config.rabbitmq.url,
        "nats" => &config.nats.url,
        "kafka" => &config.kafka.brokers,
        _ => "",
    }
}

async fn connect_broker(config: &EventsConfig, retry: RetryPolicy) -> anyhow::Result<Arc<dyn EventBus>> {
    let namespace = config.namespace.clone();
    Ok(match config.provider.as_str() {
        "rabbitmq" => Arc::new(
            RabbitBus::connect(RabbitConfig {
                url: config.rabbitmq.url.clone(),
                namespace,
                prefetch: config.prefetch.min(u16::MAX as usize) as u16,
                quorum_queues: config.rabbitmq.quorum_queues,
                retry,
                ..RabbitConfig::default()
            })
            .await?,
        ),
        "nats" => Arc::new(
            NatsBus::connect(NatsConfig {
                url: config.nats.url.clone(),
                namespace,
                prefetch: config.prefetch,
                retry,
                ..NatsConfig::default()
            })
            .await?,
        ),
        "kafka" => Arc::new(
            KafkaBus::connect(KafkaConfig {
                brokers: config.kafka.brokers.clone(),
                namespace,
                prefetch: config.prefetch,
                partitions: config.kafka.partitions,
                retry,
                ..KafkaConfig::default()
            })
            .await?,
        ),
        other => anyhow::bail!("unknown event bus provider {other:?}"),
    })
}

/// `/readyz` reports the bus: a broker that cannot be reached makes the instance not ready.
pub struct BusProbe(pub Arc<dyn EventBus>);

#[async_trait]
impl Probe for BusProbe {
    fn name(&self) -> String {
        format!("event-bus:{}", self.0.provider())
    }

    async fn check(&self) -> Result<()> {
        self.0.check().await
    }
}

/// The broadcast consumer of this instance: `system.*` events from every instance (one starting,
/// one stopping) are logged and counted, so operators see the fleet change in any instance's log.
struct SystemEvents;

#[async_trait]
impl EventHandler for SystemEvents {
    async fn handle(&self, event: &EventEnvelope) -> Result<()> {
        tracing::info!(event_type = %event.event_type, source = %event.source, data = %event.data,
            "system event received");
        metrics::counter!("comptoir_system_events_received_total", "type" => event.event_type.clone()).increment(1);
        Ok(())
    }
}

pub async fn subscribe_system_events(bus: &Arc<dyn EventBus>, db: &Db) -> Result<()> {
    bus.subscribe(Consumer::broadcast("instance.system-events", db.clone(), Arc::new(SystemEvents))).await
}

/// Tells every instance that this one starts or stops (`system.instance.started` / `.stopping`).
pub async fn announce(bus: &Arc<dyn EventBus>, event_type: &str) {
    let instance = serde_json::json!({
        "instance_id": instance_id(),
        "version": env!("CARGO_PKG_VERSION"),
    });
    let event = EventEnvelope::new(&RequestContext::system(), "comptoir", event_type, instance);
    if let Err(e) = bus.publish(&event).await {
        tracing::warn!(event_type, error = %e, "could not announce to the other instances");
    }
}

/// This process, as other instances see it: host name and process id.
fn instance_id() -> String {
    // $HOSTNAME is a shell variable, rarely exported: read the kernel's name when it is missing.
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok().map(|h| h.trim().to_string()))
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}:{}", std::process::id())
}
