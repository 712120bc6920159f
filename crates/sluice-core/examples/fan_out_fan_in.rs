//! Fan-out/fan-in (seed 002): one stage's work spread over several workers and gathered back,
//! in input order or as finished.

use sluice_core::{Flow, Operators};

/// Something CPU-bound: the number of steps of the Collatz sequence from `n`.
fn collatz_steps(mut n: u64) -> u32 {
    let mut steps = 0;
    while n > 1 {
        n = if n.is_multiple_of(2) {
            n / 2
        } else {
            3 * n + 1
        };
        steps += 1;
    }
    steps
}

#[tokio::main]
async fn main() -> Result<(), sluice_core::Error> {
    let ordered = Flow::from_iter(1..=10u64)
        .parallel(4, |n| (n, collatz_steps(n)))
        .collect()
        .await?;
    println!("in order: {ordered:?}");

    let mut unordered = Flow::from_iter(1..=100_000u64)
        .parallel_unordered(4, collatz_steps)
        .collect()
        .await?;
    unordered.sort_unstable();
    println!(
        "as finished: {} results, longest {} steps",
        unordered.len(),
        unordered.last().copied().unwrap_or(0)
    );
    Ok(())
}
