//! `sluice test`: runs the tests written in a pipeline file's `tests` section.

use std::path::Path;
use std::process::ExitCode;

use super::pipeline_file::load;
use super::problems::report;

pub(crate) async fn test(file: &Path) -> anyhow::Result<ExitCode> {
    let graph = match load(file, &[])? {
        Ok(graph) => graph,
        Err(problems) => return Ok(report(&problems)),
    };
    let results = match graph.run_tests().await {
        Ok(results) => results,
        Err(problems) => return Ok(report(&problems)),
    };
    if results.is_empty() {
        println!("{}: no tests", file.display());
        return Ok(ExitCode::SUCCESS);
    }
    let mut failed = 0;
    for result in &results {
        if result.passed() {
            println!("PASS {}", result.name);
        } else {
            failed += 1;
            println!("FAIL {}", result.name);
            for failure in &result.failures {
                for line in failure.lines() {
                    println!("    {line}");
                }
            }
        }
    }
    println!("{} passed, {failed} failed", results.len() - failed);
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
