//! A durable consumer: a consumer group of its own, shared by all its instances, reading the
//! domain topics its patterns can reach and its retry topic.
//!
//! One task receives records and hands each to a task of its own, up to the prefetch at once.
//! Offsets are committed by hand as handlings finish, only up to the first record still being
//! handled on each partition ([`Progress`]). Retry records are held until due by tasks that do
//! not take a prefetch slot while they wait, so a retry never holds up the records behind it.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use comptoir_eventbus::Consumer;
use comptoir_eventbus::delivery::{self, Outcome};
use comptoir_kernel::{Error, EventEnvelope, Result};
use rdkafka::config::FromClientConfigAndContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::OwnedMessage;
use rdkafka::{ClientContext, Message, Offset, TopicPartitionList};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinHandle;

use crate::client::{BusContext, base_config, is_disconnection, is_missing_topic, is_outage, millis};
use crate::naming::Subscription;
use crate::progress::{Progress, Ticket};
use crate::wire::{self, Outgoing};
use crate::{CLOSE_GRACE, Shared};

/// Retry records held in memory until due, per consumer; beyond this the consumer stops reading
/// until some are handled (a broker-side backlog rather than an unbounded one in memory).
const MAX_WAITING_RETRIES: usize = 1000;
/// How often the consumer looks for new topics (domains that appear while it runs) and for
/// topics that came back after a broker restart.
const METADATA_REFRESH: Duration = Duration::from_secs(5);
/// How often a consumer that lost the broker checks whether it is back.
pub(crate) const OUTAGE_PROBE: Duration = Duration::from_millis(500);

/// The consumer's client context: commits what is finished when partitions are taken away, and
/// says when the first assignment arrived.
pub(crate) struct GroupContext {
    bus: BusContext,
    name: String,
    progress: Arc<Mutex<Progress>>,
    assigned: Arc<watch::Sender<bool>>,
}

impl ClientContext for GroupContext {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, facility: &str, message: &str) {
        self.bus.log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.bus.error(error, reason);
    }
}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let mut progress = self.progress.lock().expect("progress lock");
        match rebalance {
            Rebalance::Revoke(_) => {
                // Records still being handled are not committed: whoever gets the partition
                // next receives them again (handlers are idempotent).
                let points = progress.commit_points();
                if !points.is_empty()
                    && !consumer.assignment_lost()
                    && let Err(error) = consumer.commit(&partition_list(&points), CommitMode::Sync)
                {
                    tracing::debug!(consumer = %self.name, error = %error, "commit before revocation failed");
                }
                progress.reset();
            }
            Rebalance::Assign(_) => progress.reset(),
            Rebalance::Error(error) => {
                tracing::warn!(consumer = %self.name, error = %error, "Kafka consumer group rebalance failed");
            }
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(partitions) = rebalance {
            tracing::debug!(consumer = %self.name, partitions = partitions.count(), "partitions assigned");
            self.assigned.send_replace(true);
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        if let Err(error) = result {
            tracing::debug!(consumer = %self.name, error = %error, "offset commit failed");
        }
    }
}

/// One member of the consumer group, and which of its records are finished. A consumer gets a
/// new member when the broker came back without its data; records received by the previous one
/// finish (and commit, if they still can) through it.
struct Member {
    kafka: StreamConsumer<GroupContext>,
    progress: Arc<Mutex<Progress>>,
}

impl Member {
    /// Commits up to the first record still being handled on the ticket's partition.
    fn finish(&self, ticket: &Ticket) {
        let mut progress = self.progress.lock().expect("progress lock");
        if let Some(offset) = progress.finish(ticket) {
            let list = partition_list(&[(ticket.topic.clone(), ticket.partition, offset)]);
            // Committed under the lock, so that commits of one partition leave in order.
            if let Err(error) = self.kafka.commit(&list, CommitMode::Async) {
                tracing::debug!(error = %error, "offset commit not sent");
            }
        }
    }

    /// Commits what is finished and leaves the group; the client closes when the last record
    /// it received is finished.
    fn leave(&self) {
        let points = self.progress.lock().expect("progress lock").commit_points();
        if !points.is_empty()
            && let Err(error) = self.kafka.commit(&partition_list(&points), CommitMode::Sync)
        {
            tracing::debug!(error = %error, "last offset commit failed");
        }
        self.kafka.unsubscribe();
    }
}

struct Worker {
    shared: Arc<Shared>,
    consumer: Consumer,
    member: RwLock<Arc<Member>>,
    subscription: Subscription,
    retry_topic: String,
    dead_letter_topic: String,
    assigned: Arc<watch::Sender<bool>>,
    /// Deliveries in progress, up to the prefetch.
    slots: Arc<Semaphore>,
    waiting_retries: Arc<Semaphore>,
    shutdown: watch::Receiver<bool>,
}

