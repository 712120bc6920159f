//! The admin HTTP server: `/metrics` (Prometheus text) and `/health`.
//!
//! It binds 127.0.0.1 unless given another address, and changes nothing: every endpoint is a
//! read. It serves until the process ends.

use std::net::SocketAddr;

use anyhow::Context;
use axum::Router;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Installs the Prometheus recorder and serves the endpoints.
pub(crate) async fn serve(addr: SocketAddr) -> anyhow::Result<()> {
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .context("cannot install the metrics recorder")?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} for the admin server"))?;
    tracing::info!(%addr, "admin server: /metrics, /health");
    tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, router(handle)).await {
            tracing::error!(%err, "admin server stopped");
        }
    });
    Ok(())
}

fn router(handle: PrometheusHandle) -> Router {
    Router::new()
        .route("/metrics", get(move || std::future::ready(handle.render())))
        .route("/health", get(|| async { "ok\n" }))
}
