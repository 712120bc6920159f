//! Replaying dead letters: the records a dead-letter sink wrote go back into the component
//! they failed at, once the cause is fixed.
//!
//! A record whose event failed in a transform or sink (it carries `event`) re-enters that
//! component's input; a record that never decoded (`raw`, stage `SOURCE.decode`) is decoded
//! again with its source's codec and leaves as that source's output. Everything downstream of
//! those components runs as the file says, the dead-letter sink included, so an event that
//! fails again is a dead letter again. Records the filter leaves out, and raw records that
//! still do not decode, go back to the dead-letter sink as they are. Each record is
//! acknowledged to its reader only once its replayed event is final (delivered, filtered or
//! dead-lettered again).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;
use sluice_core::{BoxError, Flow, Operators, Pipeline};
use sluice_event::Event;
use sluice_event::codec::{Codec, Record};

use crate::graph::{Built, Graph, Overrides};
use crate::spec::Kind;

/// Where a sink keeps its dead letters.
#[derive(Debug, Clone, PartialEq)]
pub enum DeadLetterStore {
    /// The file of a `file` sink.
    File(PathBuf),
    /// The topic of a `kafka` sink, with the options a `kafka` source needs to reach it
    /// (`brokers`, `tls`, `options`, as the sink has them).
    Kafka {
        /// The topic.
        topic: String,
        /// The sink's connection options.
        connection: serde_json::Map<String, Value>,
    },
    /// The table of a `postgres` sink, with the options a `postgres` source needs to read it
    /// (`url` or `url_file`, and `columns`, as the sink has them).
    Postgres {
        /// The table.
        table: String,
        /// The sink's connection options and columns.
        connection: serde_json::Map<String, Value>,
    },
    /// The stream of a `redis_stream` sink, with the options a `redis_stream` source needs to
    /// read it (`url`, `tls`, `body_key`, as the sink has them).
    Redis {
        /// The stream's key.
        stream: String,
        /// The sink's connection options.
        connection: serde_json::Map<String, Value>,
    },
}

impl DeadLetterStore {
    /// The store an address names, for reading it without a pipeline file:
    /// `kafka://HOST:PORT[,HOST:PORT…]/TOPIC`, `postgres://USER@HOST/DB?table=NAME` (each
    /// column a field) and `redis://HOST:PORT[/DB]?stream=NAME` (`rediss://` with TLS from the
    /// system's authorities); `None` for anything else (a file's path), `Err` for an address of
    /// one of those kinds that lacks its topic, table or stream.
    pub fn from_url(text: &str) -> Option<Result<DeadLetterStore, String>> {
        let (scheme, rest) = text.split_once("://")?;
        let (address, query) = rest.split_once('?').unwrap_or((rest, ""));
        // The query without `key`, and the value `key` had there.
        let take = |key: &str| {
            let (taken, kept): (Vec<&str>, Vec<&str>) = query
                .split('&')
                .filter(|p| !p.is_empty())
                .partition(|p| p.split_once('=').is_some_and(|(k, _)| k == key));
            let value = taken
                .first()
                .and_then(|p| p.split_once('='))
                .map(|(_, v)| v.to_owned())
                .filter(|v| !v.is_empty());
            let url = if kept.is_empty() {
                format!("{scheme}://{address}")
            } else {
                format!("{scheme}://{address}?{}", kept.join("&"))
            };
            (value, url)
        };
        let options = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
                .collect::<serde_json::Map<String, Value>>()
        };
        Some(match scheme {
            "kafka" => match address.split_once('/') {
                Some((brokers, topic)) if !brokers.is_empty() && !topic.is_empty() => {
                    Ok(DeadLetterStore::Kafka {
                        topic: topic.to_owned(),
                        connection: options(&[("brokers", brokers)]),
                    })
                }
                _ => Err(format!("`{text}`: write kafka://HOST:PORT/TOPIC")),
            },
            "postgres" | "postgresql" => match take("table") {
                (Some(table), url) => Ok(DeadLetterStore::Postgres {
                    table,
                    connection: options(&[("url", &url)]),
                }),
                (None, _) => Err(format!(
                    "`{text}`: name the table, as in postgres://USER@HOST/DB?table=dead_letters"
                )),
            },
            "redis" | "rediss" => match take("stream") {
                (Some(stream), url) => Ok(DeadLetterStore::Redis {
                    stream,
                    connection: options(&[("url", &url)]),
                }),
                (None, _) => Err(format!(
                    "`{text}`: name the stream, as in redis://HOST:6379?stream=dead-letters"
                )),
            },
            _ => return None,
        })
    }
}

/// Which dead letters a replay takes; the others stay dead letters.
#[derive(Debug, Clone, Default)]
pub struct ReplayFilter {
    /// Only those of this component (its name, or a stage of it such as `logs.decode`).
    pub stage: Option<String>,
    /// Only those whose error contains this text.
    pub error: Option<String>,
}

