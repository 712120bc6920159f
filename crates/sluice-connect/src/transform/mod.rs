//! The transforms that need no service: `filter`, `jq`, `route`, `batch`, `window`, `dedupe`
//! and `rate_limit` (`http_call` is [`crate::http`]'s).

mod batch;
mod dedupe;
mod filter;
mod jq;
mod rate_limit;
mod route;
mod window;

pub use batch::BatchTransform;
pub use dedupe::DedupeTransform;
pub use filter::FilterTransform;
pub use jq::JqTransform;
pub use rate_limit::{Excess, RateLimitTransform};
pub use route::RouteTransform;
pub use window::{AggregateSpec, WindowKind, WindowTransform};
