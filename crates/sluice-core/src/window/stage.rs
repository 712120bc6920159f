//! The window stage: assigns items to windows, closes windows as time passes, emits results.
//!
//! Fixed windows (tumbling, sliding) live in a map ordered by end, so closing is popping from
//! the front. Sessions live per key; a timer map from end time to keys says which keys may have
//! a session to close (stale timers, left by sessions that grew, are skipped).

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Instant as WallInstant, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use super::assign::{self, Span};
use super::{Aggregate, Shape, TimeFn, Window, WindowResult};
use crate::ack::{AckToken, Outcome};
use crate::batch::Batch;
use crate::channel::Sender;
use crate::context::StageCtx;
use crate::error::ItemError;
use crate::flow::Flow;
use crate::flow::stage::Stage;
use crate::keyed::KeyFn;

/// One window of one key, open.
struct Open<A> {
    acc: A,
    count: u64,
    acks: Vec<AckToken>,
}

impl<A> Open<A> {
    fn add(&mut self, ack: AckToken) {
        self.count += 1;
        if ack.is_tracked() {
            self.acks.push(ack);
        }
    }

    fn absorb(&mut self, other: Open<A>) -> A {
        self.count += other.count;
        self.acks.extend(other.acks);
        other.acc
    }
}

/// The keys of one fixed window in the order they first appeared, so results come out in the
/// same order on every run.
struct Groups<K, A> {
    index: HashMap<K, usize>,
    open: Vec<(K, Open<A>)>,
}

impl<K, A> Default for Groups<K, A> {
    fn default() -> Self {
        Groups {
            index: HashMap::new(),
            open: Vec::new(),
        }
    }
}

impl<K: Hash + Eq + Clone, A> Groups<K, A> {
    fn get(&mut self, key: &K, init: impl FnOnce() -> Open<A>) -> &mut Open<A> {
        let slot = match self.index.get(key) {
            Some(&i) => i,
            None => {
                self.index.insert(key.clone(), self.open.len());
                self.open.push((key.clone(), init()));
                self.open.len() - 1
            }
        };
        &mut self.open[slot].1
    }
}

/// Open windows, by shape.
enum State<K, A> {
    /// Tumbling and sliding windows, ordered by (end, start).
    Fixed(BTreeMap<(i64, i64), Groups<K, A>>),
    /// Sessions per key, and the keys to check at each end time.
    Sessions {
        open: HashMap<K, Vec<(Span, Open<A>)>>,
        timers: BTreeMap<i64, Vec<K>>,
    },
}

/// Processing time in milliseconds since the epoch, on tokio's clock (so tests can pause it).
struct Clock {
    wall_ms: i64,
    at: Instant,
}

impl Clock {
    fn new() -> Clock {
        let wall_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        Clock {
            wall_ms,
            at: Instant::now(),
        }
    }

    fn now_ms(&self) -> i64 {
        let elapsed = i64::try_from(self.at.elapsed().as_millis()).unwrap_or(i64::MAX);
        self.wall_ms.saturating_add(elapsed)
    }

    fn instant_at(&self, ms: i64) -> Instant {
        let ahead = u64::try_from(ms.saturating_sub(self.wall_ms)).unwrap_or(0);
        self.at + std::time::Duration::from_millis(ahead)
    }
}

struct Windows<T, K, A: Aggregate<T>> {
    shape: Shape,
    aggregate: A,
    state: State<K, A::Acc>,
    /// Every window ending at or before this has been emitted.
    closed_up_to: i64,
    _items: std::marker::PhantomData<fn(&T)>,
}

impl<T, K: Hash + Eq + Clone, A: Aggregate<T>> Windows<T, K, A> {
    fn new(shape: Shape, aggregate: A) -> Self {
        let state = match shape {
            Shape::Session { .. } => State::Sessions {
                open: HashMap::new(),
                timers: BTreeMap::new(),
            },
            _ => State::Fixed(BTreeMap::new()),
        };
        Windows {
            shape,
            aggregate,
            state,
            closed_up_to: i64::MIN,
            _items: std::marker::PhantomData,
        }
    }

    fn open(&self) -> Open<A::Acc> {
        Open {
            acc: self.aggregate.init(),
            count: 0,
            acks: Vec::new(),
        }
    }

