//! Backpressure (seed 002): a slow sink slows the source down instead of letting buffers grow;
//! every queue stays within its bound.

use std::time::Duration;

use sluice_core::{Operators, Pipeline, PipelineConfig};

#[tokio::main]
async fn main() -> Result<(), sluice_core::Error> {
    let p = Pipeline::with_config("backpressure", PipelineConfig::default().capacity(50));
    let report = p
        .source("fast-producer")
        .from_iter(0..2_000u32)
        .map(|n| n * 2)
        .stage("slow-writer")
        .call(2, |n: &u32| {
            let n = *n;
            async move {
                if n.is_multiple_of(200) {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Ok::<_, std::io::Error>(())
            }
        })
        .run()
        .await?;
    for stage in &report.stages {
        if stage.queue_capacity > 0 {
            println!(
                "{:<12} most queued {:>3} of {}",
                stage.name, stage.queue_max, stage.queue_capacity
            );
            assert!(stage.queue_max <= stage.queue_capacity);
        }
    }
    println!(
        "all {} items written; no queue grew past its bound",
        report.stage("drain").map_or(0, |s| s.items_in)
    );
    Ok(())
}
