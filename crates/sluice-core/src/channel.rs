//! The bounded channel between two stages, with its capacity counted in *items* and, when the
//! pipeline has a memory limit, in *bytes*.
//!
//! Batches travel on an unbounded queue; a semaphore holding one permit per item of capacity
//! bounds it. A sender takes as many permits as its batch has items (a batch larger than the
//! whole capacity takes all of it) and waits while they are not there: that wait *is*
//! backpressure. The receiver gives the permits back when it takes the batch, so memory stays
//! bounded by `capacity × item size` per channel.
//!
//! A channel bounded in bytes also takes, from a second semaphore, one permit per byte its
//! batch weighs ([`crate::weigh`]), up to the channel's share of the memory limit, which the
//! pipeline gives it when the run starts (a batch heavier than the whole share takes all of it,
//! and so travels alone).
//!
//! # Disconnection
//! Dropping the receiver closes the semaphore: waiting and later sends fail and hand their batch
//! back, so its tokens can be completed as unfinished. When every sender is gone the receiver
//! drains what is queued and then reports the end of the stream.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::sync::{Semaphore, mpsc};

use crate::batch::Batch;
use crate::probe::Probe;
use crate::trace::StageSpans;
use crate::weigh::Weigher;

/// Depth accounting shared by both ends, read by the stage metrics.
#[derive(Debug)]
pub(crate) struct ChannelGauge {
    permits: Semaphore,
    capacity: usize,
    max_depth: AtomicUsize,
    /// One permit per byte of the channel's share of the memory limit.
    bytes: Semaphore,
    /// The share, in bytes; 0 while the channel is not bounded in bytes.
    byte_capacity: AtomicUsize,
    /// Bytes queued right now.
    queued_bytes: AtomicUsize,
}

impl ChannelGauge {
    /// Items queued right now.
    pub(crate) fn depth(&self) -> usize {
        self.capacity
            .saturating_sub(self.permits.available_permits())
    }

    /// The most items ever queued at once.
    pub(crate) fn max_depth(&self) -> usize {
        self.max_depth.load(Ordering::Relaxed)
    }

    /// The bound, in items.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    fn permits_for(&self, len: usize) -> u32 {
        u32::try_from(len.min(self.capacity)).unwrap_or(u32::MAX)
    }

    /// Bytes queued right now.
    pub(crate) fn queued_bytes(&self) -> usize {
        self.queued_bytes.load(Ordering::Relaxed)
    }

    /// The channel's share of the memory limit, in bytes; 0 when it has none.
    pub(crate) fn byte_capacity(&self) -> usize {
        self.byte_capacity.load(Ordering::Relaxed)
    }

    /// Bounds the channel to `share` bytes (at most 4 GiB), once: later calls change nothing.
    pub(crate) fn bound_bytes(&self, share: usize) {
        let share = share.clamp(1, u32::MAX as usize);
        if self
            .byte_capacity
            .compare_exchange(0, share, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.bytes.add_permits(share);
        }
    }
}

/// The sending end; cloned for every producer of a fan-in.
pub(crate) struct Sender<T> {
    tx: mpsc::UnboundedSender<(Batch<T>, u32)>,
    gauge: Arc<ChannelGauge>,
    probe: Arc<OnceLock<Arc<Probe<T>>>>,
    /// What an item weighs, when the channel may be bounded in bytes.
    weigh: Option<Weigher<T>>,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender {
            tx: self.tx.clone(),
            gauge: Arc::clone(&self.gauge),
            probe: Arc::clone(&self.probe),
            weigh: self.weigh,
        }
    }
}

/// The receiving end, owned by the downstream stage.
pub(crate) struct Receiver<T> {
    rx: mpsc::UnboundedReceiver<(Batch<T>, u32)>,
    gauge: Arc<ChannelGauge>,
    /// The spans of the stage reading it, when it is traced.
    spans: Option<Box<StageSpans<T>>>,
    /// What counts and samples the items sent, once the channel is probed (before the
    /// pipeline runs): shared with the senders.
    probe: Arc<OnceLock<Arc<Probe<T>>>>,
}

