//! A stage before it is built ([`Stage`]: name, policies, error output, capacity) and while it
//! runs (`StageCtx`: metrics, failures, cancellation).

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::ack::{AckToken, Outcome};
use crate::batch::Batch;
use crate::channel::{Receiver, Sender};
use crate::error::{Failed, ItemError};
use crate::flow::Flow;
use crate::pipeline::{LiveFlow, Pipeline};
use crate::policy::{CircuitBreaker, Policy, RateLimit, Retry};
use crate::stats::StageMetrics;

/// A stage being configured: `flow.stage("name")`, then options, then one operator.
///
/// ```
/// use sluice_core::{Flow, Retry};
/// use std::time::Duration;
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let numbers = Flow::from_iter(1..=3u32);
/// let (errors, failed) = numbers.pipeline().error_output::<u32>();
/// # drop(failed);
/// let doubled = numbers
///     .stage("double")
///     .retry(Retry::attempts(3))
///     .timeout(Duration::from_secs(1))
///     .errors_to(errors)
///     .call(4, |x: &u32| { let x = *x; async move { Ok::<_, std::io::Error>(x * 2) } });
/// # drop(doubled);
/// # }
/// ```
pub struct Stage<T> {
    pub(crate) flow: Flow<T>,
    name: String,
    capacity: Option<usize>,
    policy: Policy,
    errors: Option<ErrorOutput<T>>,
}

impl<T: Send + 'static> Stage<T> {
    pub(crate) fn new(flow: Flow<T>, name: impl Into<String>) -> Stage<T> {
        Stage {
            flow,
            name: name.into(),
            capacity: None,
            policy: Policy::default(),
            errors: None,
        }
    }

    /// Bounds this stage's *output* channel to `items` (defaults to the pipeline's capacity).
    pub fn capacity(mut self, items: usize) -> Stage<T> {
        self.capacity = Some(items.max(1));
        self
    }

    /// Replaces the stage's policies.
    pub fn policy(mut self, policy: Policy) -> Stage<T> {
        self.policy = policy;
        self
    }

    /// Retries failed items.
    pub fn retry(mut self, retry: Retry) -> Stage<T> {
        self.policy = self.policy.retry(retry);
        self
    }

    /// Fails attempts that take longer than `timeout` (async calls; a synchronous function
    /// cannot be interrupted).
    pub fn timeout(mut self, timeout: Duration) -> Stage<T> {
        self.policy = self.policy.timeout(timeout);
        self
    }

    /// Limits the rate of attempts.
    pub fn rate_limit(mut self, limit: RateLimit) -> Stage<T> {
        self.policy = self.policy.rate_limit(limit);
        self
    }

    /// Fails fast while `breaker` is open.
    pub fn circuit_breaker(mut self, breaker: CircuitBreaker) -> Stage<T> {
        self.policy = self.policy.circuit_breaker(breaker);
        self
    }

    /// At most `limit` attempts at once.
    pub fn concurrency_limit(mut self, limit: usize) -> Stage<T> {
        self.policy = self.policy.concurrency_limit(limit);
        self
    }

    /// Sends items this stage fails to `output`. Unwired, failures are counted, logged and
    /// reported [`Rejected`](Outcome::Rejected) to their origins.
    pub fn errors_to(mut self, output: ErrorOutput<T>) -> Stage<T> {
        self.errors = Some(output);
        self
    }

    /// Whether any policy is set (stages then take their policy-aware path).
    pub(crate) fn has_policy(&self) -> bool {
        !self.policy.is_empty()
    }

    /// Opens an output channel of this stage.
    pub(crate) fn output<U: Send + 'static>(&self) -> (Sender<U>, Flow<U>) {
        let (tx, rx) = self.flow.pipeline.channel(self.capacity);
        (tx, Flow::new(self.flow.pipeline.clone(), rx))
    }

    /// Registers the stage's task: `body` gets the running context and the input.
    pub(crate) fn spawn<Fut>(
        self,
        kind: &'static str,
        body: impl FnOnce(StageCtx<T>, Receiver<T>) -> Fut + Send + 'static,
    ) where
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Stage {
            flow: Flow { pipeline, rx, live },
            name,
            policy,
            errors,
            ..
        } = self;
        let (errors_tx, errors_live) = errors.map(|e| (e.sender, e.live)).unzip();
        let stats = pipeline.add_stage(&name, kind);
        stats.set_input(rx.gauge());
        let cancel = pipeline.cancel();
        let batch_size = pipeline.config().batch_size;
        pipeline.spawn(stats.name_arc(), async move {
            let ctx = StageCtx {
                metrics: StageMetrics::start(stats),
                cancel,
                policy,
                batch_size,
                errors: errors_tx,
                failures: Batch::default(),
                log: LogThrottle::default(),
            };
            let metrics = ctx.metrics.clone();
            body(ctx, rx).await;
            metrics.finish();
        });
        // Only now, with the stage registered, may the pipeline start.
        drop((live, errors_live));
    }
}

