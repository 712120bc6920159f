//! The `redis_stream` source: reads a Redis stream as one consumer of a consumer group, or on
//! its own.
//!
//! Several `sluice run` processes with the same `group` and different `consumer` names share a
//! stream's entries. An entry is acknowledged (`XACK`) only once its event is final (delivered,
//! filtered or dead-lettered); an entry whose event never got there stays pending in the group.
//! On start the consumer first reads its own pending entries again (what it held when it was
//! stopped or killed), and every `claim_idle / 2` it takes over (`XAUTOCLAIM`) entries that
//! have been pending longer than `claim_idle`, such as those of a consumer that died (entries
//! it is still working on itself are not read twice).
//!
//! Without a `group`, the process reads the stream alone, from `start`, acknowledging nothing.
//! With `stop_at_end`, either way, it reads up to the entry that was last when it started, then
//! ends: a finite read of what the stream holds, which `sluice dead-letters` uses.
//!
//! The event is the entry's `body_key` field (default `body`), decoded with `codec`; an entry
//! without that field becomes a JSON object of its fields. The address may carry a password
//! (`redis://:PASSWORD@host:6379`); it never reaches the logs.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use redis::aio::{ConnectionManager, MultiplexedConnection};
use redis::streams::{StreamAutoClaimReply, StreamId, StreamReadReply};
use serde::Deserialize;
use sluice_core::{AckToken, Acked, BoxError, Outcome};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::component::connection::{SourceConnection, reconnecting};
use crate::component::source::{Acknowledger, from_reader, received};
use crate::component::{BuiltSource, Source, SourceContext};
use crate::tls::ClientTls;

use sluice_event::codec::{Codec, Record};
use sluice_event::{Origin, Position};

/// Where a new group starts in the stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamStart {
    /// From the first entry.
    #[default]
    Earliest,
    /// From entries added after the group is created.
    Latest,
}

/// Reads a Redis stream in a consumer group.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisStreamSource {
    /// The server, `redis://HOST:PORT[/DB]` (`rediss://` for TLS). Defaults to
    /// `redis://127.0.0.1:6379`.
    #[serde(default = "default_url")]
    pub url: String,
    /// TLS settings for a `rediss://` address: `ca_file`, and `cert_file` with `key_file` for a
    /// client certificate. Defaults to the system's certificate authorities.
    #[serde(default)]
    pub tls: Option<ClientTls>,
    /// The stream's key.
    pub stream: String,
    /// The consumer group (created, with the stream, if missing). Without one, the stream is
    /// read from `start` by this process alone and nothing is acknowledged: a restart reads
    /// again from `start`. Defaults to none.
    #[serde(default)]
    pub group: Option<String>,
    /// This consumer's name in the group; keep it across restarts so that a restarted process
    /// takes back what it held. Defaults to the host name.
    #[serde(default)]
    pub consumer: Option<String>,
    /// Where a group created by this source starts, or where reading starts without a group.
    /// Defaults to `earliest`.
    #[serde(default)]
    pub start: StreamStart,
    /// The field holding the event. Defaults to `body`.
    #[serde(default = "default_body_key")]
    pub body_key: String,
    /// How the body is decoded. Defaults to `json`.
    #[serde(default)]
    pub codec: Codec,
    /// Most entries read at once. Defaults to 500.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Entries pending longer than this are taken over. Defaults to `1m`.
    #[serde(
        default = "default_claim_idle",
        deserialize_with = "sluice_event::duration::deserialize"
    )]
    pub claim_idle: Duration,
    /// Stop once the stream has been read up to the entry that was last when the source
    /// started: a finite read of what is there now, as `sluice dead-letters replay` does.
    /// Entries added since are left for the next read. Defaults to false (read on).
    #[serde(default)]
    pub stop_at_end: bool,
}

fn default_url() -> String {
    "redis://127.0.0.1:6379".to_owned()
}
fn default_body_key() -> String {
    "body".to_owned()
}
fn default_batch_size() -> usize {
    500
}
fn default_claim_idle() -> Duration {
    Duration::from_secs(60)
}

/// The host name, for default consumer names.
pub(crate) fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "sluice".to_owned())
}

/// How long a blocking read waits before looking at shutdown and claims again.
const BLOCK: Duration = Duration::from_millis(500);

