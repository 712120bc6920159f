//! Grouping items: `batch` (emit when full or when the first item has waited `linger`) and
//! `try_batch` (a function over a whole group that may fail some items and not others).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::ack::AckToken;
use crate::batch::Batch;
use crate::channel::Receiver;
use crate::context::StageCtx;
use crate::error::{BoxError, ItemError};
use crate::flow::Flow;
use crate::flow::stage::Stage;
use crate::stats::StageMetrics;

/// Collects items into groups of `size`, cut short when the oldest waited `linger`.
pub(crate) struct Accumulator<T> {
    pending: Batch<T>,
    size: usize,
    linger: Duration,
    deadline: Option<tokio::time::Instant>,
    done: bool,
}

impl<T> Accumulator<T> {
    pub(crate) fn new(size: usize, linger: Duration) -> Accumulator<T> {
        Accumulator {
            pending: Batch::default(),
            size: size.max(1),
            linger,
            deadline: None,
            done: false,
        }
    }

    /// The next group: full, lingered, or the remainder at the end of input (`None` after it).
    pub(crate) async fn next(
        &mut self,
        rx: &mut Receiver<T>,
        metrics: &StageMetrics,
    ) -> Option<Batch<T>> {
        loop {
            if self.pending.len() >= self.size {
                return Some(self.take(self.size));
            }
            if self.done {
                return (!self.pending.is_empty()).then(|| self.take(self.pending.len()));
            }
            let deadline = self.deadline;
            tokio::select! {
                received = rx.recv() => match received {
                    Some(batch) => {
                        metrics.received(batch.len());
                        if self.pending.is_empty() {
                            self.deadline = Some(tokio::time::Instant::now() + self.linger);
                        }
                        self.pending.append(batch);
                    }
                    None => self.done = true,
                },
                () = sleep_until(deadline) => {
                    return Some(self.take(self.pending.len()));
                }
            }
        }
    }

    /// Whether a full group is ready without waiting.
    pub(crate) fn has_full(&self) -> bool {
        self.pending.len() >= self.size
    }

    fn take(&mut self, n: usize) -> Batch<T> {
        let rest = self.pending.split_off(n.min(self.pending.len()));
        let group = std::mem::replace(&mut self.pending, rest);
        self.deadline =
            (!self.pending.is_empty()).then(|| tokio::time::Instant::now() + self.linger);
        group
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// [`Operators::batch`](crate::Operators::batch).
pub(crate) fn batch<T: Send + 'static>(
    stage: Stage<T>,
    size: usize,
    linger: Duration,
) -> Flow<Vec<T>> {
    let (tx, out) = stage.output();
    stage.spawn("batch", move |ctx, mut rx| async move {
        let mut groups = Accumulator::new(size, linger);
        while let Some(group) = groups.next(&mut rx, &ctx.metrics).await {
            let mut out = Batch::default();
            out.push(group.items, AckToken::join(group.acks));
            while groups.has_full() {
                if let Some(group) = groups.next(&mut rx, &ctx.metrics).await {
                    out.push(group.items, AckToken::join(group.acks));
                }
            }
            ctx.metrics.emitted(out.len());
            if tx.send(out).await.is_err() {
                break;
            }
        }
    });
    out
}

/// [`Operators::try_batch`](crate::Operators::try_batch).
pub(crate) fn try_batch<T, U, E>(
    stage: Stage<T>,
    size: usize,
    linger: Duration,
    mut f: impl FnMut(&[T]) -> Vec<Result<U, E>> + Send + 'static,
) -> Flow<U>
where
    T: Send + 'static,
    U: Send + 'static,
    E: Into<BoxError>,
{
    let (tx, out) = stage.output();
    stage.spawn("try_batch", move |mut ctx, mut rx| async move {
        let mut groups = Accumulator::new(size, linger);
        while let Some(group) = groups.next(&mut rx, &ctx.metrics).await {
            let out = settle_group(&mut ctx, group, &mut f);
            ctx.flush_failures().await;
            ctx.metrics.emitted(out.len());
            if tx.send(out).await.is_err() {
                break;
            }
        }
    });
    out
}

/// Runs a group through `f` and sorts its items into results and failures.
fn settle_group<T: Send + 'static, U, E: Into<BoxError>>(
    ctx: &mut StageCtx<T>,
    group: Batch<T>,
    f: &mut impl FnMut(&[T]) -> Vec<Result<U, E>>,
) -> Batch<U> {
    let started = Instant::now();
    let n = group.len();
    let outcome = catch_unwind(AssertUnwindSafe(|| f(&group.items)));
    ctx.metrics.processed(n, started.elapsed());
    let mut out = Batch::with_capacity(n);
    match outcome {
        Ok(results) => {
            let got = results.len();
            let mut results = results.into_iter();
            for (item, ack) in group {
                match results.next() {
                    Some(Ok(value)) => out.push(value, ack),
                    Some(Err(err)) => ctx.fail(item, ack, ItemError::User(err.into()), 1),
                    None => {
                        let err = ItemError::user(format!(
                            "batch function returned {got} results for {n} items"
                        ));
                        ctx.fail(item, ack, err, 1);
                    }
                }
            }
        }
        Err(panic) => {
            let error = Arc::new(ItemError::from_panic(panic.as_ref()));
            for (item, ack) in group {
                ctx.fail(item, ack, ItemError::shared(Arc::clone(&error)), 1);
            }
        }
    }
    out
}
