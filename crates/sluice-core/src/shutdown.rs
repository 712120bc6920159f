//! Operating-system signals that start a clean shutdown.

/// SIGINT (Ctrl-C) and, on Unix, SIGTERM, as one stream of "stop" requests.
pub(crate) struct Signals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    pub(crate) fn new() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let term = signal(SignalKind::terminate())
                .map_err(|err| tracing::warn!(%err, "cannot listen for SIGTERM"))
                .ok();
            Signals { term }
        }
        #[cfg(not(unix))]
        {
            Signals {}
        }
    }

    /// Waits for the next signal; `None` if signals cannot be received at all.
    pub(crate) async fn recv(&mut self) -> Option<()> {
        #[cfg(unix)]
        {
            let term = async {
                match &mut self.term {
                    Some(t) => t.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = tokio::signal::ctrl_c() => r.ok(),
                r = term => r,
            }
        }
        #[cfg(not(unix))]
        {
            tokio::signal::ctrl_c().await.ok()
        }
    }
}
