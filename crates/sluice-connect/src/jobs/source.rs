//! The `jobs` source: a pipeline consumes a job queue, each job's args an event.
//!
//! The source claims jobs as a worker does, under leases it renews while their events are in
//! the pipeline, at most `max_in_flight` at once. A job ends with its event: succeeded when the
//! event was delivered or filtered, dead when it was dead-lettered or rejected (with that and the
//! pipeline's reason, its stage and error, as the job's error), and available again, its attempt
//! not counted, when it never finished (shutdown). A process that dies leaves its jobs to the
//! rescue of any worker once their leases expire. Several `sluice run` processes consuming one
//! queue share its jobs.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use sluice_core::{AckToken, Acked, BoxError, Outcome};
use sluice_event::codec::{Codec, Record};
use sluice_event::{Origin, Position};
use sluice_jobs::store::{self, ClaimParams, Completion, HeartbeatParams, Outcome as JobOutcome};
use sluice_jobs::{Job, JobId, Store};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::component::connection::{SourceConnection, reconnecting};
use crate::component::source::{from_reader, received};
use crate::component::{BuiltSource, OptionError, Source, SourceContext};

/// Consumes a job queue.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobsSource {
    /// The job store: `sqlite://PATH`, `postgres://…` or `redis://…`. Defaults to
    /// `sqlite://sluice-jobs.db`, the store `sluice jobs` and `sluice worker` use by default.
    #[serde(default = "super::default_store")]
    pub store: String,
    /// The queue whose jobs become events (every kind).
    pub queue: String,
    /// Jobs claimed at once. Defaults to 100.
    #[serde(default = "default_batch")]
    pub batch: u32,
    /// Jobs held at once: claimed, their events not yet finished. Defaults to 1000.
    #[serde(default = "default_in_flight")]
    pub max_in_flight: usize,
    /// How long a claimed job is held before any worker may take it back, renewed every third
    /// of it while its event is in the pipeline. Defaults to 30s.
    #[serde(
        default = "default_lease",
        deserialize_with = "sluice_event::duration::deserialize"
    )]
    pub lease: Duration,
    /// Stop once the queue has no job to claim (the events in flight still finish): a run that
    /// drains a queue. Defaults to false (wait for more).
    #[serde(default)]
    pub until_empty: bool,
}

fn default_batch() -> u32 {
    100
}

fn default_in_flight() -> usize {
    1000
}

fn default_lease() -> Duration {
    Duration::from_secs(30)
}

impl Source for JobsSource {
    fn check(&self) -> Vec<OptionError> {
        let mut problems = Vec::new();
        if let Err(store::StoreError::Address { reason, .. }) = store::kind_of(&self.store) {
            problems.push(OptionError::new("store", reason));
        }
        if self.batch == 0 || self.max_in_flight == 0 {
            problems.push(OptionError::new(
                "batch",
                "`batch` and `max_in_flight` must be at least 1",
            ));
        }
        if self.lease < Duration::from_secs(1) {
            problems.push(OptionError::new("lease", "a lease lasts at least 1s"));
        }
        problems
    }

    fn reconnects(&self) -> bool {
        true
    }

    /// Starts claiming when the pipeline runs; opens, and reopens, the store by itself.
    fn build(&self, ctx: &SourceContext) -> Result<BuiltSource, BoxError> {
        Ok(from_reader(ctx, Codec::Json, |tx, cancel| {
            Reader {
                health: ctx.connection(),
                config: self.clone(),
                source: Arc::from(ctx.name.as_str()),
                queue: Arc::from(self.queue.as_str()),
                cancel,
                tx,
                settlers: Mutex::new(Vec::new()),
            }
            .run()
        }))
    }
}

struct Reader {
    health: SourceConnection,
    config: JobsSource,
    source: Arc<str>,
    queue: Arc<str>,
    cancel: CancellationToken,
    tx: mpsc::Sender<Vec<Acked<Record>>>,
    /// The tasks that end jobs as their events become final, one per connection to the store.
    settlers: Mutex<Vec<JoinHandle<()>>>,
}

/// What the reader shares with the tasks that settle and renew its jobs.
struct Held {
    store: Arc<dyn Store>,
    worker: String,
    /// The jobs whose events are in the pipeline.
    ids: Mutex<HashSet<JobId>>,
    /// A permit per job that may still be claimed.
    room: Semaphore,
}

impl Reader {
    async fn run(self) {
        reconnecting(&self.health, &self.cancel, || self.read()).await;
        // The run ends once every job whose event was in the pipeline has ended: with the
        // reader gone (its channel closed) the pipeline drains, and each settler stops once
        // the last token that can send to it is gone.
        let settlers = match self.settlers.lock() {
            Ok(mut settlers) => std::mem::take(&mut *settlers),
            Err(_) => Vec::new(),
        };
        drop(self);
        for settler in settlers {
            let _ = settler.await;
        }
    }

