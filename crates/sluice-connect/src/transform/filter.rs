//! `filter`: keeps the events for which a jq condition is true.

use serde::Deserialize;
use sluice_core::{BoxError, Flow};
use sluice_event::Event;

use sluice_jq::Program;

use crate::component::transform::per_event;
use crate::component::{Transform, TransformContext, TransformOutputs};

/// The `filter` transform.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterTransform {
    /// A jq expression; events for which it is true (neither `false` nor `null`) go on, the
    /// others are dropped (acknowledged as filtered). An event on which it fails goes to the
    /// error output.
    pub condition: Program,
}

impl Transform for FilterTransform {
    fn build(
        &self,
        input: Flow<Event>,
        ctx: &TransformContext,
    ) -> Result<TransformOutputs, BoxError> {
        let condition = self.condition.clone();
        Ok(per_event(input, ctx, move |event: Event| {
            match condition.test(&event) {
                Ok(true) => Ok(Some(event)),
                Ok(false) => Ok(None),
                Err(err) => Err((event, err)),
            }
        }))
    }
}