/// A send failed because the receiver is gone; the batch is handed back.
#[derive(Debug)]
pub(crate) struct SendError<T>(pub(crate) Batch<T>);

/// A bounded channel holding at most `capacity` items (at least one); with `weigh`, it is
/// also bounded in bytes once given its share ([`ChannelGauge::bound_bytes`]).
pub(crate) fn bounded<T>(capacity: usize, weigh: Option<Weigher<T>>) -> (Sender<T>, Receiver<T>) {
    let capacity = capacity.clamp(1, Semaphore::MAX_PERMITS);
    let gauge = Arc::new(ChannelGauge {
        permits: Semaphore::new(capacity),
        capacity,
        max_depth: AtomicUsize::new(0),
        bytes: Semaphore::new(0),
        byte_capacity: AtomicUsize::new(0),
        queued_bytes: AtomicUsize::new(0),
    });
    let (tx, rx) = mpsc::unbounded_channel();
    let probe = Arc::new(OnceLock::new());
    (
        Sender {
            tx,
            gauge: Arc::clone(&gauge),
            probe: Arc::clone(&probe),
            weigh,
        },
        Receiver {
            rx,
            gauge,
            spans: None,
            probe,
        },
    )
}

impl<T> Sender<T> {
    /// What an item weighs and the channel's share in bytes, when it is bounded in bytes (the
    /// share is 0 otherwise, and before the run has started).
    pub(crate) fn byte_bound(&self) -> (Option<Weigher<T>>, usize) {
        (self.weigh, self.gauge.byte_capacity())
    }

    /// Sends a batch, waiting while the channel is full. Empty batches are not sent.
    pub(crate) async fn send(&self, batch: Batch<T>) -> Result<(), SendError<T>> {
        if batch.is_empty() {
            return Ok(());
        }
        let need = self.gauge.permits_for(batch.len());
        // Permits are forgotten (kept taken) only once the batch is sure to be sent: a send
        // dropped while it waits gives back what it took.
        let Ok(items) = self.gauge.permits.acquire_many(need).await else {
            return Err(SendError(batch));
        };
        let bytes = match (self.weigh, self.gauge.byte_capacity()) {
            (Some(weigh), share) if share > 0 => {
                let weight: usize = batch.items.iter().map(weigh).sum();
                let take = u32::try_from(weight.min(share)).unwrap_or(u32::MAX);
                let Ok(bytes) = self.gauge.bytes.acquire_many(take).await else {
                    return Err(SendError(batch));
                };
                bytes.forget();
                self.gauge
                    .queued_bytes
                    .fetch_add(take as usize, Ordering::Relaxed);
                take
            }
            _ => 0,
        };
        items.forget();
        self.gauge
            .max_depth
            .fetch_max(self.gauge.depth(), Ordering::Relaxed);
        if let Some(probe) = self.probe.get() {
            probe.saw(&batch.items);
        }
        self.tx.send((batch, bytes)).map_err(|e| SendError(e.0.0))
    }
}

impl<T> Receiver<T> {
    /// The next batch, or `None` once every sender is gone and the queue is drained.
    ///
    /// Cancel-safe: a batch is either returned or left in the channel.
    pub(crate) async fn recv(&mut self) -> Option<Batch<T>> {
        if let Some(spans) = &mut self.spans {
            spans.done();
        }
        let (batch, bytes) = self.rx.recv().await?;
        Some(self.took(batch, bytes))
    }

    /// The next batch if one is waiting.
    pub(crate) fn try_recv(&mut self) -> Option<Batch<T>> {
        if let Some(spans) = &mut self.spans {
            spans.done();
        }
        let (batch, bytes) = self.rx.try_recv().ok()?;
        Some(self.took(batch, bytes))
    }

    fn took(&mut self, batch: Batch<T>, bytes: u32) -> Batch<T> {
        self.gauge
            .permits
            .add_permits(self.gauge.permits_for(batch.len()) as usize);
        if bytes > 0 {
            self.gauge.bytes.add_permits(bytes as usize);
            self.gauge
                .queued_bytes
                .fetch_sub(bytes as usize, Ordering::Relaxed);
        }
        if let Some(spans) = &mut self.spans {
            spans.took(&batch);
        }
        batch
    }

