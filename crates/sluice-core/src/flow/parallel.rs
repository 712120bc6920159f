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
//!
//! # Ordered by key
//! A stage [ordered by key](crate::Stage::ordered_by) gives each worker a lane of its own: the
//! stage's task splits each batch by the hash of each item's key and sends each part to its
//! worker's lane (two batches deep), and each worker sends its results on as they are done. One
//! key's items are worked in order by one worker; a slow key holds back its lane and, once the
//! lane is full, the split.

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
use crate::flow::stage::{KeyHash, Stage};
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
    if let Some(key) = stage.key.clone() {
        return spawn_keyed_workers(stage, kind, workers, key, step);
    }
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
            start_worker(&name, i, done_tx.clone(), move || {
                worker(ctx, &input, &output, step);
            });
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

/// The stage of `workers` threads ordered by key: each reads its own lane.
fn spawn_keyed_workers<T: Send + 'static, U: Send + 'static, S: Step<T, U> + 'static>(
    stage: Stage<T>,
    kind: &'static str,
    workers: usize,
    key: KeyHash<T>,
    step: impl Fn() -> S + Send + 'static,
) -> Flow<U> {
    let (tx, out) = stage.output();
    stage.spawn(kind, move |ctx, mut rx| async move {
        let (done_tx, mut done) = mpsc::channel::<()>(1);
        let name = ctx.metrics.name();
        let mut lanes = Vec::with_capacity(workers);
        for i in 0..workers {
            let (lane_tx, mut lane_rx) = mpsc::channel::<Batch<T>>(2);
            let (mut ctx, tx, mut step) = (ctx.fork(), tx.clone(), step());
            let started = start_worker(&name, i, done_tx.clone(), move || {
                while let Some(batch) = lane_rx.blocking_recv() {
                    let out = apply_batch(batch, &mut step, &mut ctx);
                    block_on(ctx.flush_failures());
                    ctx.metrics.emitted(out.len());
                    if block_on(tx.send(out)).is_err() {
                        return;
                    }
                }
            });
            if started {
                lanes.push(lane_tx);
            }
        }
        drop(done_tx);
        drop(tx);
        let n = lanes.len().max(1) as u64;
        while let Some(batch) = rx.recv().await {
            ctx.metrics.received(batch.len());
            let mut parts: Vec<Batch<T>> = (0..lanes.len()).map(|_| Batch::default()).collect();
            for (item, ack) in batch {
                let lane = (key(&item) % n) as usize;
                if let Some(part) = parts.get_mut(lane) {
                    part.push(item, ack);
                }
            }
            for (lane, part) in lanes.iter().zip(parts) {
                if !part.is_empty() && lane.send(part).await.is_err() {
                    return;
                }
            }
        }
        drop(lanes);
        // Every worker holds a sender: this ends when the last has drained its lane.
        done.recv().await;
    });
    out
}

/// Starts worker thread `i` of the stage `name` running `body`; the thread holds `done` until
/// it ends. Whether it started (a failure is logged).
fn start_worker(
    name: &str,
    i: usize,
    done: mpsc::Sender<()>,
    body: impl FnOnce() + Send + 'static,
) -> bool {
    let spawned = std::thread::Builder::new()
        .name(format!("sluice-{name}-{i}"))
        .spawn(move || {
            body();
            drop(done);
        });
    if let Err(err) = &spawned {
        tracing::error!(stage = %name, %err, "cannot start a worker thread");
    }
    spawned.is_ok()
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
