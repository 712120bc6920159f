//! The disk buffer's files: numbered segments of [records](super::record), the place up to
//! which every record is finished, and what a start finds there.
//!
//! ```text
//! DIR/lock                    held by the process using the buffer
//! DIR/position                "SEGMENT OFFSET SEQ": records before it are finished
//! DIR/00000000000000000007.seg records, appended; removed once every record in it is finished
//! ```
//!
//! The writer appends a batch's records to the last segment and syncs it (`fdatasync`) before
//! the batch counts as written; the reader reads records up to what is synced. Each record the
//! reader hands out has a token: when it is final the finished prefix moves on, the position is
//! written (within 100 ms, when segments are removed, and when the buffer is dropped) and whole
//! segments behind it are removed, which makes room for a writer waiting for it.
//!
//! At start, the last segment is read through: a torn or corrupt tail (the end of a write cut
//! by a crash, or damage) is cut off, counted and logged. Damage inside the buffer is found by
//! the reader, which skips to the next whole record and reports how many records were lost
//! (records are numbered without gaps).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

use super::record::{self, Parsed};

/// How often the finished place is written while it moves.
pub(crate) const SAVE_EVERY: Duration = Duration::from_millis(100);

/// A place in the buffer: a byte of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub(crate) struct Cursor {
    pub(crate) segment: u64,
    pub(crate) offset: u64,
}

/// What a start found wrong, for the log and the metrics.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Recovery {
    /// Bytes cut off the end of the last segment.
    pub(crate) cut_bytes: u64,
    /// Records whose header was readable in what was cut (written, perhaps acknowledged).
    pub(crate) cut_records: u64,
    /// Whether the position file was missing or unreadable (delivery restarts at the oldest
    /// segment).
    pub(crate) position_lost: bool,
}

/// The buffer's files and the state both ends share.
pub(crate) struct Files {
    dir: PathBuf,
    /// The lock on `DIR/lock`, held while the buffer is open.
    _lock: File,
    pub(crate) max_size: u64,
    pub(crate) segment_size: u64,
    state: Mutex<State>,
    /// Woken when more is synced, or the writer is done.
    pub(crate) written: Notify,
    /// Woken when segments are removed.
    pub(crate) freed: Notify,
}

#[derive(Debug)]
struct State {
    /// The end of what is synced.
    durable: Cursor,
    /// The number the next record written gets.
    next_seq: u64,
    /// The writer is done: nothing more will be synced.
    closed: bool,
    /// Each segment and its size in bytes.
    segments: BTreeMap<u64, u64>,
    /// Records before this place are finished, and `finished_seq` is the number of the first
    /// record after it.
    finished: Cursor,
    finished_seq: u64,
    /// The next record (in reading order) whose end moves `finished`, and those after it that
    /// are final already: their number and end.
    next_ordinal: u64,
    out_of_order: BTreeMap<u64, (u64, Cursor)>,
    /// The finished place moved since it was last written.
    dirty: bool,
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.seg"))
}

