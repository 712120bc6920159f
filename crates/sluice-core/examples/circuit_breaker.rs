//! Circuit breaker (seed 002): when a service keeps failing the breaker opens and items go
//! straight to the error output instead of waiting on it; after a pause trial calls probe it and
//! the breaker closes again once they succeed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use sluice_core::{BreakerConfig, CircuitBreaker, ItemError, Operators, Pipeline};

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() -> Result<(), sluice_core::Error> {
    let breaker = CircuitBreaker::new(BreakerConfig {
        failure_ratio: 0.5,
        min_calls: 4,
        window: 4,
        open_for: Duration::from_secs(1),
        half_open_calls: 1,
    });
    let calls = Arc::new(AtomicU32::new(0));
    let made = Arc::clone(&calls);
    let p = Pipeline::new("breaker");
    let (errors, failed) = p.error_output::<u32>();
    let rejected = tokio::spawn(failed.collect());
    let ok = p
        .source("requests")
        .from_stream(futures::stream::iter(0..30u32).then(|n| async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            n
        }))
        .stage("service")
        .circuit_breaker(breaker)
        .errors_to(errors)
        .call(1, move |n: &u32| {
            made.fetch_add(1, Ordering::SeqCst);
            // The service is down for requests 5 to 14.
            let down = (5..15).contains(n);
            let n = *n;
            async move {
                if down {
                    Err("503 service unavailable")
                } else {
                    Ok(n)
                }
            }
        })
        .collect()
        .await?;
    let rejected = rejected
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
    let fast_failed = rejected
        .iter()
        .filter(|f| matches!(f.error, ItemError::CircuitOpen))
        .count();
    println!("answered: {}", ok.len());
    println!("failed by the service: {}", rejected.len() - fast_failed);
    println!("failed fast while open: {fast_failed}");
    println!("calls made: {} of 30", calls.load(Ordering::SeqCst));
    Ok(())
}

use futures::StreamExt;
