//! What the `kafka` source commits, and when: the offsets of each partition in flight, the
//! rebalance callbacks that commit what is done before partitions go, the table of offsets an
//! `exactly_once` source records in PostgreSQL, the loop that commits, and the consumer that
//! leaves its group when it goes.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol, StreamConsumer,
};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use sluice_core::BoxError;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::postgres::exactly_once::{self as pg, Partition as PartitionId};
use sluice_core::health::Connector;

/// One partition's messages in flight.
#[derive(Debug, Default)]
pub(super) struct Partition {
    /// The first offsets of the groups of messages read and not yet final: the messages of
    /// one partition in one batch share one acknowledgement.
    pending: BTreeSet<i64>,
    /// One past the highest offset read.
    next: Option<i64>,
    /// The offset last committed.
    committed: Option<i64>,
    /// Whether the partition is assigned to this process (only those are committed).
    owned: bool,
}

impl Partition {
    /// The offset to commit: the first one not done.
    fn done_up_to(&self) -> Option<i64> {
        self.pending.first().copied().or(self.next)
    }
}

/// Every assigned partition's offsets in flight, shared by the reader, the tokens and the
/// rebalance callbacks.
#[derive(Debug, Default)]
pub(super) struct Offsets(Mutex<HashMap<(String, i32), Partition>>);

impl Offsets {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, i32), Partition>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records a group of messages read, from offset `first` to `last`.
    pub(super) fn read(&self, topic: &str, partition: i32, first: i64, last: i64) {
        let mut all = self.lock();
        let p = all.entry((topic.to_owned(), partition)).or_default();
        p.owned = true;
        p.pending.insert(first);
        p.next = Some(p.next.map_or(last + 1, |n| n.max(last + 1)));
    }

    /// Records the group of messages from offset `first` done.
    pub(super) fn done(&self, topic: &str, partition: i32, first: i64) {
        if let Some(p) = self.lock().get_mut(&(topic.to_owned(), partition)) {
            p.pending.remove(&first);
        }
    }

    /// What can be committed now, for all partitions or for those of `only`; marks it
    /// committed.
    pub(super) fn committable(&self, only: Option<&TopicPartitionList>) -> TopicPartitionList {
        let mut list = TopicPartitionList::new();
        let mut all = self.lock();
        for ((topic, partition), p) in all.iter_mut() {
            if !p.owned || only.is_some_and(|l| l.find_partition(topic, *partition).is_none()) {
                continue;
            }
            if let Some(offset) = p.done_up_to()
                && p.committed != Some(offset)
                && list
                    .add_partition_offset(topic, *partition, Offset::Offset(offset))
                    .is_ok()
            {
                p.committed = Some(offset);
            }
        }
        list
    }

    /// Marks the partitions of `list` as assigned to this process or not. What is in flight
    /// is kept either way: if a partition comes back while messages read before are still in
    /// the pipeline, its commits must not pass them.
    pub(super) fn own(&self, list: &TopicPartitionList, owned: bool) {
        let mut all = self.lock();
        for element in list.elements() {
            let p = all
                .entry((element.topic().to_owned(), element.partition()))
                .or_default();
            p.owned = owned;
            // What the group holds may have moved while it was elsewhere.
            p.committed = None;
        }
    }

    /// The groups of messages in flight in partitions assigned here.
    pub(super) fn in_flight(&self) -> usize {
        self.lock()
            .values()
            .filter(|p| p.owned)
            .map(|p| p.pending.len())
            .sum()
    }
}

/// The group's consumer. When the last reference to it goes, it is closed (it leaves the
/// group) on a thread of its own, which then says so on `closed`: librdkafka can block a close
/// for good (a rebalance callback's unassignment is never answered when another member leaves
/// at the same moment), and a runtime thread blocked there would keep the process from exiting.
pub(super) struct GroupConsumer(Option<(StreamConsumer<Context>, oneshot::Sender<()>)>);

