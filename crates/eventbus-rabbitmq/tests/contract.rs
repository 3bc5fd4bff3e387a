//! The provider contract against a real RabbitMQ (127.0.0.1:5672 unless
//! `COMPTOIR_TEST_RABBITMQ_URL` says otherwise), plus checks read back with a raw AMQP client.
//!
//! Checks run side by side, each under a namespace of its own. The ones that stop the broker
//! take the write side of [`BROKER`], every other check the read side, so that a restart never
//! pulls the broker from under another check.

#[path = "broker/raw.rs"]
mod raw;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use comptoir_eventbus::contract::{self, Provider};
use comptoir_eventbus::{EventBus, RetryPolicy};
use comptoir_eventbus_rabbitmq::{RabbitBus, RabbitConfig};
use lapin::options::{ExchangeDeleteOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties};
use tokio::sync::RwLock;

pub static BROKER: RwLock<()> = RwLock::const_new(());

pub fn url() -> String {
    std::env::var("COMPTOIR_TEST_RABBITMQ_URL").unwrap_or_else(|_| RabbitConfig::default().url)
}

const HOW_TO_START: &str = "start it with `rabbitmq-server -detached` (or `rabbitmqctl start_app` if the node is up \
    with its application stopped), or point COMPTOIR_TEST_RABBITMQ_URL at another broker";

/// Logs of the bus, shown with a failing check's output (`RUST_LOG` to choose).
fn log() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "comptoir_eventbus_rabbitmq=info,comptoir_eventbus=warn".into());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
}

/// A bus for `namespace`; fails the test loudly when there is no broker.
pub async fn bus(namespace: &str, retry: RetryPolicy, quorum_queues: bool) -> RabbitBus {
    log();
    let config =
        RabbitConfig { url: url(), namespace: namespace.to_string(), retry, quorum_queues, ..Default::default() };
    RabbitBus::connect(config)
        .await
        .unwrap_or_else(|e| panic!("these tests need RabbitMQ, which is not reachable: {e}; {HOW_TO_START}"))
}

/// A plain AMQP connection, to look at the broker without the bus.
pub async fn raw() -> (Connection, Channel) {
    let connection = Connection::connect(&url(), ConnectionProperties::default()).await.unwrap_or_else(|e| {
        panic!("these tests need RabbitMQ at {}, which is not reachable: {e}; {HOW_TO_START}", url())
    });
    let channel = connection.create_channel().await.unwrap();
    (connection, channel)
}

/// Deletes what the buses of a namespace declared.
pub async fn remove(buses: &[RabbitBus]) {
    let (connection, channel) = raw().await;
    for bus in buses {
        let declared = bus.declared().await;
        for queue in declared.queues {
            channel.queue_delete(queue.into(), QueueDeleteOptions::default()).await.unwrap();
        }
        for exchange in declared.exchanges {
            channel.exchange_delete(exchange.into(), ExchangeDeleteOptions::default()).await.unwrap();
        }
    }
    let _ = connection.close(200, "done".into()).await;
}

/// Messages waiting in `queue`, or `None` if there is no such queue.
pub async fn messages_in(queue: &str) -> Option<u64> {
    let (connection, channel) = raw().await;
    let options = QueueDeclareOptions { passive: true, ..Default::default() };
    let count =
        channel.queue_declare(queue.into(), options, FieldTable::default()).await.ok().map(|q| q.message_count());
    let _ = connection.close(200, "done".into()).await;
    count.map(u64::from)
}

/// Runs `rabbitmqctl <command>` and fails the test if it fails.
async fn rabbitmqctl(command: &'static str) {
    let output = tokio::task::spawn_blocking(move || std::process::Command::new("rabbitmqctl").arg(command).output())
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("rabbitmqctl {command} could not run ({e}); the restart checks need rabbitmqctl"));
    assert!(output.status.success(), "rabbitmqctl {command} failed: {}", String::from_utf8_lossy(&output.stderr));
}

/// Stops the broker's application (the node stays up); returns once connections are refused.
pub async fn stop_broker() {
    rabbitmqctl("stop_app").await;
    for _ in 0..100 {
        if Connection::connect(&url(), ConnectionProperties::default()).await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("RabbitMQ still accepts connections after stop_app");
}

/// Starts the broker's application; returns once it accepts connections.
pub async fn start_broker() {
    rabbitmqctl("start_app").await;
    for _ in 0..300 {
        if let Ok(connection) = Connection::connect(&url(), ConnectionProperties::default()).await {
            let _ = connection.close(200, "up".into()).await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("RabbitMQ does not accept connections 30 s after start_app");
}

/// Starts the broker again if a restart check fails while it is stopped, so that the checks
/// after it do not fail too.
pub struct RestartOnPanic;

impl Drop for RestartOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = std::process::Command::new("rabbitmqctl").arg("start_app").status();
        }
    }
}

struct Rabbit {
    buses: Mutex<HashMap<String, Vec<RabbitBus>>>,
}

fn rabbit() -> Rabbit {
    Rabbit { buses: Mutex::new(HashMap::new()) }
}

#[async_trait]
impl Provider for Rabbit {
    fn name(&self) -> &'static str {
        "rabbitmq"
    }

    async fn connect(&self, namespace: &str, retry: RetryPolicy) -> Arc<dyn EventBus> {
        let bus = bus(namespace, retry, false).await;
        self.buses.lock().unwrap().entry(namespace.to_string()).or_default().push(bus.clone());
        Arc::new(bus)
    }

    async fn stop_broker(&self) {
        stop_broker().await;
    }

    async fn start_broker(&self) {
        start_broker().await;
    }

    async fn broker_dead_letters(&self, namespace: &str, consumer: &str) -> Option<u64> {
        Some(messages_in(&format!("{namespace}.{consumer}.dead")).await.unwrap_or(0))
    }

    async fn cleanup(&self, namespace: &str) {
        let buses = self.buses.lock().unwrap().remove(namespace).unwrap_or_default();
        remove(&buses).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patterns_route_each_event_to_its_consumers() {
    let _broker = BROKER.read().await;
    contract::patterns_route_each_event_to_its_consumers(&rabbit()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_consumer_receives_its_own_copy() {
    let _broker = BROKER.read().await;
    contract::every_consumer_receives_its_own_copy(&rabbit()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_of_a_consumer_share_its_queue() {
    let _broker = BROKER.read().await;
    contract::instances_of_a_consumer_share_its_queue(&rabbit()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_handling_is_redelivered() {
    let _broker = BROKER.read().await;
    contract::a_failed_handling_is_redelivered(&rabbit()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_failure_is_dead_lettered_then_replayed() {
    let _broker = BROKER.read().await;
    contract::the_last_failure_is_dead_lettered_then_replayed(&rabbit()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_event_has_no_second_effect() {
    let _broker = BROKER.read().await;
    contract::a_redelivered_event_has_no_second_effect(&rabbit()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcasts_reach_every_instance() {
    let _broker = BROKER.read().await;
    contract::broadcasts_reach_every_instance(&rabbit()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_across_a_broker_restart() {
    let _broker = BROKER.write().await;
    let _restart = RestartOnPanic;
    contract::nothing_is_lost_across_a_broker_restart(&rabbit()).await;
}
