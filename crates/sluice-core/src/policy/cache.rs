//! Caching call results by key, with a size bound and a time to live (the `moka` crate).
//!
//! Concurrent misses on one key are coalesced: one item makes the call, the others wait for
//! its result. Failed calls are not cached.

use std::fmt;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::error::ItemError;

/// A bounded, expiring cache of call results; clones share entries and counters.
pub struct Cache<K, V> {
    entries: moka::future::Cache<K, V>,
    hits: Arc<AtomicU64>,
    misses: Arc<AtomicU64>,
}

impl<K, V> Clone for Cache<K, V> {
    fn clone(&self) -> Self {
        Cache {
            entries: self.entries.clone(),
            hits: Arc::clone(&self.hits),
            misses: Arc::clone(&self.misses),
        }
    }
}

impl<K, V> Cache<K, V> {
    /// Lookups answered from the cache.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Lookups that made the call.
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }
}

impl<K, V> fmt::Debug for Cache<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("hits", &self.hits())
            .field("misses", &self.misses())
            .finish()
    }
}

impl<K, V> Cache<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// At most `max_entries` results, each kept for `ttl`.
    pub fn new(max_entries: u64, ttl: Duration) -> Cache<K, V> {
        Cache {
            entries: moka::future::Cache::builder()
                .max_capacity(max_entries)
                .time_to_live(ttl)
                .build(),
            hits: Arc::new(AtomicU64::new(0)),
            misses: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The cached value for `key`, or the result of `call` (cached when it succeeds), with the
    /// attempt count and whether it was a hit.
    pub(crate) async fn get_or_call(
        &self,
        key: K,
        call: impl Future<Output = (Result<V, ItemError>, u32)>,
    ) -> (Result<V, ItemError>, u32, bool) {
        let init = async {
            match call.await {
                (Ok(v), _) => Ok(v),
                (Err(e), attempts) => Err((e, attempts)),
            }
        };
        match self.entries.entry(key).or_try_insert_with(init).await {
            Ok(entry) => {
                let hit = !entry.is_fresh();
                let counter = if hit { &self.hits } else { &self.misses };
                counter.fetch_add(1, Ordering::Relaxed);
                (Ok(entry.into_value()), u32::from(!hit), hit)
            }
            Err(shared) => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                match Arc::try_unwrap(shared) {
                    Ok((err, attempts)) => (Err(err), attempts, false),
                    Err(shared) => (
                        Err(ItemError::user(shared.0.chain().join(": "))),
                        shared.1,
                        false,
                    ),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn caches_successes_only() {
        let cache: Cache<u32, String> = Cache::new(100, Duration::from_secs(60));
        let (v, attempts, hit) = cache
            .get_or_call(1, async { (Ok("one".to_owned()), 1) })
            .await;
        assert_eq!(
            (v.expect("ok"), attempts, hit),
            ("one".to_owned(), 1, false)
        );
        let (v, _, hit) = cache
            .get_or_call(1, async { (Ok("other".to_owned()), 1) })
            .await;
        assert_eq!((v.expect("ok"), hit), ("one".to_owned(), true));

        let (v, attempts, _) = cache
            .get_or_call(2, async { (Err(ItemError::CircuitOpen), 3) })
            .await;
        assert!(v.is_err());
        assert_eq!(attempts, 3);
        let (v, _, hit) = cache
            .get_or_call(2, async { (Ok("two".to_owned()), 1) })
            .await;
        assert_eq!((v.expect("ok"), hit), ("two".to_owned(), false));
        assert_eq!((cache.hits(), cache.misses()), (1, 3));
    }
}