impl GroupConsumer {
    /// The consumer, and what learns that it has closed.
    pub(super) fn new(consumer: StreamConsumer<Context>) -> (GroupConsumer, oneshot::Receiver<()>) {
        let (closed, on_close) = oneshot::channel();
        (GroupConsumer(Some((consumer, closed))), on_close)
    }
}

impl std::ops::Deref for GroupConsumer {
    type Target = StreamConsumer<Context>;

    fn deref(&self) -> &StreamConsumer<Context> {
        &self
            .0
            .as_ref()
            .expect("the consumer is taken only when it is dropped")
            .0
    }
}

impl Drop for GroupConsumer {
    fn drop(&mut self) {
        let Some((consumer, closed)) = self.0.take() else {
            return;
        };
        let closing = std::thread::Builder::new()
            .name("kafka-close".to_owned())
            .spawn(move || {
                drop(consumer);
                let _ = closed.send(());
            });
        if let Err(err) = closing {
            tracing::warn!(%err, "cannot start the thread that closes the Kafka consumer");
        }
    }
}

/// Where partitions resume when they are given to this process (from PostgreSQL, with
/// `exactly_once`); it only ever lags behind what is done, which makes some messages be read
/// again, never skipped.
pub(super) type ResumePoints = Mutex<HashMap<PartitionId, i64>>;

/// Commits what is done before partitions are taken away, and starts afresh on those given.
pub(super) struct Context {
    pub(super) offsets: Arc<Offsets>,
    pub(super) resume: Arc<ResumePoints>,
    pub(super) source: Arc<str>,
    pub(super) health: Connector,
}

impl ClientContext for Context {
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        tracing::warn!(source = %self.source, %error, reason, "Kafka client error");
        self.health.down(&reason);
    }
}

impl ConsumerContext for Context {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        partitions: &mut TopicPartitionList,
    ) {
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        let result = if err == RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS {
            self.resume_given(partitions);
            self.offsets.own(partitions, true);
            self.health.up();
            tracing::info!(source = %self.source, partitions = partitions.count(), "partitions assigned");
            if cooperative {
                consumer.incremental_assign(partitions)
            } else {
                consumer.assign(partitions)
            }
        } else {
            if err == RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS {
                let done = self.offsets.committable(Some(partitions));
                if done.count() > 0
                    && let Err(err) = consumer.commit(&done, CommitMode::Sync)
                {
                    tracing::warn!(source = %self.source, %err, "cannot commit before a rebalance; those messages will be read again");
                }
            } else {
                tracing::warn!(source = %self.source, error = ?err, "rebalance failed");
            }
            self.offsets.own(partitions, false);
            if cooperative {
                consumer.incremental_unassign(partitions)
            } else {
                consumer.unassign()
            }
        };
        if let Err(err) = result {
            tracing::warn!(source = %self.source, %err, "cannot take the new assignment");
        }
    }
}

impl Context {
    /// Sets each given partition's starting offset to its resume point, if it has one.
    fn resume_given(&self, partitions: &mut TopicPartitionList) {
        let resume = self
            .resume
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let starts: Vec<(String, i32, i64)> = partitions
            .elements()
            .iter()
            .filter_map(|e| {
                let at = resume.get(&(e.topic().to_owned(), e.partition()))?;
                Some((e.topic().to_owned(), e.partition(), *at))
            })
            .collect();
        for (topic, partition, at) in starts {
            if let Err(err) = partitions.set_partition_offset(&topic, partition, Offset::Offset(at))
            {
                tracing::warn!(source = %self.source, %err, topic, partition, "cannot resume the partition where PostgreSQL says");
            }
        }
    }
}

/// The table of offsets of an `exactly_once` source.
pub(super) struct OffsetStore {
    pub(super) pool: sqlx::PgPool,
    pub(super) target: String,
    pub(super) resume: Arc<ResumePoints>,
}

impl OffsetStore {
    /// Reads where each partition resumes.
    pub(super) async fn refresh(&self) -> Result<(), BoxError> {
        let points = pg::resume_points(&self.pool, &self.target).await?;
        *self
            .resume
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = points;
        Ok(())
    }

