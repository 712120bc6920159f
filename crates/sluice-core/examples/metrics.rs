//! Metrics (seed 002): every stage counts items in and out, errors, retries, latency, queue
//! depth and busy time, through the `metrics` facade (here rendered as Prometheus text) and in
//! the end-of-run summary.

use metrics_exporter_prometheus::PrometheusBuilder;
use sluice_core::{Operators, Pipeline};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let prometheus = PrometheusBuilder::new().install_recorder()?;
    let p = Pipeline::new("metrics");
    p.from_iter(1..=1000u32)
        .stage("evens")
        .filter(|n| n % 2 == 0)
        .stage("parse")
        .try_map(|n: &u32| {
            if n.is_multiple_of(100) {
                Err("multiple of 100")
            } else {
                Ok(*n)
            }
        })
        .run()
        .await?;
    for line in prometheus.render().lines() {
        if line.starts_with("sluice_stage_items_") || line.starts_with("sluice_stage_errors_total")
        {
            println!("{line}");
        }
    }
    println!();
    print!("{}", p.report().ok_or("the run has a report")?);
    Ok(())
}
