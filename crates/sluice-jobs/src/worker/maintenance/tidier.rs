//! The tidier: has the store clean up after the jobs that churn through it (on PostgreSQL, a
//! vacuum of the jobs table once enough rows died), checking every [`TIDY_EVERY`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::metrics;
use crate::worker::state::{Inner, nap};

/// How often the worker asks the store whether it needs tidying: often enough that a backlog
/// worked at tens of thousands of jobs a second leaves no more than a few hundred thousand
/// dead rows behind.
const TIDY_EVERY: Duration = Duration::from_secs(2);

pub(crate) async fn tidy_loop(inner: Arc<Inner>, stop: CancellationToken) {
    while nap(TIDY_EVERY, &stop).await {
        let started = Instant::now();
        match inner.call("tidy", inner.store.tidy()).await {
            Ok(true) => {
                metrics::tidied();
                tracing::debug!(took = ?started.elapsed(), "tidied the job store");
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "cannot tidy the job store"),
        }
    }
}
