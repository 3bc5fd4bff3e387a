//! Calling another service: every call has a deadline, only idempotent calls are retried (a few
//! times, within that deadline, and only when the request never reached the service), and a
//! circuit breaker makes callers fail fast while a service is down instead of queueing behind
//! timeouts. A failure the caller cannot fix reads as `Error::Unavailable` (HTTP 503) naming the
//! service.

use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use comptoir_kernel::{Error, RequestContext, Result};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};
use tracing::Instrument;

use crate::context::outgoing_request;
use crate::status::{from_status, is_answer};

#[derive(Debug, Clone)]
pub struct RemoteSettings {
    /// The whole call, retries included.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Extra attempts for idempotent calls.
    pub retries: u32,
    /// Wait before the first retry; doubled for each next one.
    pub retry_backoff: Duration,
    /// Consecutive failures (unreachable, too slow) that open the circuit.
    pub breaker_failures: u32,
    /// How long an open circuit refuses calls before letting one through to test the service.
    pub breaker_open_for: Duration,
}

impl Default for RemoteSettings {
    fn default() -> Self {
        RemoteSettings {
            timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(1),
            retries: 2,
            retry_backoff: Duration::from_millis(50),
            breaker_failures: 5,
            breaker_open_for: Duration::from_secs(5),
        }
    }
}

/// Whether a call may safely be sent twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// Reads, and writes the service de-duplicates (by an idempotency key or a natural key).
    Idempotent,
    /// Sent at most once: a lost answer is reported, never guessed.
    Once,
}

/// A connection to one service, shared by every client of that service in the process.
#[derive(Clone)]
pub struct Remote {
    service: &'static str,
    /// None: no address configured; every call fails saying so.
    channel: Option<Channel>,
    settings: RemoteSettings,
    breaker: std::sync::Arc<CircuitBreaker>,
}

impl Remote {
    /// Connects lazily: a service that is down at start makes its calls fail, not the start.
    pub fn connect(service: &'static str, url: &str, settings: RemoteSettings) -> Result<Remote> {
        let endpoint = Endpoint::from_shared(url.to_string())
            .map_err(|e| Error::internal(format!("services.{service}.url `{url}` is not a valid URL: {e}")))?
            .connect_timeout(settings.connect_timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(20))
            .keep_alive_timeout(Duration::from_secs(5))
            .keep_alive_while_idle(true);
        let breaker = std::sync::Arc::new(CircuitBreaker::new(settings.breaker_failures, settings.breaker_open_for));
        Ok(Remote { service, channel: Some(endpoint.connect_lazy()), settings, breaker })
    }

    /// A service this process has no address for: it is not expected to call it, and if it
    /// does, the call fails with a clear error instead of the process refusing to start.
    pub fn unconfigured(service: &'static str) -> Remote {
        let settings = RemoteSettings::default();
        let breaker = std::sync::Arc::new(CircuitBreaker::new(settings.breaker_failures, settings.breaker_open_for));
        Remote { service, channel: None, settings, breaker }
    }

    /// Asks the service's gRPC health endpoint whether it serves, within the call deadline.
    pub async fn check_health(&self) -> Result<()> {
        let request = tonic_health::pb::HealthCheckRequest { service: String::new() };
        let ctx = RequestContext::system();
        let answer = self
            .call(&ctx, Call::Idempotent, "Health.Check", request, |channel, request| async move {
                tonic_health::pb::health_client::HealthClient::new(channel).check(request).await
            })
            .await?;
        match answer.status() {
            tonic_health::pb::health_check_response::ServingStatus::Serving => Ok(()),
            other => Err(Error::unavailable(format!("the {} service reports {other:?}", self.service))),
        }
    }

