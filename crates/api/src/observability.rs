//! `/healthz`, `/readyz` and `/metrics`, and the middleware that counts requests.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics::Unit;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::ApiState;

static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide Prometheus recorder, installed on first use.
pub fn prometheus() -> &'static PrometheusHandle {
    PROMETHEUS.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Suffix("_seconds".into()),
                &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0],
            )
            .expect("bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        // Straight into our recorder, whichever is global: /metrics documents itself either way.
        metrics::with_local_recorder(&recorder, describe);
        // Another recorder may already be installed (a test harness); ours still renders what it records.
        let _ = metrics::set_global_recorder(recorder);
        metrics::gauge!("comptoir_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
        handle
    })
}

/// What the checkout saga counts a cancelled checkout as: the labels of
/// `comptoir_checkouts_total{outcome="cancelled"}`.
const CHECKOUT_CANCEL_REASONS: [&str; 4] = ["out_of_stock", "payment_declined", "unavailable", "interrupted"];

/// A metric's HELP text and unit.
struct Description {
    name: &'static str,
    kind: Kind,
    unit: Unit,
    help: &'static str,
}

enum Kind {
    Counter,
    Gauge,
    Histogram,
}

const fn counter(name: &'static str, help: &'static str) -> Description {
    Description { name, kind: Kind::Counter, unit: Unit::Count, help }
}

const fn counter_nanoseconds(name: &'static str, help: &'static str) -> Description {
    Description { name, kind: Kind::Counter, unit: Unit::Nanoseconds, help }
}

const fn gauge(name: &'static str, help: &'static str) -> Description {
    Description { name, kind: Kind::Gauge, unit: Unit::Count, help }
}

const fn gauge_seconds(name: &'static str, help: &'static str) -> Description {
    Description { name, kind: Kind::Gauge, unit: Unit::Seconds, help }
}

const fn histogram(name: &'static str, help: &'static str) -> Description {
    Description { name, kind: Kind::Histogram, unit: Unit::Seconds, help }
}

/// Every Comptoir metric; docs/OBSERVABILITY.md has their labels.
const METRICS: &[Description] = &[
    // HTTP: the API, the storefront, the back office, the services' operations endpoints.
    counter("http_requests_total", "HTTP requests answered, by method, route template and status."),
    histogram("http_request_duration_seconds", "Time to answer an HTTP request, by method and route template."),
    counter("comptoir_rate_limited_total", "HTTP requests refused with 429 by the rate limiter."),
    // gRPC between the modules.
    counter(
        "comptoir_grpc_client_calls_total",
        "Calls to another module's service, retries included, by service, method and outcome.",
    ),
    histogram(
        "comptoir_grpc_client_call_seconds",
        "Time of a call to another module's service, retries included, by service and method.",
    ),
    counter(
        "comptoir_grpc_circuit_opened_total",
        "Times the circuit breaker to a service opened (calls then fail fast), by service.",
    ),
    counter(
        "comptoir_grpc_server_calls_total",
        "gRPC calls served as a module's service, by service, method and status code.",
    ),
    histogram(
        "comptoir_grpc_server_call_seconds",
        "Time to serve a gRPC call as a module's service, by service and method.",
    ),
    // The checkout saga and stock.
    counter("comptoir_checkouts_total", "Checkouts that ended, by outcome and reason."),
    histogram(
        "comptoir_checkout_duration_seconds",
        "Time from the order's creation to its confirmation or cancellation, by outcome.",
    ),
    counter(
        "comptoir_stock_reservations_total",
        "Stock reservations reserved, refused (short of stock), released, committed (sold) or expired.",
    ),
    gauge("comptoir_stock_reservations_active", "Stock reservations holding units now."),
    // Search.
    gauge("comptoir_search_documents", "Products the storefront's search index holds (published ones)."),
    histogram(
        "comptoir_search_sync_seconds",
        "Time to bring the search index up to date with its store, per indexer pass.",
    ),
    // Webhooks.
    counter(
        "comptoir_webhook_deliveries_total",
        "Webhook delivery attempts, by outcome (delivered, retrying, failed, discarded).",
    ),
    histogram("comptoir_webhook_delivery_seconds", "Time a webhook endpoint took to answer an attempt."),
    // The point of sale.
    counter(
        "comptoir_pos_sales_total",
        "Sales rung up at the tills, by outcome (completed, refused, declined, abandoned, interrupted).",
    ),
    // Audit.
    counter("comptoir_audit_entries_recorded_total", "Audit entries a front-end wrote to the audit module."),
    counter(
        "comptoir_audit_entries_dropped_total",
        "Audit entries lost: the front-end's queue was full or the audit module kept failing.",
    ),
    // Events: the outboxes, the bus, the consumers.
    gauge("comptoir_outbox_backlog", "Events in a module's outbox not yet published, by module."),
    gauge_seconds(
        "comptoir_outbox_oldest_age_seconds",
        "Age of the oldest event not yet published from a module's outbox (0 when none), by module.",
    ),
    counter("comptoir_events_published_total", "Events the bus accepted, by type and provider."),
    counter("comptoir_events_handled_total", "Events handed to a consumer, by consumer and outcome."),
    histogram("comptoir_event_handling_seconds", "Time a consumer took on an event, by consumer."),
    histogram("comptoir_event_lag_seconds", "Time from an event's creation to the start of its handling, by consumer."),
    counter("comptoir_event_retries_total", "Failed handlings to be retried after a backoff, by consumer."),
    counter(
        "comptoir_events_dead_lettered_total",
        "Events that failed their last retry and became dead letters, by consumer.",
    ),
    gauge("comptoir_dead_letters", "Dead letters stored in a module's database, by module."),
    counter("comptoir_events_malformed_total", "Broker messages that were not a readable event, dropped."),
    counter("comptoir_broker_disconnects_total", "Lost connections to RabbitMQ, by role."),
    counter("comptoir_eventbus_disconnects_total", "Lost connections to the broker, by provider."),
    counter("comptoir_eventbus_publish_failures_total", "Events the broker did not accept, by provider."),
    counter(
        "comptoir_dual_write_received_total",
        "Dual-write mode: events received, by the provider that delivered them.",
    ),
    counter("comptoir_dual_write_published_total", "Dual-write mode: events published to both buses."),
    counter("comptoir_system_events_received_total", "System broadcasts received, by type."),
    // Databases and the process.
    gauge(
        "comptoir_db_pool_connections",
        "Connections of a module's database pool, by module, pool and state (idle, in_use).",
    ),
    gauge("comptoir_db_pool_max_connections", "Connections a module's database pool may open, by module and pool."),
    // Each module's share of the process, for the extraction report.
    counter(
        "comptoir_module_calls_total",
        "Calls into a module from outside it (another module or a request), by module.",
    ),
    counter_nanoseconds("comptoir_module_cpu_nanoseconds_total", "CPU time spent in a module's own work, by module."),
    counter_nanoseconds(
        "comptoir_module_db_busy_nanoseconds_total",
        "Time a module's database connections were in use (sampled), by module.",
    ),
    counter("comptoir_module_events_emitted_total", "Events a module wrote to its outbox, by module."),
    counter("comptoir_auth_cache_revocations_total", "Entries dropped from the authentication cache."),
    gauge("comptoir_build_info", "Always 1; the version running is in the label."),
];

