//! `sluice dead-letters …`: what a pipeline's dead letters hold.
//!
//! `inspect` reads dead-letter records (the JSON lines an error output writes, see
//! [`sluice_event::dead_letter`]), from files, from addresses of a topic, a table or a stream,
//! or from where a pipeline's sink keeps them, and summarises them by stage and error, with when they
//! failed and samples of each; `replay` sends them back into the components they failed at.

mod replay;
mod summary;

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args as ClapArgs, Subcommand};
use sluice_config::replay::DeadLetterStore;

use summary::Summary;

use super::pipeline_file::load;
use super::problems::report;

/// `sluice dead-letters …`.
#[derive(Debug, ClapArgs)]
pub(crate) struct DeadLettersArgs {
    #[command(subcommand)]
    command: DeadLettersCommand,
}

#[derive(Debug, Subcommand)]
enum DeadLettersCommand {
    /// Summarise dead letters by stage and error: how many, when, with samples. From files or
    /// addresses, or with `--from SINK` from where a pipeline's sink keeps them (a file, a Kafka
    /// topic, a PostgreSQL table or a Redis stream).
    Inspect {
        /// Files of dead-letter records (JSON lines), as a `file` sink wrote them, or addresses:
        /// `kafka://HOST:PORT/TOPIC`, `postgres://USER@HOST/DB?table=NAME`,
        /// `redis://HOST:PORT?stream=NAME`; with `--from`, the pipeline file.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The sink of the pipeline (the one file given) whose dead letters are read: a `file`,
        /// `kafka`, `postgres` or `redis_stream` sink. Nothing is moved, committed or deleted.
        #[arg(long = "from", value_name = "SINK")]
        from: Option<String>,
        /// Override a setting of the pipeline, as for `run` (with `--from`).
        #[arg(long = "set", value_name = "KEY.PATH=VALUE", requires = "from")]
        sets: Vec<String>,
        /// Samples kept per stage and error.
        #[arg(long, default_value_t = 3)]
        samples: usize,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Send the dead letters a `file`, `kafka`, `postgres` or `redis_stream` sink holds back into
    /// the components they failed at, once the cause is fixed; each is done with once its event
    /// is final again.
    Replay(replay::ReplayArgs),
}

/// Runs `sluice dead-letters …`.
pub(crate) async fn dead_letters(args: DeadLettersArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        DeadLettersCommand::Replay(args) => replay::replay(args).await,
        DeadLettersCommand::Inspect {
            files,
            from: Some(sink),
            sets,
            samples,
            json,
        } => {
            let [file] = files.as_slice() else {
                anyhow::bail!("with --from, give one pipeline file");
            };
            let graph = match load(file, &sets)? {
                Ok(graph) => graph,
                Err(problems) => return Ok(report(&problems)),
            };
            let (reader, what) = replay::Reader::once(&graph, file, &sink)?;
            let (summary, _) = replay::summarize(&reader, &sink, samples, |_| true).await?;
            show(&summary, &what, json)?;
            Ok(ExitCode::SUCCESS)
        }
        DeadLettersCommand::Inspect {
            files,
            from: None,
            samples,
            json,
            ..
        } => {
            for file in &files {
                let summary = match DeadLetterStore::from_url(&file.to_string_lossy()) {
                    None => inspect(file, samples)?,
                    Some(store) => {
                        let store = store.map_err(|e| anyhow::anyhow!(e))?;
                        let group = format!("sluice-inspect-{}", std::process::id());
                        let (reader, _) = replay::Reader::of(&store, &group, false);
                        replay::summarize(&reader, "inspect", samples, |_| true)
                            .await?
                            .0
                    }
                };
                show(&summary, &file.display().to_string(), json)?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Prints a summary of the dead letters of `what`, as text or JSON.
fn show(summary: &Summary, what: &str, json: bool) -> anyhow::Result<()> {
    if json {
        let mut value = serde_json::to_value(summary)?;
        value["from"] = serde_json::json!(what);
        println!("{value}");
    } else {
        print!("{}", summary.text(what));
    }
    Ok(())
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