    pub fn service(&self) -> &'static str {
        self.service
    }

    /// Sends `message` to `method` through `send` (which wraps the generated client), with the
    /// caller's context and trace in metadata, under the deadline, retry and breaker rules.
    ///
    /// ```ignore
    /// remote.call(ctx, Call::Idempotent, "Stock", pb::StockRequest { sku }, |channel, request| async move {
    ///     InventoryServiceClient::new(channel).stock(request).await
    /// })
    /// ```
    pub async fn call<M, R, F, Fut>(
        &self,
        ctx: &RequestContext,
        kind: Call,
        method: &'static str,
        message: M,
        send: F,
    ) -> Result<R>
    where
        M: Clone,
        F: Fn(Channel, tonic::Request<M>) -> Fut,
        Fut: Future<Output = std::result::Result<tonic::Response<R>, Status>>,
    {
        self.call_within(ctx, kind, method, message, self.settings.timeout, send).await
    }

    /// [`Remote::call`] with a deadline of its own, for the few calls known to take long (an
    /// operator's rebuild of a read model), rather than the one every call shares.
    pub async fn call_within<M, R, F, Fut>(
        &self,
        ctx: &RequestContext,
        kind: Call,
        method: &'static str,
        message: M,
        timeout: Duration,
        send: F,
    ) -> Result<R>
    where
        M: Clone,
        F: Fn(Channel, tonic::Request<M>) -> Fut,
        Fut: Future<Output = std::result::Result<tonic::Response<R>, Status>>,
    {
        let Some(channel) = &self.channel else {
            return Err(Error::unavailable(format!(
                "no address for the {0} service in this process (set services.{0}.url)",
                self.service
            )));
        };
        let span = tracing::info_span!("grpc.client",
            otel.name = %format!("{}/{method}", self.service),
            otel.kind = "client",
            otel.status_code = tracing::field::Empty,
            rpc.system = "grpc",
            rpc.service = self.service,
            rpc.method = method,
            correlation_id = %ctx.correlation_id,
        );
        let trace = trace_metadata(&span);
        let outcome = async {
            let started = Instant::now();
            let deadline = started + timeout;
            let mut attempt = 0;
            let outcome = loop {
                if let Err(wait) = self.breaker.permit() {
                    break Err(Error::unavailable(format!(
                        "the {} service is unavailable (calls paused for {} ms after repeated failures)",
                        self.service,
                        wait.as_millis()
                    )));
                }
                let remaining = deadline.saturating_duration_since(Instant::now());
                let mut request = outgoing_request(ctx, message.clone());
                request.set_timeout(remaining);
                for (name, value) in &trace {
                    request.metadata_mut().insert(*name, value.clone());
                }
                let result = match tokio::time::timeout(remaining, send(channel.clone(), request)).await {
                    Ok(result) => result,
                    Err(_) => Err(Status::deadline_exceeded("client deadline")),
                };
                match result {
                    Ok(response) => {
                        self.breaker.success();
                        break Ok(response.into_inner());
                    }
                    Err(status) if is_answer(&status) => {
                        // The service answered: it is up, whatever it said.
                        self.breaker.success();
                        break Err(from_status(self.service, &status));
                    }
                    Err(status) => {
                        self.breaker.failure(self.service);
                        let backoff = self.settings.retry_backoff * 2u32.pow(attempt);
                        let may_retry = kind == Call::Idempotent
                            && attempt < self.settings.retries
                            && never_reached_the_service(&status)
                            && Instant::now() + backoff < deadline;
                        if !may_retry {
                            break Err(from_status(self.service, &status));
                        }
                        attempt += 1;
                        tracing::debug!(service = self.service, method, attempt, error = %status.message(), "retrying");
                        tokio::time::sleep(backoff).await;
                    }
                }
            };
            let label = match &outcome {
                Ok(_) => "ok",
                Err(e) if e.status() == 503 => "unavailable",
                Err(e) if e.is_internal() => "error",
                Err(_) => "rejected",
            };
            metrics::counter!("comptoir_grpc_client_calls_total", "service" => self.service, "method" => method, "outcome" => label)
                .increment(1);
            metrics::histogram!("comptoir_grpc_client_call_seconds", "service" => self.service, "method" => method)
                .record(started.elapsed().as_secs_f64());
            outcome
        }
        .instrument(span.clone())
        .await;
        if outcome.as_ref().is_err_and(|e| e.status() >= 500) {
            span.record("otel.status_code", "ERROR");
        }
        outcome
    }
}

/// The trace context of the call's span, as metadata for each attempt.
fn trace_metadata(span: &tracing::Span) -> Vec<(&'static str, MetadataValue<Ascii>)> {
    comptoir_telemetry::propagation::headers_of(span)
        .into_iter()
        .filter_map(|(name, value)| Some((name, MetadataValue::try_from(value).ok()?)))
        .collect()
}

