//! An event's binary form, for storing it outside the process (a disk buffer): its JSON text and
//! its origin (source, position, trace context), read back whole.
//!
//! ```text
//! version: u8 (1) | json: str | origin: 0, or 1 source: str position trace: (0 | 1 str)
//! str: len u32 LE, UTF-8 bytes
//! position: tag u8 and its fields (u64 LE, i32 LE, i64 LE, str)
//! ```

use std::sync::Arc;

use bytes::Bytes;

use crate::{Event, Origin, Position};

const VERSION: u8 = 1;

/// Why stored bytes are not an event.
#[derive(Debug, thiserror::Error)]
#[error("stored event is malformed: {0}")]
pub struct Malformed(&'static str);

/// Appends `event`'s binary form to `out`.
pub fn write(event: &Event, out: &mut Vec<u8>) {
    out.push(VERSION);
    let len_at = out.len();
    out.extend_from_slice(&[0; 4]);
    event.write_json(out);
    let len = u32::try_from(out.len() - len_at - 4).unwrap_or(u32::MAX);
    out[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
    let Some(origin) = event.origin() else {
        out.push(0);
        return;
    };
    out.push(1);
    put_str(out, &origin.source);
    match &origin.position {
        Position::None => out.push(0),
        Position::Line { path, line, offset } => {
            out.push(1);
            put_str(out, path);
            out.extend_from_slice(&line.to_le_bytes());
            out.extend_from_slice(&offset.to_le_bytes());
        }
        Position::Sequence(n) => {
            out.push(2);
            out.extend_from_slice(&n.to_le_bytes());
        }
        Position::Offset {
            topic,
            partition,
            offset,
        } => {
            out.push(3);
            put_str(out, topic);
            out.extend_from_slice(&partition.to_le_bytes());
            out.extend_from_slice(&offset.to_le_bytes());
        }
        Position::Message { subject, sequence } => {
            out.push(4);
            put_str(out, subject);
            out.extend_from_slice(&sequence.to_le_bytes());
        }
        Position::Entry { stream, id } => {
            out.push(5);
            put_str(out, stream);
            put_str(out, id);
        }
    }
    match origin
        .trace
        .as_deref()
        .and_then(sluice_core::trace::traceparent)
    {
        Some(parent) => {
            out.push(1);
            put_str(out, &parent);
        }
        None => out.push(0),
    }
}

fn put_str(out: &mut Vec<u8>, text: &str) {
    let len = u32::try_from(text.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(text.as_bytes());
}

/// Reads back an event written by [`write`].
pub fn read(bytes: &[u8]) -> Result<Event, Malformed> {
    let mut r = Reader(bytes);
    if r.u8()? != VERSION {
        return Err(Malformed("unknown version"));
    }
    let json = r.take_len()?;
    let event = Event::from_json_bytes(Bytes::copy_from_slice(json));
    if r.u8()? == 0 {
        return Ok(event);
    }
    let source: Arc<str> = r.str()?.into();
    let position = match r.u8()? {
        0 => Position::None,
        1 => Position::Line {
            path: r.str()?.into(),
            line: r.u64()?,
            offset: r.u64()?,
        },
        2 => Position::Sequence(r.u64()?),
        3 => Position::Offset {
            topic: r.str()?.into(),
            partition: i32::from_le_bytes(r.array()?),
            offset: i64::from_le_bytes(r.array()?),
        },
        4 => Position::Message {
            subject: r.str()?.into(),
            sequence: r.u64()?,
        },
        5 => Position::Entry {
            stream: r.str()?.into(),
            id: r.str()?.into(),
        },
        _ => return Err(Malformed("unknown position")),
    };
    let trace = match r.u8()? {
        0 => None,
        _ => sluice_core::trace::parse(r.str()?).map(Box::new),
    };
    Ok(event.with_origin(Arc::new(Origin {
        source,
        position,
        trace,
    })))
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        if self.0.len() < n {
            return Err(Malformed("cut short"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Malformed> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, Malformed> {
        Ok(self.array::<1>()?[0])
    }

    fn u64(&mut self) -> Result<u64, Malformed> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn take_len(&mut self) -> Result<&'a [u8], Malformed> {
        let len = u32::from_le_bytes(self.array()?) as usize;
        self.take(len)
    }

    fn str(&mut self) -> Result<&'a str, Malformed> {
        std::str::from_utf8(self.take_len()?).map_err(|_| Malformed("text is not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(event: &Event) -> Event {
        let mut out = Vec::new();
        write(event, &mut out);
        read(&out).expect("reads back")
    }

    #[test]
    fn events_read_back_with_their_origin() {
        let value = serde_json::json!({"id": 7, "name": "ünï"});
        let positions = [
            Position::None,
            Position::Line {
                path: "/tmp/in.jsonl".into(),
                line: 3,
                offset: 99,
            },
            Position::Sequence(12),
            Position::Offset {
                topic: "orders".into(),
                partition: -1,
                offset: 1 << 40,
            },
            Position::Message {
                subject: "q".into(),
                sequence: 5,
            },
            Position::Entry {
                stream: "s".into(),
                id: "1-0".into(),
            },
        ];
        for position in positions {
            let origin = Arc::new(Origin {
                source: "src".into(),
                position,
                trace: None,
            });
            let event = Event::new(value.clone()).with_origin(Arc::clone(&origin));
            let back = round_trip(&event);
            assert_eq!(back.value(), &value);
            assert_eq!(back.origin(), Some(&*origin));
        }
        assert_eq!(round_trip(&Event::new(value)).origin(), None);
    }

    #[test]
    fn malformed_bytes_are_refused() {
        let mut out = Vec::new();
        write(&Event::new(serde_json::json!([1, 2])), &mut out);
        assert!(read(&out[..out.len() - 1]).is_err());
        out[0] = 9;
        assert!(read(&out).is_err());
    }
}
