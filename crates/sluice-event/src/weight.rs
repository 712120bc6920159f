//! What events and records weigh in a pipeline's channels, for its memory limit (see
//! [`sluice_core::weigh`]).

use serde_json::Value;

use crate::Event;
use crate::codec::Record;

/// Registers the weighers of [`Event`] and [`Record`] for the channels created from now on; a
/// pipeline of events bounded in bytes needs them (the file pipelines register them as they are
/// built).
pub fn register() {
    sluice_core::weigh::register::<Event>(Event::weight);
    sluice_core::weigh::register::<Record>(|r| std::mem::size_of::<Record>() + r.bytes.len());
}

/// About how many bytes `value` holds on the heap: its strings, and a slot per element and per
/// field with its key.
pub(crate) fn heap(value: &Value) -> usize {
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
    fn an_event_weighs_its_text_and_its_value() {
        let text = br#"{"service":"api","tags":["a","b"]}"#;
        let read = Event::from_json_bytes(bytes::Bytes::from_static(text));
        let unparsed = read.weight();
        assert_eq!(unparsed, std::mem::size_of::<Event>() + text.len());
        let _ = read.value();
        assert!(read.weight() > unparsed + 100, "{}", read.weight());
        let big = Event::new(json!({"blob": "x".repeat(200_000)}));
        assert!(big.weight() > 200_000);
    }
}
