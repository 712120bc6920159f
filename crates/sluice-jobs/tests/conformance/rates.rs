//! Conformance cases of rates shared by every worker: of a whole queue, of each kind and of
//! each partition key, exact however claimers race, window after window.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use sluice_jobs::store::{ClaimParams, Outcome, RateScope, SharedRate};
use sluice_jobs::{Job, NewJob};

use super::{Harness, claim, done};

/// Four handles on the store claim 3 jobs at once, 6 times each, with `params`: every job they
/// started.
async fn race(h: &Harness, params: &ClaimParams) -> Vec<Job> {
    let mut tasks = Vec::new();
    for w in 0..4 {
        let store = (h.reopen)().await;
        let params = ClaimParams {
            worker: format!("w{w}"),
            ..params.clone()
        };
        tasks.push(tokio::spawn(async move {
            let mut claimed = Vec::new();
            for _ in 0..6 {
                claimed.extend(store.claim(params.clone()).await.expect("claim"));
            }
            claimed
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("task"));
    }
    all
}

/// How many of `jobs` there are of each value of `by`.
fn count_by(jobs: &[Job], by: impl Fn(&Job) -> String) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for job in jobs {
        *counts.entry(by(job)).or_insert(0) += 1;
    }
    counts
}

fn rated(rate: SharedRate) -> ClaimParams {
    ClaimParams {
        rate: Some(rate),
        ..claim("default", 3, "w")
    }
}

/// Four handles claim at once under a shared rate of 10 a minute: together they start 10 jobs
/// in the window, however they race, and 10 more in the next.
pub(crate) async fn shared_rates_hold_across_claimers(h: Harness) {
    h.store
        .enqueue((0..100).map(|i| NewJob::new("k", json!(i))).collect())
        .await
        .expect("enqueue");
    let params = rated(SharedRate::new(10, Duration::from_secs(60)));
    assert_eq!(
        race(&h, &params).await.len(),
        10,
        "10 in the first window, across every claimer"
    );
    h.clock.advance(Duration::from_secs(60));
    assert_eq!(race(&h, &params).await.len(), 10, "10 more in the next");
    let unrated = h
        .store
        .claim(claim("default", 5, "w"))
        .await
        .expect("claim");
    assert_eq!(
        unrated.len(),
        5,
        "a claim without the rate is not held back"
    );
}

/// Under a rate of 4 a minute per kind, racing claimers start 4 `sms` and 4 `mail` jobs in each
/// window, though the `sms` jobs come first in the queue.
pub(crate) async fn rates_per_kind_hold_across_claimers(h: Harness) {
    let jobs = (0..30)
        .map(|i| NewJob::new("sms", json!(i)).priority(1))
        .chain((0..30).map(|i| NewJob::new("mail", json!(i))))
        .collect();
    h.store.enqueue(jobs).await.expect("enqueue");
    let params = rated(SharedRate::new(4, Duration::from_secs(60)).by(RateScope::Kind));
    let expected = BTreeMap::from([("mail".to_owned(), 4), ("sms".to_owned(), 4)]);
    let kinds = |jobs: &[Job]| count_by(jobs, |j| j.kind.clone());
    assert_eq!(kinds(&race(&h, &params).await), expected, "first window");
    h.clock.advance(Duration::from_secs(60));
    assert_eq!(kinds(&race(&h, &params).await), expected, "next window");
}

/// Under a rate of 3 a minute per partition key and a partition limit of 2, a flooding key
/// starts 2 (its running limit), the next key 2, and jobs without a key are not held back; once
/// the flooding key's jobs end, it starts the 1 its window has left.
pub(crate) async fn rates_per_key_leave_other_keys_alone(h: Harness) {
    let jobs = (0..40)
        .map(|i| NewJob::new("k", json!(i)).partition_key("acme").priority(1))
        .chain((0..5).map(|i| NewJob::new("k", json!(i)).partition_key("umbrella")))
        .chain((0..5).map(|i| NewJob::new("k", json!(i))))
        .collect();
    h.store.enqueue(jobs).await.expect("enqueue");
    let params = ClaimParams {
        partition_limit: Some(2),
        ..rated(SharedRate::new(3, Duration::from_secs(60)).by(RateScope::PartitionKey))
    };
    let keys = |jobs: &[Job]| count_by(jobs, |j| j.partition_key.clone().unwrap_or_default());
    let started = race(&h, &params).await;
    assert_eq!(
        keys(&started),
        BTreeMap::from([
            (String::new(), 5),
            ("acme".to_owned(), 2),
            ("umbrella".to_owned(), 2)
        ])
    );
    let ended = started
        .iter()
        .map(|j| {
            done(
                j.id,
                j.worker.as_deref().unwrap_or_default(),
                Outcome::Succeeded,
            )
        })
        .collect();
    h.store.complete(ended).await.expect("complete");
    assert_eq!(
        keys(&race(&h, &params).await),
        BTreeMap::from([("acme".to_owned(), 1), ("umbrella".to_owned(), 1)]),
        "each key starts what its window has left"
    );
    h.clock.advance(Duration::from_secs(60));
    assert_eq!(
        keys(&race(&h, &params).await),
        BTreeMap::from([("acme".to_owned(), 1), ("umbrella".to_owned(), 1)]),
        "the next window: each key's running limit holds (1 still runs)"
    );
}
