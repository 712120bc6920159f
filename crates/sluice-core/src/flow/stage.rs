//! A stage before it is built: [`Stage`] (name, policies, error output, capacity), and the
//! [`ErrorOutput`] its failures go to.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::trace::SpanContext;

use crate::channel::{Receiver, Sender};
use crate::context::StageCtx;
use crate::error::Failed;
use crate::flow::Flow;
use crate::pipeline::{LiveFlow, Pipeline};
use crate::policy::{CircuitBreaker, Policy, RateLimit, Retry};
use crate::stats::StageMetrics;

/// A stage being configured: `flow.stage("name")`, then options, then one operator of
/// [`Operators`](crate::Operators).
///
/// ```
/// use sluice_core::{Flow, Operators, Retry};
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
    /// The name given with [`Flow::stage`]; an operator applied straight to a flow names its
    /// stage after itself.
    name: Option<String>,
    capacity: Option<usize>,
    policy: Policy,
    errors: Option<ErrorOutput<T>>,
    traced: Option<fn(&T) -> Option<&SpanContext>>,
    /// With [`Stage::ordered_by`]: the hash of an item's key.
    pub(crate) key: Option<KeyHash<T>>,
}

/// The hash of an item's key, for stages ordered by key.
pub(crate) type KeyHash<T> = Arc<dyn Fn(&T) -> u64 + Send + Sync>;

/// The hash of a key, for stages ordered by key and for the lanes of a partition by key.
pub(crate) fn hash_of<K: Hash + ?Sized>(key: &K) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    key.hash(&mut hasher);
    hasher.finish()
}

impl<T: Send + 'static> Flow<T> {
    /// Configures the next stage: its name, policies, error output and capacity.
    pub fn stage(self, name: impl Into<String>) -> Stage<T> {
        Stage {
            name: Some(name.into()),
            ..Stage::unnamed(self)
        }
    }
}

impl<T: Send + 'static> Stage<T> {
    /// The stage an operator applied straight to `flow` adds.
    pub(crate) fn unnamed(flow: Flow<T>) -> Stage<T> {
        Stage {
            flow,
            name: None,
            capacity: None,
            policy: Policy::default(),
            errors: None,
            traced: None,
            key: None,
        }
    }

    /// Names the stage `name` unless it was named already.
    pub(crate) fn or_named(mut self, name: &str) -> Stage<T> {
        self.name.get_or_insert_with(|| name.to_owned());
        self
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
    /// reported [`Rejected`](crate::Outcome::Rejected) to their origins.
    pub fn errors_to(mut self, output: ErrorOutput<T>) -> Stage<T> {
        self.errors = Some(output);
        self
    }

    /// Keeps the order of items per `key` instead of overall, in the operators that work on
    /// several items at once ([`parallel`](crate::Operators::parallel) and its forms,
    /// [`call`](crate::Operators::call) and [`enrich`](crate::Operators::enrich) and theirs):
    /// items with one key are worked one after the other and leave in their input order;
    /// items with different keys run in parallel and leave as they finish, so a slow key holds
    /// back only its own items. `call` starts any item whose key has no call running; `parallel`
    /// gives each key to one worker (by its hash), so a slow key also holds back the keys that
    /// share its worker.
    pub fn ordered_by<K: Hash>(
        mut self,
        key: impl Fn(&T) -> K + Send + Sync + 'static,
    ) -> Stage<T> {
        self.key = Some(Arc::new(move |item: &T| hash_of(&key(item))));
        self
    }

    /// Gives each sampled item a span in this stage while tracing is on (see
    /// [`trace`](crate::trace)): `context_of` reads the trace context an item carries. The span,
    /// named after the stage, covers the time from the stage taking the item's batch to the
    /// stage asking for the next one.
    pub fn traced(mut self, context_of: fn(&T) -> Option<&SpanContext>) -> Stage<T> {
        self.traced = Some(context_of);
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

    /// Opens `n` (at least one) output channels of this stage.
    pub(crate) fn outputs<U: Send + 'static>(&self, n: usize) -> (Vec<Sender<U>>, Vec<Flow<U>>) {
        (0..n.max(1)).map(|_| self.output()).unzip()
    }

    /// Registers the stage's task: `body` gets the running context and the input. The stage
    /// is named `kind` unless it has a name.
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
            traced,
            ..
        } = self;
        let (errors_tx, errors_live) = errors.map(|e| (e.sender, e.live)).unzip();
        let stats = pipeline.add_stage(name.as_deref().unwrap_or(kind), kind);
        stats.set_input(rx.gauge());
        let rx = match traced {
            Some(context_of) => rx.traced(stats.name_arc(), context_of),
            None => rx,
        };
        let cancel = pipeline.cancel();
        let batch_size = pipeline.config().batch_size;
        pipeline.spawn(stats.name_arc(), async move {
            let ctx = StageCtx::new(
                StageMetrics::start(stats),
                cancel,
                policy,
                batch_size,
                errors_tx,
            );
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

impl Pipeline {
    /// An error output for stages whose input is `T`, and the flow of their failures (wire it
    /// to a dead-letter sink). See [`Stage::errors_to`].
    pub fn error_output<T: Send + 'static>(&self) -> (ErrorOutput<T>, Flow<Failed<T>>) {
        let pipeline = self.resolve();
        let (sender, rx) = pipeline.channel(None);
        let live = pipeline.open_flow();
        (ErrorOutput { sender, live }, Flow::new(pipeline, rx))
    }
}
