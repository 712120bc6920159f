//! The rescuer: takes back jobs whose worker's lease expired (any worker may rescue any job: a
//! live worker's lease never expires, so a rescue never races it).

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::metrics;
use crate::worker::state::{Inner, nap};

pub(crate) async fn rescue_loop(inner: Arc<Inner>, stop: CancellationToken) {
    while nap(inner.rescue_every, &stop).await {
        match inner.call("rescue", inner.store.rescue()).await {
            Ok(ids) if !ids.is_empty() => {
                metrics::rescued(ids.len());
                tracing::warn!(jobs = ?ids, "rescued jobs whose worker stopped renewing its lease");
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot rescue jobs");
            }
        }
    }
}
