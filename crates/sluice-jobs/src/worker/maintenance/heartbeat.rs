//! The heartbeat: every third of the lease, renews the leases of the jobs this worker runs, and
//! stops the handlers of jobs that were cancelled or taken away.

use std::collections::HashSet;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::job::JobId;
use crate::store::HeartbeatParams;
use crate::worker::state::{Inner, Stop, nap};

pub(crate) async fn heartbeat_loop(inner: Arc<Inner>, stop: CancellationToken) {
    let every = inner.lease / 3;
    while nap(every, &stop).await {
        let ids: Vec<JobId> = {
            let running = inner
                .running
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            running.keys().copied().collect()
        };
        if ids.is_empty() {
            continue;
        }
        let params = HeartbeatParams {
            worker: &inner.name,
            ids: &ids,
            lease: inner.lease,
        };
        let beat = match inner.call("heartbeat", inner.store.heartbeat(params)).await {
            Ok(beat) => beat,
            Err(e) => {
                tracing::warn!(error = %e, jobs = ids.len(), "cannot renew leases");
                continue;
            }
        };
        let held: HashSet<JobId> = beat.held.iter().copied().collect();
        let running = inner
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for id in beat.cancel {
            if let Some(job) = running.get(&id) {
                let _ = job.stop.set(Stop::Cancelled);
                job.token.cancel();
            }
        }
        for id in ids.iter().filter(|id| !held.contains(id)) {
            if let Some(job) = running.get(id) {
                let _ = job.stop.set(Stop::LostLease);
                job.token.cancel();
            }
        }
    }
}
