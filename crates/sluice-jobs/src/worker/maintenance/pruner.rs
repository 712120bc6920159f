//! The pruner: deletes finished jobs after their retention, in batches.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::job::JobState;
use crate::store::PruneParams;
use crate::worker::Retention;
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
        let ago = |keep: Duration| {
            inner.clock.now() - chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::MAX)
        };
        for target in targets {
            let params = PruneParams {
                states: vec![target.state],
                finished_before: ago(target.keep),
                queue: target.queue,
                kind: target.kind,
                except_kinds: target.except_kinds,
                limit: PRUNE_BATCH,
            };
            in_batches(&inner, &stop, "jobs", || inner.store.prune(params.clone())).await;
        }
        // A batch is kept as long as the longest kept of its jobs could be.
        if let Some(keep) = inner.retention.iter().map(|r| r.keep).max() {
            let before = ago(keep);
            in_batches(&inner, &stop, "batches", || {
                inner.store.prune_batches(before, PRUNE_BATCH)
            })
            .await;
        }
    }
}

/// Calls `prune` until it deletes less than a batch, the worker stops, or it fails.
async fn in_batches<F, Fut>(inner: &Inner, stop: &CancellationToken, what: &str, mut prune: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<u64, crate::store::StoreError>>,
{
    loop {
        match inner.call("prune", prune()).await {
            Ok(n) if n >= u64::from(PRUNE_BATCH) && !stop.is_cancelled() => {}
            Ok(_) => break,
            Err(e) => {
                tracing::warn!(error = %e, "cannot prune finished {what}");
                break;
            }
        }
    }
}

/// One prune the pruner runs: jobs in `state` older than `keep`, of a queue or kind (or all),
/// but none of `except_kinds`.
#[derive(Debug, PartialEq)]
struct Target {
    state: JobState,
    queue: Option<String>,
    kind: Option<String>,
    except_kinds: Vec<String>,
    keep: Duration,
}

/// What to prune. A kind's rule prunes its jobs in every queue, and the other rules for that
/// state leave them alone. Rules for every queue apply to all queues at once, unless some queue
/// has a rule of its own for that state; then each queue is pruned under its own rule or the
/// general one.
async fn prune_targets(inner: &Inner) -> Result<Vec<Target>, crate::store::StoreError> {
    let queues = if inner.retention.iter().any(|r| r.queue.is_some()) {
        inner
            .call("prune", inner.store.stats())
            .await?
            .into_iter()
            .map(|s| s.queue)
            .collect()
    } else {
        Vec::new()
    };
    Ok(targets(&inner.retention, &queues))
}

/// The prunes `rules` call for, given the store's `queues` (needed only when a queue has a rule
/// of its own).
fn targets(rules: &[Retention], queues: &[String]) -> Vec<Target> {
    let kinds_apart = |state: JobState| -> Vec<String> {
        rules
            .iter()
            .filter(|r| r.state == state)
            .filter_map(|r| r.kind.clone())
            .collect()
    };
    let mut targets: Vec<Target> = rules
        .iter()
        .filter_map(|r| {
            Some(Target {
                state: r.state,
                queue: None,
                kind: Some(r.kind.clone()?),
                except_kinds: Vec::new(),
                keep: r.keep,
            })
        })
        .collect();
    let by_queue: HashSet<JobState> = rules
        .iter()
        .filter(|r| r.queue.is_some())
        .map(|r| r.state)
        .collect();
    for rule in rules
        .iter()
        .filter(|r| r.kind.is_none() && r.queue.is_none() && !by_queue.contains(&r.state))
    {
        targets.push(Target {
            state: rule.state,
            queue: None,
            kind: None,
            except_kinds: kinds_apart(rule.state),
            keep: rule.keep,
        });
    }
    for state in by_queue {
        for queue in queues {
            let rule = rules
                .iter()
                .filter(|r| r.state == state && r.kind.is_none())
                .find(|r| r.queue.as_deref() == Some(queue.as_str()))
                .or_else(|| {
                    rules
                        .iter()
                        .find(|r| r.state == state && r.kind.is_none() && r.queue.is_none())
                });
            if let Some(rule) = rule {
                targets.push(Target {
                    state,
                    queue: Some(queue.clone()),
                    kind: None,
                    except_kinds: kinds_apart(state),
                    keep: rule.keep,
                });
            }
        }
    }
    targets
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(state: JobState, queue: Option<&str>, kind: Option<&str>, secs: u64) -> Retention {
        Retention {
            state,
            queue: queue.map(str::to_owned),
            kind: kind.map(str::to_owned),
            keep: Duration::from_secs(secs),
        }
    }

    #[test]
    fn kinds_are_pruned_by_their_own_rules_and_left_alone_by_others() {
        let rules = [
            rule(JobState::Succeeded, None, None, 60),
            rule(JobState::Succeeded, Some("mail"), None, 0),
            rule(JobState::Succeeded, None, Some("report"), 3600),
            rule(JobState::Dead, None, None, 600),
        ];
        let targets = targets(&rules, &["mail".to_owned(), "default".to_owned()]);
        let report = vec!["report".to_owned()];
        assert!(targets.contains(&Target {
            state: JobState::Succeeded,
            queue: None,
            kind: Some("report".to_owned()),
            except_kinds: Vec::new(),
            keep: Duration::from_secs(3600),
        }));
        for (queue, keep) in [("mail", 0), ("default", 60)] {
            assert!(
                targets.contains(&Target {
                    state: JobState::Succeeded,
                    queue: Some(queue.to_owned()),
                    kind: None,
                    except_kinds: report.clone(),
                    keep: Duration::from_secs(keep),
                }),
                "{queue}: {targets:?}"
            );
        }
        assert!(targets.contains(&Target {
            state: JobState::Dead,
            queue: None,
            kind: None,
            except_kinds: Vec::new(),
            keep: Duration::from_secs(600),
        }));
        assert_eq!(targets.len(), 4);
    }
}
