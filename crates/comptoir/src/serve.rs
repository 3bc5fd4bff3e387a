use std::time::Instant;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::app::App;
use crate::config::Config;

pub async fn serve(config: Config, demo_products: Option<usize>) -> anyhow::Result<()> {
    let started = Instant::now();
    let addr = config.http.addr;
    let mut app = App::build(config).await?;
    app.start();
    if let Some(products) = demo_products {
        crate::demo::load(&app, products).await?;
    }
    let router = comptoir_api::router(app.api_state());
    let listener = TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    tracing::info!(%addr, event_bus = "memory", ready_in_ms = started.elapsed().as_millis() as u64, "Comptoir is ready");
    eprintln!("Comptoir API on http://{addr}/api/v1  (OpenAPI: http://{addr}/openapi.json)");
    axum::serve(listener, router).with_graceful_shutdown(shutdown_signal()).await?;
    tracing::info!("shutting down: flushing the outboxes");
    app.shutdown().await;
    Ok(())
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