    /// Adds an item at time `ts`, each of its windows taking a share of its token; false if
    /// every window it belongs to has closed (the item is late).
    fn add(&mut self, key: K, ts: i64, item: &T, ack: &AckToken) -> bool {
        match self.shape {
            Shape::Tumbling { size } => {
                self.add_fixed(&key, item, ack, std::iter::once(assign::tumbling(ts, size)))
            }
            Shape::Sliding { size, slide } => {
                self.add_fixed(&key, item, ack, assign::sliding(ts, size, slide))
            }
            Shape::Session { gap } => self.add_session(key, ts, gap, item, ack),
        }
    }

    fn add_fixed(
        &mut self,
        key: &K,
        item: &T,
        ack: &AckToken,
        spans: impl Iterator<Item = Span>,
    ) -> bool {
        let closed = self.closed_up_to;
        let State::Fixed(windows) = &mut self.state else {
            return false;
        };
        let mut added = false;
        for span in spans.filter(|s| s.end > closed) {
            let open = windows
                .entry((span.end, span.start))
                .or_default()
                .get(key, || Open {
                    acc: self.aggregate.init(),
                    count: 0,
                    acks: Vec::new(),
                });
            self.aggregate.add(&mut open.acc, item);
            open.add(ack.clone());
            added = true;
        }
        added
    }

    fn add_session(&mut self, key: K, ts: i64, gap: i64, item: &T, ack: &AckToken) -> bool {
        let mut span = Span {
            start: ts,
            end: ts.saturating_add(gap),
        };
        let mut merged = self.open();
        let State::Sessions { open, timers } = &mut self.state else {
            return false;
        };
        let sessions = match open.entry(key.clone()) {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) => v.insert(Vec::new()),
        };
        let mut overlapped = false;
        let mut i = 0;
        while i < sessions.len() {
            let (s, _) = &sessions[i];
            if s.start < span.end && span.start < s.end {
                let (s, other) = sessions.swap_remove(i);
                span = Span {
                    start: span.start.min(s.start),
                    end: span.end.max(s.end),
                };
                let acc = merged.absorb(other);
                self.aggregate.merge(&mut merged.acc, acc);
                overlapped = true;
            } else {
                i += 1;
            }
        }
        if !overlapped && span.end <= self.closed_up_to {
            if sessions.is_empty() {
                open.remove(&key);
            }
            return false;
        }
        self.aggregate.add(&mut merged.acc, item);
        merged.add(ack.clone());
        sessions.push((span, merged));
        timers.entry(span.end).or_default().push(key);
        true
    }

    /// Closes every window ending at or before `up_to` (all of them for `i64::MAX`).
    fn close(&mut self, up_to: i64, out: &mut Batch<WindowResult<K, A::Output>>) {
        match &mut self.state {
            State::Fixed(windows) => {
                while let Some(entry) = windows.first_entry() {
                    let (end, start) = *entry.key();
                    if end > up_to {
                        break;
                    }
                    for (key, open) in entry.remove().open {
                        out.push(
                            WindowResult {
                                key,
                                start,
                                end,
                                count: open.count,
                                value: self.aggregate.finish(open.acc),
                            },
                            AckToken::join(open.acks),
                        );
                    }
                }
            }
            State::Sessions { open, timers } => {
                while let Some(entry) = timers.first_entry() {
                    if *entry.key() > up_to {
                        break;
                    }
                    for key in entry.remove() {
                        let Some(sessions) = open.get_mut(&key) else {
                            continue;
                        };
                        let mut i = 0;
                        while i < sessions.len() {
                            if sessions[i].0.end <= up_to {
                                let (span, session) = sessions.swap_remove(i);
                                out.push(
                                    WindowResult {
                                        key: key.clone(),
                                        start: span.start,
                                        end: span.end,
                                        count: session.count,
                                        value: self.aggregate.finish(session.acc),
                                    },
                                    AckToken::join(session.acks),
                                );
                            } else {
                                i += 1;
                            }
                        }
                        if sessions.is_empty() {
                            open.remove(&key);
                        }
                    }
                }
            }
        }
        self.closed_up_to = self.closed_up_to.max(up_to);
    }

    /// The earliest end of an open window.
    fn next_end(&self) -> Option<i64> {
        match &self.state {
            State::Fixed(windows) => windows.keys().next().map(|(end, _)| *end),
            State::Sessions { timers, .. } => timers.keys().next().copied(),
        }
    }
}