impl Source for RedisStreamSource {
    fn reconnects(&self) -> bool {
        true
    }

    /// Starts reading when the pipeline runs.
    fn build(&self, ctx: &SourceContext) -> Result<BuiltSource, BoxError> {
        if self.group.is_none() && self.consumer.is_some() {
            return Err("`consumer` names a consumer of a `group`: set `group` too".into());
        }
        let client = super::client(&self.url, self.tls.as_ref())?;
        Ok(from_reader(ctx, self.codec, |tx, cancel| {
            Reader {
                health: ctx.connection(),
                client,
                config: self.clone(),
                consumer: self.consumer.clone().unwrap_or_else(host_name),
                source: Arc::from(ctx.name.as_str()),
                stream: Arc::from(self.stream.as_str()),
                cancel,
                tx,
                in_flight: Arc::default(),
                after: Mutex::new(None),
                end: tokio::sync::OnceCell::new(),
            }
            .run()
        }))
    }
}

struct Reader {
    health: SourceConnection,
    client: redis::Client,
    config: RedisStreamSource,
    consumer: String,
    source: Arc<str>,
    stream: Arc<str>,
    cancel: CancellationToken,
    tx: mpsc::Sender<Vec<Acked<Record>>>,
    /// Ids of the entries this process is working on, which a claim must not send again.
    in_flight: Arc<Mutex<HashSet<String>>>,
    /// Without a group: the id of the last entry sent (reading resumes after it).
    after: Mutex<Option<String>>,
    /// With `stop_at_end`: the id of the stream's last entry when reading started (`0-0` for
    /// an empty stream).
    end: tokio::sync::OnceCell<EntryId>,
}

/// An entry id, `MILLISECONDS-SEQUENCE`, in the order Redis gives them.
type EntryId = (u64, u64);

/// The parts of an entry id; an id Redis would not give sorts last.
fn entry_id(id: &str) -> EntryId {
    id.split_once('-')
        .and_then(|(ms, seq)| Some((ms.parse().ok()?, seq.parse().ok()?)))
        .unwrap_or((u64::MAX, u64::MAX))
}

impl Reader {
    async fn run(self) {
        let acker = self
            .config
            .group
            .as_deref()
            .map(|group| acker(self.client.clone(), self.stream.clone(), group.to_owned()));
        let acks = acker.as_ref().map(Acknowledger::sender);
        reconnecting(&self.health, &self.cancel, || self.read(acks.as_ref())).await;
        // The source ends once the reader is gone; the last entries are acknowledged as the
        // pipeline drains, and the run ends after that.
        drop(self);
        drop(acks);
        if let Some(acker) = acker {
            acker.finished().await;
        }
    }

    /// Reads until shutdown or the end (`Ok`) or a connection error.
    async fn read(&self, acks: Option<&mpsc::UnboundedSender<String>>) -> Result<(), BoxError> {
        let mut conn = ConnectionManager::new(self.client.clone()).await?;
        let blocking: MultiplexedConnection =
            self.client.get_multiplexed_async_connection().await?;
        self.health.up();
        let end = if self.config.stop_at_end {
            Some(
                *self
                    .end
                    .get_or_try_init(|| last_id(&mut conn, &self.stream))
                    .await?,
            )
        } else {
            None
        };
        match (&self.config.group, acks) {
            (Some(group), Some(acks)) => self.read_group(group, acks, conn, blocking, end).await,
            _ => self.read_plain(conn, blocking, end).await,
        }
    }

