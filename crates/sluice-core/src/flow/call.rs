//! `call`: asynchronous request/response per item (an HTTP lookup, a database query), with up
//! to N calls in flight and the stage's policies around each (see [`crate::policy`]).
//!
//! The stage takes a batch from its input only when every item it holds has been launched, so
//! it never holds more than one batch plus N calls. Completed calls are collected while they are
//! ready and sent on as one batch.

use std::collections::{BTreeMap, VecDeque};
use std::hash::Hash;
use std::sync::Arc;
use std::time::Instant;

use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};

use crate::ack::AckToken;
use crate::batch::Batch;
use crate::channel::{Receiver, Sender};
use crate::error::{BoxError, ItemError};
use crate::flow::Flow;
use crate::policy::Cache;
use crate::stage::{Stage, StageCtx};

/// What a launched call resolves to: the item back, the result and the attempts made.
type Called<T, U> = (T, Result<U, ItemError>, u32);

/// A finished call: its place in the input, the item, its token, result, attempts and time.
type Done<T, U> = (
    u64,
    T,
    AckToken,
    Result<U, ItemError>,
    u32,
    std::time::Duration,
);

/// The loop of a call stage; `launch` starts the policy-wrapped call of one item.
///
/// Up to `concurrency` calls *run* at once. In the ordered form, results that finish early wait
/// in a reorder buffer without holding a slot (so one slow call does not stall the others, and a
/// least-loaded balancer sees the real load); calls running plus results waiting are bounded by
/// four times the concurrency, so the buffer is bounded too.
async fn calls<T, U, Fut>(
    mut ctx: StageCtx<T>,
    mut rx: Receiver<T>,
    tx: Sender<U>,
    concurrency: usize,
    ordered: bool,
    launch: impl Fn(T) -> Fut,
) where
    T: Send + 'static,
    U: Send + 'static,
    Fut: Future<Output = Called<T, U>>,
{
    let concurrency = concurrency.max(1);
    let window = if ordered {
        4 * concurrency
    } else {
        concurrency
    };
    let mut queue: VecDeque<(T, AckToken)> = VecDeque::new();
    let mut running = FuturesUnordered::new();
    let mut waiting: BTreeMap<u64, Done<T, U>> = BTreeMap::new();
    let (mut next_seq, mut next_out) = (0u64, 0u64);
    let mut input_done = false;
    loop {
        while running.len() < concurrency && running.len() + waiting.len() < window {
            let Some((item, ack)) = queue.pop_front() else {
                break;
            };
            ctx.metrics.in_flight(1);
            let call = launch(item);
            let seq = next_seq;
            next_seq += 1;
            running.push(async move {
                let started = Instant::now();
                let (item, result, attempts) = call.await;
                (seq, item, ack, result, attempts, started.elapsed())
            });
        }
        let first = tokio::select! {
            biased;
            Some(done) = running.next(), if !running.is_empty() => done,
            received = rx.recv(), if !input_done && queue.is_empty() => {
                match received {
                    Some(batch) => {
                        ctx.metrics.received(batch.len());
                        queue.extend(batch);
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
            ctx.metrics.in_flight(-1);
            ctx.metrics.latency(done.5);
            ctx.metrics.busy(done.5 / concurrency as u32);
            if ordered {
                waiting.insert(done.0, done);
                while let Some(done) = waiting.remove(&next_out) {
                    next_out += 1;
                    settle(&mut ctx, &mut out, done);
                }
            } else {
                settle(&mut ctx, &mut out, done);
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

/// A finished call's item goes on, or fails.
fn settle<T: Send + 'static, U>(ctx: &mut StageCtx<T>, out: &mut Batch<U>, done: Done<T, U>) {
    let (_, item, ack, result, attempts, _) = done;
    match result {
        Ok(value) => out.push(value, ack),
        Err(err) => ctx.fail(item, ack, err, attempts),
    }
}

/// A user call's error as the boxed error policies handle.
fn boxed<U, E: Into<BoxError>>(result: Result<U, E>) -> Result<U, BoxError> {
    result.map_err(Into::into)
}

impl<T: Send + Sync + 'static> Stage<T> {
    /// Calls `f` for each item with up to `concurrency` calls in flight, under the stage's
    /// policies; results keep the input order. `f` borrows the item to *start* the call and
    /// returns a future that owns what it needs, so retries can call it again.
    pub fn call<U, E, Fut>(
        self,
        concurrency: usize,
        f: impl Fn(&T) -> Fut + Send + Sync + 'static,
    ) -> Flow<U>
    where
        U: Send + 'static,
        E: Into<BoxError>,
        Fut: Future<Output = Result<U, E>> + Send + 'static,
    {
        self.calls("call", concurrency, true, f)
    }

    /// Like [`call`](Self::call), but results leave as they complete.
    pub fn call_unordered<U, E, Fut>(
        self,
        concurrency: usize,
        f: impl Fn(&T) -> Fut + Send + Sync + 'static,
    ) -> Flow<U>
    where
        U: Send + 'static,
        E: Into<BoxError>,
        Fut: Future<Output = Result<U, E>> + Send + 'static,
    {
        self.calls("call_unordered", concurrency, false, f)
    }

    /// Like [`call`](Self::call), with results cached by `key`: a hit skips the call and its
    /// policies; concurrent misses on one key make one call. Counts
    /// `sluice_stage_cache_hits_total` and `sluice_stage_cache_misses_total`.
    pub fn call_cached<K, U, E, Fut>(
        self,
        concurrency: usize,
        cache: Cache<K, U>,
        key: impl Fn(&T) -> K + Send + Sync + 'static,
        f: impl Fn(&T) -> Fut + Send + Sync + 'static,
    ) -> Flow<U>
    where
        K: Hash + Eq + Send + Sync + 'static,
        U: Clone + Send + Sync + 'static,
        E: Into<BoxError>,
        Fut: Future<Output = Result<U, E>> + Send + 'static,
    {
        let (tx, out) = self.output();
        let f = Arc::new(f);
        let key = Arc::new(key);
        self.spawn("call_cached", move |ctx, rx| {
            let policy = ctx.policy.clone();
            let metrics = ctx.metrics.clone();
            let hits = metrics.counter("sluice_stage_cache_hits_total");
            let misses = metrics.counter("sluice_stage_cache_misses_total");
            let launch = move |item: T| {
                let (f, key, cache, policy, metrics) = (
                    Arc::clone(&f),
                    Arc::clone(&key),
                    cache.clone(),
                    policy.clone(),
                    metrics.clone(),
                );
                let (hits, misses) = (hits.clone(), misses.clone());
                async move {
                    let mut call = |x: &T| f(x).map(boxed::<U, E>);
                    let lookup = policy.execute(&item, &mut call, &metrics);
                    let (result, attempts, hit) = cache.get_or_call(key(&item), lookup).await;
                    if hit {
                        hits.increment(1);
                    } else {
                        misses.increment(1);
                    }
                    (item, result, attempts)
                }
            };
            calls(ctx, rx, tx, concurrency, true, launch)
        });
        out
    }

    fn calls<U, E, Fut>(
        self,
        kind: &'static str,
        concurrency: usize,
        ordered: bool,
        f: impl Fn(&T) -> Fut + Send + Sync + 'static,
    ) -> Flow<U>
    where
        U: Send + 'static,
        E: Into<BoxError>,
        Fut: Future<Output = Result<U, E>> + Send + 'static,
    {
        let (tx, out) = self.output();
        let f = Arc::new(f);
        self.spawn(kind, move |ctx, rx| {
            let policy = ctx.policy.clone();
            let metrics = ctx.metrics.clone();
            let launch = move |item: T| {
                let (f, policy, metrics) = (Arc::clone(&f), policy.clone(), metrics.clone());
                async move {
                    let mut call = |x: &T| f(x).map(boxed::<U, E>);
                    let (result, attempts) = policy.execute(&item, &mut call, &metrics).await;
                    (item, result, attempts)
                }
            };
            calls(ctx, rx, tx, concurrency, ordered, launch)
        });
        out
    }
}

impl<T: Send + Sync + 'static> Flow<T> {
    /// Async call per item, in order; see [`Stage::call`].
    pub fn call<U, E, Fut>(
        self,
        concurrency: usize,
        f: impl Fn(&T) -> Fut + Send + Sync + 'static,
    ) -> Flow<U>
    where
        U: Send + 'static,
        E: Into<BoxError>,
        Fut: Future<Output = Result<U, E>> + Send + 'static,
    {
        self.stage("call").call(concurrency, f)
    }

    /// Async call per item, as completed; see [`Stage::call_unordered`].
    pub fn call_unordered<U, E, Fut>(
        self,
        concurrency: usize,
        f: impl Fn(&T) -> Fut + Send + Sync + 'static,
    ) -> Flow<U>
    where
        U: Send + 'static,
        E: Into<BoxError>,
        Fut: Future<Output = Result<U, E>> + Send + 'static,
    {
        self.stage("call").call_unordered(concurrency, f)
    }

    /// Cached async call per item; see [`Stage::call_cached`].
    pub fn call_cached<K, U, E, Fut>(
        self,
        concurrency: usize,
        cache: Cache<K, U>,
        key: impl Fn(&T) -> K + Send + Sync + 'static,
        f: impl Fn(&T) -> Fut + Send + Sync + 'static,
    ) -> Flow<U>
    where
        K: Hash + Eq + Send + Sync + 'static,
        U: Clone + Send + Sync + 'static,
        E: Into<BoxError>,
        Fut: Future<Output = Result<U, E>> + Send + 'static,
    {
        self.stage("call").call_cached(concurrency, cache, key, f)
    }
}
