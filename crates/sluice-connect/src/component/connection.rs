//! A source's connection to its service (`redis_stream`, `nats`, `amqp`, `postgres`): its
//! state on `/ready`, the circuit breaker that may stop it reconnecting, and the loop that
//! reconnects.

use tokio_util::sync::CancellationToken;

use super::SourceContext;

/// A source's hold on its service: its state on `/ready` (it derefs to its
/// [`Connector`](sluice_core::health::Connector)), and the circuit breaker, if any, that stops
/// it reconnecting for a while after too many failed attempts.
pub(crate) struct SourceConnection {
    health: sluice_core::health::Connector,
    breaker: Option<ConnectionBreaker>,
}

/// The circuit breaker on a source's connection, and its `sluice_stage_circuit_state` gauge.
struct ConnectionBreaker {
    breaker: sluice_core::CircuitBreaker,
    state: metrics::Gauge,
}

impl ConnectionBreaker {
    /// Waits until an attempt may be made and counts it as a call (a trial one when
    /// half-open); false if `cancel` fires first.
    async fn admit(&self, cancel: &CancellationToken) -> bool {
        while let Some(wait) = self.breaker.closed_in() {
            self.show();
            tokio::select! {
                () = cancel.cancelled() => return false,
                () = tokio::time::sleep(wait) => {}
            }
        }
        let _ = self.breaker.acquire();
        self.show();
        true
    }

    /// Records the outcome of the attempt admitted.
    fn record(&self, reached: bool) {
        self.breaker.record(reached);
        self.show();
    }

    fn show(&self) {
        self.state.set(self.breaker.state().as_gauge());
    }
}

impl std::ops::Deref for SourceConnection {
    type Target = sluice_core::health::Connector;

    fn deref(&self) -> &Self::Target {
        &self.health
    }
}

impl SourceContext {
    /// The connection of the source this context builds.
    pub(crate) fn connection(&self) -> SourceConnection {
        let health = sluice_core::health::Connector::new(&self.name);
        let breaker = self.breaker.clone().map(|breaker| {
            health.guarded_by(&breaker);
            let guard = ConnectionBreaker {
                breaker,
                state: metrics::gauge!(
                    "sluice_stage_circuit_state",
                    "pipeline" => self.pipeline.name().to_owned(),
                    "stage" => self.name.clone(),
                ),
            };
            guard.show();
            guard
        });
        SourceConnection { health, breaker }
    }
}

/// Runs a broker source's `read` until it returns `Ok` (shutdown, or the pipeline is gone),
/// and again after a pause ([`Reconnect`](sluice_core::policy::Reconnect)) each time it fails,
/// counting and logging the failure and marking the source down: the source reconnects by
/// itself. With a circuit breaker, each attempt that never reached the service counts as a
/// failed call and each that did as a successful one; while the breaker is open no attempt is
/// made.
pub(crate) async fn reconnecting<F, Fut>(
    connection: &SourceConnection,
    cancel: &CancellationToken,
    mut read: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), sluice_core::BoxError>>,
{
    let mut pause = sluice_core::policy::Reconnect::default();
    while !cancel.is_cancelled() {
        let result = match &connection.breaker {
            None => read().await,
            Some(breaker) => {
                if !breaker.admit(cancel).await {
                    return;
                }
                // The call succeeds as soon as the service answers (a read lasts as long as
                // its connection), and fails if it ends without having answered.
                let mut reading = std::pin::pin!(read());
                let mut answered = false;
                let result = loop {
                    tokio::select! {
                        result = &mut reading => break result,
                        () = tokio::time::sleep(std::time::Duration::from_millis(50)), if !answered => {
                            answered = connection.is_up();
                            if answered {
                                breaker.record(true);
                            }
                        }
                    }
                };
                if !answered {
                    breaker.record(connection.is_up());
                }
                result
            }
        };
        match result {
            Ok(()) => return,
            Err(err) => {
                let delay = pause.after_failure();
                let source = connection.name();
                metrics::counter!("sluice_source_errors_total", "source" => source.to_owned())
                    .increment(1);
                tracing::warn!(source, %err, retry_in = ?delay, "source cannot read; reconnecting");
                connection.down(&err);
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}
