//! Splitting a byte stream into lines without copying them, for the file and stdin sources.

use std::io::{self, Read};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use sluice_core::trace::{self, KeyValue, SpanKind};
use sluice_core::{AckToken, Acked};

use sluice_event::codec::Record;
use sluice_event::{Origin, Position};

/// How much to read at once.
const CHUNK: usize = 256 * 1024;

/// The longest line a source takes by default: 1 MiB.
pub(crate) const MAX_LINE_SIZE: usize = 1024 * 1024;

/// How much of a line over the limit its dead-letter record keeps.
const KEPT: usize = 1024;

/// A line and where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    /// The bytes, without `\n` (or `\r\n`).
    pub(crate) bytes: Bytes,
    /// Byte offset of the line's start in the stream.
    pub(crate) offset: u64,
    /// Offset just past the line break: where reading resumes after this line.
    pub(crate) end: u64,
    /// Line number, from 1.
    pub(crate) number: u64,
    /// Why the line is refused (it is longer than the limit; `bytes` holds its start).
    pub(crate) refused: Option<Arc<str>>,
}

/// Reads chunks and cuts them into lines; a partial last line waits for the rest. A line longer
/// than the limit is not held in memory: its start is kept, the rest skipped up to its line
/// break, and it comes out refused.
pub(crate) struct LineReader {
    buf: BytesMut,
    /// Stream offset of `buf[0]`.
    offset: u64,
    number: u64,
    max: usize,
    /// The start and the length so far of a line over the limit, being skipped.
    oversized: Option<(Bytes, u64)>,
}

impl LineReader {
    /// A reader positioned at `offset` (bytes already consumed) on line `number + 1`, taking
    /// lines of at most `max` bytes.
    pub(crate) fn new(offset: u64, number: u64, max: usize) -> LineReader {
        LineReader {
            buf: BytesMut::with_capacity(CHUNK.min(max.saturating_add(1))),
            offset,
            number,
            max,
            oversized: None,
        }
    }

    /// Reads one chunk and appends the complete lines to `out`. Returns the bytes read: zero
    /// at the end of the stream (for now: a growing file may have more later).
    pub(crate) fn read(&mut self, from: &mut impl Read, out: &mut Vec<Line>) -> io::Result<usize> {
        let start = self.buf.len();
        self.buf.resize(start + CHUNK, 0);
        let n = loop {
            match from.read(&mut self.buf[start..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.buf.truncate(start);
                    return Err(e);
                }
            }
        };
        self.buf.truncate(start + n);
        let mut scanned = start;
        while let Some(at) = memchr::memchr(b'\n', &self.buf[scanned..]) {
            let cut = scanned + at;
            let mut line = self.buf.split_to(cut + 1).freeze();
            scanned = 0;
            self.emit(&mut line, out);
        }
        self.skip_oversized();
        Ok(n)
    }

    /// Emits what is left as a last line without a line break (at the real end of input).
    pub(crate) fn finish(&mut self, out: &mut Vec<Line>) {
        if !self.buf.is_empty() || self.oversized.is_some() {
            let mut line = self.buf.split().freeze();
            self.emit(&mut line, out);
        }
    }

    /// Drops the bytes of a partial line once it is over the limit, keeping its start.
    fn skip_oversized(&mut self) {
        if self.oversized.is_none() && self.buf.len() <= self.max {
            return;
        }
        let skipped = self.buf.split().freeze();
        let (_, len) = self
            .oversized
            .get_or_insert_with(|| (skipped.slice(..KEPT.min(skipped.len())), 0));
        *len += skipped.len() as u64;
    }

    /// Bytes of a partial line waiting for its end.
    #[cfg(test)]
    pub(crate) fn pending(&self) -> usize {
        self.buf.len()
    }

