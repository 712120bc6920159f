//! [`Event`]: the item of declarative pipelines, a JSON value that is parsed only when needed.
//!
//! A source that reads JSON keeps each record's bytes as they were read (after checking they are
//! valid JSON) and parses them the first time a stage asks for the value. A stage that only
//! reads fields does not change the bytes, so a sink can write them back out without
//! serializing again; the first change to the value drops them.

use std::fmt;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;
use sluice_core::trace::SpanContext;

/// Where an event came from, for dead-letter records and checkpoints.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Origin {
    /// The source component's name.
    pub source: Arc<str>,
    /// The position inside it.
    pub position: Position,
    /// The trace context the event carries, while tracing is on: its source's span when it is
    /// sampled, the context it arrived with when it is not (see [`sluice_core::trace`]). Boxed,
    /// so that it costs one word while tracing is off.
    pub trace: Option<Box<SpanContext>>,
}

/// A position inside a source.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Position {
    /// Not known or not meaningful.
    #[default]
    None,
    /// A line of a file (1-based) starting at a byte offset.
    Line {
        /// The file.
        path: Arc<str>,
        /// The line number, from 1.
        line: u64,
        /// The offset of the line's first byte.
        offset: u64,
    },
    /// The n-th record (from 0) of a source without positions of its own.
    Sequence(u64),
    /// A message of a Kafka topic.
    Offset {
        /// The topic.
        topic: Arc<str>,
        /// The partition.
        partition: i32,
        /// The message's offset in the partition.
        offset: i64,
    },
    /// A message of a broker: NATS JetStream, or a RabbitMQ queue.
    Message {
        /// Its subject (NATS) or queue (RabbitMQ).
        subject: Arc<str>,
        /// Its sequence number in the stream (NATS) or delivery tag (RabbitMQ).
        sequence: u64,
    },
    /// An entry of a stream (a Redis stream).
    Entry {
        /// The stream.
        stream: Arc<str>,
        /// The entry's id.
        id: Arc<str>,
    },
}

impl Position {
    /// The position as a JSON value for a dead-letter record.
    pub fn to_json(&self) -> Value {
        match self {
            Position::None => Value::Null,
            Position::Line { path, line, offset } => {
                serde_json::json!({ "file": &**path, "line": line, "offset": offset })
            }
            Position::Sequence(n) => serde_json::json!({ "sequence": n }),
            Position::Offset {
                topic,
                partition,
                offset,
            } => serde_json::json!({ "topic": &**topic, "partition": partition, "offset": offset }),
            Position::Message { subject, sequence } => {
                serde_json::json!({ "subject": &**subject, "sequence": sequence })
            }
            Position::Entry { stream, id } => {
                serde_json::json!({ "stream": &**stream, "id": &**id })
            }
        }
    }
}

/// A JSON event with its origin.
#[derive(Clone, Default)]
pub struct Event {
    /// The JSON text of `value`, as read; `None` once the value has been changed.
    raw: Option<Bytes>,
    /// Shared, so that a copy of the event (a fan-out) copies no value, and behind a pointer, so
    /// that an event stays small to move between stages (56 bytes, not 120). Changed in place
    /// when not shared.
    value: OnceLock<Arc<Shared>>,
    origin: Option<Arc<Origin>>,
}

/// A value and, once a copy of an event sharing it was written out, its JSON text: the other
/// copies (other sinks of a fan-out) write that text instead of serializing again.
struct Shared {
    value: Value,
    text: OnceLock<Bytes>,
}

impl Shared {
    fn new(value: Value) -> Arc<Shared> {
        Arc::new(Shared {
            value,
            text: OnceLock::new(),
        })
    }
}

impl Clone for Shared {
    /// A copy to change: without the text.
    fn clone(&self) -> Shared {
        Shared {
            value: self.value.clone(),
            text: OnceLock::new(),
        }
    }
}

impl Event {
    /// An event with `value`.
    pub fn new(value: Value) -> Event {
        Event {
            raw: None,
            value: OnceLock::from(Shared::new(value)),
            origin: None,
        }
    }

    /// An event from JSON text that is known to be valid (see [`crate::codec::Json`]); it is
    /// parsed on first use.
    pub fn from_json_bytes(raw: Bytes) -> Event {
        Event {
            raw: Some(raw),
            value: OnceLock::new(),
            origin: None,
        }
    }

