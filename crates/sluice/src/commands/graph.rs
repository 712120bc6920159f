//! `sluice graph`: prints a pipeline's graph, in Mermaid or Graphviz.

use std::path::Path;
use std::process::ExitCode;

use sluice_config::draw::Format;

use super::pipeline_file::load;
use super::problems::report;

/// Runs `sluice graph`.
pub(crate) fn graph(file: &Path, format: Format) -> anyhow::Result<ExitCode> {
    Ok(match load(file, &[])? {
        Ok(graph) => {
            print!("{}", graph.draw(format));
            ExitCode::SUCCESS
        }
        Err(problems) => report(&problems),
    })
}