/// Connection refused or reset before an answer: safe to try again for an idempotent call. A
/// deadline is not retried (the time is spent).
fn never_reached_the_service(status: &Status) -> bool {
    matches!(status.code(), Code::Unavailable | Code::Unknown | Code::Cancelled)
}

/// Opens after `threshold` consecutive failures and refuses calls for `open_for`; then lets calls
/// through again, and one more failure opens it at once.
pub struct CircuitBreaker {
    threshold: u32,
    open_for: Duration,
    failures: AtomicU32,
    open_until: Mutex<Option<Instant>>,
}

impl CircuitBreaker {
    pub fn new(threshold: u32, open_for: Duration) -> Self {
        CircuitBreaker {
            threshold: threshold.max(1),
            open_for,
            failures: AtomicU32::new(0),
            open_until: Mutex::new(None),
        }
    }

    /// `Err(remaining)` while open.
    pub fn permit(&self) -> std::result::Result<(), Duration> {
        let open_until = *self.open_until.lock().unwrap_or_else(|e| e.into_inner());
        match open_until {
            Some(until) if until > Instant::now() => Err(until - Instant::now()),
            _ => Ok(()),
        }
    }

    pub fn success(&self) {
        if self.failures.swap(0, Ordering::Relaxed) >= self.threshold {
            tracing::info!("a remote service answers again: circuit closed");
        }
        *self.open_until.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    pub fn failure(&self, service: &str) {
        let failures = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if failures >= self.threshold {
            let mut open_until = self.open_until.lock().unwrap_or_else(|e| e.into_inner());
            if open_until.is_none_or(|until| until <= Instant::now()) {
                tracing::warn!(service, failures, open_for_ms = self.open_for.as_millis() as u64, "circuit opened");
                metrics::counter!("comptoir_grpc_circuit_opened_total", "service" => service.to_string()).increment(1);
            }
            *open_until = Some(Instant::now() + self.open_for);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_breaker_opens_after_the_threshold_and_closes_on_success() {
        let breaker = CircuitBreaker::new(3, Duration::from_secs(60));
        breaker.failure("x");
        breaker.failure("x");
        assert!(breaker.permit().is_ok());
        breaker.failure("x");
        assert!(breaker.permit().is_err());
        breaker.success();
        assert!(breaker.permit().is_ok());
    }

    #[test]
    fn after_the_pause_one_more_failure_reopens_it() {
        let breaker = CircuitBreaker::new(1, Duration::from_millis(0));
        breaker.failure("x");
        assert!(breaker.permit().is_ok(), "the pause is over");
        let breaker = CircuitBreaker::new(1, Duration::from_secs(60));
        breaker.failure("x");
        assert!(breaker.permit().is_err());
    }

    #[tokio::test]
    async fn a_down_service_fails_fast_with_unavailable_and_trips_the_breaker() {
        // Nothing listens on this port: connection refused.
        let settings = RemoteSettings { breaker_failures: 2, retries: 1, ..RemoteSettings::default() };
        let remote = Remote::connect("payment", "http://127.0.0.1:1", settings).unwrap();
        let ctx = RequestContext::system();
        let started = Instant::now();
        let call = || {
            remote.call(&ctx, Call::Idempotent, "Ping", (), |channel, request| async move {
                let mut grpc = tonic::client::Grpc::new(channel);
                grpc.ready().await.map_err(|e| Status::unavailable(e.to_string()))?;
                let codec = tonic_prost::ProstCodec::<crate::pb::Empty, crate::pb::Empty>::default();
                let path = tonic::codegen::http::uri::PathAndQuery::from_static("/x.Y/Ping");
                grpc.unary(request.map(|()| crate::pb::Empty {}), path, codec).await.map(|r| r.map(|_| ()))
            })
        };
        let e = call().await.unwrap_err();
        assert_eq!(e.status(), 503);
        assert!(e.to_string().contains("payment service is unavailable"), "{e}");
        let e = call().await.unwrap_err();
        assert!(e.to_string().contains("calls paused"), "the breaker is open: {e}");
        assert!(started.elapsed() < Duration::from_secs(2), "fails fast");
    }
}
