//! Printing the problems of a file a command was given.

use std::process::ExitCode;

use sluice_config::Diagnostics;

/// Prints every problem; exit status 1.
pub(crate) fn report(problems: &Diagnostics) -> ExitCode {
    eprint!("{problems}");
    eprintln!(
        "{} problem{} found",
        problems.0.len(),
        if problems.0.len() == 1 { "" } else { "s" }
    );
    ExitCode::FAILURE
}
