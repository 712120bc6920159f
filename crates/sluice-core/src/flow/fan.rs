//! Fan-out (`broadcast`, `route`, `partition`, `partition_by_key`) and fan-in ([`Flow::merge`],
//! `merge_with`).
//!
//! A fan-out stage waits for each output in turn, so the slowest branch sets the pace of all:
//! backpressure reaches the source instead of any branch buffering without bound. A branch whose
//! flow was dropped no longer receives anything; items that would have gone there are reported
//! unfinished to their origins (they were not delivered everywhere they should have been).

use std::hash::Hash;

use futures::StreamExt;

use crate::batch::Batch;
use crate::channel::{Receiver, Sender};
use crate::context::StageCtx;
use crate::error::ItemError;
use crate::flow::Flow;
use crate::flow::stage::{Stage, hash_of};
use crate::flow::transform::{Slot, apply_batch};

/// Lanes of a routing stage: one batch per output, filled item by item.
struct Lanes<T> {
    batches: Vec<Batch<T>>,
}

/// [`Operators::broadcast`](crate::Operators::broadcast).
pub(crate) fn broadcast<T: Clone + Send + 'static>(stage: Stage<T>, n: usize) -> Vec<Flow<T>> {
    let (senders, flows) = stage.outputs(n);
    stage.spawn("broadcast", move |ctx, mut rx| async move {
        let mut senders: Vec<Option<Sender<T>>> = senders.into_iter().map(Some).collect();
        while let Some(batch) = rx.recv().await {
            let n = batch.len();
            ctx.metrics.received(n);
            let last = senders.iter().rposition(Option::is_some);
            let mut original = Some(batch);
            for (i, slot) in senders.iter_mut().enumerate() {
                let Some(tx) = slot else { continue };
                let copy = if Some(i) == last {
                    original.take().unwrap_or_default()
                } else {
                    original.as_ref().map(Batch::fork).unwrap_or_default()
                };
                if tx.send(copy).await.is_err() {
                    *slot = None;
                } else {
                    ctx.metrics.emitted(n);
                }
            }
            if senders.iter().all(Option::is_none) {
                break;
            }
        }
    });
    flows
}

/// [`Operators::route`](crate::Operators::route), and the partitions.
pub(crate) fn route<T: Send + 'static>(
    stage: Stage<T>,
    n: usize,
    mut f: impl FnMut(&T) -> usize + Send + 'static,
) -> Vec<Flow<T>> {
    let n = n.max(1);
    lanes(
        stage,
        "route",
        n,
        move |slot: &mut Slot<T>, lanes: &mut Lanes<T>, ctx: &mut StageCtx<T>| {
            let Some(item) = &slot.item else { return };
            let lane = f(item);
            let Some(item) = slot.item.take() else { return };
            match lanes.batches.get_mut(lane) {
                Some(batch) => batch.push(item, slot.take_ack()),
                None => {
                    let err = ItemError::user(format!("route chose branch {lane} of {n}"));
                    ctx.fail(item, slot.take_ack(), err, 1);
                }
            }
        },
    )
}

/// [`Operators::merge_with`](crate::Operators::merge_with): `stage`'s input and `others`.
pub(crate) fn merge<T: Send + 'static>(
    stage: Stage<T>,
    others: impl IntoIterator<Item = Flow<T>>,
) -> Flow<T> {
    let pipeline = stage.flow.pipeline.clone();
    let others: Vec<Receiver<T>> = others
        .into_iter()
        .map(|f| {
            pipeline.absorb(&f.pipeline);
            f.rx
        })
        .collect();
    let (tx, out) = stage.output();
    stage.spawn("merge", move |ctx, rx| async move {
        let inputs = std::iter::once(rx).chain(others).map(|rx| {
            futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) })
                .boxed()
        });
        let mut merged = futures::stream::select_all(inputs);
        while let Some(batch) = merged.next().await {
            let n = batch.len();
            ctx.metrics.received(n);
            ctx.metrics.emitted(n);
            if tx.send(batch).await.is_err() {
                break;
            }
        }
    });
    out
}

/// A routing stage: `step` puts each item in a lane, each lane goes to its output.
fn lanes<T: Send + 'static>(
    stage: Stage<T>,
    kind: &'static str,
    n: usize,
    mut step: impl FnMut(&mut Slot<T>, &mut Lanes<T>, &mut StageCtx<T>) + Send + 'static,
) -> Vec<Flow<T>> {
    let (senders, flows) = stage.outputs(n);
    stage.spawn(kind, move |mut ctx, mut rx| async move {
        let mut senders: Vec<Option<Sender<T>>> = senders.into_iter().map(Some).collect();
        while let Some(batch) = rx.recv().await {
            ctx.metrics.received(batch.len());
            let mut lanes = Lanes {
                batches: (0..senders.len()).map(|_| Batch::default()).collect(),
            };
            let mut lane_step = |slot: &mut Slot<T>, _: &mut Batch<()>, ctx: &mut StageCtx<T>| {
                step(slot, &mut lanes, ctx);
            };
            apply_batch(batch, &mut lane_step, &mut ctx);
            ctx.flush_failures().await;
            for (slot, batch) in senders.iter_mut().zip(lanes.batches) {
                let Some(tx) = slot else { continue };
                let n = batch.len();
                if tx.send(batch).await.is_err() {
                    *slot = None;
                } else {
                    ctx.metrics.emitted(n);
                }
            }
            if senders.iter().all(Option::is_none) {
                break;
            }
        }
    });
    flows
}

/// The lane of `key` among `n`: stable for a given build of the program.
pub(crate) fn lane_of<K: Hash + ?Sized>(key: &K, n: usize) -> usize {
    (hash_of(key) % n.max(1) as u64) as usize
}

impl<T: Send + 'static> Flow<T> {
    /// Interleaves the items of several flows as they arrive (fan-in). Flows built in different
    /// pipelines are joined into one. See also [`Operators::merge_with`](crate::Operators::merge_with).
    ///
    /// # Panics
    /// If `flows` is empty.
    pub fn merge(flows: impl IntoIterator<Item = Flow<T>>) -> Flow<T> {
        let mut flows = flows.into_iter();
        let first = flows.next().expect("merge needs at least one flow");
        merge(Stage::unnamed(first), flows)
    }
}
