//! Retrying failed attempts: how long to wait ([`Backoff`]) and when to stop ([`Retry`]).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::ItemError;

/// Delays between attempts: exponential, capped, with jitter.
///
/// The delay before retry *n* (1-based) is `min(max, initial × multiplier^(n-1))`, then
/// jittered. Full jitter (the default) draws uniformly from zero to that value, which spreads
/// retries of many clients best (see "Exponential Backoff And Jitter", AWS Architecture Blog).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// The first delay before jitter. Defaults to 100 ms.
    pub initial: Duration,
    /// The largest delay before jitter. Defaults to 10 s.
    pub max: Duration,
    /// Growth per retry. Defaults to 2.
    pub multiplier: f64,
    /// How the delay is randomized. Defaults to [`Jitter::Full`].
    pub jitter: Jitter,
}

/// How a backoff delay is randomized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    /// The exact delay.
    None,
    /// Uniform between zero and the delay.
    Full,
    /// Half the delay plus uniform up to the other half.
    Equal,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(10),
            multiplier: 2.0,
            jitter: Jitter::Full,
        }
    }
}

impl Backoff {
    /// Exponential backoff from `initial` up to `max`, with full jitter.
    pub fn exponential(initial: Duration, max: Duration) -> Backoff {
        Backoff {
            initial,
            max,
            ..Backoff::default()
        }
    }

    /// The same delay every time (no growth, no jitter).
    pub fn constant(delay: Duration) -> Backoff {
        Backoff {
            initial: delay,
            max: delay,
            multiplier: 1.0,
            jitter: Jitter::None,
        }
    }

    /// Sets the jitter.
    pub fn jitter(mut self, jitter: Jitter) -> Backoff {
        self.jitter = jitter;
        self
    }

    /// Sets the multiplier (at least 1).
    pub fn multiplier(mut self, multiplier: f64) -> Backoff {
        self.multiplier = if multiplier.is_finite() {
            multiplier.max(1.0)
        } else {
            1.0
        };
        self
    }

    /// The capped delay before retry `retry` (1-based), before jitter.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let exp = i32::try_from(retry.saturating_sub(1)).unwrap_or(i32::MAX);
        let secs = self.initial.as_secs_f64() * self.multiplier.powi(exp);
        if !secs.is_finite() || secs >= self.max.as_secs_f64() {
            self.max
        } else {
            Duration::from_secs_f64(secs)
        }
    }

    /// The jittered delay before retry `retry` (1-based).
    pub fn delay(&self, retry: u32) -> Duration {
        let ceiling = self.ceiling(retry);
        match self.jitter {
            Jitter::None => ceiling,
            Jitter::Full => ceiling.mul_f64(fastrand::f64()),
            Jitter::Equal => ceiling / 2 + (ceiling / 2).mul_f64(fastrand::f64()),
        }
    }
}

/// The pauses of a client reaching again for a service that went away (a database, a broker):
/// 100 ms, doubling up to 5 s, with equal jitter so that many clients do not all come back at
/// once. [`Reconnect::reset`] after a success.
#[derive(Debug, Clone)]
pub struct Reconnect {
    backoff: Backoff,
    failures: u32,
}

impl Default for Reconnect {
    fn default() -> Self {
        Reconnect {
            backoff: Backoff::exponential(Duration::from_millis(100), Duration::from_secs(5))
                .jitter(Jitter::Equal),
            failures: 0,
        }
    }
}

impl Reconnect {
    /// The pause after one more failure.
    pub fn after_failure(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        self.backoff.delay(self.failures)
    }

    /// Starts again from the shortest pause.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

/// Decides whether an error may be retried.
type Retryable = Arc<dyn Fn(&ItemError) -> bool + Send + Sync>;

/// When to retry a failed attempt.
///
/// An item is retried while attempts remain, the next delay would not pass `max_elapsed`, and
/// the error is retryable. By default every error is retryable except
/// [`ItemError::CircuitOpen`] (an open breaker fails fast) and [`ItemError::Panicked`].
#[derive(Clone)]
pub struct Retry {
    /// Attempts in all, the first included; `u32::MAX` for no limit. Defaults to 3.
    pub max_attempts: u32,
    /// The delays between attempts. Defaults to [`Backoff::default`].
    pub backoff: Backoff,
    /// Give up once this much time has passed since the first attempt. Defaults to none.
    pub max_elapsed: Option<Duration>,
    retryable: Option<Retryable>,
}

impl fmt::Debug for Retry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("max_attempts", &self.max_attempts)
            .field("backoff", &self.backoff)
            .field("max_elapsed", &self.max_elapsed)
            .field("retryable", &self.retryable.as_ref().map(|_| "custom"))
            .finish()
    }
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            max_attempts: 3,
            backoff: Backoff::default(),
            max_elapsed: None,
            retryable: None,
        }
    }
}

