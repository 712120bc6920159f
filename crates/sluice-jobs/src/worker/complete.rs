//! Recording: completions go to the store in batches, retried while it is away.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use sluice_core::policy::Reconnect;
use tokio::sync::{OwnedSemaphorePermit, mpsc};

use super::execute::Finished;
use super::state::Inner;
use crate::store::Completion;

/// The most completions sent to the store at once.
const MAX_COMPLETE: usize = 1000;

/// Sends completions to the store in batches, retrying while it is away, until every sender is
/// gone and all are recorded.
pub(super) async fn complete_loop(inner: Arc<Inner>, mut done: mpsc::UnboundedReceiver<Finished>) {
    let mut batch: Vec<Completion> = Vec::new();
    let mut slots: Vec<OwnedSemaphorePermit> = Vec::new();
    let mut backoff = Reconnect::default();
    loop {
        if batch.is_empty() {
            match done.recv().await {
                Some((completion, slot)) => {
                    batch.push(completion);
                    slots.push(slot);
                }
                None => return,
            }
        }
        while batch.len() < MAX_COMPLETE {
            match done.try_recv() {
                Ok((completion, slot)) => {
                    batch.push(completion);
                    slots.push(slot);
                }
                Err(_) => break,
            }
        }
        match inner
            .call("complete", inner.store.complete(batch.clone()))
            .await
        {
            Ok(_) => {
                batch.clear();
                slots.clear();
                backoff.reset();
            }
            Err(e) => {
                let delay = backoff.after_failure();
                inner
                    .counters
                    .unrecorded
                    .store(batch.len() as u64, Ordering::Relaxed);
                tracing::warn!(error = %e, pending = batch.len(), retry_in = ?delay, "cannot record finished jobs");
                tokio::time::sleep(delay).await;
                continue;
            }
        }
        inner.counters.unrecorded.store(0, Ordering::Relaxed);
    }
}
