//! The dead-letter record: what an error output carries, the same for every source and stage.
//!
//! ```json
//! {
//!   "error": "invalid JSON: expected value at line 1 column 1",
//!   "stage": "events",
//!   "attempts": 1,
//!   "failed_at": "2026-11-24T06:30:00.123Z",
//!   "source": "events",
//!   "position": {"file": "data/events.jsonl", "line": 17, "offset": 2048},
//!   "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
//!   "event": {"the": "original event"},
//!   "raw": "the original bytes, when the record never became an event"
//! }
//! ```
//!
//! `event` is present when the failed item was an event, `raw` when it was a record that did not
//! decode (its bytes as UTF-8, invalid sequences replaced). `source` and `position` are present
//! when known, `trace_id` when the item carried a trace context (tracing is on).

use std::time::SystemTime;

use serde_json::{Map, Value};
use sluice_core::Failed;

use crate::codec::Record;
use crate::event::{Event, Origin};

/// The dead-letter record of a failed event.
pub fn from_event(failed: &Failed<Event>) -> Event {
    record(
        failed,
        failed.item.origin(),
        "event",
        failed.item.value().clone(),
    )
}

/// The dead-letter record of a record that failed to decode.
pub fn from_record(failed: &Failed<Record>) -> Event {
    let raw = String::from_utf8_lossy(&failed.item.bytes).into_owned();
    record(failed, Some(&failed.item.origin), "raw", Value::String(raw))
}

fn record<T>(failed: &Failed<T>, origin: Option<&Origin>, key: &str, payload: Value) -> Event {
    let mut out = Map::new();
    out.insert("error".into(), Value::String(failed.reason()));
    out.insert("stage".into(), Value::String(failed.stage.to_string()));
    out.insert("attempts".into(), Value::from(failed.attempts));
    out.insert(
        "failed_at".into(),
        Value::String(humantime::format_rfc3339_millis(SystemTime::now()).to_string()),
    );
    if let Some(origin) = origin {
        out.insert("source".into(), Value::String(origin.source.to_string()));
        let position = origin.position.to_json();
        if !position.is_null() {
            out.insert("position".into(), position);
        }
        if let Some(trace) = &origin.trace {
            out.insert(
                "trace_id".into(),
                Value::String(trace.trace_id().to_string()),
            );
        }
    }
    out.insert(key.into(), payload);
    Event::new(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Position;
    use bytes::Bytes;
    use sluice_core::ItemError;
    use std::sync::Arc;

    #[test]
    fn decode_failures_keep_their_bytes_and_position() {
        let origin = Arc::new(Origin {
            source: Arc::from("events"),
            position: Position::Line {
                path: Arc::from("in.jsonl"),
                line: 3,
                offset: 40,
            },
            trace: sluice_core::trace::parse(
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            )
            .map(Box::new),
        });
        let item = Record {
            bytes: Bytes::from_static(b"{oops"),
            origin,
            header: None,
            refused: None,
        };
        let failed = Failed::new(
            item,
            Arc::from("events"),
            ItemError::user("invalid JSON"),
            1,
        );
        let dead = from_record(&failed);
        let v = dead.value();
        assert_eq!(v["raw"], "{oops");
        assert_eq!(v["error"], "invalid JSON");
        assert_eq!(v["position"]["line"], 3);
        assert_eq!(v["source"], "events");
        assert_eq!(v["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(v["failed_at"].as_str().is_some_and(|t| t.ends_with('Z')));
    }
}
