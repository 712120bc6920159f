//! Claiming: each queue's loops take jobs from the store while the queue has free slots, and
//! hand each to [`execute`](super::execute).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::config::QueueConfig;
use super::execute::{Finished, execute};
use super::state::{Inner, Slots, nap};
use sluice_core::policy::Reconnect;

use crate::store::ClaimParams;

/// The most jobs one claim asks for.
pub(crate) const MAX_CLAIM: usize = 500;

/// Queues with at least this many slots claim with two loops (on stores that take concurrent
/// claims), so that one claim is on its way to the store while the jobs of the other start.
pub(crate) const TWO_CLAIMERS: usize = 16;

/// The longest a claim loop under a backlog waits for more free slots before claiming.
const CLAIM_GATHER: Duration = Duration::from_millis(1);

/// Claims jobs of `queue` while it has free slots and runs them.
pub(super) async fn claim_loop(
    inner: Arc<Inner>,
    queue: QueueConfig,
    slots: Slots,
    stop: CancellationToken,
    done: mpsc::UnboundedSender<Finished>,
    tasks: TaskTracker,
) {
    let permits = slots.held.clone();
    let mut backoff = Reconnect::default();
    // Whether the last claim got all it asked for: the queue has a backlog.
    let mut backlog = false;
    loop {
        let first = tokio::select! {
            () = stop.cancelled() => return,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
        };
        if let Some(rate) = &queue.rate_limit {
            tokio::select! {
                () = stop.cancelled() => return,
                () = rate.acquire() => {}
            }
        }
        if backlog {
            // Under a backlog, wait a moment for a quarter of the slots to be free, so that
            // claims come in batches rather than one job per store call.
            let quarter =
                u32::try_from((queue.concurrency + queue.prefetch) / 4).unwrap_or(u32::MAX);
            let gathered = tokio::time::timeout(
                CLAIM_GATHER,
                permits.acquire_many(quarter.saturating_sub(1)),
            )
            .await;
            drop(gathered);
        }
        let mut held = vec![first];
        while held.len() < MAX_CLAIM {
            let Ok(permit) = permits.clone().try_acquire_owned() else {
                break;
            };
            if queue
                .rate_limit
                .as_ref()
                .is_some_and(|rate| !rate.try_acquire())
            {
                break;
            }
            held.push(permit);
        }
        let params = ClaimParams {
            queue: queue.name.clone(),
            limit: u32::try_from(held.len()).unwrap_or(u32::MAX),
            worker: inner.name.clone(),
            lease: inner.lease,
            partition_limit: queue.partition_limit,
            rate: queue.shared_rate,
        };
        match inner.call("claim", inner.store.claim(params)).await {
            Err(e) => {
                let delay = backoff.after_failure();
                tracing::warn!(queue = %queue.name, error = %e, retry_in = ?delay, "cannot claim jobs");
                drop(held);
                if !nap(delay, &stop).await {
                    return;
                }
            }
            Ok(jobs) => {
                backoff.reset();
                let idle = jobs.is_empty();
                backlog = jobs.len() == held.len();
                // Under a shared rate, a short claim may mean the window is used up: look
                // again when the next one opens, or when woken, whichever comes first.
                let wait = match queue.shared_rate {
                    Some(rate) if !backlog => {
                        let next = rate.next_window(inner.clock.now()) - inner.clock.now();
                        next.to_std().unwrap_or_default().min(queue.poll_interval)
                    }
                    _ => queue.poll_interval,
                };
                for (job, permit) in jobs.into_iter().zip(held) {
                    let inner = inner.clone();
                    let done = done.clone();
                    let slots = slots.clone();
                    tasks.spawn(async move {
                        execute(&inner, job, &slots, &done).await;
                        drop(permit);
                    });
                }
                if idle {
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = inner.store.wait(&queue.name, wait) => {}
                    }
                }
            }
        }
    }
}
