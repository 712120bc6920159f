//! `call`: asynchronous request/response per item (an HTTP lookup, a database query), with up
//! to N calls in flight and the stage's policies around each (see [`crate::policy`]).
//!
//! The stage takes a batch from its input only when every item it holds has been launched (when
//! it is [ordered by key](crate::Stage::ordered_by), while less than a batch waits), so it never
//! holds more than one batch (two) plus N calls. Completed calls are collected while they are
//! ready and sent on as one batch.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::hash::Hash;
use std::sync::Arc;
use std::time::Instant;

use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};

use crate::ack::AckToken;
use crate::batch::Batch;
use crate::channel::{Receiver, Sender};
use crate::context::StageCtx;
use crate::error::{BoxError, ItemError};
use crate::flow::Flow;
use crate::flow::stage::{KeyHash, Stage};
use crate::policy::Cache;

/// What a launched call resolves to: the item back, the result and the attempts made.
type Called<T, U> = (T, Result<U, ItemError>, u32);

/// A finished call: its place in the input, the item, its token, result, attempts, time and
/// key hash (0 when the stage is not ordered by key).
type Done<T, U> = (
    u64,
    T,
    AckToken,
    Result<U, ItemError>,
    u32,
    std::time::Duration,
    u64,
);

/// In what order a call stage's results leave.
enum Order<T> {
    /// The input's.
    Input,
    /// As they finish.
    Finish,
    /// The input's per key: one call per key at a time.
    Key(KeyHash<T>),
}

/// The loop of a call stage; `launch` starts the policy-wrapped call of one item.
///
/// Up to `concurrency` calls *run* at once. In the ordered form, results that finish early wait
/// in a reorder buffer without holding a slot (so one slow call does not stall the others, and a
/// least-loaded balancer sees the real load); calls running plus results waiting are bounded by
/// four times the concurrency, so the buffer is bounded too.
///
/// Ordered by key, an item waits while a call of its key runs, and the next ones start; the
/// stage takes more input while fewer than a batch of items wait, so a slow key holds back the
/// others only once a batch of items wait behind it.
async fn run_calls<T, U, V, Fut>(
    mut ctx: StageCtx<T>,
    mut rx: Receiver<T>,
    tx: Sender<V>,
    concurrency: usize,
    order: Order<T>,
    launch: impl Fn(T) -> Fut,
    mut merge: impl FnMut(T, U) -> V,
) where
    T: Send + 'static,
    V: Send + 'static,
    Fut: Future<Output = Called<T, U>>,
{
    let concurrency = concurrency.max(1);
    let ordered = matches!(order, Order::Input);
    let window = if ordered {
        4 * concurrency
    } else {
        concurrency
    };
    let (key, room) = match &order {
        Order::Key(key) => (Some(key), ctx.batch_size.max(1)),
        Order::Input | Order::Finish => (None, 1),
    };
    let mut queue: VecDeque<(T, AckToken, u64)> = VecDeque::new();
    let mut busy: HashSet<u64> = HashSet::new();
    let mut running = FuturesUnordered::new();
    let mut waiting: BTreeMap<u64, Done<T, U>> = BTreeMap::new();
    let (mut next_seq, mut next_out) = (0u64, 0u64);
    let mut input_done = false;
    loop {
        while running.len() < concurrency && running.len() + waiting.len() < window {
            let next = match key {
                Some(_) => queue.iter().position(|(_, _, k)| !busy.contains(k)),
                None => (!queue.is_empty()).then_some(0),
            };
            let Some((item, ack, hash)) = next.and_then(|at| queue.remove(at)) else {
                break;
            };
            if key.is_some() {
                busy.insert(hash);
            }
            ctx.metrics.in_flight(1);
            let call = launch(item);
            let seq = next_seq;
            next_seq += 1;
            running.push(async move {
                let started = Instant::now();
                let (item, result, attempts) = call.await;
                (seq, item, ack, result, attempts, started.elapsed(), hash)
            });
        }
        let first = tokio::select! {
            biased;
            Some(done) = running.next(), if !running.is_empty() => done,
            received = rx.recv(), if !input_done && queue.len() < room => {
                match received {
                    Some(batch) => {
                        ctx.metrics.received(batch.len());
                        queue.extend(batch.into_iter().map(|(item, ack)| {
                            let hash = key.map_or(0, |key| key(&item));
                            (item, ack, hash)
                        }));
                    }
                    None => input_done = true,
                }
                continue;
            }
            else => break,
        };
        let mut out = Batch::default();
        let mut finished = Some(first);
        while let Some(done) = finished {
            busy.remove(&done.6);
            ctx.metrics.in_flight(-1);
            ctx.metrics.latency(done.5);
            ctx.metrics.busy(done.5 / concurrency as u32);
            if ordered {
                waiting.insert(done.0, done);
                while let Some(done) = waiting.remove(&next_out) {
                    next_out += 1;
                    settle(&mut ctx, &mut out, done, &mut merge);
                }
            } else {
                settle(&mut ctx, &mut out, done, &mut merge);
            }
            finished = running.next().now_or_never().flatten();
        }
        ctx.flush_failures().await;
        ctx.metrics.emitted(out.len());
        if tx.send(out).await.is_err() {
            break;
        }
    }
}

