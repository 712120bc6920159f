//! The admin HTTP server: `/metrics` (Prometheus text), `/health` (the process answers) and
//! `/ready` (no connector is down: `200`, else `503`, with each connector's state in JSON);
//! beside a running pipeline (`sluice run`) or a job store (`sluice worker`, `sluice ui`), the
//! web console and its API ([`sluice_console`]).
//!
//! It binds the address it is given (`--admin-addr`), over HTTPS when given a certificate and
//! key (`--admin-tls-cert`, `--admin-tls-key`). Only the console changes anything, and only for
//! the bearer of the admin token (`--admin-token-file`, or `SLUICE_ADMIN_TOKEN`). It serves
//! until the process ends, with the limits of every Sluice listener ([`listener`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sluice_connect::http::listener::{self, Limits};
use sluice_connect::tls::ServerTls;
use sluice_console::live::LivePipeline;
use sluice_console::{Console, Token};
use sluice_core::health::{self, State};
use sluice_jobs::Store;
use tokio_rustls::TlsAcceptor;

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
    #[command(flatten)]
    token: TokenArg,
}

/// The admin token, which lets the console change jobs and queues.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct TokenArg {
    /// Allow changes in the console to whoever sends the token this file holds (else the
    /// `SLUICE_ADMIN_TOKEN` variable's); without one, the console is read-only.
    #[arg(long, env = "SLUICE_ADMIN_TOKEN_FILE")]
    admin_token_file: Option<PathBuf>,
}

impl TokenArg {
    /// The token, from the file or else `SLUICE_ADMIN_TOKEN`; `None`: read-only.
    pub(crate) fn token(&self) -> anyhow::Result<Option<Token>> {
        match &self.admin_token_file {
            Some(file) => {
                let text = std::fs::read_to_string(file).with_context(|| {
                    format!("cannot read the admin token file {}", file.display())
                })?;
                let token = Token::new(&text).with_context(|| {
                    format!(
                        "the admin token file {} is empty: write the token in it",
                        file.display()
                    )
                })?;
                Ok(Some(token))
            }
            None => Ok(std::env::var("SLUICE_ADMIN_TOKEN")
                .ok()
                .and_then(|text| Token::new(&text))),
        }
    }
}

impl AdminArgs {
    /// Installs the metrics recorder and binds the address, if one is given. Done before a
    /// pipeline or worker is built, so that every metric it makes is recorded; then
    /// [`Admin::serve`] serves what it built.
    pub(crate) async fn bind(&self) -> anyhow::Result<Option<Admin>> {
        let Some(addr) = self.admin_addr else {
            return Ok(None);
        };
        let tls = match (&self.admin_tls_cert, &self.admin_tls_key) {
            (Some(cert_file), Some(key_file)) => Some(ServerTls {
                cert_file: cert_file.clone(),
                key_file: key_file.clone(),
                client_ca_file: None,
            }),
            _ => None,
        };
        Ok(Some(
            Admin::bind(addr, tls.as_ref(), self.token.token()?).await?,
        ))
    }
}

/// The admin server, bound and not serving yet.
pub(crate) struct Admin {
    listener: tokio::net::TcpListener,
    handle: PrometheusHandle,
    tls: Option<TlsAcceptor>,
    token: Option<Token>,
}

impl Admin {
    /// Installs the Prometheus recorder and binds `addr`.
    async fn bind(
        addr: SocketAddr,
        tls: Option<&ServerTls>,
        token: Option<Token>,
    ) -> anyhow::Result<Admin> {
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
        Ok(Admin {
            listener,
            handle,
            tls,
            token,
        })
    }

    /// Serves `/metrics`, `/health`, `/ready`, and the console over `store` and `pipelines`
    /// when there is either, until the process ends.
    pub(crate) fn serve(self, store: Option<Arc<dyn Store>>, pipelines: Vec<LivePipeline>) {
        let console = (store.is_some() || !pipelines.is_empty()).then(|| {
            let console = Console::new(self.token);
            let console = match store {
                Some(store) => console.store(store),
                None => console,
            };
            if pipelines.is_empty() {
                console
            } else {
                console.pipelines(pipelines)
            }
        });
        let addr = self.listener.local_addr().ok();
        tracing::info!(
            ?addr,
            https = self.tls.is_some(),
            console = console.is_some(),
            "admin server: /metrics, /health, /ready"
        );
        // The largest body is the console's list of job ids (10,000 at most).
        let limits = Limits {
            max_body_size: 1024 * 1024,
            ..Limits::default()
        };
        tokio::spawn(listener::serve(
            self.listener,
            router(self.handle, console),
            limits,
            None,
            self.tls,
            std::future::pending(),
        ));
    }
}

/// `sluice ui`: the console over a store, with no worker.
#[derive(Debug, clap::Args)]
pub(crate) struct UiArgs {
    /// Listen on this address. Defaults to `127.0.0.1:9600`: this machine only.
    #[arg(long, default_value = "127.0.0.1:9600")]
    addr: SocketAddr,
    #[command(flatten)]
    token: TokenArg,
}

/// Serves the console over `store` at the address `args` give, until Ctrl-C or SIGTERM.
pub(crate) async fn ui(args: &UiArgs, store: Arc<dyn Store>) -> anyhow::Result<()> {
    let token = args.token.token()?;
    let writable = token.is_some();
    Admin::bind(args.addr, None, token)
        .await?
        .serve(Some(store), Vec::new());
    eprintln!(
        "the console is at http://{}/ ({}); Ctrl-C stops it",
        args.addr,
        if writable {
            "changes need the admin token"
        } else {
            "read-only: give --admin-token-file to allow changes"
        }
    );
    crate::commands::shutdown_signal().await;
    Ok(())
}

fn router(handle: PrometheusHandle, console: Option<Console>) -> Router {
    let admin = Router::new()
        .route("/metrics", get(move || std::future::ready(handle.render())))
        .route("/health", get(|| async { "ok\n" }))
        .route("/ready", get(|| async { ready() }));
    match console {
        Some(console) => admin.merge(sluice_console::router(console)),
        None => admin,
    }
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
