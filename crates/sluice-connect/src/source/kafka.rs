//! The `kafka` source: consumes topics as a member of a Kafka consumer group.
//!
//! Several `sluice run` processes with the same `group` share the topics' partitions. Offsets
//! are committed only for what is done: per partition, the committed offset never passes a
//! message whose event is not yet final (delivered, filtered or dead-lettered), so a crash or a
//! kill makes the group read again from there and loses nothing (some messages may then be
//! processed twice). A message whose event never finished (shutdown deadline) holds its
//! partition's commits back until the process restarts. When partitions are taken away in a
//! rebalance, what is done is committed first. A process that dies loses its partitions to the
//! group's other members after its session times out (10 s unless `options` say otherwise).
//!
//! With `metadata_field`, each event (a JSON object) gets that field holding the message's
//! `topic`, `partition`, `offset`, `timestamp` (milliseconds), `key` and `headers`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use serde::Deserialize;
use serde_json::{Map, Value};
use sluice_core::{AckToken, Acked, BoxError, Outcome};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{BuiltSource, SourceContext, from_reader};
use crate::codec::{Codec, Record};
use crate::event::{Origin, Position};

/// Where a group without committed offsets starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KafkaStart {
    /// The oldest message kept.
    #[default]
    Earliest,
    /// Messages produced from now on.
    Latest,
}

/// Consumes Kafka topics in a consumer group.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSource {
    /// Bootstrap brokers, `host:port[,host:port]`. Defaults to `127.0.0.1:9092`.
    #[serde(default = "default_brokers")]
    pub brokers: String,
    /// The topics.
    pub topics: Vec<String>,
    /// The consumer group.
    pub group: String,
    /// Where a group without committed offsets starts. Defaults to `earliest`.
    #[serde(default)]
    pub start: KafkaStart,
    /// A field to put each message's metadata in. Defaults to none.
    #[serde(default)]
    pub metadata_field: Option<String>,
    /// How each message's value is decoded. Defaults to `json`.
    #[serde(default)]
    pub codec: Codec,
    /// How often done offsets are committed. Defaults to `1s`.
    #[serde(
        default = "default_commit_interval",
        deserialize_with = "crate::duration::deserialize"
    )]
    pub commit_interval: Duration,
    /// Further librdkafka settings (`security.protocol`, `sasl.username`…). Defaults to none.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

fn default_brokers() -> String {
    "127.0.0.1:9092".to_owned()
}
fn default_commit_interval() -> Duration {
    Duration::from_secs(1)
}

/// The most messages handed to the pipeline at once.
const BATCH: usize = 1024;

/// One partition's messages in flight.
#[derive(Debug, Default)]
struct Partition {
    /// Offsets read and not yet final.
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
struct Offsets(Mutex<HashMap<(String, i32), Partition>>);

impl Offsets {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, i32), Partition>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn read(&self, topic: &str, partition: i32, offset: i64) {
        let mut all = self.lock();
        let p = all.entry((topic.to_owned(), partition)).or_default();
        p.owned = true;
        p.pending.insert(offset);
        p.next = Some(p.next.map_or(offset + 1, |n| n.max(offset + 1)));
    }

    fn done(&self, topic: &str, partition: i32, offset: i64) {
        if let Some(p) = self.lock().get_mut(&(topic.to_owned(), partition)) {
            p.pending.remove(&offset);
        }
    }