    /// Claims until shutdown, or until the queue is empty with `until_empty` (`Ok`), or an
    /// error.
    async fn read(&self) -> Result<(), BoxError> {
        let store = store::open(&self.config.store).await?;
        store.migrate().await?;
        self.health.up();
        let held = Arc::new(Held {
            store,
            worker: format!(
                "{}-{}-{:08x}",
                self.source,
                std::process::id(),
                fastrand::u32(..)
            ),
            ids: Mutex::new(HashSet::new()),
            room: Semaphore::new(self.config.max_in_flight),
        });
        let (settle, settling) = settler(held.clone());
        if let Ok(mut settlers) = self.settlers.lock() {
            settlers.push(settling);
        }
        tokio::spawn(renew(held.clone(), self.config.lease, self.cancel.clone()));
        loop {
            let wanted = tokio::select! {
                () = self.cancel.cancelled() => return Ok(()),
                wanted = room(&held.room, self.config.batch) => wanted,
            };
            let claimed = held
                .store
                .claim(ClaimParams {
                    queue: self.queue.to_string(),
                    limit: wanted,
                    worker: held.worker.clone(),
                    lease: self.config.lease,
                    partition_limit: None,
                    rate: None,
                })
                .await;
            let jobs = match claimed {
                Ok(jobs) => jobs,
                Err(err) => {
                    held.room.add_permits(wanted as usize);
                    return Err(err.into());
                }
            };
            held.room.add_permits(wanted as usize - jobs.len());
            if jobs.is_empty() {
                if self.config.until_empty {
                    self.cancel.cancel();
                    return Ok(());
                }
                tokio::select! {
                    () = self.cancel.cancelled() => return Ok(()),
                    () = held.store.wait(&self.queue, Duration::from_secs(1)) => {}
                }
                continue;
            }
            if let Ok(mut ids) = held.ids.lock() {
                ids.extend(jobs.iter().map(|j| j.id));
            }
            let records = jobs.iter().map(|job| self.record(job, &settle)).collect();
            if self.tx.send(records).await.is_err() {
                return Ok(());
            }
        }
    }

    /// The record of `job`: its args, with a token that ends the job with its event.
    fn record(&self, job: &Job, settle: &mpsc::UnboundedSender<Ended>) -> Acked<Record> {
        let settle = settle.clone();
        let id = job.id;
        let token = AckToken::with_reason(move |outcome, reason| {
            let _ = settle.send((id, outcome, reason));
        });
        let origin = Arc::new(Origin {
            source: self.source.clone(),
            trace: received(&self.source, ("sluice_jobs", &self.queue), || {
                job.traceparent.clone()
            }),
            position: Position::Message {
                subject: self.queue.clone(),
                sequence: u64::try_from(id).unwrap_or_default(),
            },
        });
        Acked::new(
            Record {
                bytes: serde_json::to_vec(&job.args).unwrap_or_default().into(),
                origin,
                header: None,
                refused: None,
            },
            token,
        )
    }
}

/// A job whose event became final: its id, the outcome, and why the event failed if it did.
type Ended = (JobId, Outcome, Option<Arc<str>>);

/// Waits for room for a job, then takes what more there is, up to `batch`; returns how many.
async fn room(room: &Semaphore, batch: u32) -> u32 {
    let Ok(first) = room.acquire().await else {
        return 0;
    };
    first.forget();
    let mut taken = 1;
    while taken < batch {
        match room.try_acquire() {
            Ok(permit) => {
                permit.forget();
                taken += 1;
            }
            Err(_) => break,
        }
    }
    taken
}

/// A task that ends jobs as their events become final, up to 100 a store call, until every
/// sender is gone. A call that fails leaves its jobs to be rescued when their leases expire (at
/// least once).
fn settler(held: Arc<Held>) -> (mpsc::UnboundedSender<Ended>, JoinHandle<()>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Ended>();
    let task = tokio::spawn(async move {
        let mut ended = Vec::new();
        while rx.recv_many(&mut ended, 100).await > 0 {
            let completions: Vec<Completion> = ended
                .iter()
                .map(|(id, outcome, reason)| Completion {
                    id: *id,
                    worker: held.worker.clone(),
                    outcome: job_outcome(*outcome, reason.as_deref()),
                    discard: false,
                    result: None,
                })
                .collect();
            if let Err(err) = held.store.complete(completions).await {
                tracing::warn!(%err, jobs = ended.len(), "cannot record the end of jobs; they run again once their leases expire");
            }
            if let Ok(mut ids) = held.ids.lock() {
                for (id, _, _) in &ended {
                    ids.remove(id);
                }
            }
            held.room.add_permits(ended.len());
            ended.clear();
        }
    });
    (tx, task)
}

/// How a job ends with its event, failed with the pipeline's `reason` when it failed.
fn job_outcome(outcome: Outcome, reason: Option<&str>) -> JobOutcome {
    let failed = |what: &str| JobOutcome::Failed {
        error: format!("{what}: {}", reason.unwrap_or("no reason given")),
        retry_at: None,
    };
    match outcome {
        Outcome::Delivered | Outcome::Filtered => JobOutcome::Succeeded,
        Outcome::DeadLettered => failed("the pipeline dead-lettered its event"),
        Outcome::Rejected => {
            failed("the pipeline failed its event, and no dead-letter output took it")
        }
        Outcome::Unfinished => JobOutcome::Released,
    }
}

/// Renews the leases of the jobs in flight every third of `lease`, until the reader has
/// stopped and none is left.
async fn renew(held: Arc<Held>, lease: Duration, stopped: CancellationToken) {
    loop {
        tokio::time::sleep(lease / 3).await;
        let ids: Vec<JobId> = held
            .ids
            .lock()
            .map(|ids| ids.iter().copied().collect())
            .unwrap_or_default();
        if ids.is_empty() {
            if stopped.is_cancelled() {
                return;
            }
            continue;
        }
        let beat = HeartbeatParams {
            worker: &held.worker,
            ids: &ids,
            lease,
        };
        if let Err(err) = held.store.heartbeat(beat).await {
            tracing::warn!(%err, jobs = ids.len(), "cannot renew the leases of jobs in flight");
        }
    }
}
