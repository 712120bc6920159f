//! The admin HTTP server: `/metrics` (Prometheus text), `/health` (the process answers) and
//! `/ready` (no connector is down: `200`, else `503`, with each connector's state in JSON).
//!
//! It binds 127.0.0.1 unless given another address, and changes nothing: every endpoint is a
//! read. It serves until the process ends, with the limits of every Sluice listener
//! ([`listener`]).

use std::net::SocketAddr;

use anyhow::Context;
use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use sluice_connect::http::listener::{self, Limits};
use sluice_core::health::{self, State};

/// Installs the Prometheus recorder and serves the endpoints.
pub(crate) async fn serve(addr: SocketAddr) -> anyhow::Result<()> {
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .context("cannot install the metrics recorder")?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} for the admin server"))?;
    tracing::info!(%addr, "admin server: /metrics, /health, /ready");
    // Every endpoint is a GET: a body is never needed.
    let limits = Limits {
        max_body_size: 64 * 1024,
        ..Limits::default()
    };
    tokio::spawn(listener::serve(
        listener,
        router(handle),
        limits,
        None,
        std::future::pending(),
    ));
    Ok(())
}

fn router(handle: PrometheusHandle) -> Router {
    Router::new()
        .route("/metrics", get(move || std::future::ready(handle.render())))
        .route("/health", get(|| async { "ok\n" }))
        .route("/ready", get(|| async { ready() }))
}

/// Each connector's state; ready unless one is down.
fn ready() -> (StatusCode, axum::Json<serde_json::Value>) {
    let states = health::snapshot();
    let ready = !states.values().any(|s| matches!(s, State::Down(_)));
    let connectors: serde_json::Map<String, serde_json::Value> = states
        .into_iter()
        .map(|(name, state)| (name, serde_json::Value::String(state.to_string())))
        .collect();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        axum::Json(serde_json::json!({ "ready": ready, "connectors": connectors })),
    )
}
