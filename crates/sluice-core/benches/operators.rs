//! Throughput of single operators on 1,000,000 items (criterion).

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sluice_core::window::{Count, Window};
use sluice_core::{Flow, Operators, Pipeline};

const ITEMS: u64 = 1_000_000;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn operators(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("operators");
    group.throughput(Throughput::Elements(ITEMS));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(3));

    group.bench_function("map", |b| {
        b.iter(|| rt.block_on(Flow::from_iter(0..ITEMS).map(|x| x ^ 7).run()));
    });
    group.bench_function("filter", |b| {
        b.iter(|| rt.block_on(Flow::from_iter(0..ITEMS).filter(|x| x % 3 == 0).run()));
    });
    group.bench_function("try_map", |b| {
        b.iter(|| {
            rt.block_on(
                Flow::from_iter(0..ITEMS)
                    .try_map(|x: &u64| {
                        if *x == u64::MAX {
                            Err("never")
                        } else {
                            Ok(x + 1)
                        }
                    })
                    .run(),
            )
        });
    });
    for workers in [1, 2] {
        group.bench_with_input(BenchmarkId::new("parallel", workers), &workers, |b, &w| {
            b.iter(|| {
                rt.block_on(
                    Flow::from_iter(0..ITEMS)
                        .parallel(w, |x| x.rotate_left(3))
                        .run(),
                )
            });
        });
    }
    group.bench_function("batch_100", |b| {
        b.iter(|| {
            rt.block_on(
                Flow::from_iter(0..ITEMS)
                    .batch(100, Duration::from_secs(1))
                    .run(),
            )
        });
    });
    group.bench_function("tumbling_window_by_key", |b| {
        b.iter(|| {
            rt.block_on(
                Flow::from_iter(0..ITEMS)
                    .key_by(|x| x % 64)
                    .window(
                        Window::tumbling(Duration::from_secs(1))
                            .event_time(|x: &u64| (*x / 100) as i64),
                    )
                    .aggregate(Count)
                    .run(),
            )
        });
    });
    group.bench_function("keyed_scan", |b| {
        b.iter(|| {
            rt.block_on(
                Flow::from_iter(0..ITEMS)
                    .key_by(|x| x % 1024)
                    .scan(
                        |_| 0u64,
                        |sum, x| {
                            *sum += x;
                            (*sum % 1000 == 0).then_some(*sum)
                        },
                    )
                    .run(),
            )
        });
    });
    group.bench_function("call_concurrency_16", |b| {
        b.iter(|| {
            let p = Pipeline::new("call");
            rt.block_on(
                p.from_iter(0..ITEMS / 10)
                    .call(16, |x: &u64| {
                        std::future::ready(Ok::<_, std::io::Error>(x + 1))
                    })
                    .run(),
            )
        });
    });
    group.finish();
}

criterion_group!(benches, operators);
criterion_main!(benches);
