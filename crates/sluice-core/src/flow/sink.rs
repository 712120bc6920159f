//! Terminals: where items leave a flow.
//!
//! [`Operators::sink`](crate::Operators::sink) registers a [`Sink`] and returns at once (for
//! graphs with several ends, run later with [`Pipeline::run`](crate::Pipeline::run)). The others (`for_each`, `fold`,
//! `collect`, `count`, `run`) register their end and then run the whole pipeline.
//!
//! An item is acknowledged [`Delivered`](crate::Outcome::Delivered) when its terminal is done
//! with it: when `write` returns for a sink, when the function returns for `for_each`.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::task::JoinSet;

use crate::ack::Outcome;
use crate::batch::Batch;
use crate::context::StageCtx;
use crate::error::{BoxError, Error, ItemError};
use crate::flow::stage::Stage;
use crate::flow::transform::{Slot, apply_batch};
use crate::pipeline::RunReport;
use crate::policy::Attempt;

/// Why a [`Sink::write`] did not write everything.
///
/// The two variants are the two kinds of failure a sink must tell apart: the other side being
/// away for a while (transient: try the same batch again later) and the other side refusing
/// items for good (permanent: trying again cannot help, so they go to the error output).
#[derive(Debug)]
#[non_exhaustive]
pub enum WriteError {
    /// Nothing was written, for a reason that may pass: the other side could not be reached,
    /// timed out, or is overloaded or restarting. The stage's retry policy tries the whole batch
    /// again.
    Batch(BoxError),
    /// These items (by index in the batch) were refused for good; the rest were written.
    /// Refused items go to the stage's error output and are not retried.
    Items(Vec<(usize, BoxError)>),
}

impl WriteError {
    /// All `len` items of a batch refused for good, for one `reason` (a table that does not
    /// exist, a message larger than the other side takes).
    pub fn refused(len: usize, reason: impl std::fmt::Display) -> WriteError {
        let reason = reason.to_string();
        WriteError::Items(
            (0..len)
                .map(|at| (at, BoxError::from(reason.clone())))
                .collect(),
        )
    }
}

/// Where items go when they leave a pipeline: a file, a topic, a table.
///
/// `write` gets batches as they arrive, together with those waiting behind them (up to
/// [`SINK_GATHER`] items): a sink slower than its input writes fewer, larger batches. When it
/// returns `Ok`, every item of the batch counts as
/// delivered and its origin may commit it, so a sink must not return before the items are as
/// durable as it promises. `flush` runs once when the input ends.
pub trait Sink<T>: Send + 'static {
    /// Writes a batch.
    fn write(&mut self, items: &[T]) -> impl Future<Output = Result<(), WriteError>> + Send;

    /// Finishes up after the last batch. Defaults to nothing.
    fn flush(&mut self) -> impl Future<Output = Result<(), BoxError>> + Send {
        async { Ok(()) }
    }
}

/// The most items a sink gathers from batches waiting in its input into one write.
pub const SINK_GATHER: usize = 4096;

/// A sink's `write` as one attempt of the stage's policy: a batch-wide error is retryable,
/// per-item rejections are the attempt's (successful) result.
struct WriteAttempt<'s, S>(&'s mut S);

impl<T, S: Sink<T>> Attempt<[T]> for WriteAttempt<'_, S> {
    type Output = Vec<(usize, BoxError)>;

    async fn attempt(&mut self, items: &[T]) -> Result<Self::Output, BoxError> {
        match self.0.write(items).await {
            Ok(()) => Ok(Vec::new()),
            Err(WriteError::Items(rejected)) => Ok(rejected),
            Err(WriteError::Batch(err)) => Err(err),
        }
    }
}

/// The stage of [`Operators::sink`](crate::Operators::sink) and
/// [`Operators::sink_writers`](crate::Operators::sink_writers): the items go to `idle` (not
/// empty), one write in flight on each.
pub(crate) fn sinks<T: Send + Sync + 'static, S: Sink<T>>(stage: Stage<T>, mut idle: Vec<S>) {
    let writers = idle.len() as u32;
    stage.spawn("sink", move |mut ctx, mut rx| async move {
            // Dropped with the stage (a shutdown that ran out of time), it aborts the writes.
            let mut running = JoinSet::new();
            let mut open = true;
            while open || !running.is_empty() {
                tokio::select! {
                    Some(done) = running.join_next(), if !running.is_empty() => {
                        let (sink, batch, result, attempts, busy): Written<T, S> = match done {
                            Ok(done) => done,
                            Err(err) => std::panic::resume_unwind(tokio::task::JoinError::into_panic(err)),
                        };
                        let n = batch.len();
                        ctx.metrics.in_flight(-(n as i64));
                        ctx.metrics.processed(n, busy / writers);
                        settle(&mut ctx, batch, result, attempts);
                        ctx.flush_failures().await;
                        idle.push(sink);
                    }
                    next = rx.recv(), if open && !idle.is_empty() => {
                        let Some(mut batch) = next else {
                            open = false;
                            continue;
                        };
                        while batch.len() < SINK_GATHER
                            && let Some(more) = rx.try_recv()
                        {
                            batch.append(more);
                        }
                        let n = batch.len();
                        ctx.metrics.received(n);
                        ctx.metrics.in_flight(n as i64);
                        let mut sink = idle.pop().expect("a sink is idle: the branch waits for one");
                        let (policy, metrics) = (ctx.policy.clone(), ctx.metrics.clone());
                        running.spawn(async move {
                            let started = std::time::Instant::now();
                            let (result, attempts) = policy
                                .execute(&batch.items[..], &mut WriteAttempt(&mut sink), &metrics)
                                .await;
                            (sink, batch, result, attempts, started.elapsed())
                        });
                    }
                }
            }
            for mut sink in idle {
                if let Err(err) = sink.flush().await {
                    tracing::error!(stage = %ctx.metrics.name(), %err, "sink flush failed");
                }
            }
        });
}

