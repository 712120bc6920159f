//! A component's error output (`NAME.errors` in a pipeline file): made only when something
//! reads it, carrying [dead-letter records](sluice_event::dead_letter).

use sluice_core::{Failed, Flow, Operators, Stage};
use sluice_event::Event;

/// Wires a component's stage to its error output when something reads it (`NAME.errors`):
/// returns the stage and the flow of dead-letter records. Unwired, failures are counted and
/// logged by the stage.
pub fn wire<T: Send + 'static>(
    stage: Stage<T>,
    pipeline: &sluice_core::Pipeline,
    component: &str,
    wired: bool,
    record: fn(&Failed<T>) -> Event,
) -> (Stage<T>, Option<Flow<Event>>) {
    if !wired {
        return (stage, None);
    }
    let (errors, failed) = pipeline.error_output::<T>();
    let dead = failed
        .stage(format!("{component}.errors"))
        .map(move |f| record(&f));
    (stage.errors_to(errors), Some(dead))
}