/// A finished call's answer (merged with its item) goes on, or the item fails.
fn settle<T: Send + 'static, U, V>(
    ctx: &mut StageCtx<T>,
    out: &mut Batch<V>,
    done: Done<T, U>,
    merge: &mut impl FnMut(T, U) -> V,
) {
    let (_, item, ack, result, attempts, ..) = done;
    match result {
        Ok(value) => out.push(merge(item, value), ack),
        Err(err) => ctx.fail(item, ack, err, attempts),
    }
}

/// A user call's error as the boxed error policies handle.
fn boxed<U, E: Into<BoxError>>(result: Result<U, E>) -> Result<U, BoxError> {
    result.map_err(Into::into)
}

/// Starts the call of one item; made when the stage starts, from its context.
type Launch<T, U> = Box<dyn Fn(T) -> BoxFuture<'static, Called<T, U>> + Send>;

/// Starts the call of one item under the stage's policy.
fn plain<T, U, E, Fut>(
    f: impl Fn(&T) -> Fut + Send + Sync + 'static,
) -> impl FnOnce(&StageCtx<T>) -> Launch<T, U> + Send + 'static
where
    T: Send + Sync + 'static,
    U: Send + 'static,
    E: Into<BoxError>,
    Fut: Future<Output = Result<U, E>> + Send + 'static,
{
    let f = Arc::new(f);
    move |ctx: &StageCtx<T>| {
        let (policy, metrics) = (ctx.policy.clone(), ctx.metrics.clone());
        Box::new(move |item: T| {
            let (f, policy, metrics) = (Arc::clone(&f), policy.clone(), metrics.clone());
            Box::pin(async move {
                let mut call = |x: &T| f(x).map(boxed::<U, E>);
                let (result, attempts) = policy.execute(&item, &mut call, &metrics).await;
                (item, result, attempts)
            })
        })
    }
}

/// Starts the call of one item unless the cache has its answer.
fn cached<T, K, U, E, Fut>(
    cache: Cache<K, U>,
    key: impl Fn(&T) -> K + Send + Sync + 'static,
    f: impl Fn(&T) -> Fut + Send + Sync + 'static,
) -> impl FnOnce(&StageCtx<T>) -> Launch<T, U> + Send + 'static
where
    T: Send + Sync + 'static,
    K: Hash + Eq + Send + Sync + 'static,
    U: Clone + Send + Sync + 'static,
    E: Into<BoxError>,
    Fut: Future<Output = Result<U, E>> + Send + 'static,
{
    let (f, key) = (Arc::new(f), Arc::new(key));
    move |ctx: &StageCtx<T>| {
        let (policy, metrics) = (ctx.policy.clone(), ctx.metrics.clone());
        let hits = metrics.counter("sluice_stage_cache_hits_total");
        let misses = metrics.counter("sluice_stage_cache_misses_total");
        Box::new(move |item: T| {
            let (f, key, cache) = (Arc::clone(&f), Arc::clone(&key), cache.clone());
            let (policy, metrics, hits, misses) = (
                policy.clone(),
                metrics.clone(),
                hits.clone(),
                misses.clone(),
            );
            Box::pin(async move {
                let mut call = |x: &T| f(x).map(boxed::<U, E>);
                let lookup = policy.execute(&item, &mut call, &metrics);
                let (result, attempts, hit) = cache.get_or_call(key(&item), lookup).await;
                if hit {
                    hits.increment(1);
                } else {
                    misses.increment(1);
                }
                (item, result, attempts)
            })
        })
    }
}

