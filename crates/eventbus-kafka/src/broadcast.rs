//! A broadcast consumer: every instance reads the whole system topic from where it stood when the
//! consumer subscribed. Its group is its own (named after the instance) and commits nothing:
//! there is nothing to resume after a restart, as broadcasts are meant for the instances running
//! when they are sent. No retries and no dead letters: a failed broadcast handling is logged.

use std::sync::Arc;
use std::time::{Duration, Instant};

use comptoir_eventbus::{Consumer, delivery};
use comptoir_kernel::{Error, Result};
use rdkafka::config::FromClientConfigAndContext;
use rdkafka::consumer::{Consumer as _, ConsumerContext, StreamConsumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::client::{BusContext, base_config, is_disconnection, is_missing_topic, is_outage};
use crate::consumer::OUTAGE_PROBE;
use crate::{CLOSE_GRACE, Shared, wire};

impl ConsumerContext for BusContext {}

pub(crate) async fn start(shared: Arc<Shared>, consumer: Consumer) -> Result<JoinHandle<()>> {
    let topic = shared.names.system_topic();
    shared.topics.ensure(std::slice::from_ref(&topic)).await?;
    let mut config = base_config(&shared.config.brokers, shared.config.publish_timeout);
    config
        .set("group.id", shared.names.broadcast_group(&consumer.name, shared.instance))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        // Only when the topic's offsets start over (a broker that restarted without its data).
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "100");
    let kafka: StreamConsumer<BusContext> = StreamConsumer::from_config_and_context(&config, shared.context.clone())
        .map_err(|e| Error::internal(format!("Kafka consumer {}: {e}", consumer.name)))?;
    let kafka = Arc::new(kafka);

    // Assigned by hand at the current end of every partition: the broadcasts published from
    // now on, with no group join to wait for.
    let start = partitions_at(&kafka, &topic, Offset::End, shared.config.publish_timeout)
        .await
        .map_err(|e| Error::unavailable(format!("Kafka consumer {}: cannot read {topic}: {e}", consumer.name)))?;
    kafka
        .assign(&start)
        .map_err(|e| Error::unavailable(format!("Kafka consumer {}: cannot read {topic}: {e}", consumer.name)))?;
    tracing::info!(consumer = %consumer.name, topic = %topic, "Kafka broadcast consumer started");
    Ok(tokio::spawn(run(shared, consumer, kafka, topic)))
}

/// The partitions of `topic`, each at `position` resolved to an offset now (`Offset::End`: the
/// current end, `Offset::Beginning`: the start).
async fn partitions_at(
    kafka: &Arc<StreamConsumer<BusContext>>,
    topic: &str,
    position: Offset,
    timeout: Duration,
) -> std::result::Result<TopicPartitionList, String> {
    let (kafka, topic) = (kafka.clone(), topic.to_string());
    tokio::task::spawn_blocking(move || {
        let metadata = kafka.fetch_metadata(Some(&topic), timeout).map_err(|e| e.to_string())?;
        let mut list = TopicPartitionList::new();
        for partition in metadata.topics().iter().filter(|t| t.error().is_none()).flat_map(|t| t.partitions()) {
            let (low, high) = kafka.fetch_watermarks(&topic, partition.id(), timeout).map_err(|e| e.to_string())?;
            let offset = if position == Offset::Beginning { low } else { high };
            list.add_partition_offset(&topic, partition.id(), Offset::Offset(offset)).map_err(|e| e.to_string())?;
        }
        if list.count() == 0 {
            return Err(format!("{topic} has no partitions"));
        }
        Ok(list)
    })
    .await
    .map_err(|e| e.to_string())?
}

