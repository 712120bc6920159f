//! The transforms of declarative pipelines, one module per type; each `...Config` is the
//! options of its type as written in a pipeline file.

pub mod batch;
pub mod dedupe;
pub mod filter;
#[cfg(feature = "http")]
pub mod http_call;
pub mod jq;
pub mod rate_limit;
pub mod route;
pub mod window;
