//! [`Operators`]: every operator of the engine, declared once for both a [`Flow`] and a
//! configured [`Stage`]. It stands above the modules that run the stages: the flow's own, `keyed`
//! and `window`.
//!
//! `flow.map(f)` adds a stage named after its operator (`map`); `flow.stage("parse").retry(r)
//! .map(f)` adds the stage configured before it. Both are the same method of this trait, which
//! is sealed: only `Flow` and `Stage` implement it. Each method hands the stage to the module
//! that runs that kind of stage.

use std::hash::Hash;
use std::time::Duration;

use crate::error::{BoxError, Error};
use crate::flow::stage::Stage;
use crate::flow::{Flow, batching, call, fan, parallel, sink, transform};
use crate::keyed::Keyed;
use crate::pipeline::RunReport;
use crate::policy::Cache;
use crate::window::{Window, Windowed};

mod sealed {
    use crate::flow::stage::Stage;

    /// Implemented by `Flow` and `Stage` only.
    pub trait Sealed<T> {
        /// The stage an operator adds: this one as configured, or a new one that the operator
        /// names after itself.
        fn into_stage(self) -> Stage<T>;
    }
}

impl<T: Send + 'static> sealed::Sealed<T> for Flow<T> {
    fn into_stage(self) -> Stage<T> {
        Stage::unnamed(self)
    }
}

impl<T: Send + 'static> sealed::Sealed<T> for Stage<T> {
    fn into_stage(self) -> Stage<T> {
        self
    }
}

impl<T: Send + 'static> Operators<T> for Flow<T> {}
impl<T: Send + 'static> Operators<T> for Stage<T> {}

