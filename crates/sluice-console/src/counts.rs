//! The job counts per queue and state that the overview shows, read from the store at most
//! once a second however many pages watch it. Counting every job of a large store takes a
//! while (a quarter to half a second per million jobs), so a request is answered from the last
//! count while a fresher one is taken in the background; a change made through the console
//! forgets the count, so the next request counts again and shows the change.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sluice_jobs::Store;
use sluice_jobs::store::QueueStats;

use crate::api::ApiError;

/// A count younger than this is served as it is.
const FRESH: Duration = Duration::from_secs(1);

/// The last count, and whether a fresher one is being taken.
#[derive(Default)]
pub(crate) struct Counts {
    last: Mutex<Option<Count>>,
    counting: AtomicBool,
}

#[derive(Clone)]
struct Count {
    taken: Instant,
    at: DateTime<Utc>,
    stats: Arc<Vec<QueueStats>>,
}

impl Counts {
    /// The counts and when they were taken: the last ones, a fresher count started in the
    /// background if they are over a second old; counted now if there are none.
    pub(crate) async fn get(
        self: &Arc<Self>,
        store: &Arc<dyn Store>,
    ) -> Result<(Arc<Vec<QueueStats>>, DateTime<Utc>), ApiError> {
        let last = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        match last {
            Some(count) => {
                if count.taken.elapsed() > FRESH && !self.counting.swap(true, Ordering::AcqRel) {
                    let (counts, store) = (self.clone(), store.clone());
                    tokio::spawn(async move {
                        if let Err(e) = counts.count(store.as_ref()).await {
                            tracing::warn!(error = %e, "console: cannot count jobs");
                        }
                        counts.counting.store(false, Ordering::Release);
                    });
                }
                Ok((count.stats, count.at))
            }
            None => {
                let count = self.count(store.as_ref()).await?;
                Ok((count.stats, count.at))
            }
        }
    }

    /// Forgets the last count: the next request counts again.
    pub(crate) fn forget(&self) {
        *self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    async fn count(&self, store: &dyn Store) -> Result<Count, sluice_jobs::StoreError> {
        let at = Utc::now();
        let taken = Instant::now();
        let stats = Arc::new(store.queue_stats().await?);
        let count = Count { taken, at, stats };
        *self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(count.clone());
        Ok(count)
    }
}
