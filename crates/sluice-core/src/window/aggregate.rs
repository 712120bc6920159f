//! What a window computes over its items: the [`Aggregate`] trait and common aggregates.

use std::marker::PhantomData;

/// An incremental computation over a window's items.
///
/// Items are *added by reference*, since a sliding window adds each item to several windows.
/// `merge` combines two partial results; session windows need it when an item bridges two
/// sessions.
pub trait Aggregate<T>: Send + 'static {
    /// The running state.
    type Acc: Send + 'static;
    /// The result per window.
    type Output: Send + 'static;

    /// The state of an empty window.
    fn init(&self) -> Self::Acc;
    /// Adds one item.
    fn add(&self, acc: &mut Self::Acc, item: &T);
    /// Absorbs `other` into `acc`.
    fn merge(&self, acc: &mut Self::Acc, other: Self::Acc);
    /// The result of a closed window.
    fn finish(&self, acc: Self::Acc) -> Self::Output;
}

/// Counts items.
#[derive(Debug, Clone, Copy, Default)]
pub struct Count;

impl<T> Aggregate<T> for Count {
    type Acc = u64;
    type Output = u64;

    fn init(&self) -> u64 {
        0
    }
    fn add(&self, acc: &mut u64, _: &T) {
        *acc += 1;
    }
    fn merge(&self, acc: &mut u64, other: u64) {
        *acc += other;
    }
    fn finish(&self, acc: u64) -> u64 {
        acc
    }
}

/// Count, sum, min, max and mean of a number taken from each item.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Summary {
    /// Items.
    pub count: u64,
    /// Sum of the values.
    pub sum: f64,
    /// Smallest value (`+∞` when empty).
    pub min: f64,
    /// Largest value (`-∞` when empty).
    pub max: f64,
}

impl Summary {
    /// The mean, or `None` for an empty window.
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }
}

/// Aggregates `f(item)` into a [`Summary`].
pub struct Stats<F>(pub F);

impl<T, F: Fn(&T) -> f64 + Send + 'static> Aggregate<T> for Stats<F> {
    type Acc = Summary;
    type Output = Summary;

    fn init(&self) -> Summary {
        Summary {
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
    fn add(&self, acc: &mut Summary, item: &T) {
        let v = (self.0)(item);
        acc.count += 1;
        acc.sum += v;
        acc.min = acc.min.min(v);
        acc.max = acc.max.max(v);
    }
    fn merge(&self, acc: &mut Summary, other: Summary) {
        acc.count += other.count;
        acc.sum += other.sum;
        acc.min = acc.min.min(other.min);
        acc.max = acc.max.max(other.max);
    }
    fn finish(&self, acc: Summary) -> Summary {
        acc
    }
}

/// Keeps every item (cloned) in arrival order.
pub struct Collect<T>(PhantomData<fn(T)>);

impl<T> Default for Collect<T> {
    fn default() -> Self {
        Collect(PhantomData)
    }
}

impl<T: Clone + Send + 'static> Aggregate<T> for Collect<T> {
    type Acc = Vec<T>;
    type Output = Vec<T>;

    fn init(&self) -> Vec<T> {
        Vec::new()
    }
    fn add(&self, acc: &mut Vec<T>, item: &T) {
        acc.push(item.clone());
    }
    fn merge(&self, acc: &mut Vec<T>, mut other: Vec<T>) {
        acc.append(&mut other);
    }
    fn finish(&self, acc: Vec<T>) -> Vec<T> {
        acc
    }
}

/// An aggregate from three closures: the empty state, adding an item, merging two states.
pub struct Fold<I, A, M> {
    init: I,
    add: A,
    merge: M,
}

/// Builds a [`Fold`] aggregate whose result is its state.
pub fn fold<T, S, I, A, M>(init: I, add: A, merge: M) -> Fold<I, A, M>
where
    S: Send + 'static,
    I: Fn() -> S + Send + 'static,
    A: Fn(&mut S, &T) + Send + 'static,
    M: Fn(&mut S, S) + Send + 'static,
{
    Fold { init, add, merge }
}

impl<T, S, I, A, M> Aggregate<T> for Fold<I, A, M>
where
    S: Send + 'static,
    I: Fn() -> S + Send + 'static,
    A: Fn(&mut S, &T) + Send + 'static,
    M: Fn(&mut S, S) + Send + 'static,
{
    type Acc = S;
    type Output = S;

    fn init(&self) -> S {
        (self.init)()
    }
    fn add(&self, acc: &mut S, item: &T) {
        (self.add)(acc, item);
    }
    fn merge(&self, acc: &mut S, other: S) {
        (self.merge)(acc, other);
    }
    fn finish(&self, acc: S) -> S {
        acc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_merge_like_adding() {
        let agg = Stats(|x: &f64| *x);
        let mut a = agg.init();
        let mut b = agg.init();
        for v in [1.0, 5.0] {
            agg.add(&mut a, &v);
        }
        agg.add(&mut b, &3.0);
        agg.merge(&mut a, b);
        let s = agg.finish(a);
        assert_eq!((s.count, s.sum, s.min, s.max), (3, 9.0, 1.0, 5.0));
        assert_eq!(s.mean(), Some(3.0));
    }
}
