use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::serve::{ListenerExt, TapIo};
use tokio::net::{TcpListener, TcpStream};

use crate::app::App;
use crate::config::Config;
use crate::topology::{Module, Role};

/// Runs this process in its role until SIGINT/SIGTERM, then drains and flushes.
pub async fn serve(config: Config, role: Role, demo_products: Option<usize>) -> anyhow::Result<()> {
    let started = Instant::now();
    // Held while serving, so that `comptoir restore` refuses to replace the data directory under us.
    let _data_dir_lock = crate::backup::DataDirLock::shared(&config)?;
    let mut app = App::build_as(config, role).await?;
    app.start();
    if let Some(products) = demo_products {
        anyhow::ensure!(role.serves_api(), "--demo loads the demo shop from the monolith or the gateway");
        crate::demo::load(&app, products).await?;
    }
    let mut servers = tokio::task::JoinSet::new();
    match role {
        // A module's service answers gRPC and /healthz, /readyz, /metrics on one port.
        Role::Service(module) => {
            let addr = service_addr(&app.config, module);
            let ops = comptoir_api::observability::operations_router(app.probes(), app.bus.provider().to_string());
            let router = app.grpc_services().into_router().await.merge(ops);
            let listener = bind(addr).await?;
            eprintln!("Comptoir {} on {addr} (gRPC, /healthz, /readyz, /metrics)", role.name());
            servers.spawn(async move { axum::serve(listener, router).with_graceful_shutdown(shutdown_signal()).await });
        }
        Role::Monolith | Role::Gateway => {
            let addr = app.config.http.addr;
            eprintln!("Comptoir {} API on http://{addr}/api/v1  (OpenAPI: http://{addr}/openapi.json)", role.name());
            spawn_http(&mut servers, addr, comptoir_api::router(app.api_state())).await?;
            if let Some(grpc_addr) = app.config.grpc.listen.filter(|_| role == Role::Monolith) {
                let services = app.grpc_services();
                let listener = bind_plain(grpc_addr).await?;
                eprintln!("Comptoir modules over gRPC on {grpc_addr}: {}", services.names().join(", "));
                servers.spawn(async move { services.serve(listener, shutdown_signal()).await });
            }
            if role == Role::Monolith && app.config.web.enabled {
                spawn_storefront(&mut servers, &app).await?;
                spawn_backoffice(&mut servers, &app).await?;
            }
        }
        Role::Storefront => spawn_storefront(&mut servers, &app).await?,
        Role::BackOffice => spawn_backoffice(&mut servers, &app).await?,
    }
    tracing::info!(role = %role.name(), event_bus = app.bus.provider(), ready_in_ms = started.elapsed().as_millis() as u64,
        "Comptoir is ready");
    let drained = drain(&mut servers, Duration::from_secs(app.config.http.shutdown_grace_secs)).await;
    // Then the consumers finish what they hold, the outboxes are flushed to the bus and the bus
    // is closed: nothing accepted is lost, nothing is left half-done.
    tracing::info!("shutting down: finishing event handling and flushing the outboxes");
    app.shutdown().await;
    tracing::info!("stopped");
    drained
}

/// Waits for the servers, which stop accepting at the shutdown signal and finish the requests in
/// progress; requests still running `grace` after the signal are cut short.
async fn drain(servers: &mut Servers, grace: Duration) -> anyhow::Result<()> {
    let deadline = async {
        shutdown_signal().await;
        tracing::info!(grace_secs = grace.as_secs(), "shutdown requested: draining requests in progress");
        tokio::time::sleep(grace).await;
    };
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            // The deadline first, so that the signal is logged even when the servers stop at once.
            biased;
            _ = &mut deadline => {
                tracing::warn!(still_serving = servers.len(), "requests still running after the grace period: stopping them");
                servers.abort_all();
                return Ok(());
            }
            joined = servers.join_next() => match joined {
                None => return Ok(()),
                Some(result) => result.context("a server task failed")??,
            },
        }
    }
}

type Servers = tokio::task::JoinSet<std::io::Result<()>>;

/// Serves `router` over HTTP on `addr` until the shutdown signal, knowing each client's address.
async fn spawn_http(servers: &mut Servers, addr: SocketAddr, router: axum::Router) -> anyhow::Result<()> {
    let listener = bind(addr).await?;
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    servers.spawn(async move { axum::serve(listener, service).with_graceful_shutdown(shutdown_signal()).await });
    Ok(())
}

async fn spawn_storefront(servers: &mut Servers, app: &App) -> anyhow::Result<()> {
    let addr = app.config.web.storefront_addr;
    eprintln!("Comptoir storefront on http://{}", local_url(addr));
    spawn_http(servers, addr, comptoir_web::storefront(app.web_state())).await
}

async fn spawn_backoffice(servers: &mut Servers, app: &App) -> anyhow::Result<()> {
    let addr = app.config.web.backoffice_addr;
    eprintln!("Comptoir back office on http://{}", local_url(addr));
    spawn_http(servers, addr, comptoir_web::backoffice(app.web_state())).await
}

/// An address to open in a browser: `localhost` for every interface.
pub fn local_url(addr: SocketAddr) -> String {
    match addr.ip().is_unspecified() {
        true => format!("localhost:{}", addr.port()),
        false => addr.to_string(),
    }
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
