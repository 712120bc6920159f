//! `sluice jobs batch …`: enqueue a batch from a file, add jobs to an open one, close it, and
//! see how far it is.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use sluice_jobs::Store;
use sluice_jobs::batch::{BatchId, BatchStatus};

use super::enqueue::read_jobs;
use crate::commands::problems::report;

#[derive(Debug, Subcommand)]
pub(super) enum BatchCommand {
    /// Add a batch from a YAML or JSON file: its `jobs`, `on_success` and `on_complete`
    /// callbacks, and whether it stays `open` (docs/jobs.md#batches).
    Enqueue {
        /// The batch file.
        file: PathBuf,
        /// Print JSON: the batch's id and its jobs' ids.
        #[arg(long)]
        json: bool,
    },
    /// Add jobs to an open batch, from a JSON-lines file as `enqueue --file` reads one.
    Add {
        /// The batch.
        id: BatchId,
        /// The jobs (`-` for standard input).
        #[arg(long)]
        file: PathBuf,
    },
    /// Close an open batch: it takes no more jobs, and fires once every job has ended.
    Close {
        /// The batch.
        id: BatchId,
    },
    /// How far a batch is: its jobs ended and succeeded, and its callbacks.
    Show {
        /// The batch.
        id: BatchId,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `sluice jobs batch …`.
pub(super) async fn batch(store: &dyn Store, command: BatchCommand) -> anyhow::Result<ExitCode> {
    match command {
        BatchCommand::Enqueue { file, json } => {
            let batch = match sluice_config::jobfile::read_batch(&file) {
                Ok(batch) => batch,
                Err(problems) => return Ok(report(&problems)),
            };
            let enqueued = store.enqueue_batch(batch).await?;
            if json {
                println!("{}", serde_json::to_string(&enqueued)?);
            } else {
                println!(
                    "batch {} enqueued with {} jobs",
                    enqueued.id,
                    enqueued.jobs.len()
                );
            }
        }
        BatchCommand::Add { id, file } => {
            let jobs = read_jobs(&file, None)?;
            let added = store.add_to_batch(id, jobs).await?;
            println!("{} jobs added to batch {id}", added.len());
        }
        BatchCommand::Close { id } => {
            if store.close_batch(id).await? {
                println!("batch {id} closed");
            } else {
                eprintln!("batch {id} is closed already, or does not exist");
                return Ok(ExitCode::FAILURE);
            }
        }
        BatchCommand::Show { id, json } => {
            let Some(status) = store.batch(id).await? else {
                eprintln!("error: there is no batch {id}");
                return Ok(ExitCode::FAILURE);
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                print(&status);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A batch's status, one field a line.
fn print(status: &BatchStatus) {
    println!("batch:         {}", status.id);
    if let Some(description) = &status.description {
        println!("description:   {description}");
    }
    println!(
        "ended:         {} of {} ({} succeeded)",
        status.ended, status.total, status.succeeded
    );
    println!(
        "state:         {}",
        match (status.open, status.finished_at) {
            (true, _) => "open: takes more jobs until closed".to_owned(),
            (false, Some(at)) => format!("done at {}", at.to_rfc3339()),
            (false, None) => "closed, jobs running".to_owned(),
        }
    );
    let has = |yes: bool| if yes { "yes" } else { "no" };
    println!(
        "callbacks:     on_success {}, on_complete {}; enqueued: {}",
        has(status.callbacks.on_success),
        has(status.callbacks.on_complete),
        if status.callbacks.enqueued.is_empty() {
            "none".to_owned()
        } else {
            status
                .callbacks
                .enqueued
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
}