/// Creates the consumer's topics, joins its group and starts consuming; returns once the group
/// gave it partitions (or after `assignment_wait`, leaving it to join in the background).
pub(crate) async fn start(
    shared: Arc<Shared>,
    consumer: Consumer,
    assignment_wait: Duration,
) -> Result<JoinHandle<()>> {
    let names = &shared.names;
    let subscription = names.subscription(&consumer.name, &consumer.patterns);
    let retry_topic = names.retry_topic(&consumer.name);
    let dead_letter_topic = names.dead_letter_topic(&consumer.name);
    let mut needed = subscription.topics.clone();
    needed.push(dead_letter_topic.clone());
    shared.topics.ensure(&needed).await?;

    let (assigned, mut first_assignment) = watch::channel(false);
    let assigned = Arc::new(assigned);
    let member = join(&shared, &consumer.name, &subscription, &assigned)?;
    tracing::info!(consumer = %consumer.name, topics = ?subscription.patterns(), "Kafka consumer subscribed");
    let worker = Arc::new(Worker {
        slots: Arc::new(Semaphore::new(shared.config.prefetch.max(1))),
        waiting_retries: Arc::new(Semaphore::new(MAX_WAITING_RETRIES)),
        shutdown: shared.shutdown.subscribe(),
        member: RwLock::new(Arc::new(member)),
        shared,
        consumer,
        subscription,
        retry_topic,
        dead_letter_topic,
        assigned,
    });
    let name = worker.consumer.name.clone();
    let task = tokio::spawn(worker.run());
    if tokio::time::timeout(assignment_wait, first_assignment.wait_for(|assigned| *assigned)).await.is_err() {
        tracing::warn!(consumer = %name, wait = ?assignment_wait,
            "no partitions assigned yet; the consumer keeps joining its group in the background");
    }
    Ok(task)
}

/// A new member of the consumer's group, subscribed.
fn join(
    shared: &Shared,
    name: &str,
    subscription: &Subscription,
    assigned: &Arc<watch::Sender<bool>>,
) -> Result<Member> {
    let progress = Arc::new(Mutex::new(Progress::default()));
    let context = GroupContext {
        bus: shared.context.clone(),
        name: name.to_string(),
        progress: progress.clone(),
        assigned: assigned.clone(),
    };
    let mut config = base_config(&shared.config.brokers, shared.config.publish_timeout);
    config
        .set("group.id", shared.names.group(name))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "1000")
        .set("fetch.wait.max.ms", "100")
        .set("topic.metadata.refresh.interval.ms", millis(METADATA_REFRESH))
        .set("queued.max.messages.kbytes", "8192");
    let kafka: StreamConsumer<GroupContext> = StreamConsumer::from_config_and_context(&config, context)
        .map_err(|e| Error::internal(format!("Kafka consumer {name}: {e}")))?;
    kafka
        .subscribe(&subscription.patterns())
        .map_err(|e| Error::unavailable(format!("Kafka consumer {name}: cannot subscribe: {e}")))?;
    Ok(Member { kafka, progress })
}

impl Worker {
    fn member(&self) -> Arc<Member> {
        self.member.read().expect("member lock").clone()
    }

