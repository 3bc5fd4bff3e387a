//! Hosting a module's services: one gRPC server per process, answering the standard health
//! protocol (`grpc.health.v1.Health`) for every service it hosts.

use std::future::Future;

use tokio::net::TcpListener;
use tonic::service::Routes;
use tonic::transport::Server;

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
        self.with_health().await.into_axum_router()
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
    pub async fn serve(self, listener: TcpListener, shutdown: impl Future<Output = ()> + Send) -> std::io::Result<()> {
        let routes = self.with_health().await;
        // The builder's tcp_nodelay applies only to listeners it binds itself: without it on
        // these sockets, a reply written in two parts waits for a delayed ACK (~40 ms).
        let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
        Server::builder()
            .add_routes(routes)
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await
            .map_err(std::io::Error::other)
    }
}