impl Files {
    /// Opens (creating it) the buffer in `dir`, finds what it holds and repairs its tail.
    pub(crate) fn open(dir: &Path, max_size: u64) -> io::Result<(Files, Recovery)> {
        fs::create_dir_all(dir)?;
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("lock"))?;
        lock.try_lock().map_err(|_| {
            io::Error::other(format!(
                "the buffer {} is in use by another process",
                dir.display()
            ))
        })?;
        let mut segments = BTreeMap::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(id) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".seg"))
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            segments.insert(id, entry.metadata()?.len());
        }
        let mut recovery = Recovery::default();
        let saved = read_position(dir);
        recovery.position_lost = saved.is_none() && !segments.is_empty();
        let first = segments.keys().next().copied().unwrap_or(0);
        let (mut finished, finished_seq) = saved.unwrap_or((
            Cursor {
                segment: first,
                offset: 0,
            },
            0,
        ));
        if !segments.contains_key(&finished.segment) {
            finished = Cursor {
                segment: segments
                    .range(finished.segment..)
                    .next()
                    .map_or(finished.segment, |(id, _)| *id),
                offset: 0,
            };
        }
        // Segments wholly behind the finished place are left over from a removal cut short.
        remove_behind(dir, &mut segments, finished.segment);
        let last = segments
            .keys()
            .next_back()
            .copied()
            .unwrap_or(finished.segment);
        let (end, last_seq) = repair_tail(dir, last, &mut recovery)?;
        segments.insert(last, end);
        let next_seq = last_seq.map_or(finished_seq, |s| s + 1);
        let durable = Cursor {
            segment: last,
            offset: end,
        };
        // A tail cut off may hold the finished place: what comes next is written there.
        let (finished, finished_seq) = if finished > durable {
            (durable, next_seq)
        } else {
            (finished, finished_seq)
        };
        let segment_size = (max_size / 8).clamp(64 << 10, 128 << 20);
        let files = Files {
            dir: dir.to_owned(),
            _lock: lock,
            max_size,
            segment_size,
            state: Mutex::new(State {
                durable,
                next_seq,
                closed: false,
                segments,
                finished,
                finished_seq,
                next_ordinal: 0,
                out_of_order: BTreeMap::new(),
                dirty: false,
            }),
            written: Notify::new(),
            freed: Notify::new(),
        };
        Ok((files, recovery))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The path of segment `id`.
    pub(crate) fn segment_path(&self, id: u64) -> PathBuf {
        segment_path(&self.dir, id)
    }

    /// The place writes go to, and the number of the next record.
    pub(crate) fn head(&self) -> (Cursor, u64) {
        let state = self.state();
        (state.durable, state.next_seq)
    }

    /// Bytes in the buffer's segments.
    pub(crate) fn size(&self) -> u64 {
        self.state().segments.values().sum()
    }

    /// Records written and not yet finished.
    pub(crate) fn events(&self) -> u64 {
        let state = self.state();
        state.next_seq.saturating_sub(state.finished_seq)
    }

    /// Where reading starts: the finished place, and the number of the record there.
    pub(crate) fn start(&self) -> (Cursor, u64) {
        let state = self.state();
        (state.finished, state.finished_seq)
    }

    /// Starts segment `id` (the writer moving on).
    pub(crate) fn add_segment(&self, id: u64) -> io::Result<File> {
        let file = File::options()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(self.segment_path(id))?;
        File::open(&self.dir)?.sync_all()?;
        self.state().segments.insert(id, 0);
        Ok(file)
    }

    /// Records `bytes` holding `records` records as synced, ending at `end`.
    pub(crate) fn synced(&self, end: Cursor, records: u64, bytes: u64) {
        {
            let mut state = self.state();
            state.durable = end;
            state.next_seq += records;
            *state.segments.entry(end.segment).or_default() += bytes;
        }
        self.written.notify_waiters();
    }

    /// The writer is done.
    pub(crate) fn close(&self) {
        self.state().closed = true;
        self.written.notify_waiters();
    }

    /// The end of what is synced, and whether the writer is done.
    pub(crate) fn durable(&self) -> (Cursor, bool) {
        let state = self.state();
        (state.durable, state.closed)
    }

    /// The segment after `id`, if there is one.
    pub(crate) fn next_segment(&self, id: u64) -> Option<u64> {
        self.state()
            .segments
            .range(id + 1..)
            .next()
            .map(|(id, _)| *id)
    }

    /// The size of segment `id` as far as it is synced.
    pub(crate) fn synced_len(&self, id: u64) -> u64 {
        let state = self.state();
        if state.durable.segment == id {
            state.durable.offset
        } else {
            state.segments.get(&id).copied().unwrap_or(0)
        }
    }

    /// Record `ordinal` (in reading order) is final: its number is `seq` and it ends at
    /// `end`. Moves the finished place over every record final in order, removes the segments
    /// left behind, and writes the position when it removed any.
    pub(crate) fn finish(&self, ordinal: u64, seq: u64, end: Cursor) {
        let mut state = self.state();
        if ordinal != state.next_ordinal {
            state.out_of_order.insert(ordinal, (seq, end));
            return;
        }
        let (mut seq, mut end) = (seq, end);
        loop {
            state.next_ordinal += 1;
            state.finished = end;
            state.finished_seq = seq + 1;
            let next = state.next_ordinal;
            match state.out_of_order.remove(&next) {
                Some((s, e)) => (seq, end) = (s, e),
                None => break,
            }
        }
        state.dirty = true;
        let finished = state.finished.segment;
        let removed = remove_behind(&self.dir, &mut state.segments, finished);
        // The place is written by a timer (see `disk_buffer`), and at once when segments go:
        // a start then finds no place in a segment that is gone.
        if removed {
            self.save(&mut state);
        }
        drop(state);
        if removed {
            self.freed.notify_waiters();
        }
    }

    /// Writes the finished place if it moved since it was last written.
    pub(crate) fn save_if_moved(&self) {
        let mut state = self.state();
        if state.dirty {
            self.save(&mut state);
        }
    }

    fn save(&self, state: &mut State) {
        state.dirty = false;
        let text = format!(
            "{} {} {}\n",
            state.finished.segment, state.finished.offset, state.finished_seq
        );
        let tmp = self.dir.join("position.tmp");
        let written =
            fs::write(&tmp, text).and_then(|()| fs::rename(&tmp, self.dir.join("position")));
        if let Err(err) = written {
            tracing::warn!(buffer = %self.dir.display(), %err, "cannot write the buffer's position");
        }
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.dirty {
            self.save(&mut state);
        }
    }
}

