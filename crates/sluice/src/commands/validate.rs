//! `sluice validate`: checks a pipeline file and reports every problem, with file, line and
//! column.

use std::path::Path;
use std::process::ExitCode;

use sluice_config::spec::Kind;

use super::pipeline_file::load;
use super::problems::report;

/// Runs `sluice validate`.
pub(crate) fn validate(file: &Path, sets: &[String]) -> anyhow::Result<ExitCode> {
    Ok(match load(file, sets)? {
        Ok(graph) => {
            let count = |kind| {
                graph
                    .spec
                    .components
                    .iter()
                    .filter(|c| c.kind == kind)
                    .count()
            };
            println!(
                "{}: ok ({} sources, {} transforms, {} sinks)",
                file.display(),
                count(Kind::Source),
                count(Kind::Transform),
                count(Kind::Sink)
            );
            ExitCode::SUCCESS
        }
        Err(problems) => report(&problems),
    })
}
