//! Serving HTTP with the limits every Sluice listener keeps (the `http` source, the admin
//! server): a client has `header_timeout` to send a request's line and headers and
//! `body_timeout` to send its body, and a body over `max_body_size` is refused with `413`
//! before more of it is read. A slow or stalled client cannot hold a connection, nor memory,
//! for longer. With TLS, the handshake too must end within `header_timeout`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::auth::{self, Guard};

/// What a listener allows a client.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Time to send a request's line and headers.
    pub header_timeout: Duration,
    /// Time to send a request's body.
    pub body_timeout: Duration,
    /// The largest body.
    pub max_body_size: usize,
}

impl Default for Limits {
    /// 10 s for the headers, 30 s for the body, 10 MiB of body.
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            max_body_size: 10 * 1024 * 1024,
        }
    }
}

/// Serves `app` on `listener` under `limits` until `shutdown` completes, then lets the
/// requests in progress finish. With a `guard`, a request's credentials are checked before its
/// body is read; with `tls`, connections are HTTPS only.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    guard: Option<Guard>,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) {
    let mut app = app
        .layer(axum::middleware::from_fn(move |request, next| {
            read_body(limits, request, next)
        }))
        .layer(DefaultBodyLimit::max(limits.max_body_size));
    if let Some(guard) = guard {
        let guard = Arc::new(guard);
        app = app.layer(axum::middleware::from_fn(move |request, next| {
            auth::check(Arc::clone(&guard), request, next)
        }));
    }
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // pause rather than spin.
                    tracing::warn!(%err, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let app = app.clone();
        let watcher = graceful.watcher();
        let tls = tls.clone();
        tokio::spawn(async move {
            let Some(tls) = tls else {
                return connection(stream, app, limits, watcher).await;
            };
            match tokio::time::timeout(limits.header_timeout, tls.accept(stream)).await {
                Ok(Ok(stream)) => connection(stream, app, limits, watcher).await,
                Ok(Err(err)) => tracing::debug!(%err, "TLS handshake failed"),
                Err(_) => tracing::debug!("TLS handshake did not end in time"),
            }
        });
    }
    graceful.shutdown().await;
}

/// Serves the requests of one connection until it closes or the server shuts down.
async fn connection(
    stream: impl AsyncRead + AsyncWrite + Unpin + Send + 'static,
    app: Router,
    limits: Limits,
    watcher: hyper_util::server::graceful::Watcher,
) {
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app));
    if let Err(err) = watcher.watch(connection).await {
        tracing::debug!(%err, "HTTP connection ended");
    }
}

/// Reads the whole body within the time and size allowed, before the handler runs.
async fn read_body(limits: Limits, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let read = Limited::new(body, limits.max_body_size).collect();
    match tokio::time::timeout(limits.body_timeout, read).await {
        Ok(Ok(body)) => {
            let body = Body::from(body.to_bytes());
            next.run(Request::from_parts(parts, body)).await
        }
        Ok(Err(err)) if err.is::<LengthLimitError>() => (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is over {} bytes\n", limits.max_body_size),
        )
            .into_response(),
        Ok(Err(err)) => (
            StatusCode::BAD_REQUEST,
            format!("the body could not be read: {err}\n"),
        )
            .into_response(),
        Err(_) => (
            StatusCode::REQUEST_TIMEOUT,
            format!("the body did not arrive within {:?}\n", limits.body_timeout),
        )
            .into_response(),
    }
}
