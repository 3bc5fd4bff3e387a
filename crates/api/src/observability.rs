//! `/healthz`, `/readyz` and `/metrics`, and the middleware that counts requests.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
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
        // Another recorder may already be installed (a test harness); ours still renders what it records.
        let _ = metrics::set_global_recorder(recorder);
        metrics::gauge!("comptoir_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
        handle
    })
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
