//! The seed guides' pipeline (generator → square → sum) as a plain loop and on Sluice, plus the
//! scaling of `parallel(2)` with a 1 µs function. Prints one `key=value` line per variant for
//! `bench/seed_pipeline.sh`, which runs the Go baseline beside it and prints the ratios.
//!
//! `cargo bench -p sluice-core --bench seed_pipeline -- [--items N] [--rounds R] [--work-items M]`

use std::hint::black_box;
use std::time::{Duration, Instant};

use sluice_core::{Flow, Operators, Pipeline};

/// CPU time of every thread of this process, from `/proc/self/task/*/schedstat` (Linux), in ns.
fn process_cpu_ns() -> Option<u64> {
    let mut total = 0;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
}

struct Measured {
    wall: Duration,
    cpu_ns: Option<u64>,
}

fn measure(f: impl FnOnce()) -> Measured {
    let cpu = process_cpu_ns();
    let start = Instant::now();
    f();
    let wall = start.elapsed();
    let cpu_ns = process_cpu_ns()
        .zip(cpu)
        .map(|(after, before)| after.saturating_sub(before));
    Measured { wall, cpu_ns }
}

fn report(variant: &str, items: u64, m: &Measured) {
    let per_item_cpu = m.cpu_ns.map_or(String::from("na"), |ns| {
        format!("{:.2}", ns as f64 / items as f64)
    });
    println!(
        "variant={variant} items={items} seconds={:.4} items_per_s={:.0} cpu_ns_per_item={per_item_cpu}",
        m.wall.as_secs_f64(),
        items as f64 / m.wall.as_secs_f64(),
    );
}

/// About one microsecond of arithmetic that the compiler cannot skip.
fn work(x: u64, rounds: u32) -> u64 {
    let mut h = x;
    for _ in 0..rounds {
        h = black_box(
            h.wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407),
        );
    }
    h
}

/// Rounds of `work` that take about 1 µs on this machine.
fn rounds_per_microsecond() -> u32 {
    let probe = 1_000_000u32;
    let start = Instant::now();
    black_box(work(1, probe));
    let ns_per_round = start.elapsed().as_nanos() as f64 / f64::from(probe);
    (1_000.0 / ns_per_round.max(0.01)) as u32
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let items = arg("--items", 10_000_000);
    let rounds = arg("--rounds", 3);
    let work_items = arg("--work-items", 1_000_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;

    for _ in 0..rounds {
        let mut sum = 0;
        let m = measure(|| {
            sum = (1..=items)
                .map(|x| black_box(x).wrapping_mul(x))
                .fold(0u64, u64::wrapping_add);
        });
        report("plain_loop", items, &m);

        let mut got = Ok(0);
        let m = measure(|| {
            got = rt.block_on(
                Flow::from_iter(1..=items)
                    .map(|x: u64| x.wrapping_mul(x))
                    .fold(0u64, u64::wrapping_add),
            );
        });
        assert_eq!(got?, sum, "same sum as the plain loop");
        report("sluice", items, &m);

        let mut got = Ok(0);
        let m = measure(|| {
            got = rt.block_on(
                Flow::from_iter(1..=items)
                    .map(|x: u64| x.wrapping_mul(x))
                    .map(black_box)
                    .map(black_box)
                    .map(black_box)
                    .fold(0u64, u64::wrapping_add),
            );
        });
        assert_eq!(got?, sum);
        report("sluice_plus_3_stages", items, &m);
    }

    let rounds_1us = rounds_per_microsecond();
    println!("work_rounds_per_item={rounds_1us}");
    for _ in 0..rounds {
        let mut serial = Ok(0);
        let m = measure(|| {
            serial = rt.block_on(
                Flow::from_iter(0..work_items)
                    .map(move |x| work(x, rounds_1us))
                    .fold(0u64, u64::wrapping_add),
            );
        });
        report("work_1us_serial", work_items, &m);
        let mut parallel: Result<u64, sluice_core::Error> = Ok(0);
        let m = measure(|| {
            let p = Pipeline::new("parallel");
            parallel = rt.block_on(
                p.from_iter(0..work_items)
                    .parallel(2, move |x| work(x, rounds_1us))
                    .fold(0u64, u64::wrapping_add),
            );
        });
        let parallel = parallel?;
        assert_eq!(serial?, parallel);
        report("work_1us_parallel2", work_items, &m);
        let mut unordered = Ok(0);
        let m = measure(|| {
            let p = Pipeline::new("parallel");
            unordered = rt.block_on(
                p.from_iter(0..work_items)
                    .parallel_unordered(2, move |x| work(x, rounds_1us))
                    .fold(0u64, u64::wrapping_add),
            );
        });
        assert_eq!(parallel, unordered?);
        report("work_1us_parallel2_unordered", work_items, &m);
        // The machine's own ceiling: two bare threads splitting the same work.
        let m = measure(|| {
            let half = work_items / 2;
            let other = std::thread::spawn(move || {
                (0..half)
                    .map(|x| work(x, rounds_1us))
                    .fold(0u64, u64::wrapping_add)
            });
            let mine = (half..work_items)
                .map(|x| work(x, rounds_1us))
                .fold(0u64, u64::wrapping_add);
            let theirs = other.join().unwrap_or_default();
            assert_eq!(mine.wrapping_add(theirs), parallel);
        });
        report("work_1us_two_bare_threads", work_items, &m);
    }
    Ok(())
}
