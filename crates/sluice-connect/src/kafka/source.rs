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
//! With `exactly_once`, the source works with a `postgres` sink that has `exactly_once: true`
//! (see [`crate::postgres`]): whenever it is given partitions it starts each where the
//! sink's table of offsets says the messages before are done, and it records there, as it
//! commits, that every message before the committed offset is done.
//!
//! With `metadata_field`, each event (a JSON object) gets that field holding the message's
//! `topic`, `partition`, `offset`, `timestamp` (milliseconds), `key` and `headers`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol, StreamConsumer,
};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use serde::Deserialize;
use serde_json::{Map, Value};
use sluice_core::{AckToken, Acked, BoxError, Outcome};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::component::source::from_reader;
use crate::component::{BuiltSource, Source, SourceContext};
use crate::health::Connector;
use crate::postgres::exactly_once::{self as pg, Partition as PartitionId};
use sluice_event::codec::{Codec, Record};
use sluice_event::{Origin, Position};

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
        deserialize_with = "sluice_event::duration::deserialize"
    )]
    pub commit_interval: Duration,
    /// Further librdkafka settings (`security.protocol`, `sasl.username`…). Defaults to none.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// Exactly-once into PostgreSQL: the database and table of the `postgres` sink (with
    /// `exactly_once: true`) that keeps this source's offsets. Defaults to none.
    #[serde(default)]
    pub exactly_once: Option<ExactlyOnce>,
}

/// Where a `postgres` sink keeps the offsets of what it wrote.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExactlyOnce {
    /// The database, as the sink's `url`.
    #[serde(default)]
    pub url: Option<String>,
    /// A file holding the database address, as the sink's `url_file`.
    #[serde(default)]
    pub url_file: Option<PathBuf>,
    /// The sink's `table`.
    pub table: String,
}

fn default_brokers() -> String {
    "127.0.0.1:9092".to_owned()
}
fn default_commit_interval() -> Duration {
    Duration::from_secs(1)
}

/// The most messages handed to the pipeline at once.
const BATCH: usize = 1024;

/// The messages of one partition in one batch.
struct Group {
    topic: Arc<str>,
    partition: i32,
    first: i64,
    last: i64,
    count: usize,
}

/// One partition's messages in flight.
#[derive(Debug, Default)]
struct Partition {
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
struct Offsets(Mutex<HashMap<(String, i32), Partition>>);

impl Offsets {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, i32), Partition>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records a group of messages read, from offset `first` to `last`.
    fn read(&self, topic: &str, partition: i32, first: i64, last: i64) {
        let mut all = self.lock();
        let p = all.entry((topic.to_owned(), partition)).or_default();
        p.owned = true;
        p.pending.insert(first);
        p.next = Some(p.next.map_or(last + 1, |n| n.max(last + 1)));
    }

