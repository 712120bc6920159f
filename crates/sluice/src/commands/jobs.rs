//! `sluice jobs …`: enqueue, inspect and manage jobs.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::{Args as ClapArgs, Subcommand};
use serde_json::Value;
use sluice_jobs::store::{Cancelled, ListParams, PruneParams, RetryParams};
use sluice_jobs::{Job, JobId, JobState, NewJob, Store};

use super::store::{StoreArg, open};

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
    /// List jobs, newest first.
    List {
        /// Only this queue.
        #[arg(long)]
        queue: Option<String>,
        /// Only this state: scheduled, available, running, retryable, succeeded, dead, cancelled.
        #[arg(long)]
        state: Option<JobState>,
        /// Only this kind.
        #[arg(long)]
        kind: Option<String>,
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
    /// Make jobs available to run now (dead, cancelled, retryable or scheduled ones).
    Retry {
        /// The jobs' ids.
        ids: Vec<JobId>,
        /// Every dead job (of `--queue`, or of all queues).
        #[arg(long, conflicts_with = "ids")]
        dead: bool,
        /// With `--dead`: only this queue.
        #[arg(long, requires = "dead")]
        queue: Option<String>,
    },
    /// Delete jobs that have ended.
    Discard {
        /// The jobs' ids.
        #[arg(required = true)]
        ids: Vec<JobId>,
    },
    /// Cancel jobs: waiting ones at once, running ones at their worker's next heartbeat.
    Cancel {
        /// The jobs' ids.
        #[arg(required = true)]
        ids: Vec<JobId>,
    },
    /// Jobs per queue and state.
    Stats {
        /// Print JSON.
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
    },
}

#[derive(Debug, ClapArgs)]
struct EnqueueArgs {
    /// The job's kind (selects its handler).
    #[arg(required_unless_present = "file", conflicts_with = "file")]
    kind: Option<String>,
    /// The job's arguments, as JSON. Defaults to `null`.
    args: Option<String>,
    /// Read jobs from this JSON-lines file (`-` for standard input): one object per line, with
    /// `kind` and optionally `args`, `queue`, `priority`, `max_attempts`, `run_at`,
    /// `unique_key`, `partition_key`, `traceparent`.
    #[arg(long)]
    file: Option<PathBuf>,
    /// The queue.
    #[arg(long, default_value = "default")]
    queue: String,
    /// Higher runs first.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    priority: i16,
    /// Attempts allowed in all.
    #[arg(long, default_value_t = 25)]
    max_attempts: u32,
    /// Run at this time (RFC 3339, such as `2030-01-01T09:00:00Z`).
    #[arg(long, conflicts_with = "run_in")]
    run_at: Option<DateTime<Utc>>,
    /// Run after this long (`90s`, `2h`).
    #[arg(long, value_parser = sluice_event::duration::parse)]
    run_in: Option<Duration>,
    /// The trace the jobs belong to (a W3C `traceparent`); a command run by the `exec` handler
    /// finds its job's in `TRACEPARENT`, so the jobs it enqueues join that trace. A line of
    /// `--file` with its own `traceparent` keeps it.
    #[arg(long, env = "TRACEPARENT")]
    traceparent: Option<String>,
    /// At most one pending job with this key.
    #[arg(long)]
    unique_key: Option<String>,
    /// Jobs with the same partition key share the queue's partition limit.
    #[arg(long)]
    partition_key: Option<String>,
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
        JobsCommand::List {
            queue,
            state,
            kind,
            limit,
            json,
        } => {
            let jobs = store
                .list(ListParams {
                    queue,
                    state,
                    kind,
                    limit,
                })
                .await?;
            if json {
                for job in &jobs {
                    println!("{}", serde_json::to_string(job)?);
                }
            } else {
                print_table(&jobs);
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
                print_job(&job);
            }
        }
        JobsCommand::Retry { ids, dead, queue } => {
            let params = if dead {
                RetryParams::AllDead { queue }
            } else if ids.is_empty() {
                anyhow::bail!("name the jobs to retry, or give --dead");
            } else {
                RetryParams::Ids(ids)
            };
            println!("{} jobs made available", store.retry(params).await?);
        }
        JobsCommand::Discard { ids } => println!("{} jobs deleted", store.discard(&ids).await?),
        JobsCommand::Cancel { ids } => {
            for (id, outcome) in store.cancel(&ids).await? {
                let said = match outcome {
                    Cancelled::Cancelled => "cancelled",
                    Cancelled::Requested => "running; its worker will stop it",
                    Cancelled::NotPending => "not pending (ended, or no such job)",
                };
                println!("{id}: {said}");
            }
        }
        JobsCommand::Stats { json } => {
            let stats = store.stats().await?;
            if json {
                println!("{}", serde_json::to_string(&stats)?);
            } else {
                println!(
                    "{:<20} {} {:>12}",
                    "QUEUE",
                    JobState::ALL
                        .map(|s| format!("{:>10}", s.as_str()))
                        .join(""),
                    "OLDEST DUE"
                );
                for queue in &stats {
                    let counts: String = JobState::ALL
                        .iter()
                        .map(|s| {
                            format!("{:>10}", queue.counts.get(s.as_str()).copied().unwrap_or(0))
                        })
                        .collect();
                    let oldest = queue.oldest_available.map_or_else(
                        || "-".to_owned(),
                        |due| {
                            let waited = (chrono::Utc::now() - due).to_std().unwrap_or_default();
                            format!("{}s ago", waited.as_secs())
                        },
                    );
                    println!("{:<20} {counts} {oldest:>12}", queue.queue);
                }
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

/// Enqueues the job the arguments describe, or every job of their file.
async fn enqueue_jobs(store: &dyn Store, enqueue: &EnqueueArgs) -> anyhow::Result<()> {
    let mut jobs = match &enqueue.file {
        Some(file) => read_jobs(file)?,
        None => vec![one_job(enqueue)?],
    };
    if let Some(traceparent) = &enqueue.traceparent {
        for job in jobs.iter_mut().filter(|job| job.traceparent.is_none()) {
            job.traceparent = Some(traceparent.clone());
        }
    }
    let mut inserted = 0;
    let mut duplicates = 0;
    for chunk in jobs.chunks(1000) {
        for result in store.enqueue(chunk.to_vec()).await? {
            match result {
                sluice_jobs::Enqueued::Inserted(id) => {
                    inserted += 1;
                    if enqueue.file.is_none() {
                        println!("{id}");
                    }
                }
                sluice_jobs::Enqueued::Duplicate(id) => {
                    duplicates += 1;
                    eprintln!("job {id} with the same unique key is pending; nothing added");
                }
            }
        }
    }
    if enqueue.file.is_some() {
        println!("{inserted} jobs enqueued, {duplicates} duplicates of pending unique keys");
    }
    Ok(())
}

fn one_job(args: &EnqueueArgs) -> anyhow::Result<NewJob> {
    let kind = args.kind.clone().unwrap_or_default();
    let json = match &args.args {
        Some(text) => serde_json::from_str(text).map_err(|e| {
            anyhow::anyhow!("the job's arguments are not valid JSON ({e}); write them like '{{\"to\": \"ada@example.com\"}}'")
        })?,
        None => Value::Null,
    };
    let mut job = NewJob::new(kind, json)
        .queue(args.queue.clone())
        .priority(args.priority)
        .max_attempts(args.max_attempts);
    if let Some(at) = args.run_at {
        job = job.run_at(at);
    }
    if let Some(delay) = args.run_in {
        job = job.run_in(delay);
    }
    if let Some(key) = &args.unique_key {
        job = job.unique_key(key.clone());
    }
    if let Some(key) = &args.partition_key {
        job = job.partition_key(key.clone());
    }
    Ok(job)
}

/// Reads jobs from a JSON-lines file; the first bad line stops it, with its number and what is
/// expected.
fn read_jobs(path: &Path) -> anyhow::Result<Vec<NewJob>> {
    let reader: Box<dyn BufRead> = if path == Path::new("-") {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?,
        ))
    };
    let mut jobs = Vec::new();
    for (n, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("cannot read {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let job: NewJob = serde_json::from_str(&line).map_err(|e| {
            anyhow::anyhow!(
                "{}:{}: {e}; each line is a job such as {{\"kind\": \"email\", \"args\": {{\"to\": \"ada@example.com\"}}}} (nothing was enqueued)",
                path.display(),
                n + 1
            )
        })?;
        jobs.push(job);
    }
    Ok(jobs)
}

