//! Reading the pipeline file a command is given.

use std::path::Path;

use anyhow::Context;
use sluice_config::{Diagnostics, Graph};

/// Reads and checks a pipeline file (the outer error is for files that cannot be read).
pub(crate) fn load(file: &Path, sets: &[String]) -> anyhow::Result<Result<Graph, Diagnostics>> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let name = file.display().to_string();
    let env = |var: &str| std::env::var(var).ok();
    Ok(sluice_config::load(&sluice_config::Source {
        file: &name,
        text: &text,
        sets,
        env: &env,
    }))
}