    /// Reads as a consumer of `group`: its own pending entries first, then new ones.
    async fn read_group(
        &self,
        group: &str,
        acks: &mpsc::UnboundedSender<String>,
        mut conn: ConnectionManager,
        mut blocking: MultiplexedConnection,
        end: Option<EntryId>,
    ) -> Result<(), BoxError> {
        let created: redis::RedisResult<()> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&*self.stream)
            .arg(group)
            .arg(match self.config.start {
                StreamStart::Earliest => "0",
                StreamStart::Latest => "$",
            })
            .arg("MKSTREAM")
            .query_async(&mut conn)
            .await;
        if let Err(err) = created
            && err.code() != Some("BUSYGROUP")
        {
            return Err(err.into());
        }
        // What this consumer held when it last stopped, then new entries.
        let mut own = "0".to_owned();
        loop {
            let reply: StreamReadReply = redis::cmd("XREADGROUP")
                .arg("GROUP")
                .arg(group)
                .arg(&self.consumer)
                .arg("COUNT")
                .arg(self.config.batch_size)
                .arg("STREAMS")
                .arg(&*self.stream)
                .arg(&own)
                .query_async(&mut conn)
                .await?;
            let entries: Vec<StreamId> = reply.keys.into_iter().flat_map(|k| k.ids).collect();
            let Some(last) = entries.last() else { break };
            own = last.id.clone();
            if !self.send(entries, Some(acks)).await {
                return Ok(());
            }
        }
        let claim_every = self.config.claim_idle / 2;
        let mut claimed_at = tokio::time::Instant::now();
        loop {
            if end.is_none() && claimed_at.elapsed() >= claim_every {
                claimed_at = tokio::time::Instant::now();
                if !self.claim(group, &mut conn, acks).await? {
                    return Ok(());
                }
            }
            let mut command = redis::cmd("XREADGROUP");
            command
                .arg("GROUP")
                .arg(group)
                .arg(&self.consumer)
                .arg("COUNT")
                .arg(self.config.batch_size);
            if !self
                .next(&mut command, &mut blocking, ">", end, Some(acks))
                .await?
            {
                return Ok(());
            }
        }
    }

    /// Reads without a group, from `start` or after the last entry sent; nothing is
    /// acknowledged.
    async fn read_plain(
        &self,
        mut conn: ConnectionManager,
        mut blocking: MultiplexedConnection,
        end: Option<EntryId>,
    ) -> Result<(), BoxError> {
        let start = match (self.last_sent(), self.config.start) {
            (Some(after), _) => after,
            (None, StreamStart::Earliest) => "0-0".to_owned(),
            (None, StreamStart::Latest) => {
                let (ms, seq) = last_id(&mut conn, &self.stream).await?;
                format!("{ms}-{seq}")
            }
        };
        loop {
            let after = self.last_sent().unwrap_or_else(|| start.clone());
            let mut command = redis::cmd("XREAD");
            command.arg("COUNT").arg(self.config.batch_size);
            if !self
                .next(&mut command, &mut blocking, &after, end, None)
                .await?
            {
                return Ok(());
            }
        }
    }

    /// The id of the last entry sent, if any.
    fn last_sent(&self) -> Option<String> {
        self.after
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Completes `command` (an `XREAD` or `XREADGROUP` so far) to read the entries after `id`,
    /// waiting for some unless it stops at `end`, and sends those up to `end`; `false` once
    /// the read is over (shutdown, the pipeline gone, or the end reached).
    async fn next(
        &self,
        command: &mut redis::Cmd,
        blocking: &mut MultiplexedConnection,
        id: &str,
        end: Option<EntryId>,
        acks: Option<&mpsc::UnboundedSender<String>>,
    ) -> Result<bool, BoxError> {
        if end.is_none() {
            command.arg("BLOCK").arg(BLOCK.as_millis() as u64);
        }
        command.arg("STREAMS").arg(&*self.stream).arg(id);
        let read = command.query_async::<Option<StreamReadReply>>(blocking);
        let reply = tokio::select! {
            () = self.cancel.cancelled() => return Ok(false),
            reply = read => reply?,
        };
        let mut entries: Vec<StreamId> = reply
            .map(|r| r.keys.into_iter().flat_map(|k| k.ids).collect())
            .unwrap_or_default();
        let Some(end) = end else {
            return Ok(entries.is_empty() || self.send(entries, acks).await);
        };
        // Entries past the end stay for the next read (in a group: pending, read again first).
        let before = entries.len();
        entries.retain(|e| entry_id(&e.id) <= end);
        let reached = entries.len() < before || entries.is_empty();
        Ok((entries.is_empty() || self.send(entries, acks).await) && !reached)
    }

    /// Takes over entries pending longer than `claim_idle`; `false` once the pipeline is gone.
    async fn claim(
        &self,
        group: &str,
        conn: &mut ConnectionManager,
        acks: &mpsc::UnboundedSender<String>,
    ) -> Result<bool, redis::RedisError> {
        let mut from = "0-0".to_owned();
        loop {
            let reply: StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
                .arg(&*self.stream)
                .arg(group)
                .arg(&self.consumer)
                .arg(self.config.claim_idle.as_millis() as u64)
                .arg(&from)
                .arg("COUNT")
                .arg(self.config.batch_size)
                .query_async(conn)
                .await?;
            if !reply.claimed.is_empty() {
                tracing::info!(source = %self.source, entries = reply.claimed.len(), "took over entries pending too long");
                if !self.send(reply.claimed, Some(acks)).await {
                    return Ok(false);
                }
            }
            if reply.next_stream_id == "0-0" {
                return Ok(true);
            }
            from = reply.next_stream_id;
        }
    }

    /// Sends entries to the pipeline, each acknowledged on `acks` once final (in a group);
    /// `false` once the pipeline is gone.
    async fn send(
        &self,
        entries: Vec<StreamId>,
        acks: Option<&mpsc::UnboundedSender<String>>,
    ) -> bool {
        if let Some(last) = entries.last() {
            *self
                .after
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(last.id.clone());
        }
        let fresh: Vec<StreamId> = {
            let mut in_flight = self
                .in_flight
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            entries
                .into_iter()
                .filter(|entry| in_flight.insert(entry.id.clone()))
                .collect()
        };
        if fresh.is_empty() {
            return true;
        }
        let batch = fresh
            .into_iter()
            .map(|entry| {
                let id = entry.id.clone();
                let acks = acks.cloned();
                let in_flight = self.in_flight.clone();
                let token = AckToken::new(move |outcome: Outcome| {
                    in_flight
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .remove(&id);
                    if let Some(acks) = acks
                        && outcome.is_final()
                    {
                        let _ = acks.send(id);
                    }
                });
                let origin = Arc::new(Origin {
                    source: self.source.clone(),
                    trace: received(&self.source, ("redis", &self.stream), || {
                        redis::from_redis_value_ref(entry.map.get("traceparent")?).ok()
                    }),
                    position: Position::Entry {
                        stream: self.stream.clone(),
                        id: Arc::from(entry.id.as_str()),
                    },
                });
                let record = Record {
                    bytes: body(&entry.map, &self.config.body_key),
                    origin,
                    header: None,
                    refused: None,
                };
                Acked::new(record, token)
            })
            .collect();
        self.tx.send(batch).await.is_ok()
    }
}

