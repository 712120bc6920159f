//! Helpers shared by the end-to-end tests.

#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sluice_core::{AckToken, Acked, Outcome};

/// Records the final outcome reported for each item id.
#[derive(Clone, Default)]
pub struct AckLog {
    seen: Arc<Mutex<HashMap<u64, Vec<Outcome>>>>,
}

impl AckLog {
    /// A tracked item with id `id`.
    pub fn item<T>(&self, id: u64, item: T) -> Acked<T> {
        let seen = Arc::clone(&self.seen);
        Acked::new(
            item,
            AckToken::new(move |o| seen.lock().expect("lock").entry(id).or_default().push(o)),
        )
    }

    /// Each id's outcomes.
    pub fn outcomes(&self) -> HashMap<u64, Vec<Outcome>> {
        self.seen.lock().expect("lock").clone()
    }

    /// The one outcome of `id`, asserting it was reported exactly once.
    pub fn outcome(&self, id: u64) -> Outcome {
        let all = self.outcomes();
        let got = all.get(&id).cloned().unwrap_or_default();
        assert_eq!(got.len(), 1, "item {id} acked {} times: {got:?}", got.len());
        got[0]
    }

    /// Asserts that ids `0..n` were each acked exactly once, and returns a count per outcome.
    pub fn exactly_once(&self, n: u64) -> HashMap<Outcome, usize> {
        let all = self.outcomes();
        assert_eq!(all.len() as u64, n, "every item acked");
        let mut counts = HashMap::new();
        for id in 0..n {
            *counts.entry(self.outcome(id)).or_default() += 1;
        }
        counts
    }
}

/// A stream of `n` tracked integers `0..n`.
pub fn acked_range(
    log: &AckLog,
    n: u64,
) -> impl futures::Stream<Item = Acked<u64>> + Send + 'static {
    let items: Vec<_> = (0..n).map(|i| log.item(i, i)).collect();
    futures::stream::iter(items)
}
