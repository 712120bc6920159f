//! End-to-end acknowledgements: how an origin learns each item's final outcome.
//!
//! An item from an acking source (a Kafka partition, a job queue, a file with a checkpoint)
//! travels with an [`AckToken`]. The token is a *holder* of a shared node: cloning a token
//! (fan-out) creates a second holder of the same node, and joining tokens (a batch, a window)
//! creates a child node whose outcome is passed on to every parent when it becomes final.
//!
//! Every holder must be completed exactly once with an [`Outcome`]. A holder that is dropped
//! without being completed (a task aborted at the shutdown deadline, a branch whose receiver went
//! away) counts as [`Outcome::Unfinished`]: the origin must then *not* commit the item, so it is
//! redelivered later rather than acknowledged and lost.
//!
//! # Final outcome
//! When the last holder of a node is gone, the node reports the *worst* outcome any holder
//! recorded, in this order from best to worst: `Filtered`, `Delivered`, `DeadLettered`,
//! `Rejected`, `Unfinished`. A broadcast item that one branch filters and another delivers is
//! `Delivered`; one that any branch leaves unfinished is `Unfinished`.
//!
//! # Reasons
//! A failed item's token carries why it failed (its stage and error) to its origin: an origin
//! made with [`AckToken::with_reason`] learns the reason of a `DeadLettered` or `Rejected`
//! outcome (the first recorded, when several holders failed).
//!
//! # Cost
//! An untracked token is a null pointer: items from sources that do not ack carry no tokens at
//! all (the batch's token vector stays empty), so the common path pays nothing.

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};

/// The final outcome of one item, as its origin learns it.
///
/// Variants are ordered from best to worst; see the [module docs](self) for how several
/// holders of one item combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Outcome {
    /// A stage deliberately dropped the item (a filter, a dedupe). Final; commit it.
    Filtered = 0,
    /// A sink wrote the item. Final; commit it.
    Delivered = 1,
    /// The item failed and its failure record was written by a dead-letter sink. Final; commit it.
    DeadLettered = 2,
    /// The item failed and no dead-letter output was wired: the failure was counted and logged.
    /// Final; commit it, or the same poison item would come back forever.
    Rejected = 3,
    /// The item never reached a final state (shutdown deadline, abort, a lost branch).
    /// Do not commit it: it must be redelivered.
    Unfinished = 4,
}

impl Outcome {
    /// Whether the origin may commit (acknowledge) the item: every outcome but `Unfinished`.
    pub fn is_final(self) -> bool {
        self != Outcome::Unfinished
    }

    fn from_u8(v: u8) -> Outcome {
        match v {
            0 => Outcome::Filtered,
            1 => Outcome::Delivered,
            2 => Outcome::DeadLettered,
            3 => Outcome::Rejected,
            _ => Outcome::Unfinished,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Filtered => "filtered",
            Outcome::Delivered => "delivered",
            Outcome::DeadLettered => "dead-lettered",
            Outcome::Rejected => "rejected",
            Outcome::Unfinished => "unfinished",
        })
    }
}

/// What an origin is told: the outcome, and why the item failed when it did.
type Report = Box<dyn FnOnce(Outcome, Option<Arc<str>>) + Send + Sync>;

/// What a node does with its outcome once its last holder is gone.
enum Finalizer {
    /// Report to the origin.
    Origin(Report),
    /// Complete every parent holder with this node's outcome (a join).
    Parents(Vec<AckToken>),
    /// A failure record, and why the item failed: a sink delivering it means the item was
    /// dead-lettered.
    Failure(AckToken, Arc<str>),
}

struct AckNode {
    worst: AtomicU8,
    /// Why the item failed, as the first holder to fail it said.
    reason: OnceLock<Arc<str>>,
    finalizer: Option<Finalizer>,
}

impl AckNode {
    fn new(finalizer: Finalizer) -> Arc<AckNode> {
        Arc::new(AckNode {
            worst: AtomicU8::new(Outcome::Filtered as u8),
            reason: OnceLock::new(),
            finalizer: Some(finalizer),
        })
    }
}

