//! [`Flow`]: a typed stream of items between stages, and the operators that extend it.
//!
//! A flow is the output of one stage; an operator of [`Operators`](crate::Operators) consumes it (or a
//! [`Stage`](crate::Stage) configured on it) and returns the flow of the new stage it registers. The operators are
//! declared once, in [`Operators`](crate::Operators); each kind of stage runs in its own module:
//!
//! - `source`: [`Flow::from_iter`], [`Flow::from_stream`], [`Flow::from_channel`],
//!   [`Flow::from_acked_stream`] and the same on a named [`Source`](crate::Source);
//! - `transform`: per-item `map`, `filter`, `filter_map`, `flat_map`, `try_map`,
//!   `try_flat_map`, `inspect`;
//! - `parallel` and `call`: worker threads for CPU-bound functions, async calls in flight;
//! - `fan`: `broadcast`, `route`, `partition`, `partition_by_key`, and fan-in with
//!   [`Flow::merge`];
//! - `batching`: `batch`, `try_batch` (windows are [`crate::window`], keyed state
//!   [`crate::keyed`]);
//! - `sink`: the terminals `sink`, `sink_writers`, `for_each`, `fold`, `collect`, `count`,
//!   `run`.

pub(crate) mod batching;
pub(crate) mod call;
pub(crate) mod fan;
pub(crate) mod parallel;
pub(crate) mod sink;
pub(crate) mod source;
pub(crate) mod stage;
pub(crate) mod transform;

use std::sync::Arc;

use crate::channel::Receiver;
use crate::pipeline::{LiveFlow, Pipeline};
use crate::probe::Probe;

/// A stream of `T` flowing out of one stage of a [`Pipeline`]; [`Operators`](crate::Operators) extend it.
///
/// ```
/// use sluice_core::{Flow, Operators};
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

    /// Counts, and samples for listeners, every item of this flow with `probe`, in the stage
    /// that writes it: no stage is added (see [`crate::probe`]). A flow takes one probe.
    pub fn probe(self, probe: &Arc<Probe<T>>) -> Flow<T> {
        Flow {
            rx: self.rx.probed(Arc::clone(probe)),
            ..self
        }
    }
}
