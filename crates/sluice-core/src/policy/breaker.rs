//! A circuit breaker: stop calling a failing service for a while, then probe it.
//!
//! # States
//! - **Closed**: calls go through; the outcomes of the last `window` calls are kept. When at
//!   least `min_calls` are recorded and the share of failures reaches `failure_ratio`, the
//!   breaker opens.
//! - **Open**: calls fail at once with [`ItemError::CircuitOpen`] (the item goes to the error
//!   output rather than waiting on a dead service) until `open_for` has passed.
//! - **Half-open**: up to `half_open_calls` trial calls go through. One failure opens the breaker
//!   again; that many successes close it.
//!
//! The clock is tokio's, so tests can pause and advance it.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use crate::error::ItemError;

/// The state of a [`CircuitBreaker`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    /// Calls go through.
    Closed,
    /// Calls fail fast.
    Open,
    /// A few trial calls go through.
    HalfOpen,
}

impl fmt::Display for CircuitState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half-open",
        })
    }
}

impl CircuitState {
    /// 0 closed, 1 open, 2 half-open: the value of the `sluice_stage_circuit_state` gauge.
    pub fn as_gauge(self) -> f64 {
        match self {
            CircuitState::Closed => 0.0,
            CircuitState::Open => 1.0,
            CircuitState::HalfOpen => 2.0,
        }
    }
}

/// Settings of a [`CircuitBreaker`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerConfig {
    /// Share of failed calls in the window that opens the breaker. Defaults to 0.5.
    pub failure_ratio: f64,
    /// Calls the window must hold before the ratio counts. Defaults to 10.
    pub min_calls: usize,
    /// How many recent calls the window holds. Defaults to 20.
    pub window: usize,
    /// How long the breaker stays open. Defaults to 30 s.
    pub open_for: Duration,
    /// Trial calls while half-open. Defaults to 3.
    pub half_open_calls: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failure_ratio: 0.5,
            min_calls: 10,
            window: 20,
            open_for: Duration::from_secs(30),
            half_open_calls: 3,
        }
    }
}

enum State {
    Closed {
        recent: VecDeque<bool>,
        failures: usize,
    },
    Open {
        until: Instant,
    },
    HalfOpen {
        admitted: u32,
        succeeded: u32,
    },
}

/// A circuit breaker shared by every call of a stage (clone it to share it between stages).
#[derive(Clone)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    state: Arc<Mutex<State>>,
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("config", &self.config)
            .field("state", &self.state())
            .finish()
    }
}

impl Default for CircuitBreaker {
    fn default() -> Self {
        CircuitBreaker::new(BreakerConfig::default())
    }
}

impl CircuitBreaker {
    /// A closed breaker with `config`.
    pub fn new(config: BreakerConfig) -> CircuitBreaker {
        let config = BreakerConfig {
            window: config.window.max(1),
            min_calls: config.min_calls.clamp(1, config.window.max(1)),
            half_open_calls: config.half_open_calls.max(1),
            ..config
        };
        CircuitBreaker {
            config,
            state: Arc::new(Mutex::new(State::Closed {
                recent: VecDeque::with_capacity(config.window),
                failures: 0,
            })),
        }
    }

