//! Properties over random inputs: ordering, window assignment, exactly-once acknowledgement,
//! and acknowledgement only once every sink of a graph of broadcasts and merges has an item.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{AckLog, acked_range};
use proptest::prelude::*;
use sluice_core::window::{Collect, Window};
use sluice_core::{Operators, Outcome, Pipeline, PipelineConfig};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn config(batch: usize, capacity: usize) -> PipelineConfig {
    PipelineConfig::default()
        .batch_size(batch)
        .capacity(capacity)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn ordered_parallel_keeps_order_and_every_item(
        input in proptest::collection::vec(any::<u32>(), 0..3000),
        workers in 1usize..8,
        batch in 1usize..300,
        capacity in 1usize..600,
    ) {
        let expected: Vec<u64> = input.iter().map(|x| u64::from(*x) * 3).collect();
        let p = Pipeline::with_config("prop", config(batch, capacity));
        let out = runtime()
            .block_on(p.from_iter(input).parallel(workers, |x| u64::from(x) * 3).collect())
            .expect("ran");
        prop_assert_eq!(out, expected);
    }

    #[test]
    fn windows_hold_exactly_the_on_time_items_they_should(
        mut times in proptest::collection::vec(0i64..20_000, 1..400),
        disorder in 0usize..20,
        size in 1i64..3000,
        slide_part in 1i64..4,
        batch in 1usize..64,
    ) {
        // Bounded disorder: sort, then shuffle within small neighbourhoods.
        times.sort_unstable();
        for i in (0..times.len()).step_by(disorder.max(1)) {
            let end = (i + disorder).min(times.len());
            times[i..end].reverse();
        }
        // The smallest lateness that makes no item late: how far any item is behind the
        // greatest time before it. Windows then close as the input goes, not only at its end.
        let mut seen_max = 0;
        let mut behind = 0;
        for t in &times {
            behind = behind.max(seen_max - t);
            seen_max = seen_max.max(*t);
        }
        let lateness = Duration::from_millis(u64::try_from(behind).unwrap_or(0));
        let slide = (size / slide_part).max(1);
        let indexed: Vec<(usize, i64)> = times.iter().copied().enumerate().collect();
        let p = Pipeline::with_config("windows", config(batch, 4096));
        let windows = runtime()
            .block_on(
                p.from_iter(indexed.clone())
                    .window(Window::sliding(Duration::from_millis(size as u64), Duration::from_millis(slide as u64))
                        .event_time(|e: &(usize, i64)| e.1)
                        .allowed_lateness(lateness))
                    .aggregate(Collect::default())
                    .collect(),
            )
            .expect("ran");
        prop_assert_eq!(p.report().expect("report").stage("window").expect("window").errors, 0);
        let mut got: BTreeSet<(usize, i64)> = BTreeSet::new();
        for w in &windows {
            prop_assert_eq!(w.end - w.start, size);
            prop_assert_eq!(w.start.rem_euclid(slide), 0);
            for (id, ts) in &w.value {
                prop_assert!(w.start <= *ts && *ts < w.end);
                prop_assert!(got.insert((*id, w.start)), "item {} twice in window {}", id, w.start);
            }
        }
        let mut expected = BTreeSet::new();
        for (id, ts) in indexed {
            let mut start = ts - ts.rem_euclid(slide);
            while start + size > ts {
                expected.insert((id, start));
                start -= slide;
            }
        }
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn every_tracked_item_is_acknowledged_exactly_once(
        n in 0u64..500,
        fail_every in 2u64..9,
        drop_every in 2u64..9,
        group in 1usize..20,
        batch in 1usize..64,
        wire_errors in any::<bool>(),
    ) {
        let log = AckLog::default();
        let p = Pipeline::with_config("acks", config(batch, 128));
        let (errors, failed) = p.error_output::<u64>();
        let mut branches = p.source("s")
            .from_acked_stream(acked_range(&log, n))
            .filter(move |x| x % drop_every != 0)
            .flat_map(|x| [x, x])
            .broadcast(2)
            .into_iter();
        let (a, b) = (branches.next().expect("a"), branches.next().expect("b"));
        let failing = if wire_errors {
            a.stage("fail").errors_to(errors)
        } else {
            drop(errors);
            a.stage("fail")
        };
        let grouped = failing
            .try_map(move |x: &u64| if x.is_multiple_of(fail_every) { Err("unlucky") } else { Ok(*x) })
            .batch(group, Duration::from_secs(60));
        let rt = runtime();
        rt.block_on(async {
            let dead = failed.count();
            let side = b.count();
            let main = grouped.count();
            let (dead, side, main) = tokio::join!(dead, side, main);
            dead.expect("ran");
            side.expect("ran");
            main.expect("ran");
        });
        for id in 0..n {
            let expected = if id % drop_every == 0 {
                Outcome::Filtered
            } else if id % fail_every == 0 {
                if wire_errors { Outcome::DeadLettered } else { Outcome::Rejected }
            } else {
                Outcome::Delivered
            };
            prop_assert_eq!(log.outcome(id), expected, "item {}", id);
        }
        prop_assert_eq!(log.outcomes().len() as u64, n);
    }

    #[test]
    fn a_graph_of_broadcasts_and_merges_acknowledges_each_item_once_after_every_sink_has_it(
        n in 1u64..300,
        steps in proptest::collection::vec((any::<bool>(), 2usize..4, any::<prop::sample::Index>(), any::<prop::sample::Index>()), 0..6),
        batch in 1usize..64,
        capacity in 1usize..128,
    ) {
        use std::collections::HashSet;
        use std::sync::{Arc, Mutex};
        use sluice_core::{AckToken, Acked, Flow};

        type Seen = Arc<Mutex<HashSet<u64>>>;
        let sinks: Arc<Mutex<Vec<Seen>>> = Arc::default();
        // Each item's outcomes, and whether every sink had it when each came.
        let acks: Arc<Mutex<Vec<(u64, Outcome, bool)>>> = Arc::default();
        let items: Vec<Acked<u64>> = (0..n)
            .map(|id| {
                let (sinks, acks) = (Arc::clone(&sinks), Arc::clone(&acks));
                Acked::new(id, AckToken::new(move |outcome| {
                    let everywhere = sinks
                        .lock()
                        .expect("lock")
                        .iter()
                        .all(|s| s.lock().expect("lock").contains(&id));
                    acks.lock().expect("lock").push((id, outcome, everywhere));
                }))
            })
            .collect();
        let p = Pipeline::with_config("graph", config(batch, capacity));
        let mut open: Vec<Flow<u64>> = vec![p.source("s").from_acked_stream(futures::stream::iter(items))];
        for (split, ways, a, b) in steps {
            let first = open.remove(a.index(open.len()));
            if split || open.is_empty() {
                open.extend(first.broadcast(ways));
            } else {
                let second = open.remove(b.index(open.len()));
                open.push(first.merge_with([second]));
            }
        }
        let runs: Vec<_> = open
            .into_iter()
            .map(|flow| {
                let seen: Seen = Arc::default();
                sinks.lock().expect("lock").push(Arc::clone(&seen));
                flow.for_each(move |id| {
                    seen.lock().expect("lock").insert(id);
                })
            })
            .collect();
        let sink_count = runs.len();
        runtime().block_on(async {
            for run in futures::future::join_all(runs).await {
                run.expect("ran");
            }
        });
        let acks = acks.lock().expect("lock").clone();
        prop_assert_eq!(acks.len() as u64, n, "each item acknowledged once");
        let ids: BTreeSet<u64> = acks.iter().map(|a| a.0).collect();
        prop_assert_eq!(ids.len() as u64, n);
        for (id, outcome, everywhere) in acks {
            prop_assert_eq!(outcome, Outcome::Delivered, "item {}", id);
            prop_assert!(everywhere, "item {} acknowledged before all {} sinks had it", id, sink_count);
        }
    }
}