/// The operators of a flow of `T`, on a [`Flow`] (a stage named after the operator) or on a
/// [`Stage`] configured with [`Flow::stage`] (its name, policies and error output).
///
/// ```
/// use sluice_core::{Flow, Operators};
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let sum = Flow::from_iter(1..=4u64)
///     .stage("square")
///     .map(|x| x * x)
///     .fold(0, |acc, x| acc + x)
///     .await;
/// assert_eq!(sum.expect("ran"), 30);
/// # }
/// ```
pub trait Operators<T: Send + 'static>: sealed::Sealed<T> + Sized {
    // Per-item transforms.

    /// Transforms each item.
    fn map<U: Send + 'static>(self, f: impl FnMut(T) -> U + Send + 'static) -> Flow<U> {
        transform::map(self.into_stage(), f)
    }

    /// Keeps the items for which `f` is true; the others are acknowledged as filtered.
    fn filter(self, f: impl FnMut(&T) -> bool + Send + 'static) -> Flow<T> {
        transform::filter(self.into_stage(), f)
    }

    /// Transforms each item, dropping (as filtered) those for which `f` returns `None`.
    fn filter_map<U: Send + 'static>(
        self,
        f: impl FnMut(T) -> Option<U> + Send + 'static,
    ) -> Flow<U> {
        transform::filter_map(self.into_stage(), f)
    }

    /// Turns each item into any number of items; each carries a share of the item's token, so
    /// the origin learns the outcome once all of them are done (none: filtered).
    fn flat_map<I>(self, f: impl FnMut(T) -> I + Send + 'static) -> Flow<I::Item>
    where
        I: IntoIterator,
        I::Item: Send + 'static,
    {
        transform::flat_map(self.into_stage(), f)
    }

    /// Transforms each item with a function that may fail; failed items go to the error output
    /// with the error. With a retry policy, failed attempts are retried (the function is
    /// synchronous, so a timeout cannot interrupt it).
    fn try_map<U, E>(self, f: impl FnMut(&T) -> Result<U, E> + Send + 'static) -> Flow<U>
    where
        T: Sync,
        U: Send + 'static,
        E: Into<BoxError>,
    {
        transform::try_map(self.into_stage(), f)
    }

    /// Turns each item into any number of items with a function that may fail: on failure it
    /// returns the item with the error, and the item goes to the error output whole. (`try_map`,
    /// `filter` and `flat_map` in one: a filter that can fail returns `Ok(None)` or
    /// `Ok(Some(item))`.)
    fn try_flat_map<I, E>(
        self,
        f: impl FnMut(T) -> Result<I, (T, E)> + Send + 'static,
    ) -> Flow<I::Item>
    where
        I: IntoIterator,
        I::Item: Send + 'static,
        E: Into<BoxError>,
    {
        transform::try_flat_map(self.into_stage(), f)
    }

    /// Looks at each item and passes it on unchanged.
    fn inspect(self, f: impl FnMut(&T) + Send + 'static) -> Flow<T> {
        transform::inspect(self.into_stage(), f)
    }

    // Concurrency.

    /// Applies `f` on `workers` threads at once and keeps the input order. Each worker gets its
    /// own clone of `f`. For CPU-bound functions; use [`call`](Self::call) for I/O.
    fn parallel<U: Send + 'static>(
        self,
        workers: usize,
        f: impl FnMut(T) -> U + Clone + Send + 'static,
    ) -> Flow<U> {
        parallel::parallel(self.into_stage(), workers, true, f)
    }

    /// Applies `f` on `workers` threads at once, keeping the order of the items of each `key`:
    /// each key's items go to one worker, and results leave as they are done. Short for
    /// `stage.ordered_by(key).parallel(workers, f)`; see [`Stage::ordered_by`].
    fn parallel_by_key<K: Hash, U: Send + 'static>(
        self,
        workers: usize,
        key: impl Fn(&T) -> K + Send + Sync + 'static,
        f: impl FnMut(T) -> U + Clone + Send + 'static,
    ) -> Flow<U> {
        let stage = self
            .into_stage()
            .or_named("parallel_by_key")
            .ordered_by(key);
        parallel::parallel(stage, workers, true, f)
    }

    /// Applies `f` on `workers` threads at once; results leave in the order they finish.
    fn parallel_unordered<U: Send + 'static>(
        self,
        workers: usize,
        f: impl FnMut(T) -> U + Clone + Send + 'static,
    ) -> Flow<U> {
        let stage = self.into_stage().or_named("parallel");
        parallel::parallel(stage, workers, false, f)
    }

    /// Like [`try_flat_map`](Self::try_flat_map) on `workers` threads at once, keeping the
    /// input order; failed items go to the error output. Each worker gets its own clone of `f`.
    fn parallel_try_flat_map<I, E>(
        self,
        workers: usize,
        f: impl FnMut(T) -> Result<I, (T, E)> + Clone + Send + 'static,
    ) -> Flow<I::Item>
    where
        I: IntoIterator + 'static,
        I::Item: Send + 'static,
        E: Into<BoxError> + 'static,
    {
        parallel::parallel_try_flat_map(self.into_stage(), workers, f)
    }

    /// Calls `f` for each item with up to `concurrency` calls in flight, under the stage's
    /// policies; results keep the input order. `f` borrows the item to *start* the call and
    /// returns a future that owns what it needs, so retries can call it again.
    fn call<U, E, Fut>(
        self,
        concurrency: usize,
        f: impl Fn(&T) -> Fut + Send + Sync + 'static,
    ) -> Flow<U>
    where
        T: Sync,
        U: Send + 'static,
        E: Into<BoxError>,
        Fut: Future<Output = Result<U, E>> + Send + 'static,
    {
        call::call(self.into_stage(), concurrency, true, f)
    }

    /// Like [`call`](Self::call), but results leave as they complete.
    fn call_unordered<U, E, Fut>(
        self,
        concurrency: usize,
        f: impl Fn(&T) -> Fut + Send + Sync + 'static,
    ) -> Flow<U>
    where
        T: Sync,
        U: Send + 'static,
        E: Into<BoxError>,
        Fut: Future<Output = Result<U, E>> + Send + 'static,
    {
        call::call(self.into_stage().or_named("call"), concurrency, false, f)
    }

    /// Like [`call`](Self::call), then `merge` combines each item with its answer (an
    /// enrichment keeps the item).
    fn enrich<U, V, E, Fut>(
        self,
        concurrency: usize,
        f: impl Fn(&T) -> Fut + Send + Sync + 'static,
        merge: impl FnMut(T, U) -> V + Send + 'static,
    ) -> Flow<V>
    where
        T: Sync,
        U: Send + 'static,
        V: Send + 'static,
        E: Into<BoxError>,
        Fut: Future<Output = Result<U, E>> + Send + 'static,
    {
        call::enrich(self.into_stage(), concurrency, f, merge)
    }

    /// Like [`call`](Self::call), with answers cached by `key`: a hit skips the call and its
    /// policies; concurrent misses on one key make one call. Counts
    /// `sluice_stage_cache_hits_total` and `sluice_stage_cache_misses_total`.
    fn call_cached<K, U, E, Fut>(
        self,
        concurrency: usize,
        cache: Cache<K, U>,
        key: impl Fn(&T) -> K + Send + Sync + 'static,
        f: impl Fn(&T) -> Fut + Send + Sync + 'static,
    ) -> Flow<U>
    where
        T: Sync,
        K: Hash + Eq + Send + Sync + 'static,
        U: Clone + Send + Sync + 'static,
        E: Into<BoxError>,
        Fut: Future<Output = Result<U, E>> + Send + 'static,
    {
        let stage = self.into_stage().or_named("call");
        call::call_cached(stage, concurrency, cache, key, f)
    }

    /// [`enrich`](Self::enrich) with answers cached by `key`, as in
    /// [`call_cached`](Self::call_cached).
    fn enrich_cached<K, U, V, E, Fut>(
        self,
        concurrency: usize,
        cache: Cache<K, U>,
        key: impl Fn(&T) -> K + Send + Sync + 'static,
        f: impl Fn(&T) -> Fut + Send + Sync + 'static,
        merge: impl FnMut(T, U) -> V + Send + 'static,
    ) -> Flow<V>
    where
        T: Sync,
        K: Hash + Eq + Send + Sync + 'static,
        U: Clone + Send + Sync + 'static,
        V: Send + 'static,
        E: Into<BoxError>,
        Fut: Future<Output = Result<U, E>> + Send + 'static,
    {
        call::enrich_cached(self.into_stage(), concurrency, cache, key, f, merge)
    }

    // Fan-out and fan-in.

    /// Sends a copy of every item to each of `n` branches. Each copy holds a share of the item's
    /// token: the origin learns the outcome once every branch is done with it.
    fn broadcast(self, n: usize) -> Vec<Flow<T>>
    where
        T: Clone,
    {
        fan::broadcast(self.into_stage(), n)
    }

    /// Sends each item to the branch whose index `f` returns (of `n`). An index out of range
    /// fails the item.
    fn route(self, n: usize, f: impl FnMut(&T) -> usize + Send + 'static) -> Vec<Flow<T>> {
        fan::route(self.into_stage(), n, f)
    }

    /// Splits the items in two: those for which `f` is true, then the others.
    fn partition(self, mut f: impl FnMut(&T) -> bool + Send + 'static) -> (Flow<T>, Flow<T>) {
        let stage = self.into_stage().or_named("partition");
        let mut flows = fan::route(stage, 2, move |item| usize::from(!f(item))).into_iter();
        match (flows.next(), flows.next()) {
            (Some(yes), Some(no)) => (yes, no),
            _ => unreachable!("route(2) returns two flows"),
        }
    }

    /// Spreads items over `n` lanes by the hash of `key`: every item with one key goes to the
    /// same lane, so per-key order and per-key state survive the split.
    fn partition_by_key<K: Hash>(
        self,
        n: usize,
        mut key: impl FnMut(&T) -> K + Send + 'static,
    ) -> Vec<Flow<T>> {
        let n = n.max(1);
        let stage = self.into_stage().or_named("partition");
        fan::route(stage, n, move |item| fan::lane_of(&key(item), n))
    }

    /// Interleaves this flow's items with those of `others` as they arrive (fan-in). Flows
    /// built in different pipelines are joined into one. See also [`Flow::merge`].
    fn merge_with(self, others: impl IntoIterator<Item = Flow<T>>) -> Flow<T> {
        fan::merge(self.into_stage(), others)
    }

    // Grouping.

    /// Groups items into vectors of up to `size`, emitting a group when it is full or when its
    /// first item has waited `linger`, and the remainder when the input ends. A group's token
    /// joins its items' tokens.
    fn batch(self, size: usize, linger: Duration) -> Flow<Vec<T>> {
        batching::batch(self.into_stage(), size, linger)
    }

    /// Groups items like [`batch`](Self::batch) and hands each group to `f`, which returns one
    /// result per item, in order. Items whose result is an error go to the error output with it;
    /// the others go on. If `f` panics or returns the wrong number of results, the items
    /// without a result fail.
    fn try_batch<U, E>(
        self,
        size: usize,
        linger: Duration,
        f: impl FnMut(&[T]) -> Vec<Result<U, E>> + Send + 'static,
    ) -> Flow<U>
    where
        U: Send + 'static,
        E: Into<BoxError>,
    {
        batching::try_batch(self.into_stage(), size, linger, f)
    }

    /// Groups the whole flow into windows; see the [module docs](crate::window).
    fn window(self, window: Window<T>) -> Windowed<T, ()> {
        Windowed::new(self.into_stage(), Box::new(|_| ()), window)
    }

    /// Groups items by `key` for a keyed operator (`scan`, `fold`, `window`); see
    /// [`keyed`](crate::keyed).
    fn key_by<K>(self, key: impl FnMut(&T) -> K + Send + 'static) -> Keyed<T, K> {
        Keyed::new(self.into_stage(), Box::new(key))
    }

    // Terminals.

    /// Sends the items to `sink` under the stage's policies (retry applies to whole-batch
    /// errors). Returns at once: run the pipeline to start it.
    fn sink(self, sink: impl sink::Sink<T>)
    where
        T: Sync,
    {
        sink::sinks(self.into_stage(), vec![sink]);
    }

    /// Like [`sink`](Self::sink) with up to `writers` writes in flight at once, each on its own
    /// clone of `sink`: a sink that waits on a database or a broker keeps it busy while the
    /// next batch is prepared. Batches may then finish, and be acknowledged, out of order.
    fn sink_writers<S: sink::Sink<T> + Clone>(self, writers: usize, sink: S)
    where
        T: Sync,
    {
        sink::sinks(self.into_stage(), vec![sink; writers.max(1)]);
    }

    /// Calls `f` on every item; the returned future runs the pipeline until it ends.
    ///
    /// Like every running terminal, this registers its stage when called; the returned future
    /// starts the run once the whole graph is wired (every flow and error output of the pipeline
    /// has been given to an operator or dropped). So several terminals of one pipeline can each
    /// be awaited or spawned: they share one run and each resolves when it ends.
    fn for_each(
        self,
        f: impl FnMut(T) + Send + 'static,
    ) -> impl Future<Output = Result<RunReport, Error>> + Send {
        sink::for_each(self.into_stage(), f)
    }

    /// Folds every item into one value; the returned future runs the pipeline until it ends.
    fn fold<A: Send + 'static>(
        self,
        init: A,
        f: impl FnMut(A, T) -> A + Send + 'static,
    ) -> impl Future<Output = Result<A, Error>> + Send {
        sink::fold(self.into_stage(), init, f)
    }

    /// Collects every item; the returned future runs the pipeline until it ends.
    fn collect(self) -> impl Future<Output = Result<Vec<T>, Error>> + Send {
        self.fold(Vec::new(), |mut all, item| {
            all.push(item);
            all
        })
    }

    /// Counts the items; the returned future runs the pipeline until it ends.
    fn count(self) -> impl Future<Output = Result<u64, Error>> + Send {
        self.fold(0u64, |n, _| n + 1)
    }

    /// Discards the items (acknowledging them delivered); the returned future runs the
    /// pipeline until it ends.
    fn run(self) -> impl Future<Output = Result<RunReport, Error>> + Send {
        sink::drain(self.into_stage())
    }
}