/// Where a stage's failed items go; make one with [`Pipeline::error_output`].
///
/// Give it to a stage with [`Stage::errors_to`], which takes it by value: clone it first to
/// wire several stages (with the same input type) to one output. Like a flow, an error output
/// counts as part of the graph being built until it is given to a stage or dropped, so running
/// terminals wait for that; and the error flow ends once every stage wired to it has finished.
pub struct ErrorOutput<T> {
    sender: Sender<Failed<T>>,
    live: LiveFlow,
}

impl<T: Send + 'static> Clone for ErrorOutput<T> {
    fn clone(&self) -> Self {
        ErrorOutput {
            sender: self.sender.clone(),
            live: self.live.fork(),
        }
    }
}

impl<T: Send + 'static> ErrorOutput<T> {
    pub(crate) fn new(pipeline: &Pipeline) -> (ErrorOutput<T>, Flow<Failed<T>>) {
        let (sender, rx) = pipeline.channel(None);
        let live = pipeline.open_flow();
        (
            ErrorOutput { sender, live },
            Flow::new(pipeline.clone(), rx),
        )
    }
}

/// What a running stage uses besides its input and outputs.
pub(crate) struct StageCtx<T> {
    pub(crate) metrics: StageMetrics,
    pub(crate) cancel: CancellationToken,
    pub(crate) policy: Policy,
    pub(crate) batch_size: usize,
    errors: Option<Sender<Failed<T>>>,
    failures: Batch<Failed<T>>,
    log: LogThrottle,
}

impl<T: Send + 'static> StageCtx<T> {
    /// A context for one more worker of the same stage: shared metrics, policy and error
    /// output; its own failure buffer.
    pub(crate) fn fork(&self) -> StageCtx<T> {
        StageCtx {
            metrics: self.metrics.clone(),
            cancel: self.cancel.clone(),
            policy: self.policy.clone(),
            batch_size: self.batch_size,
            errors: self.errors.clone(),
            failures: Batch::default(),
            log: LogThrottle::default(),
        }
    }

    /// Records that `item` failed; it goes to the error output at the next
    /// [`flush_failures`](Self::flush_failures).
    pub(crate) fn fail(&mut self, item: T, ack: AckToken, error: ItemError, attempts: u32) {
        self.metrics.failed(1);
        let failed = Failed::new(item, self.metrics.name(), error, attempts);
        if self.errors.is_some() {
            self.failures.push(failed, ack.into_failure());
        } else {
            self.reject(&failed, ack);
        }
    }

    /// Records a failure whose item a by-value function consumed before panicking: it can be
    /// counted and logged, not sent on.
    pub(crate) fn fail_consumed(&mut self, ack: AckToken, error: &ItemError) {
        self.metrics.failed(1);
        let stage = self.metrics.name();
        if self.log.allow() {
            tracing::error!(%stage, %error, suppressed = self.log.take_suppressed(), "item failed and was consumed by the panicking function");
        }
        ack.complete(Outcome::Rejected);
    }

    fn reject(&mut self, failed: &Failed<T>, ack: AckToken) {
        if self.log.allow() {
            tracing::warn!(stage = %failed.stage, error = %failed.reason(), attempts = failed.attempts, suppressed = self.log.take_suppressed(), "item failed (no error output wired)");
        }
        ack.complete(Outcome::Rejected);
    }

    /// Sends the failures recorded so far to the error output.
    pub(crate) async fn flush_failures(&mut self) {
        if self.failures.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.failures);
        let Some(errors) = &self.errors else { return };
        if let Err(returned) = errors.send(batch).await {
            self.errors = None;
            for (failed, ack) in returned.0 {
                // The token is the failure record's; completing it Rejected reaches the origin.
                self.reject(&failed, ack);
            }
        }
    }
}

/// Logs the first event, then at most one a second, counting the ones it holds back.
#[derive(Default)]
struct LogThrottle {
    last: Option<Instant>,
    suppressed: u64,
}

impl LogThrottle {
    fn allow(&mut self) -> bool {
        let now = Instant::now();
        match self.last {
            Some(last) if now.duration_since(last) < Duration::from_secs(1) => {
                self.suppressed += 1;
                false
            }
            _ => {
                self.last = Some(now);
                true
            }
        }
    }

    fn take_suppressed(&mut self) -> u64 {
        std::mem::take(&mut self.suppressed)
    }
}