impl ReplayFilter {
    /// Whether the filter takes this dead-letter record.
    pub fn takes(&self, record: &Value) -> bool {
        let stage = record["stage"].as_str().unwrap_or_default();
        let error = record["error"].as_str().unwrap_or_default();
        self.stage
            .as_deref()
            .is_none_or(|s| s == stage || component_of(stage) == s)
            && self.error.as_deref().is_none_or(|e| error.contains(e))
    }
}

/// The component a stage belongs to: `enrich` for `enrich`, `logs` for `logs.decode`.
pub fn component_of(stage: &str) -> &str {
    stage.split('.').next().unwrap_or(stage)
}

impl Graph {
    /// Where the sink `sink` keeps its dead letters, or what is wrong.
    pub fn dead_letter_store(&self, sink: &str) -> Result<DeadLetterStore, String> {
        let spec = self
            .spec
            .component(sink)
            .filter(|c| c.kind == Kind::Sink)
            .ok_or_else(|| format!("the pipeline has no sink `{sink}`"))?;
        if !spec
            .inputs
            .iter()
            .any(|i| i.output.as_deref() == Some("errors"))
        {
            return Err(format!(
                "sink `{sink}` reads no `errors` output: it holds no dead letters"
            ));
        }
        let option = |key: &str| {
            spec.node
                .get(key)
                .and_then(|p| p.as_str())
                .map(str::to_owned)
        };
        // The sink's options that a source reading what it wrote needs too.
        let carried = |keys: &[&str]| {
            let options = spec.node.to_json("", &mut HashMap::new());
            keys.iter()
                .filter_map(|&key| Some((key.to_owned(), options.get(key)?.clone())))
                .collect::<serde_json::Map<String, Value>>()
        };
        match spec.type_name.as_str() {
            "file" => option("path")
                .map(|p| DeadLetterStore::File(PathBuf::from(p)))
                .ok_or_else(|| format!("sink `{sink}` has no `path`")),
            "kafka" => Ok(DeadLetterStore::Kafka {
                topic: option("topic").ok_or_else(|| format!("sink `{sink}` has no `topic`"))?,
                connection: carried(&["brokers", "tls", "options"]),
            }),
            "postgres" => Ok(DeadLetterStore::Postgres {
                table: option("table").ok_or_else(|| format!("sink `{sink}` has no `table`"))?,
                connection: carried(&["url", "url_file", "columns"]),
            }),
            "redis_stream" => Ok(DeadLetterStore::Redis {
                stream: option("stream").ok_or_else(|| format!("sink `{sink}` has no `stream`"))?,
                connection: carried(&["url", "tls", "body_key"]),
            }),
            other => Err(format!(
                "sink `{sink}` is a `{other}` sink: dead letters are read back from a `file`, \
                 `kafka`, `postgres` or `redis_stream` sink"
            )),
        }
    }

