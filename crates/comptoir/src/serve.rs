use std::net::SocketAddr;
use std::time::Instant;

use anyhow::Context;
use axum::serve::{ListenerExt, TapIo};
use tokio::net::{TcpListener, TcpStream};

use crate::app::App;
use crate::config::Config;
use crate::topology::{Module, Role};

/// Runs this process in its role until SIGINT/SIGTERM, then drains and flushes.
pub async fn serve(config: Config, role: Role, demo_products: Option<usize>) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut app = App::build_as(config, role).await?;
    app.start();
    if let Some(products) = demo_products {
        anyhow::ensure!(role.serves_api(), "--demo loads the demo shop from the monolith or the gateway");
        crate::demo::load(&app, products).await?;
    }
    let grpc_only = match role {
        Role::Service(module) => Some(service_addr(&app.config, module)),
        _ => None,
    };
    let mut servers = tokio::task::JoinSet::new();
    match grpc_only {
        // A module's service answers gRPC and /healthz, /readyz, /metrics on one port.
        Some(addr) => {
            let ops = comptoir_api::observability::operations_router(app.probes(), app.bus.provider().to_string());
            let router = app.grpc_services().into_router().await.merge(ops);
            let listener = bind(addr).await?;
            eprintln!("Comptoir {} on {addr} (gRPC, /healthz, /readyz, /metrics)", role.name());
            servers.spawn(async move { axum::serve(listener, router).with_graceful_shutdown(shutdown_signal()).await });
        }
        None => {
            let addr = app.config.http.addr;
            let router = comptoir_api::router(app.api_state());
            let listener = bind(addr).await?;
            eprintln!("Comptoir {} API on http://{addr}/api/v1  (OpenAPI: http://{addr}/openapi.json)", role.name());
            let service = router.into_make_service_with_connect_info::<SocketAddr>();
            servers
                .spawn(async move { axum::serve(listener, service).with_graceful_shutdown(shutdown_signal()).await });
            if let Some(grpc_addr) = app.config.grpc.listen.filter(|_| role == Role::Monolith) {
                let services = app.grpc_services();
                let listener = bind_plain(grpc_addr).await?;
                eprintln!("Comptoir modules over gRPC on {grpc_addr}: {}", services.names().join(", "));
                servers.spawn(async move { services.serve(listener, shutdown_signal()).await });
            }
        }
    }
    tracing::info!(role = %role.name(), event_bus = app.bus.provider(), ready_in_ms = started.elapsed().as_millis() as u64,
        "Comptoir is ready");
    while let Some(result) = servers.join_next().await {
        result.context("a server task failed")??;
    }
    tracing::info!("shutting down: flushing the outboxes");
    app.shutdown().await;
    Ok(())
}

/// Where a module's service listens: `services.<module>.listen`, else every interface on its port.
pub fn service_addr(config: &Config, module: Module) -> SocketAddr {
    config
        .services
        .get(module.name())
        .and_then(|s| s.listen)
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], module.default_port())))
}

/// A listener whose connections send small writes at once (TCP_NODELAY). Without it an HTTP/2
/// reply written in two parts (headers, then data) waits for the peer's delayed ACK: measured,
/// 44 ms per gRPC call instead of 0.3 ms.
async fn bind(addr: SocketAddr) -> anyhow::Result<TapIo<TcpListener, fn(&mut TcpStream)>> {
    let listener = TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    Ok(listener.tap_io(no_delay as fn(&mut TcpStream)))
}

fn no_delay(tcp: &mut TcpStream) {
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::warn!(error = %e, "could not set TCP_NODELAY on a connection");
    }
}

/// The gRPC server binds through tonic, which sets TCP_NODELAY itself.
async fn bind_plain(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
