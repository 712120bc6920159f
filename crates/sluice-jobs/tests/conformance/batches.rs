//! Conformance cases of batches: their jobs are counted on every path a job can end by, and
//! their callbacks are enqueued once, when the batch is closed and every job has ended.

use std::time::Duration;

use serde_json::{Value, json};
use sluice_jobs::batch::{Batch, BatchId};
use sluice_jobs::store::{Cancelled, Completion, ListParams, Outcome, StoreError};
use sluice_jobs::{Job, JobId, NewJob, Store};

use super::{Harness, claim, done};

/// The callbacks enqueued so far, in queue `callbacks`, oldest first.
async fn callbacks(store: &dyn Store) -> Vec<Job> {
    let mut jobs = store
        .list(ListParams {
            queue: Some("callbacks".to_owned()),
            limit: 100,
            ..ListParams::default()
        })
        .await
        .expect("list");
    jobs.reverse();
    jobs
}

fn callback(kind: &str) -> NewJob {
    NewJob::new(kind, json!({"campaign": 7})).queue("callbacks")
}

fn jobs(n: usize) -> Vec<NewJob> {
    (0..n)
        .map(|i| NewJob::new("email", json!({"user": i})))
        .collect()
}

/// Claims every available job of the default queue for `w`; returns their ids.
async fn claim_all(store: &dyn Store, w: &str) -> Vec<JobId> {
    store
        .claim(claim("default", 100, w))
        .await
        .expect("claim")
        .into_iter()
        .map(|j| j.id)
        .collect()
}

async fn progress(store: &dyn Store, id: BatchId) -> (u64, u64, u64, bool, usize) {
    let status = store.batch(id).await.expect("batch").expect("it exists");
    (
        status.total,
        status.ended,
        status.succeeded,
        status.open,
        status.callbacks.enqueued.len(),
    )
}

pub(crate) async fn batch_callbacks_fire_once_when_every_job_ended(h: Harness) {
    let store = h.store.as_ref();
    let batch = Batch::new(jobs(3))
        .description("welcome emails")
        .on_success(callback("celebrate"))
        .on_complete(callback("report"));
    let enqueued = store.enqueue_batch(batch).await.expect("enqueue batch");
    assert_eq!(enqueued.jobs.len(), 3);
    let member = store
        .get(enqueued.jobs[0])
        .await
        .expect("get")
        .expect("job");
    assert_eq!(member.batch, Some(enqueued.id));
    let status = store
        .batch(enqueued.id)
        .await
        .expect("batch")
        .expect("exists");
    assert_eq!(status.description.as_deref(), Some("welcome emails"));
    assert!(status.callbacks.on_success && status.callbacks.on_complete);
    assert_eq!(progress(store, enqueued.id).await, (3, 0, 0, false, 0));

    let ids = claim_all(store, "w").await;
    store
        .complete(vec![
            done(ids[0], "w", Outcome::Succeeded),
            done(ids[1], "w", Outcome::Succeeded),
        ])
        .await
        .expect("complete");
    assert_eq!(progress(store, enqueued.id).await, (3, 2, 2, false, 0));
    assert!(callbacks(store).await.is_empty(), "not done yet");
    store
        .complete(vec![done(
            ids[2],
            "w",
            Outcome::Failed {
                error: "bounced".into(),
                retry_at: None,
            },
        )])
        .await
        .expect("complete");
    assert_eq!(progress(store, enqueued.id).await, (3, 3, 2, false, 1));
    let fired = callbacks(store).await;
    assert_eq!(fired.len(), 1, "on_complete only: a job died");
    assert_eq!(
        (fired[0].kind.as_str(), &fired[0].args),
        ("report", &json!({"campaign": 7, "batch": enqueued.id}))
    );
    let status = store
        .batch(enqueued.id)
        .await
        .expect("batch")
        .expect("exists");
    assert_eq!(status.callbacks.enqueued, vec![fired[0].id]);
    assert!(status.finished_at.is_some());

    // Every job succeeds, one of them deleted as it ends: both callbacks.
    let second = store
        .enqueue_batch(
            Batch::new(jobs(2))
                .on_success(callback("celebrate"))
                .on_complete(callback("report")),
        )
        .await
        .expect("enqueue batch");
    let ids = claim_all(store, "w").await;
    store
        .complete(vec![
            done(ids[0], "w", Outcome::Succeeded),
            Completion {
                discard: true,
                ..done(ids[1], "w", Outcome::Succeeded)
            },
        ])
        .await
        .expect("complete");
    assert_eq!(progress(store, second.id).await, (2, 2, 2, false, 2));
    let kinds: Vec<String> = callbacks(store).await.into_iter().map(|j| j.kind).collect();
    assert_eq!(kinds, vec!["report", "report", "celebrate"]);
    assert!(store.batch(second.id + 100).await.expect("batch").is_none());
    let listed: Vec<(BatchId, u64)> = store
        .batches(10)
        .await
        .expect("batches")
        .into_iter()
        .map(|b| (b.id, b.ended))
        .collect();
    assert_eq!(
        listed,
        vec![(second.id, 2), (enqueued.id, 3)],
        "newest first"
    );

    // Done batches are pruned once their time is past; open or running ones never.
    let open = store
        .enqueue_batch(Batch::default().open())
        .await
        .expect("enqueue batch");
    assert_eq!(
        store.prune_batches(h.clock_now(), 10).await.expect("prune"),
        0
    );
    h.clock.advance(Duration::from_secs(1));
    assert_eq!(
        store.prune_batches(h.clock_now(), 1).await.expect("prune"),
        1
    );
    assert_eq!(
        store.prune_batches(h.clock_now(), 10).await.expect("prune"),
        1
    );
    assert!(store.batch(enqueued.id).await.expect("batch").is_none());
    assert!(store.batch(open.id).await.expect("batch").is_some());
}