    /// Records that the messages before each committed offset are done, then reads where
    /// partitions resume.
    pub(super) async fn committed(&self, list: &TopicPartitionList) -> Result<(), BoxError> {
        let ends: Vec<(PartitionId, i64)> = list
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) => Some(((e.topic().to_owned(), e.partition()), o)),
                _ => None,
            })
            .collect();
        if !ends.is_empty() {
            pg::mark_done_before(&self.pool, &self.target, &ends).await?;
        }
        self.refresh().await
    }
}

/// Commits done offsets every `every`; after shutdown, until nothing is in flight (at most
/// ten seconds), then once more.
pub(super) async fn commit_loop(
    consumer: Arc<GroupConsumer>,
    offsets: Arc<Offsets>,
    store: Option<OffsetStore>,
    every: Duration,
    cancel: CancellationToken,
    finished: CancellationToken,
) {
    let commit = async |mode: CommitMode| {
        let done = offsets.committable(None);
        if done.count() == 0 {
            return;
        }
        tracing::debug!(offsets = ?done, "committing");
        if let Err(err) = consumer.commit(&done, mode) {
            tracing::warn!(%err, "cannot commit offsets; those messages may be read again");
        }
        if let Some(store) = &store
            && let Err(err) = store.committed(&done).await
        {
            tracing::warn!(%err, "cannot record done offsets in PostgreSQL; those messages may be read again");
        }
    };
    loop {
        tokio::select! {
            () = cancel.cancelled() => break,
            () = finished.cancelled(), if offsets.in_flight() == 0 => break,
            () = tokio::time::sleep(every) => commit(CommitMode::Async).await,
        }
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while offsets.in_flight() > 0 && tokio::time::Instant::now() < deadline {
        commit(CommitMode::Async).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    commit(CommitMode::Sync).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn committed(offsets: &Offsets) -> Vec<(i32, i64)> {
        let mut out: Vec<(i32, i64)> = offsets
            .committable(None)
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) => Some((e.partition(), o)),
                _ => None,
            })
            .collect();
        out.sort_unstable();
        out
    }

    #[test]
    fn commits_stop_at_the_first_message_not_done() {
        let offsets = Offsets::default();
        for offset in 10..15 {
            offsets.read("t", 0, offset, offset);
        }
        offsets.read("t", 1, 7, 7);
        for offset in [10, 11, 13] {
            offsets.done("t", 0, offset);
        }
        assert_eq!(committed(&offsets), vec![(0, 12), (1, 7)]);
        assert_eq!(committed(&offsets), vec![], "nothing new to commit");
        offsets.done("t", 0, 12);
        offsets.done("t", 0, 14);
        offsets.done("t", 1, 7);
        assert_eq!(committed(&offsets), vec![(0, 15), (1, 8)]);
        assert_eq!(offsets.in_flight(), 0);
        offsets.read("t", 1, 8, 20);
        offsets.read("t", 1, 22, 30);
        offsets.done("t", 1, 22);
        assert_eq!(committed(&offsets), vec![], "the group from 8 is not done");
        offsets.done("t", 1, 8);
        assert_eq!(committed(&offsets), vec![(1, 31)], "past the gap at 21 too");
    }

    #[test]
    fn a_partition_taken_away_is_not_committed_and_keeps_what_is_in_flight() {
        let offsets = Offsets::default();
        offsets.read("t", 0, 5, 5);
        offsets.read("t", 0, 6, 6);
        let mut list = TopicPartitionList::new();
        list.add_partition("t", 0);
        offsets.own(&list, false);
        offsets.done("t", 0, 6);
        assert_eq!(committed(&offsets), vec![], "not ours any more");
        offsets.own(&list, true);
        assert_eq!(
            committed(&offsets),
            vec![(0, 5)],
            "given back, it still waits for offset 5"
        );
    }
}
