//! The publishing side: one connection with a few confirm-mode channels ("lanes"), replaced as a
//! whole when it breaks. A publish returns once the broker confirmed it (persisted, for a
//! persistent message on a durable queue), and fails within seconds when the broker is away so
//! that the outbox keeps the event.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use comptoir_kernel::{Error, Result};
use lapin::options::{ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Confirmation, Connection, ExchangeKind, options::BasicPublishOptions};
use tokio::sync::Notify;

use crate::link::{self, Closing, Endpoint, Link, within};
use crate::names::Names;
use crate::wire::{Outgoing, short};

/// How long a publish may wait for the broker's confirmation before it counts as failed.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(5);
/// Channels publishing side by side; a batch keeps to one so its messages stay in order.
const LANES: usize = 4;

/// A confirm-mode channel, used by one task at a time: lapin numbers a message for its
/// confirmation and queues its frames in two steps, so two tasks publishing at once could swap
/// numbers and each see the other's confirmation.
pub(crate) struct Lane {
    channel: Channel,
    sending: tokio::sync::Mutex<()>,
}

impl Lane {
    pub async fn open(connection: &Connection) -> Result<Lane> {
        let channel = within("channel.open", connection.create_channel()).await?;
        within("confirm.select", channel.confirm_select(ConfirmSelectOptions::default())).await?;
        Ok(Lane { channel, sending: tokio::sync::Mutex::new(()) })
    }

    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    /// Sends every message, then waits for all confirmations. Returns how many leading messages
    /// the broker confirmed, and why it stopped there if it did.
    pub async fn publish_all(&self, messages: Vec<Outgoing>) -> (usize, Option<Error>) {
        let deadline = tokio::time::Instant::now() + CONFIRM_TIMEOUT;
        let mut confirms = Vec::with_capacity(messages.len());
        let mut failure = None;
        match tokio::time::timeout_at(deadline, self.sending.lock()).await {
            Err(_) => failure = Some(Error::unavailable("RabbitMQ publish: the channel stayed busy")),
            Ok(_sending) => {
                // Polled in order, each publish takes its confirmation number and queues its
                // frames before the next one starts, so the messages go out in order without
                // waiting for one another's frames to be written.
                let sends = messages.iter().map(|message| {
                    self.channel.basic_publish(
                        message.exchange.clone(),
                        message.routing_key.clone(),
                        BasicPublishOptions { mandatory: message.mandatory, immediate: false },
                        &message.payload,
                        message.properties.clone(),
                    )
                });
                match tokio::time::timeout_at(deadline, futures::future::join_all(sends)).await {
                    Ok(sent) => {
                        for result in sent {
                            match result {
                                Ok(confirm) => confirms.push(confirm),
                                Err(e) => {
                                    failure = Some(Error::unavailable(format!("RabbitMQ publish: {e}")));
                                    break;
                                }
                            }
                        }
                    }
                    Err(_) => {
                        failure = Some(Error::unavailable("RabbitMQ publish: the messages could not be sent in time"))
                    }
                }
            }
        }
        let sent = confirms.len();
        for (confirmed, confirm) in confirms.into_iter().enumerate() {
            let refused = match tokio::time::timeout_at(deadline, confirm).await {
                Ok(Ok(Confirmation::Ack(None) | Confirmation::NotRequested)) => None,
                Ok(Ok(Confirmation::Ack(Some(returned)))) => {
                    Some(format!("no queue took the message ({} {})", returned.reply_code, returned.reply_text))
                }
                Ok(Ok(Confirmation::Nack(_))) => Some("the broker refused the message (nack)".to_string()),
                Ok(Err(e)) => Some(e.to_string()),
                Err(_) => Some(format!("no confirmation within {CONFIRM_TIMEOUT:?}")),
            };
            if let Some(reason) = refused {
                return (confirmed, Some(Error::unavailable(format!("RabbitMQ publish: {reason}"))));
            }
        }
        (sent, failure)
    }
}

struct Session {
    connection: Connection,
    lanes: Vec<Lane>,
}

pub(crate) struct Publisher {
    endpoint: Arc<Endpoint>,
    names: Names,
    closing: Closing,
    session: RwLock<Option<Arc<Session>>>,
    last_error: Mutex<String>,
    kick: Notify,
    next_lane: AtomicUsize,
}

