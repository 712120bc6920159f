//! `sluice jobs …`: enqueue, inspect and manage jobs and queues.

mod batch;
mod enqueue;
mod print;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use chrono::Utc;
use clap::{Args as ClapArgs, Subcommand};
use sluice_jobs::store::{ArgsMatch, Cancelled, ListParams, PruneParams, RetryParams, select};
use sluice_jobs::{JobId, JobState, Store};

use super::problems::report;
use super::store::{StoreArg, open};
use enqueue::{EnqueueArgs, enqueue_jobs};

/// `sluice jobs …`.
#[derive(Debug, ClapArgs)]
pub(crate) struct JobsArgs {
    #[command(flatten)]
    store: StoreArg,
    #[command(subcommand)]
    command: JobsCommand,
}

#[derive(Debug, Subcommand)]
enum JobsCommand {
    /// Add a job (`KIND [ARGS]`), or many from a JSON-lines file (`--file`).
    Enqueue(EnqueueArgs),
    /// Add a workflow from a YAML or JSON file: named steps, each run once the steps it
    /// `depends_on` have succeeded (docs/jobs.md#workflows).
    Workflow {
        /// The workflow file.
        file: PathBuf,
        /// Print JSON: the workflow's id and each step's job id.
        #[arg(long)]
        json: bool,
    },
    /// Enqueue a batch, add jobs to an open one, close it, or see how far it is.
    #[command(subcommand)]
    Batch(batch::BatchCommand),
    /// List jobs, newest first.
    List {
        #[command(flatten)]
        filter: Filter,
        /// Only jobs older than this id: the page after one that ended with it.
        #[arg(long)]
        before: Option<JobId>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Print JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Show a job, with every attempt's error.
    Show {
        /// The job's id.
        id: JobId,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Make jobs available to run now (dead, cancelled, retryable or scheduled ones), named by
    /// id or by a filter.
    Retry {
        #[command(flatten)]
        selection: Selection,
        /// Every dead job (of `--queue`, or of all queues): the same as `--state dead`.
        #[arg(long, conflicts_with_all = ["ids", "state"])]
        dead: bool,
    },
    /// Delete jobs that have ended, named by id or by a filter.
    Discard {
        #[command(flatten)]
        selection: Selection,
    },
    /// Cancel jobs, named by id or by a filter: waiting ones at once, running ones at their
    /// worker's next heartbeat.
    Cancel {
        #[command(flatten)]
        selection: Selection,
    },
    /// Pause a queue: workers claim none of its jobs (running ones finish) until it is resumed.
    Pause {
        /// The queue.
        queue: String,
    },
    /// Resume a paused queue.
    Resume {
        /// The queue.
        queue: String,
    },
    /// Jobs per queue and state, and which queues are paused.
    Stats {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The workers that report to the store: live ones, and those that went away in the last day.
    Workers {
        /// Print JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Create or upgrade the store's schema.
    Migrate,
    /// Delete ended jobs older than a duration.
    Purge {
        /// Jobs that ended longer ago than this (`7d`, `12h`).
        #[arg(long, value_parser = sluice_event::duration::parse)]
        older_than: Duration,
        /// Only these states (comma-separated). Defaults to succeeded, dead and cancelled.
        #[arg(long, value_delimiter = ',')]
        state: Vec<JobState>,
        /// Only this queue.
        #[arg(long)]
        queue: Option<String>,
        /// Only this kind.
        #[arg(long)]
        kind: Option<String>,
    },
}

/// Which jobs: those matching every filter given.
#[derive(Debug, Clone, Default, ClapArgs)]
struct Filter {
    /// Only this queue.
    #[arg(long)]
    queue: Option<String>,
    /// Only this state: blocked, scheduled, available, running, retryable, succeeded, dead,
    /// cancelled.
    #[arg(long)]
    state: Option<JobState>,
    /// Only this kind.
    #[arg(long)]
    kind: Option<String>,
    /// Only jobs with this unique key.
    #[arg(long)]
    unique_key: Option<String>,
    /// Only jobs with this partition key.
    #[arg(long)]
    partition_key: Option<String>,
    /// Only the steps of this workflow (its id: its first step's).
    #[arg(long)]
    workflow: Option<JobId>,
    /// Only jobs whose args hold a value at a path: `PATH=VALUE`, such as `user.id=42` or
    /// `to=ada@example.com`.
    #[arg(long = "args", value_name = "PATH=VALUE")]
    args: Option<ArgsMatch>,
}

impl Filter {
    fn is_empty(&self) -> bool {
        self.params(0) == ListParams::default()
    }

    fn params(&self, limit: u32) -> ListParams {
        ListParams {
            queue: self.queue.clone(),
            state: self.state,
            kind: self.kind.clone(),
            unique_key: self.unique_key.clone(),
            partition_key: self.partition_key.clone(),
            workflow: self.workflow,
            args: self.args.clone(),
            before: None,
            after: None,
            limit,
        }
    }
}

/// Jobs named by id, or every job a filter matches.
#[derive(Debug, Clone, ClapArgs)]
struct Selection {
    /// The jobs' ids.
    ids: Vec<JobId>,
    #[command(flatten)]
    filter: Filter,
}

impl Selection {
    /// The ids named, or of every job the filter matches (said on standard error).
    async fn ids(&self, store: &dyn Store, verb: &str) -> anyhow::Result<Vec<JobId>> {
        match (self.ids.is_empty(), self.filter.is_empty()) {
            (false, true) => Ok(self.ids.clone()),
            (false, false) => anyhow::bail!(
                "give the jobs to {verb} by id or by a filter (--queue, --state, --kind, --unique-key, --partition-key, --args), not both"
            ),
            (true, true) => anyhow::bail!(
                "name the jobs to {verb} by id, or give a filter such as `--state dead --queue mail`"
            ),
            (true, false) => {
                let ids = select::matching(store, &self.filter.params(0)).await?;
                eprintln!("{} jobs match the filter", ids.len());
                Ok(ids)
            }
        }
    }
}

/// Runs `sluice jobs …`.
pub(crate) async fn jobs(args: JobsArgs) -> anyhow::Result<ExitCode> {
    let store = open(&args.store, None).await?;
    match args.command {
        JobsCommand::Enqueue(enqueue) => {
            let traces = crate::traces::start(None, &|name| std::env::var(name).ok())?;
            let enqueued = enqueue_jobs(store.as_ref(), &enqueue).await;
            if let Some(traces) = traces {
                traces.stop().await;
            }
            enqueued?;
        }
        JobsCommand::Workflow { file, json } => {
            let graph = match sluice_config::jobfile::read_workflow(&file) {
                Ok(graph) => graph,
                Err(problems) => return Ok(report(&problems)),
            };
            let enqueued = store.enqueue_workflow(graph).await?;
            if json {
                println!("{}", serde_json::to_string(&enqueued)?);
            } else {
                print::workflow(&enqueued);
            }
        }
        JobsCommand::Batch(command) => return batch::batch(store.as_ref(), command).await,
        JobsCommand::List {
            filter,
            before,
            limit,
            json,
        } => {
            let jobs = store
                .list(ListParams {
                    before,
                    ..filter.params(limit)
                })
                .await?;
            if json {
                for job in &jobs {
                    println!("{}", serde_json::to_string(job)?);
                }
            } else {
                print::table(&jobs, &store.workers().await?);
            }
        }
        JobsCommand::Show { id, json } => {
            let Some(job) = store.get(id).await? else {
                eprintln!("error: there is no job {id}");
                return Ok(ExitCode::FAILURE);
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&job)?);
            } else {
                print::job(&job, &store.workers().await?);
            }
        }
        JobsCommand::Retry {
            mut selection,
            dead,
        } => {
            let params = if dead && selection.ids.is_empty() && selection.filter.is_empty() {
                RetryParams::AllDead { queue: None }
            } else {
                if dead {
                    selection.filter.state = Some(JobState::Dead);
                }
                RetryParams::Ids(selection.ids(store.as_ref(), "retry").await?)
            };
            println!("{} jobs made available", store.retry(params).await?);
        }
        JobsCommand::Discard { selection } => {
            let ids = selection.ids(store.as_ref(), "discard").await?;
            println!("{} jobs deleted", store.discard(&ids).await?);
        }
        JobsCommand::Cancel { selection } => {
            let ids = selection.ids(store.as_ref(), "cancel").await?;
            for (id, outcome) in store.cancel(&ids).await? {
                let said = match outcome {
                    Cancelled::Cancelled => "cancelled",
                    Cancelled::Requested => "running; its worker will stop it",
                    Cancelled::NotPending => "not pending (ended, or no such job)",
                };
                println!("{id}: {said}");
            }
        }
        JobsCommand::Pause { queue } => {
            if store.pause(&queue).await? {
                println!(
                    "queue {queue} paused: workers claim none of its jobs until it is resumed"
                );
            } else {
                println!("queue {queue} was paused already");
            }
        }
        JobsCommand::Resume { queue } => {
            if store.resume(&queue).await? {
                println!("queue {queue} resumed");
            } else {
                println!("queue {queue} was not paused");
            }
        }
        JobsCommand::Workers { json } => {
            let workers = store.workers().await?;
            if json {
                for worker in &workers {
                    println!("{}", serde_json::to_string(worker)?);
                }
            } else {
                print::workers(&workers, Utc::now());
            }
        }
        JobsCommand::Stats { json } => {
            let stats = store.queue_stats().await?;
            if json {
                println!("{}", serde_json::to_string(&stats)?);
            } else {
                print::stats(&stats, Utc::now());
            }
        }
        JobsCommand::Migrate => {
            store.migrate().await?;
            println!("the {} store is up to date", store.kind());
        }
        JobsCommand::Purge {
            older_than,
            state,
            queue,
            kind,
        } => {
            let states = if state.is_empty() {
                vec![JobState::Succeeded, JobState::Dead, JobState::Cancelled]
            } else {
                state
            };
            if let Some(pending) = states.iter().find(|s| s.is_pending()) {
                anyhow::bail!(
                    "`{pending}` jobs have not ended; purge takes succeeded, dead or cancelled"
                );
            }
            let before = Utc::now()
                - chrono::Duration::from_std(older_than).unwrap_or(chrono::Duration::MAX);
            let mut deleted = 0;
            loop {
                let n = store
                    .prune(PruneParams {
                        states: states.clone(),
                        finished_before: before,
                        queue: queue.clone(),
                        kind: kind.clone(),
                        except_kinds: Vec::new(),
                        limit: 5000,
                    })
                    .await?;
                deleted += n;
                if n < 5000 {
                    break;
                }
            }
            println!("{deleted} jobs deleted");
        }
    }
    Ok(ExitCode::SUCCESS)
}
