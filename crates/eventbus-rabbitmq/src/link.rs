//! Connections that come back by themselves: each AMQP connection of the bus (one to publish,
//! one to consume, so that the broker's flow control on publishers never holds up acks) is
//! watched by a supervisor that reconnects with backoff when the broker goes away, and rebuilds
//! what lived on it. An outage is logged when it starts and when it ends, not on every attempt.

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use comptoir_kernel::{Error, Result};
use lapin::uri::{AMQPScheme, AMQPUri};
use lapin::{Connection, ConnectionProperties};
use tokio::sync::{Notify, watch};

/// How long one AMQP operation (declare, bind, close) may take before the connection counts as
/// broken: a broker that stopped answering must not hang the caller.
pub(crate) const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a supervisor looks at its connection when nothing told it to.
const HEALTH_POLL: Duration = Duration::from_millis(250);
const FIRST_RETRY: Duration = Duration::from_millis(100);
const LONGEST_RETRY: Duration = Duration::from_secs(5);

/// Where the broker is, and how to say so without its password.
pub(crate) struct Endpoint {
    uri: AMQPUri,
    pub address: String,
    connect_timeout: Duration,
}

impl Endpoint {
    pub fn parse(url: &str, connect_timeout: Duration) -> Result<Self> {
        let uri = AMQPUri::from_str(url).map_err(|e| {
            Error::internal(format!(
                "the RabbitMQ url is not an AMQP URI ({e}); expected amqp://user:password@host:5672/vhost"
            ))
        })?;
        if uri.scheme == AMQPScheme::AMQPS {
            return Err(Error::internal(
                "amqps:// needs TLS, which this build of the RabbitMQ provider does not include; use amqp://",
            ));
        }
        let address = format!("amqp://{}:{}/{}", uri.authority.host, uri.authority.port, uri.vhost.replace('/', "%2f"));
        Ok(Endpoint { uri, address, connect_timeout })
    }

    /// A new connection, named after its role in the broker's connection list.
    pub async fn connect(&self, role: &str) -> Result<Connection> {
        let properties = ConnectionProperties::default().with_connection_name(format!("comptoir {role}").into());
        match tokio::time::timeout(self.connect_timeout, Connection::connect_uri(self.uri.clone(), properties)).await {
            Ok(Ok(connection)) => Ok(connection),
            Ok(Err(e)) => Err(Error::unavailable(format!("cannot reach RabbitMQ at {}: {e}", self.address))),
            Err(_) => Err(Error::unavailable(format!(
                "cannot reach RabbitMQ at {}: no answer within {:?}",
                self.address, self.connect_timeout
            ))),
        }
    }
}

/// Runs one AMQP operation with a deadline, naming it in the error.
pub(crate) async fn within<T>(what: &str, operation: impl Future<Output = lapin::Result<T>>) -> Result<T> {
    match tokio::time::timeout(OPERATION_TIMEOUT, operation).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(Error::unavailable(format!("RabbitMQ {what}: {e}"))),
        Err(_) => Err(Error::unavailable(format!("RabbitMQ {what}: no answer within {OPERATION_TIMEOUT:?}"))),
    }
}

/// Closes a connection politely, without waiting long for a broker that may be gone.
pub(crate) async fn close_quietly(connection: &Connection) {
    if connection.status().connected() {
        let _ = tokio::time::timeout(Duration::from_secs(2), connection.close(200, "closing".into())).await;
    }
}

/// Set once when the bus closes (or is dropped: the sender goes with it).
#[derive(Clone)]
pub(crate) struct Closing(watch::Receiver<bool>);

impl Closing {
    pub fn new() -> (watch::Sender<bool>, Closing) {
        let (sender, receiver) = watch::channel(false);
        (sender, Closing(receiver))
    }

    pub fn is_closed(&self) -> bool {
        *self.0.borrow() || self.0.has_changed().is_err()
    }

    pub async fn wait(&mut self) {
        let _ = self.0.wait_for(|closed| *closed).await;
    }
}

/// One supervised connection and what lives on it.
pub(crate) trait Link: Send + Sync + 'static {
    /// `publisher` or `consumers`: which connection this is, in logs.
    fn role(&self) -> &'static str;
    fn address(&self) -> &str;
    /// Whether the connection and everything on it are working.
    fn healthy(&self) -> bool;
    /// Woken by users who saw a failure, so that the supervisor looks at once.
    fn kicked(&self) -> &Notify;
    /// Drops a broken connection and what lived on it; returns what is known of why it broke.
    fn take_down(&self) -> impl Future<Output = String> + Send;
    /// Opens a new connection and rebuilds what lives on it.
    fn establish(&self) -> impl Future<Output = Result<()>> + Send;
    /// Remembers why the broker cannot be reached, for `check()`.
    fn note_error(&self, error: String);
}

/// Watches `link` until the bus closes, reconnecting with backoff whenever it breaks.
pub(crate) async fn supervise<L: Link>(link: Arc<L>, mut closing: Closing) {
    loop {
        loop {
            if closing.is_closed() {
                return;
            }
            if !link.healthy() {
                break;
            }
            tokio::select! {
                _ = closing.wait() => return,
                _ = link.kicked().notified() => {}
                _ = tokio::time::sleep(HEALTH_POLL) => {}
            }
        }
        let reason = link.take_down().await;
        tracing::warn!(role = link.role(), address = link.address(), reason = %reason,
            "RabbitMQ connection lost; reconnecting in the background");
        metrics::counter!("comptoir_broker_disconnects_total", "provider" => "rabbitmq", "role" => link.role())
            .increment(1);
        let started = Instant::now();
        let mut wait = FIRST_RETRY;
        let mut attempts = 0u32;
        let mut last_reason: Option<String> = None;
        loop {
            if closing.is_closed() {
                return;
            }
            attempts += 1;
            match link.establish().await {
                Ok(()) => {
                    tracing::info!(role = link.role(), address = link.address(), attempts,
                        outage = ?started.elapsed(), "RabbitMQ connection restored");
                    break;
                }
                Err(e) => {
                    // Once per reason, not once per attempt.
                    let error = e.to_string();
                    if last_reason.as_ref() != Some(&error) {
                        tracing::warn!(role = link.role(), attempts, error = %error, "RabbitMQ still unreachable");
                    } else {
                        tracing::debug!(role = link.role(), attempts, error = %error, "RabbitMQ still unreachable");
                    }
                    link.note_error(error.clone());
                    last_reason = Some(error);
                }
            }
            tokio::select! {
                _ = closing.wait() => return,
                _ = tokio::time::sleep(wait) => {}
            }
            wait = (wait * 2).min(LONGEST_RETRY);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_keeps_the_password_out() {
        let endpoint = Endpoint::parse("amqp://guest:secret@127.0.0.1:5672/%2f", Duration::from_secs(1)).unwrap();
        assert_eq!(endpoint.address, "amqp://127.0.0.1:5672/%2f");
        assert!(!endpoint.address.contains("secret"));
    }

    #[test]
    fn tls_urls_are_refused_plainly() {
        let err = Endpoint::parse("amqps://broker:5671/%2f", Duration::from_secs(1)).err().unwrap();
        assert!(err.to_string().contains("TLS"), "{err}");
    }
}
