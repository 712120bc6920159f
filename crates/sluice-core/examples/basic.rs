//! Basic pipeline (seed 002): generator → square → sum, each stage a concurrent task.

use sluice_core::{Flow, Operators};

#[tokio::main]
async fn main() -> Result<(), sluice_core::Error> {
    let squares = Flow::from_iter(1..=5u64).map(|n| n * n);
    let total = squares.fold(0, |sum, n| sum + n).await?;
    println!("sum of squares 1..=5: {total}");
    Ok(())
}