/// The id of the last entry of `stream`, `0-0` when it has none.
async fn last_id(conn: &mut ConnectionManager, stream: &str) -> Result<EntryId, BoxError> {
    let reply: redis::streams::StreamRangeReply = redis::cmd("XREVRANGE")
        .arg(stream)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async(conn)
        .await?;
    Ok(reply.ids.first().map_or((0, 0), |e| entry_id(&e.id)))
}

/// Acknowledges (`XACK`) the entries of `group` whose events are final, connecting when first
/// needed.
fn acker(client: redis::Client, stream: Arc<str>, group: String) -> Acknowledger {
    let conn = Arc::new(tokio::sync::OnceCell::new());
    Acknowledger::spawn(move |ids| {
        let (client, conn, stream, group) = (
            client.clone(),
            Arc::clone(&conn),
            Arc::clone(&stream),
            group.clone(),
        );
        async move {
            let mut conn: ConnectionManager = conn
                .get_or_try_init(|| ConnectionManager::new(client))
                .await?
                .clone();
            redis::cmd("XACK")
                .arg(&*stream)
                .arg(&group)
                .arg(&ids)
                .query_async::<u64>(&mut conn)
                .await?;
            Ok(())
        }
    })
}

/// The event's bytes: the body field, or the entry's fields as a JSON object.
fn body(fields: &HashMap<String, redis::Value>, body_key: &str) -> Bytes {
    let text = |v: &redis::Value| redis::from_redis_value_ref::<Vec<u8>>(v).unwrap_or_default();
    if let Some(value) = fields.get(body_key) {
        return Bytes::from(text(value));
    }
    let object: serde_json::Map<String, serde_json::Value> = fields
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                serde_json::Value::String(String::from_utf8_lossy(&text(v)).into_owned()),
            )
        })
        .collect();
    Bytes::from(serde_json::Value::Object(object).to_string())
}