impl Drop for AckNode {
    fn drop(&mut self) {
        let outcome = Outcome::from_u8(*self.worst.get_mut());
        let reason = self.reason.take();
        match self.finalizer.take() {
            Some(Finalizer::Origin(report)) => report(outcome, reason),
            Some(Finalizer::Parents(parents)) => {
                for parent in parents {
                    parent.record(outcome, reason.clone());
                }
            }
            Some(Finalizer::Failure(parent, why)) => parent.record(
                match outcome {
                    Outcome::Delivered => Outcome::DeadLettered,
                    other => other,
                },
                Some(why),
            ),
            None => {}
        }
    }
}

/// One holder of an item's acknowledgement; see the [module docs](self).
///
/// Complete it with [`AckToken::complete`]; dropping it uncompleted records
/// [`Outcome::Unfinished`].
#[derive(Default)]
pub struct AckToken(Option<Arc<AckNode>>);

impl AckToken {
    /// A token that tracks nothing; completing or dropping it does nothing.
    pub const fn none() -> AckToken {
        AckToken(None)
    }

    /// A token whose final outcome is passed to `report`, once, when every holder is done.
    ///
    /// `report` runs on whichever task completes the last holder: keep it short (send on a
    /// channel, bump an atomic).
    pub fn new(report: impl FnOnce(Outcome) + Send + Sync + 'static) -> AckToken {
        AckToken::with_reason(move |outcome, _| report(outcome))
    }

    /// A token whose final outcome is passed to `report` as [`new`](Self::new) does, with why
    /// the item failed when it was dead-lettered or rejected (`None` otherwise).
    pub fn with_reason(
        report: impl FnOnce(Outcome, Option<Arc<str>>) + Send + Sync + 'static,
    ) -> AckToken {
        AckToken(Some(AckNode::new(Finalizer::Origin(Box::new(report)))))
    }

    /// One token standing for all of `tokens` (a batch, a window): its outcome becomes each
    /// parent's outcome. Untracked parents are skipped; if none is tracked the result is untracked.
    pub fn join(tokens: impl IntoIterator<Item = AckToken>) -> AckToken {
        let parents: Vec<AckToken> = tokens.into_iter().filter(AckToken::is_tracked).collect();
        match parents.len() {
            0 => AckToken::none(),
            1 => parents.into_iter().next().unwrap_or_default(),
            _ => AckToken(Some(AckNode::new(Finalizer::Parents(parents)))),
        }
    }

    /// Whether this token reports to an origin.
    pub fn is_tracked(&self) -> bool {
        self.0.is_some()
    }

    /// Records this holder's outcome and releases it.
    pub fn complete(self, outcome: Outcome) {
        self.record(outcome, None);
    }

    /// Records this holder's outcome, and why the item failed if it did, and releases it.
    fn record(mut self, outcome: Outcome, reason: Option<Arc<str>>) {
        if let Some(node) = self.0.take() {
            if let Some(reason) = reason {
                let _ = node.reason.set(reason);
            }
            node.worst.fetch_max(outcome as u8, Ordering::AcqRel);
        }
    }

    /// Records that the item failed for `reason` (asked only of a tracked token), with no
    /// dead-letter output to take it: the origin learns `Rejected`.
    pub(crate) fn reject(self, reason: impl FnOnce() -> String) {
        let reason = self.is_tracked().then(|| Arc::from(reason()));
        self.record(Outcome::Rejected, reason);
    }

    /// Turns the token of an item that failed for `reason` (asked only of a tracked token) into
    /// the token of its failure record: when a dead-letter sink delivers the record, the origin
    /// learns `DeadLettered`, and why.
    pub(crate) fn into_failure(mut self, reason: impl FnOnce() -> String) -> AckToken {
        match self.0.take() {
            None => AckToken::none(),
            Some(node) => AckToken(Some(AckNode::new(Finalizer::Failure(
                AckToken(Some(node)),
                Arc::from(reason()),
            )))),
        }
    }
}

impl Clone for AckToken {
    /// A second holder of the same item (fan-out): it must be completed on its own.
    fn clone(&self) -> AckToken {
        AckToken(self.0.clone())
    }
}

impl Drop for AckToken {
    fn drop(&mut self) {
        if let Some(node) = self.0.take() {
            node.worst
                .fetch_max(Outcome::Unfinished as u8, Ordering::AcqRel);
        }
    }
}

impl fmt::Debug for AckToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_tracked() {
            "AckToken(tracked)"
        } else {
            "AckToken(none)"
        })
    }
}

