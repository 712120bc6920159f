//! Policies around a stage's calls: retry, timeout, rate limit, circuit breaker, concurrency
//! limit, and (per operator) caching and load balancing.
//!
//! # Order
//! For each item, outermost first:
//!
//! 1. **cache** ([`Flow::call_cached`](crate::Flow::call_cached)): a hit skips everything below;
//!    concurrent misses on one key make one call.
//! 2. **retry** ([`Retry`]): each attempt below runs again after a backoff while the error is
//!    retryable and attempts and time remain.
//! 3. **circuit breaker** ([`CircuitBreaker`]): an open breaker fails the attempt at once with
//!    [`ItemError::CircuitOpen`], which is not retried by default, so the item goes straight to
//!    the error output; or, with [`Policy::wait_while_open`] (for sinks, whose items must not be
//!    dead-lettered because a service is away), waits until it lets a trial call through.
//! 4. **rate limit** ([`RateLimit`]): waits for the attempt's turn (GCRA).
//! 5. **concurrency limit**: waits for one of N permits shared by the stage (or by every stage
//!    given the same policy).
//! 6. **timeout**: bounds the call itself, not the waits above it.
//! 7. **load balancing** ([`Balancer::wrap`]): inside the call function, so every attempt picks
//!    an endpoint.
//!
//! A panic in the call (building its future or polling it) fails that attempt with
//! [`ItemError::Panicked`] and is not retried.
//!
//! Policies are values: clone one into several stages and they share its breaker, rate budget
//! and permits.

mod balance;
mod breaker;
mod cache;
mod rate;
mod retry;

pub use balance::{Balancer, Lease, Strategy};
pub use breaker::{BreakerConfig, CircuitBreaker, CircuitState};
pub use cache::Cache;
pub use rate::RateLimit;
pub use retry::{Backoff, Jitter, Reconnect, Retry};

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::error::{BoxError, ItemError};
use crate::stats::StageMetrics;

/// The policies of one stage; see the [module docs](self) for the order they apply in.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    retry: Option<Retry>,
    timeout: Option<Duration>,
    rate_limit: Option<RateLimit>,
    breaker: Option<CircuitBreaker>,
    wait_while_open: bool,
    concurrency: Option<Arc<Semaphore>>,
}

impl Policy {
    /// No policies: one attempt, no limits.
    pub fn new() -> Policy {
        Policy::default()
    }

    /// Retries failed attempts.
    pub fn retry(mut self, retry: Retry) -> Policy {
        self.retry = Some(retry);
        self
    }