    /// Counts and samples every item sent into the channel with `probe`; a channel takes one
    /// probe, the first.
    pub(crate) fn probed(self, probe: Arc<Probe<T>>) -> Receiver<T> {
        let _ = self.probe.set(probe);
        self
    }

    /// Gives each sampled item a span in the stage reading this channel (see
    /// [`StageSpans`]); nothing while tracing is off.
    pub(crate) fn traced(
        mut self,
        stage: Arc<str>,
        context_of: fn(&T) -> Option<&opentelemetry::trace::SpanContext>,
    ) -> Receiver<T> {
        self.spans = StageSpans::new(stage, context_of).map(Box::new);
        self
    }

    /// The shared depth accounting, for metrics.
    pub(crate) fn gauge(&self) -> Arc<ChannelGauge> {
        Arc::clone(&self.gauge)
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.gauge.permits.close();
        self.gauge.bytes.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn capacity_is_counted_in_items() {
        let (tx, mut rx) = bounded::<u32>(4, None);
        tx.send(Batch::from_items(vec![1, 2, 3]))
            .await
            .expect("room");
        assert_eq!(rx.gauge().depth(), 3);
        let blocked = tokio::time::timeout(
            Duration::from_millis(20),
            tx.send(Batch::from_items(vec![4, 5])),
        )
        .await;
        assert!(
            blocked.is_err(),
            "two more items exceed the capacity of four"
        );
        let got = rx.recv().await.expect("batch");
        assert_eq!(got.items, vec![1, 2, 3]);
        tx.send(Batch::from_items(vec![4, 5]))
            .await
            .expect("room again");
        assert_eq!(rx.gauge().max_depth(), 3);
    }

    #[tokio::test]
    async fn a_channel_with_a_share_is_bounded_in_bytes_too() {
        let (tx, mut rx) = bounded::<Vec<u8>>(100, Some(|v: &Vec<u8>| v.len()));
        rx.gauge().bound_bytes(1000);
        tx.send(Batch::from_items(vec![vec![0; 600]]))
            .await
            .expect("room");
        assert_eq!(rx.gauge().queued_bytes(), 600);
        let blocked = tokio::time::timeout(
            Duration::from_millis(20),
            tx.send(Batch::from_items(vec![vec![0; 500]])),
        )
        .await;
        assert!(blocked.is_err(), "1,100 bytes exceed the share of 1,000");
        assert_eq!(rx.recv().await.expect("batch").items[0].len(), 600);
        assert_eq!(rx.gauge().queued_bytes(), 0);
        // A batch heavier than the whole share travels alone.
        tx.send(Batch::from_items(vec![vec![0; 5000]]))
            .await
            .expect("alone");
        assert_eq!(rx.gauge().queued_bytes(), 1000);
    }

    #[tokio::test]
    async fn oversized_batch_takes_whole_capacity() {
        let (tx, mut rx) = bounded::<u32>(2, None);
        tx.send(Batch::from_items(vec![1, 2, 3, 4]))
            .await
            .expect("fits alone");
        assert_eq!(rx.recv().await.expect("batch").len(), 4);
    }

    #[tokio::test]
    async fn dropped_receiver_hands_batch_back() {
        let (tx, rx) = bounded::<u32>(1, None);
        tx.send(Batch::from_items(vec![1])).await.expect("room");
        let waiting = tokio::spawn(async move { tx.send(Batch::from_items(vec![2])).await });
        tokio::task::yield_now().await;
        drop(rx);
        let err = waiting.await.expect("join").expect_err("closed");
        assert_eq!(err.0.items, vec![2]);
    }

    #[tokio::test]
    async fn ends_after_senders_are_gone() {
        let (tx, mut rx) = bounded::<u32>(8, None);
        tx.send(Batch::from_items(vec![7])).await.expect("room");
        drop(tx);
        assert_eq!(rx.recv().await.expect("queued").items, vec![7]);
        assert!(rx.recv().await.is_none());
    }
}
