//! `jq`: rewrites each event with a jq program; each output of the program is an event.

use serde::Deserialize;
use sluice_core::{BoxError, Flow};
use sluice_event::Event;

use sluice_jq::Program;

use crate::component::transform::per_event;
use crate::component::{Transform, TransformContext, TransformOutputs};

/// The `jq` transform.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JqTransform {
    /// A jq program run on each event. Each output becomes an event (none drops the event; an
    /// array stays one event). An event on which it fails goes to the error output.
    pub program: Program,
}

impl Transform for JqTransform {
    fn build(
        &self,
        input: Flow<Event>,
        ctx: &TransformContext,
    ) -> Result<TransformOutputs, BoxError> {
        let program = self.program.clone();
        Ok(per_event(input, ctx, move |event: Event| {
            program.apply(event)
        }))
    }
}
