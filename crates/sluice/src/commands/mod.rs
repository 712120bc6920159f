//! The `sluice` subcommands, one file each, and what they share: reading a pipeline file,
//! printing problems, opening the job store, waiting for Ctrl-C or SIGTERM.

pub(crate) mod dead_letters;
pub(crate) mod graph;
pub(crate) mod jobs;
mod pipeline_file;
mod problems;
pub(crate) mod run;
pub(crate) mod store;
pub(crate) mod test;
pub(crate) mod ui;
pub(crate) mod validate;
pub(crate) mod worker;

/// Resolves at Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