/// Once the broker answers again, fetches again; if it came back without the system topic (it
/// lost its data), creates it and reads the new one from its start: everything in it was
/// published after the outage. False while the broker does not answer.
async fn recover_from_outage(shared: &Shared, kafka: &Arc<StreamConsumer<BusContext>>, topic: &str) -> bool {
    let lookup = kafka.clone();
    let wanted = topic.to_string();
    let exists = tokio::task::spawn_blocking(move || {
        let metadata = lookup.fetch_metadata(Some(&wanted), OUTAGE_PROBE).ok()?;
        Some(metadata.topics().iter().any(|t| t.error().is_none() && !t.partitions().is_empty()))
    })
    .await
    .ok()
    .flatten();
    let Some(exists) = exists else { return false };
    shared.connectivity().restored();
    if exists {
        if let Ok(assignment) = kafka.assignment() {
            let _ = kafka.resume(&assignment);
        }
        return true;
    }
    shared.topics.forget(topic);
    if shared.topics.ensure(&[topic.to_string()]).await.is_err() {
        return false;
    }
    match partitions_at(kafka, topic, Offset::Beginning, shared.config.publish_timeout).await {
        Ok(start) => kafka.assign(&start).is_ok(),
        Err(_) => false,
    }
}

async fn run(shared: Arc<Shared>, consumer: Consumer, kafka: Arc<StreamConsumer<BusContext>>, topic: String) {
    let slots = Arc::new(Semaphore::new(shared.config.prefetch.max(1)));
    let mut shutdown = shared.shutdown.subscribe();
    let mut last_repair: Option<Instant> = None;
    let mut last_error: Option<String> = None;
    let mut broker_lost = false;
    loop {
        let received = tokio::select! {
            biased;
            _ = crate::stopped(&mut shutdown) => break,
            _ = tokio::time::sleep(OUTAGE_PROBE), if broker_lost => {
                broker_lost = !recover_from_outage(&shared, &kafka, &topic).await;
                continue;
            }
            received = kafka.recv() => received.map(|message| message.detach()),
        };
        let message = match received {
            Ok(message) => {
                last_error = None;
                shared.connectivity().restored();
                message
            }
            Err(error) => {
                if is_outage(&error) {
                    shared.connectivity().lost(&error.to_string());
                    // Not to fetch with the ids of topics a broker may have lost (see the consumer).
                    if is_disconnection(&error) && !broker_lost {
                        broker_lost = true;
                        if let Ok(assignment) = kafka.assignment() {
                            let _ = kafka.pause(&assignment);
                        }
                    }
                } else if is_missing_topic(&error) {
                    if last_repair.is_none_or(|at| at.elapsed() > Duration::from_secs(2)) {
                        last_repair = Some(Instant::now());
                        shared.topics.forget(&topic);
                        let _ = shared.topics.ensure(std::slice::from_ref(&topic)).await;
                    }
                } else {
                    let text = error.to_string();
                    if last_error.as_deref() != Some(text.as_str()) {
                        tracing::warn!(consumer = %consumer.name, error = %text, "Kafka consumer error");
                        last_error = Some(text);
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let headers = wire::read_headers(&message);
        let event = match wire::decode(&headers, &message) {
            Ok(event) => event,
            Err(error) => {
                tracing::warn!(consumer = %consumer.name, topic = message.topic(), offset = message.offset(),
                    error = %error, "malformed message skipped");
                metrics::counter!("comptoir_events_malformed_total",
                    "consumer" => consumer.name.clone(), "provider" => "kafka")
                .increment(1);
                continue;
            }
        };
        if !consumer.matches(&event.event_type) {
            continue;
        }
        let Ok(slot) = slots.clone().acquire_owned().await else { break };
        let (shared, consumer) = (shared.clone(), consumer.clone());
        tokio::spawn(async move {
            delivery::deliver_broadcast(&consumer, &event).await;
            shared.in_flight.finish(&consumer.name, event.id);
            drop(slot);
        });
    }
    let everything = shared.config.prefetch.max(1) as u32;
    let _ = tokio::time::timeout(CLOSE_GRACE, slots.acquire_many(everything)).await;
    let _ = tokio::task::spawn_blocking(move || drop(kafka)).await;
}
