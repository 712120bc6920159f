//! Handlers that run a job outside the process: a command ([`ExecHandler`]) or an HTTP request
//! ([`HttpHandler`], with the `http` feature). A worker file names them by `type`; in Rust, give
//! them to [`WorkerBuilder::handler`](crate::WorkerBuilder::handler) like any handler.

mod exec;
#[cfg(feature = "http")]
mod http;

pub use exec::{Command, ExecHandler};
#[cfg(feature = "http")]
pub use http::HttpHandler;

/// The most of a failed command's standard error, or a failed request's answer, kept as the
/// attempt's error.
const ERROR_TAIL: usize = 2000;

/// The end of `text`, at most [`ERROR_TAIL`] bytes.
fn tail(text: &str) -> &str {
    let mut start = text.len().saturating_sub(ERROR_TAIL);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}
