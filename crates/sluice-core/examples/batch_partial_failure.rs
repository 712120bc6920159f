//! Batch processing with partial failures (seed 002): items are handled in groups; the ones
//! a group fails go to the error output with their reasons while the rest go on.

use std::time::Duration;

use sluice_core::{Operators, Pipeline};

#[tokio::main]
async fn main() -> Result<(), sluice_core::Error> {
    let p = Pipeline::new("batches");
    let (errors, failed) = p.error_output::<u32>();
    let dead = tokio::spawn(
        failed
            .map(|f| format!("item {}: {}", f.item, f.reason()))
            .collect(),
    );
    let stored = p
        .from_iter(1..=20u32)
        .stage("store")
        .errors_to(errors)
        .try_batch(5, Duration::from_millis(100), |batch: &[u32]| {
            println!("batch of {}: {batch:?}", batch.len());
            batch
                .iter()
                .map(|item| {
                    if item % 3 == 0 {
                        Err(format!("failed to process item {item}"))
                    } else {
                        Ok(*item)
                    }
                })
                .collect()
        })
        .collect()
        .await?;
    println!("stored {} items: {stored:?}", stored.len());
    for line in dead
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?
    {
        println!("dead letter: {line}");
    }
    Ok(())
}
