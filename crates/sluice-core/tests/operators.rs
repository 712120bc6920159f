//! Operators end to end: what each emits, where failures go, and what origins learn.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use common::{AckLog, acked_range};
use sluice_core::{Failed, Flow, ItemError, Operators, Outcome, Pipeline, PipelineConfig};

#[tokio::test]
async fn transforms_chain() {
    let out = Flow::from_iter(1..=10u32)
        .filter(|x| x % 2 == 1)
        .map(|x| x * 10)
        .flat_map(|x| [x, x + 1])
        .filter_map(|x| (x % 3 != 0).then_some(x))
        .inspect(|_| {})
        .collect()
        .await
        .expect("ran");
    assert_eq!(out, vec![10, 11, 31, 50, 70, 71, 91]);
}

#[tokio::test]
async fn try_map_sends_failures_to_the_error_output_with_reason() {
    let p = Pipeline::new("parse");
    let (errors, failed) = p.error_output::<String>();
    let dead = tokio::spawn(
        failed
            .map(|f: Failed<String>| (f.item.clone(), f.stage.to_string(), f.reason()))
            .collect(),
    );
    let parsed = p
        .from_iter(["1", "x", "3"].map(String::from))
        .stage("parse")
        .errors_to(errors)
        .try_map(|s: &String| s.parse::<u32>());
    let ok = parsed.collect().await.expect("ran");
    assert_eq!(ok, vec![1, 3]);
    let dead = dead.await.expect("join").expect("dead letters");
    assert_eq!(
        dead,
        vec![(
            "x".to_owned(),
            "parse".to_owned(),
            "invalid digit found in string".to_owned()
        )]
    );
}

#[tokio::test]
async fn panics_fail_only_their_item() {
    let p = Pipeline::new("panics");
    let (errors, failed) = p.error_output::<u32>();
    let dead = tokio::spawn(failed.map(|f| (f.item, f.reason())).collect());
    let out = p
        .from_iter(0..6u32)
        .stage("check")
        .errors_to(errors)
        .filter(|x| {
            assert!(*x != 2, "two is not allowed");
            true
        })
        .stage("identity")
        .map(|x| {
            assert!(x != 4, "four is not allowed");
            x
        })
        .collect()
        .await
        .expect("ran");
    assert_eq!(out, vec![0, 1, 3, 5]);
    let dead = dead.await.expect("join").expect("dead letters");
    assert_eq!(
        dead,
        vec![(2, "panicked: two is not allowed".to_owned())],
        "by-ref filter keeps its item"
    );
    let report = p.report().expect("report");
    assert_eq!(
        report.stage("identity").expect("identity").errors,
        1,
        "by-value map counts its panic"
    );
}

#[tokio::test]
async fn acks_report_each_outcome_once() {
    let log = AckLog::default();
    let p = Pipeline::new("acks");
    let (errors, failed) = p.error_output::<u64>();
    failed.stage("dead").map(|f| f.item).sink(common_sink());
    p.source("numbers")
        .from_acked_stream(acked_range(&log, 30))
        .filter(|x| x % 3 != 0)
        .stage("odd-fails")
        .errors_to(errors)
        .try_map(|x: &u64| {
            if x % 3 == 1 {
                Ok(*x)
            } else {
                Err("x % 3 == 2")
            }
        })
        .sink(common_sink());
    p.run().await.expect("ran");
    let counts = log.exactly_once(30);
    assert_eq!(counts.get(&Outcome::Filtered), Some(&10));
    assert_eq!(counts.get(&Outcome::Delivered), Some(&10));
    assert_eq!(counts.get(&Outcome::DeadLettered), Some(&10));
    assert_eq!(log.outcome(2), Outcome::DeadLettered);
}

#[tokio::test]
async fn unwired_failures_are_rejected_and_counted() {
    let log = AckLog::default();
    let p = Pipeline::new("unwired");
    let flow = p
        .source("s")
        .from_acked_stream(acked_range(&log, 4))
        .try_map(|x: &u64| if *x == 1 { Err("bad") } else { Ok(*x) });
    let report = flow.run().await.expect("ran");
    assert_eq!(log.outcome(1), Outcome::Rejected);
    assert_eq!(log.outcome(0), Outcome::Delivered);
    assert_eq!(report.stage("try_map").expect("stage").errors, 1);
}

/// A sink that accepts everything.
fn common_sink<T: Send + Sync + 'static>() -> impl sluice_core::Sink<T> {
    struct Accept;
    impl<T: Send + Sync + 'static> sluice_core::Sink<T> for Accept {
        async fn write(&mut self, _: &[T]) -> Result<(), sluice_core::WriteError> {
            Ok(())
        }
    }
    Accept
}

