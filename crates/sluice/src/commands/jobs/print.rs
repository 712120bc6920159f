//! How `sluice jobs` prints jobs, queues and workers for people.

use chrono::{DateTime, Utc};
use sluice_jobs::store::QueueStats;
use sluice_jobs::store::registry::{WorkerInfo, attempts_allowed};
use sluice_jobs::{EnqueuedWorkflow, Job, JobId, JobState};

/// Jobs, one line each; the attempt limit is the one that applies given what `workers` say of
/// each kind.
pub(super) fn table(jobs: &[Job], workers: &[WorkerInfo]) {
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
            format!(
                "{}/{}",
                job.attempt,
                attempts_allowed(&job.kind, job.max_attempts, workers)
            ),
            job.run_at.format("%Y-%m-%d %H:%M:%S")
        );
    }
}

/// One job, every field and every attempt's error.
pub(super) fn job(job: &Job, workers: &[WorkerInfo]) {
    let time = |t: Option<DateTime<Utc>>| t.map_or_else(|| "-".to_owned(), |t| t.to_rfc3339());
    println!("id:            {}", job.id);
    println!("kind:          {}", job.kind);
    println!("queue:         {}", job.queue);
    println!("state:         {}", job.state);
    let allowed = attempts_allowed(&job.kind, job.max_attempts, workers);
    if allowed < job.max_attempts {
        println!(
            "attempt:       {} of {allowed} (the kind's limit; the job allows {})",
            job.attempt, job.max_attempts
        );
    } else {
        println!("attempt:       {} of {allowed}", job.attempt);
    }
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
    if let Some(batch) = job.batch {
        println!("batch:         {batch} (sluice jobs batch show {batch})");
    }
    if let Some(step) = &job.step {
        println!("workflow:      {} (step `{}`)", step.workflow, step.name);
        let ids: Vec<String> = step.depends_on.iter().map(ToString::to_string).collect();
        println!(
            "depends on:    {} ({} not ended; on dependency failure: {})",
            if ids.is_empty() {
                "-".to_owned()
            } else {
                ids.join(", ")
            },
            step.waiting_on,
            step.on_dependency_failure.as_str()
        );
    }
    match &job.result {
        Some(result) => println!("result:        {result}"),
        None => println!("result:        -"),
    }
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

/// Job counts per queue and state, how long the oldest available job waited, and pauses.
pub(super) fn stats(stats: &[QueueStats], now: DateTime<Utc>) {
    println!(
        "{:<20} {} {:>12}  PAUSED",
        "QUEUE",
        JobState::ALL
            .map(|s| format!("{:>10}", s.as_str()))
            .join(""),
        "OLDEST DUE"
    );
    for queue in stats {
        let counts: String = JobState::ALL
            .iter()
            .map(|s| format!("{:>10}", queue.counts.get(s.as_str()).copied().unwrap_or(0)))
            .collect();
        let ago = |t: DateTime<Utc>| format!("{}s ago", (now - t).num_seconds().max(0));
        let oldest = queue.oldest_available.map_or_else(|| "-".to_owned(), ago);
        let paused = queue
            .paused_since
            .map_or_else(|| "no".to_owned(), |t| format!("since {}", ago(t)));
        println!("{:<20} {counts} {oldest:>12}  {paused}", queue.queue);
    }
}

/// Workers, live ones first.
pub(super) fn workers(workers: &[WorkerInfo], now: DateTime<Utc>) {
    println!(
        "{:<32}  {:<16}  {:>7}  {:<8}  {:<8}  {:>9}  QUEUES (busy/slots)",
        "NAME", "HOST", "PID", "VERSION", "STATE", "LAST BEAT"
    );
    let mut sorted: Vec<&WorkerInfo> = workers.iter().collect();
    sorted.sort_by_key(|w| (!w.live(now), w.name.clone()));
    for worker in sorted {
        let state = match (worker.live(now), worker.stopped_at) {
            (true, _) => "live",
            (false, Some(_)) => "stopped",
            (false, None) => "gone",
        };
        let queues: Vec<String> = worker
            .queues
            .iter()
            .map(|q| format!("{} {}/{}", q.name, q.busy, q.slots))
            .collect();
        println!(
            "{:<32}  {:<16}  {:>7}  {:<8}  {state:<8}  {:>8}s  {}",
            worker.name,
            worker.host,
            worker.pid,
            worker.version,
            (now - worker.beat_at).num_seconds().max(0),
            queues.join(", ")
        );
    }
}

/// A workflow just enqueued: its id, then each step's job id and name.
pub(super) fn workflow(enqueued: &EnqueuedWorkflow) {
    println!(
        "workflow {} enqueued with {} steps",
        enqueued.id,
        enqueued.steps.len()
    );
    let mut steps: Vec<(&String, &JobId)> = enqueued.steps.iter().collect();
    steps.sort_by_key(|(_, id)| **id);
    for (name, id) in steps {
        println!("  {id:>8}  {name}");
    }
}
