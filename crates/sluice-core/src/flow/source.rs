//! Sources: where a flow's items come from.
//!
//! A source pulls a batch of what is ready (up to the pipeline's batch size, and, with a memory
//! limit, up to its output channel's share of it in bytes) and sends it on.
//! On shutdown it stops pulling; what it already pulled is still sent, so it drains with the
//! rest rather than being dropped.

use futures::{FutureExt, Stream, StreamExt};
use tokio::sync::mpsc;

use crate::ack::{AckToken, Acked};
use crate::batch::Batch;
use crate::channel::Sender;
use crate::flow::Flow;
use crate::pipeline::Pipeline;
use crate::stats::StageMetrics;
use crate::weigh::Weigher;

/// A named source of a pipeline: `pipeline.source("orders").from_stream(…)`.
pub struct Source {
    pipeline: Pipeline,
    name: String,
    capacity: Option<usize>,
    stop_on_shutdown: bool,
}

impl Pipeline {
    /// Starts a source called `name`.
    pub fn source(&self, name: impl Into<String>) -> Source {
        Source {
            pipeline: self.clone(),
            name: name.into(),
            capacity: None,
            stop_on_shutdown: true,
        }
    }

    /// A source of the items of `iter`; see [`Source::from_iter`].
    #[allow(clippy::should_implement_trait)]
    pub fn from_iter<I>(&self, iter: I) -> Flow<I::Item>
    where
        I: IntoIterator + Send + 'static,
        I::IntoIter: Send,
        I::Item: Send + 'static,
    {
        self.source("source").from_iter(iter)
    }

    /// A source of the items of `stream`; see [`Source::from_stream`].
    pub fn from_stream<S>(&self, stream: S) -> Flow<S::Item>
    where
        S: Stream + Send + 'static,
        S::Item: Send + 'static,
    {
        self.source("source").from_stream(stream)
    }
}

impl Source {
    /// Keeps pulling from the stream after a shutdown starts, until it ends: for a producer that
    /// watches the pipeline's [cancel token](Pipeline::cancel_token) itself and must finish
    /// cleanly (write a checkpoint, say) before the pipeline counts as drained. Defaults to
    /// stopping at once.
    pub fn drain_on_shutdown(mut self) -> Source {
        self.stop_on_shutdown = false;
        self
    }

    /// Bounds the source's output channel to `items`.
    pub fn capacity(mut self, items: usize) -> Source {
        self.capacity = Some(items.max(1));
        self
    }

    /// The items of `iter`, pulled a batch at a time. The iterator runs on the runtime's
    /// threads: it must not block (use [`from_stream`](Self::from_stream) for I/O).
    #[allow(clippy::should_implement_trait)]
    pub fn from_iter<I>(self, iter: I) -> Flow<I::Item>
    where
        I: IntoIterator + Send + 'static,
        I::IntoIter: Send,
        I::Item: Send + 'static,
    {
        self.spawn(move |ctx| async move {
            let mut items = iter.into_iter();
            while !ctx.cancel.is_cancelled() {
                let started = std::time::Instant::now();
                let mut batch = Vec::new();
                let mut weight = 0;
                while !ctx.full(batch.len(), weight) {
                    let Some(item) = items.next() else { break };
                    weight += ctx.weight(&item);
                    batch.push(item);
                }
                if batch.is_empty() {
                    break;
                }
                ctx.metrics.processed(0, started.elapsed());
                if !ctx.emit(Batch::from_items(batch)).await {
                    break;
                }
            }
        })
    }

    /// The items of `stream`: each batch is what the stream has ready, up to the batch size.
    pub fn from_stream<S>(self, stream: S) -> Flow<S::Item>
    where
        S: Stream + Send + 'static,
        S::Item: Send + 'static,
    {
        self.from_acked_stream(stream.map(|item| Acked::new(item, AckToken::none())))
    }

    /// Items with acknowledgement tokens: each token learns its item's final outcome.
    pub fn from_acked_stream<S, T>(self, stream: S) -> Flow<T>
    where
        S: Stream<Item = Acked<T>> + Send + 'static,
        T: Send + 'static,
    {
        let stop_on_shutdown = self.stop_on_shutdown;
        self.spawn(move |ctx| async move {
            let mut stream = std::pin::pin!(stream.fuse());
            loop {
                let next = tokio::select! {
                    biased;
                    () = ctx.cancel.cancelled(), if stop_on_shutdown => None,
                    first = stream.next() => first,
                };
                let Some(first) = next else { break };
                // What else is ready, up to the batch size and the channel's share in bytes.
                let mut weight = ctx.weight(&first.item);
                let mut batch = Batch::default();
                batch.push(first.item, first.ack);
                while !ctx.full(batch.len(), weight) {
                    let Some(Some(item)) = stream.next().now_or_never() else {
                        break;
                    };
                    weight += ctx.weight(&item.item);
                    batch.push(item.item, item.ack);
                }
                if !ctx.emit(batch).await {
                    break;
                }
            }
        })
    }

