//! Codecs: how the bytes a source reads become [`Event`]s, and how a sink writes them.
//!
//! Sources hand their bytes, one record per line, to a decode stage; a record that does not
//! decode fails there and goes to the source's error output with the reason and its original
//! bytes, so one bad line never stops a run.

mod csv_line;

use std::sync::Arc;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;

use crate::event::{Event, Origin};

/// How a source decodes each record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Codec {
    /// One JSON value per line (JSON lines). The default.
    #[default]
    Json,
    /// Comma-separated values; the first line of each file names the fields, every field is a
    /// string.
    Csv,
    /// Each line becomes `{"message": line}`.
    Lines,
}

/// One record as a source read it, before decoding.
#[derive(Debug, Clone)]
pub struct Record {
    /// The bytes, without the line break.
    pub bytes: Bytes,
    /// Where they came from.
    pub origin: Arc<Origin>,
    /// For CSV, the field names from the file's first line.
    pub header: Option<Arc<[String]>>,
    /// Why the source already knows the record must not be processed (a message delivered
    /// too many times): decoding sends it to the error output with this reason.
    pub refused: Option<Arc<str>>,
}

/// Why a record did not decode.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Not valid JSON.
    #[error("invalid JSON: {0}")]
    Json(serde_json::Error),
    /// Not a valid CSV row.
    #[error("invalid CSV: {0}")]
    Csv(String),
    /// Not valid UTF-8 text.
    #[error("invalid UTF-8 at byte {0}")]
    Utf8(usize),
    /// Refused by its source (see [`Record::refused`]).
    #[error("{0}")]
    Refused(Arc<str>),
    /// Heavier than the pipeline's whole memory limit.
    #[error(
        "the record is {size} bytes, more than the pipeline's memory_limit of {limit} bytes; raise `pipeline.memory_limit` to take it"
    )]
    TooLarge {
        /// The record's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
}

impl Codec {
    /// Decodes one record.
    pub fn decode(self, record: &Record) -> Result<Event, DecodeError> {
        if let Some(reason) = &record.refused {
            return Err(DecodeError::Refused(reason.clone()));
        }
        let event = match self {
            Codec::Json => {
                // Checking validity is far cheaper than building the value; the value is built
                // only if a stage reads it, and the check accepts exactly what that parse does.
                serde_json::from_str::<Valid>(text(&record.bytes)?).map_err(DecodeError::Json)?;
                Event::from_json_bytes(record.bytes.clone())
            }
            Codec::Lines => Event::new(serde_json::json!({ "message": text(&record.bytes)? })),
            Codec::Csv => {
                let fields = csv_line::split(text(&record.bytes)?).map_err(DecodeError::Csv)?;
                let names = record.header.as_deref().unwrap_or(&[]);
                if fields.len() > names.len() {
                    return Err(DecodeError::Csv(format!(
                        "{} fields but the header names {}",
                        fields.len(),
                        names.len()
                    )));
                }
                let object = names
                    .iter()
                    .zip(fields)
                    .map(|(name, field)| (name.clone(), Value::String(field)))
                    .collect();
                Event::new(Value::Object(object))
            }
        };
        Ok(event.with_origin(Arc::clone(&record.origin)))
    }
}

/// JSON checked as parsing it into a [`Value`] would check it (every string's escapes, every
/// number in range), without building anything. `serde::de::IgnoredAny` is faster but skips
/// over numbers and strings unchecked: a number out of range would pass it, then fail to parse
/// when a stage reads the event.
struct Valid;

impl<'de> serde::Deserialize<'de> for Valid {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Valid, D::Error> {
        deserializer.deserialize_any(Valid)
    }
}