/// A finished write: the sink, back for the next batch, the batch, what became of it, the
/// attempts it took and how long they took.
type Written<T, S> = (
    S,
    Batch<T>,
    Result<Vec<(usize, BoxError)>, ItemError>,
    u32,
    std::time::Duration,
);

/// Acknowledges a written batch: rejected items fail, the rest are delivered.
fn settle<T: Send + 'static>(
    ctx: &mut StageCtx<T>,
    batch: Batch<T>,
    result: Result<Vec<(usize, BoxError)>, ItemError>,
    attempts: u32,
) {
    match result {
        Ok(rejected) => {
            let mut rejected: HashMap<usize, BoxError> = rejected.into_iter().collect();
            let mut delivered = 0;
            for (i, (item, ack)) in batch.into_iter().enumerate() {
                match rejected.remove(&i) {
                    Some(err) => ctx.fail(item, ack, ItemError::User(err), attempts),
                    None => {
                        delivered += 1;
                        ack.complete(Outcome::Delivered);
                    }
                }
            }
            ctx.metrics.emitted(delivered);
        }
        Err(err) => {
            let err = Arc::new(err);
            for (item, ack) in batch {
                ctx.fail(item, ack, ItemError::shared(Arc::clone(&err)), attempts);
            }
        }
    }
}

/// [`Operators::for_each`](crate::Operators::for_each).
pub(crate) fn for_each<T: Send + 'static>(
    stage: Stage<T>,
    f: impl FnMut(T) + Send + 'static,
) -> impl Future<Output = Result<RunReport, Error>> + Send {
    let pipeline = stage.flow.pipeline.clone();
    consume(stage, "for_each", f);
    async move { pipeline.run_when_wired().await }
}

/// [`Operators::run`](crate::Operators::run).
pub(crate) fn drain<T: Send + 'static>(
    stage: Stage<T>,
) -> impl Future<Output = Result<RunReport, Error>> + Send {
    let pipeline = stage.flow.pipeline.clone();
    consume(stage, "drain", drop);
    async move { pipeline.run_when_wired().await }
}

/// [`Operators::fold`](crate::Operators::fold).
pub(crate) fn fold<T: Send + 'static, A: Send + 'static>(
    stage: Stage<T>,
    init: A,
    f: impl FnMut(A, T) -> A + Send + 'static,
) -> impl Future<Output = Result<A, Error>> + Send {
    let pipeline = stage.flow.pipeline.clone();
    let result = reduce(stage, init, f);
    async move {
        pipeline.run_when_wired().await?;
        result
            .await
            .map_err(|_| Error::NotRun(pipeline.name().to_owned()))
    }
}

/// Consumes each item with `f` and acknowledges it; a panic fails that item only.
fn consume<T: Send + 'static>(
    stage: Stage<T>,
    kind: &'static str,
    mut f: impl FnMut(T) + Send + 'static,
) {
    stage.spawn(kind, move |mut ctx, mut rx| async move {
        let mut step = |slot: &mut Slot<T>, _: &mut Batch<()>, _: &mut StageCtx<T>| {
            if let Some(item) = slot.item.take() {
                f(item);
                slot.take_ack().complete(Outcome::Delivered);
            }
        };
        while let Some(batch) = rx.recv().await {
            let n = batch.len();
            ctx.metrics.received(n);
            apply_batch(batch, &mut step, &mut ctx);
            ctx.flush_failures().await;
            ctx.metrics.emitted(n);
        }
    });
}

/// Consumes items into a value, delivered when the stage ends.
fn reduce<T: Send + 'static, A: Send + 'static>(
    stage: Stage<T>,
    init: A,
    mut f: impl FnMut(A, T) -> A + Send + 'static,
) -> oneshot::Receiver<A> {
    let (done, result) = oneshot::channel();
    stage.spawn("fold", move |ctx, mut rx| async move {
        let mut acc = init;
        while let Some(batch) = rx.recv().await {
            let n = batch.len();
            ctx.metrics.received(n);
            let started = std::time::Instant::now();
            acc = batch
                .complete(Outcome::Delivered)
                .into_iter()
                .fold(acc, &mut f);
            ctx.metrics.processed(n, started.elapsed());
            ctx.metrics.emitted(n);
        }
        let _ = done.send(acc);
    });
    result
}