impl Publisher {
    pub fn new(endpoint: Arc<Endpoint>, names: Names, closing: Closing) -> Self {
        Publisher {
            endpoint,
            names,
            closing,
            session: RwLock::new(None),
            last_error: Mutex::new("not connected yet".to_string()),
            kick: Notify::new(),
            next_lane: AtomicUsize::new(0),
        }
    }

    /// Publishes `messages` in order on one lane; see [`Lane::publish_all`].
    pub async fn publish(&self, messages: Vec<Outgoing>) -> (usize, Option<Error>) {
        let session = match self.current() {
            Ok(session) => session,
            Err(e) => return (0, Some(e)),
        };
        let lane = &session.lanes[self.next_lane.fetch_add(1, Ordering::Relaxed) % session.lanes.len()];
        let (confirmed, failure) = lane.publish_all(messages).await;
        if let Some(e) = &failure {
            self.note_error(e.to_string());
            self.kick.notify_one();
        }
        (confirmed, failure)
    }

    fn current(&self) -> Result<Arc<Session>> {
        if self.closing.is_closed() {
            return Err(Error::unavailable("the RabbitMQ event bus is closed"));
        }
        let session = self.session.read().expect("publisher session lock").clone();
        match session {
            Some(session) if session.connection.status().connected() => Ok(session),
            _ => Err(Error::unavailable(format!(
                "RabbitMQ at {} is unreachable (reconnecting): {}",
                self.endpoint.address,
                self.last_error.lock().expect("publisher error lock")
            ))),
        }
    }

    /// For `/readyz`: whether events can be published now.
    pub fn check(&self) -> Result<()> {
        self.current().map(|_| ())
    }

    pub async fn close(&self) {
        let session = self.session.write().expect("publisher session lock").take();
        if let Some(session) = session {
            link::close_quietly(&session.connection).await;
        }
    }

    async fn open_lanes(&self, connection: &Connection) -> Result<Vec<Lane>> {
        let mut lanes = Vec::with_capacity(LANES);
        for _ in 0..LANES {
            lanes.push(Lane::open(connection).await?);
        }
        declare_exchanges(lanes[0].channel(), &self.names).await?;
        Ok(lanes)
    }
}

/// The three exchanges of a deployment; declaring is idempotent, so both connections do it
/// before relying on them (publishing to a missing exchange closes the channel).
pub(crate) async fn declare_exchanges(channel: &Channel, names: &Names) -> Result<()> {
    let durable = ExchangeDeclareOptions { durable: true, ..Default::default() };
    for (name, kind) in [
        (names.events(), ExchangeKind::Topic),
        (names.system(), ExchangeKind::Fanout),
        (names.dead_letter(), ExchangeKind::Direct),
    ] {
        within(
            &format!("exchange.declare {name}"),
            channel.exchange_declare(short(&name)?, kind, durable, FieldTable::default()),
        )
        .await?;
    }
    Ok(())
}

impl Link for Publisher {
    fn role(&self) -> &'static str {
        "publisher"
    }

    fn address(&self) -> &str {
        &self.endpoint.address
    }

    fn healthy(&self) -> bool {
        let session = self.session.read().expect("publisher session lock");
        session.as_ref().is_some_and(|s| {
            s.connection.status().connected() && s.lanes.iter().all(|lane| lane.channel.status().connected())
        })
    }

    fn kicked(&self) -> &Notify {
        &self.kick
    }

    async fn take_down(&self) -> String {
        let session = self.session.write().expect("publisher session lock").take();
        if let Some(session) = session {
            link::close_quietly(&session.connection).await;
        }
        self.last_error.lock().expect("publisher error lock").clone()
    }

    async fn establish(&self) -> Result<()> {
        let connection = self.endpoint.connect("publisher").await?;
        match self.open_lanes(&connection).await {
            Ok(lanes) => {
                if self.closing.is_closed() {
                    link::close_quietly(&connection).await;
                    return Err(Error::unavailable("the RabbitMQ event bus is closed"));
                }
                *self.session.write().expect("publisher session lock") = Some(Arc::new(Session { connection, lanes }));
                self.note_error("the connection closed".to_string());
                Ok(())
            }
            Err(e) => {
                link::close_quietly(&connection).await;
                Err(e)
            }
        }
    }

    fn note_error(&self, error: String) {
        *self.last_error.lock().expect("publisher error lock") = error;
    }
}