    /// Fails an attempt that takes longer than `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Policy {
        self.timeout = Some(timeout);
        self
    }

    /// Limits the rate of attempts.
    pub fn rate_limit(mut self, limit: RateLimit) -> Policy {
        self.rate_limit = Some(limit);
        self
    }

    /// Fails fast while a breaker is open.
    pub fn circuit_breaker(mut self, breaker: CircuitBreaker) -> Policy {
        self.breaker = Some(breaker);
        self
    }

    /// While the breaker is open, waits for it to let a trial call through instead of failing
    /// the attempt: the calls stop for a while, and no item fails for it.
    pub fn wait_while_open(mut self) -> Policy {
        self.wait_while_open = true;
        self
    }

    /// Narrows retrying to errors for which `predicate` is true (with no retry set, nothing is
    /// retried either way).
    pub fn retry_if(
        mut self,
        predicate: impl Fn(&ItemError) -> bool + Send + Sync + 'static,
    ) -> Policy {
        self.retry = self.retry.map(|r| r.retry_if(predicate));
        self
    }

    /// At most `limit` attempts at once (across every stage sharing this policy).
    pub fn concurrency_limit(mut self, limit: usize) -> Policy {
        self.concurrency = Some(Arc::new(Semaphore::new(
            limit.clamp(1, Semaphore::MAX_PERMITS),
        )));
        self
    }

    /// The breaker, if any (to read its state).
    pub fn breaker(&self) -> Option<&CircuitBreaker> {
        self.breaker.as_ref()
    }

    /// Whether no policy is set, so a stage may take its fast path.
    pub(crate) fn is_empty(&self) -> bool {
        self.retry.is_none()
            && self.timeout.is_none()
            && self.rate_limit.is_none()
            && self.breaker.is_none()
            && self.concurrency.is_none()
    }

    /// Runs `call` on `item` under the policies; returns the result and the attempts made.
    pub(crate) async fn execute<T: ?Sized, A: Attempt<T>>(
        &self,
        item: &T,
        call: &mut A,
        metrics: &StageMetrics,
    ) -> (Result<A::Output, ItemError>, u32) {
        let started = Instant::now();
        let mut attempts: u32 = 0;
        loop {
            if self.wait_while_open
                && let Some(breaker) = &self.breaker
            {
                while let Some(wait) = breaker.closed_in() {
                    metrics.circuit(breaker.state().as_gauge());
                    tokio::time::sleep(wait).await;
                }
            }
            attempts = attempts.saturating_add(1);
            let result = self.attempt(item, call).await;
            if let Some(breaker) = &self.breaker {
                metrics.circuit(breaker.state().as_gauge());
            }
            let err = match result {
                Ok(value) => return (Ok(value), attempts),
                // Another call took the trial: wait again, this was no attempt.
                Err(ItemError::CircuitOpen) if self.wait_while_open => {
                    attempts -= 1;
                    continue;
                }
                Err(err) => err,
            };
            let delay = self
                .retry
                .as_ref()
                .and_then(|r| r.next_delay(attempts, started.elapsed(), &err));
            match delay {
                Some(delay) => {
                    metrics.retried();
                    tracing::debug!(stage = %metrics.name(), attempt = attempts, ?delay, error = %err, "retrying");
                    tokio::time::sleep(delay).await;
                }
                None => return (Err(err), attempts),
            }
        }
    }

    async fn attempt<T: ?Sized, A: Attempt<T>>(
        &self,
        item: &T,
        call: &mut A,
    ) -> Result<A::Output, ItemError> {
        if let Some(breaker) = &self.breaker {
            breaker.acquire()?;
        }
        if let Some(limit) = &self.rate_limit {
            limit.acquire().await;
        }
        let _permit = match &self.concurrency {
            // The semaphore is never closed, so acquiring only fails if it were.
            Some(s) => Some(s.acquire().await.map_err(ItemError::user)?),
            None => None,
        };
        let start = move || {
            let call = call;
            call.attempt(item)
        };
        let result = match std::panic::catch_unwind(AssertUnwindSafe(start)) {
            Err(panic) => Err(ItemError::from_panic(panic.as_ref())),
            Ok(fut) => {
                let guarded = AssertUnwindSafe(fut).catch_unwind();
                let outcome = match self.timeout {
                    Some(limit) => tokio::time::timeout(limit, guarded)
                        .await
                        .map_err(|_| ItemError::TimedOut(limit)),
                    None => Ok(guarded.await),
                };
                match outcome {
                    Err(timed_out) => Err(timed_out),
                    Ok(Err(panic)) => Err(ItemError::from_panic(panic.as_ref())),
                    Ok(Ok(result)) => result.map_err(ItemError::User),
                }
            }
        };
        if let Some(breaker) = &self.breaker {
            breaker.record(result.is_ok());
        }
        result
    }
}

/// One attempt at processing an item: a closure `FnMut(&T) -> impl Future`, or a type whose
/// attempt borrows itself and the item (a sink writing a batch).
pub(crate) trait Attempt<T: ?Sized> {
    /// What a successful attempt yields.
    type Output;

    /// Starts one attempt.
    fn attempt<'a>(
        &'a mut self,
        item: &'a T,
    ) -> impl Future<Output = Result<Self::Output, BoxError>>;
}