/// A sink that counts the writes running at once and rejects odd items.
#[derive(Clone, Default)]
struct Overlapping {
    running: Arc<AtomicU32>,
    most: Arc<AtomicU32>,
}

impl sluice_core::Sink<u64> for Overlapping {
    async fn write(&mut self, items: &[u64]) -> Result<(), sluice_core::WriteError> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(10)).await;
        self.running.fetch_sub(1, Ordering::SeqCst);
        let odd = items.iter().enumerate().filter(|(_, x)| *x % 2 == 1);
        Err(sluice_core::WriteError::Items(
            odd.map(|(i, _)| (i, "odd".into())).collect(),
        ))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sink_writers_overlap_and_settle_every_item() {
    let log = AckLog::default();
    let sink = Overlapping::default();
    // Small batches and channels, so that batches keep coming while writes wait.
    let config = PipelineConfig::default().batch_size(100).capacity(200);
    let p = Pipeline::with_config("writers", config);
    p.source("numbers")
        .from_acked_stream(acked_range(&log, 2_000))
        .sink_writers(3, sink.clone());
    let report = p.run().await.expect("ran");
    let counts = log.exactly_once(2_000);
    assert_eq!(counts[&Outcome::Delivered], 1_000);
    assert_eq!(counts[&Outcome::Rejected], 1_000);
    assert_eq!(report.stage("sink").expect("stage").errors, 1_000);
    assert_eq!(sink.most.load(Ordering::SeqCst), 3, "three writes at once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_keeps_order_and_unordered_loses_nothing() {
    let ordered = Flow::from_iter(0..10_000u32)
        .parallel(4, |x| x * 2)
        .collect()
        .await
        .expect("ran");
    assert_eq!(ordered, (0..10_000).map(|x| x * 2).collect::<Vec<_>>());
    let mut unordered = Flow::from_iter(0..10_000u32)
        .parallel_unordered(3, |x| x + 1)
        .collect()
        .await
        .expect("ran");
    unordered.sort_unstable();
    assert_eq!(unordered, (1..=10_000).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_splits_a_small_batch_of_slow_items() {
    let p = Pipeline::new("split");
    let started = std::time::Instant::now();
    let out = p
        .from_iter(0..4u32)
        .parallel(4, |x| {
            std::thread::sleep(Duration::from_millis(100));
            x
        })
        .collect()
        .await
        .expect("ran");
    assert_eq!(out, vec![0, 1, 2, 3]);
    // Serially this is 400 ms; four workers on two threads take about 200 ms.
    assert!(
        started.elapsed() < Duration::from_millis(380),
        "the batch of four was split"
    );
}

#[tokio::test]
async fn broadcast_copies_and_joins_outcomes() {
    let log = AckLog::default();
    let p = Pipeline::new("bcast");
    let mut branches = p
        .source("s")
        .from_acked_stream(acked_range(&log, 4))
        .broadcast(2)
        .into_iter();
    let (a, b) = (branches.next().expect("a"), branches.next().expect("b"));
    let evens = tokio::spawn(a.filter(|x| x % 2 == 0).collect());
    let all = b.collect().await.expect("ran");
    assert_eq!(all, vec![0, 1, 2, 3]);
    assert_eq!(evens.await.expect("join").expect("ran"), vec![0, 2]);
    assert_eq!(
        log.outcome(1),
        Outcome::Delivered,
        "filtered in one branch, delivered in the other"
    );
    log.exactly_once(4);
}

#[tokio::test]
async fn route_partition_and_merge() {
    let p = Pipeline::new("route");
    let (small, big) = p.from_iter(0..10u32).partition(|x| *x < 5);
    let lanes = small.partition_by_key(3, |x| *x);
    let mut merged = Flow::merge(lanes.into_iter().chain([big.map(|x| x * 100)]))
        .collect()
        .await
        .expect("ran");
    merged.sort_unstable();
    assert_eq!(merged, vec![0, 1, 2, 3, 4, 500, 600, 700, 800, 900]);
}

#[tokio::test]
async fn route_out_of_range_fails_the_item() {
    let p = Pipeline::new("route");
    let lanes = p.from_iter(0..3u32).route(2, |x| *x as usize);
    let mut it = lanes.into_iter();
    let (a, b) = (it.next().expect("a"), it.next().expect("b"));
    let a = tokio::spawn(a.collect());
    let b = b.collect().await.expect("ran");
    assert_eq!(
        (a.await.expect("join").expect("ran"), b),
        (vec![0], vec![1])
    );
    assert_eq!(
        p.report()
            .expect("report")
            .stage("route")
            .expect("route")
            .errors,
        1
    );
}

#[tokio::test(start_paused = true)]
async fn batch_emits_when_full_or_lingered() {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let groups = tokio::spawn(
        Flow::from_channel(rx)
            .batch(3, Duration::from_secs(1))
            .collect(),
    );
    for i in 0..4 {
        tx.send(i).await.expect("send");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    tx.send(4).await.expect("send");
    drop(tx);
    let groups = groups.await.expect("join").expect("ran");
    assert_eq!(groups, vec![vec![0, 1, 2], vec![3], vec![4]]);
}

#[tokio::test]
async fn batch_joins_tokens() {
    let log = AckLog::default();
    let sizes = Flow::from_acked_stream(acked_range(&log, 5))
        .batch(2, Duration::from_secs(60))
        .map(|g| g.len())
        .collect()
        .await
        .expect("ran");
    assert_eq!(sizes, vec![2, 2, 1]);
    assert_eq!(log.exactly_once(5).get(&Outcome::Delivered), Some(&5));
}

#[tokio::test]
async fn try_batch_fails_some_items_of_a_batch() {
    let p = Pipeline::new("partial");
    let (errors, failed) = p.error_output::<u32>();
    let dead = tokio::spawn(failed.map(|f| (f.item, f.reason())).collect());
    let ok = p
        .from_iter(1..=7u32)
        .stage("store")
        .errors_to(errors)
        .try_batch(3, Duration::from_secs(1), |items: &[u32]| {
            items
                .iter()
                .map(|x| {
                    if x % 3 == 0 {
                        Err(format!("failed to process item {x}"))
                    } else {
                        Ok(*x)
                    }
                })
                .collect()
        })
        .collect()
        .await
        .expect("ran");
    assert_eq!(ok, vec![1, 2, 4, 5, 7]);
    let dead = dead.await.expect("join").expect("ran");
    assert_eq!(
        dead,
        vec![
            (3, "failed to process item 3".to_owned()),
            (6, "failed to process item 6".to_owned())
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn call_retries_times_out_and_keeps_order() {
    let attempts = Arc::new(AtomicU32::new(0));
    let seen = Arc::clone(&attempts);
    let p = Pipeline::new("call");
    let (errors, failed) = p.error_output::<u32>();
    let dead = tokio::spawn(failed.map(|f| (f.item, f.attempts, f.reason())).collect());
    let out = p
        .from_iter(0..5u32)
        .stage("lookup")
        .retry(sluice_core::Retry::attempts(3))
        .timeout(Duration::from_millis(100))
        .errors_to(errors)
        .call(4, move |x: &u32| {
            let x = *x;
            let n = seen.fetch_add(1, Ordering::SeqCst);
            async move {
                match x {
                    1 if n < 3 => Err("flaky"),
                    3 => {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        Ok(x)
                    }
                    _ => Ok(x * 10),
                }
            }
        })
        .collect()
        .await
        .expect("ran");
    assert_eq!(out, vec![0, 10, 20, 40]);
    let dead = dead.await.expect("join").expect("ran");
    assert_eq!(dead, vec![(3, 3, "timed out after 100ms".to_owned())]);
    assert!(
        p.report()
            .expect("report")
            .stage("lookup")
            .expect("stage")
            .retries
            >= 2
    );
}

#[tokio::test(start_paused = true)]
async fn circuit_breaker_sends_items_to_the_error_output_while_open() {
    let breaker = sluice_core::CircuitBreaker::new(sluice_core::BreakerConfig {
        min_calls: 2,
        window: 2,
        ..Default::default()
    });
    let p = Pipeline::new("breaker");
    let (errors, failed) = p.error_output::<u32>();
    let dead = tokio::spawn(failed.map(|f| f.error).collect());
    let calls = Arc::new(AtomicU32::new(0));
    let made = Arc::clone(&calls);
    let out = p
        .from_iter(0..10u32)
        .stage("svc")
        .circuit_breaker(breaker)
        .errors_to(errors)
        .call(1, move |_: &u32| {
            made.fetch_add(1, Ordering::SeqCst);
            async { Err::<u32, _>("down") }
        })
        .collect()
        .await
        .expect("ran");
    assert!(out.is_empty());
    let dead = dead.await.expect("join").expect("ran");
    assert_eq!(dead.len(), 10, "every item reaches the error output");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "only two calls before the breaker opened"
    );
    assert!(
        dead[2..]
            .iter()
            .all(|e| matches!(e, ItemError::CircuitOpen))
    );
}

#[tokio::test]
async fn cached_calls_hit_and_balanced_calls_spread() {
    let cache = sluice_core::Cache::new(100, Duration::from_secs(60));
    let balancer = sluice_core::Balancer::round_robin(["a", "b"]);
    let out = Flow::from_iter([1u32, 2, 1, 1, 2])
        .call_cached(
            1,
            cache.clone(),
            |x: &u32| *x,
            balancer.wrap(|ep: &&str, x: &u32| {
                let answer = format!("{ep}{x}");
                async move { Ok::<_, std::io::Error>(answer) }
            }),
        )
        .collect()
        .await
        .expect("ran");
    assert_eq!(out, vec!["a1", "b2", "a1", "a1", "b2"]);
    assert_eq!((cache.hits(), cache.misses()), (3, 2));
}

#[tokio::test(start_paused = true)]
async fn rate_limit_spaces_calls() {
    let started = tokio::time::Instant::now();
    let n = Flow::from_iter(0..11u32)
        .stage("limited")
        .rate_limit(sluice_core::RateLimit::per_second(10))
        .call(8, |x: &u32| std::future::ready(Ok::<_, std::io::Error>(*x)))
        .count()
        .await
        .expect("ran");
    assert_eq!(n, 11);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "11 calls at 10/s take a second"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn try_flat_map_hands_failed_items_back_whole() {
    for workers in [1, 3] {
        let p = Pipeline::new("tfm");
        let (errors, failed) = p.error_output::<String>();
        let dead = tokio::spawn(failed.map(|f| (f.reason(), f.item)).collect());
        let split = |s: String| -> Result<Vec<String>, (String, &'static str)> {
            if s.is_empty() {
                return Err((s, "empty line"));
            }
            Ok(s.split(',').map(str::to_owned).collect())
        };
        let stage = p
            .from_iter(["a,b", "", "c"].map(String::from))
            .stage("split")
            .errors_to(errors);
        let flow = if workers == 1 {
            stage.try_flat_map(split)
        } else {
            stage.parallel_try_flat_map(workers, split)
        };
        assert_eq!(flow.collect().await.expect("ran"), vec!["a", "b", "c"]);
        let dead = dead.await.expect("join").expect("ran");
        assert_eq!(dead, vec![("empty line".to_owned(), String::new())]);
    }
}

/// Whether each key's numbers appear in increasing order in `out` (pairs of key and number).
fn in_order_per_key(out: &[(u32, u32)]) -> bool {
    let mut last = std::collections::HashMap::new();
    out.iter().all(|&(key, n)| {
        let before = last.insert(key, n);
        before.is_none_or(|b| b < n)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_ordered_by_key_keep_each_keys_order_and_a_slow_key_holds_back_only_itself() {
    // Key 0 answers in 30 ms, the others at once; four calls in flight.
    let items: Vec<(u32, u32)> = (0..200).map(|n| (n % 20, n)).collect();
    let out = Flow::from_iter(items)
        .stage("lookup")
        .ordered_by(|&(key, _): &(u32, u32)| key)
        .call(4, |&(key, n): &(u32, u32)| async move {
            if key == 0 {
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
            Ok::<_, std::io::Error>((key, n))
        })
        .collect()
        .await
        .expect("ran");
    assert_eq!(out.len(), 200);
    assert!(in_order_per_key(&out), "{out:?}");
    // The ten items of the slow key take 300 ms one after the other; the 190 others do not
    // wait for them.
    let last_fast = out.iter().rposition(|&(key, _)| key != 0).expect("fast");
    let second_slow = out
        .iter()
        .filter(|&&(key, _)| key == 0)
        .nth(1)
        .and_then(|slow| out.iter().position(|x| x == slow))
        .expect("slow");
    assert!(last_fast < second_slow, "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_by_key_keeps_each_keys_order() {
    let items: Vec<(u32, u32)> = (0..5000).map(|n| (n * 7919 % 13, n)).collect();
    let out = Flow::from_iter(items)
        .parallel_by_key(
            3,
            |&(key, _): &(u32, u32)| key,
            |(key, n): (u32, u32)| {
                if n % 100 == 0 {
                    std::thread::sleep(Duration::from_millis(2));
                }
                (key, n)
            },
        )
        .collect()
        .await
        .expect("ran");
    assert_eq!(out.len(), 5000);
    assert!(in_order_per_key(&out));
    let mut all: Vec<u32> = out.iter().map(|&(_, n)| n).collect();
    all.sort_unstable();
    assert_eq!(all, (0..5000).collect::<Vec<_>>());
}
