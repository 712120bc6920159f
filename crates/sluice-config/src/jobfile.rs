//! Job files: a workflow's steps, read for `sluice jobs workflow`, and a batch's jobs and
//! callbacks, read for `sluice jobs batch enqueue`. JSON is YAML too.
//!
//! A workflow file:
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
//! ends dead or cancelled.
//!
//! A batch file:
//! ```yaml
//! description: welcome emails
//! jobs:
//!   - { kind: email, args: { user: 1 } }
//!   - { kind: email, args: { user: 2 } }
//! on_complete: { kind: report, args: { campaign: 7 } }
//! on_success: { kind: celebrate }
//! open: false          # true: more jobs may be added until it is closed
//! ```

use std::path::Path;

use serde::de::DeserializeOwned;
use sluice_jobs::batch::Batch;
use sluice_jobs::workflow::{Graph, Workflow};

use crate::diagnostic::{Diagnostic, Diagnostics, Loc};
use crate::node::{Node, NodeValue};

/// Reads the workflow file at `path`, with `${VAR}`s from the environment, and checks it.
pub fn read_workflow(path: &Path) -> Result<Graph, Diagnostics> {
    let (file, text) = read_text(path)?;
    parse_workflow(&file, &text, &|var| std::env::var(var).ok())
}

/// Reads the batch file at `path`, with `${VAR}`s from the environment, and checks it.
pub fn read_batch(path: &Path) -> Result<Batch, Diagnostics> {
    let (file, text) = read_text(path)?;
    parse_batch(&file, &text, &|var| std::env::var(var).ok())
}

/// Parses and checks the text of a workflow file named `file`, with `${VAR}`s from `env`:
/// every problem with its line and what to write instead.
pub fn parse_workflow(
    file: &str,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Graph, Diagnostics> {
    let (workflow, root) = parse_as::<Workflow>(file, text, env)?;
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
        one(file, at, path, e.message)
    })
}

/// Parses and checks the text of a batch file named `file`, with `${VAR}`s from `env`.
pub fn parse_batch(
    file: &str,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Batch, Diagnostics> {
    let (batch, root) = parse_as::<Batch>(file, text, env)?;
    batch
        .check()
        .map_err(|message| one(file, root.at, String::new(), message))?;
    Ok(batch)
}

/// The name and text of the file at `path`.
fn read_text(path: &Path) -> Result<(String, String), Diagnostics> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        one(
            &file,
            Loc::default(),
            String::new(),
            format!("cannot read the file: {e}"),
        )
    })?;
    Ok((file, text))
}

/// The text of a file named `file` read as a `T`, and its tree (for the places of later
/// problems).
fn parse_as<T: DeserializeOwned>(
    file: &str,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(T, Node), Diagnostics> {
    let root = crate::load::tree(&crate::load::Source {
        file,
        text,
        sets: &[],
        env,
    })?;
    let value = root
        .deserialize("")
        .map_err(|(at, path, message)| one(file, at, path, message))?;
    Ok((value, root))
}

/// One problem in `file`.
fn one(file: &str, at: Loc, path: String, message: String) -> Diagnostics {
    Diagnostics(vec![Diagnostic {
        file: file.to_owned(),
        at,
        path,
        message,
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_read_with_their_dependencies() {
        let text = "steps:\n  - name: a\n    kind: fetch\n  - name: b\n    kind: load\n    depends_on: [a]\n";
        let graph = parse_workflow("flow.yaml", text, &|_| None).expect("valid");
        assert_eq!(graph.len(), 2);
    }

    #[test]
    fn mistakes_name_their_line() {
        let text = "steps:\n  - name: a\n    kind: fetch\n  - name: b\n    kind: load\n    depends_on: [c]\n";
        let error = parse_workflow("flow.yaml", text, &|_| None)
            .expect_err("unknown dependency")
            .to_string();
        assert!(
            error.starts_with("flow.yaml:4:")
                && error.contains("steps[1]: step `b` depends on `c`, which is not a step"),
            "{error}"
        );
        let typo = "steps:\n  - name: a\n    kind: fetch\n    depend_on: [b]\n";
        let error = parse_workflow("flow.yaml", typo, &|_| None)
            .expect_err("unknown field")
            .to_string();
        assert!(
            error.contains("flow.yaml:") && error.contains("depend_on"),
            "{error}"
        );
    }

    #[test]
    fn batches_are_read_and_checked() {
        let text = "jobs:\n  - { kind: email }\non_complete: { kind: report }\n";
        let batch = parse_batch("b.yaml", text, &|_| None).expect("valid");
        assert_eq!(batch.jobs.len(), 1);
        let error = parse_batch("b.yaml", "jobs: []\n", &|_| None)
            .expect_err("empty")
            .to_string();
        assert!(error.contains("needs at least one job"), "{error}");
        let typo = "jobs:\n  - { kind: email }\nonsuccess: {}\n";
        let error = parse_batch("b.yaml", typo, &|_| None)
            .expect_err("typo")
            .to_string();
        assert!(
            error.starts_with("b.yaml:3:") && error.contains("onsuccess"),
            "{error}"
        );
    }
}
