//! What the worker's tasks share: the worker itself ([`Worker`] holds it), the jobs running
//! now, and the counts of how attempts ended.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use sluice_core::health::Connector;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::config::{QueueConfig, Retention};
use super::handler::{Handler, KindConfig};
use super::tally::Tally;
use crate::clock::Clock;
use crate::job::{JobId, JobState};
use crate::schedule::Schedule;
use crate::store::{Store, StoreError};

/// The longest a worker waits for one store call before it counts as failed.
pub(crate) const STORE_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs jobs. See the [module docs](self).
pub struct Worker {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) name: String,
    pub(crate) queues: Vec<QueueConfig>,
    pub(crate) kinds: HashMap<String, (Arc<dyn Handler>, KindConfig)>,
    pub(crate) schedules: Vec<Schedule>,
    pub(crate) retention: Vec<Retention>,
    pub(crate) lease: Duration,
    /// The largest result kept, in bytes of JSON.
    pub(crate) max_result_size: usize,
    pub(crate) rescue_every: Duration,
    pub(crate) schedule_every: Duration,
    pub(crate) prune_every: Duration,
    pub(crate) stats_every: Duration,
    pub(crate) beat_every: Duration,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) running: Mutex<HashMap<JobId, Running>>,
    pub(crate) counters: Counters,
    pub(crate) tally: Tally,
    /// The store's state on `/ready`.
    pub(crate) health: Connector,
}

impl Inner {
    /// Makes the store call `op`, bounded by [`STORE_TIMEOUT`]: a store that stops answering
    /// (a stalled server, a cut network) fails the call like one that is down. A failure is
    /// counted and shows the store down on `/ready`; a call that goes through shows it up.
    pub(crate) async fn call<T>(
        &self,
        op: &'static str,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let result = match tokio::time::timeout(STORE_TIMEOUT, call).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Unavailable(format!(
                "no answer within {STORE_TIMEOUT:?}"
            ))),
        };
        match &result {
            Ok(_) => self.health.up(),
            Err(e) => {
                crate::metrics::store_error(op);
                self.health.down(e);
            }
        }
        result
    }

    /// The retention rule for jobs of `kind` in `queue` in `state`: the kind's own, else the
    /// queue's, else the general one.
    pub(crate) fn retention_for(
        &self,
        queue: &str,
        kind: &str,
        state: JobState,
    ) -> Option<&Retention> {
        let rules = || self.retention.iter().filter(move |r| r.state == state);
        rules()
            .find(|r| r.kind.as_deref() == Some(kind))
            .or_else(|| rules().find(|r| r.kind.is_none() && r.queue.as_deref() == Some(queue)))
            .or_else(|| rules().find(|r| r.kind.is_none() && r.queue.is_none()))
    }

    /// Whether jobs of `kind` in `queue` are kept in `state` for no time, so that they are
    /// deleted as they end.
    pub(crate) fn keeps_none(&self, queue: &str, kind: &str, state: JobState) -> bool {
        self.retention_for(queue, kind, state)
            .is_some_and(|r| r.keep.is_zero())
    }
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) succeeded: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) dead: AtomicU64,
    pub(crate) cancelled: AtomicU64,
    pub(crate) snoozed: AtomicU64,
    pub(crate) released: AtomicU64,
    pub(crate) lost: AtomicU64,
    pub(crate) unrecorded: AtomicU64,
}

/// Why a running job's handler was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    Cancelled,
    LostLease,
    Shutdown,
}

pub(crate) struct Running {
    pub(crate) token: CancellationToken,
    pub(crate) stop: Arc<OnceLock<Stop>>,
}

/// Sleeps for `delay` unless `stop` comes first; returns whether it slept the whole time.
pub(crate) async fn nap(delay: Duration, stop: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(delay) => true,
        () = stop.cancelled() => false,
    }
}

/// A queue's slots in one worker, shared by its claim loops.
#[derive(Clone)]
pub(crate) struct Slots {
    /// One per job claimed and not yet finished (waiting or running): concurrency plus
    /// prefetch.
    pub(crate) held: Arc<Semaphore>,
    /// One per job running: concurrency.
    pub(crate) running: Arc<Semaphore>,
    /// One per finished attempt not yet recorded: concurrency. When the store falls behind,
    /// finished jobs keep their held slot until one is free, and claims stop.
    pub(crate) recording: Arc<Semaphore>,
}