    fn emit(&mut self, line: &mut Bytes, out: &mut Vec<Line>) {
        let skipped = self.oversized.take();
        let before = skipped.as_ref().map_or(0, |(_, len)| *len);
        let offset = self.offset;
        self.offset += before + line.len() as u64;
        self.number += 1;
        let mut bytes = line.clone();
        if bytes.last() == Some(&b'\n') {
            bytes.truncate(bytes.len() - 1);
        }
        if bytes.last() == Some(&b'\r') {
            bytes.truncate(bytes.len() - 1);
        }
        let size = before + bytes.len() as u64;
        let refused = (size > self.max as u64).then(|| {
            Arc::from(format!(
                "a line of {size} bytes is longer than `max_line_size` ({} bytes); its first \
                 {KEPT} bytes are kept here",
                self.max
            ))
        });
        if refused.is_some() {
            bytes = match skipped {
                Some((start, _)) if !start.is_empty() => start,
                _ => bytes.slice(..KEPT.min(bytes.len())),
            };
        }
        out.push(Line {
            bytes,
            offset,
            end: self.offset,
            number: self.number,
            refused,
        });
    }
}

/// Records for `lines` of `path`, each holding a share of `token`.
pub(crate) fn to_records(
    lines: Vec<Line>,
    source: &Arc<str>,
    path: &Arc<str>,
    header: Option<&Arc<[String]>>,
    token: &AckToken,
) -> Vec<Acked<Record>> {
    lines
        .into_iter()
        .map(|line| {
            let origin = Arc::new(Origin {
                source: Arc::clone(source),
                position: Position::Line {
                    path: Arc::clone(path),
                    line: line.number,
                    offset: line.offset,
                },
                trace: trace::receive(
                    source,
                    SpanKind::Internal,
                    || None,
                    || {
                        vec![
                            KeyValue::new("file.path", path.to_string()),
                            KeyValue::new("sluice.line", line.number as i64),
                        ]
                    },
                ),
            });
            let record = Record {
                bytes: line.bytes,
                origin,
                header: header.cloned(),
                refused: line.refused,
            };
            Acked::new(record, token.clone())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_lines_and_keeps_partial_ones_for_later() {
        let mut reader = LineReader::new(0, 0, MAX_LINE_SIZE);
        let mut out = Vec::new();
        let mut input: &[u8] = b"one\r\ntwo\nthr";
        reader.read(&mut input, &mut out).expect("read");
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].bytes, Bytes::from_static(b"two"));
        assert_eq!((out[1].offset, out[1].end, out[1].number), (5, 9, 2));
        assert_eq!(reader.pending(), 3);
        let mut more: &[u8] = b"ee\n";
        reader.read(&mut more, &mut out).expect("read");
        assert_eq!(out[2].bytes, Bytes::from_static(b"three"));
        assert_eq!(out[2].offset, 9);
        reader.finish(&mut out);
        assert_eq!(out.len(), 3, "nothing left over");
    }

    #[test]
    fn lines_over_the_limit_are_refused_without_being_held() {
        let mut reader = LineReader::new(0, 0, 8);
        let mut out = Vec::new();
        let long = vec![b'x'; 5000];
        let mut input: &[u8] = b"short\n";
        reader.read(&mut input, &mut out).expect("read");
        for _ in 0..3 {
            let mut part: &[u8] = &long;
            reader.read(&mut part, &mut out).expect("read");
            assert!(reader.pending() <= 8, "the long line is not kept whole");
        }
        let mut rest: &[u8] = b"yy\nok\n12345678\n123456789";
        reader.read(&mut rest, &mut out).expect("read");
        reader.finish(&mut out);
        let seen: Vec<(u64, usize, bool)> = out
            .iter()
            .map(|l| (l.number, l.bytes.len(), l.refused.is_some()))
            .collect();
        assert_eq!(
            seen,
            vec![
                (1, 5, false),
                (2, KEPT, true),
                (3, 2, false),
                (4, 8, false),
                (5, 9, true)
            ]
        );
        assert_eq!((out[1].offset, out[1].end), (6, 6 + 15_003));
        assert_eq!(out[2].offset, 6 + 15_003);
        let reason = out[1].refused.as_deref().unwrap_or_default();
        assert!(reason.starts_with("a line of 15002 bytes"), "{reason}");
    }

    #[test]
    fn the_last_line_needs_no_break() {
        let mut reader = LineReader::new(0, 0, MAX_LINE_SIZE);
        let mut out = Vec::new();
        let mut input: &[u8] = b"a\nb";
        reader.read(&mut input, &mut out).expect("read");
        reader.finish(&mut out);
        assert_eq!(
            out.iter().map(|l| l.bytes.clone()).collect::<Vec<_>>(),
            vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")]
        );
    }
}
