//! Handlers that run a job outside the process: a command ([`ExecHandler`]) or an HTTP request
//! ([`HttpHandler`], with the `http` feature). A worker file names them by `type`; in Rust, give
//! them to [`WorkerBuilder::handler`](crate::WorkerBuilder::handler) like any handler.

mod exec;
#[cfg(feature = "http")]
mod http;

pub use exec::{Command, ExecHandler};

use crate::worker::Action;
#[cfg(feature = "http")]
pub use http::HttpHandler;

/// The most of a failed command's standard error, or a failed request's answer, kept as the
/// attempt's error.
const ERROR_TAIL: usize = 2000;

/// How a job that succeeded ends, given what its command printed or its request answered: with
/// that as its result when it is one JSON value, else without a result.
fn succeeded(output: &[u8]) -> Action {
    let text = output.trim_ascii();
    match serde_json::from_slice(text) {
        Ok(value) if !text.is_empty() => Action::CompleteWith(value),
        _ => Action::Complete,
    }
}

/// The end of `text`, at most [`ERROR_TAIL`] bytes.
fn tail(text: &str) -> &str {
    let mut start = text.len().saturating_sub(ERROR_TAIL);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn json_output_is_the_result() {
        assert_eq!(
            succeeded(b" {\"rows\": 3}\n"),
            Action::CompleteWith(json!({"rows": 3}))
        );
        assert_eq!(succeeded(b"done\n"), Action::Complete);
        assert_eq!(succeeded(b""), Action::Complete);
    }
}
