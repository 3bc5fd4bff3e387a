//! The bus's producer: every record is acknowledged by all in-sync replicas (`acks=all`) before a
//! publish returns, and a record the broker has not taken within the publish timeout fails, so
//! that an outbox keeps its event while the broker is away instead of waiting on it.
//!
//! The producer is idempotent (no duplicates from librdkafka's own resends) when the broker
//! supports it. An idempotent producer can get stuck when the broker forgets its producer id:
//! a fatal error, or — with a broker that restarted without its state and does not accept
//! librdkafka's epoch bump (KIP-360), as tansu does — records that time out although the broker
//! answers. The bus then replaces the producer with a fresh one rather than staying broken.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use comptoir_kernel::{Error, Result};
use rdkafka::config::FromClientConfigAndContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

use crate::client::{BusContext, base_config, millis};
use crate::wire::Outgoing;

pub(crate) struct Publisher {
    brokers: String,
    timeout: Duration,
    context: BusContext,
    idempotent: AtomicBool,
    /// The producer, how many producers came before it (to replace each one only once) and
    /// when it was made.
    producer: RwLock<(u64, FutureProducer<BusContext>)>,
    made: RwLock<Instant>,
}

/// A record handed to the producer: which producer took it, and the broker's answer to come.
pub(crate) struct Sent {
    producer: u64,
    confirmation: rdkafka::producer::DeliveryFuture,
}

impl Publisher {
    pub fn new(brokers: &str, timeout: Duration, context: BusContext) -> Result<Publisher> {
        let producer = build(brokers, timeout, &context, true)?;
        Ok(Publisher {
            brokers: brokers.to_string(),
            timeout,
            context,
            idempotent: AtomicBool::new(true),
            producer: RwLock::new((0, producer)),
            made: RwLock::new(Instant::now()),
        })
    }

    /// Hands a record to the producer; [`Publisher::confirmed`] then says whether the broker took it.
    pub fn send(&self, record: &Outgoing) -> std::result::Result<Sent, KafkaError> {
        let (generation, producer) = self.current()?;
        let kafka_record =
            FutureRecord::to(&record.topic).key(&record.key).payload(&record.body).headers(record.kafka_headers());
        let confirmation = producer.send_result(kafka_record).map_err(|(error, _)| error)?;
        Ok(Sent { producer: generation, confirmation })
    }

