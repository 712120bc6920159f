//! Building a [`Worker`]: its store, queues, handlers, schedules and retention.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sluice_core::health::Connector;

use super::config::{QueueConfig, Retention};
use super::handler::{Handler, KindConfig};
use super::state::{Counters, Inner, Worker};
use super::tally::Tally;
use crate::clock::{Clock, SystemClock};
use crate::job::JobState;
use crate::schedule::Schedule;
use crate::store::Store;

impl Worker {
    /// A worker on `store`.
    pub fn builder(store: Arc<dyn Store>) -> WorkerBuilder {
        let day = Duration::from_secs(24 * 3600);
        WorkerBuilder {
            store,
            name: None,
            queues: Vec::new(),
            kinds: HashMap::new(),
            schedules: Vec::new(),
            retention: vec![
                Retention {
                    state: JobState::Succeeded,
                    queue: None,
                    kind: None,
                    keep: day,
                },
                Retention {
                    state: JobState::Cancelled,
                    queue: None,
                    kind: None,
                    keep: day,
                },
                Retention {
                    state: JobState::Dead,
                    queue: None,
                    kind: None,
                    keep: 7 * day,
                },
            ],
            lease: Duration::from_secs(30),
            max_result_size: DEFAULT_MAX_RESULT_SIZE,
            rescue_every: None,
            schedule_every: Duration::from_secs(1),
            prune_every: Duration::from_secs(60),
            stats_every: Duration::from_secs(15),
            beat_every: Duration::from_secs(5),
            shutdown_timeout: Duration::from_secs(30),
            clock: Arc::new(SystemClock),
        }
    }
}

/// Why a worker could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkerError {
    /// A setting is out of range.
    #[error("{0}")]
    Invalid(String),
}

/// The largest handler result a worker keeps unless told otherwise: 64 KiB of JSON.
pub const DEFAULT_MAX_RESULT_SIZE: usize = 64 * 1024;

/// Builds a [`Worker`].
pub struct WorkerBuilder {
    store: Arc<dyn Store>,
    name: Option<String>,
    queues: Vec<QueueConfig>,
    kinds: HashMap<String, (Arc<dyn Handler>, KindConfig)>,
    schedules: Vec<Schedule>,
    retention: Vec<Retention>,
    lease: Duration,
    max_result_size: usize,
    rescue_every: Option<Duration>,
    schedule_every: Duration,
    prune_every: Duration,
    stats_every: Duration,
    beat_every: Duration,
    shutdown_timeout: Duration,
    clock: Arc<dyn Clock>,
}

impl WorkerBuilder {
    /// Names the worker (in the store, on the jobs it runs). Defaults to `HOST-PID-RANDOM`.
    pub fn name(mut self, name: impl Into<String>) -> WorkerBuilder {
        self.name = Some(name.into());
        self
    }

    /// Serves a queue. Without any, the worker serves `default` with 10 jobs at once.
    pub fn queue(mut self, queue: QueueConfig) -> WorkerBuilder {
        self.queues.push(queue);
        self
    }

    /// Runs jobs of `kind` with `handler`, with the default [`KindConfig`].
    pub fn handler(self, kind: impl Into<String>, handler: impl Handler) -> WorkerBuilder {
        self.handler_with(kind, handler, KindConfig::default())
    }

    /// Runs jobs of `kind` with `handler`, as `config` says.
    pub fn handler_with(
        mut self,
        kind: impl Into<String>,
        handler: impl Handler,
        config: KindConfig,
    ) -> WorkerBuilder {
        self.kinds.insert(kind.into(), (Arc::new(handler), config));
        self
    }

    /// Fires `schedule` (once per tick, however many workers fire it).
    pub fn schedule(mut self, schedule: Schedule) -> WorkerBuilder {
        self.schedules.push(schedule);
        self
    }

    /// Keeps finished jobs as `retention` says; replaces the default for the same state and
    /// queue. Defaults: succeeded and cancelled jobs 1 day, dead jobs 7 days.
    pub fn retention(mut self, retention: Retention) -> WorkerBuilder {
        self.retention
            .retain(|r| !(r.state == retention.state && r.queue == retention.queue));
        self.retention.push(retention);
        self
    }

    /// Never prunes.
    pub fn keep_forever(mut self) -> WorkerBuilder {
        self.retention.clear();
        self
    }

