//! The bounded channel between two stages, with its capacity counted in *items*.
//!
//! Batches travel on an unbounded queue; a semaphore holding one permit per item of capacity
//! bounds it. A sender takes as many permits as its batch has items (a batch larger than the
//! whole capacity takes all of it) and waits while they are not there: that wait *is*
//! backpressure. The receiver gives the permits back when it takes the batch, so memory stays
//! bounded by `capacity × item size` per channel.
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

/// Depth accounting shared by both ends, read by the stage metrics.
#[derive(Debug)]
pub(crate) struct ChannelGauge {
    permits: Semaphore,
    capacity: usize,
    max_depth: AtomicUsize,
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
}

/// The sending end; cloned for every producer of a fan-in.
pub(crate) struct Sender<T> {
    tx: mpsc::UnboundedSender<Batch<T>>,
    gauge: Arc<ChannelGauge>,
    probe: Arc<OnceLock<Arc<Probe<T>>>>,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender {
            tx: self.tx.clone(),
            gauge: Arc::clone(&self.gauge),
            probe: Arc::clone(&self.probe),
        }
    }
}

/// The receiving end, owned by the downstream stage.
pub(crate) struct Receiver<T> {
    rx: mpsc::UnboundedReceiver<Batch<T>>,
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

/// A bounded channel holding at most `capacity` items (at least one).
pub(crate) fn bounded<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let capacity = capacity.clamp(1, Semaphore::MAX_PERMITS);
    let gauge = Arc::new(ChannelGauge {
        permits: Semaphore::new(capacity),
        capacity,
        max_depth: AtomicUsize::new(0),
    });
    let (tx, rx) = mpsc::unbounded_channel();
    let probe = Arc::new(OnceLock::new());
    (
        Sender {
            tx,
            gauge: Arc::clone(&gauge),
            probe: Arc::clone(&probe),
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
    /// Sends a batch, waiting while the channel is full. Empty batches are not sent.
    pub(crate) async fn send(&self, batch: Batch<T>) -> Result<(), SendError<T>> {
        if batch.is_empty() {
            return Ok(());
        }
        let need = self.gauge.permits_for(batch.len());
        match self.gauge.permits.acquire_many(need).await {
            Ok(permit) => permit.forget(),
            Err(_closed) => return Err(SendError(batch)),
        }
        self.gauge
            .max_depth
            .fetch_max(self.gauge.depth(), Ordering::Relaxed);
        if let Some(probe) = self.probe.get() {
            probe.saw(&batch.items);
        }
        self.tx.send(batch).map_err(|e| SendError(e.0))
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
        let batch = self.rx.recv().await?;
        Some(self.took(batch))
    }

    /// The next batch if one is waiting.
    pub(crate) fn try_recv(&mut self) -> Option<Batch<T>> {
        if let Some(spans) = &mut self.spans {
            spans.done();
        }
        let batch = self.rx.try_recv().ok()?;
        Some(self.took(batch))
    }

    fn took(&mut self, batch: Batch<T>) -> Batch<T> {
        self.gauge
            .permits
            .add_permits(self.gauge.permits_for(batch.len()) as usize);
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn capacity_is_counted_in_items() {
        let (tx, mut rx) = bounded::<u32>(4);
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
    async fn oversized_batch_takes_whole_capacity() {
        let (tx, mut rx) = bounded::<u32>(2);
        tx.send(Batch::from_items(vec![1, 2, 3, 4]))
            .await
            .expect("fits alone");
        assert_eq!(rx.recv().await.expect("batch").len(), 4);
    }

    #[tokio::test]
    async fn dropped_receiver_hands_batch_back() {
        let (tx, rx) = bounded::<u32>(1);
        tx.send(Batch::from_items(vec![1])).await.expect("room");
        let waiting = tokio::spawn(async move { tx.send(Batch::from_items(vec![2])).await });
        tokio::task::yield_now().await;
        drop(rx);
        let err = waiting.await.expect("join").expect_err("closed");
        assert_eq!(err.0.items, vec![2]);
    }

    #[tokio::test]
    async fn ends_after_senders_are_gone() {
        let (tx, mut rx) = bounded::<u32>(8);
        tx.send(Batch::from_items(vec![7])).await.expect("room");
        drop(tx);
        assert_eq!(rx.recv().await.expect("queued").items, vec![7]);
        assert!(rx.recv().await.is_none());
    }
}
