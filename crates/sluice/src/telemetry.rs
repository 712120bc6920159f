//! Logs: human-readable on a terminal, JSON lines with `--log-format json`; level from
//! `RUST_LOG` (default `info`, `warn` with `--quiet`; the AMQP client's warning for each
//! returned message is left out).

use clap::ValueEnum;
use tracing_subscriber::EnvFilter;

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the log subscriber (on standard error, so standard output stays for data).
pub(crate) fn init(format: LogFormat, quiet: bool) {
    let default = if quiet { "warn" } else { "info" };
    // The AMQP client warns of each message the broker returns, payload and all; the amqp
    // sink fails those messages' batch with the reason itself.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{default},lapin::returned_messages=error")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    if let Err(err) = installed {
        eprintln!("warning: logging is not set up: {err}");
    }
}
