//! `comptoir-bench-events`: persistent events per second through one event bus provider, from
//! publish to handled, with latency percentiles. Publishers send batches as the outbox relays do
//! (one batch awaiting confirmation per publisher); one consumer with the configured prefetch
//! handles them. Latency is measured from the moment an event is created, just before its batch is
//! published, to the moment its handler runs. See docs/BENCHMARKS.md.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use async_trait::async_trait;
use clap::{Parser, ValueEnum};
use comptoir_eventbus::{Consumer, EventBus, EventHandler, MemoryBus, RetryPolicy};
use comptoir_eventbus_kafka::{KafkaBus, KafkaConfig};
use comptoir_eventbus_nats::{NatsBus, NatsConfig};
use comptoir_eventbus_rabbitmq::{RabbitBus, RabbitConfig};
use comptoir_kernel::{EventEnvelope, RequestContext, Result};
use comptoir_storage::Db;

#[derive(Parser)]
#[command(about = "Event bus throughput and latency, publish to handled")]
struct Args {
    #[arg(value_enum)]
    provider: Provider,
    /// Events to send.
    #[arg(long, default_value_t = 50_000)]
    events: usize,
    /// Events per published batch (the outbox relay publishes up to 100 at a time).
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Publishers sending at once (one per module outbox in the monolith).
    #[arg(long, default_value_t = 4)]
    publishers: usize,
    /// Events per second in all; 0 sends as fast as the bus takes them (throughput). At a rate
    /// the bus sustains, the latencies are those of a bus that keeps up, not of a backlog.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Deliveries the consumer handles at once.
    #[arg(long, default_value_t = 10)]
    prefetch: usize,
    #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    rabbitmq_url: String,
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    nats_url: String,
    #[arg(long, default_value = "127.0.0.1:9092")]
    kafka_brokers: String,
}

#[derive(Clone, Copy, ValueEnum, Debug)]
enum Provider {
    Memory,
    Rabbitmq,
    Nats,
    Kafka,
}

/// Records when each event was handled, relative to its creation.
struct Clock {
    latencies: Mutex<Vec<Duration>>,
    done: tokio::sync::Notify,
    expected: usize,
}

#[async_trait]
impl EventHandler for Clock {
    async fn handle(&self, event: &EventEnvelope) -> Result<()> {
        let age = (chrono::Utc::now() - event.timestamp).to_std().unwrap_or_default();
        let mut latencies = self.latencies.lock().expect("latencies");
        latencies.push(age);
        if latencies.len() == self.expected {
            self.done.notify_one();
        }
        Ok(())
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let namespace = format!("bench-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let retry = RetryPolicy::default();
    let bus: Arc<dyn EventBus> = match args.provider {
        Provider::Memory => Arc::new(MemoryBus::with_prefetch(retry, args.prefetch)),
        Provider::Rabbitmq => Arc::new(
            RabbitBus::connect(RabbitConfig {
                url: args.rabbitmq_url.clone(),
                namespace: namespace.clone(),
                prefetch: args.prefetch as u16,
                retry,
                ..RabbitConfig::default()
            })
            .await?,
        ),
        Provider::Nats => Arc::new(
            NatsBus::connect(NatsConfig {
                url: args.nats_url.clone(),
                namespace: namespace.clone(),
                prefetch: args.prefetch,
                retry,
                ..NatsConfig::default()
            })
            .await?,
        ),
        Provider::Kafka => Arc::new(
            KafkaBus::connect(KafkaConfig {
                brokers: args.kafka_brokers.clone(),
                namespace: namespace.clone(),
                prefetch: args.prefetch,
                retry,
                ..KafkaConfig::default()
            })
            .await?,
        ),
    };
    // The consumer's dead letters would go here; the benchmark's handler never fails.
    let dir = tempfile::tempdir()?;
    let db = Db::open_sqlite("bench", dir.path()).await?;
    db.migrate(&comptoir_storage::Migrations { sqlite: &[], postgres: &[] }).await?;
    let clock = Arc::new(Clock {
        latencies: Mutex::new(Vec::with_capacity(args.events)),
        done: tokio::sync::Notify::new(),
        expected: args.events,
    });
    bus.subscribe(Consumer::new("bench.sink", &["#"], db, clock.clone())).await?;

    println!(
        "== {:?}: {} persistent events, batches of {}, {} publishers, prefetch {}, {}",
        args.provider,
        args.events,
        args.batch,
        args.publishers,
        args.prefetch,
        if args.rate == 0 { "as fast as possible".to_string() } else { format!("{} events/s", args.rate) }
    );
    let started = Instant::now();
    let per_publisher = args.events.div_ceil(args.publishers);
    let mut publishers = Vec::new();
    for p in 0..args.publishers {
        let bus = bus.clone();
        let count = per_publisher.min(args.events.saturating_sub(p * per_publisher));
        let batch = args.batch;
        let mut pace = (args.rate > 0).then(|| {
            let every = Duration::from_secs_f64(batch as f64 * args.publishers as f64 / args.rate as f64);
            tokio::time::interval(every)
        });
        publishers.push(tokio::spawn(async move {
            let ctx = RequestContext::system();
            let mut sent = 0;
            while sent < count {
                if let Some(pace) = pace.as_mut() {
                    pace.tick().await;
                }
                let n = batch.min(count - sent);
                let events: Vec<EventEnvelope> = (0..n)
                    .map(|i| {
                        EventEnvelope::new(
                            &ctx,
                            "bench",
                            "order.checkout.completed",
                            serde_json::json!({ "n": sent + i }),
                        )
                    })
                    .collect();
                bus.publish_batch(&events).await.map_err(|f| anyhow::anyhow!("publish failed: {}", f.error))?;
                sent += n;
            }
            anyhow::Ok(())
        }));
    }
    for publisher in publishers {
        publisher.await??;
    }
    let published = started.elapsed();
    tokio::time::timeout(Duration::from_secs(300), clock.done.notified())
        .await
        .context("not every event was handled within 5 minutes")?;
    let elapsed = started.elapsed();
    bus.close().await;

    let mut latencies = clock.latencies.lock().expect("latencies").clone();
    latencies.sort_unstable();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{:<9} {:>7} events  published in {:>5.2} s  handled in {:>5.2} s  {:>8.0} events/s  p50 {:>7.2} ms  p95 {:>7.2} ms  p99 {:>7.2} ms  max {:>8.2} ms",
        format!("{:?}", args.provider).to_lowercase(),
        latencies.len(),
        published.as_secs_f64(),
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        ms(pct(0.50)),
        ms(pct(0.95)),
        ms(pct(0.99)),
        ms(*latencies.last().expect("events")),
    );
    Ok(())
}
