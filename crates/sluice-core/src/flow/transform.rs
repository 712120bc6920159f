//! Per-item transforms: `map`, `filter`, `filter_map`, `flat_map`, `try_map`, `inspect`.
//!
//! # Panics in user functions
//! A batch is processed under one `catch_unwind`; the loop's iterator and the current item's
//! slot live outside it, so after a panic the loop resumes with the next item. Functions that
//! borrow their item (`filter`, `try_map`, `inspect`) leave it in the slot, so a panicking item
//! goes to the error output whole. Functions that take it by value (`map`, `filter_map`,
//! `flat_map`) have consumed it: the failure is counted, logged and reported to the origin as
//! rejected, but there is no item to send on. Catching per batch rather than per item keeps the
//! happy path a plain loop.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use crate::ack::{AckToken, Outcome};
use crate::batch::Batch;
use crate::channel::{Receiver, Sender};
use crate::context::StageCtx;
use crate::error::{BoxError, ItemError};
use crate::flow::Flow;
use crate::flow::stage::Stage;

/// The item being processed and its token, kept outside the unwind boundary.
pub(crate) struct Slot<T> {
    pub(crate) item: Option<T>,
    pub(crate) ack: AckToken,
}

impl<T> Slot<T> {
    fn empty() -> Slot<T> {
        Slot {
            item: None,
            ack: AckToken::none(),
        }
    }

    #[inline]
    pub(crate) fn take_ack(&mut self) -> AckToken {
        std::mem::take(&mut self.ack)
    }
}

/// One item's work: take the item and its token out of the slot, push results to the batch.
pub(crate) trait Step<T, U>: Send {
    /// Processes the item in `slot`.
    fn item(&mut self, slot: &mut Slot<T>, out: &mut Batch<U>, ctx: &mut StageCtx<T>);

    /// Processes untracked items in one go, if the step has such a path; a panic leaves
    /// `items` at the item after the one that panicked. Returns false to use `item` instead.
    fn untracked(&mut self, _items: &mut std::vec::IntoIter<T>, _out: &mut Vec<U>) -> bool {
        false
    }
}

impl<T, U, F: FnMut(&mut Slot<T>, &mut Batch<U>, &mut StageCtx<T>) + Send> Step<T, U> for F {
    #[inline]
    fn item(&mut self, slot: &mut Slot<T>, out: &mut Batch<U>, ctx: &mut StageCtx<T>) {
        self(slot, out, ctx);
    }
}

/// Runs `step` over one batch, containing panics to the item that raised them.
pub(crate) fn apply_batch<T: Send + 'static, U>(
    batch: Batch<T>,
    step: &mut impl Step<T, U>,
    ctx: &mut StageCtx<T>,
) -> Batch<U> {
    let n = batch.len();
    let started = Instant::now();
    let out = if batch.acks.is_empty() {
        apply_untracked(batch.items, step, ctx)
    } else {
        apply_each(batch.into_iter(), step, ctx)
    };
    ctx.metrics.processed(n, started.elapsed());
    out
}

/// The step of `map` (and of each `parallel` worker), with a fast path for batches without
/// tokens: one `extend` the compiler can keep tight.
pub(crate) struct Mapper<F>(pub(crate) F);

impl<T, U, F: FnMut(T) -> U + Send> Step<T, U> for Mapper<F> {
    #[inline]
    fn item(&mut self, slot: &mut Slot<T>, out: &mut Batch<U>, _: &mut StageCtx<T>) {
        if let Some(item) = slot.item.take() {
            let mapped = (self.0)(item);
            out.push(mapped, slot.take_ack());
        }
    }

    fn untracked(&mut self, items: &mut std::vec::IntoIter<T>, out: &mut Vec<U>) -> bool {
        out.extend(items.map(&mut self.0));
        true
    }
}

/// Items without tokens: the step's batch path if it has one.
fn apply_untracked<T: Send + 'static, U>(
    items: Vec<T>,
    step: &mut impl Step<T, U>,
    ctx: &mut StageCtx<T>,
) -> Batch<U> {
    let mut out = Vec::with_capacity(items.len());
    let mut rest = items.into_iter();
    loop {
        match catch_unwind(AssertUnwindSafe(|| step.untracked(&mut rest, &mut out))) {
            Ok(true) => return Batch::from_items(out),
            Ok(false) => break,
            Err(panic) => {
                ctx.fail_consumed(AckToken::none(), &ItemError::from_panic(panic.as_ref()));
            }
        }
    }
    let tail = apply_each(rest.map(|item| (item, AckToken::none())), step, ctx);
    let mut batch = Batch::from_items(out);
    batch.append(tail);
    batch
}

