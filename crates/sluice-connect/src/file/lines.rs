//! Splitting a byte stream into lines without copying them, for the file and stdin sources.

use std::io::{self, Read};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use sluice_core::{AckToken, Acked};

use sluice_event::codec::Record;
use sluice_event::{Origin, Position};

/// How much to read at once.
const CHUNK: usize = 256 * 1024;

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
}

/// Reads chunks and cuts them into lines; a partial last line waits for the rest.
pub(crate) struct LineReader {
    buf: BytesMut,
    /// Stream offset of `buf[0]`.
    offset: u64,
    number: u64,
}

impl LineReader {
    /// A reader positioned at `offset` (bytes already consumed) on line `number + 1`.
    pub(crate) fn new(offset: u64, number: u64) -> LineReader {
        LineReader {
            buf: BytesMut::with_capacity(CHUNK),
            offset,
            number,
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
        Ok(n)
    }

    /// Emits what is left as a last line without a line break (at the real end of input).
    pub(crate) fn finish(&mut self, out: &mut Vec<Line>) {
        if !self.buf.is_empty() {
            let mut line = self.buf.split().freeze();
            self.emit(&mut line, out);
        }
    }

    /// Bytes of a partial line waiting for its end.
    #[cfg(test)]
    pub(crate) fn pending(&self) -> usize {
        self.buf.len()
    }

    fn emit(&mut self, line: &mut Bytes, out: &mut Vec<Line>) {
        let len = line.len() as u64;
        let offset = self.offset;
        self.offset += len;
        self.number += 1;
        let mut bytes = line.clone();
        if bytes.last() == Some(&b'\n') {
            bytes.truncate(bytes.len() - 1);
        }
        if bytes.last() == Some(&b'\r') {
            bytes.truncate(bytes.len() - 1);
        }
        out.push(Line {
            bytes,
            offset,
            end: self.offset,
            number: self.number,
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
            });
            let record = Record {
                bytes: line.bytes,
                origin,
                header: header.cloned(),
                refused: None,
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
        let mut reader = LineReader::new(0, 0);
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
    fn the_last_line_needs_no_break() {
        let mut reader = LineReader::new(0, 0);
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