impl<'de> serde::de::Visitor<'de> for Valid {
    type Value = Valid;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Valid, E> {
        Ok(Valid)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Valid, E> {
        Ok(Valid)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Valid, E> {
        Ok(Valid)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Valid, E> {
        Ok(Valid)
    }

    fn visit_str<E>(self, _: &str) -> Result<Valid, E> {
        Ok(Valid)
    }

    fn visit_unit<E>(self) -> Result<Valid, E> {
        Ok(Valid)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Valid, A::Error> {
        while seq.next_element::<Valid>()?.is_some() {}
        Ok(Valid)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Valid, A::Error> {
        while map.next_entry::<Valid, Valid>()?.is_some() {}
        Ok(Valid)
    }
}

fn text(bytes: &[u8]) -> Result<&str, DecodeError> {
    std::str::from_utf8(bytes).map_err(|e| DecodeError::Utf8(e.valid_up_to()))
}

/// How a sink writes each event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", tag = "format", deny_unknown_fields)]
pub enum Encoding {
    /// One JSON value per line. The default.
    #[default]
    Json,
    /// One line of text per event: the string at `field` (an event that is a string is written
    /// as is; any other value as JSON).
    Text {
        /// The field holding the text. Defaults to `message`.
        #[serde(default = "message_field")]
        field: String,
    },
}

fn message_field() -> String {
    "message".to_owned()
}

impl Encoding {
    /// Appends `event` and a line break to `out`.
    pub fn encode(&self, event: &Event, out: &mut Vec<u8>) {
        match self {
            Encoding::Json => event.write_json(out),
            Encoding::Text { field } => match event.value() {
                Value::String(s) => out.extend_from_slice(s.as_bytes()),
                Value::Object(map) => match map.get(field) {
                    Some(Value::String(s)) => out.extend_from_slice(s.as_bytes()),
                    Some(other) => out.extend_from_slice(other.to_string().as_bytes()),
                    None => event.write_json(out),
                },
                _ => event.write_json(out),
            },
        }
        out.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(text: &str, header: Option<&[&str]>) -> Record {
        Record {
            bytes: Bytes::copy_from_slice(text.as_bytes()),
            origin: Arc::new(Origin::default()),
            header: header.map(|h| h.iter().map(|s| (*s).to_owned()).collect()),
            refused: None,
        }
    }

    #[test]
    fn a_record_its_source_refused_fails_with_the_reason() {
        let mut refused = record("{}", None);
        refused.refused = Some(Arc::from("delivered 5 times without finishing"));
        let err = Codec::Json.decode(&refused).expect_err("refused");
        assert_eq!(err.to_string(), "delivered 5 times without finishing");
    }

    #[test]
    fn json_with_bytes_that_are_not_utf8_inside_a_string_is_refused() {
        // Found by the `codec` fuzz target: the check skipped over the string's bytes.
        let bad = Record {
            bytes: Bytes::from_static(b"\"\xff\xff\xff\xff\""),
            ..record("", None)
        };
        let err = Codec::Json.decode(&bad).expect_err("not UTF-8");
        assert_eq!(err.to_string(), "invalid UTF-8 at byte 1");
    }

    #[test]
    fn json_numbers_out_of_range_are_refused_as_the_parse_would() {
        // Found by the `codec` fuzz target: the check let it pass, and the event read as null.
        let err = Codec::Json
            .decode(&record("77507e2277777773777277", None))
            .expect_err("out of range");
        assert!(err.to_string().contains("number out of range"), "{err}");
        assert!(
            Codec::Json
                .decode(&record("[1e308, -1e308, 1e-400]", None))
                .is_ok()
        );
    }

    #[test]
    fn json_lines_are_checked_not_parsed() {
        let event = Codec::Json
            .decode(&record(r#"{"a": 1}"#, None))
            .expect("valid");
        assert!(event.raw().is_some());
        let err = Codec::Json
            .decode(&record(r#"{"a": 1"#, None))
            .expect_err("truncated");
        assert_eq!(
            err.to_string(),
            "invalid JSON: EOF while parsing an object at line 1 column 7"
        );
    }

    #[test]
    fn csv_rows_take_the_header_names() {
        let header = Some(&["name", "city"][..]);
        let event = Codec::Csv
            .decode(&record(r#"Ann,"Paris, FR""#, header))
            .expect("valid");
        assert_eq!(event.value(), &json!({"name": "Ann", "city": "Paris, FR"}));
        assert!(Codec::Csv.decode(&record("a,b,c", header)).is_err());
    }

    #[test]
    fn lines_become_messages_and_text_writes_them_back() {
        let event = Codec::Lines.decode(&record("hello", None)).expect("valid");
        let mut out = Vec::new();
        Encoding::Text {
            field: message_field(),
        }
        .encode(&event, &mut out);
        assert_eq!(out, b"hello\n");
        assert!(Codec::Lines.decode(&record("\u{FFFD}", None)).is_ok());
    }
}