    /// The state now.
    pub fn state(&self) -> CircuitState {
        match &*self.lock() {
            State::Closed { .. } => CircuitState::Closed,
            State::Open { until } if Instant::now() >= *until => CircuitState::HalfOpen,
            State::Open { .. } => CircuitState::Open,
            State::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }

    /// How long until a call may be admitted: until the breaker half-opens, or a moment while
    /// its trial calls are all out; `None` when a call may go now.
    pub fn closed_in(&self) -> Option<Duration> {
        match &*self.lock() {
            State::Open { until } => {
                let now = Instant::now();
                (now < *until).then(|| *until - now)
            }
            State::HalfOpen { admitted, .. } if *admitted >= self.config.half_open_calls => {
                Some(Duration::from_millis(50))
            }
            State::Closed { .. } | State::HalfOpen { .. } => None,
        }
    }

    /// Asks to make a call: `Err(CircuitOpen)` when it must fail fast.
    pub fn acquire(&self) -> Result<(), ItemError> {
        let mut state = self.lock();
        match &mut *state {
            State::Closed { .. } => Ok(()),
            State::Open { until } => {
                if Instant::now() < *until {
                    return Err(ItemError::CircuitOpen);
                }
                tracing::info!("circuit breaker half-open: sending trial calls");
                *state = State::HalfOpen {
                    admitted: 1,
                    succeeded: 0,
                };
                Ok(())
            }
            State::HalfOpen { admitted, .. } => {
                if *admitted >= self.config.half_open_calls {
                    return Err(ItemError::CircuitOpen);
                }
                *admitted += 1;
                Ok(())
            }
        }
    }

    /// Records the outcome of a call that [`acquire`](Self::acquire) admitted.
    pub fn record(&self, success: bool) {
        let config = self.config;
        let mut state = self.lock();
        match &mut *state {
            State::Closed { recent, failures } => {
                if recent.len() == config.window && recent.pop_front() == Some(false) {
                    *failures -= 1;
                }
                recent.push_back(success);
                if !success {
                    *failures += 1;
                }
                let calls = recent.len();
                if calls >= config.min_calls
                    && (*failures as f64) >= config.failure_ratio * calls as f64
                {
                    tracing::warn!(failures = *failures, calls, open_for = ?config.open_for, "circuit breaker opened");
                    *state = State::Open {
                        until: Instant::now() + config.open_for,
                    };
                }
            }
            State::HalfOpen { succeeded, .. } => {
                if success {
                    *succeeded += 1;
                    if *succeeded >= config.half_open_calls {
                        tracing::info!("circuit breaker closed");
                        *state = State::Closed {
                            recent: VecDeque::with_capacity(config.window),
                            failures: 0,
                        };
                    }
                } else {
                    tracing::warn!(open_for = ?config.open_for, "trial call failed: circuit breaker opened again");
                    *state = State::Open {
                        until: Instant::now() + config.open_for,
                    };
                }
            }
            // A call admitted before the breaker opened: its outcome no longer matters.
            State::Open { .. } => {}
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update leaves the state whole, so a poisoned lock is still consistent.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> CircuitBreaker {
        CircuitBreaker::new(BreakerConfig {
            failure_ratio: 0.5,
            min_calls: 4,
            window: 4,
            open_for: Duration::from_secs(10),
            half_open_calls: 2,
        })
    }

    fn call(b: &CircuitBreaker, success: bool) -> Result<(), ItemError> {
        b.acquire()?;
        b.record(success);
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn opens_half_opens_and_closes() {
        let b = breaker();
        for ok in [true, false, true] {
            call(&b, ok).expect("closed");
        }
        assert_eq!(
            b.state(),
            CircuitState::Closed,
            "three calls are below min_calls"
        );
        call(&b, false).expect("closed");
        assert_eq!(b.state(), CircuitState::Open, "two failures of four");
        assert!(matches!(b.acquire(), Err(ItemError::CircuitOpen)));

        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(b.state(), CircuitState::HalfOpen);
        b.acquire().expect("trial 1");
        b.acquire().expect("trial 2");
        assert!(b.acquire().is_err(), "only two trials at a time");
        b.record(true);
        b.record(true);
        assert_eq!(b.state(), CircuitState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn failed_trial_reopens() {
        let b = breaker();
        for _ in 0..4 {
            call(&b, false).expect("closed");
        }
        tokio::time::advance(Duration::from_secs(11)).await;
        call(&b, false).expect("trial admitted");
        assert_eq!(b.state(), CircuitState::Open);
    }

    #[tokio::test(start_paused = true)]
    async fn old_failures_leave_the_window() {
        let b = breaker();
        call(&b, false).expect("closed");
        for _ in 0..6 {
            call(&b, true).expect("closed");
        }
        call(&b, false).expect("closed");
        assert_eq!(
            b.state(),
            CircuitState::Closed,
            "one failure in the last four calls"
        );
    }
}