/// An item together with its acknowledgement token, as acking sources produce them.
#[derive(Debug)]
pub struct Acked<T> {
    /// The item.
    pub item: T,
    /// Its token; [`AckToken::none`] when the origin does not track it.
    pub ack: AckToken,
}

impl<T> Acked<T> {
    /// Pairs an item with its token.
    pub fn new(item: T, ack: AckToken) -> Acked<T> {
        Acked { item, ack }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn recorder() -> (Arc<Mutex<Vec<Outcome>>>, AckToken) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        let token = AckToken::new(move |o| sink.lock().expect("lock").push(o));
        (seen, token)
    }

    fn outcomes(seen: &Mutex<Vec<Outcome>>) -> Vec<Outcome> {
        seen.lock().expect("lock").clone()
    }

    #[test]
    fn reports_once_when_completed() {
        let (seen, token) = recorder();
        token.complete(Outcome::Delivered);
        assert_eq!(outcomes(&seen), vec![Outcome::Delivered]);
    }

    #[test]
    fn dropped_holder_is_unfinished() {
        let (seen, token) = recorder();
        drop(token);
        assert_eq!(outcomes(&seen), vec![Outcome::Unfinished]);
    }

    #[test]
    fn clones_combine_to_worst_outcome() {
        let (seen, token) = recorder();
        let other = token.clone();
        token.complete(Outcome::Filtered);
        assert!(
            outcomes(&seen).is_empty(),
            "not final while a holder remains"
        );
        other.complete(Outcome::Delivered);
        assert_eq!(outcomes(&seen), vec![Outcome::Delivered]);
    }

    #[test]
    fn join_passes_outcome_to_every_parent() {
        let (a_seen, a) = recorder();
        let (b_seen, b) = recorder();
        let joined = AckToken::join([a, AckToken::none(), b]);
        joined.complete(Outcome::Delivered);
        assert_eq!(outcomes(&a_seen), vec![Outcome::Delivered]);
        assert_eq!(outcomes(&b_seen), vec![Outcome::Delivered]);
    }

    #[test]
    fn join_of_untracked_is_untracked() {
        assert!(!AckToken::join([AckToken::none(), AckToken::none()]).is_tracked());
    }

    #[test]
    fn delivered_failure_record_is_dead_lettered() {
        let (seen, token) = recorder();
        token
            .into_failure(|| "bad".to_owned())
            .complete(Outcome::Delivered);
        assert_eq!(outcomes(&seen), vec![Outcome::DeadLettered]);
    }

    #[test]
    fn dropped_failure_record_is_unfinished() {
        let (seen, token) = recorder();
        drop(token.into_failure(|| "bad".to_owned()));
        assert_eq!(outcomes(&seen), vec![Outcome::Unfinished]);
    }

    /// What an origin was told: outcomes and reasons.
    type Told = Arc<Mutex<Vec<(Outcome, Option<String>)>>>;

    /// A token whose origin records what it is told, reason and all.
    fn reasoned() -> (Told, AckToken) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        let token = AckToken::with_reason(move |o, why| {
            sink.lock()
                .expect("lock")
                .push((o, why.map(|w| w.to_string())));
        });
        (seen, token)
    }

    #[test]
    fn the_origin_learns_why_its_item_failed_through_joins() {
        let (seen, token) = reasoned();
        let other = token.clone();
        let joined = AckToken::join([token, AckToken::none()]);
        let (_, second) = recorder();
        let joined = AckToken::join([joined, second]);
        joined
            .into_failure(|| "check: three is refused".to_owned())
            .complete(Outcome::Delivered);
        other.complete(Outcome::Delivered);
        let seen = seen.lock().expect("lock").clone();
        assert_eq!(
            seen,
            vec![(
                Outcome::DeadLettered,
                Some("check: three is refused".to_owned())
            )]
        );
        let (seen, token) = reasoned();
        token.reject(|| "parse: not JSON".to_owned());
        assert_eq!(
            seen.lock().expect("lock").clone(),
            vec![(Outcome::Rejected, Some("parse: not JSON".to_owned()))]
        );
        let (seen, token) = reasoned();
        token.complete(Outcome::Delivered);
        assert_eq!(
            seen.lock().expect("lock").clone(),
            vec![(Outcome::Delivered, None)]
        );
    }
}
