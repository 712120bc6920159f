//! `parallel`: fan a CPU-bound function out to N worker threads and fan the results back in.
//!
//! # Threads, not tasks
//! Workers are OS threads of their own, not tasks on the async runtime. A CPU-bound function on
//! a runtime thread holds it for the whole chunk, starving timers, I/O and the other stages; and
//! tasks that wake each other land in the waking thread's LIFO slot, which other threads cannot
//! steal from, so two "parallel" tasks measured no faster than one. Threads give the parallelism
//! the operator promises. They reach the async channels through `block_on`, which the channels
//! allow from any thread.
//!
//! # Chunks and order
//! Workers share the input. Each batch that arrives is cut into N chunks so that a batch of a
//! few slow items still spreads over every worker. In the ordered form every chunk gets a
//! sequence number and a reorder buffer emits chunks in that order; a window of `2 × N` chunks
//! (taken before a chunk, given back when it is emitted) bounds that buffer, so one slow chunk
//! stalls the workers instead of growing memory.

use std::collections::BTreeMap;
use std::sync::Arc;

use std::sync::Mutex;

use futures::executor::block_on;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use crate::batch::Batch;
use crate::channel::{Receiver, Sender};
use crate::context::StageCtx;
use crate::error::BoxError;
use crate::flow::Flow;
use crate::flow::stage::Stage;
use crate::flow::transform::{Mapper, Step, TryFlatMapper, apply_batch};
use crate::stats::StageMetrics;

/// The shared input: hands out chunks with sequence numbers.
struct Dispenser<T> {
    rx: Receiver<T>,
    metrics: StageMetrics,
    leftover: Batch<T>,
    chunk: usize,
    workers: usize,
    next_seq: u64,
}

impl<T> Dispenser<T> {
    async fn next(&mut self) -> Option<(u64, Batch<T>)> {
        if self.leftover.is_empty() {
            let batch = self.rx.recv().await?;
            self.metrics.received(batch.len());
            self.chunk = batch.len().div_ceil(self.workers).max(1);
            self.leftover = batch;
        }
        let tail = if self.leftover.len() > self.chunk {
            self.leftover.split_off(self.chunk)
        } else {
            Batch::default()
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        Some((seq, std::mem::replace(&mut self.leftover, tail)))
    }
}

/// Where a worker's results go.
enum Output<U> {
    /// Straight to the next stage.
    Unordered(Sender<U>),
    /// To the reorder buffer, with the window permit the chunk holds.
    Ordered(
        mpsc::UnboundedSender<(u64, Batch<U>, OwnedSemaphorePermit)>,
        Arc<Semaphore>,
    ),
}

impl<U> Clone for Output<U> {
    fn clone(&self) -> Self {
        match self {
            Output::Unordered(tx) => Output::Unordered(tx.clone()),
            Output::Ordered(tx, window) => Output::Ordered(tx.clone(), Arc::clone(window)),
        }
    }
}

/// [`Operators::parallel`](crate::Operators::parallel) and, unordered,
/// [`Operators::parallel_unordered`](crate::Operators::parallel_unordered).
pub(crate) fn parallel<T: Send + 'static, U: Send + 'static>(
    stage: Stage<T>,
    workers: usize,
    ordered: bool,
    f: impl FnMut(T) -> U + Clone + Send + 'static,
) -> Flow<U> {
    let kind = if ordered {
        "parallel"
    } else {
        "parallel_unordered"
    };
    spawn_workers(stage, kind, workers, ordered, move || Mapper(f.clone()))
}

/// [`Operators::parallel_try_flat_map`](crate::Operators::parallel_try_flat_map).
pub(crate) fn parallel_try_flat_map<T, I, E>(
    stage: Stage<T>,
    workers: usize,
    f: impl FnMut(T) -> Result<I, (T, E)> + Clone + Send + 'static,
) -> Flow<I::Item>
where
    T: Send + 'static,
    I: IntoIterator + 'static,
    I::Item: Send + 'static,
    E: Into<BoxError> + 'static,
{
    spawn_workers(stage, "parallel", workers, true, move || {
        TryFlatMapper(f.clone())
    })
}

/// The stage of `workers` threads, each running its own `step`.
fn spawn_workers<T: Send + 'static, U: Send + 'static, S: Step<T, U> + 'static>(
    stage: Stage<T>,
    kind: &'static str,
    workers: usize,
    ordered: bool,
    step: impl Fn() -> S + Send + 'static,
) -> Flow<U> {
    let workers = workers.max(1);
    let (tx, out) = stage.output();
    stage.spawn(kind, move |ctx, rx| async move {
        let input = Arc::new(Mutex::new(Dispenser {
            rx,
            metrics: ctx.metrics.clone(),
            leftover: Batch::default(),
            chunk: 1,
            workers,
            next_seq: 0,
        }));
        let (output, reordered) = if ordered {
            let (reorder_tx, reorder_rx) = mpsc::unbounded_channel();
            let window = Arc::new(Semaphore::new(8 * workers));
            (Output::Ordered(reorder_tx, window), Some(reorder_rx))
        } else {
            (Output::Unordered(tx.clone()), None)
        };
        let (done_tx, mut done) = mpsc::channel::<()>(1);
        let name = ctx.metrics.name();
        for i in 0..workers {
            let (ctx, input, output, step) =
                (ctx.fork(), Arc::clone(&input), output.clone(), step());
            let done_tx = done_tx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("sluice-{name}-{i}"))
                .spawn(move || {
                    worker(ctx, &input, &output, step);
                    drop(done_tx);
                });
            if let Err(err) = spawned {
                tracing::error!(stage = %name, %err, "cannot start a worker thread");
            }
        }
        drop((output, done_tx));
        if let Some(reorder_rx) = reordered {
            reorder(reorder_rx, &tx, &ctx.metrics).await;
        }
        // Every worker holds a sender: this ends when the last one is done.
        done.recv().await;
    });
    out
}

