//! Timeout (seed 002): a call that takes too long fails that item, not the pipeline.

use std::time::Duration;

use sluice_core::{Operators, Pipeline};

#[tokio::main]
async fn main() -> Result<(), sluice_core::Error> {
    let p = Pipeline::new("timeout");
    let (errors, failed) = p.error_output::<u64>();
    let timed_out = tokio::spawn(
        failed
            .map(|f| format!("item {}: {}", f.item, f.reason()))
            .collect(),
    );

    let answered = p
        .from_iter([10u64, 500, 20, 800, 30])
        .stage("lookup")
        .timeout(Duration::from_millis(100))
        .errors_to(errors)
        .call(5, |delay_ms: &u64| {
            let delay = Duration::from_millis(*delay_ms);
            async move {
                tokio::time::sleep(delay).await;
                Ok::<_, std::io::Error>(delay.as_millis())
            }
        })
        .collect()
        .await?;
    println!("answered within 100ms: {answered:?}");
    for line in timed_out
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?
    {
        println!("{line}");
    }
    Ok(())
}
