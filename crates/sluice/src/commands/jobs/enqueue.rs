//! `sluice jobs enqueue`: one job from the command line, or many from a JSON-lines file.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Args as ClapArgs;
use serde_json::Value;
use sluice_jobs::{NewJob, Store, UniqueUntil};

#[derive(Debug, ClapArgs)]
pub(super) struct EnqueueArgs {
    /// The job's kind (selects its handler); with `--file`, the kind of lines that name none.
    #[arg(required_unless_present = "file")]
    kind: Option<String>,
    /// The job's arguments, as JSON. Defaults to `null`.
    #[arg(conflicts_with = "file")]
    args: Option<String>,
    /// Read jobs from this JSON-lines file (`-` for standard input): one object per line, with
    /// `kind` and optionally `args`, `queue`, `priority`, `max_attempts`, `run_at`,
    /// `unique_key`, `unique_for`, `unique_until`, `partition_key`, `traceparent`.
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
    /// Keep the unique key held this long after the job succeeded (`1h`): an enqueue with the
    /// key meanwhile returns this job.
    #[arg(long, value_parser = sluice_event::duration::parse, requires = "unique_key")]
    unique_for: Option<Duration>,
    /// Hold the unique key until the job `end`s (the default) or only until it `start`s, so
    /// that an enqueue while it runs adds a job.
    #[arg(long, value_parser = ["start", "end"], requires = "unique_key", conflicts_with = "unique_for")]
    unique_until: Option<String>,
    /// Jobs with the same partition key share the queue's partition limit.
    #[arg(long)]
    partition_key: Option<String>,
}

/// Enqueues the job the arguments describe, or every job of their file.
pub(super) async fn enqueue_jobs(store: &dyn Store, enqueue: &EnqueueArgs) -> anyhow::Result<()> {
    let mut jobs = match &enqueue.file {
        Some(file) => read_jobs(file, enqueue.kind.as_deref())?,
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
                    eprintln!("job {id} holds the same unique key; nothing added");
                }
            }
        }
    }
    if enqueue.file.is_some() {
        println!("{inserted} jobs enqueued, {duplicates} duplicates of held unique keys");
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
    if let Some(period) = args.unique_for {
        job = job.unique_for(period);
    }
    if args.unique_until.as_deref() == Some("start") {
        job = job.unique_until(UniqueUntil::Start);
    }
    if let Some(key) = &args.partition_key {
        job = job.partition_key(key.clone());
    }
    Ok(job)
}

/// Reads jobs from a JSON-lines file, taking `kind` for lines without one; the first bad line
/// stops it, with its number and what is expected.
pub(super) fn read_jobs(path: &Path, kind: Option<&str>) -> anyhow::Result<Vec<NewJob>> {
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
        let bad = |e: &dyn std::fmt::Display| {
            anyhow::anyhow!(
                "{}:{}: {e}; each line is a job such as {{\"kind\": \"email\", \"args\": {{\"to\": \"ada@example.com\"}}}}, its kind taken from the command line when it names none (nothing was enqueued)",
                path.display(),
                n + 1
            )
        };
        let mut object: Value = serde_json::from_str(&line).map_err(|e| bad(&e))?;
        if let (Some(fields), Some(kind)) = (object.as_object_mut(), kind) {
            fields
                .entry("kind")
                .or_insert_with(|| Value::String(kind.to_owned()));
        }
        let job: NewJob = serde_json::from_value(object).map_err(|e| bad(&e))?;
        jobs.push(job);
    }
    Ok(jobs)
}