/// The finished place and record number written in `DIR/position`, if it reads.
fn read_position(dir: &Path) -> Option<(Cursor, u64)> {
    let text = fs::read_to_string(dir.join("position")).ok()?;
    let mut parts = text.split_whitespace().map(str::parse::<u64>);
    let segment = parts.next()?.ok()?;
    let offset = parts.next()?.ok()?;
    let seq = parts.next()?.ok()?;
    Some((Cursor { segment, offset }, seq))
}

/// Reads segment `id` through and cuts off a torn or corrupt tail: returns its length after
/// that and the number of its last whole record. Damage followed by a whole record is left for
/// the reader to skip and report.
fn repair_tail(dir: &Path, id: u64, recovery: &mut Recovery) -> io::Result<(u64, Option<u64>)> {
    let path = segment_path(dir, id);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            File::create(&path)?;
            return Ok((0, None));
        }
        Err(err) => return Err(err),
    };
    let mut at = 0;
    let mut last = None;
    while at < bytes.len() {
        match record::parse(&bytes[at..]) {
            Parsed::Record { seq, size, .. } => {
                last = Some(seq);
                at += size;
            }
            Parsed::Corrupt => match record::resync(&bytes[at..]) {
                Some(skip) => at += skip,
                None => break,
            },
            Parsed::Incomplete { .. } => break,
        }
    }
    if at < bytes.len() {
        let tail = &bytes[at..];
        recovery.cut_bytes = tail.len() as u64;
        recovery.cut_records = record::damaged(tail);
        File::options()
            .write(true)
            .open(&path)?
            .set_len(at as u64)?;
    }
    Ok((at as u64, last))
}

/// Removes the segments before `segment` (every record in them is finished); whether there
/// were any. A file that cannot be removed is logged and forgotten.
fn remove_behind(dir: &Path, segments: &mut BTreeMap<u64, u64>, segment: u64) -> bool {
    let behind: Vec<u64> = segments.range(..segment).map(|(id, _)| *id).collect();
    for id in &behind {
        segments.remove(id);
        if let Err(err) = fs::remove_file(segment_path(dir, *id)) {
            tracing::warn!(buffer = %dir.display(), segment = id, %err, "cannot remove a finished segment");
        }
    }
    !behind.is_empty()
}

/// Reads up to `len` bytes of segment `id` from `offset`.
pub(crate) fn read_at(path: &Path, offset: u64, len: usize) -> io::Result<Vec<u8>> {
    let file = File::open(path)?;
    let mut out = vec![0; len];
    let mut filled = 0;
    while filled < len {
        match file.read_at(&mut out[filled..], offset + filled as u64)? {
            0 => break,
            n => filled += n,
        }
    }
    out.truncate(filled);
    Ok(out)
}
