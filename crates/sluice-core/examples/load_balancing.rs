//! Load balancing (seed 002): calls spread over several equivalent endpoints, round-robin,
//! by weight, or to the least loaded.

use std::collections::BTreeMap;
use std::time::Duration;

use sluice_core::{Balancer, Flow, Operators};

async fn calls_per_endpoint(
    balancer: Balancer<&'static str>,
) -> Result<BTreeMap<&'static str, usize>, sluice_core::Error> {
    let answers = Flow::from_iter(0..60u32)
        .call(
            6,
            balancer.wrap(|endpoint: &&'static str, _: &u32| {
                let endpoint = *endpoint;
                async move {
                    // replica-c is slow.
                    let delay = if endpoint == "replica-c" { 30 } else { 1 };
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                    Ok::<_, std::io::Error>(endpoint)
                }
            }),
        )
        .collect()
        .await?;
    let mut counts = BTreeMap::new();
    for endpoint in answers {
        *counts.entry(endpoint).or_default() += 1;
    }
    Ok(counts)
}

#[tokio::main]
async fn main() -> Result<(), sluice_core::Error> {
    let endpoints = ["replica-a", "replica-b", "replica-c"];
    println!(
        "round-robin:  {:?}",
        calls_per_endpoint(Balancer::round_robin(endpoints)).await?
    );
    println!(
        "weighted:     {:?}",
        calls_per_endpoint(Balancer::weighted([
            ("replica-a", 3),
            ("replica-b", 2),
            ("replica-c", 1)
        ]))
        .await?
    );
    let least = calls_per_endpoint(Balancer::least_loaded(endpoints)).await?;
    println!(
        "least-loaded: slow replica-c got fewer calls: {}",
        least["replica-c"] < least["replica-a"]
    );
    Ok(())
}