fn print_table(jobs: &[Job]) {
    println!(
        "{:>8}  {:<10}  {:<12}  {:<20}  {:>7}  {:<20}  LAST ERROR",
        "ID", "STATE", "QUEUE", "KIND", "ATTEMPT", "RUN AT"
    );
    for job in jobs {
        let error = job.errors.last().map_or("", |e| e.error.as_str());
        let error: String = error.chars().take(60).collect();
        println!(
            "{:>8}  {:<10}  {:<12}  {:<20}  {:>7}  {:<20}  {error}",
            job.id,
            job.state.as_str(),
            job.queue,
            job.kind,
            format!("{}/{}", job.attempt, job.max_attempts),
            job.run_at.format("%Y-%m-%d %H:%M:%S")
        );
    }
}

fn print_job(job: &Job) {
    let time = |t: Option<DateTime<Utc>>| t.map_or_else(|| "-".to_owned(), |t| t.to_rfc3339());
    println!("id:            {}", job.id);
    println!("kind:          {}", job.kind);
    println!("queue:         {}", job.queue);
    println!("state:         {}", job.state);
    println!("attempt:       {} of {}", job.attempt, job.max_attempts);
    println!("priority:      {}", job.priority);
    println!("args:          {}", job.args);
    println!("run at:        {}", job.run_at.to_rfc3339());
    println!("created at:    {}", job.created_at.to_rfc3339());
    println!("finished at:   {}", time(job.finished_at));
    println!("worker:        {}", job.worker.as_deref().unwrap_or("-"));
    println!("lease until:   {}", time(job.lease_until));
    println!(
        "unique key:    {}",
        job.unique_key.as_deref().unwrap_or("-")
    );
    println!(
        "partition key: {}",
        job.partition_key.as_deref().unwrap_or("-")
    );
    println!(
        "trace:         {}",
        job.traceparent.as_deref().unwrap_or("-")
    );
    if job.errors.is_empty() {
        println!("errors:        none");
    } else {
        println!("errors:");
        for error in &job.errors {
            println!(
                "  attempt {} at {}: {}",
                error.attempt,
                error.at.to_rfc3339(),
                error.error
            );
        }
    }
}