    /// A new event holding `value`, with the same origin as this one (an event a transform made
    /// from it).
    pub fn derive(&self, value: Value) -> Event {
        Event {
            raw: None,
            value: OnceLock::from(Shared::new(value)),
            origin: self.origin.clone(),
        }
    }

    /// A new event from JSON text known to be valid, with the same origin as this one.
    pub fn derive_raw(&self, raw: Bytes) -> Event {
        Event {
            raw: Some(raw),
            value: OnceLock::new(),
            origin: self.origin.clone(),
        }
    }

    /// Sets where the event came from.
    pub fn with_origin(mut self, origin: Arc<Origin>) -> Event {
        self.origin = Some(origin);
        self
    }

    /// Where the event came from, if known.
    pub fn origin(&self) -> Option<&Origin> {
        self.origin.as_deref()
    }

    /// The trace context the event carries, if any (see [`Origin::trace`]).
    pub fn trace_context(&self) -> Option<&SpanContext> {
        self.origin.as_deref()?.trace.as_deref()
    }

    /// The `traceparent` of the trace context the event carries, for a sink to send on.
    pub fn traceparent(&self) -> Option<String> {
        self.trace_context()
            .and_then(sluice_core::trace::traceparent)
    }

    /// The value, parsing the bytes the first time.
    pub fn value(&self) -> &Value {
        &self.shared().value
    }

    /// The shared value, made from the bytes the first time.
    fn shared(&self) -> &Arc<Shared> {
        self.value.get_or_init(|| {
            Shared::new(match &self.raw {
                // The bytes were checked when the event was made; a failure here would be a
                // bug in that check, and `null` is the value that makes it visible downstream.
                Some(raw) => serde_json::from_slice(raw).unwrap_or(Value::Null),
                None => Value::Null,
            })
        })
    }

    /// The value, to change: the original bytes no longer match and are dropped.
    pub fn value_mut(&mut self) -> &mut Value {
        self.value();
        self.raw = None;
        match self.value.get_mut() {
            Some(shared) => {
                let shared = Arc::make_mut(shared);
                shared.text = OnceLock::new();
                &mut shared.value
            }
            None => unreachable!("value() initialized the cell"),
        }
    }

    /// Replaces the value.
    pub fn set_value(&mut self, value: Value) {
        self.raw = None;
        self.value = OnceLock::from(Shared::new(value));
    }

    /// Takes the value out, leaving `null` (copying it only if another copy of the event
    /// shares it).
    pub fn take_value(&mut self) -> Value {
        self.value();
        self.raw = None;
        match self.value.take() {
            Some(shared) => {
                Arc::try_unwrap(shared).map_or_else(|shared| shared.value.clone(), |own| own.value)
            }
            None => Value::Null,
        }
    }

    /// About how many bytes the event holds: itself, the text it was read from, and its value
    /// once built (what a pipeline's memory limit counts).
    pub fn weight(&self) -> usize {
        std::mem::size_of::<Event>()
            + self.raw.as_ref().map_or(0, Bytes::len)
            + self.value.get().map_or(0, |shared| {
                std::mem::size_of::<Shared>()
                    + heap(&shared.value)
                    + shared.text.get().map_or(0, Bytes::len)
            })
    }

    /// The original JSON text, if the value is unchanged and came from text.
    pub fn raw(&self) -> Option<&Bytes> {
        self.raw.as_ref()
    }

