//! Spreading calls over several equivalent endpoints.
//!
//! A [`Balancer`] hands out a [`Lease`] on one endpoint per call; the lease counts the call as
//! in flight on that endpoint until it is dropped. Wrap a call function with
//! [`Balancer::wrap`] and each *attempt* picks again, so a retry can go to another endpoint.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// How a [`Balancer`] picks an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Each endpoint in turn.
    RoundRobin,
    /// In proportion to the endpoints' weights, interleaved (smooth weighted round-robin).
    Weighted,
    /// The endpoint with the fewest calls in flight (ties go round-robin).
    LeastLoaded,
}

struct Endpoint<E> {
    value: E,
    weight: i64,
    in_flight: AtomicUsize,
}

struct Inner<E> {
    endpoints: Vec<Endpoint<E>>,
    strategy: Strategy,
    cursor: AtomicUsize,
    /// Smooth weighted round-robin's running scores.
    scores: Mutex<Vec<i64>>,
}

/// Picks one of several endpoints per call; clones share state.
pub struct Balancer<E> {
    inner: Arc<Inner<E>>,
}

impl<E> Clone for Balancer<E> {
    fn clone(&self) -> Self {
        Balancer {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<E: fmt::Debug> fmt::Debug for Balancer<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Balancer")
            .field("strategy", &self.inner.strategy)
            .field(
                "endpoints",
                &self
                    .inner
                    .endpoints
                    .iter()
                    .map(|e| &e.value)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl<E: Send + Sync + 'static> Balancer<E> {
    /// Round-robin over `endpoints`.
    ///
    /// # Panics
    /// If `endpoints` is empty: a balancer needs at least one endpoint.
    pub fn round_robin(endpoints: impl IntoIterator<Item = E>) -> Balancer<E> {
        Balancer::build(endpoints.into_iter().map(|e| (e, 1)), Strategy::RoundRobin)
    }

    /// In proportion to each endpoint's weight (a weight of 0 counts as 1).
    ///
    /// # Panics
    /// If `endpoints` is empty.
    pub fn weighted(endpoints: impl IntoIterator<Item = (E, u32)>) -> Balancer<E> {
        Balancer::build(endpoints, Strategy::Weighted)
    }

    /// To the endpoint with the fewest calls in flight.
    ///
    /// # Panics
    /// If `endpoints` is empty.
    pub fn least_loaded(endpoints: impl IntoIterator<Item = E>) -> Balancer<E> {
        Balancer::build(endpoints.into_iter().map(|e| (e, 1)), Strategy::LeastLoaded)
    }

    fn build(endpoints: impl IntoIterator<Item = (E, u32)>, strategy: Strategy) -> Balancer<E> {
        let endpoints: Vec<Endpoint<E>> = endpoints
            .into_iter()
            .map(|(value, weight)| Endpoint {
                value,
                weight: i64::from(weight.max(1)),
                in_flight: AtomicUsize::new(0),
            })
            .collect();
        assert!(
            !endpoints.is_empty(),
            "a balancer needs at least one endpoint"
        );
        let scores = Mutex::new(vec![0; endpoints.len()]);
        Balancer {
            inner: Arc::new(Inner {
                endpoints,
                strategy,
                cursor: AtomicUsize::new(0),
                scores,
            }),
        }
    }

    /// Picks an endpoint for one call.
    pub fn pick(&self) -> Lease<E> {
        let inner = &self.inner;
        let n = inner.endpoints.len();
        let index = match inner.strategy {
            Strategy::RoundRobin => inner.cursor.fetch_add(1, Ordering::Relaxed) % n,
            Strategy::Weighted => {
                let mut scores = inner
                    .scores
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let total: i64 = inner.endpoints.iter().map(|e| e.weight).sum();
                let mut best = 0;
                for (i, e) in inner.endpoints.iter().enumerate() {
                    scores[i] += e.weight;
                    if scores[i] > scores[best] {
                        best = i;
                    }
                }
                scores[best] -= total;
                best
            }
            Strategy::LeastLoaded => {
                let start = inner.cursor.fetch_add(1, Ordering::Relaxed);
                (0..n)
                    .map(|k| (start + k) % n)
                    .min_by_key(|&i| inner.endpoints[i].in_flight.load(Ordering::Relaxed))
                    .unwrap_or(0)
            }
        };
        inner.endpoints[index]
            .in_flight
            .fetch_add(1, Ordering::Relaxed);
        Lease {
            inner: Arc::clone(inner),
            index,
        }
    }

    /// Calls in flight per endpoint, in the order given.
    pub fn in_flight(&self) -> Vec<usize> {
        self.inner
            .endpoints
            .iter()
            .map(|e| e.in_flight.load(Ordering::Relaxed))
            .collect()
    }

    /// Turns `f(endpoint, item)` into a call function for [`Flow::call`](crate::Flow::call):
    /// every call picks an endpoint and holds its lease until the call's future completes.
    pub fn wrap<T, Fut>(
        &self,
        f: impl Fn(&E, &T) -> Fut + Send + Sync + 'static,
    ) -> impl Fn(&T) -> std::pin::Pin<Box<dyn Future<Output = Fut::Output> + Send>> + Send + Sync + 'static
    where
        Fut: Future + Send + 'static,
    {
        let balancer = self.clone();
        move |item: &T| {
            let lease = balancer.pick();
            let call = f(lease.endpoint(), item);
            Box::pin(async move {
                let out = call.await;
                drop(lease);
                out
            })
        }
    }
}

/// One call's hold on an endpoint; dropping it ends the call.
pub struct Lease<E> {
    inner: Arc<Inner<E>>,
    index: usize,
}

impl<E> Lease<E> {
    /// The endpoint.
    pub fn endpoint(&self) -> &E {
        &self.inner.endpoints[self.index].value
    }

    /// Its position in the balancer's list.
    pub fn index(&self) -> usize {
        self.index
    }
}

impl<E> Drop for Lease<E> {
    fn drop(&mut self) {
        self.inner.endpoints[self.index]
            .in_flight
            .fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_cycles() {
        let b = Balancer::round_robin(["a", "b", "c"]);
        let picks: Vec<_> = (0..6).map(|_| *b.pick().endpoint()).collect();
        assert_eq!(picks, ["a", "b", "c", "a", "b", "c"]);
    }

    #[test]
    fn weighted_is_proportional_and_interleaved() {
        let b = Balancer::weighted([("a", 5), ("b", 1), ("c", 1)]);
        let picks: Vec<_> = (0..7).map(|_| *b.pick().endpoint()).collect();
        assert_eq!(picks.iter().filter(|p| **p == "a").count(), 5);
        assert_eq!(picks, ["a", "a", "b", "a", "c", "a", "a"]);
    }

    #[test]
    fn least_loaded_avoids_busy_endpoints() {
        let b = Balancer::least_loaded(["a", "b"]);
        let busy = b.pick();
        let idle = if *busy.endpoint() == "a" { "b" } else { "a" };
        for _ in 0..3 {
            assert_eq!(*b.pick().endpoint(), idle);
        }
        assert_eq!(b.in_flight().iter().sum::<usize>(), 1);
    }
}