/// Gives every Comptoir metric its HELP text and unit, so that `/metrics` documents itself. The
/// checkout counters, whose labels are known in advance and which alerts watch, start at zero so
/// that `increase()` sees their first event.
fn describe() {
    for metric in METRICS {
        let Description { name, unit, help, .. } = *metric;
        match metric.kind {
            Kind::Counter => metrics::describe_counter!(name, unit, help),
            Kind::Gauge => metrics::describe_gauge!(name, unit, help),
            Kind::Histogram => metrics::describe_histogram!(name, unit, help),
        }
    }
    metrics::counter!("comptoir_checkouts_total", "outcome" => "confirmed", "reason" => "none").increment(0);
    // Alerted on: present from the start, so that the first loss is an increase.
    metrics::counter!("comptoir_audit_entries_dropped_total").increment(0);
    for reason in CHECKOUT_CANCEL_REASONS {
        metrics::counter!("comptoir_checkouts_total", "outcome" => "cancelled", "reason" => reason).increment(0);
    }
}

/// Counts every request by method, route template and status, and records its latency.
pub async fn track_requests(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let span = tracing::Span::current();
    comptoir_telemetry::rename(&span, format!("{method} {route}"));
    span.record("http.route", route.as_str());
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "The process is alive")))]
pub async fn healthz() -> impl IntoResponse {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

#[derive(Serialize, ToSchema)]
pub struct DependencyState {
    pub name: String,
    /// `up` or `down`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` when every dependency is up.
    pub status: String,
    pub event_bus: String,
    pub dependencies: Vec<DependencyState>,
}

#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Readiness, description = "Every dependency answers"),
              (status = 503, body = Readiness, description = "At least one dependency is down")))]
pub async fn readyz(State(state): State<ApiState>) -> Response {
    readiness(&state.probes, state.bus.provider()).await
}

/// Checks every dependency at once, each within 2 s.
pub async fn readiness(probes: &[std::sync::Arc<dyn crate::Probe>], event_bus: &str) -> Response {
    let checks = probes.iter().map(|probe| async move {
        let outcome = tokio::time::timeout(std::time::Duration::from_secs(2), probe.check()).await;
        let error = match outcome {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some("no answer within 2 s".to_string()),
        };
        DependencyState { name: probe.name(), status: if error.is_none() { "up" } else { "down" }.to_string(), error }
    });
    let dependencies = futures::future::join_all(checks).await;
    let ready = dependencies.iter().all(|d| d.error.is_none());
    let body = Readiness {
        status: if ready { "ready" } else { "not_ready" }.to_string(),
        event_bus: event_bus.to_string(),
        dependencies,
    };
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, axum::Json(body)).into_response()
}

#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics_endpoint() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], prometheus().render())
}

/// `/healthz`, `/readyz` and `/metrics` alone, for a process that serves no REST API (a module
/// running as its own service).
pub fn operations_router(probes: Vec<std::sync::Arc<dyn crate::Probe>>, event_bus: String) -> axum::Router {
    prometheus();
    let probes = std::sync::Arc::new(probes);
    let event_bus = std::sync::Arc::new(event_bus);
    axum::Router::new()
        .route("/healthz", axum::routing::get(healthz))
        .route("/readyz", axum::routing::get(move || async move { readiness(&probes, &event_bus).await }))
        .route("/metrics", axum::routing::get(metrics_endpoint))
        .layer(axum::middleware::from_fn(track_requests))
}
