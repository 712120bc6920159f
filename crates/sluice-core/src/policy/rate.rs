//! Rate limiting with GCRA (the generic cell rate algorithm), by the `governor` crate.
//!
//! GCRA spaces calls evenly at the configured rate and lets up to `burst` through at once after
//! a quiet spell; unlike a fixed window it never allows twice the rate across a window edge.
//! The limiter reads tokio's clock, so a paused test clock drives it too.

use std::fmt;
use std::num::NonZeroU32;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

/// Tokio's monotonic clock, as nanoseconds since the first reading in the process.
#[derive(Debug, Clone, Copy, Default)]
struct TokioClock;

fn epoch() -> tokio::time::Instant {
    static EPOCH: OnceLock<tokio::time::Instant> = OnceLock::new();
    *EPOCH.get_or_init(tokio::time::Instant::now)
}

impl Clock for TokioClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::from(tokio::time::Instant::now().saturating_duration_since(epoch()))
    }
}

type Limiter = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Nanos>>;

/// At most `rate` calls per `per`, with bursts of up to `burst`; clones share one budget.
#[derive(Clone)]
pub struct RateLimit {
    limiter: Arc<Limiter>,
    rate: u32,
    per: Duration,
    burst: u32,
}

impl fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RateLimit({}/{:?}, burst {})",
            self.rate, self.per, self.burst
        )
    }
}

impl RateLimit {
    /// `rate` calls per `per`, with no bursts beyond one call.
    pub fn new(rate: u32, per: Duration) -> RateLimit {
        RateLimit::build(rate, per, 1)
    }

    /// `rate` calls per second.
    pub fn per_second(rate: u32) -> RateLimit {
        RateLimit::new(rate, Duration::from_secs(1))
    }

    /// Allows up to `burst` calls at once after a quiet spell.
    pub fn burst(self, burst: u32) -> RateLimit {
        RateLimit::build(self.rate, self.per, burst)
    }

    fn build(rate: u32, per: Duration, burst: u32) -> RateLimit {
        let rate = rate.max(1);
        let burst = burst.max(1);
        let period = (per / rate).max(Duration::from_nanos(1));
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN));
        RateLimit {
            limiter: Arc::new(RateLimiter::direct_with_clock(quota, TokioClock)),
            rate,
            per,
            burst,
        }
    }

    /// Waits until one call is allowed.
    pub async fn acquire(&self) {
        while let Err(not_until) = self.limiter.check() {
            tokio::time::sleep(not_until.wait_time_from(TokioClock.now())).await;
        }
    }

    /// Takes one call's budget if it is there now, without waiting.
    pub fn try_acquire(&self) -> bool {
        self.limiter.check().is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn spaces_calls_at_the_rate() {
        let limit = RateLimit::per_second(10).burst(2);
        let start = tokio::time::Instant::now();
        for _ in 0..12 {
            limit.acquire().await;
        }
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(1000) && took < Duration::from_millis(1100),
            "2 at once, then 10 more at 100 ms each: {took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn try_acquire_does_not_wait() {
        let limit = RateLimit::per_second(1);
        assert!(limit.try_acquire());
        assert!(!limit.try_acquire());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(limit.try_acquire());
    }
}