impl<T: ?Sized, U, F, Fut> Attempt<T> for F
where
    F: FnMut(&T) -> Fut,
    Fut: Future<Output = Result<U, BoxError>>,
{
    type Output = U;

    fn attempt<'a>(&'a mut self, item: &'a T) -> impl Future<Output = Result<U, BoxError>> {
        self(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::StageStats;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn stats() -> Arc<StageStats> {
        Arc::new(StageStats::new(Arc::from("p"), Arc::from("s"), "call"))
    }

    fn metrics() -> StageMetrics {
        StageMetrics::start(stats())
    }

    #[tokio::test(start_paused = true)]
    async fn retries_until_success() {
        let calls = AtomicU32::new(0);
        let policy = Policy::new().retry(Retry::attempts(5));
        let stats = stats();
        let m = StageMetrics::start(Arc::clone(&stats));
        let (result, attempts) = policy
            .execute(
                &7,
                &mut |x: &i32| {
                    let n = calls.fetch_add(1, Ordering::SeqCst);
                    let x = *x;
                    async move {
                        if n < 2 {
                            Err::<i32, BoxError>("flaky".into())
                        } else {
                            Ok(x * 2)
                        }
                    }
                },
                &m,
            )
            .await;
        assert_eq!(result.expect("third attempt succeeds"), 14);
        assert_eq!(attempts, 3);
        assert_eq!(stats.snapshot().retries, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn timeout_fails_slow_attempts() {
        let policy = Policy::new()
            .timeout(Duration::from_millis(50))
            .retry(Retry::attempts(2).backoff(Backoff::constant(Duration::from_millis(10))));
        let (result, attempts) = policy
            .execute(
                &(),
                &mut |_: &()| async {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    Ok::<(), BoxError>(())
                },
                &metrics(),
            )
            .await;
        assert!(matches!(result, Err(ItemError::TimedOut(_))));
        assert_eq!(attempts, 2);
    }

    #[tokio::test]
    async fn panics_fail_the_attempt_without_retry() {
        let policy = Policy::new().retry(Retry::attempts(3));
        let (result, attempts) = policy
            .execute(&(), &mut |_: &()| async { panic!("bad item") }, &metrics())
            .await;
        let result: Result<(), ItemError> = result;
        assert_eq!(
            result.expect_err("panicked").to_string(),
            "panicked: bad item"
        );
        assert_eq!(attempts, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn open_breaker_fails_fast() {
        let breaker = CircuitBreaker::new(BreakerConfig {
            min_calls: 2,
            window: 2,
            ..BreakerConfig::default()
        });
        let policy = Policy::new()
            .circuit_breaker(breaker.clone())
            .retry(Retry::attempts(5));
        let m = metrics();
        let mut fail = |_: &()| async { Err::<(), BoxError>("down".into()) };
        let (_, attempts) = policy.execute(&(), &mut fail, &m).await;
        assert_eq!(
            attempts, 3,
            "two failures open it; the third attempt fails fast"
        );
        assert_eq!(breaker.state(), CircuitState::Open);
        let (result, attempts) = policy.execute(&(), &mut fail, &m).await;
        assert!(matches!(result, Err(ItemError::CircuitOpen)));
        assert_eq!(attempts, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_breaker_that_waits_pauses_the_calls_and_fails_nothing() {
        let breaker = CircuitBreaker::new(BreakerConfig {
            min_calls: 2,
            window: 2,
            open_for: Duration::from_secs(30),
            half_open_calls: 1,
            ..BreakerConfig::default()
        });
        let policy = Policy::new()
            .circuit_breaker(breaker.clone())
            .wait_while_open()
            .retry(Retry::attempts(u32::MAX));
        let calls = std::sync::atomic::AtomicU32::new(0);
        let started = Instant::now();
        // The service fails three times, then answers.
        let mut flaky = |_: &()| {
            let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move {
                if n < 3 {
                    Err::<u32, BoxError>("down".into())
                } else {
                    Ok(n)
                }
            }
        };
        let (result, _) = policy.execute(&(), &mut flaky, &metrics()).await;
        assert_eq!(result.expect("answered once the service was back"), 3);
        assert_eq!(
            calls.load(std::sync::atomic::Ordering::SeqCst),
            4,
            "no call while open"
        );
        assert!(
            started.elapsed() >= Duration::from_secs(60),
            "open twice for 30 s: {:?}",
            started.elapsed()
        );
        assert_eq!(breaker.state(), CircuitState::Closed);
    }
}