    /// The items received on `rx`; the flow ends when every sender is dropped.
    pub fn from_channel<T: Send + 'static>(self, mut rx: mpsc::Receiver<T>) -> Flow<T> {
        self.spawn(move |ctx| async move {
            loop {
                let mut items = Vec::with_capacity(ctx.batch_size);
                let got = tokio::select! {
                    biased;
                    () = ctx.cancel.cancelled() => 0,
                    n = rx.recv_many(&mut items, ctx.batch_size) => n,
                };
                if got == 0 || !ctx.emit(Batch::from_items(items)).await {
                    break;
                }
            }
        })
    }

    fn spawn<T, Fut>(self, body: impl FnOnce(SourceCtx<T>) -> Fut + Send + 'static) -> Flow<T>
    where
        T: Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Source {
            pipeline,
            name,
            capacity,
            ..
        } = self;
        let (tx, rx) = pipeline.channel(capacity);
        let stats = pipeline.add_stage(&name, "source");
        let cancel = pipeline.cancel();
        // A batch never exceeds the channel, so the channel's bound is a bound on items.
        let batch_size = pipeline.config().batch_size.min(rx.gauge().capacity());
        pipeline.spawn(stats.name_arc(), async move {
            let metrics = StageMetrics::start(stats);
            // The share is given when the run starts, before this runs.
            let (weigh, share) = tx.byte_bound();
            body(SourceCtx {
                metrics: metrics.clone(),
                cancel,
                batch_size,
                weigh,
                share,
                tx,
            })
            .await;
            metrics.finish();
        });
        Flow::new(pipeline, rx)
    }
}

/// What a running source uses.
struct SourceCtx<T> {
    metrics: StageMetrics,
    cancel: tokio_util::sync::CancellationToken,
    batch_size: usize,
    /// What an item weighs, and the output channel's share in bytes (0: none).
    weigh: Option<Weigher<T>>,
    share: usize,
    tx: Sender<T>,
}

impl<T> SourceCtx<T> {
    /// What `item` weighs, when the output channel is bounded in bytes.
    fn weight(&self, item: &T) -> usize {
        self.weigh.map_or(0, |w| w(item))
    }

    /// Whether a batch of `len` items weighing `weight` bytes is full.
    fn full(&self, len: usize, weight: usize) -> bool {
        len >= self.batch_size || (self.share > 0 && weight >= self.share)
    }

    /// Sends a batch on; false once nobody downstream listens.
    async fn emit(&self, batch: Batch<T>) -> bool {
        let n = batch.len();
        self.metrics.received(n);
        self.metrics.emitted(n);
        self.tx.send(batch).await.is_ok()
    }
}

impl<T: Send + 'static> Flow<T> {
    /// A new pipeline whose source yields the items of `iter`.
    #[allow(clippy::should_implement_trait)]
    pub fn from_iter<I>(iter: I) -> Flow<T>
    where
        I: IntoIterator<Item = T> + Send + 'static,
        I::IntoIter: Send,
    {
        Pipeline::new("pipeline").from_iter(iter)
    }

    /// A new pipeline whose source yields the items of `stream`.
    pub fn from_stream<S>(stream: S) -> Flow<T>
    where
        S: Stream<Item = T> + Send + 'static,
    {
        Pipeline::new("pipeline").from_stream(stream)
    }

    /// A new pipeline whose source yields the items of `stream` with their tokens.
    pub fn from_acked_stream<S>(stream: S) -> Flow<T>
    where
        S: Stream<Item = Acked<T>> + Send + 'static,
    {
        Pipeline::new("pipeline")
            .source("source")
            .from_acked_stream(stream)
    }

    /// A new pipeline whose source yields what arrives on `rx`.
    pub fn from_channel(rx: mpsc::Receiver<T>) -> Flow<T> {
        Pipeline::new("pipeline").source("source").from_channel(rx)
    }
}
