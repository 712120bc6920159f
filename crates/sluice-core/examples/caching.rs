//! Caching (seed 002): repeated lookups are answered from a bounded, expiring cache; only
//! misses reach the service.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use sluice_core::{Cache, Flow, Operators};

#[tokio::main]
async fn main() -> Result<(), sluice_core::Error> {
    let cache: Cache<u32, String> = Cache::new(1_000, Duration::from_secs(60));
    let lookups = Arc::new(AtomicU32::new(0));
    let made = Arc::clone(&lookups);
    let user_ids = [7u32, 3, 7, 7, 9, 3, 7, 9, 9, 1];
    let names = Flow::from_iter(user_ids)
        .call_cached(
            4,
            cache.clone(),
            |id: &u32| *id,
            move |id: &u32| {
                made.fetch_add(1, Ordering::SeqCst);
                let name = format!("user-{id}");
                async move { Ok::<_, std::io::Error>(name) }
            },
        )
        .collect()
        .await?;
    println!("{names:?}");
    println!("service lookups: {}", lookups.load(Ordering::SeqCst));
    println!("cache hits: {}, misses: {}", cache.hits(), cache.misses());
    Ok(())
}