/// Builds the window stage.
pub(super) fn spawn<T, K, A>(
    stage: Stage<T>,
    mut key: KeyFn<T, K>,
    window: Window<T>,
    aggregate: A,
) -> Flow<WindowResult<K, A::Output>>
where
    T: Send + 'static,
    K: Hash + Eq + Clone + Send + 'static,
    A: Aggregate<T>,
{
    let (tx, out) = stage.output();
    let Window {
        shape,
        event_time,
        allowed_lateness,
    } = window;
    let lateness = i64::try_from(allowed_lateness.as_millis()).unwrap_or(i64::MAX);
    stage.spawn("window", move |mut ctx, mut rx| async move {
        let clock = Clock::new();
        let mut windows: Windows<T, K, A> = Windows::new(shape, aggregate);
        let mut max_seen = i64::MIN;
        loop {
            let wake = match (&event_time, windows.next_end()) {
                (None, Some(end)) => Some(clock.instant_at(end)),
                _ => None,
            };
            tokio::select! {
                received = rx.recv() => {
                    let Some(batch) = received else { break };
                    ctx.metrics.received(batch.len());
                    let started = WallInstant::now();
                    let n = batch.len();
                    let now = clock.now_ms();
                    let mut out = Batch::default();
                    let time = event_time.as_ref().map(|f| (f, lateness));
                    assign_batch(&mut ctx, batch, &mut windows, &mut key, time, now, &mut max_seen, &mut out);
                    if event_time.is_none() {
                        windows.close(now, &mut out);
                    }
                    ctx.metrics.processed(n, started.elapsed());
                    if !emit(&mut ctx, &tx, out).await {
                        return;
                    }
                }
                () = sleep_until(wake) => {
                    let mut out = Batch::default();
                    windows.close(clock.now_ms(), &mut out);
                    if !emit(&mut ctx, &tx, out).await {
                        return;
                    }
                }
            }
        }
        let mut out = Batch::default();
        windows.close(i64::MAX, &mut out);
        emit(&mut ctx, &tx, out).await;
    });
    out
}

/// Assigns one batch's items to windows; late items and items whose key or time function
/// panicked fail. In event time the watermark moves item by item and windows close as soon as
/// it passes them, so results do not depend on how items were batched.
#[allow(clippy::too_many_arguments)]
fn assign_batch<T: Send + 'static, K: Hash + Eq + Clone, A: Aggregate<T>>(
    ctx: &mut StageCtx<T>,
    batch: Batch<T>,
    windows: &mut Windows<T, K, A>,
    key: &mut KeyFn<T, K>,
    event_time: Option<(&TimeFn<T>, i64)>,
    now: i64,
    max_seen: &mut i64,
    out: &mut Batch<WindowResult<K, A::Output>>,
) {
    let mut items = batch.into_iter();
    let mut current: Option<(T, AckToken)> = None;
    while let Err(panic) = catch_unwind(AssertUnwindSafe(|| {
        for (item, ack) in &mut items {
            let (item, ack) = current.insert((item, ack));
            let ts = event_time.map_or(now, |(time, _)| time(item));
            let k = key(item);
            let accepted = windows.add(k, ts, item, ack);
            let Some((item, ack)) = current.take() else {
                continue;
            };
            if accepted {
                ack.complete(Outcome::Filtered);
                if let Some((_, lateness)) = event_time
                    && ts > *max_seen
                {
                    *max_seen = ts;
                    let watermark = ts.saturating_sub(lateness);
                    if windows.next_end().is_some_and(|end| end <= watermark) {
                        windows.close(watermark, out);
                    }
                }
            } else {
                let err = ItemError::Late {
                    event_time_ms: ts,
                    watermark_ms: windows.closed_up_to,
                };
                ctx.fail(item, ack, err, 1);
            }
        }
    })) {
        let error = ItemError::from_panic(panic.as_ref());
        if let Some((item, ack)) = current.take() {
            ctx.fail(item, ack, error, 1);
        }
    }
}

async fn emit<T: Send + 'static, R: Send + 'static>(
    ctx: &mut StageCtx<T>,
    tx: &Sender<R>,
    out: Batch<R>,
) -> bool {
    ctx.flush_failures().await;
    ctx.metrics.emitted(out.len());
    tx.send(out).await.is_ok()
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
