//! Transforms: the [`Transform`] trait, what a transform is given ([`TransformContext`]) and
//! gives back ([`TransformOutputs`]), and the shape most transforms take (`per_event`).

use sluice_core::{BoxError, Flow, Operators, Pipeline, Policy, Stage};
use sluice_event::{Event, dead_letter};

use crate::error_output;

/// What a transform needs from the pipeline it joins.
#[derive(Debug, Clone)]
pub struct TransformContext {
    /// The pipeline.
    pub pipeline: Pipeline,
    /// The component's name.
    pub name: String,
    /// Whether something reads `NAME.errors`.
    pub errors_wired: bool,
    /// `workers`, at least 1.
    pub workers: usize,
    /// `retry` and `timeout`.
    pub policy: Policy,
    /// `ordered_by`: the key whose events keep their order when `workers` work at once (the
    /// others keep the input's order overall).
    pub ordered_by: Option<sluice_jq::Program>,
}

impl TransformContext {
    /// The component's stage on `input`, wired to its error output when that is read, and
    /// giving each sampled event a span while tracing is on.
    pub fn stage(&self, input: Flow<Event>) -> (Stage<Event>, Option<Flow<Event>>) {
        let mut stage = input
            .stage(&self.name)
            .policy(self.policy.clone())
            .traced(Event::trace_context);
        if let Some(key) = self.ordered_by.clone() {
            // An event whose key fails to compute gets the key of the error: such events
            // keep their order among themselves.
            stage = stage.ordered_by(move |event: &Event| match key.outputs(event) {
                Ok(values) => serde_json::Value::Array(values).to_string(),
                Err(err) => err,
            });
        }
        error_output::wire(
            stage,
            &self.pipeline,
            &self.name,
            self.errors_wired,
            dead_letter::from_event,
        )
    }
}

/// A transform's outputs, built.
pub struct TransformOutputs {
    /// The main output (`NAME`).
    pub main: Option<Flow<Event>>,
    /// Named outputs (`NAME.OUTPUT`).
    pub named: Vec<(String, Flow<Event>)>,
    /// Dead-letter records (`NAME.errors`), when wired.
    pub errors: Option<Flow<Event>>,
}

impl TransformOutputs {
    /// A main output and the error output.
    pub fn main(main: Flow<Event>, errors: Option<Flow<Event>>) -> TransformOutputs {
        TransformOutputs {
            main: Some(main),
            named: Vec::new(),
            errors,
        }
    }
}

/// A transform type's configured instance.
pub trait Transform: Send + Sync {
    /// What the options' types cannot catch: every problem. Defaults to none.
    fn check(&self) -> Vec<super::OptionError> {
        Vec::new()
    }

    /// Named outputs besides the main one and `errors`.
    fn outputs(&self) -> Vec<String> {
        Vec::new()
    }

    /// Whether the transform has a main output (a `route` has only named ones).
    fn has_main_output(&self) -> bool {
        true
    }

    /// Whether `retry` and `timeout` mean anything for it (it calls out to something that can
    /// fail for a while). Deterministic transforms reject them, since retrying cannot help.
    fn retries(&self) -> bool {
        false
    }

    /// Adds the transform's stages to the pipeline.
    fn build(
        &self,
        input: Flow<Event>,
        ctx: &TransformContext,
    ) -> Result<TransformOutputs, BoxError>;
}

/// Runs `f` on each event with `workers` threads (in order), sending failures to the error
/// output: what most transforms are.
pub(crate) fn per_event<I>(
    input: Flow<Event>,
    ctx: &TransformContext,
    f: impl FnMut(Event) -> Result<I, (Event, String)> + Clone + Send + 'static,
) -> TransformOutputs
where
    I: IntoIterator<Item = Event> + 'static,
{
    let (stage, errors) = ctx.stage(input);
    let main = if ctx.workers > 1 {
        stage.parallel_try_flat_map(ctx.workers, f)
    } else {
        stage.try_flat_map(f)
    };
    TransformOutputs::main(main, errors)
}
