//! Disk buffers in front of sinks: events are acknowledged upstream once they are synced to a
//! buffer on disk, then delivered to the sink from there and removed once final.
//!
//! A sink with a buffer holds back nobody else while the buffer has room: the stage writing
//! the buffer takes events as fast as the disk syncs them, whatever the sink does. When the
//! buffer is full it either waits (`block`, the default: backpressure reaches the sources) or
//! drops the newest events (`drop_newest`, counted and logged).
//!
//! In a pipeline the buffer is two stages: `SINK.buffer` writes the events (a sink of the
//! engine, so an event counts as delivered upstream only once synced), and `SINK.buffer.out`
//! reads them back (a source of the engine, whose tokens finish records in the buffer). A
//! restart resumes from the first record not yet final. The file layout and how damage is
//! found are in [`disk`]'s docs: a torn or corrupt stretch is cut or skipped, counted in
//! `sluice_buffer_lost_events_total` and logged, never a crash.

mod disk;
mod record;

use std::collections::VecDeque;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use metrics::{Counter, Gauge};
use sluice_core::{AckToken, Acked, Backoff, BoxError, Flow, Operators, Retry, Sink, WriteError};
use sluice_event::{Event, stored};

use disk::{Cursor, Files};
use record::{HEADER, Parsed};

/// What a full buffer does with new events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WhenFull {
    /// Wait for room: the stages before it wait too, back to the sources.
    #[default]
    Block,
    /// Drop the events that do not fit (they count as delivered upstream), counting them in
    /// `sluice_buffer_discarded_events_total`.
    DropNewest,
}

/// A disk buffer's settings.
#[derive(Debug, Clone)]
pub struct DiskBuffer {
    /// The directory of its files, created if needed; one process at a time may use it.
    pub path: PathBuf,
    /// The most bytes its files may hold (at least 1 MiB is sensible).
    pub max_size: u64,
    /// What it does when full.
    pub when_full: WhenFull,
}

/// Most bytes read from a segment at once (a larger record is read whole).
const CHUNK: usize = 1 << 20;

/// Puts the disk buffer `config` in front of the sink called `sink`: returns the flow of the
/// buffered events, to give to the sink.
///
/// # Errors
/// When the buffer's directory cannot be created or read, or another process holds it.
pub fn disk_buffer(
    input: Flow<Event>,
    sink: &str,
    config: &DiskBuffer,
) -> Result<Flow<Event>, BoxError> {
    let pipeline = input.pipeline().clone();
    let (files, recovery) = Files::open(&config.path, config.max_size)
        .map_err(|err| format!("disk buffer {}: {err}", config.path.display()))?;
    let files = Arc::new(files);
    let metrics = Metrics::new(pipeline.name(), sink, config.max_size);
    let place = config.path.display().to_string();
    if recovery.cut_bytes > 0 {
        metrics.lost.increment(recovery.cut_records);
        tracing::error!(
            sink,
            buffer = %place,
            bytes = recovery.cut_bytes,
            lost = recovery.cut_records,
            "cut a torn or corrupt tail off the disk buffer: {} damaged record(s) lost",
            recovery.cut_records,
        );
    }
    if recovery.position_lost {
        tracing::warn!(sink, buffer = %place, "the disk buffer's position is missing or unreadable: delivering again from its oldest record");
    }
    let (head, next_seq) = files.head();
    let file = File::options()
        .read(true)
        .write(true)
        .open(files.segment_path(head.segment))
        .map_err(|err| format!("disk buffer {place}: {err}"))?;
    metrics.show(&files);
    let writer = Writer {
        files: Arc::clone(&files),
        file: Arc::new(file),
        head,
        next_seq,
        when_full: config.when_full,
        buf: Vec::new(),
        metrics: metrics.clone(),
        warned: None,
    };
    input
        .stage(format!("{sink}.buffer"))
        .retry(Retry::forever().backoff(Backoff::exponential(
            Duration::from_millis(10),
            Duration::from_secs(5),
        )))
        .sink(writer);
    // The finished place is written as records finish, at most every 100 ms; this writes the
    // last move of a burst too, until the buffer is dropped.
    let saver = Arc::downgrade(&files);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(disk::SAVE_EVERY).await;
            match saver.upgrade() {
                Some(files) => files.save_if_moved(),
                None => return,
            }
        }
    });
    let (at, expected) = files.start();
    let reader = Reader {
        files,
        at,
        expected: (!recovery.position_lost).then_some(expected),
        ordinal: 0,
        want: CHUNK,
        ready: VecDeque::new(),
        metrics,
        place,
    };
    let events = futures::stream::unfold(reader, |mut reader| async move {
        let next = reader.next().await?;
        Some((next, reader))
    });
    Ok(pipeline
        .source(format!("{sink}.buffer.out"))
        .from_acked_stream(events))
}

