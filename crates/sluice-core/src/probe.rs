//! Probes: what passes one point of a flow, counted, and sampled for whoever listens.
//!
//! A [`Probe`] sits on a flow's channel ([`Flow::probe`](crate::Flow::probe)), not in a stage of
//! its own: the stage that writes to the channel counts each batch it sends (one atomic
//! addition) and, only while someone listens, formats a sample of its items for each listener. A
//! listener ([`Sample`]) gets at most `rate` items a second into a buffer of its own; what does
//! not fit is dropped and counted, so a slow listener loses samples and never slows the flow.
//!
//! The live views of a running process (`sluice top`, `sluice tap`, the web console) read
//! probes through [`Tap`], which hides the item type.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::mpsc;

/// Counts the items passing a point of a flow and lends samples of them to listeners.
pub struct Probe<T> {
    passed: AtomicU64,
    listening: AtomicBool,
    listeners: Mutex<Vec<Listener>>,
    format: fn(&T) -> String,
}

impl<T> std::fmt::Debug for Probe<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probe")
            .field("passed", &self.passed())
            .field("listening", &self.listening.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// One listener: its buffer, its allowance of items (a token bucket refilled at `rate` a
/// second, at least one, holding one second's worth) and what it lost.
struct Listener {
    tx: mpsc::Sender<String>,
    rate: f64,
    tokens: f64,
    refilled: Instant,
    dropped: Arc<AtomicU64>,
}

impl Listener {
    /// Takes one item's allowance if there is one.
    fn allow(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.refilled = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.rate);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The items a listener receives, as formatted by the probe.
#[derive(Debug)]
pub struct Sample {
    rx: mpsc::Receiver<String>,
    dropped: Arc<AtomicU64>,
}

impl Sample {
    /// The next item; waits for one.
    pub async fn next(&mut self) -> Option<String> {
        self.rx.recv().await
    }

    /// Items allowed by the rate that were dropped because the buffer was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// A probe seen without its item type.
pub trait Tap: Send + Sync {
    /// Items that passed so far.
    fn passed(&self) -> u64;
    /// Starts listening: at most `rate` items a second (at least one), held in a buffer of
    /// `buffer` items (at least one). The probe forgets a listener once its [`Sample`] is
    /// dropped.
    fn listen(&self, rate: f64, buffer: usize) -> Sample;
}

impl<T> Probe<T> {
    /// A probe whose samples are `format`ted so (as JSON, say).
    pub fn new(format: fn(&T) -> String) -> Arc<Probe<T>> {
        Arc::new(Probe {
            passed: AtomicU64::new(0),
            listening: AtomicBool::new(false),
            listeners: Mutex::new(Vec::new()),
            format,
        })
    }

    /// Called by the writing stage for each batch it sends.
    #[inline]
    pub(crate) fn saw(&self, items: &[T]) {
        self.passed.fetch_add(items.len() as u64, Ordering::Relaxed);
        if self.listening.load(Ordering::Relaxed) {
            self.offer(items);
        }
    }

    #[cold]
    fn offer(&self, items: &[T]) {
        let Ok(mut listeners) = self.listeners.lock() else {
            return;
        };
        listeners.retain(|l| !l.tx.is_closed());
        if listeners.is_empty() {
            self.listening.store(false, Ordering::Relaxed);
            return;
        }
        let now = Instant::now();
        for listener in listeners.iter_mut() {
            for item in items {
                if !listener.allow(now) {
                    break;
                }
                if listener.tx.try_send((self.format)(item)).is_err() {
                    listener.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

impl<T> Tap for Probe<T> {
    fn passed(&self) -> u64 {
        self.passed.load(Ordering::Relaxed)
    }

    fn listen(&self, rate: f64, buffer: usize) -> Sample {
        let (tx, rx) = mpsc::channel(buffer.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        let rate = if rate.is_finite() { rate.max(1.0) } else { 1.0 };
        let listener = Listener {
            tx,
            rate,
            tokens: rate,
            refilled: Instant::now(),
            dropped: Arc::clone(&dropped),
        };
        if let Ok(mut listeners) = self.listeners.lock() {
            listeners.push(listener);
            self.listening.store(true, Ordering::Relaxed);
        }
        Sample { rx, dropped }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Flow, Operators};

    fn text(n: &u64) -> String {
        n.to_string()
    }

    #[tokio::test]
    async fn a_probe_counts_every_item_and_samples_only_while_listened_to() {
        let probe = Probe::new(text);
        probe.saw(&[1, 2, 3]);
        let mut sample = probe.listen(1000.0, 16);
        probe.saw(&[4, 5]);
        assert_eq!(probe.passed(), 5);
        assert_eq!(sample.next().await.as_deref(), Some("4"));
        assert_eq!(sample.next().await.as_deref(), Some("5"));
        drop(sample);
        probe.saw(&[6]);
        assert!(
            !probe.listening.load(Ordering::Relaxed),
            "a dropped sample is forgotten"
        );
    }

    #[tokio::test]
    async fn a_listener_gets_at_most_its_rate_and_a_full_buffer_drops() {
        let probe = Probe::new(text);
        let mut sample = probe.listen(10.0, 4);
        let items: Vec<u64> = (0..1000).collect();
        probe.saw(&items);
        // One second's allowance (10), of which the buffer holds 4: 6 dropped.
        assert_eq!(sample.dropped(), 6);
        let mut got = Vec::new();
        while let Ok(item) = sample.rx.try_recv() {
            got.push(item);
        }
        assert_eq!(got, ["0", "1", "2", "3"]);
    }

    #[tokio::test]
    async fn a_probe_on_a_flow_sees_what_its_writer_sends() {
        let probe = Probe::new(text);
        let mut sample = probe.listen(1000.0, 100);
        let sum = Flow::from_iter(1..=10u64)
            .probe(&probe)
            .map(|x| x * 2)
            .fold(0, |a, x| a + x)
            .await
            .expect("ran");
        assert_eq!(sum, 110);
        assert_eq!(probe.passed(), 10);
        assert_eq!(sample.next().await.as_deref(), Some("1"));
    }
}