    /// Appends the value as compact JSON: the original bytes when unchanged.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        match &self.raw {
            Some(raw) => out.extend_from_slice(raw),
            None => {
                let shared = self.shared();
                if Arc::strong_count(shared) > 1 {
                    // Another copy may write it too: the text is kept for it.
                    out.extend_from_slice(shared.text.get_or_init(|| {
                        let mut text = Vec::new();
                        let _ = serde_json::to_writer(&mut text, &shared.value);
                        Bytes::from(text)
                    }));
                } else {
                    // Writing a `Value` to a `Vec` cannot fail: every map key is a string.
                    let _ = serde_json::to_writer(&mut *out, &shared.value);
                }
            }
        }
    }

    /// The value as compact JSON text.
    pub fn to_json_string(&self) -> String {
        let mut out = Vec::new();
        self.write_json(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// The fields at `paths`, in their order. An event still in its original text and not
    /// parsed yet stays unparsed: its fields are slices of that text, found in one pass over
    /// each object on the way.
    pub fn fields<'a>(&'a self, paths: &FieldPaths) -> Vec<Field<'a>> {
        if self.value.get().is_none()
            && let Some(text) = self
                .raw
                .as_deref()
                .and_then(|r| std::str::from_utf8(r).ok())
        {
            return paths.pick(text);
        }
        let value = self.value();
        paths
            .paths
            .iter()
            .map(|path| {
                path.iter()
                    .try_fold(value, |field, key| field.get(key))
                    .map_or(Field::Missing, Field::Value)
            })
            .collect()
    }
}

/// A field of an event, from [`Event::fields`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Field<'a> {
    /// The event has no such field.
    Missing,
    /// The field's JSON text, as it was read.
    Text(&'a str),
    /// The field's value.
    Value(&'a Value),
}

/// Paths of fields to read from many events (a sink's columns), each a list of keys into
/// nested objects, none for the whole event; prepared once for [`Event::fields`].
#[derive(Debug, Clone)]
pub struct FieldPaths {
    paths: Vec<Vec<String>>,
    /// The paths' distinct first keys: the members of the event to keep.
    keys: Vec<String>,
    /// Each path's first key, as its place in `keys`.
    first: Vec<Option<usize>>,
}

impl FieldPaths {
    /// Prepares `paths`.
    pub fn new(paths: Vec<Vec<String>>) -> FieldPaths {
        let mut keys: Vec<String> = Vec::new();
        let first = paths
            .iter()
            .map(|path| {
                let key = path.first()?;
                Some(keys.iter().position(|k| k == key).unwrap_or_else(|| {
                    keys.push(key.clone());
                    keys.len() - 1
                }))
            })
            .collect();
        FieldPaths { paths, keys, first }
    }

    /// The fields in the JSON text `json`, whose top object is read once.
    fn pick<'a>(&self, json: &'a str) -> Vec<Field<'a>> {
        let members = members(json, &self.keys);
        self.paths
            .iter()
            .zip(&self.first)
            .map(|(path, first)| match first {
                None => serde_json::from_str::<&RawValue>(json)
                    .map_or(Field::Missing, |raw| Field::Text(raw.get())),
                Some(at) => members[*at].map_or(Field::Missing, |raw| field(raw, &path[1..])),
            })
            .collect()
    }
}

/// The field at `path` inside `raw`.
fn field<'a>(raw: &'a RawValue, path: &[String]) -> Field<'a> {
    match path.split_first() {
        None => Field::Text(raw.get()),
        Some((key, rest)) => members(raw.get(), std::slice::from_ref(key))[0]
            .map_or(Field::Missing, |inner| field(inner, rest)),
    }
}

/// The text of the members `keys` of the object `json`, none for a key it lacks, or for every
/// key when it is not an object.
fn members<'a>(json: &'a str, keys: &[String]) -> Vec<Option<&'a RawValue>> {
    if keys.is_empty() {
        return Vec::new();
    }
    Members(keys)
        .deserialize(&mut serde_json::Deserializer::from_str(json))
        .unwrap_or_else(|_| vec![None; keys.len()])
}

/// Reads an object, keeping the text of the members named (by their place in the list).
struct Members<'k>(&'k [String]);

impl<'de> DeserializeSeed<'de> for Members<'_> {
    type Value = Vec<Option<&'de RawValue>>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Members<'_> {
    type Value = Vec<Option<&'de RawValue>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = vec![None; self.0.len()];
        while let Some(at) = map.next_key_seed(KeyAt(self.0))? {
            match at {
                Some(at) => found[at] = Some(map.next_value()?),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(found)
    }
}

/// An object's key, as its place among the keys wanted.
struct KeyAt<'k>(&'k [String]);

impl<'de> DeserializeSeed<'de> for KeyAt<'_> {
    type Value = Option<usize>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for KeyAt<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.0.iter().position(|k| *k == key))
    }
}