pub(crate) async fn open_batches_fire_only_once_closed(h: Harness) {
    let store = h.store.as_ref();
    let enqueued = store
        .enqueue_batch(Batch::new(jobs(1)).open().on_complete(callback("report")))
        .await
        .expect("enqueue batch");
    let first = claim_all(store, "w").await;
    store
        .complete(vec![done(first[0], "w", Outcome::Succeeded)])
        .await
        .expect("complete");
    assert_eq!(progress(store, enqueued.id).await, (1, 1, 1, true, 0));
    assert!(callbacks(store).await.is_empty(), "an open batch waits");
    let added = store
        .add_to_batch(enqueued.id, jobs(2))
        .await
        .expect("add to an open batch");
    assert_eq!(added.len(), 2);
    let more = claim_all(store, "w").await;
    let ends = more
        .iter()
        .map(|&id| done(id, "w", Outcome::Succeeded))
        .collect();
    store.complete(ends).await.expect("complete");
    assert_eq!(progress(store, enqueued.id).await, (3, 3, 3, true, 0));
    assert!(
        store.close_batch(enqueued.id).await.expect("close"),
        "it was open"
    );
    assert_eq!(progress(store, enqueued.id).await, (3, 3, 3, false, 1));
    assert!(
        !store.close_batch(enqueued.id).await.expect("close"),
        "closed already"
    );
    assert_eq!(callbacks(store).await.len(), 1, "fired once");
    let refused = store.add_to_batch(enqueued.id, jobs(1)).await;
    assert!(
        matches!(&refused, Err(StoreError::Rejected(why)) if why.contains("closed")),
        "{refused:?}"
    );
    assert!(
        store
            .add_to_batch(enqueued.id + 100, jobs(1))
            .await
            .is_err()
    );

    // Jobs that end before the close: the close fires the batch.
    let empty = store
        .enqueue_batch(Batch::default().open().on_complete(callback("report")))
        .await
        .expect("enqueue batch");
    assert!(store.close_batch(empty.id).await.expect("close"));
    assert_eq!(progress(store, empty.id).await, (0, 0, 0, false, 1));
    let refused = store.enqueue_batch(Batch::new(Vec::new())).await;
    assert!(
        matches!(refused, Err(StoreError::Rejected(_))),
        "{refused:?}"
    );
}

pub(crate) async fn cancelled_and_expired_batch_jobs_count(h: Harness) {
    let store = h.store.as_ref();
    let mut members = jobs(3);
    members[2] = NewJob::new("email", Value::Null).max_attempts(1);
    let enqueued = store
        .enqueue_batch(
            Batch::new(members)
                .on_success(callback("celebrate"))
                .on_complete(callback("report")),
        )
        .await
        .expect("enqueue batch");
    assert_eq!(
        store.cancel(&[enqueued.jobs[0]]).await.expect("cancel"),
        vec![(enqueued.jobs[0], Cancelled::Cancelled)]
    );
    assert_eq!(progress(store, enqueued.id).await, (3, 1, 0, false, 0));
    store
        .claim(claim("default", 100, "gone"))
        .await
        .expect("claim");
    h.clock.advance(Duration::from_secs(31));
    store.rescue().await.expect("rescue");
    assert_eq!(
        progress(store, enqueued.id).await,
        (3, 2, 0, false, 0),
        "the job on its last attempt died; the other is retryable"
    );
    let again = store
        .claim(claim("default", 100, "w"))
        .await
        .expect("claim");
    assert_eq!(again.len(), 1);
    store
        .complete(vec![done(again[0].id, "w", Outcome::Succeeded)])
        .await
        .expect("complete");
    assert_eq!(progress(store, enqueued.id).await, (3, 3, 1, false, 1));
    let kinds: Vec<String> = callbacks(store).await.into_iter().map(|j| j.kind).collect();
    assert_eq!(kinds, vec!["report"]);
}

/// Four workers on their own handles complete a batch's jobs as fast as they claim them: many
/// jobs of one batch end at the same instant, and its callback is still enqueued once.
pub(crate) async fn batch_callbacks_fire_once_under_concurrent_completion(h: Harness) {
    let size = 200;
    let enqueued = h
        .store
        .enqueue_batch(Batch::new(jobs(size)).on_complete(callback("report")))
        .await
        .expect("enqueue batch");
    let mut tasks = Vec::new();
    for w in 0..4 {
        let store = (h.reopen)().await;
        tasks.push(tokio::spawn(async move {
            let worker = format!("w{w}");
            loop {
                let claimed = store
                    .claim(claim("default", 5, &worker))
                    .await
                    .expect("claim");
                if claimed.is_empty() {
                    return;
                }
                let ends = claimed
                    .iter()
                    .map(|j| done(j.id, &worker, Outcome::Succeeded))
                    .collect();
                store.complete(ends).await.expect("complete");
            }
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    let store = h.store.as_ref();
    assert_eq!(
        progress(store, enqueued.id).await,
        (size as u64, size as u64, size as u64, false, 1)
    );
    assert_eq!(callbacks(store).await.len(), 1, "fired exactly once");
}
