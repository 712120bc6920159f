//! How a worker serves its queues and how long it keeps finished jobs: the settings
//! [`WorkerBuilder`](super::WorkerBuilder) takes.

use std::time::Duration;

use sluice_core::policy::RateLimit;

use crate::job::JobState;
use crate::store::SharedRate;

/// How one queue is served.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    /// The queue's name.
    pub name: String,
    /// Jobs run at once, at most. Defaults to 10.
    pub concurrency: usize,
    /// Jobs claimed ahead of free slots, at most, so that a slot that frees up starts its next
    /// job without a trip to the store. They are held (leased, heartbeated, counted against
    /// their partition) while they wait. Defaults to 0: claim only for free slots.
    pub prefetch: usize,
    /// Running jobs per partition key, at most, across all workers. Defaults to no limit.
    pub partition_limit: Option<u32>,
    /// Jobs started per unit of time, at most (for this worker). Defaults to no limit.
    pub rate_limit: Option<RateLimit>,
    /// Jobs started per window, at most, by every worker together, counted by the store in the
    /// claim. Defaults to no limit.
    pub shared_rate: Option<SharedRate>,
    /// How long an idle worker waits before looking again when the store cannot tell it of
    /// new jobs (and for scheduled jobs coming due). Defaults to 1 s.
    pub poll_interval: Duration,
}

impl QueueConfig {
    /// The queue `name`, 10 jobs at once, no limits.
    pub fn new(name: impl Into<String>) -> QueueConfig {
        QueueConfig {
            name: name.into(),
            concurrency: 10,
            prefetch: 0,
            partition_limit: None,
            rate_limit: None,
            shared_rate: None,
            poll_interval: Duration::from_secs(1),
        }
    }

    /// Runs up to `n` jobs at once (at least 1).
    pub fn concurrency(mut self, n: usize) -> QueueConfig {
        self.concurrency = n.max(1);
        self
    }

    /// Claims up to `n` jobs ahead of free slots (see [`QueueConfig::prefetch`]).
    pub fn prefetch(mut self, n: usize) -> QueueConfig {
        self.prefetch = n;
        self
    }

    /// Runs at most `n` jobs per partition key at once, across all workers.
    pub fn partition_limit(mut self, n: u32) -> QueueConfig {
        self.partition_limit = Some(n.max(1));
        self
    }

    /// Starts at most as many jobs as `limit` allows.
    pub fn rate_limit(mut self, limit: RateLimit) -> QueueConfig {
        self.rate_limit = Some(limit);
        self
    }

    /// Starts at most `rate.limit` jobs of the queue (or of each kind or partition key in it,
    /// `rate.by`) in each window of `rate.per`, by every worker of the store together ("100 a
    /// minute across every worker"): the store counts them in the claim, so workers claiming at
    /// once cannot pass it.
    pub fn shared_rate(mut self, rate: SharedRate) -> QueueConfig {
        self.shared_rate = Some(rate);
        self
    }

    /// Looks for jobs every `interval` when idle.
    pub fn poll_interval(mut self, interval: Duration) -> QueueConfig {
        self.poll_interval = interval;
        self
    }
}

/// How long finished jobs are kept before the pruner deletes them. The rule of a job's kind
/// comes first (it applies in every queue), then its queue's, then the one for every queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    /// Jobs in this final state...
    pub state: JobState,
    /// ...of this queue, or of every queue...
    pub queue: Option<String>,
    /// ...or of this kind, in every queue (a rule names a queue or a kind, not both)...
    pub kind: Option<String>,
    /// ...are deleted this long after they ended.
    pub keep: Duration,
}
