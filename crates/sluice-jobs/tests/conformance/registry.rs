//! Conformance cases of the registry (paused queues, workers, minute counts, schedule ticks)
//! and of the listing filters the console searches with.

use std::time::Duration;

use chrono::DateTime;
use serde_json::json;
use sluice_jobs::store::registry::{
    KindInfo, MinuteStats, WorkerBeat, WorkerInfo, WorkerQueue, wait_quantile,
};
use sluice_jobs::store::{ArgsMatch, FireParams, ListParams, select};
use sluice_jobs::{JobState, NewJob};

use super::{Harness, claim, enqueue_one};

pub(crate) async fn paused_queues_claim_nothing_until_resumed(h: Harness) {
    let store = h.store.as_ref();
    let other = (h.reopen)().await;
    store
        .enqueue(vec![
            NewJob::new("k", json!(1)).queue("q"),
            NewJob::new("k", json!(2)).queue("q"),
            NewJob::new("k", json!(3)).queue("r"),
        ])
        .await
        .expect("enqueue");
    assert!(store.pause("q").await.expect("pause"), "q was running");
    assert!(
        !store.pause("q").await.expect("pause"),
        "q is paused already"
    );
    assert!(
        other
            .claim(claim("q", 10, "w"))
            .await
            .expect("claim")
            .is_empty(),
        "a paused queue gives nothing, to any handle"
    );
    assert_eq!(
        other.claim(claim("r", 10, "w")).await.expect("claim").len(),
        1,
        "other queues go on"
    );
    let paused = store.paused().await.expect("paused");
    assert_eq!(
        paused.iter().map(|p| p.queue.as_str()).collect::<Vec<_>>(),
        ["q"]
    );
    assert_eq!(paused[0].since, h.clock_now());

    // A worker waiting on the paused queue wakes when it is resumed.
    other.wait("q", Duration::from_millis(1)).await;
    let waiter = {
        let other = other.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            other.wait("q", Duration::from_secs(20)).await;
            started.elapsed()
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(store.resume("q").await.expect("resume"), "q was paused");
    let waited = waiter.await.expect("task");
    assert!(waited < Duration::from_secs(10), "woke after {waited:?}");
    assert!(!store.resume("q").await.expect("resume"), "q runs already");
    assert!(store.paused().await.expect("paused").is_empty());
    assert_eq!(
        other.claim(claim("q", 10, "w")).await.expect("claim").len(),
        2,
        "a resumed queue's jobs are claimed"
    );
}

pub(crate) async fn listings_filter_by_keys_and_args_and_page(h: Harness) {
    let store = h.store.as_ref();
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            enqueue_one(
                store,
                NewJob::new(
                    "k",
                    json!({"user": {"id": i, "name": format!("u{i}")}, "tags": ["x", i]}),
                )
                .partition_key(if i % 2 == 0 { "even" } else { "odd" })
                .unique_key(format!("key-{i}")),
            )
            .await,
        );
    }
    let list = |filter: ListParams| async move {
        store
            .list(ListParams {
                limit: if filter.limit == 0 { 100 } else { filter.limit },
                ..filter
            })
            .await
            .expect("list")
            .into_iter()
            .map(|j| j.id)
            .collect::<Vec<_>>()
    };
    let args = |text: &str| Some(text.parse::<ArgsMatch>().expect("a match"));
    assert_eq!(
        list(ListParams {
            unique_key: Some("key-3".into()),
            ..ListParams::default()
        })
        .await,
        [ids[3]]
    );
    assert_eq!(
        list(ListParams {
            partition_key: Some("even".into()),
            ..ListParams::default()
        })
        .await,
        [ids[4], ids[2], ids[0]]
    );
    assert_eq!(
        list(ListParams {
            args: args("user.id=2"),
            ..ListParams::default()
        })
        .await,
        [ids[2]]
    );
    assert_eq!(
        list(ListParams {
            args: args("user.name=u1"),
            ..ListParams::default()
        })
        .await,
        [ids[1]],
        "an unquoted value that is not JSON is a string"
    );
    assert!(
        list(ListParams {
            args: args("user.id=\"2\""),
            ..ListParams::default()
        })
        .await
        .is_empty(),
        "a string is not a number"
    );
    assert_eq!(
        list(ListParams {
            args: args("tags.1=4"),
            ..ListParams::default()
        })
        .await,
        [ids[4]],
        "a number in a path indexes an array"
    );
    assert!(
        list(ListParams {
            args: args("user.missing=null"),
            ..ListParams::default()
        })
        .await
        .is_empty(),
        "a missing key is not null"
    );
    assert_eq!(
        list(ListParams {
            before: Some(ids[3]),
            limit: 2,
            ..ListParams::default()
        })
        .await,
        [ids[2], ids[1]],
        "the page after a page that ended with ids[3]"
    );
    let mut all = select::matching(
        store,
        &ListParams {
            state: Some(JobState::Available),
            ..ListParams::default()
        },
    )
    .await
    .expect("matching");
    all.reverse();
    assert_eq!(all, ids);
}

