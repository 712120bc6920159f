//! HTTP: the `http` source (a server that takes events), the `http` sink (POSTs them) and the
//! `http_call` transform (enriches each event with a request's answer).

mod auth;
mod call;
pub mod listener;
mod sink;
mod source;

pub use auth::{Auth, Guard};
pub use call::{CacheSpec, HttpCallTransform, Method, Target, Template};
pub use sink::{BodyFormat, HttpSink};
pub use source::{DecodedBody, HttpSource, decode_body};

use std::time::Duration;

use sluice_core::BoxError;

/// An HTTP client for sinks and lookups, with TLS from rustls.
pub fn client(timeout: Duration) -> Result<reqwest::Client, BoxError> {
    crate::tls::install_provider();
    Ok(reqwest::Client::builder().timeout(timeout).build()?)
}
