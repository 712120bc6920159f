//! Workflow files: the steps of a job workflow, read for `sluice jobs workflow`.
//!
//! ```yaml
//! steps:
//!   - name: extract
//!     kind: extract
//!     args: { day: "2026-12-01" }
//!   - name: load
//!     kind: load
//!     depends_on: [extract]
//!     on_dependency_failure: cancel   # or run
//! ```
//!
//! Each step is a job as `sluice jobs enqueue --file` reads one (`kind`, `args`, `queue`, …)
//! with a `name`, the names of the steps it `depends_on`, and what it does when one of them
//! ends dead or cancelled. JSON is YAML too.

use std::path::Path;

use sluice_jobs::workflow::{Graph, Workflow};

use crate::diagnostic::{Diagnostic, Diagnostics, Loc};
use crate::node::NodeValue;

/// Reads the workflow file at `path`, with `${VAR}`s from the environment, and checks it.
pub fn read(path: &Path) -> Result<Graph, Diagnostics> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        Diagnostics(vec![Diagnostic {
            file: file.clone(),
            at: Loc::default(),
            path: String::new(),
            message: format!("cannot read the file: {e}"),
        }])
    })?;
    parse(&file, &text, &|var| std::env::var(var).ok())
}

/// Parses and checks the text of a workflow file named `file`, with `${VAR}`s from `env`:
/// every problem with its line and what to write instead.
pub fn parse(
    file: &str,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Graph, Diagnostics> {
    let root = crate::load::tree(&crate::load::Source {
        file,
        text,
        sets: &[],
        env,
    })?;
    let diagnostic = |at: Loc, path: String, message: String| {
        Diagnostics(vec![Diagnostic {
            file: file.to_owned(),
            at,
            path,
            message,
        }])
    };
    let workflow: Workflow = root
        .deserialize("")
        .map_err(|(at, path, message)| diagnostic(at, path, message))?;
    workflow.graph().map_err(|e| {
        let steps = root.get("steps");
        let (at, path) = match (e.step, steps) {
            (Some(i), Some(steps)) => (
                match &steps.value {
                    NodeValue::Seq(items) => items.get(i).map_or(steps.at, |step| step.at),
                    _ => steps.at,
                },
                format!("steps[{i}]"),
            ),
            (_, Some(steps)) => (steps.at, "steps".to_owned()),
            (_, None) => (root.at, String::new()),
        };
        diagnostic(at, path, e.message)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_read_with_their_dependencies() {
        let text = "steps:\n  - name: a\n    kind: fetch\n  - name: b\n    kind: load\n    depends_on: [a]\n";
        let graph = parse("flow.yaml", text, &|_| None).expect("valid");
        assert_eq!(graph.len(), 2);
    }

    #[test]
    fn mistakes_name_their_line() {
        let text = "steps:\n  - name: a\n    kind: fetch\n  - name: b\n    kind: load\n    depends_on: [c]\n";
        let error = parse("flow.yaml", text, &|_| None)
            .expect_err("unknown dependency")
            .to_string();
        assert!(
            error.starts_with("flow.yaml:4:")
                && error.contains("steps[1]: step `b` depends on `c`, which is not a step"),
            "{error}"
        );
        let typo = "steps:\n  - name: a\n    kind: fetch\n    depend_on: [b]\n";
        let error = parse("flow.yaml", typo, &|_| None)
            .expect_err("unknown field")
            .to_string();
        assert!(
            error.contains("flow.yaml:") && error.contains("depend_on"),
            "{error}"
        );
    }
}
