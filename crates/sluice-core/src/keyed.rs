//! Keyed state: `key_by` then a running state per key (`scan`, `fold`) or windows per key
//! ([`Keyed::window`]).
//!
//! ```
//! use sluice_core::{Flow, Operators};
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! // Alert when a user's running total passes 100, then start over.
//! let payments = vec![("ann", 60), ("bob", 10), ("ann", 50), ("ann", 5)];
//! let alerts = Flow::from_iter(payments)
//!     .key_by(|p| p.0)
//!     .scan(|_user| 0, |total, (user, amount)| {
//!         *total += amount;
//!         (*total > 100).then(|| { *total = 0; user })
//!     })
//!     .collect()
//!     .await
//!     .expect("ran");
//! assert_eq!(alerts, vec!["ann"]);
//! # }
//! ```
//!
//! State lives in the stage's memory, one entry per key. With a time to live
//! ([`Keyed::ttl`]) an entry not updated for that long is dropped, so memory follows the keys
//! that are active rather than every key ever seen. The state is not persisted: an item that a
//! scan absorbs without emitting is acknowledged as filtered when it is absorbed, and the state
//! it built is lost if the process stops.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::Hash;
use std::time::Duration;

use tokio::time::Instant;

use crate::ack::Outcome;
use crate::batch::Batch;
use crate::context::StageCtx;
use crate::flow::Flow;
use crate::flow::stage::Stage;
use crate::flow::transform::{Slot, Step, apply_batch};

/// Computes an item's key.
pub(crate) type KeyFn<T, K> = Box<dyn FnMut(&T) -> K + Send>;

/// A flow whose items are grouped by a key, waiting for a keyed operator.
#[must_use = "choose a keyed operator (scan, fold, window)"]
pub struct Keyed<T, K> {
    stage: Stage<T>,
    key: KeyFn<T, K>,
    ttl: Option<Duration>,
}

impl<T: Send + 'static, K> Keyed<T, K> {
    /// Groups the items entering `stage` by `key`.
    pub(crate) fn new(stage: Stage<T>, key: KeyFn<T, K>) -> Keyed<T, K> {
        Keyed {
            stage,
            key,
            ttl: None,
        }
    }
}

impl<T: Send + 'static, K: Hash + Eq + Clone + Send + 'static> Keyed<T, K> {
    /// Drops a key's state when it has not been updated for `ttl`.
    pub fn ttl(mut self, ttl: Duration) -> Keyed<T, K> {
        self.ttl = Some(ttl);
        self
    }

    pub(crate) fn into_parts(self) -> (Stage<T>, KeyFn<T, K>) {
        (self.stage, self.key)
    }

    /// Runs `f` on each item with its key's state (made by `init` for a new key); emits what
    /// `f` returns. An item for which `f` returns `None` is acknowledged as filtered.
    pub fn scan<S, O>(
        self,
        init: impl FnMut(&K) -> S + Send + 'static,
        f: impl FnMut(&mut S, T) -> Option<O> + Send + 'static,
    ) -> Flow<O>
    where
        S: Send + 'static,
        O: Send + 'static,
    {
        let ttl = self.ttl;
        let (stage, key) = self.into_parts();
        let (tx, out) = stage.output();
        stage.spawn("scan", move |mut ctx, mut rx| async move {
            let mut scanner = Scanner {
                key,
                init,
                f,
                states: HashMap::new(),
                now: Instant::now(),
            };
            let mut next_sweep = ttl.map(|t| Instant::now() + t / 2);
            while let Some(batch) = rx.recv().await {
                ctx.metrics.received(batch.len());
                scanner.now = Instant::now();
                let out = apply_batch(batch, &mut scanner, &mut ctx);
                if let (Some(ttl), Some(at)) = (ttl, next_sweep)
                    && scanner.now >= at
                {
                    scanner.sweep(ttl);
                    next_sweep = Some(scanner.now + ttl / 2);
                }
                ctx.flush_failures().await;
                ctx.metrics.emitted(out.len());
                if tx.send(out).await.is_err() {
                    break;
                }
            }
        });
        out
    }

    /// Folds each item into its key's state and emits the key with the updated state.
    pub fn fold<S>(
        self,
        mut init: impl FnMut(&K) -> S + Send + 'static,
        mut f: impl FnMut(&mut S, T) + Send + 'static,
    ) -> Flow<(K, S)>
    where
        S: Clone + Send + 'static,
    {
        self.scan(
            move |k| (k.clone(), init(k)),
            move |(k, state), item| {
                f(state, item);
                Some((k.clone(), state.clone()))
            },
        )
    }
}

/// The state of a scan and the functions that drive it.
struct Scanner<K, S, KF, IF, F> {
    key: KF,
    init: IF,
    f: F,
    states: HashMap<K, (S, Instant)>,
    now: Instant,
}

impl<K, S, KF, IF, F> Scanner<K, S, KF, IF, F>
where
    K: Hash + Eq,
{
    fn sweep(&mut self, ttl: Duration) {
        let now = self.now;
        self.states
            .retain(|_, (_, seen)| now.duration_since(*seen) < ttl);
    }
}

impl<T, K, S, O, KF, IF, F> Step<T, O> for Scanner<K, S, KF, IF, F>
where
    K: Hash + Eq + Send,
    S: Send,
    KF: FnMut(&T) -> K + Send,
    IF: FnMut(&K) -> S + Send,
    F: FnMut(&mut S, T) -> Option<O> + Send,
{
    fn item(&mut self, slot: &mut Slot<T>, out: &mut Batch<O>, _: &mut StageCtx<T>) {
        let Some(item) = &slot.item else { return };
        let key = (self.key)(item);
        let state = match self.states.entry(key) {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) => {
                let fresh = (self.init)(v.key());
                v.insert((fresh, self.now))
            }
        };
        state.1 = self.now;
        let Some(item) = slot.item.take() else { return };
        match (self.f)(&mut state.0, item) {
            Some(emitted) => out.push(emitted, slot.take_ack()),
            None => slot.take_ack().complete(Outcome::Filtered),
        }
    }
}