    async fn run(self: Arc<Self>) {
        let mut shutdown = self.shutdown.clone();
        let mut topics_created = self.shared.topics.created();
        let mut watch_topics = self.subscription.every_domain.is_some();
        let mut last_error: Option<String> = None;
        let mut last_topic_repair: Option<Instant> = None;
        // Since when the broker has been away, while it is.
        let mut broker_lost: Option<Instant> = None;
        loop {
            let member = self.member();
            let received = tokio::select! {
                biased;
                _ = crate::stopped(&mut shutdown) => break,
                _ = tokio::time::sleep(OUTAGE_PROBE), if broker_lost.is_some() => {
                    if let Some(since) = broker_lost
                        && self.recover_from_outage(&member, since).await
                    {
                        broker_lost = None;
                    }
                    continue;
                }
                created = topics_created.changed(), if watch_topics => {
                    match created {
                        Ok(()) => refresh_metadata(&member, self.shared.config.publish_timeout).await,
                        Err(_) => watch_topics = false,
                    }
                    continue;
                }
                received = member.kafka.recv() => received.map(|message| message.detach()),
            };
            match received {
                Ok(message) => {
                    if last_error.take().is_some() {
                        tracing::info!(consumer = %self.consumer.name, "Kafka consumer receiving again");
                    }
                    self.shared.connectivity().restored();
                    self.dispatch(&member, message).await;
                }
                Err(error) => {
                    if is_outage(&error) {
                        // Logged once per outage, however many times librdkafka says so.
                        self.shared.connectivity().lost(&error.to_string());
                        if is_disconnection(&error) && broker_lost.is_none() {
                            broker_lost = Some(Instant::now());
                            pause_for_outage(&member);
                        }
                    } else if is_missing_topic(&error) {
                        if last_topic_repair.is_none_or(|at| at.elapsed() > METADATA_REFRESH) {
                            last_topic_repair = Some(Instant::now());
                            tracing::info!(consumer = %self.consumer.name,
                                "subscribed topics missing on the broker; creating them");
                            if self.create_topics().await {
                                refresh_metadata(&member, self.shared.config.publish_timeout).await;
                            }
                        }
                    } else {
                        let text = error.to_string();
                        if last_error.as_deref() != Some(text.as_str()) {
                            tracing::warn!(consumer = %self.consumer.name, error = %text, "Kafka consumer error");
                            last_error = Some(text);
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        self.stop().await;
    }

    /// Starts handling one record, or lets it pass when it is not for this consumer.
    async fn dispatch(self: &Arc<Self>, member: &Arc<Member>, message: OwnedMessage) {
        let ticket = member.progress.lock().expect("progress lock").start(
            message.topic(),
            message.partition(),
            message.offset(),
        );
        let headers = wire::read_headers(&message);
        let event = match wire::decode(&headers, &message) {
            Ok(event) => event,
            Err(error) => {
                tracing::warn!(consumer = %self.consumer.name, topic = message.topic(), partition = message.partition(),
                    offset = message.offset(), error = %error, "malformed message skipped");
                metrics::counter!("comptoir_events_malformed_total",
                    "consumer" => self.consumer.name.clone(), "provider" => "kafka")
                .increment(1);
                member.finish(&ticket);
                return;
            }
        };
        let member = member.clone();
        if message.topic() == self.retry_topic {
            let Ok(waiting) = self.waiting_retries.clone().acquire_owned().await else { return };
            let worker = self.clone();
            tokio::spawn(async move {
                if !worker.sleep_until(wire::not_before(&headers)).await {
                    return; // shutting down: the record stays uncommitted, for the next run
                }
                let Some(slot) = worker.slot().await else { return };
                drop(waiting);
                worker.handle(&member, ticket, event, wire::attempt(&headers), slot).await;
            });
            return;
        }
        if !self.consumer.matches(&event.event_type) {
            member.finish(&ticket);
            return;
        }
        let Some(slot) = self.slot().await else { return };
        let worker = self.clone();
        tokio::spawn(async move { worker.handle(&member, ticket, event, 1, slot).await });
    }

    async fn handle(
        &self,
        member: &Member,
        ticket: Ticket,
        event: EventEnvelope,
        attempt: u32,
        slot: OwnedSemaphorePermit,
    ) {
        let outcome = delivery::deliver(&self.consumer, &event, attempt, &self.shared.config.retry).await;
        let done = match &outcome {
            Outcome::Handled => true,
            Outcome::Retry(delay) => {
                let due = SystemTime::now() + *delay;
                self.forward(Outgoing::retry(self.retry_topic.clone(), &event, attempt + 1, due)).await
            }
            Outcome::DeadLettered { reason } => {
                self.forward(Outgoing::dead_letter(self.dead_letter_topic.clone(), &event, reason, attempt)).await
            }
        };
        if done {
            member.finish(&ticket);
        }
        if !matches!(outcome, Outcome::Retry(_)) {
            self.shared.in_flight.finish(&self.consumer.name, event.id);
        }
        drop(slot);
    }

    /// Produces a retry or dead-letter record, trying again until the broker takes it; false
    /// when the bus shuts down first (the original record is then delivered again later).
    async fn forward(&self, record: Outgoing) -> bool {
        let mut backoff = Duration::from_millis(100);
        let mut warned = false;
        loop {
            match self.shared.produce(&record).await {
                Ok(()) => return true,
                Err(error) if !warned => {
                    warned = true;
                    tracing::warn!(consumer = %self.consumer.name, topic = %record.topic, error = %error,
                        "could not produce to Kafka; trying again");
                }
                Err(_) => {}
            }
            if !self.sleep(backoff).await {
                return false;
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    /// A prefetch slot, or none when the bus shuts down first.
    async fn slot(&self) -> Option<OwnedSemaphorePermit> {
        let mut shutdown = self.shutdown.clone();
        tokio::select! {
            slot = self.slots.clone().acquire_owned() => slot.ok(),
            _ = crate::stopped(&mut shutdown) => None,
        }
    }

    /// Sleeps; false when the bus shuts down first.
    async fn sleep(&self, duration: Duration) -> bool {
        let mut shutdown = self.shutdown.clone();
        tokio::select! {
            _ = tokio::time::sleep(duration) => true,
            _ = crate::stopped(&mut shutdown) => false,
        }
    }

    async fn sleep_until(&self, due: SystemTime) -> bool {
        match due.duration_since(SystemTime::now()) {
            Ok(wait) => self.sleep(wait).await,
            Err(_) => !*self.shutdown.borrow(),
        }
    }

    /// Once the broker answers again: fetches again if it still has the consumer's topics;
    /// otherwise (it came back without its data) creates them and joins the group with a new
    /// member, as the broker no longer knows the old one. False while the broker does not answer.
    async fn recover_from_outage(&self, member: &Arc<Member>, since: Instant) -> bool {
        let Some(existing) = existing_topics(member, OUTAGE_PROBE).await else { return false };
        self.shared.connectivity().restored();
        let lost: Vec<&String> = self.subscription.topics.iter().filter(|topic| !existing.contains(*topic)).collect();
        if lost.is_empty() {
            if let Ok(assignment) = member.kafka.assignment()
                && let Err(error) = member.kafka.resume(&assignment)
            {
                tracing::debug!(consumer = %self.consumer.name, error = %error, "could not resume the assignment");
            }
            return true;
        }
        tracing::warn!(consumer = %self.consumer.name, lost = ?lost,
            "the Kafka broker came back without this consumer's topics (it lost its data); \
             creating them and joining the group anew");
        self.shared.topics.forget_all();
        self.shared.publisher.renew_if_made_before(since);
        if !self.create_topics().await {
            return false;
        }
        let fresh = match join(&self.shared, &self.consumer.name, &self.subscription, &self.assigned) {
            Ok(fresh) => Arc::new(fresh),
            Err(error) => {
                tracing::warn!(consumer = %self.consumer.name, error = %error, "could not join the group again");
                return false;
            }
        };
        let previous = std::mem::replace(&mut *self.member.write().expect("member lock"), fresh);
        let _ = tokio::task::spawn_blocking(move || previous.leave()).await;
        true
    }

    /// Creates the consumer's topics again (after a broker lost them); whether they now exist.
    async fn create_topics(&self) -> bool {
        let mut needed = self.subscription.topics.clone();
        needed.push(self.dead_letter_topic.clone());
        for topic in &needed {
            self.shared.topics.forget(topic);
        }
        match self.shared.topics.ensure(&needed).await {
            Ok(()) => true,
            Err(error) => {
                tracing::debug!(consumer = %self.consumer.name, error = %error, "topics not created yet");
                false
            }
        }
    }

    /// Lets deliveries in progress finish, commits what is done and leaves the group.
    async fn stop(self: Arc<Self>) {
        let everything = self.shared.config.prefetch.max(1) as u32;
        if tokio::time::timeout(CLOSE_GRACE, self.slots.acquire_many(everything)).await.is_err() {
            tracing::warn!(consumer = %self.consumer.name, grace = ?CLOSE_GRACE,
                "deliveries still running at shutdown; their records will be delivered again");
        }
        let member = self.member();
        drop(self);
        // Leaving, and closing the client when this is its last reference, wait on the broker.
        if let Err(error) = tokio::task::spawn_blocking(move || member.leave()).await {
            tracing::error!(error = %error, "closing a Kafka consumer failed");
        }
    }
}

/// Stops fetching until the broker is back and its metadata read again. A broker may come back
/// without its data (a test broker keeping everything in memory): fetching at once, with the ids
/// of topics it no longer has, gets answers that crash librdkafka 2.12 (tansu answers an unknown
/// topic id with a zero id and a leader, and librdkafka then looks the topic up by a null name).
fn pause_for_outage(member: &Member) {
    if let Ok(assignment) = member.kafka.assignment()
        && let Err(error) = member.kafka.pause(&assignment)
    {
        tracing::debug!(error = %error, "could not pause the assignment");
    }
}

/// The cluster's topics, as the member sees them after asking (which also updates its view);
/// none when the broker does not answer within `timeout`.
async fn existing_topics(member: &Arc<Member>, timeout: Duration) -> Option<HashSet<String>> {
    let member = member.clone();
    tokio::task::spawn_blocking(move || {
        let metadata = member.kafka.fetch_metadata(None, timeout).ok()?;
        Some(metadata.topics().iter().filter(|t| t.error().is_none()).map(|t| t.name().to_string()).collect())
    })
    .await
    .ok()
    .flatten()
}

/// Asks for the cluster's topics now, so that a regular-expression subscription picks up a topic
/// this bus just created without waiting for the next periodic refresh.
async fn refresh_metadata(member: &Arc<Member>, timeout: Duration) {
    let _ = existing_topics(member, timeout).await;
}

fn partition_list(points: &[(String, i32, i64)]) -> TopicPartitionList {
    let mut list = TopicPartitionList::with_capacity(points.len());
    for (topic, partition, offset) in points {
        // Offsets are valid for partitions the list was just built with.
        let _ = list.add_partition_offset(topic, *partition, Offset::Offset(*offset));
    }
    list
}