/// One worker thread: take a chunk, apply the function, pass the result on.
fn worker<T: Send + 'static, U: Send + 'static>(
    mut ctx: StageCtx<T>,
    input: &Mutex<Dispenser<T>>,
    output: &Output<U>,
    mut step: impl Step<T, U>,
) {
    loop {
        let permit = match output {
            Output::Ordered(_, window) => match block_on(Arc::clone(window).acquire_owned()) {
                Ok(permit) => Some(permit),
                Err(_closed) => return,
            },
            Output::Unordered(_) => None,
        };
        let next = match input.lock() {
            Ok(mut dispenser) => block_on(dispenser.next()),
            Err(_poisoned) => None,
        };
        let Some((seq, chunk)) = next else { return };
        let out = apply_batch(chunk, &mut step, &mut ctx);
        block_on(ctx.flush_failures());
        let sent = match (output, permit) {
            (Output::Unordered(tx), _) => {
                ctx.metrics.emitted(out.len());
                block_on(tx.send(out)).is_ok()
            }
            (Output::Ordered(tx, _), Some(permit)) => tx.send((seq, out, permit)).is_ok(),
            (Output::Ordered(..), None) => false,
        };
        if !sent {
            return;
        }
    }
}

/// Emits chunks in sequence order as they become contiguous.
async fn reorder<U>(
    mut rx: mpsc::UnboundedReceiver<(u64, Batch<U>, OwnedSemaphorePermit)>,
    tx: &Sender<U>,
    metrics: &StageMetrics,
) {
    let mut pending = BTreeMap::new();
    let mut next = 0u64;
    while let Some((seq, batch, permit)) = rx.recv().await {
        pending.insert(seq, (batch, permit));
        while let Some((batch, _permit)) = pending.remove(&next) {
            next += 1;
            metrics.emitted(batch.len());
            if tx.send(batch).await.is_err() {
                return;
            }
        }
    }
}