    /// Records the group of messages from offset `first` done.
    fn done(&self, topic: &str, partition: i32, first: i64) {
        if let Some(p) = self.lock().get_mut(&(topic.to_owned(), partition)) {
            p.pending.remove(&first);
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

    /// The groups of messages in flight in partitions assigned here.
    fn in_flight(&self) -> usize {
        self.lock()
            .values()
            .filter(|p| p.owned)
            .map(|p| p.pending.len())
            .sum()
    }
}

/// Where partitions resume when they are given to this process (from PostgreSQL, with
/// `exactly_once`); it only ever lags behind what is done, which makes some messages be read
/// again, never skipped.
type ResumePoints = Mutex<HashMap<PartitionId, i64>>;

/// Commits what is done before partitions are taken away, and starts afresh on those given.
struct Context {
    offsets: Arc<Offsets>,
    resume: Arc<ResumePoints>,
    source: Arc<str>,
    health: Connector,
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
struct OffsetStore {
    pool: sqlx::PgPool,
    target: String,
    resume: Arc<ResumePoints>,
}

impl OffsetStore {
    /// Reads where each partition resumes.
    async fn refresh(&self) -> Result<(), BoxError> {
        let points = pg::resume_points(&self.pool, &self.target).await?;
        *self
            .resume
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = points;
        Ok(())
    }

    /// Records that the messages before each committed offset are done, then reads where
    /// partitions resume.
    async fn committed(&self, list: &TopicPartitionList) -> Result<(), BoxError> {
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

impl Source for KafkaSource {
    /// Joins the group when the pipeline runs.
    fn build(&self, ctx: &SourceContext) -> Result<BuiltSource, BoxError> {
        if self.topics.is_empty() {
            return Err("`topics` names no topic".into());
        }
        let offsets = Arc::new(Offsets::default());
        let resume = Arc::new(ResumePoints::default());
        let store = match &self.exactly_once {
            Some(e) => {
                crate::postgres::check_address(e.url.as_deref(), e.url_file.as_deref())?;
                Some(OffsetStore {
                    pool: crate::postgres::pool(e.url.as_deref(), e.url_file.as_ref(), 1)?,
                    target: e.table.clone(),
                    resume: resume.clone(),
                })
            }
            None => None,
        };
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
            // librdkafka waits a whole second before fetching again once its local queue has
            // held 100,000 messages, which a fast pipeline drains long before: the reader
            // then idles (a tenth of the throughput here).
            .set("fetch.queue.backoff.ms", "10")
            // A broker answers a fetch at once when it has data; this bounds the wait of an
            // idle partition (some brokers also sleep up to half of it after a full fetch).
            .set("fetch.wait.max.ms", "100")
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
        let health = Connector::new(&ctx.name);
        let consumer: StreamConsumer<Context> = config.create_with_context(Context {
            offsets: offsets.clone(),
            resume,
            source: source.clone(),
            health: health.clone(),
        })?;
        let topics: Vec<&str> = self.topics.iter().map(String::as_str).collect();
        consumer.subscribe(&topics)?;
        let (tx, rx) = mpsc::channel(4);
        let reader = Reader {
            consumer: Arc::new(consumer),
            offsets,
            store,
            source,
            health,
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
    store: Option<OffsetStore>,
    health: Connector,
    source: Arc<str>,
    metadata_field: Option<String>,
    commit_interval: Duration,
    cancel: CancellationToken,
    tx: mpsc::Sender<Vec<Acked<Record>>>,
}

impl Reader {
    async fn run(mut self) {
        if let Some(store) = &self.store {
            // No partition is taken before it is known where they resume.
            let mut pause = sluice_core::policy::Reconnect::default();
            while let Err(err) = store.refresh().await {
                let delay = pause.after_failure();
                metrics::counter!("sluice_source_errors_total", "source" => self.source.to_string())
                    .increment(1);
                tracing::warn!(source = %self.source, %err, retry_in = ?delay, "cannot read the offsets kept in PostgreSQL; retrying");
                tokio::select! {
                    () = self.cancel.cancelled() => return,
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
        let committer = tokio::spawn(commit_loop(
            self.consumer.clone(),
            self.offsets.clone(),
            self.store.take(),
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
                    self.health.down(&err);
                    tracing::warn!(source = %self.source, %err, "Kafka source cannot read; retrying");
                    continue;
                }
                None => break,
            };
            self.health.up();
            let mut groups = Vec::new();
            let mut batch = vec![self.record(&message, &mut groups)];
            drop(message);
            while batch.len() < BATCH {
                match futures::FutureExt::now_or_never(stream.next()) {
                    Some(Some(Ok(message))) => batch.push(self.record(&message, &mut groups)),
                    _ => break,
                }
            }
            if self
                .tx
                .send(self.acknowledged(batch, &groups))
                .await
                .is_err()
            {
                break;
            }
        }
        drop(stream);
        drop(self.tx);
        let _ = committer.await;
    }

    /// The message's record, and the place in `groups` of its partition's group (added if
    /// it is the first message of the batch from that partition).
    fn record(&self, message: &BorrowedMessage<'_>, groups: &mut Vec<Group>) -> (Record, usize) {
        let (partition, offset) = (message.partition(), message.offset());
        let at = match groups
            .iter()
            .position(|g| g.partition == partition && *g.topic == *message.topic())
        {
            Some(at) => at,
            None => {
                groups.push(Group {
                    topic: Arc::from(message.topic()),
                    partition,
                    first: offset,
                    last: offset,
                    count: 0,
                });
                groups.len() - 1
            }
        };
        let group = &mut groups[at];
        group.last = offset;
        group.count += 1;
        let position = Position::Offset {
            topic: group.topic.clone(),
            partition,
            offset,
        };
        let payload = message.payload().unwrap_or_default();
        let bytes = match &self.metadata_field {
            Some(field) => with_metadata(payload, field, message),
            None => bytes::Bytes::copy_from_slice(payload),
        };
        let record = Record {
            bytes,
            origin: Arc::new(Origin {
                source: self.source.clone(),
                position,
            }),
            header: None,
            refused: None,
        };
        (record, at)
    }

    /// The records of a batch, each group's sharing one token that marks the group done.
    fn acknowledged(&self, records: Vec<(Record, usize)>, groups: &[Group]) -> Vec<Acked<Record>> {
        let mut tokens: Vec<(AckToken, usize)> = groups
            .iter()
            .map(|g| {
                self.offsets.read(&g.topic, g.partition, g.first, g.last);
                let (offsets, topic, partition, first) =
                    (self.offsets.clone(), g.topic.clone(), g.partition, g.first);
                let token = AckToken::new(move |outcome: Outcome| {
                    // A message that did not finish keeps its group's place, holding commits
                    // back.
                    if outcome.is_final() {
                        offsets.done(&topic, partition, first);
                    }
                });
                (token, g.count)
            })
            .collect();
        records
            .into_iter()
            .map(|(record, at)| {
                let (token, left) = &mut tokens[at];
                *left -= 1;
                let ack = if *left == 0 {
                    std::mem::take(token)
                } else {
                    token.clone()
                };
                Acked::new(record, ack)
            })
            .collect()
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
    store: Option<OffsetStore>,
    every: Duration,
    cancel: CancellationToken,
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
