//! Waking waiting workers: a connection `LISTEN`s for the `NOTIFY` an enqueue sends when its
//! transaction commits, and counts notifications per queue; without that connection, waits
//! poll.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sluice_core::policy::Reconnect;
use sqlx::postgres::{PgListener, PgPool};
use tokio::sync::Notify;

/// Notifications received, counted per queue, and what each waiting queue has seen.
#[derive(Default)]
pub(super) struct Wakes {
    state: Mutex<WakeState>,
    notify: Notify,
}

#[derive(Default)]
struct WakeState {
    /// Whether a listener task runs.
    listening: bool,
    /// Whether its connection is up (waits poll while it is not).
    connected: bool,
    /// Notifications per queue; a reconnect counts as one for every queue.
    received: HashMap<String, u64>,
    reconnects: u64,
    seen: HashMap<String, (u64, u64)>,
}

impl Wakes {
    /// Waits until `queue` may have new jobs since its last wait, or `timeout` passes; polls
    /// while no connection listens.
    pub(super) async fn wait(
        self: &Arc<Wakes>,
        pool: &PgPool,
        prefix: &str,
        queue: &str,
        timeout: Duration,
    ) {
        self.ensure_listener(pool, prefix);
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let connected = {
                let mut state = self
                    .state
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let now = (
                    state.received.get(queue).copied().unwrap_or(0),
                    state.reconnects,
                );
                let before = state.seen.insert(queue.to_owned(), now);
                if before.is_some_and(|b| b != now) {
                    return;
                }
                state.connected
            };
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            if remaining.is_zero() {
                return;
            }
            // Without a listening connection, poll.
            let nap = if connected {
                remaining
            } else {
                remaining.min(Duration::from_millis(250))
            };
            tokio::select! {
                () = notified => {}
                () = tokio::time::sleep(nap) => {
                    if !connected {
                        return;
                    }
                }
            }
        }
    }

    /// Starts the task that listens for enqueue notifications, once.
    fn ensure_listener(self: &Arc<Wakes>, pool: &PgPool, prefix: &str) {
        {
            let mut state = self
                .state
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if state.listening {
                return;
            }
            state.listening = true;
        }
        let pool = pool.clone();
        let prefix = prefix.to_owned();
        let wakes = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut pause = Reconnect::default();
            while wakes.strong_count() > 0 {
                if let Err(e) = listen(&pool, &prefix, &wakes).await {
                    tracing::warn!(error = %e, "job notifications lost; polling until reconnected");
                }
                if let Some(wakes) = wakes.upgrade() {
                    let mut state = wakes
                        .state
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    if state.connected {
                        // It was listening: reconnect quickly.
                        pause.reset();
                    }
                    state.connected = false;
                    state.reconnects += 1;
                    drop(state);
                    wakes.notify.notify_waiters();
                }
                tokio::time::sleep(pause.after_failure()).await;
            }
        });
    }
}

/// Listens for notifications that begin with `prefix` and counts them per queue until the
/// connection breaks or the store is dropped.
async fn listen(
    pool: &PgPool,
    prefix: &str,
    wakes: &std::sync::Weak<Wakes>,
) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.ignore_pool_close_event(true);
    listener.listen("sluice_jobs").await?;
    if let Some(wakes) = wakes.upgrade() {
        let mut state = wakes
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        state.connected = true;
        // Notifications sent while no one listened are lost: wake everyone once.
        state.reconnects += 1;
        drop(state);
        wakes.notify.notify_waiters();
    }
    loop {
        let Some(notification) = listener.try_recv().await? else {
            return Ok(());
        };
        let Some(wakes) = wakes.upgrade() else {
            return Ok(());
        };
        let Some(queue) = notification.payload().strip_prefix(prefix) else {
            continue;
        };
        let mut state = wakes
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *state.received.entry(queue.to_owned()).or_default() += 1;
        drop(state);
        wakes.notify.notify_waiters();
    }
}
