//! [`Flow`]: a typed stream of items between stages, and the operators that extend it.
//!
//! A flow is the output of one stage; an operator consumes it and returns the flow of the new
//! stage it registers. Operators are grouped by concern:
//!
//! - sources: [`Flow::from_iter`], [`Flow::from_stream`], [`Flow::from_channel`],
//!   [`Flow::from_acked_stream`] and the same on a named [`Source`];
//! - per-item transforms: `map`, `filter`, `filter_map`, `flat_map`, `try_map`, `inspect`;
//! - concurrency: `parallel`, `parallel_unordered`, `call`, `call_unordered`, `call_cached`;
//! - fan-out and fan-in: `broadcast`, `route`, `partition`, `partition_by_key`, [`Flow::merge`];
//! - grouping: `batch`, `try_batch`, `window` (see [`crate::window`]), `key_by` (see
//!   [`crate::keyed`]);
//! - terminals: `sink`, `for_each`, `fold`, `collect`, `count`, `run`.
//!
//! Every operator has a default stage name (its kind); [`Flow::stage`] names a stage and sets its
//! policies and error output before choosing the operator.

mod batching;
mod call;
mod fan;
mod parallel;
mod sink;
mod source;
pub(crate) mod transform;

pub use sink::{SINK_GATHER, Sink, WriteError};
pub use source::Source;

use crate::channel::Receiver;
use crate::pipeline::{LiveFlow, Pipeline};
use crate::stage::Stage;

/// A stream of `T` flowing out of one stage of a [`Pipeline`].
///
/// ```
/// use sluice_core::Flow;
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let sum = Flow::from_iter(1..=4u64).map(|x| x * x).fold(0, |acc, x| acc + x).await;
/// assert_eq!(sum.expect("ran"), 30);
/// # }
/// ```
#[must_use = "a flow does nothing until it reaches a terminal and its pipeline runs"]
pub struct Flow<T> {
    pub(crate) pipeline: Pipeline,
    pub(crate) rx: Receiver<T>,
    /// Keeps the pipeline from starting while this flow may still be wired further.
    pub(crate) live: LiveFlow,
}

impl<T: Send + 'static> Flow<T> {
    pub(crate) fn new(pipeline: Pipeline, rx: Receiver<T>) -> Flow<T> {
        let live = pipeline.open_flow();
        Flow { pipeline, rx, live }
    }

    /// The pipeline this flow belongs to.
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// Configures the next stage: its name, policies, error output and capacity.
    pub fn stage(self, name: impl Into<String>) -> Stage<T> {
        Stage::new(self, name)
    }
}
