//! `sluice dead-letters …`: what a pipeline's dead letters hold.
//!
//! `inspect` reads dead-letter records (the JSON lines an error output writes, see
//! [`sluice_event::dead_letter`]) and summarises them by stage and error, with when they
//! failed and samples of each; `replay` sends them back into the components they failed at.

mod replay;
mod summary;

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args as ClapArgs, Subcommand};

use summary::Summary;

/// `sluice dead-letters …`.
#[derive(Debug, ClapArgs)]
pub(crate) struct DeadLettersArgs {
    #[command(subcommand)]
    command: DeadLettersCommand,
}

#[derive(Debug, Subcommand)]
enum DeadLettersCommand {
    /// Summarise dead-letter files by stage and error: how many, when, with samples.
    Inspect {
        /// Files of dead-letter records (JSON lines), as a `file` sink wrote them.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Samples kept per stage and error.
        #[arg(long, default_value_t = 3)]
        samples: usize,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Send the dead letters a `file` or `kafka` sink holds back into the components they failed at,
    /// once the cause is fixed; each is done with once its event is final again.
    Replay(replay::ReplayArgs),
}

/// Runs `sluice dead-letters …`.
pub(crate) async fn dead_letters(args: DeadLettersArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        DeadLettersCommand::Replay(args) => replay::replay(args).await,
        DeadLettersCommand::Inspect {
            files,
            samples,
            json,
        } => {
            for file in &files {
                let summary = inspect(file, samples)?;
                if json {
                    let mut value = serde_json::to_value(&summary)?;
                    value["file"] = serde_json::json!(file);
                    println!("{value}");
                } else {
                    print!("{}", summary.text(&file.display().to_string()));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Reads a file of dead-letter records line by line; memory holds the counts and samples only.
fn inspect(file: &std::path::Path, samples: usize) -> anyhow::Result<Summary> {
    let reader = std::io::BufReader::new(
        std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?,
    );
    let mut summary = Summary::new(samples);
    for line in reader.lines() {
        let line = line.with_context(|| format!("cannot read {}", file.display()))?;
        summary.add_line(&line);
    }
    Ok(summary)
}
