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

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use serde::Deserialize;
use serde_json::{Map, Value};
use sluice_core::{AckToken, Acked, BoxError, Outcome};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::offsets::{Context, GroupConsumer, OffsetStore, Offsets, ResumePoints, commit_loop};
use crate::component::source::{from_reader, received};
use crate::component::{BuiltSource, Source, SourceContext};
use crate::tls::ClientTls;
use sluice_core::health::Connector;
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
    /// TLS: `ca_file`, and `cert_file` with `key_file` for a client certificate. Defaults to
    /// plain TCP.
    #[serde(default)]
    pub tls: Option<ClientTls>,
    /// Further librdkafka settings (`sasl.mechanism`, `sasl.username`…), over Sluice's.
    /// Defaults to none.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// Stop once every partition of the topics has been read up to where it ended when the
    /// source started (from the group's committed offsets, or from `start`): a finite read of
    /// what is there now, as `sluice dead-letters replay` does. Defaults to false (read on).
    #[serde(default)]
    pub stop_at_end: bool,
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

/// How long a stopping reader waits for its consumer to leave the group.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(5);

/// The most messages handed to the pipeline at once.
const BATCH: usize = 1024;

/// With `stop_at_end`: how long without a message before the consumer's position is checked
/// against the ends.
const END_CHECK: Duration = Duration::from_millis(500);

/// The messages of one partition in one batch.
struct Group {
    topic: Arc<str>,
    partition: i32,
    first: i64,
    last: i64,
    count: usize,
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
        super::connection_settings(&mut config, &self.brokers, self.tls.as_ref(), &self.options)?;
        let health = Connector::new(&ctx.name);
        let consumer: StreamConsumer<Context> = config.create_with_context(Context {
            offsets: offsets.clone(),
            resume,
            source: source.clone(),
            health: health.clone(),
        })?;
        let topics: Vec<&str> = self.topics.iter().map(String::as_str).collect();
        consumer.subscribe(&topics)?;
        let (consumer, closed) = GroupConsumer::new(consumer);
        Ok(from_reader(ctx, self.codec, |tx, cancel| {
            Reader {
                consumer: Arc::new(consumer),
                stop_at_end: self.stop_at_end.then(|| self.topics.clone()),
                closed,
                offsets,
                store,
                source,
                health,
                metadata_field: self.metadata_field.clone(),
                commit_interval: self.commit_interval,
                cancel,
                tx,
            }
            .run()
        }))
    }
}

struct Reader {
    consumer: Arc<GroupConsumer>,
    /// With `stop_at_end`: the topics, whose ends are taken when reading starts.
    stop_at_end: Option<Vec<String>>,
    /// Says when the consumer has left its group.
    closed: oneshot::Receiver<()>,
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
        let mut ends = match self.stop_at_end.take() {
            Some(topics) => match self.ends(topics).await {
                Some(ends) => Some(ends),
                None => return,
            },
            None => None,
        };
        let finished = CancellationToken::new();
        let committer = tokio::spawn(commit_loop(
            self.consumer.clone(),
            self.offsets.clone(),
            self.store.take(),
            self.commit_interval,
            self.cancel.clone(),
            finished.clone(),
        ));
        let mut stream = self.consumer.stream();
        while ends.as_ref().is_none_or(|e| !e.is_empty()) {
            let next = tokio::select! {
                () = self.cancel.cancelled() => break,
                next = stream.next() => next,
                // A partition that ends with no message to read (a transaction's marker, records
                // compacted away) is at its end once the consumer's position passes it.
                () = tokio::time::sleep(END_CHECK), if ends.is_some() => {
                    if let Some(ends) = &mut ends {
                        self.passed(ends);
                    }
                    continue;
                }
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
            if let Some(ends) = &mut ends {
                for group in &groups {
                    let key = (group.topic.to_string(), group.partition);
                    if ends.get(&key).is_some_and(|end| group.last + 1 >= *end) {
                        ends.remove(&key);
                    }
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
        // Read to the end: what is read is committed once done, however long that takes.
        finished.cancel();
        let _ = committer.await;
        // Leaving the group at once hands its partitions to the other members now rather
        // than when this member's session expires.
        drop(self.consumer);
        if tokio::time::timeout(LEAVE_TIMEOUT, self.closed)
            .await
            .is_err()
        {
            tracing::warn!(source = %self.source, timeout = ?LEAVE_TIMEOUT, "the Kafka consumer did not leave its group in time; its partitions go to the other members when its session expires");
        }
    }

    /// Takes out of `ends` the partitions the consumer's position has reached the end of.
    fn passed(&self, ends: &mut HashMap<(String, i32), i64>) {
        let Ok(positions) = self.consumer.position() else {
            return;
        };
        for element in positions.elements() {
            let key = (element.topic().to_owned(), element.partition());
            if let rdkafka::Offset::Offset(at) = element.offset()
                && ends.get(&key).is_some_and(|end| at >= *end)
            {
                ends.remove(&key);
            }
        }
    }

    /// With `stop_at_end`: the partitions of `topics` that hold messages past the group's
    /// committed offsets, each with its end (the offset after its last message) now; `None`
    /// when the pipeline stopped while they could not be had.
    async fn ends(&self, topics: Vec<String>) -> Option<HashMap<(String, i32), i64>> {
        let mut pause = sluice_core::policy::Reconnect::default();
        loop {
            let consumer = self.consumer.clone();
            let topics = topics.clone();
            let found = tokio::task::spawn_blocking(move || ends(&consumer, &topics)).await;
            match found {
                Ok(Ok(ends)) => {
                    tracing::info!(source = %self.source, partitions = ends.len(), "reading up to the end of the topics");
                    return Some(ends);
                }
                Ok(Err(err)) => {
                    self.health.down(&err);
                    let delay = pause.after_failure();
                    tracing::warn!(source = %self.source, %err, retry_in = ?delay, "cannot learn where the topics end; retrying");
                    tokio::select! {
                        () = self.cancel.cancelled() => return None,
                        () = tokio::time::sleep(delay) => {}
                    }
                }
                Err(_) => return None,
            }
        }
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
                trace: received(&self.source, ("kafka", message.topic()), || {
                    let header = message.headers()?.iter().find(|h| h.key == "traceparent")?;
                    Some(String::from_utf8_lossy(header.value?).into_owned())
                }),
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

/// The partitions of `topics` with messages past the group's committed offsets (or from the
/// oldest kept, for a partition with none), each with the offset after its last message.
fn ends(
    consumer: &GroupConsumer,
    topics: &[String],
) -> rdkafka::error::KafkaResult<HashMap<(String, i32), i64>> {
    use rdkafka::{Offset, TopicPartitionList};
    let timeout = Duration::from_secs(10);
    let mut partitions = TopicPartitionList::new();
    let mut highs = HashMap::new();
    for topic in topics {
        let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
        for t in metadata.topics() {
            for p in t.partitions() {
                let (low, high) = consumer.fetch_watermarks(topic, p.id(), timeout)?;
                if high > low {
                    highs.insert((topic.clone(), p.id()), (low, high));
                    partitions.add_partition(topic, p.id());
                }
            }
        }
    }
    let committed = consumer.committed_offsets(partitions, timeout)?;
    let mut ends = HashMap::new();
    for element in committed.elements() {
        let key = (element.topic().to_owned(), element.partition());
        let Some(&(low, high)) = highs.get(&key) else {
            continue;
        };
        let from = match element.offset() {
            Offset::Offset(at) => at.max(low),
            _ => low,
        };
        if from < high {
            ends.insert(key, high);
        }
    }
    Ok(ends)
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
