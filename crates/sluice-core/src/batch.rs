//! The unit that moves between stages: a small batch of items with their ack tokens.
//!
//! A channel send costs more than most per-item work, so stages exchange batches and user
//! functions still see one item at a time. Tokens ride in a vector parallel to the items that
//! stays *empty* while no item of the batch is tracked, so flows without acknowledgements pay
//! nothing for them.

use crate::ack::{AckToken, Outcome};

/// Items and their tokens. Invariant: `acks` is empty or exactly as long as `items`.
#[derive(Debug)]
pub(crate) struct Batch<T> {
    pub(crate) items: Vec<T>,
    pub(crate) acks: Vec<AckToken>,
}

impl<T> Default for Batch<T> {
    fn default() -> Self {
        Batch {
            items: Vec::new(),
            acks: Vec::new(),
        }
    }
}

impl<T> Batch<T> {
    pub(crate) fn with_capacity(n: usize) -> Batch<T> {
        Batch {
            items: Vec::with_capacity(n),
            acks: Vec::new(),
        }
    }

    /// A batch of untracked items.
    pub(crate) fn from_items(items: Vec<T>) -> Batch<T> {
        Batch {
            items,
            acks: Vec::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Appends one item, keeping the token vector parallel once any token is tracked.
    #[inline(always)]
    pub(crate) fn push(&mut self, item: T, ack: AckToken) {
        if ack.is_tracked() || !self.acks.is_empty() {
            self.push_tracked(item, ack);
        } else {
            self.items.push(item);
        }
    }

    #[cold]
    #[inline(never)]
    fn push_tracked(&mut self, item: T, ack: AckToken) {
        if self.acks.len() < self.items.len() {
            self.acks.resize_with(self.items.len(), AckToken::none);
        }
        self.acks.push(ack);
        self.items.push(item);
    }

    /// Appends every item of `other`.
    pub(crate) fn append(&mut self, other: Batch<T>) {
        if other.acks.is_empty() && self.acks.is_empty() {
            let mut items = other.items;
            self.items.append(&mut items);
        } else {
            for (item, ack) in other {
                self.push(item, ack);
            }
        }
    }

    /// Splits off the items from `at` on (with their tokens).
    pub(crate) fn split_off(&mut self, at: usize) -> Batch<T> {
        let items = self.items.split_off(at);
        let acks = if self.acks.is_empty() {
            Vec::new()
        } else {
            self.acks.split_off(at)
        };
        Batch { items, acks }
    }

    /// Completes every token with `outcome` and returns the bare items.
    pub(crate) fn complete(self, outcome: Outcome) -> Vec<T> {
        for ack in self.acks {
            ack.complete(outcome);
        }
        self.items
    }

    /// Clones the batch for one branch of a fan-out: each token gets a second holder.
    pub(crate) fn fork(&self) -> Batch<T>
    where
        T: Clone,
    {
        Batch {
            items: self.items.clone(),
            acks: self.acks.clone(),
        }
    }
}

impl<T> IntoIterator for Batch<T> {
    type Item = (T, AckToken);
    type IntoIter = BatchIter<T>;

    fn into_iter(self) -> BatchIter<T> {
        BatchIter {
            items: self.items.into_iter(),
            acks: self.acks.into_iter(),
        }
    }
}

/// Iterator over the items of a batch with their tokens (untracked ones when the batch has none).
pub(crate) struct BatchIter<T> {
    items: std::vec::IntoIter<T>,
    acks: std::vec::IntoIter<AckToken>,
}

impl<T> Iterator for BatchIter<T> {
    type Item = (T, AckToken);

    #[inline]
    fn next(&mut self) -> Option<(T, AckToken)> {
        let item = self.items.next()?;
        Some((item, self.acks.next().unwrap_or_default()))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.items.size_hint()
    }
}

impl<T> ExactSizeIterator for BatchIter<T> {}

impl<T> FromIterator<(T, AckToken)> for Batch<T> {
    fn from_iter<I: IntoIterator<Item = (T, AckToken)>>(iter: I) -> Batch<T> {
        let iter = iter.into_iter();
        let mut batch = Batch::with_capacity(iter.size_hint().0);
        for (item, ack) in iter {
            batch.push(item, ack);
        }
        batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn counted(counter: &Arc<AtomicUsize>) -> AckToken {
        let c = Arc::clone(counter);
        AckToken::new(move |o| {
            assert_eq!(o, Outcome::Delivered);
            c.fetch_add(1, Ordering::SeqCst);
        })
    }

    #[test]
    fn untracked_pushes_keep_acks_empty() {
        let mut b = Batch::default();
        b.push(1, AckToken::none());
        b.push(2, AckToken::none());
        assert_eq!(b.items, vec![1, 2]);
        assert!(b.acks.is_empty());
    }

    #[test]
    fn tracked_push_backfills_tokens() {
        let n = Arc::new(AtomicUsize::new(0));
        let mut b = Batch::default();
        b.push(1, AckToken::none());
        b.push(2, counted(&n));
        b.push(3, AckToken::none());
        assert_eq!(b.acks.len(), 3);
        let items = b.complete(Outcome::Delivered);
        assert_eq!(items, vec![1, 2, 3]);
        assert_eq!(n.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn split_and_append_keep_tokens_aligned() {
        let n = Arc::new(AtomicUsize::new(0));
        let mut b: Batch<i32> = (0..4).map(|i| (i, counted(&n))).collect();
        let tail = b.split_off(1);
        assert_eq!(b.len(), 1);
        assert_eq!(tail.len(), 3);
        let mut plain = Batch::from_items(vec![9]);
        plain.append(tail);
        assert_eq!(plain.acks.len(), plain.items.len());
        plain.complete(Outcome::Delivered);
        b.complete(Outcome::Delivered);
        assert_eq!(n.load(Ordering::SeqCst), 4);
    }
}