    /// Holds running jobs for `lease`, renewed every third of it. A job whose worker died is
    /// rescued once its lease is over. Defaults to 30 s.
    pub fn lease(mut self, lease: Duration) -> WorkerBuilder {
        self.lease = lease;
        self
    }

    /// Keeps a handler's result ([`Action::CompleteWith`](crate::Action::CompleteWith)) only up
    /// to `bytes` of JSON; a larger one fails the attempt with its size. Defaults to 64 KiB.
    pub fn max_result_size(mut self, bytes: usize) -> WorkerBuilder {
        self.max_result_size = bytes;
        self
    }

    /// Looks for expired leases every `interval`. Defaults to a sixth of the lease, at most
    /// 5 s.
    pub fn rescue_every(mut self, interval: Duration) -> WorkerBuilder {
        self.rescue_every = Some(interval);
        self
    }

    /// Checks schedules for due ticks every `interval`. Defaults to 1 s.
    pub fn schedule_every(mut self, interval: Duration) -> WorkerBuilder {
        self.schedule_every = interval;
        self
    }

    /// Prunes every `interval`. Defaults to 1 minute.
    pub fn prune_every(mut self, interval: Duration) -> WorkerBuilder {
        self.prune_every = interval;
        self
    }

    /// Publishes job counts per queue and state every `interval`. Defaults to 15 s.
    pub fn stats_every(mut self, interval: Duration) -> WorkerBuilder {
        self.stats_every = interval;
        self
    }

    /// Reports to the store's registry (what the console shows of workers and throughput)
    /// every `interval`. Defaults to 5 s.
    pub fn beat_every(mut self, interval: Duration) -> WorkerBuilder {
        self.beat_every = interval.max(Duration::from_millis(100));
        self
    }

    /// At shutdown, lets running jobs finish for up to `timeout`, then releases them.
    /// Defaults to 30 s.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> WorkerBuilder {
        self.shutdown_timeout = timeout;
        self
    }

    /// Reads the time from `clock` (for tests; the store should read the same one).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> WorkerBuilder {
        self.clock = clock;
        self
    }

    /// The worker.
    pub fn build(mut self) -> Result<Worker, WorkerError> {
        if self.lease < Duration::from_millis(300) {
            return Err(WorkerError::Invalid(format!(
                "a lease of {:?} is too short; it must be at least 300 ms (30 s is usual)",
                self.lease
            )));
        }
        if let Some(rule) = self
            .retention
            .iter()
            .find(|r| r.queue.is_some() && r.kind.is_some())
        {
            return Err(WorkerError::Invalid(format!(
                "a retention rule names both queue `{}` and kind `{}`; a kind's retention applies \
                 in every queue, so give one or the other",
                rule.queue.as_deref().unwrap_or_default(),
                rule.kind.as_deref().unwrap_or_default()
            )));
        }
        if self.queues.is_empty() {
            self.queues.push(QueueConfig::new("default"));
        }
        let mut names = HashSet::new();
        for queue in &self.queues {
            if !names.insert(queue.name.as_str()) {
                return Err(WorkerError::Invalid(format!(
                    "queue `{}` is given twice",
                    queue.name
                )));
            }
        }
        let name = self.name.unwrap_or_else(default_name);
        Ok(Worker {
            inner: Arc::new(Inner {
                store: self.store,
                name,
                queues: self.queues,
                kinds: self.kinds,
                schedules: self.schedules,
                retention: self.retention,
                lease: self.lease,
                max_result_size: self.max_result_size,
                rescue_every: self
                    .rescue_every
                    .unwrap_or_else(|| (self.lease / 6).min(Duration::from_secs(5))),
                schedule_every: self.schedule_every,
                prune_every: self.prune_every,
                stats_every: self.stats_every,
                beat_every: self.beat_every,
                shutdown_timeout: self.shutdown_timeout,
                clock: self.clock,
                running: Mutex::new(HashMap::new()),
                counters: Counters::default(),
                tally: Tally::default(),
                health: Connector::new("job store"),
            }),
        })
    }
}

/// `HOST-PID-RANDOM`.
fn default_name() -> String {
    format!(
        "{}-{}-{:04x}",
        hostname(),
        std::process::id(),
        fastrand::u16(..)
    )
}

/// The machine's name, or `worker` when it has none.
pub(super) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".to_owned())
}