fn worker(name: &str, busy: u32) -> WorkerInfo {
    WorkerInfo {
        name: name.to_owned(),
        host: "host-a".to_owned(),
        pid: 42,
        version: "0.1.0".to_owned(),
        queues: vec![WorkerQueue {
            name: "q".to_owned(),
            slots: 10,
            busy,
        }],
        kinds: [(
            "k".to_owned(),
            KindInfo {
                max_attempts: Some(3),
            },
        )]
        .into(),
        schedules: Vec::new(),
        started_at: DateTime::UNIX_EPOCH,
        beat_at: DateTime::UNIX_EPOCH,
        stopped_at: None,
    }
}

pub(crate) async fn workers_report_with_their_minute_counts(h: Harness) {
    let store = h.store.as_ref();
    let now = h.clock_now();
    let mut minute = MinuteStats::new("q", now);
    minute.succeeded = 5;
    minute.waited(Duration::from_millis(3));
    let earlier = MinuteStats {
        failed: 2,
        ..MinuteStats::new("q", now - chrono::Duration::minutes(3))
    };
    for name in ["w1", "w2"] {
        store
            .beat(WorkerBeat {
                info: worker(name, 1),
                minutes: vec![minute.clone(), earlier.clone()],
            })
            .await
            .expect("beat");
    }
    // A later beat replaces its worker's report and its counts of the same minute.
    minute.succeeded = 7;
    store
        .beat(WorkerBeat {
            info: worker("w2", 4),
            minutes: vec![minute.clone()],
        })
        .await
        .expect("beat");
    let workers = store.workers().await.expect("workers");
    assert_eq!(
        workers
            .iter()
            .map(|w| (w.name.as_str(), w.queues[0].busy))
            .collect::<Vec<_>>(),
        [("w1", 1), ("w2", 4)]
    );
    assert_eq!(workers[0].beat_at, now, "the store's clock sets beat_at");
    assert_eq!(workers[0].kinds["k"].max_attempts, Some(3));
    assert!(workers[0].live(now));
    assert!(!workers[0].live(now + chrono::Duration::minutes(1)));

    let minutes = store
        .minutes(now - chrono::Duration::hours(1))
        .await
        .expect("minutes");
    assert_eq!(
        minutes
            .iter()
            .map(|m| (m.minute, m.succeeded, m.failed))
            .collect::<Vec<_>>(),
        [(earlier.minute, 0, 4), (minute.minute, 12, 0)],
        "summed over workers, each worker's latest counts"
    );
    assert_eq!(wait_quantile(&minutes[1].waits, 0.5), Some(5));
    assert_eq!(
        store.minutes(now).await.expect("minutes").len(),
        1,
        "from `since` on"
    );

    // A day later, a beat forgets what is older than the registry keeps.
    h.clock.advance(Duration::from_secs(26 * 3600));
    store
        .beat(WorkerBeat {
            info: worker("w3", 0),
            minutes: Vec::new(),
        })
        .await
        .expect("beat");
    let names: Vec<String> = store
        .workers()
        .await
        .expect("workers")
        .into_iter()
        .map(|w| w.name)
        .collect();
    assert_eq!(names, ["w3"]);
    assert!(
        store
            .minutes(now - chrono::Duration::hours(1))
            .await
            .expect("minutes")
            .is_empty()
    );
}

pub(crate) async fn schedule_ticks_are_read_back(h: Harness) {
    let store = h.store.as_ref();
    assert!(store.ticks().await.expect("ticks").is_empty());
    let tick = h.clock_now();
    store
        .fire(FireParams {
            name: "nightly".to_owned(),
            tick,
            job: NewJob::new("k", json!(null)),
        })
        .await
        .expect("fire");
    let ticks = store.ticks().await.expect("ticks");
    assert_eq!(ticks.get("nightly"), Some(&tick));
}
