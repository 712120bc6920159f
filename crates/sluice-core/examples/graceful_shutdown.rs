//! Graceful shutdown (seed 002): an endless source runs until Ctrl-C (SIGINT) or SIGTERM; the
//! source then stops, everything already inside drains, and the summary shows nothing was lost
//! between stages. A second signal aborts at once.

use std::time::Duration;

use sluice_core::{Operators, Pipeline, PipelineConfig};

#[tokio::main]
async fn main() -> Result<(), sluice_core::Error> {
    let config = PipelineConfig::default()
        .handle_signals(true)
        .shutdown_timeout(Duration::from_secs(10));
    let p = Pipeline::with_config("endless", config);
    let ticks = futures::stream::unfold(0u64, |n| async move {
        tokio::time::sleep(Duration::from_millis(1)).await;
        Some((n, n + 1))
    });
    println!("running; press Ctrl-C to stop");
    let report = p
        .source("ticks")
        .from_stream(ticks)
        .map(|n| n * 2)
        .stage("sink")
        .inspect(|_| {})
        .run()
        .await?;
    let pulled = report.stage("ticks").map_or(0, |s| s.items_out);
    let written = report.stage("sink").map_or(0, |s| s.items_out);
    println!("stopped cleanly: {}", report.cancelled);
    println!(
        "pulled {pulled}, written {written}, lost {}",
        pulled - written
    );
    Ok(())
}