    /// The components whose failures the sink `sink` holds (it reads their `errors` outputs):
    /// where its records can go back to.
    pub fn dead_letter_targets(&self, sink: &str) -> Vec<String> {
        self.spec
            .component(sink)
            .map(|s| {
                s.inputs
                    .iter()
                    .filter(|i| i.output.as_deref() == Some("errors"))
                    .map(|i| i.component.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Builds the replay of `records` (dead-letter records, read from the sink `sink`) on
    /// `pipeline`: each taken record to the component it failed at, the others back to `sink`.
    pub fn build_replay(
        &self,
        pipeline: Pipeline,
        records: Flow<Event>,
        sink: &str,
        filter: &ReplayFilter,
    ) -> Result<Built, BoxError> {
        let targets = self.dead_letter_targets(sink);
        let codecs: HashMap<String, Codec> = targets
            .iter()
            .filter_map(|t| {
                let spec = self.spec.component(t)?;
                (spec.kind == Kind::Source).then(|| {
                    let codec = spec
                        .node
                        .get("codec")
                        .and_then(|c| c.deserialize::<Codec>("codec").ok())
                        .unwrap_or_default();
                    (t.clone(), codec)
                })
            })
            .collect();
        let back = targets.len();
        let lanes_of = targets.clone();
        let filter = filter.clone();
        let sink_name: Arc<str> = Arc::from(sink);
        let lanes = records
            .stage(format!("{sink}.replay"))
            .map(move |record| {
                let value = record.value();
                let lane = lanes_of
                    .iter()
                    .position(|t| t == component_of(value["stage"].as_str().unwrap_or_default()));
                match lane {
                    Some(lane) if filter.takes(value) => {
                        let target = &lanes_of[lane];
                        match replayed(&record, codecs.get(target).copied(), &sink_name) {
                            Some(event) => (lane, event),
                            None => (back, record),
                        }
                    }
                    _ => (back, record),
                }
            })
            .stage(format!("{sink}.replay-route"))
            .route(back + 1, |(lane, _)| *lane);
        let mut feeds: HashMap<String, Vec<Flow<Event>>> = HashMap::new();
        for (i, lane) in lanes.into_iter().enumerate() {
            let to = targets.get(i).map_or(sink, String::as_str);
            let flow = lane.stage(format!("{to}.replayed")).map(|(_, event)| event);
            feeds.entry(to.to_owned()).or_default().push(flow);
        }
        let mut overrides = Overrides::default();
        for (to, mut flows) in feeds {
            let first = flows.remove(0);
            let flow = if flows.is_empty() {
                first
            } else {
                first.stage(format!("{to}.replay-merge")).merge_with(flows)
            };
            overrides.feeds.insert(to, flow);
        }
        let mut only: HashSet<String> = HashSet::from([sink.to_owned()]);
        for target in &targets {
            only.extend(self.downstream(target));
        }
        // A source is built only where records go back to it (it is then fed, never read).
        only.retain(|name| {
            self.spec
                .component(name)
                .is_some_and(|c| c.kind != Kind::Source || targets.contains(name))
        });
        self.build_only(pipeline, overrides, &only)
    }

    /// The component `name` and every component downstream of it.
    pub(crate) fn downstream(&self, name: &str) -> HashSet<String> {
        let mut set = HashSet::from([name.to_owned()]);
        loop {
            let before = set.len();
            for c in &self.spec.components {
                if c.inputs.iter().any(|i| set.contains(&i.component)) {
                    set.insert(c.name.clone());
                }
            }
            if set.len() == before {
                return set;
            }
        }
    }
}

/// The event a record carries back: its `event`, or its `raw` bytes decoded with `codec` (for a
/// record of a source); `None` when there is none to replay (raw bytes that still do not
/// decode stay a dead letter).
fn replayed(record: &Event, codec: Option<Codec>, sink: &Arc<str>) -> Option<Event> {
    let value = record.value();
    match (codec, value.get("raw"), value.get("event")) {
        (Some(codec), Some(Value::String(raw)), _) => {
            let origin =
                Arc::new(
                    record
                        .origin()
                        .cloned()
                        .unwrap_or_else(|| sluice_event::Origin {
                            source: Arc::clone(sink),
                            ..sluice_event::Origin::default()
                        }),
                );
            let decoded = codec
                .decode(&Record {
                    bytes: Bytes::from(raw.clone().into_bytes()),
                    origin,
                    header: None,
                    refused: None,
                })
                .ok()?;
            Some(record.derive(decoded.value().clone()))
        }
        (None, _, Some(event)) => Some(record.derive(event.clone())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_filter_takes_a_component_its_stages_and_a_part_of_the_error() {
        let record = json!({"stage": "logs.decode", "error": "invalid JSON: expected value"});
        assert!(ReplayFilter::default().takes(&record));
        let by_stage = |s: &str| ReplayFilter {
            stage: Some(s.to_owned()),
            error: None,
        };
        assert!(by_stage("logs").takes(&record));
        assert!(by_stage("logs.decode").takes(&record));
        assert!(!by_stage("enrich").takes(&record));
        let by_error = |e: &str| ReplayFilter {
            stage: None,
            error: Some(e.to_owned()),
        };
        assert!(by_error("invalid JSON").takes(&record));
        assert!(!by_error("timeout").takes(&record));
    }

    #[test]
    fn an_address_names_a_topic_a_table_or_a_stream() {
        let store = |text: &str| DeadLetterStore::from_url(text).map(|r| r.map_err(|_| ()));
        assert_eq!(store("out/dead.jsonl"), None);
        let Some(Ok(DeadLetterStore::Kafka { topic, connection })) =
            store("kafka://a:9092,b:9092/dead")
        else {
            panic!("a topic")
        };
        assert_eq!(
            (topic.as_str(), &connection["brokers"]),
            ("dead", &json!("a:9092,b:9092"))
        );
        let Some(Ok(DeadLetterStore::Postgres { table, connection })) =
            store("postgres://app@db/shop?sslmode=require&table=dead")
        else {
            panic!("a table")
        };
        assert_eq!(table, "dead");
        assert_eq!(
            connection["url"],
            json!("postgres://app@db/shop?sslmode=require")
        );
        let Some(Ok(DeadLetterStore::Redis { stream, connection })) =
            store("redis://127.0.0.1:6379/2?stream=dead")
        else {
            panic!("a stream")
        };
        assert_eq!(stream, "dead");
        assert_eq!(connection["url"], json!("redis://127.0.0.1:6379/2"));
        assert_eq!(store("kafka://a:9092"), Some(Err(())));
        assert_eq!(store("postgres://app@db/shop"), Some(Err(())));
    }

    #[test]
    fn a_record_carries_back_its_event_or_its_bytes_decoded() {
        let sink: Arc<str> = Arc::from("dead");
        let event = Event::new(json!({"stage": "check", "error": "e", "event": {"n": 1}}));
        assert_eq!(
            replayed(&event, None, &sink).map(|e| e.value().clone()),
            Some(json!({"n": 1}))
        );
        let raw = Event::new(json!({"stage": "lines.decode", "error": "e", "raw": "{\"n\": 2}"}));
        assert_eq!(
            replayed(&raw, Some(Codec::Json), &sink).map(|e| e.value().clone()),
            Some(json!({"n": 2}))
        );
        let still_bad = Event::new(json!({"stage": "lines.decode", "error": "e", "raw": "{oops"}));
        assert!(replayed(&still_bad, Some(Codec::Json), &sink).is_none());
    }
}