/// Item by item, keeping each item and token in a slot outside the unwind boundary.
fn apply_each<T: Send + 'static, U>(
    mut items: impl ExactSizeIterator<Item = (T, AckToken)>,
    step: &mut impl Step<T, U>,
    ctx: &mut StageCtx<T>,
) -> Batch<U> {
    let mut out = Batch::with_capacity(items.len());
    let mut slot = Slot::empty();
    while let Err(panic) = catch_unwind(AssertUnwindSafe(|| {
        for (item, ack) in &mut items {
            slot.item = Some(item);
            slot.ack = ack;
            step.item(&mut slot, &mut out, ctx);
        }
    })) {
        let error = ItemError::from_panic(panic.as_ref());
        match slot.item.take() {
            Some(item) => ctx.fail(item, slot.take_ack(), error, 1),
            None => ctx.fail_consumed(slot.take_ack(), &error),
        }
    }
    out
}

/// The step of `try_flat_map` (and of each `parallel_try_flat_map` worker): the function takes
/// the item and, when it fails, hands it back with the error, so the item reaches the error
/// output whole without being cloned.
pub(crate) struct TryFlatMapper<F>(pub(crate) F);

impl<T, I, E, F> Step<T, I::Item> for TryFlatMapper<F>
where
    T: Send + 'static,
    I: IntoIterator,
    E: Into<BoxError>,
    F: FnMut(T) -> Result<I, (T, E)> + Send,
{
    fn item(&mut self, slot: &mut Slot<T>, out: &mut Batch<I::Item>, ctx: &mut StageCtx<T>) {
        let Some(item) = slot.item.take() else { return };
        match (self.0)(item) {
            Ok(produced) => {
                for value in produced {
                    out.push(value, slot.ack.clone());
                }
                slot.take_ack().complete(Outcome::Filtered);
            }
            Err((item, err)) => ctx.fail(item, slot.take_ack(), ItemError::User(err.into()), 1),
        }
    }
}

/// The loop of a one-input, one-output synchronous stage.
pub(crate) async fn per_item<T: Send + 'static, U: Send + 'static>(
    mut ctx: StageCtx<T>,
    mut rx: Receiver<T>,
    tx: Sender<U>,
    mut step: impl Step<T, U>,
) {
    while let Some(batch) = rx.recv().await {
        ctx.metrics.received(batch.len());
        let out = apply_batch(batch, &mut step, &mut ctx);
        ctx.flush_failures().await;
        ctx.metrics.emitted(out.len());
        if tx.send(out).await.is_err() {
            break;
        }
    }
}

/// A one-input, one-output synchronous stage running `step` over each item.
fn per_item_stage<T: Send + 'static, U: Send + 'static>(
    stage: Stage<T>,
    kind: &'static str,
    step: impl Step<T, U> + 'static,
) -> Flow<U> {
    let (tx, out) = stage.output();
    stage.spawn(kind, move |ctx, rx| per_item(ctx, rx, tx, step));
    out
}

/// [`Operators::map`](crate::Operators::map).
pub(crate) fn map<T: Send + 'static, U: Send + 'static>(
    stage: Stage<T>,
    f: impl FnMut(T) -> U + Send + 'static,
) -> Flow<U> {
    per_item_stage(stage, "map", Mapper(f))
}

/// [`Operators::filter`](crate::Operators::filter).
pub(crate) fn filter<T: Send + 'static>(
    stage: Stage<T>,
    mut f: impl FnMut(&T) -> bool + Send + 'static,
) -> Flow<T> {
    per_item_stage(
        stage,
        "filter",
        move |slot: &mut Slot<T>, out: &mut Batch<T>, _: &mut StageCtx<T>| {
            let Some(item) = &slot.item else { return };
            let keep = f(item);
            if let Some(item) = slot.item.take() {
                if keep {
                    out.push(item, slot.take_ack());
                } else {
                    slot.take_ack().complete(Outcome::Filtered);
                }
            }
        },
    )
}

