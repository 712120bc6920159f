//! `batch`: groups events into one event `{"count": n, "events": [...]}` per batch.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use sluice_core::{BoxError, Flow, Operators};
use sluice_event::Event;

use crate::component::{Transform, TransformContext, TransformOutputs};

/// The `batch` transform.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchTransform {
    /// Most events in a batch. Defaults to 100.
    #[serde(default = "default_max_events")]
    pub max_events: usize,
    /// Emit a batch once its first event has waited this long, full or not. Defaults to `1s`.
    #[serde(
        default = "default_linger",
        deserialize_with = "sluice_event::duration::deserialize"
    )]
    pub linger: Duration,
}

fn default_max_events() -> usize {
    100
}
fn default_linger() -> Duration {
    Duration::from_secs(1)
}

impl Transform for BatchTransform {
    fn build(
        &self,
        input: Flow<Event>,
        ctx: &TransformContext,
    ) -> Result<TransformOutputs, BoxError> {
        let (stage, errors) = ctx.stage(input);
        let grouped = stage
            .batch(self.max_events.max(1), self.linger)
            .stage(format!("{}.encode", ctx.name))
            .map(|events: Vec<Event>| {
                let values: Vec<Value> = events.iter().map(|e| e.value().clone()).collect();
                Event::new(json!({ "count": values.len(), "events": values }))
            });
        Ok(TransformOutputs::main(grouped, errors))
    }
}