/// The buffer's metrics, labelled with the pipeline and the sink.
#[derive(Clone)]
struct Metrics {
    events: Gauge,
    bytes: Gauge,
    discarded: Counter,
    lost: Counter,
}

impl Metrics {
    fn new(pipeline: &str, sink: &str, max_size: u64) -> Metrics {
        let labels = [
            ("pipeline", pipeline.to_owned()),
            ("component", sink.to_owned()),
        ];
        metrics::gauge!("sluice_buffer_max_bytes", &labels).set(max_size as f64);
        Metrics {
            events: metrics::gauge!("sluice_buffer_events", &labels),
            bytes: metrics::gauge!("sluice_buffer_bytes", &labels),
            discarded: metrics::counter!("sluice_buffer_discarded_events_total", &labels),
            lost: metrics::counter!("sluice_buffer_lost_events_total", &labels),
        }
    }

    fn show(&self, files: &Files) {
        self.events.set(files.events() as f64);
        self.bytes.set(files.size() as f64);
    }
}

/// The stage that writes events into the buffer.
struct Writer {
    files: Arc<Files>,
    file: Arc<File>,
    /// Where the next record goes, and its number.
    head: Cursor,
    next_seq: u64,
    when_full: WhenFull,
    buf: Vec<u8>,
    metrics: Metrics,
    /// When dropping events was last logged.
    warned: Option<Instant>,
}

impl Writer {
    /// Bytes that may be added now, and whether the buffer holds nothing unfinished (then a
    /// write too large for the room goes in anyway: waiting would not make more).
    fn room(&self) -> (u64, bool) {
        let free = self.files.max_size.saturating_sub(self.files.size());
        (free, self.files.events() == 0)
    }

    async fn wait_for_room(&self, bytes: usize) {
        loop {
            let freed = self.files.freed.notified();
            let mut freed = std::pin::pin!(freed);
            freed.as_mut().enable();
            let (free, empty) = self.room();
            if bytes as u64 <= free || empty {
                return;
            }
            // Removals wake it; the timer covers a reader that finished records without
            // removing a segment.
            let _ = tokio::time::timeout(Duration::from_millis(100), freed).await;
        }
    }
}

impl Sink<Event> for Writer {
    async fn write(&mut self, events: &[Event]) -> Result<(), WriteError> {
        self.buf.clear();
        // Dropping decides per event against the room when the batch starts.
        let room = (self.when_full == WhenFull::DropNewest).then(|| self.room());
        let mut records = 0;
        for event in events {
            let before = self.buf.len();
            record::encode(self.next_seq + records, &mut self.buf, |out| {
                stored::write(event, out);
            });
            // Into an empty buffer, the first record always goes.
            let over = room.is_some_and(|(free, empty)| {
                self.buf.len() as u64 > free && !(empty && records == 0)
            });
            if over {
                self.buf.truncate(before);
                let dropped = events.len() as u64 - records;
                self.metrics.discarded.increment(dropped);
                if self
                    .warned
                    .is_none_or(|at| at.elapsed() >= Duration::from_secs(1))
                {
                    self.warned = Some(Instant::now());
                    tracing::warn!(
                        buffer = %self.files.segment_path(self.head.segment).display(),
                        dropped,
                        "disk buffer full: dropping the newest events"
                    );
                }
                break;
            }
            records += 1;
        }
        if self.buf.is_empty() {
            return Ok(());
        }
        if self.when_full == WhenFull::Block {
            self.wait_for_room(self.buf.len()).await;
        }
        if self.head.offset > 0
            && self.head.offset + self.buf.len() as u64 > self.files.segment_size
        {
            let next = self.head.segment + 1;
            let file = self
                .files
                .add_segment(next)
                .map_err(|err| WriteError::Batch(err.into()))?;
            self.file = Arc::new(file);
            self.head = Cursor {
                segment: next,
                offset: 0,
            };
        }
        let (file, offset) = (Arc::clone(&self.file), self.head.offset);
        let buf = std::mem::take(&mut self.buf);
        let (buf, result) = tokio::task::spawn_blocking(move || {
            let result = file
                .write_all_at(&buf, offset)
                .and_then(|()| file.sync_data());
            if result.is_err() {
                // A part written would be read as records at the next start.
                let _ = file.set_len(offset);
            }
            (buf, result)
        })
        .await
        .map_err(|err| WriteError::Batch(err.into()))?;
        result.map_err(|err| WriteError::Batch(err.into()))?;
        let len = buf.len() as u64;
        self.buf = buf;
        self.head.offset += len;
        self.next_seq += records;
        self.files.synced(self.head, records, len);
        self.metrics.show(&self.files);
        Ok(())
    }
}

impl Drop for Writer {
    /// The writer is dropped when its input has ended (or the stage was aborted): the reader
    /// ends once it has read what was written.
    fn drop(&mut self) {
        self.files.close();
    }
}

