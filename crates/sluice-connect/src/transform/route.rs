//! `route`: sends each event to every named output whose condition is true, and to
//! `_unmatched` when none is.

use std::collections::BTreeMap;

use serde::Deserialize;
use sluice_core::{BoxError, Flow, Operators};
use sluice_event::Event;

use crate::component::{OptionError, Transform, TransformContext, TransformOutputs};
use sluice_jq::Program;

/// The output of events no route matched.
pub(crate) const UNMATCHED: &str = "_unmatched";

/// The `route` transform.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteTransform {
    /// Output names and their jq conditions; read an output as `ROUTE.NAME` (and the rest as
    /// `ROUTE._unmatched`). An event goes to every output whose condition is true.
    pub routes: BTreeMap<String, Program>,
}

impl Transform for RouteTransform {
    fn check(&self) -> Vec<OptionError> {
        let mut problems = Vec::new();
        for name in self.routes.keys() {
            if name == "errors" || name == UNMATCHED || name.contains('.') {
                problems.push(OptionError::new(
                    format!("routes.{name}"),
                    format!(
                        "`{name}` cannot name a route (`errors` and `_unmatched` are outputs \
                         already, and `.` separates a component from its output)"
                    ),
                ));
            }
        }
        if self.routes.is_empty() {
            problems.push(OptionError::new(
                "routes",
                "`routes` needs at least one `name: condition`",
            ));
        }
        problems
    }

    fn outputs(&self) -> Vec<String> {
        self.routes
            .keys()
            .cloned()
            .chain([UNMATCHED.to_owned()])
            .collect()
    }

    fn has_main_output(&self) -> bool {
        false
    }

    fn build(
        &self,
        input: Flow<Event>,
        ctx: &TransformContext,
    ) -> Result<TransformOutputs, BoxError> {
        let conditions: Vec<Program> = self.routes.values().cloned().collect();
        let unmatched = conditions.len();
        let tag = move |event: Event| {
            let mut lanes = Vec::new();
            for (i, condition) in conditions.iter().enumerate() {
                match condition.test(&event) {
                    Ok(true) => lanes.push(i),
                    Ok(false) => {}
                    Err(err) => return Err((event, err)),
                }
            }
            if lanes.is_empty() {
                lanes.push(unmatched);
            }
            let last = lanes.len() - 1;
            let mut tagged = Vec::with_capacity(lanes.len());
            let mut event = Some(event);
            for (k, lane) in lanes.into_iter().enumerate() {
                let copy = if k == last {
                    event.take()
                } else {
                    event.clone()
                };
                if let Some(copy) = copy {
                    tagged.push((lane, copy));
                }
            }
            Ok(tagged)
        };
        let (stage, errors) = ctx.stage(input);
        let tagged = if ctx.workers > 1 {
            stage.parallel_try_flat_map(ctx.workers, tag)
        } else {
            stage.try_flat_map(tag)
        };
        let lanes = tagged
            .stage(format!("{}.split", ctx.name))
            .route(unmatched + 1, |(lane, _)| *lane);
        let named = self
            .outputs()
            .into_iter()
            .zip(lanes)
            .map(|(name, lane)| {
                let flow = lane
                    .stage(format!("{}.{name}", ctx.name))
                    .map(|(_, event)| event);
                (name, flow)
            })
            .collect();
        Ok(TransformOutputs {
            main: None,
            named,
            errors,
        })
    }
}
