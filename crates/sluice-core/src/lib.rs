//! `sluice-core`: the in-process dataflow engine of Sluice.
//!
//! A [`Flow`] is a typed stream of items between concurrent stages. Stages run as tokio tasks
//! joined by bounded channels that carry small batches (so a stage costs a few nanoseconds per
//! item) and whose capacity, counted in items, is the backpressure that keeps memory bounded.
//! Around that core:
//!
//! - operators for every pipeline pattern: transforms, `parallel` fan-out/fan-in, `broadcast`,
//!   `route`, `merge`, `batch`, windows ([`window`]), keyed state ([`keyed`]) and async `call`s;
//! - [`policy`]: retry with backoff, timeout, rate limit, circuit breaker, concurrency limit,
//!   cache and load balancing, composed in a documented order;
//! - errors as values: a failed item becomes a [`Failed`] record on its stage's
//!   [`ErrorOutput`], for a dead-letter sink; a panic fails only its item;
//! - [`ack`]nowledgements: an acking source learns each item's final [`Outcome`] only once it
//!   is final, through fan-out, batches and windows;
//! - clean shutdown ([`Pipeline::shutdown`]), per-stage metrics ([`stats`]), traces
//!   ([`trace`]) and [`probe`]s that count and sample a flow for live views.
//!
//! The crate touches no network, file system or database: connectors and the job queue are
//! built on it in other crates.
//!
//! Operators are the methods of [`Operators`], the same on a [`Flow`] and on a [`Stage`]:
//! bring it into scope with `use sluice_core::Operators` (or `use sluice_core::prelude::*`).
//!
//! ```
//! use sluice_core::{Flow, Operators};
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let evens: Vec<u64> = Flow::from_iter(1..=10u64)
//!     .filter(|x| x % 2 == 0)
//!     .map(|x| x * 10)
//!     .collect()
//!     .await
//!     .expect("pipeline ran");
//! assert_eq!(evens, vec![20, 40, 60, 80, 100]);
//! # }
//! ```

pub mod ack;
mod batch;
mod channel;
mod context;
mod error;
mod flow;
pub mod health;
pub mod keyed;
mod operators;
mod pipeline;
pub mod policy;
pub mod probe;
mod shutdown;
pub mod stats;
pub mod trace;
pub mod weigh;
pub mod window;

pub use ack::{AckToken, Acked, Outcome};
pub use error::{BoxError, Error, Failed, ItemError};
pub use flow::Flow;
pub use flow::sink::{SINK_GATHER, Sink, WriteError};
pub use flow::source::Source;
pub use flow::stage::{ErrorOutput, Stage};
pub use keyed::Keyed;
pub use operators::Operators;
pub use pipeline::{Pipeline, PipelineConfig, RunReport};
pub use policy::{
    Backoff, Balancer, BreakerConfig, Cache, CircuitBreaker, Jitter, Policy, RateLimit, Retry,
};
pub use stats::{LatencyWindow, StageSnapshot, StageStats};
pub use window::{Window, WindowResult};

/// What a program that builds flows needs in scope: `use sluice_core::prelude::*`.
pub mod prelude {
    pub use crate::{Flow, Operators, Pipeline, Stage};
}

/// The README's Rust examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
