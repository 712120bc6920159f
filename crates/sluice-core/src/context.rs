//! The running side of a stage: what its task uses besides its input and outputs (metrics,
//! policy, cancellation, and where its failures go).

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::ack::AckToken;
use crate::batch::Batch;
use crate::channel::Sender;
use crate::error::{Failed, ItemError};
use crate::policy::Policy;
use crate::stats::StageMetrics;

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
    /// The context of a stage starting to run.
    pub(crate) fn new(
        metrics: StageMetrics,
        cancel: CancellationToken,
        policy: Policy,
        batch_size: usize,
        errors: Option<Sender<Failed<T>>>,
    ) -> StageCtx<T> {
        StageCtx {
            metrics,
            cancel,
            policy,
            batch_size,
            errors,
            failures: Batch::default(),
            log: LogThrottle::default(),
        }
    }

    /// A context for one more worker of the same stage: shared metrics, policy and error
    /// output; its own failure buffer.
    pub(crate) fn fork(&self) -> StageCtx<T> {
        StageCtx::new(
            self.metrics.clone(),
            self.cancel.clone(),
            self.policy.clone(),
            self.batch_size,
            self.errors.clone(),
        )
    }

    /// Records that `item` failed; it goes to the error output at the next
    /// [`flush_failures`](Self::flush_failures).
    pub(crate) fn fail(&mut self, item: T, ack: AckToken, error: ItemError, attempts: u32) {
        self.metrics.failed(1);
        let failed = Failed::new(item, self.metrics.name(), error, attempts);
        if self.errors.is_some() {
            let ack = ack.into_failure(|| why(&failed.stage, &failed.error));
            self.failures.push(failed, ack);
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
        ack.reject(|| why(&stage, error));
    }

    fn reject(&mut self, failed: &Failed<T>, ack: AckToken) {
        if self.log.allow() {
            tracing::warn!(stage = %failed.stage, error = %failed.reason(), attempts = failed.attempts, suppressed = self.log.take_suppressed(), "item failed (no error output wired)");
        }
        ack.reject(|| why(&failed.stage, &failed.error));
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

/// Why an item failed, as its origin learns it: the stage, then the error's chain.
fn why(stage: &str, error: &ItemError) -> String {
    format!("{stage}: {}", error.chain().join(": "))
}