/// [`Operators::filter_map`](crate::Operators::filter_map).
pub(crate) fn filter_map<T: Send + 'static, U: Send + 'static>(
    stage: Stage<T>,
    mut f: impl FnMut(T) -> Option<U> + Send + 'static,
) -> Flow<U> {
    per_item_stage(
        stage,
        "filter_map",
        move |slot: &mut Slot<T>, out: &mut Batch<U>, _: &mut StageCtx<T>| {
            if let Some(item) = slot.item.take() {
                match f(item) {
                    Some(mapped) => out.push(mapped, slot.take_ack()),
                    None => slot.take_ack().complete(Outcome::Filtered),
                }
            }
        },
    )
}

/// [`Operators::flat_map`](crate::Operators::flat_map).
pub(crate) fn flat_map<T, I>(
    stage: Stage<T>,
    mut f: impl FnMut(T) -> I + Send + 'static,
) -> Flow<I::Item>
where
    T: Send + 'static,
    I: IntoIterator,
    I::Item: Send + 'static,
{
    per_item_stage(
        stage,
        "flat_map",
        move |slot: &mut Slot<T>, out: &mut Batch<I::Item>, _: &mut StageCtx<T>| {
            if let Some(item) = slot.item.take() {
                for produced in f(item) {
                    out.push(produced, slot.ack.clone());
                }
                slot.take_ack().complete(Outcome::Filtered);
            }
        },
    )
}

/// [`Operators::try_map`](crate::Operators::try_map).
pub(crate) fn try_map<T, U, E>(
    stage: Stage<T>,
    mut f: impl FnMut(&T) -> Result<U, E> + Send + 'static,
) -> Flow<U>
where
    T: Send + Sync + 'static,
    U: Send + 'static,
    E: Into<BoxError>,
{
    if stage.has_policy() {
        let (tx, out) = stage.output();
        stage.spawn("try_map", move |ctx, rx| {
            let call = move |item: &T| std::future::ready(f(item).map_err(Into::into));
            retrying(ctx, rx, tx, call)
        });
        return out;
    }
    per_item_stage(
        stage,
        "try_map",
        move |slot: &mut Slot<T>, out: &mut Batch<U>, ctx: &mut StageCtx<T>| {
            let Some(item) = &slot.item else { return };
            let result = f(item);
            let Some(item) = slot.item.take() else { return };
            match result {
                Ok(mapped) => out.push(mapped, slot.take_ack()),
                Err(err) => ctx.fail(item, slot.take_ack(), ItemError::User(err.into()), 1),
            }
        },
    )
}

/// [`Operators::try_flat_map`](crate::Operators::try_flat_map).
pub(crate) fn try_flat_map<T, I, E>(
    stage: Stage<T>,
    f: impl FnMut(T) -> Result<I, (T, E)> + Send + 'static,
) -> Flow<I::Item>
where
    T: Send + 'static,
    I: IntoIterator,
    I::Item: Send + 'static,
    E: Into<BoxError>,
{
    per_item_stage(stage, "try_flat_map", TryFlatMapper(f))
}

/// [`Operators::inspect`](crate::Operators::inspect).
pub(crate) fn inspect<T: Send + 'static>(
    stage: Stage<T>,
    mut f: impl FnMut(&T) + Send + 'static,
) -> Flow<T> {
    per_item_stage(
        stage,
        "inspect",
        move |slot: &mut Slot<T>, out: &mut Batch<T>, _: &mut StageCtx<T>| {
            let Some(item) = &slot.item else { return };
            f(item);
            if let Some(item) = slot.item.take() {
                out.push(item, slot.take_ack());
            }
        },
    )
}

/// The loop of a sequential stage whose items go through the stage's policy one at a time.
async fn retrying<T, U, Fut>(
    mut ctx: StageCtx<T>,
    mut rx: Receiver<T>,
    tx: Sender<U>,
    mut call: impl FnMut(&T) -> Fut + Send,
) where
    T: Send + Sync + 'static,
    U: Send + 'static,
    Fut: Future<Output = Result<U, BoxError>> + Send,
{
    while let Some(batch) = rx.recv().await {
        ctx.metrics.received(batch.len());
        let mut out = Batch::with_capacity(batch.len());
        for (item, ack) in batch {
            let started = Instant::now();
            let (result, attempts) = ctx.policy.execute(&item, &mut call, &ctx.metrics).await;
            ctx.metrics.processed(1, started.elapsed());
            match result {
                Ok(mapped) => out.push(mapped, ack),
                Err(err) => ctx.fail(item, ack, err, attempts),
            }
        }
        ctx.flush_failures().await;
        ctx.metrics.emitted(out.len());
        if tx.send(out).await.is_err() {
            break;
        }
    }
}
