//! The pruner: deletes finished jobs after their retention, in batches.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::job::JobState;
use crate::store::PruneParams;
use crate::worker::state::{Inner, nap};

/// The most jobs one prune call deletes.
const PRUNE_BATCH: u32 = 1000;

pub(crate) async fn prune_loop(inner: Arc<Inner>, stop: CancellationToken) {
    if inner.retention.is_empty() {
        return;
    }
    while nap(inner.prune_every, &stop).await {
        let targets = match prune_targets(&inner).await {
            Ok(targets) => targets,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list queues to prune");
                continue;
            }
        };
        for (state, queue, keep) in targets {
            let params = PruneParams {
                states: vec![state],
                finished_before: inner.clock.now()
                    - chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::MAX),
                queue,
                limit: PRUNE_BATCH,
            };
            loop {
                match inner.call("prune", inner.store.prune(params.clone())).await {
                    Ok(n) if n >= u64::from(PRUNE_BATCH) && !stop.is_cancelled() => {}
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot prune finished jobs");
                        break;
                    }
                }
            }
        }
    }
}

/// What to prune: `(state, queue, keep)`. Rules for every queue apply to all queues at once,
/// unless some queue has a rule of its own for that state; then each queue is pruned under
/// its own rule or the general one.
async fn prune_targets(
    inner: &Inner,
) -> Result<Vec<(JobState, Option<String>, Duration)>, crate::store::StoreError> {
    let overridden: HashSet<JobState> = inner
        .retention
        .iter()
        .filter(|r| r.queue.is_some())
        .map(|r| r.state)
        .collect();
    let mut targets: Vec<(JobState, Option<String>, Duration)> = inner
        .retention
        .iter()
        .filter(|r| r.queue.is_none() && !overridden.contains(&r.state))
        .map(|r| (r.state, None, r.keep))
        .collect();
    if overridden.is_empty() {
        return Ok(targets);
    }
    let queues: Vec<String> = inner
        .call("prune", inner.store.stats())
        .await?
        .into_iter()
        .map(|s| s.queue)
        .collect();
    for state in overridden {
        for queue in &queues {
            if let Some(rule) = inner.retention_for(queue, state) {
                targets.push((state, Some(queue.clone()), rule.keep));
            }
        }
    }
    Ok(targets)
}