    /// Waits for the broker's answer to a sent record. A producer that seems stuck is replaced
    /// (in the background, not to delay the failure), for the next records.
    pub async fn confirmed(self: &Arc<Self>, sent: Sent) -> std::result::Result<(), KafkaError> {
        let error = match sent.confirmation.await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err((error, _))) => error,
            Err(_canceled) => KafkaError::Canceled,
        };
        if is_producer_state_error(&error) {
            let publisher = self.clone();
            tokio::spawn(async move { publisher.replace_if_stuck(sent.producer).await });
        }
        Err(error)
    }

    /// Replaces producer `generation` when the broker answers: its records timed out for
    /// another reason than an outage.
    async fn replace_if_stuck(&self, generation: u64) {
        let Ok((current, producer)) = self.current() else { return };
        if current != generation {
            return; // already replaced
        }
        let timeout = self.timeout.min(Duration::from_secs(2));
        let answers = tokio::task::spawn_blocking(move || producer.client().fetch_metadata(None, timeout).is_ok())
            .await
            .unwrap_or(false);
        if !answers {
            return; // an outage: librdkafka reconnects by itself
        }
        let mut slot = self.producer.write().expect("producer lock");
        if slot.0 != generation {
            return;
        }
        tracing::warn!(provider = "kafka", brokers = %self.brokers,
            "records timed out although the Kafka broker answers (it may have lost the producer's state); \
             publishing with a new producer");
        let _ = self.replace(&mut slot);
    }

    /// The broker came back without its data (a consumer found its topics gone): a producer
    /// made before the outage has a producer id the broker no longer knows, so it is replaced
    /// before its records time out.
    pub fn renew_if_made_before(&self, outage: Instant) {
        let mut slot = self.producer.write().expect("producer lock");
        if *self.made.read().expect("producer lock") < outage {
            tracing::info!(provider = "kafka", "the Kafka broker lost its state; publishing with a new producer");
            let _ = self.replace(&mut slot);
        }
    }

    /// Puts a new producer in `slot` (the write-locked current one).
    fn replace(&self, slot: &mut (u64, FutureProducer<BusContext>)) -> Result<()> {
        let fresh = build(&self.brokers, self.timeout, &self.context, self.idempotent.load(Ordering::SeqCst))
            .inspect_err(
                |error| tracing::error!(provider = "kafka", error = %error, "could not make a new producer"),
            )?;
        let generation = slot.0 + 1;
        let previous = std::mem::replace(slot, (generation, fresh));
        *self.made.write().expect("producer lock") = Instant::now();
        retire(previous.1);
        Ok(())
    }

    /// Waits (at most the publish timeout) for records still on their way, at shutdown.
    pub async fn flush(&self) {
        let Ok((_, producer)) = self.current() else { return };
        let timeout = self.timeout;
        let flushed = tokio::task::spawn_blocking(move || producer.flush(timeout)).await;
        if let Ok(Err(error)) = flushed {
            tracing::warn!(provider = "kafka", error = %error, "records still unconfirmed at shutdown");
        }
    }

    /// A client on which to ask the broker for metadata.
    pub fn producer(&self) -> std::result::Result<FutureProducer<BusContext>, KafkaError> {
        self.current().map(|(_, producer)| producer)
    }

    /// The producer to use, a new one if the current one failed for good.
    fn current(&self) -> std::result::Result<(u64, FutureProducer<BusContext>), KafkaError> {
        let current = self.producer.read().expect("producer lock").clone();
        let Some((code, reason)) = current.1.client().fatal_error() else { return Ok(current) };
        let mut slot = self.producer.write().expect("producer lock");
        if slot.1.client().fatal_error().is_none() {
            return Ok(slot.clone()); // replaced meanwhile
        }
        if code == RDKafkaErrorCode::UnsupportedFeature && self.idempotent.swap(false, Ordering::SeqCst) {
            tracing::warn!(provider = "kafka", brokers = %self.brokers, reason,
                "the Kafka broker does not support idempotent producers; publishing without idempotence");
        } else {
            tracing::error!(provider = "kafka", error = %code, reason, "the Kafka producer failed; starting a new one");
        }
        self.replace(&mut slot).map_err(|_| KafkaError::Global(code))?;
        Ok(slot.clone())
    }
}

/// Drops a replaced producer away from the async runtime: dropping purges its queue and waits
/// for its polling thread.
fn retire(producer: FutureProducer<BusContext>) {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => drop(runtime.spawn_blocking(move || drop(producer))),
        Err(_) => drop(producer),
    }
}

/// Errors after which an idempotent producer may be stuck with a producer id the broker forgot.
fn is_producer_state_error(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::MessageTimedOut
                | RDKafkaErrorCode::UnknownProducerId
                | RDKafkaErrorCode::OutOfOrderSequenceNumber
                | RDKafkaErrorCode::InvalidProducerEpoch
                | RDKafkaErrorCode::InvalidProducerIdMapping
                | RDKafkaErrorCode::ProducerFenced
        )
    )
}

fn build(
    brokers: &str,
    timeout: Duration,
    context: &BusContext,
    idempotent: bool,
) -> Result<FutureProducer<BusContext>> {
    let mut config = base_config(brokers, timeout);
    config
        .set("acks", "all")
        .set("enable.idempotence", idempotent.to_string())
        // A record not confirmed within this time fails: the outbox keeps the event.
        .set("message.timeout.ms", millis(timeout))
        .set("request.timeout.ms", millis(timeout))
        // Batches the records of a burst (an outbox relay's batch) without delaying a lone one.
        .set("linger.ms", "2");
    FutureProducer::from_config_and_context(&config, context.clone())
        .map_err(|e| Error::internal(format!("Kafka producer: {e}")))
}
