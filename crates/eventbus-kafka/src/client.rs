//! What every Kafka client of a bus shares: the settings common to its producer, admin client
//! and consumers, and logging that reports a broker outage once rather than on every one of
//! librdkafka's reconnection attempts (it reconnects by itself, with backoff).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

/// Whether the broker can be reached, as the clients last saw it.
#[derive(Debug)]
pub(crate) struct Connectivity {
    brokers: String,
    down: AtomicBool,
}

impl Connectivity {
    pub fn new(brokers: &str) -> Arc<Connectivity> {
        Arc::new(Connectivity { brokers: brokers.to_string(), down: AtomicBool::new(false) })
    }

    /// A client lost the broker; logged once per outage.
    pub fn lost(&self, reason: &str) {
        if !self.down.swap(true, Ordering::SeqCst) {
            tracing::warn!(provider = "kafka", brokers = %self.brokers, reason,
                "Kafka broker unreachable; reconnecting in the background");
        }
    }

    /// A client reached the broker (a delivery report, a message, a metadata answer).
    pub fn restored(&self) {
        if self.down.swap(false, Ordering::SeqCst) {
            tracing::info!(provider = "kafka", brokers = %self.brokers, "Kafka broker reachable again");
        }
    }
}

/// The client context of every producer, admin client and consumer of a bus.
#[derive(Clone)]
pub(crate) struct BusContext {
    pub connectivity: Arc<Connectivity>,
}

impl ClientContext for BusContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        let serious = matches!(
            level,
            RDKafkaLogLevel::Emerg
                | RDKafkaLogLevel::Alert
                | RDKafkaLogLevel::Critical
                | RDKafkaLogLevel::Error
                | RDKafkaLogLevel::Warning
        );
        // Connection failures come again on every reconnection attempt; the error callback
        // reports the outage once instead.
        if serious && !matches!(facility, "FAIL" | "ERROR") {
            tracing::warn!(target: "librdkafka", provider = "kafka", facility, "{message}");
        } else {
            tracing::debug!(target: "librdkafka", provider = "kafka", facility, "{message}");
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if is_outage(&error) {
            self.connectivity.lost(reason);
        } else if is_missing_topic(&error) {
            // A subscribed topic the broker lost: the consumer creates it again.
            tracing::debug!(provider = "kafka", error = %error, reason, "Kafka topic missing");
        } else {
            tracing::warn!(provider = "kafka", error = %error, reason, "Kafka client error");
        }
    }
}

/// Whether an error means the broker is out of reach (rather than something wrong with a request).
pub(crate) fn is_outage(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::BrokerTransportFailure
                | RDKafkaErrorCode::AllBrokersDown
                | RDKafkaErrorCode::Resolve
                | RDKafkaErrorCode::OperationTimedOut
                | RDKafkaErrorCode::MessageTimedOut
                | RDKafkaErrorCode::RequestTimedOut
                | RDKafkaErrorCode::NetworkException
        )
    )
}

/// Whether an error means the connection to the broker dropped.
pub(crate) fn is_disconnection(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(RDKafkaErrorCode::BrokerTransportFailure | RDKafkaErrorCode::AllBrokersDown)
    )
}

/// Whether an error means a topic does not exist (deleted, or lost by a broker that restarted
/// without its data): the caller creates it again.
pub(crate) fn is_missing_topic(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::UnknownTopicOrPartition
                | RDKafkaErrorCode::UnknownTopic
                | RDKafkaErrorCode::UnknownPartition
                | RDKafkaErrorCode::UnknownTopicId
        )
    )
}

/// Settings shared by every client: where the broker is, quick reconnection, and topics only
/// ever created explicitly (with the configured partition count), never by a broker's default.
pub(crate) fn base_config(brokers: &str, timeout: Duration) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("client.id", "comptoir")
        .set("reconnect.backoff.ms", "100")
        .set("reconnect.backoff.max.ms", "2000")
        .set("socket.timeout.ms", millis(timeout.max(Duration::from_secs(10))))
        .set("allow.auto.create.topics", "false")
        .set("log.connection.close", "false");
    config
}

pub(crate) fn millis(duration: Duration) -> String {
    duration.as_millis().max(1).to_string()
}
