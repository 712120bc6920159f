//! Rate limiting (seed 002): calls to an outside service spaced to at most 20 per second.

use std::time::{Duration, Instant};

use sluice_core::{Flow, Operators, RateLimit};

#[tokio::main]
async fn main() -> Result<(), sluice_core::Error> {
    let started = Instant::now();
    let sent = Flow::from_iter(0..21u32)
        .stage("api")
        .rate_limit(RateLimit::per_second(20))
        .call(8, |n: &u32| std::future::ready(Ok::<_, std::io::Error>(*n)))
        .count()
        .await?;
    let took = started.elapsed();
    println!("{sent} calls at 20/s");
    assert!(
        took >= Duration::from_millis(950),
        "21 calls at 20/s take a second: {took:?}"
    );
    println!(
        "took at least one second: {}",
        took >= Duration::from_millis(950)
    );
    Ok(())
}
