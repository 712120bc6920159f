//! Buffered pipeline (seed 002): bounded buffers between stages let a fast producer run ahead
//! of a slower consumer by up to the buffer's size, and no further.

use std::time::Duration;

use sluice_core::{Operators, Pipeline, PipelineConfig};

#[tokio::main]
async fn main() -> Result<(), sluice_core::Error> {
    // Each channel holds at most 100 items; sources send at most 10 at a time.
    let p = Pipeline::with_config(
        "buffered",
        PipelineConfig::default().capacity(100).batch_size(10),
    );
    p.source("generator")
        .from_iter(0..1_000u32)
        .stage("slow-consumer")
        .call(1, |n: &u32| {
            let n = *n;
            async move {
                if n.is_multiple_of(100) {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Ok::<_, std::io::Error>(n)
            }
        })
        .run()
        .await?;
    let report = p
        .report()
        .unwrap_or_else(|| unreachable!("a finished run has a report"));
    let queue = report.stage("slow-consumer").map_or(0, |s| s.queue_max);
    println!(
        "items through: {}",
        report.stage("drain").map_or(0, |s| s.items_in)
    );
    println!("most items waiting before the consumer: {queue} (bound: 100)");
    assert!(queue <= 100);
    Ok(())
}
