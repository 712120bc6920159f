//! The sampler: publishes the store's job counts per queue and state, and which queues are
//! paused, as gauges.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::metrics;
use crate::worker::state::{Inner, nap};

pub(crate) async fn stats_loop(inner: Arc<Inner>, stop: CancellationToken) {
    loop {
        match inner.call("stats", inner.store.pending_queue_stats()).await {
            Ok(stats) => metrics::states(&stats),
            Err(e) => {
                tracing::debug!(error = %e, "cannot read job counts");
            }
        }
        if !nap(inner.stats_every, &stop).await {
            return;
        }
    }
}
