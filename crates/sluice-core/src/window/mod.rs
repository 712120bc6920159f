//! Windows: tumbling, sliding and session windows over processing time or event time.
//!
//! ```
//! use sluice_core::{Flow, Operators};
//! use sluice_core::window::{Window, Count};
//! use std::time::Duration;
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! // (user, event time in ms)
//! let clicks = vec![("ann", 1_000), ("bob", 1_500), ("ann", 12_000)];
//! let mut counts = Flow::from_iter(clicks)
//!     .key_by(|c| c.0)
//!     .window(Window::tumbling(Duration::from_secs(10)).event_time(|c: &(&str, i64)| c.1))
//!     .aggregate(Count)
//!     .map(|w| (w.key, w.start, w.value))
//!     .collect()
//!     .await
//!     .expect("ran");
//! counts.sort();
//! assert_eq!(counts, vec![("ann", 0, 1), ("ann", 10_000, 1), ("bob", 0, 1)]);
//! # }
//! ```
//!
//! # Time
//! In **processing time** (the default) an item's time is when the stage receives it, and a
//! window closes when the clock passes its end. In **event time** ([`Window::event_time`]) an
//! item's time is taken from the item; the stage's *watermark* is the greatest event time seen
//! minus the allowed lateness, and a window closes when the watermark passes its end. Times are
//! milliseconds since the Unix epoch and windows are aligned to the epoch.
//!
//! # Late items
//! An item whose windows have all closed is *late*. It is never dropped silently: it fails with
//! [`ItemError::Late`](crate::ItemError::Late), so it is counted in the stage's errors and goes
//! to the stage's error output (or is logged when none is wired).
//!
//! # End of input
//! When the input ends (including on shutdown) every open window closes and is emitted, so no
//! item is held back. A window's result carries a token that joins the tokens of its items:
//! their origins learn the outcome when the result is delivered.
//!
//! # Memory
//! A window holds one accumulator per key, not its items (unless the aggregate keeps them, as
//! [`Collect`] does). Sliding windows hold `size / slide` accumulators per key.

mod aggregate;
mod assign;
mod stage;

pub use aggregate::{Aggregate, Collect, Count, Fold, Stats, Summary, fold};

use std::fmt;
use std::hash::Hash;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::flow::Flow;
use crate::flow::stage::Stage;
use crate::keyed::{KeyFn, Keyed};

/// Extracts an item's event time in milliseconds since the Unix epoch.
pub(crate) type TimeFn<T> = Box<dyn Fn(&T) -> i64 + Send>;

/// The shape of a window and the time it runs on.
pub struct Window<T> {
    pub(crate) shape: Shape,
    pub(crate) event_time: Option<TimeFn<T>>,
    pub(crate) allowed_lateness: Duration,
}

/// Tumbling, sliding or session, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    Tumbling { size: i64 },
    Sliding { size: i64, slide: i64 },
    Session { gap: i64 },
}

impl<T> fmt::Debug for Window<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Window")
            .field("shape", &self.shape)
            .field("event_time", &self.event_time.is_some())
            .field("allowed_lateness", &self.allowed_lateness)
            .finish()
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX).max(1)
}

impl<T> Window<T> {
    fn new(shape: Shape) -> Window<T> {
        Window {
            shape,
            event_time: None,
            allowed_lateness: Duration::ZERO,
        }
    }

    /// Back-to-back windows of `size` (at least 1 ms).
    pub fn tumbling(size: Duration) -> Window<T> {
        Window::new(Shape::Tumbling { size: millis(size) })
    }

    /// Windows of `size` starting every `slide`: an item is in `size / slide` windows.
    pub fn sliding(size: Duration, slide: Duration) -> Window<T> {
        Window::new(Shape::Sliding {
            size: millis(size),
            slide: millis(slide),
        })
    }

    /// Per-key sessions that stay open while items keep arriving less than `gap` apart.
    pub fn session(gap: Duration) -> Window<T> {
        Window::new(Shape::Session { gap: millis(gap) })
    }

    /// Runs on event time: `time` gives an item's time in milliseconds since the Unix epoch.
    pub fn event_time(mut self, time: impl Fn(&T) -> i64 + Send + 'static) -> Window<T> {
        self.event_time = Some(Box::new(time));
        self
    }

    /// In event time, how far behind the greatest event time seen an item may be and still
    /// count: windows close that much later. Defaults to zero.
    pub fn allowed_lateness(mut self, lateness: Duration) -> Window<T> {
        self.allowed_lateness = lateness;
        self
    }
}

/// One closed window's result.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowResult<K, V> {
    /// The key (`()` for windows over a whole flow).
    pub key: K,
    /// Start, inclusive, in milliseconds since the Unix epoch.
    pub start: i64,
    /// End, exclusive, in milliseconds since the Unix epoch.
    pub end: i64,
    /// How many items the window held.
    pub count: u64,
    /// The aggregate's result.
    pub value: V,
}

impl<K, V> WindowResult<K, V> {
    /// The window's start as a system time.
    pub fn start_time(&self) -> SystemTime {
        epoch_plus(self.start)
    }

    /// The window's end as a system time.
    pub fn end_time(&self) -> SystemTime {
        epoch_plus(self.end)
    }
}

fn epoch_plus(ms: i64) -> SystemTime {
    let offset = Duration::from_millis(ms.unsigned_abs());
    if ms >= 0 {
        UNIX_EPOCH + offset
    } else {
        UNIX_EPOCH - offset
    }
}

/// A flow with its windows chosen, waiting for an aggregate.
#[must_use = "choose an aggregate to get the windows' results"]
pub struct Windowed<T, K> {
    stage: Stage<T>,
    key: KeyFn<T, K>,
    window: Window<T>,
}

impl<T: Send + 'static, K> Windowed<T, K> {
    /// The windows of the items entering `stage`, per `key`.
    pub(crate) fn new(stage: Stage<T>, key: KeyFn<T, K>, window: Window<T>) -> Windowed<T, K> {
        Windowed { stage, key, window }
    }
}

impl<T: Send + 'static, K: Hash + Eq + Clone + Send + 'static> Windowed<T, K> {
    /// Computes `aggregate` over each window (per key).
    pub fn aggregate<A: Aggregate<T>>(self, aggregate: A) -> Flow<WindowResult<K, A::Output>> {
        stage::spawn(self.stage, self.key, self.window, aggregate)
    }

    /// Counts each window's items.
    pub fn count(self) -> Flow<WindowResult<K, u64>> {
        self.aggregate(Count)
    }
}

impl<T: Send + 'static, K: Hash + Eq + Clone + Send + 'static> Keyed<T, K> {
    /// Groups each key's items into windows; see the [module docs](crate::window).
    pub fn window(self, window: Window<T>) -> Windowed<T, K> {
        let (stage, key) = self.into_parts();
        Windowed::new(stage, key, window)
    }
}