    /// What can be committed now, for all partitions or for those of `only`; marks it
    /// committed.
    fn committable(&self, only: Option<&TopicPartitionList>) -> TopicPartitionList {
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
    fn own(&self, list: &TopicPartitionList, owned: bool) {
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

    fn in_flight(&self) -> usize {
        self.lock()
            .values()
            .filter(|p| p.owned)
            .map(|p| p.pending.len())
            .sum()
    }
}

/// Commits what is done before partitions are taken away, and starts afresh on those given.
struct Context {
    offsets: Arc<Offsets>,
    source: Arc<str>,
}

impl ClientContext for Context {}

impl ConsumerContext for Context {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(revoked) = rebalance {
            let done = self.offsets.committable(Some(revoked));
            if done.count() > 0
                && let Err(err) = consumer.commit(&done, CommitMode::Sync)
            {
                tracing::warn!(source = %self.source, %err, "cannot commit before a rebalance; those messages will be read again");
            }
            self.offsets.own(revoked, false);
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(assigned) = rebalance {
            self.offsets.own(assigned, true);
            tracing::info!(source = %self.source, partitions = assigned.count(), "partitions assigned");
        }
    }
}

impl KafkaSource {
    /// Joins the group when the pipeline runs.
    pub fn build(&self, ctx: &SourceContext) -> Result<BuiltSource, BoxError> {
        if self.topics.is_empty() {
            return Err("`topics` names no topic".into());
        }
        let offsets = Arc::new(Offsets::default());
        let source: Arc<str> = Arc::from(ctx.name.as_str());
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("group.id", &self.group)
            // A member that dies loses its partitions after 10 s rather than Kafka's 45.
            .set("session.timeout.ms", "10000")
            .set("heartbeat.interval.ms", "3000")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set(
                "auto.offset.reset",
                match self.start {
                    KafkaStart::Earliest => "earliest",
                    KafkaStart::Latest => "latest",
                },
            );
        for (key, value) in &self.options {
            config.set(key, value);
        }
        let consumer: StreamConsumer<Context> = config.create_with_context(Context {
            offsets: offsets.clone(),
            source: source.clone(),
        })?;
        let topics: Vec<&str> = self.topics.iter().map(String::as_str).collect();
        consumer.subscribe(&topics)?;
        let (tx, rx) = mpsc::channel(4);
        let reader = Reader {
            consumer: Arc::new(consumer),
            offsets,
            source,
            metadata_field: self.metadata_field.clone(),
            commit_interval: self.commit_interval,
            cancel: ctx.pipeline.cancel_token(),
            tx,
        };
        Ok(from_reader(ctx, reader.run(), rx, self.codec))
    }
}

struct Reader {
    consumer: Arc<StreamConsumer<Context>>,
    offsets: Arc<Offsets>,
    source: Arc<str>,
    metadata_field: Option<String>,
    commit_interval: Duration,
    cancel: CancellationToken,
    tx: mpsc::Sender<Vec<Acked<Record>>>,
}

impl Reader {
    async fn run(self) {
        let committer = tokio::spawn(commit_loop(
            self.consumer.clone(),
            self.offsets.clone(),
            self.commit_interval,
            self.cancel.clone(),
        ));
        let mut stream = self.consumer.stream();
        loop {
            let next = tokio::select! {
                () = self.cancel.cancelled() => break,
                next = stream.next() => next,
            };
            let message = match next {
                Some(Ok(message)) => message,
                Some(Err(err)) => {
                    metrics::counter!("sluice_source_errors_total", "source" => self.source.to_string())
                        .increment(1);
                    tracing::warn!(source = %self.source, %err, "Kafka source cannot read; retrying");
                    continue;
                }
                None => break,
            };
            let mut batch = vec![self.record(&message)];
            drop(message);
            while batch.len() < BATCH {
                match futures::FutureExt::now_or_never(stream.next()) {
                    Some(Some(Ok(message))) => batch.push(self.record(&message)),
                    _ => break,
                }
            }
            if self.tx.send(batch).await.is_err() {
                break;
            }
        }
        drop(stream);
        drop(self.tx);
        let _ = committer.await;
    }

    fn record(&self, message: &BorrowedMessage<'_>) -> Acked<Record> {
        let topic = message.topic().to_owned();
        let (partition, offset) = (message.partition(), message.offset());
        self.offsets.read(&topic, partition, offset);
        let offsets = self.offsets.clone();
        let position = Position::Offset {
            topic: Arc::from(topic.as_str()),
            partition,
            offset,
        };
        let token = AckToken::new(move |outcome: Outcome| {
            // A message that did not finish keeps its place, holding commits back.
            if outcome.is_final() {
                offsets.done(&topic, partition, offset);
            }
        });
        let payload = message.payload().unwrap_or_default();
        let bytes = match &self.metadata_field {
            Some(field) => with_metadata(payload, field, message),
            None => bytes::Bytes::copy_from_slice(payload),
        };
        Acked::new(
            Record {
                bytes,
                origin: Arc::new(Origin {
                    source: self.source.clone(),
                    position,
                }),
                header: None,
                refused: None,
            },
            token,
        )
    }
}

/// The payload with the message's metadata in `field`, if it is a JSON object; as it is
/// otherwise (decoding then reports what is wrong with it).
fn with_metadata(payload: &[u8], field: &str, message: &BorrowedMessage<'_>) -> bytes::Bytes {
    let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(payload) else {
        return bytes::Bytes::copy_from_slice(payload);
    };
    let text = |b: &[u8]| Value::String(String::from_utf8_lossy(b).into_owned());
    let mut headers = Map::new();
    if let Some(list) = message.headers() {
        for header in list.iter() {
            headers.insert(
                header.key.to_owned(),
                header.value.map_or(Value::Null, text),
            );
        }
    }
    let metadata = serde_json::json!({
        "topic": message.topic(),
        "partition": message.partition(),
        "offset": message.offset(),
        "timestamp": message.timestamp().to_millis(),
        "key": message.key().map_or(Value::Null, text),
        "headers": headers,
    });
    object.insert(field.to_owned(), metadata);
    bytes::Bytes::from(Value::Object(object).to_string())
}

/// Commits done offsets every `every`; after shutdown, until nothing is in flight (at most
/// ten seconds), then once more.
async fn commit_loop(
    consumer: Arc<StreamConsumer<Context>>,
    offsets: Arc<Offsets>,
    every: Duration,
    cancel: CancellationToken,
) {
    let commit = |mode: CommitMode| {
        let done = offsets.committable(None);
        tracing::debug!(offsets = ?done, "committing");
        if done.count() > 0
            && let Err(err) = consumer.commit(&done, mode)
        {
            tracing::warn!(%err, "cannot commit offsets; those messages may be read again");
        }
    };
    loop {
        tokio::select! {
            () = cancel.cancelled() => break,
            () = tokio::time::sleep(every) => commit(CommitMode::Async),
        }
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while offsets.in_flight() > 0 && tokio::time::Instant::now() < deadline {
        commit(CommitMode::Async);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    commit(CommitMode::Sync);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn committed(offsets: &Offsets) -> Vec<(i32, i64)> {
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
            offsets.read("t", 0, offset);
        }
        offsets.read("t", 1, 7);
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
    }

    #[test]
    fn a_partition_taken_away_is_not_committed_and_keeps_what_is_in_flight() {
        let offsets = Offsets::default();
        offsets.read("t", 0, 5);
        offsets.read("t", 0, 6);
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