impl From<Value> for Event {
    fn from(value: Value) -> Event {
        Event::new(value)
    }
}

impl PartialEq for Event {
    fn eq(&self, other: &Event) -> bool {
        self.value() == other.value()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Event({})", self.to_json_string())
    }
}

/// About how many bytes `value` holds on the heap: its strings, and a slot per element and per
/// field with its key.
fn heap(value: &Value) -> usize {
    const SLOT: usize = std::mem::size_of::<Value>();
    match value {
        Value::String(s) => s.len(),
        Value::Array(items) => items.iter().map(|v| SLOT + heap(v)).sum(),
        Value::Object(fields) => fields
            .iter()
            .map(|(k, v)| k.len() + 2 * SLOT + heap(v))
            .sum(),
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_are_small() {
        assert!(
            std::mem::size_of::<Event>() <= 64,
            "{}",
            std::mem::size_of::<Event>()
        );
    }

    #[test]
    fn copies_share_a_value_until_one_changes_it() {
        let original = Event::new(json!({"n": 1, "tags": ["a"]}));
        let mut copy = original.clone();
        assert!(std::ptr::eq(original.value(), copy.value()), "shared");
        copy.value_mut()["n"] = json!(2);
        assert_eq!(original.value()["n"], 1);
        assert_eq!(copy.value()["n"], 2);
        // A copy writes the text another copy wrote; a change drops it.
        let (mut first, mut second) = (Vec::new(), Vec::new());
        original.write_json(&mut first);
        original.clone().write_json(&mut second);
        assert_eq!(first, br#"{"n":1,"tags":["a"]}"#.to_vec());
        assert_eq!(first, second);
        let mut other = original.clone();
        other.value_mut()["n"] = json!(3);
        assert_eq!(other.to_json_string(), r#"{"n":3,"tags":["a"]}"#);
        let mut other = original.clone();
        assert_eq!(other.take_value(), json!({"n": 1, "tags": ["a"]}));
        assert_eq!(other.value(), &Value::Null);
        assert_eq!(original.value()["tags"][0], "a");
    }

    #[test]
    fn unchanged_events_write_their_original_bytes() {
        let raw = Bytes::from_static(br#"{"b":1,  "a":2}"#);
        let event = Event::from_json_bytes(raw.clone());
        assert_eq!(event.value()["a"], 2);
        let mut out = Vec::new();
        event.write_json(&mut out);
        assert_eq!(out, raw.to_vec(), "reading fields keeps the bytes");
    }

    #[test]
    fn fields_of_text_and_of_values_agree() {
        let text =
            br#"{"id": 7, "a\u0062": {"c": [1, 2], "d": "x\ny"}, "id": 8, "n": null, "s": 3}"#;
        let paths = FieldPaths::new(
            [
                &["id"][..],
                &["ab", "c"],
                &["ab", "d"],
                &["n"],
                &["no"],
                &["s", "x"],
                &[],
            ]
            .iter()
            .map(|p| p.iter().map(ToString::to_string).collect())
            .collect(),
        );
        let unparsed = Event::from_json_bytes(Bytes::from_static(text));
        let texts = unparsed.fields(&paths);
        assert!(unparsed.value.get().is_none(), "the text was not parsed");
        let parsed = Event::from_json_bytes(Bytes::from_static(text));
        parsed.value();
        let values = parsed.fields(&paths);
        for (text, value) in texts.iter().zip(&values) {
            match (text, value) {
                (Field::Text(text), Field::Value(value)) => {
                    assert_eq!(&serde_json::from_str::<Value>(text).expect("json"), *value);
                }
                (text, value) => assert_eq!(text, value),
            }
        }
        assert_eq!(texts[0], Field::Text("8"), "the last of a repeated key");
        assert_eq!(texts[4], Field::Missing);
        assert_eq!(texts[5], Field::Missing, "a path through a number");
    }

    #[test]
    fn changed_events_are_serialized_in_key_order() {
        let mut event = Event::from_json_bytes(Bytes::from_static(br#"{"b":1,"a":2}"#));
        event.value_mut()["c"] = json!(true);
        assert_eq!(event.to_json_string(), r#"{"b":1,"a":2,"c":true}"#);
        assert!(event.raw().is_none());
    }
}
