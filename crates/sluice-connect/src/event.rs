//! [`Event`]: the item of declarative pipelines, a JSON value that is parsed only when needed.
//!
//! A source that reads JSON keeps each record's bytes as they were read (after checking they are
//! valid JSON) and parses them the first time a stage asks for the value. A stage that only
//! reads fields does not change the bytes, so a sink can write them back out without
//! serializing again; the first change to the value drops them.

use std::fmt;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use serde_json::Value;

/// Where an event came from, for dead-letter records and checkpoints.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Origin {
    /// The source component's name.
    pub source: Arc<str>,
    /// The position inside it.
    pub position: Position,
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
    /// Boxed so that an event stays small to move between stages (56 bytes, not 120).
    value: OnceLock<Box<Value>>,
    origin: Option<Arc<Origin>>,
}

impl Event {
    /// An event with `value`.
    pub fn new(value: Value) -> Event {
        Event {
            raw: None,
            value: OnceLock::from(Box::new(value)),
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
            value: OnceLock::from(Box::new(value)),
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

    /// The value, parsing the bytes the first time.
    pub fn value(&self) -> &Value {
        self.value.get_or_init(|| {
            Box::new(match &self.raw {
                // The bytes were checked when the event was made; a failure here would be a bug
                // in that check, and `null` is the value that makes it visible downstream.
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
            Some(value) => value,
            None => unreachable!("value() initialized the cell"),
        }
    }

    /// Replaces the value.
    pub fn set_value(&mut self, value: Value) {
        self.raw = None;
        self.value = OnceLock::from(Box::new(value));
    }

    /// Takes the value out, leaving `null`.
    pub fn take_value(&mut self) -> Value {
        std::mem::take(self.value_mut())
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
                // Writing a `Value` to a `Vec` cannot fail: every map key is a string.
                let _ = serde_json::to_writer(&mut *out, self.value());
            }
        }
    }

    /// The value as compact JSON text.
    pub fn to_json_string(&self) -> String {
        let mut out = Vec::new();
        self.write_json(&mut out);
        String::from_utf8_lossy(&out).into_owned()
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
    fn unchanged_events_write_their_original_bytes() {
        let raw = Bytes::from_static(br#"{"b":1,  "a":2}"#);
        let event = Event::from_json_bytes(raw.clone());
        assert_eq!(event.value()["a"], 2);
        let mut out = Vec::new();
        event.write_json(&mut out);
        assert_eq!(out, raw.to_vec(), "reading fields keeps the bytes");
    }

    #[test]
    fn changed_events_are_serialized_in_key_order() {
        let mut event = Event::from_json_bytes(Bytes::from_static(br#"{"b":1,"a":2}"#));
        event.value_mut()["c"] = json!(true);
        assert_eq!(event.to_json_string(), r#"{"b":1,"a":2,"c":true}"#);
        assert!(event.raw().is_none());
    }
}
