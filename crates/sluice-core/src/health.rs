//! Whether each connector reaches its service, for the admin server's `/ready`.
//!
//! A source marks itself up once connected and down (with the reason) when its connection
//! fails; a sink is up after a batch written and down after a batch that failed as a whole; a
//! job worker's store is up after a call that reached it and down after one that did not. A
//! connector that has not tried yet is `starting`. The states are per process. Going down is
//! logged as a warning with the reason, and coming back as news; the attempts in between are
//! not, however many. The gauge `sluice_connector_up{connector}` is 1 while a connector is up
//! and 0 otherwise. A connector guarded by a circuit breaker is down while the breaker is open
//! or half-open, whatever its last attempt did.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};

use crate::policy::{CircuitBreaker, CircuitState};

/// What is known of a connector's service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// It has not connected nor failed yet.
    Starting,
    /// Its last attempt worked.
    Up,
    /// Its last attempt failed, for this reason.
    Down(String),
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            State::Starting => f.write_str("starting"),
            State::Up => f.write_str("up"),
            State::Down(reason) => write!(f, "down: {reason}"),
        }
    }
}

static STATES: LazyLock<Mutex<BTreeMap<Arc<str>, State>>> = LazyLock::new(Mutex::default);

/// The breakers guarding connectors, by connector.
static BREAKERS: LazyLock<Mutex<BTreeMap<Arc<str>, CircuitBreaker>>> =
    LazyLock::new(Mutex::default);

fn states() -> MutexGuard<'static, BTreeMap<Arc<str>, State>> {
    STATES.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A connector's handle on its state.
#[derive(Debug, Clone)]
pub struct Connector(Arc<str>);

impl Connector {
    /// Registers the connector `name`, `starting`.
    pub fn new(name: &str) -> Connector {
        let name: Arc<str> = Arc::from(name);
        states().insert(name.clone(), State::Starting);
        publish(&name, &State::Starting);
        Connector(name)
    }

    /// Reports the connector down while `breaker` is open or half-open.
    pub fn guarded_by(&self, breaker: &CircuitBreaker) {
        BREAKERS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(self.0.clone(), breaker.clone());
    }

    /// The connector's name.
    pub fn name(&self) -> &str {
        &self.0
    }

    /// Whether its service answered last.
    pub fn is_up(&self) -> bool {
        states().get(&self.0) == Some(&State::Up)
    }

    /// Its service answered.
    pub fn up(&self) {
        self.set(State::Up);
    }

    /// Its service could not be reached, or failed.
    pub fn down(&self, reason: &dyn fmt::Display) {
        self.set(State::Down(reason.to_string()));
    }

    fn set(&self, state: State) {
        let mut all = states();
        let was_down = matches!(all.get(&self.0), Some(State::Down(_)));
        match &state {
            State::Down(reason) if !was_down => {
                tracing::warn!(connector = %self.0, %reason, "connector down: retrying until it is back");
            }
            State::Up if was_down => tracing::info!(connector = %self.0, "connector up again"),
            _ => {}
        }
        if all.get(&self.0) != Some(&state) {
            publish(&self.0, &state);
            all.insert(self.0.clone(), state);
        }
    }
}

/// Sets a connector's `sluice_connector_up` gauge.
fn publish(name: &Arc<str>, state: &State) {
    let up = if *state == State::Up { 1.0 } else { 0.0 };
    metrics::gauge!("sluice_connector_up", "connector" => name.to_string()).set(up);
}

/// Every connector's state, by name.
pub fn snapshot() -> BTreeMap<String, State> {
    let breakers = BREAKERS.lock().unwrap_or_else(PoisonError::into_inner);
    states()
        .iter()
        .map(|(name, state)| {
            let breaker = breakers.get(name).map(CircuitBreaker::state);
            let state = match (breaker, state) {
                (Some(CircuitState::Closed) | None, state) => state.clone(),
                (Some(open), State::Down(reason)) => {
                    State::Down(format!("circuit breaker {open}; last failure: {reason}"))
                }
                (Some(open), _) => State::Down(format!("circuit breaker {open}")),
            };
            (name.to_string(), state)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connectors_report_their_last_state() {
        let source = Connector::new("health-test-source");
        let sink = Connector::new("health-test-sink");
        source.up();
        sink.down(&"connection refused");
        let all = snapshot();
        assert_eq!(all["health-test-source"], State::Up);
        assert_eq!(
            all["health-test-sink"].to_string(),
            "down: connection refused"
        );
        sink.up();
        assert_eq!(snapshot()["health-test-sink"], State::Up);
    }

    #[tokio::test(start_paused = true)]
    async fn a_connector_is_down_while_its_breaker_is_open() {
        let sink = Connector::new("health-test-guarded");
        let breaker = CircuitBreaker::new(crate::policy::BreakerConfig {
            min_calls: 1,
            window: 1,
            ..crate::policy::BreakerConfig::default()
        });
        sink.guarded_by(&breaker);
        sink.down(&"connection refused");
        breaker.record(false);
        assert_eq!(
            snapshot()["health-test-guarded"].to_string(),
            "down: circuit breaker open; last failure: connection refused"
        );
    }
}