/// The source that reads events back out of the buffer.
struct Reader {
    files: Arc<Files>,
    /// The next byte to read.
    at: Cursor,
    /// The number the next record should have, when known.
    expected: Option<u64>,
    /// The next record's place in reading order.
    ordinal: u64,
    /// Bytes to read next (more than a chunk for a large record).
    want: usize,
    ready: VecDeque<Acked<Event>>,
    metrics: Metrics,
    place: String,
}

impl Reader {
    async fn next(&mut self) -> Option<Acked<Event>> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(event);
            }
            if !self.fill().await {
                return None;
            }
        }
    }

    /// Reads the next records; false once the writer is done and everything is read.
    async fn fill(&mut self) -> bool {
        let files = Arc::clone(&self.files);
        loop {
            let written = files.written.notified();
            let mut written = std::pin::pin!(written);
            written.as_mut().enable();
            let (durable, closed) = self.files.durable();
            let end = self.files.synced_len(self.at.segment);
            if self.at.offset >= end {
                if self.at.segment < durable.segment
                    && let Some(next) = self.files.next_segment(self.at.segment)
                {
                    self.at = Cursor {
                        segment: next,
                        offset: 0,
                    };
                    continue;
                }
                if closed {
                    return false;
                }
                written.await;
                continue;
            }
            let len = (end - self.at.offset).min(self.want as u64) as usize;
            let path = self.files.segment_path(self.at.segment);
            let offset = self.at.offset;
            let read = tokio::task::spawn_blocking(move || disk::read_at(&path, offset, len)).await;
            match read {
                Ok(Ok(bytes)) if !bytes.is_empty() => self.take(&bytes, end),
                Ok(Ok(_)) => {
                    self.skipped(end - self.at.offset, "a segment shorter than written");
                    self.at.offset = end;
                }
                Ok(Err(err)) => {
                    tracing::error!(buffer = %self.place, segment = self.at.segment, %err, "cannot read the disk buffer; trying again");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(err) => {
                    tracing::error!(buffer = %self.place, %err, "the disk buffer's read failed");
                    return false;
                }
            }
            self.metrics.show(&self.files);
            if !self.ready.is_empty() {
                return true;
            }
        }
    }

    /// Takes the records in `bytes`, read at `self.at`; the segment is synced up to `end`.
    fn take(&mut self, bytes: &[u8], end: u64) {
        let start = self.at.offset;
        let mut pos = 0;
        self.want = CHUNK;
        while pos < bytes.len() {
            let left = end - (start + pos as u64);
            match record::parse(&bytes[pos..]) {
                Parsed::Record { seq, payload, size } => {
                    pos += size;
                    self.at.offset = start + pos as u64;
                    self.record(seq, payload);
                }
                Parsed::Incomplete { need } if need.unwrap_or(HEADER) as u64 <= left => {
                    // The rest of the record is past what was read.
                    self.want = self.want.max(need.unwrap_or(HEADER));
                    return;
                }
                Parsed::Incomplete { .. } | Parsed::Corrupt => {
                    let skip = record::resync(&bytes[pos..]).unwrap_or_else(|| {
                        if start + bytes.len() as u64 >= end {
                            bytes.len() - pos
                        } else {
                            // Keep what may be the start of a record cut by the read.
                            (bytes.len() - pos).saturating_sub(HEADER - 1).max(1)
                        }
                    });
                    pos += skip;
                    self.at.offset = start + pos as u64;
                    self.skipped(skip as u64, "corrupt bytes");
                }
            }
        }
    }

    /// A whole record: its event is handed out with a token that finishes it.
    fn record(&mut self, seq: u64, payload: &[u8]) {
        if let Some(expected) = self.expected
            && seq > expected
        {
            self.lost(seq - expected, "records missing from the disk buffer");
        }
        self.expected = Some(seq + 1);
        let (ordinal, end) = (self.ordinal, self.at);
        self.ordinal += 1;
        match stored::read(payload) {
            Ok(event) => {
                let files = Arc::clone(&self.files);
                let token = AckToken::new(move |outcome| {
                    if outcome.is_final() {
                        files.finish(ordinal, seq, end);
                    }
                });
                self.ready.push_back(Acked::new(event, token));
            }
            Err(err) => {
                self.lost(1, &err.to_string());
                self.files.finish(ordinal, seq, end);
            }
        }
    }

    fn skipped(&self, bytes: u64, why: &str) {
        tracing::error!(buffer = %self.place, segment = self.at.segment, bytes, "skipped {why} in the disk buffer");
    }

    fn lost(&self, records: u64, why: &str) {
        self.metrics.lost.increment(records);
        tracing::error!(buffer = %self.place, lost = records, "{records} record(s) lost from the disk buffer: {why}");
    }
}

#[cfg(test)]
mod tests;