/// [`Operators::call`](crate::Operators::call) and, unordered,
/// [`Operators::call_unordered`](crate::Operators::call_unordered).
pub(crate) fn call<T, U, E, Fut>(
    stage: Stage<T>,
    concurrency: usize,
    ordered: bool,
    f: impl Fn(&T) -> Fut + Send + Sync + 'static,
) -> Flow<U>
where
    T: Send + Sync + 'static,
    U: Send + 'static,
    E: Into<BoxError>,
    Fut: Future<Output = Result<U, E>> + Send + 'static,
{
    let kind = if ordered { "call" } else { "call_unordered" };
    calls(stage, kind, concurrency, ordered, plain(f), |_, answer| {
        answer
    })
}

/// [`Operators::enrich`](crate::Operators::enrich).
pub(crate) fn enrich<T, U, V, E, Fut>(
    stage: Stage<T>,
    concurrency: usize,
    f: impl Fn(&T) -> Fut + Send + Sync + 'static,
    merge: impl FnMut(T, U) -> V + Send + 'static,
) -> Flow<V>
where
    T: Send + Sync + 'static,
    U: Send + 'static,
    V: Send + 'static,
    E: Into<BoxError>,
    Fut: Future<Output = Result<U, E>> + Send + 'static,
{
    calls(stage, "enrich", concurrency, true, plain(f), merge)
}

/// [`Operators::call_cached`](crate::Operators::call_cached).
pub(crate) fn call_cached<T, K, U, E, Fut>(
    stage: Stage<T>,
    concurrency: usize,
    cache: Cache<K, U>,
    key: impl Fn(&T) -> K + Send + Sync + 'static,
    f: impl Fn(&T) -> Fut + Send + Sync + 'static,
) -> Flow<U>
where
    T: Send + Sync + 'static,
    K: Hash + Eq + Send + Sync + 'static,
    U: Clone + Send + Sync + 'static,
    E: Into<BoxError>,
    Fut: Future<Output = Result<U, E>> + Send + 'static,
{
    let launch = cached(cache, key, f);
    calls(
        stage,
        "call_cached",
        concurrency,
        true,
        launch,
        |_, answer| answer,
    )
}

/// [`Operators::enrich_cached`](crate::Operators::enrich_cached).
pub(crate) fn enrich_cached<T, K, U, V, E, Fut>(
    stage: Stage<T>,
    concurrency: usize,
    cache: Cache<K, U>,
    key: impl Fn(&T) -> K + Send + Sync + 'static,
    f: impl Fn(&T) -> Fut + Send + Sync + 'static,
    merge: impl FnMut(T, U) -> V + Send + 'static,
) -> Flow<V>
where
    T: Send + Sync + 'static,
    K: Hash + Eq + Send + Sync + 'static,
    U: Clone + Send + Sync + 'static,
    V: Send + 'static,
    E: Into<BoxError>,
    Fut: Future<Output = Result<U, E>> + Send + 'static,
{
    let launch = cached(cache, key, f);
    calls(stage, "enrich_cached", concurrency, true, launch, merge)
}

/// The stage of every call operator: `launcher` makes the calls, `merge` the results.
fn calls<T: Send + Sync + 'static, U: Send + 'static, V: Send + 'static>(
    stage: Stage<T>,
    kind: &'static str,
    concurrency: usize,
    ordered: bool,
    launcher: impl FnOnce(&StageCtx<T>) -> Launch<T, U> + Send + 'static,
    merge: impl FnMut(T, U) -> V + Send + 'static,
) -> Flow<V> {
    let order = match (stage.key.clone(), ordered) {
        (Some(key), _) => Order::Key(key),
        (None, true) => Order::Input,
        (None, false) => Order::Finish,
    };
    let (tx, out) = stage.output();
    stage.spawn(kind, move |ctx, rx| {
        let launch = launcher(&ctx);
        run_calls(ctx, rx, tx, concurrency, order, launch, merge)
    });
    out
}