impl Retry {
    /// Up to `max_attempts` attempts with the default backoff.
    pub fn attempts(max_attempts: u32) -> Retry {
        Retry {
            max_attempts: max_attempts.max(1),
            ..Retry::default()
        }
    }

    /// No limit on attempts: a retryable error is retried for as long as it lasts (an outage is
    /// waited out), unless [`max_elapsed`](Retry::max_elapsed) bounds it.
    pub fn forever() -> Retry {
        Retry::attempts(u32::MAX)
    }

    /// Sets the backoff.
    pub fn backoff(mut self, backoff: Backoff) -> Retry {
        self.backoff = backoff;
        self
    }

    /// Gives up once `limit` has passed since the first attempt.
    pub fn max_elapsed(mut self, limit: Duration) -> Retry {
        self.max_elapsed = Some(limit);
        self
    }

    /// Retries only errors for which `predicate` is true.
    pub fn retry_if(
        mut self,
        predicate: impl Fn(&ItemError) -> bool + Send + Sync + 'static,
    ) -> Retry {
        self.retryable = Some(Arc::new(predicate));
        self
    }

    /// Whether `err` may be retried at all.
    pub fn is_retryable(&self, err: &ItemError) -> bool {
        match &self.retryable {
            Some(predicate) => predicate(err),
            None => !matches!(err, ItemError::CircuitOpen | ItemError::Panicked(_)),
        }
    }

    /// The delay before the next attempt after `attempts` have failed with `err`, or `None` to
    /// give up.
    pub fn next_delay(
        &self,
        attempts: u32,
        elapsed: Duration,
        err: &ItemError,
    ) -> Option<Duration> {
        if attempts >= self.max_attempts || !self.is_retryable(err) {
            return None;
        }
        let delay = self.backoff.delay(attempts);
        match self.max_elapsed {
            Some(limit) if elapsed + delay > limit => None,
            _ => Some(delay),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnect_pauses_double_to_five_seconds_and_start_again_after_a_success() {
        let mut pause = Reconnect::default();
        let pauses: Vec<Duration> = (0..10).map(|_| pause.after_failure()).collect();
        assert!(pauses[0] >= Duration::from_millis(50) && pauses[0] <= Duration::from_millis(100));
        assert!(pauses[3] >= Duration::from_millis(400), "{pauses:?}");
        assert!(
            pauses.iter().all(|p| *p <= Duration::from_secs(5)),
            "{pauses:?}"
        );
        assert!(pauses[9] >= Duration::from_millis(2500), "{pauses:?}");
        pause.reset();
        assert!(pause.after_failure() <= Duration::from_millis(100));
    }

    #[test]
    fn ceiling_grows_then_caps() {
        let b = Backoff::exponential(Duration::from_millis(100), Duration::from_secs(1));
        let ceilings: Vec<_> = (1..=6).map(|n| b.ceiling(n).as_millis()).collect();
        assert_eq!(ceilings, vec![100, 200, 400, 800, 1000, 1000]);
        assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(1));
    }

    #[test]
    fn full_jitter_stays_within_ceiling() {
        let b = Backoff::exponential(Duration::from_millis(100), Duration::from_secs(1));
        for n in 1..50 {
            assert!(b.delay(n) <= b.ceiling(n));
        }
        let equal = b.jitter(Jitter::Equal);
        for n in 1..50 {
            assert!(equal.delay(n) >= equal.ceiling(n) / 2);
        }
    }

    #[test]
    fn stops_at_max_attempts_elapsed_and_unretryable() {
        let r = Retry::attempts(3).backoff(Backoff::constant(Duration::from_secs(1)));
        let e = ItemError::TimedOut(Duration::from_secs(1));
        assert_eq!(
            r.next_delay(1, Duration::ZERO, &e),
            Some(Duration::from_secs(1))
        );
        assert_eq!(r.next_delay(3, Duration::ZERO, &e), None);
        assert_eq!(
            r.next_delay(1, Duration::ZERO, &ItemError::CircuitOpen),
            None
        );
        let r = r.max_elapsed(Duration::from_millis(1500));
        assert_eq!(r.next_delay(1, Duration::from_millis(600), &e), None);
        let forever = Retry::forever();
        assert!(
            forever
                .next_delay(u32::MAX - 1, Duration::ZERO, &e)
                .is_some()
        );
        assert!(
            forever
                .max_elapsed(Duration::from_secs(60))
                .next_delay(1_000, Duration::from_secs(61), &e)
                .is_none()
        );
        let r = Retry::attempts(5).retry_if(|e| matches!(e, ItemError::CircuitOpen));
        assert!(
            r.next_delay(1, Duration::ZERO, &ItemError::CircuitOpen)
                .is_some()
        );
        assert!(r.next_delay(1, Duration::ZERO, &e).is_none());
    }
}
