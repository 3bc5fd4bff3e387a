//! Hosting a module's services: one gRPC server per process, answering the standard health
//! protocol (`grpc.health.v1.Health`) for every service it hosts. Every call received is counted,
//! timed and traced as a child of the caller's span.

use std::future::Future;
use std::time::Instant;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use axum::serve::ListenerExt;
use tokio::net::{TcpListener, TcpStream};
use tonic::service::Routes;
use tracing::Instrument;

use crate::context::CORRELATION_ID;

/// What an rpc answers: its reply, or the port's error as a status.
pub type RpcResult<T> = std::result::Result<tonic::Response<T>, tonic::Status>;

/// The port's answer (or a request that did not decode) as the rpc's reply, its error as a status
/// the client turns back into the same error.
pub fn reply<T>(result: comptoir_kernel::Result<T>) -> RpcResult<T> {
    result.map(tonic::Response::new).map_err(crate::to_status)
}

/// The services one process answers, and their names for the health protocol.
#[derive(Default)]
pub struct ServiceSet {
    routes: Option<Routes>,
    names: Vec<&'static str>,
}

impl ServiceSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a generated service (`FooServiceServer::new(..)`; chainable).
    #[allow(clippy::should_implement_trait)] // a builder step, not arithmetic
    pub fn add<S>(mut self, service: S) -> Self
    where
        S: tower_service::Service<tonic::codegen::http::Request<tonic::body::Body>, Error = std::convert::Infallible>
            + tonic::server::NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Response: axum::response::IntoResponse,
        S::Future: Send + 'static,
    {
        self.names.push(S::NAME);
        self.routes = Some(match self.routes.take() {
            Some(routes) => routes.add_service(service),
            None => Routes::new(service),
        });
        self
    }

    pub fn names(&self) -> &[&'static str] {
        &self.names
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The services and the health protocol as routes, to serve beside HTTP routes on one port
    /// (with HTTP/2 enabled).
    pub async fn into_router(self) -> axum::Router {
        self.with_health().await.into_axum_router().layer(axum::middleware::from_fn(observe_call))
    }

    async fn with_health(self) -> Routes {
        let (reporter, health) = tonic_health::server::health_reporter();
        for name in &self.names {
            reporter.set_service_status(*name, tonic_health::ServingStatus::Serving).await;
        }
        match self.routes {
            Some(routes) => routes.add_service(health),
            None => Routes::new(health),
        }
    }

    /// Serves until `shutdown` resolves; calls in progress finish first.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let router = self.into_router().await;
        // Without TCP_NODELAY a reply written in two parts (headers, then data) waits for the
        // peer's delayed ACK (~40 ms).
        let listener = listener.tap_io(|tcp: &mut TcpStream| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::warn!(error = %e, "could not set TCP_NODELAY on a gRPC connection");
            }
        });
        axum::serve(listener, router).with_graceful_shutdown(shutdown).await
    }
}

/// Counts and times a received call by service, method and gRPC status, and runs it in a span
/// that continues the caller's trace. Health checks are counted but not traced: probes call them
/// every few seconds.
async fn observe_call(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let path = request.uri().path().trim_start_matches('/').to_string();
    let (service, method) = path.split_once('/').unwrap_or((path.as_str(), ""));
    let (service, method) = (service.to_string(), method.to_string());
    let response = if service.starts_with("grpc.health") {
        next.run(request).await
    } else {
        let span = call_span(&request, &path, &service, &method);
        let response = next.run(request).instrument(span.clone()).await;
        let code = grpc_code(&response);
        span.record("rpc.grpc.status_code", code);
        if matches!(code, 2 | 4 | 12 | 13 | 14 | 15) {
            // Unknown, deadline, unimplemented, internal, unavailable, data loss: the server's
            // fault rather than the caller's.
            span.record("otel.status_code", "ERROR");
        }
        response
    };
    let code = grpc_code(&response).to_string();
    metrics::counter!("comptoir_grpc_server_calls_total", "service" => service.clone(), "method" => method.clone(), "code" => code)
        .increment(1);
    metrics::histogram!("comptoir_grpc_server_call_seconds", "service" => service, "method" => method)
        .record(started.elapsed().as_secs_f64());
    response
}

/// The span of a received call, a child of the caller's span.
fn call_span(request: &Request, path: &str, service: &str, method: &str) -> tracing::Span {
    let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let span = tracing::info_span!("grpc.server",
        otel.name = %path,
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        rpc.system = "grpc",
        rpc.service = %service,
        rpc.method = %method,
        rpc.grpc.status_code = tracing::field::Empty,
        correlation_id = header(CORRELATION_ID).unwrap_or_default(),
    );
    comptoir_telemetry::propagation::continue_from(&span, header);
    span
}

/// The call's status: an error travels in the response headers (a "trailers-only" reply); a
/// reply with a body carries its status in the trailers, which a unary success leaves at OK.
fn grpc_code(response: &Response) -> u8 {
    response.headers().get("grpc-status").and_then(|v| v.to_str().ok()?.parse().ok()).unwrap_or(0)
}
