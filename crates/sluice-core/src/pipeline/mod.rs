//! The graph every flow belongs to: its stages, their tasks, running them and shutting down.
//!
//! Building a flow only *registers* stage tasks with its [`Pipeline`]; nothing runs until
//! [`Pipeline::run`] (or a running terminal such as [`Flow::collect`](crate::Flow::collect))
//! spawns them all on the current tokio runtime.
//!
//! # Clean shutdown
//! Cancelling the pipeline's token (or SIGINT/SIGTERM when signal handling is on) stops the
//! sources from pulling more input. Everything already inside drains: stages finish their
//! batches, batch and window stages flush, sinks write. A run that drains within the shutdown
//! timeout ends normally. One that does not is aborted: its in-flight items' tokens are dropped,
//! so their origins learn [`Outcome::Unfinished`](crate::Outcome::Unfinished) and redeliver them
//! later: an item is never acknowledged and lost. A second signal aborts at once.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::channel::{self, Receiver, Sender};
use crate::error::Error;
use crate::stats::{StageSnapshot, StageStats};

mod config;

pub use config::PipelineConfig;

/// A graph of stages; cheap to clone (a handle).
#[derive(Clone)]
pub struct Pipeline {
    inner: Arc<Inner>,
}

struct Inner {
    name: Arc<str>,
    config: PipelineConfig,
    cancel: CancellationToken,
    state: Mutex<State>,
    open: Arc<OpenFlows>,
}

/// How many flows of a pipeline have not yet been consumed by an operator. While any is open
/// the graph may still grow, so a running terminal waits for zero before starting the run.
pub(crate) struct OpenFlows {
    /// The count, or the pipeline that absorbed this one and now holds it.
    state: Mutex<(usize, Option<Arc<OpenFlows>>)>,
    zero: Notify,
}

