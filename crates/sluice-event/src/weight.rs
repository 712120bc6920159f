//! What events and records weigh in a pipeline's channels, for its memory limit (see
//! [`sluice_core::weigh`]).

use crate::Event;
use crate::codec::Record;

/// Registers the weighers of [`Event`] and [`Record`] for the channels created from now on; a
/// pipeline of events bounded in bytes needs them (the file pipelines register them as they are
/// built).
pub fn register() {
    sluice_core::weigh::register::<Event>(Event::weight);
    sluice_core::weigh::register::<Record>(|r| std::mem::size_of::<Record>() + r.bytes.len());
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
