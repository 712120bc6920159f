//! Tumbling and sliding windows (seed 002): counts and averages of events per time window, on
//! the events' own timestamps.

use std::time::Duration;

use sluice_core::window::{Stats, Window};
use sluice_core::{Flow, Operators};

/// (seconds since the start, response time in ms)
const EVENTS: [(i64, f64); 8] = [
    (0, 120.0),
    (3, 80.0),
    (7, 200.0),
    (11, 90.0),
    (12, 60.0),
    (19, 300.0),
    (24, 100.0),
    (29, 50.0),
];

#[tokio::main]
async fn main() -> Result<(), sluice_core::Error> {
    let at = |e: &(i64, f64)| e.0 * 1000;
    let tumbling = Flow::from_iter(EVENTS)
        .window(Window::tumbling(Duration::from_secs(10)).event_time(at))
        .aggregate(Stats(|e: &(i64, f64)| e.1))
        .collect()
        .await?;
    for w in tumbling {
        println!(
            "tumbling [{:>2}s, {:>2}s): {} events, mean {:.0} ms",
            w.start / 1000,
            w.end / 1000,
            w.count,
            w.value.mean().unwrap_or(0.0)
        );
    }
    let sliding = Flow::from_iter(EVENTS)
        .window(Window::sliding(Duration::from_secs(10), Duration::from_secs(5)).event_time(at))
        .count()
        .collect()
        .await?;
    for w in sliding {
        println!(
            "sliding  [{:>2}s, {:>2}s): {} events",
            w.start / 1000,
            w.end / 1000,
            w.value
        );
    }
    Ok(())
}