impl OpenFlows {
    fn lock(&self) -> MutexGuard<'_, (usize, Option<Arc<OpenFlows>>)> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn add(self: &Arc<Self>, n: usize) {
        let mut state = self.lock();
        match state.1.clone() {
            Some(forward) => {
                drop(state);
                forward.add(n);
            }
            None => state.0 += n,
        }
    }

    fn done(&self) {
        let mut state = self.lock();
        match state.1.clone() {
            Some(forward) => {
                drop(state);
                forward.done();
            }
            None => {
                state.0 = state.0.saturating_sub(1);
                if state.0 == 0 {
                    self.zero.notify_waiters();
                }
            }
        }
    }

    /// Moves this count into `into`; later changes go there.
    fn forward_to(&self, into: &Arc<OpenFlows>) {
        let moved = {
            let mut state = self.lock();
            state.1 = Some(Arc::clone(into));
            std::mem::take(&mut state.0)
        };
        into.add(moved);
    }

    async fn all_done(&self) {
        loop {
            let notified = self.zero.notified();
            if self.lock().0 == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// Held by every flow until an operator consumes it (or it is dropped).
pub(crate) struct LiveFlow(Arc<OpenFlows>);

impl LiveFlow {
    /// A second guard on the same count (for a clone of what this guard holds open).
    pub(crate) fn fork(&self) -> LiveFlow {
        self.0.add(1);
        LiveFlow(Arc::clone(&self.0))
    }
}

impl Drop for LiveFlow {
    fn drop(&mut self) {
        self.0.done();
    }
}

#[derive(Default)]
struct State {
    tasks: Vec<(Arc<str>, BoxFuture<'static, ()>)>,
    stages: Vec<Arc<StageStats>>,
    names: HashSet<Arc<str>>,
    /// Set when another pipeline absorbed this one (flows of both were merged).
    forward: Option<Pipeline>,
    started: bool,
    /// The run's result, published to every caller of `run` when it ends.
    finished: Option<watch::Sender<Option<Result<RunReport, Error>>>>,
    report: Option<RunReport>,
}

impl fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline")
            .field("name", &self.inner.name)
            .finish()
    }
}

impl Pipeline {
    /// An empty pipeline with default settings.
    pub fn new(name: impl Into<String>) -> Pipeline {
        Pipeline::with_config(name, PipelineConfig::default())
    }

    /// An empty pipeline with `config`.
    pub fn with_config(name: impl Into<String>, config: PipelineConfig) -> Pipeline {
        Pipeline {
            inner: Arc::new(Inner {
                name: Arc::from(name.into()),
                config,
                cancel: CancellationToken::new(),
                state: Mutex::new(State::default()),
                open: Arc::new(OpenFlows {
                    state: Mutex::new((0, None)),
                    zero: Notify::new(),
                }),
            }),
        }
    }

    /// The pipeline's name (the `pipeline` label of its metrics).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Its settings.
    pub fn config(&self) -> &PipelineConfig {
        &self.inner.config
    }

    /// The token that starts a clean shutdown when cancelled.
    pub fn cancel_token(&self) -> CancellationToken {
        self.resolve().inner.cancel.clone()
    }

    /// Starts a clean shutdown: sources stop, the rest drains.
    pub fn shutdown(&self) {
        self.cancel_token().cancel();
    }

    /// The live counters of every stage, in the order the stages were added.
    pub fn stages(&self) -> Vec<Arc<StageStats>> {
        let p = self.resolve();
        p.lock().stages.clone()
    }

    /// A snapshot of every stage now.
    pub fn snapshot(&self) -> Vec<StageSnapshot> {
        self.stages().iter().map(|s| s.snapshot()).collect()
    }

    /// The report of the finished run, if it has finished.
    pub fn report(&self) -> Option<RunReport> {
        self.resolve().lock().report.clone()
    }

    /// Runs every registered stage until all have finished (sources ended and everything
    /// drained), or until a shutdown is requested and drains, or its deadline passes.
    ///
    /// The first call starts the run; later calls (from other terminals, say) wait for the same
    /// run to end and return its result. Must be called within a tokio runtime: stages are
    /// spawned as tasks on it.
    pub async fn run(&self) -> Result<RunReport, Error> {
        let p = self.resolve();
        let start = {
            let mut state = p.lock();
            match &state.finished {
                Some(finished) => Err(finished.subscribe()),
                None => {
                    state.started = true;
                    let (finished, _) = watch::channel(None);
                    state.finished = Some(finished.clone());
                    Ok((
                        std::mem::take(&mut state.tasks),
                        p.inner.config.clone(),
                        finished,
                    ))
                }
            }
        };
        let (tasks, config, finished) = match start {
            Ok(start) => start,
            Err(mut running) => {
                let not_run = || Error::NotRun(p.name().to_owned());
                return match running.wait_for(Option::is_some).await {
                    Ok(result) => result.clone().unwrap_or_else(|| Err(not_run())),
                    Err(_) => Err(not_run()),
                };
            }
        };
        if let Some(limit) = config.memory_limit {
            p.share_memory(limit);
        }
        let started = Instant::now();
        let mut running = JoinSet::new();
        let mut names = HashMap::new();
        for (name, task) in tasks {
            let handle = running.spawn(task);
            names.insert(handle.id(), name);
        }
        let outcome = p.supervise(&mut running, &mut names, &config).await;
        let report = RunReport {
            pipeline: p.name().to_owned(),
            elapsed: started.elapsed(),
            cancelled: p.inner.cancel.is_cancelled(),
            stages: p.snapshot(),
        };
        p.lock().report = Some(report.clone());
        let result = outcome.map(|()| report);
        finished.send_replace(Some(result.clone()));
        result
    }

    async fn supervise(
        &self,
        running: &mut JoinSet<()>,
        names: &mut HashMap<tokio::task::Id, Arc<str>>,
        config: &PipelineConfig,
    ) -> Result<(), Error> {
        let cancel = self.inner.cancel.clone();
        let mut deadline: Option<tokio::time::Instant> = None;
        let mut sampler = Sampler::new(self.stages(), config.sample_interval);
        let mut crashed = None;
        let mut signals = config.handle_signals.then(crate::shutdown::Signals::new);
        let drain = |deadline: &mut Option<tokio::time::Instant>| {
            tracing::info!(pipeline = %self.name(), timeout = ?config.shutdown_timeout, "shutting down: draining");
            *deadline = Some(tokio::time::Instant::now() + config.shutdown_timeout);
        };
        loop {
            let deadline_at = deadline;
            tokio::select! {
                joined = running.join_next_with_id() => match joined {
                    None => break,
                    Some(Ok((id, ()))) => { names.remove(&id); }
                    Some(Err(err)) => {
                        let stage = names.remove(&err.id()).map(|n| n.to_string()).unwrap_or_default();
                        if err.is_panic() {
                            let message = crate::error::ItemError::from_panic(err.into_panic().as_ref()).to_string();
                            tracing::error!(pipeline = %self.name(), %stage, %message, "stage crashed");
                            crashed.get_or_insert(Error::StageCrashed { stage, message });
                        }
                    }
                },
                () = cancel.cancelled(), if deadline.is_none() => drain(&mut deadline),
                () = sleep_until(deadline_at) => {
                    let stages: Vec<String> = names.values().map(ToString::to_string).collect();
                    tracing::warn!(pipeline = %self.name(), ?stages, "shutdown deadline passed: aborting");
                    running.shutdown().await;
                    return Err(Error::ShutdownTimeout { deadline: config.shutdown_timeout, stages });
                }
                () = sampler.tick() => {}
                signal = next_signal(&mut signals) => match signal {
                    None => signals = None,
                    Some(()) if deadline.is_some() => {
                        tracing::warn!(pipeline = %self.name(), "second signal: aborting");
                        deadline = Some(tokio::time::Instant::now());
                    }
                    Some(()) => {
                        // Start the drain here: the stages may all end before the
                        // cancellation branch is polled.
                        drain(&mut deadline);
                        cancel.cancel();
                    }
                },
            }
        }
        sampler.sample();
        crashed.map_or(Ok(()), Err)
    }

    pub(crate) fn resolve(&self) -> Pipeline {
        let mut p = self.clone();
        loop {
            let next = p.lock().forward.clone();
            match next {
                Some(n) => p = n,
                None => return p,
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means a panic elsewhere while registering; the state is a list.
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Makes flows of `other` part of this pipeline (for merging flows built apart).
    pub(crate) fn absorb(&self, other: &Pipeline) -> Pipeline {
        let this = self.resolve();
        let that = other.resolve();
        if Arc::ptr_eq(&this.inner, &that.inner) {
            return this;
        }
        let moved = {
            let mut theirs = that.lock();
            theirs.forward = Some(this.clone());
            std::mem::take(&mut *theirs)
        };
        that.inner.open.forward_to(&this.inner.open);
        let mut ours = this.lock();
        ours.tasks.extend(moved.tasks);
        ours.stages.extend(moved.stages);
        ours.names.extend(moved.names);
        drop(ours);
        this
    }

    /// Registers a stage and returns its stats; the name is made unique (`map`, `map-2`, …).
    pub(crate) fn add_stage(&self, name: &str, kind: &'static str) -> Arc<StageStats> {
        let p = self.resolve();
        let mut state = p.lock();
        let mut unique: Arc<str> = Arc::from(name);
        let mut n = 1;
        while state.names.contains(&unique) {
            n += 1;
            unique = Arc::from(format!("{name}-{n}"));
        }
        state.names.insert(Arc::clone(&unique));
        let stats = Arc::new(StageStats::new(Arc::clone(&p.inner.name), unique, kind));
        state.stages.push(Arc::clone(&stats));
        stats
    }

    /// Registers a task to spawn when the pipeline runs; the run waits for it as for its
    /// stages, and names it `stage` when the shutdown deadline passes. Connectors register
    /// their background work this way (a consumer's reader, which commits last). A task added
    /// after the run started cannot join it: it is dropped (a stage's terminal, if any, then
    /// reports [`Error::NotRun`]).
    pub fn spawn(&self, stage: Arc<str>, task: impl Future<Output = ()> + Send + 'static) {
        let p = self.resolve();
        let mut state = p.lock();
        if state.started {
            tracing::error!(pipeline = %p.name(), %stage, "stage added after the pipeline started; it will not run");
            return;
        }
        state.tasks.push((stage, Box::pin(task)));
    }

    /// Marks a new flow open until the returned guard is dropped.
    pub(crate) fn open_flow(&self) -> LiveFlow {
        let p = self.resolve();
        p.inner.open.add(1);
        LiveFlow(Arc::clone(&p.inner.open))
    }

    /// Runs the pipeline once every flow of it has reached an operator: what running terminals
    /// do, so that terminals awaited (or spawned) while the graph is still being built start the
    /// run only when it is complete. Flows dropped unconsumed count as done.
    pub(crate) async fn run_when_wired(&self) -> Result<RunReport, Error> {
        let p = self.resolve();
        let mut waiting = std::pin::pin!(p.inner.open.all_done());
        if tokio::time::timeout(Duration::from_secs(2), &mut waiting)
            .await
            .is_err()
        {
            tracing::warn!(pipeline = %p.name(), "waiting for every flow of the pipeline to reach a terminal before running");
            waiting.await;
        }
        p.run().await
    }

    /// A channel with `capacity` items, or the pipeline's default; bounded in bytes as well
    /// when the pipeline has a memory limit.
    pub(crate) fn channel<T: 'static>(&self, capacity: Option<usize>) -> (Sender<T>, Receiver<T>) {
        let config = &self.inner.config;
        channel::bounded(
            capacity.unwrap_or(config.capacity),
            config.memory_limit.map(|_| crate::weigh::weigher::<T>()),
        )
    }

    /// Shares `limit` bytes out equally among the channels the stages read.
    fn share_memory(&self, limit: usize) {
        let inputs: Vec<_> = self.stages().iter().filter_map(|s| s.input()).collect();
        let share = limit / inputs.len().max(1);
        for input in &inputs {
            input.bound_bytes(share);
        }
        metrics::gauge!("sluice_pipeline_memory_limit_bytes", "pipeline" => self.name().to_owned())
            .set(limit as f64);
        tracing::debug!(pipeline = %self.name(), limit, channels = inputs.len(), share, "memory limit shared out");
    }

    pub(crate) fn cancel(&self) -> CancellationToken {
        self.cancel_token()
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn next_signal(signals: &mut Option<crate::shutdown::Signals>) -> Option<()> {
    match signals {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

/// Updates the sampled gauges of every stage at a fixed interval.
struct Sampler {
    stages: Vec<(Arc<StageStats>, crate::stats::SampledGauges, u64)>,
    interval: tokio::time::Interval,
    last: Instant,
}

impl Sampler {
    fn new(stages: Vec<Arc<StageStats>>, every: Duration) -> Sampler {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Sampler {
            stages: stages
                .into_iter()
                .map(|s| {
                    let g = crate::stats::SampledGauges::new(&s);
                    (s, g, 0)
                })
                .collect(),
            interval,
            last: Instant::now(),
        }
    }

    async fn tick(&mut self) {
        self.interval.tick().await;
        self.sample();
    }

    fn sample(&mut self) {
        let wall = self.last.elapsed();
        self.last = Instant::now();
        for (stats, gauges, last_busy) in &mut self.stages {
            let busy = stats.busy_ns();
            gauges.update(stats, busy.saturating_sub(*last_busy), wall);
            *last_busy = busy;
        }
    }
}

/// What a finished run did, stage by stage.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// The pipeline's name.
    pub pipeline: String,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Whether a shutdown was requested.
    pub cancelled: bool,
    /// Every stage's counters at the end.
    pub stages: Vec<StageSnapshot>,
}

impl RunReport {
    /// The counters of the stage called `name`.
    pub fn stage(&self, name: &str) -> Option<&StageSnapshot> {
        self.stages.iter().find(|s| s.name == name)
    }
}

impl fmt::Display for RunReport {
    /// A one-screen summary: one row per stage.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "pipeline `{}` ran {:.3?}{}",
            self.pipeline,
            self.elapsed,
            if self.cancelled { " (shut down)" } else { "" }
        )?;
        let width = self
            .stages
            .iter()
            .map(|s| s.name.len())
            .max()
            .unwrap_or(5)
            .max(5);
        writeln!(
            f,
            "{:<width$}  {:<10} {:>11} {:>11} {:>8} {:>8} {:>10} {:>10} {:>6} {:>13}",
            "stage", "kind", "in", "out", "errors", "retries", "p50", "p99", "busy", "queue max"
        )?;
        for s in &self.stages {
            let queue = if s.queue_capacity == 0 {
                "-".to_owned()
            } else {
                format!("{}/{}", s.queue_max, s.queue_capacity)
            };
            writeln!(
                f,
                "{:<width$}  {:<10} {:>11} {:>11} {:>8} {:>8} {:>10} {:>10} {:>5.0}% {:>13}",
                s.name,
                s.kind,
                s.items_in,
                s.items_out,
                s.errors,
                s.retries,
                format!("{:.1?}", s.p50),
                format!("{:.1?}", s.p99),
                s.busy_ratio() * 100.0,
                queue,
            )?;
        }
        Ok(())
    }
}
