//! Windows and keyed state end to end.

mod common;

use std::time::Duration;

use common::AckLog;
use sluice_core::window::{Collect, Stats, Window};
use sluice_core::{Flow, ItemError, Operators, Outcome, Pipeline};

/// (key, event time ms, value)
type Event = (&'static str, i64, f64);

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

#[tokio::test]
async fn tumbling_event_time_per_key() {
    let events: Vec<Event> = vec![
        ("a", 0, 1.0),
        ("a", 999, 2.0),
        ("b", 500, 10.0),
        ("a", 1000, 4.0),
    ];
    let out = Flow::from_iter(events)
        .key_by(|e| e.0)
        .window(Window::tumbling(Duration::from_secs(1)).event_time(|e: &Event| e.1))
        .aggregate(Stats(|e: &Event| e.2))
        .map(|w| (w.key, w.start, w.end, w.count, w.value.sum as i64))
        .collect()
        .await
        .expect("ran");
    assert_eq!(
        sorted(out),
        vec![
            ("a", 0, 1000, 2, 3),
            ("a", 1000, 2000, 1, 4),
            ("b", 0, 1000, 1, 10)
        ]
    );
}

#[tokio::test]
async fn sliding_windows_hold_each_item_size_over_slide_times() {
    let out = Flow::from_iter(vec![0i64, 1500, 2500])
        .window(
            Window::sliding(Duration::from_secs(2), Duration::from_secs(1))
                .event_time(|t: &i64| *t),
        )
        .aggregate(Collect::default())
        .map(|w| (w.start, w.value))
        .collect()
        .await
        .expect("ran");
    assert_eq!(
        out,
        vec![
            (-1000, vec![0]),
            (0, vec![0, 1500]),
            (1000, vec![1500, 2500]),
            (2000, vec![2500]),
        ]
    );
}

#[tokio::test]
async fn sessions_merge_and_split_on_gaps() {
    // Out of order: 2500 arrives after 4000 and bridges the sessions [1000,3000) and [4000,6000).
    // The watermark is shared by every key: after 9000 it is 4000, so ("v", 1000) is late.
    let times = vec![
        ("v", 1000),
        ("u", 1000i64),
        ("u", 4000),
        ("u", 2500),
        ("u", 9000),
        ("v", 1000),
    ];
    let out = Flow::from_iter(times)
        .key_by(|e| e.0)
        .window(
            Window::session(Duration::from_secs(2))
                .event_time(|e: &(&str, i64)| e.1)
                .allowed_lateness(Duration::from_secs(5)),
        )
        .count()
        .map(|w| (w.key, w.start, w.end, w.value))
        .collect()
        .await
        .expect("ran");
    assert_eq!(
        sorted(out),
        vec![
            ("u", 1000, 6000, 3),
            ("u", 9000, 11000, 1),
            ("v", 1000, 3000, 1)
        ]
    );
}

#[tokio::test]
async fn late_items_go_to_the_error_output() {
    let p = Pipeline::new("late");
    let (errors, failed) = p.error_output::<i64>();
    let late = tokio::spawn(failed.map(|f| (f.item, f.error)).collect());
    let windows = p
        .from_iter(vec![100i64, 1200, 2500, 300, 2900, 1900])
        .stage("per-second")
        .errors_to(errors)
        .window(
            Window::tumbling(Duration::from_secs(1))
                .event_time(|t: &i64| *t)
                .allowed_lateness(Duration::from_millis(500)),
        )
        .count()
        .map(|w| (w.start, w.value))
        .collect()
        .await
        .expect("ran");
    // 2500 moves the watermark to 2000, closing [0,1000) and [1000,2000): 300 and 1900 are late.
    assert_eq!(windows, vec![(0, 1), (1000, 1), (2000, 2)]);
    let late = late.await.expect("join").expect("ran");
    assert_eq!(late.len(), 2);
    assert!(matches!(
        late[0],
        (
            300,
            ItemError::Late {
                event_time_ms: 300,
                watermark_ms: 2000
            }
        )
    ));
    assert_eq!(late[1].0, 1900);
    assert_eq!(
        p.report()
            .expect("report")
            .stage("per-second")
            .expect("stage")
            .errors,
        2
    );
}

#[tokio::test(start_paused = true)]
async fn processing_time_windows_close_on_the_clock() {
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let results = tokio::spawn(
        Flow::from_channel(rx)
            .window(Window::tumbling(Duration::from_secs(10)))
            .aggregate(Collect::default())
            .map(|w| w.value)
            .collect(),
    );
    tx.send(1).await.expect("send");
    tx.send(2).await.expect("send");
    tokio::time::sleep(Duration::from_secs(11)).await;
    tx.send(3).await.expect("send");
    tokio::time::sleep(Duration::from_secs(11)).await;
    drop(tx);
    let groups: Vec<Vec<i32>> = results.await.expect("join").expect("ran");
    let flat: Vec<i32> = groups.iter().flatten().copied().collect();
    assert_eq!(flat, vec![1, 2, 3]);
    assert!(
        groups.len() >= 2,
        "the clock closed a window between the sends: {groups:?}"
    );
}

#[tokio::test]
async fn window_results_carry_their_items_tokens() {
    let log = AckLog::default();
    let items: Vec<_> = (0..6u64).map(|i| log.item(i, i as i64 * 400)).collect();
    let n = Flow::from_acked_stream(futures::stream::iter(items))
        .window(
            Window::sliding(Duration::from_secs(1), Duration::from_millis(500))
                .event_time(|t: &i64| *t),
        )
        .count()
        .count()
        .await
        .expect("ran");
    assert!(n > 0);
    assert_eq!(log.exactly_once(6).get(&Outcome::Delivered), Some(&6));
}

#[tokio::test]
async fn keyed_fold_emits_running_state() {
    let out = Flow::from_iter(vec![("a", 1), ("b", 5), ("a", 2)])
        .key_by(|e| e.0)
        .fold(|_| 0, |sum, e| *sum += e.1)
        .collect()
        .await
        .expect("ran");
    assert_eq!(out, vec![("a", 1), ("b", 5), ("a", 3)]);
}

#[tokio::test(start_paused = true)]
async fn keyed_state_expires_after_ttl() {
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let totals = tokio::spawn(
        Flow::from_channel(rx)
            .key_by(|k: &&str| *k)
            .ttl(Duration::from_secs(10))
            .fold(|_| 0, |n, _| *n += 1)
            .map(|(_, n)| n)
            .collect(),
    );
    tx.send("k").await.expect("send");
    tx.send("k").await.expect("send");
    tokio::time::sleep(Duration::from_secs(30)).await;
    tx.send("other").await.expect("send");
    tokio::time::sleep(Duration::from_secs(1)).await;
    tx.send("k").await.expect("send");
    drop(tx);
    assert_eq!(totals.await.expect("join").expect("ran"), vec![1, 2, 1, 1]);
}
