//! The admin HTTP server: `/metrics` (Prometheus text), `/health` (the process answers) and
//! `/ready` (no connector is down: `200`, else `503`, with each connector's state in JSON).
//!
//! It binds the address it is given (`--admin-addr`), over HTTPS when given a certificate and
//! key (`--admin-tls-cert`, `--admin-tls-key`), and changes nothing: every endpoint is a read.
//! It serves until the process ends, with the limits of every Sluice listener ([`listener`]).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sluice_connect::http::listener::{self, Limits};
use sluice_connect::tls::ServerTls;
use sluice_core::health::{self, State};

/// Where and how the admin server listens: the options of `sluice run` and `sluice worker`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct AdminArgs {
    /// Serve `/metrics`, `/health` and `/ready` on this address, such as `127.0.0.1:9598`.
    #[arg(long, env = "SLUICE_ADMIN_ADDR")]
    admin_addr: Option<SocketAddr>,
    /// Serve them over HTTPS with this certificate chain (PEM); needs `--admin-tls-key`.
    #[arg(long, env = "SLUICE_ADMIN_TLS_CERT", requires = "admin_tls_key")]
    admin_tls_cert: Option<PathBuf>,
    /// The private key of `--admin-tls-cert` (PEM).
    #[arg(long, env = "SLUICE_ADMIN_TLS_KEY", requires = "admin_tls_cert")]
    admin_tls_key: Option<PathBuf>,
}

impl AdminArgs {
    /// Starts the admin server if an address is given.
    pub(crate) async fn serve(&self) -> anyhow::Result<()> {
        let Some(addr) = self.admin_addr else {
            return Ok(());
        };
        let tls = match (&self.admin_tls_cert, &self.admin_tls_key) {
            (Some(cert_file), Some(key_file)) => Some(ServerTls {
                cert_file: cert_file.clone(),
                key_file: key_file.clone(),
                client_ca_file: None,
            }),
            _ => None,
        };
        serve(addr, tls.as_ref()).await
    }
}

/// Installs the Prometheus recorder and serves the endpoints.
async fn serve(addr: SocketAddr, tls: Option<&ServerTls>) -> anyhow::Result<()> {
    let tls = tls
        .map(ServerTls::acceptor)
        .transpose()
        .map_err(|e| anyhow::anyhow!("the admin server's TLS: {e}"))?;
    let buckets = [
        (
            "sluice_stage_latency_seconds",
            sluice_core::stats::LATENCY_BUCKETS,
        ),
        (
            "sluice_job_wait_seconds",
            sluice_jobs::metrics::WAIT_BUCKETS,
        ),
        ("sluice_job_run_seconds", sluice_jobs::metrics::RUN_BUCKETS),
    ];
    let mut builder = PrometheusBuilder::new();
    for (name, bounds) in buckets {
        builder = builder
            .set_buckets_for_metric(Matcher::Full(name.to_owned()), bounds)
            .context("histogram buckets")?;
    }
    let handle = builder
        .install_recorder()
        .context("cannot install the metrics recorder")?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} for the admin server"))?;
    tracing::info!(%addr, https = tls.is_some(), "admin server: /metrics, /health, /ready");
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
        tls,
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
