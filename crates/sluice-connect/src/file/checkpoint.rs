//! File checkpoints: how far each file has been *finished*, so a restart resumes there.
//!
//! Lines are read in chunks, cut into groups of at most [`GROUP`] lines; each group's lines
//! share one acknowledgement token. A group counts once every line of it has a final outcome
//! (delivered, filtered, dead-lettered or rejected). The checkpoint of a file is the end of the
//! longest run of counted groups from where reading began, so a line is never skipped on
//! restart: at worst a group is read again. The file is written atomically (a temporary file
//! renamed over it) at most once per `interval` and when the last token is done.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sluice_core::AckToken;

/// The most lines that share a token: what a restart reads again, at most, beyond the lines
/// that were not finished.
pub(crate) const GROUP: usize = 64;

/// How far one file has been finished.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Mark {
    /// Bytes finished.
    pub(crate) offset: u64,
    /// Lines finished.
    pub(crate) line: u64,
}

#[derive(Serialize, Deserialize, Default)]
struct Saved {
    files: BTreeMap<String, Mark>,
}

#[derive(Default)]
struct FileState {
    committed: Mark,
    /// Chunks read but not finished: start offset → (end mark, finished?).
    inflight: BTreeMap<u64, (Mark, bool)>,
}

struct State {
    files: HashMap<String, FileState>,
    dirty: bool,
    last_write: Instant,
    /// The least time between two writes.
    interval: Duration,
}

/// The checkpoints of one source, shared by its reader and its tokens.
pub(crate) struct Checkpoints {
    path: PathBuf,
    state: Mutex<State>,
}

impl Checkpoints {
    /// Loads `path` (a missing file means nothing is finished yet); it is written at most once
    /// per `interval`.
    pub(crate) fn load(path: &Path, interval: Duration) -> std::io::Result<Arc<Checkpoints>> {
        let saved = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice::<Saved>(&bytes).map_err(std::io::Error::other)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Saved::default(),
            Err(e) => return Err(e),
        };
        let files = saved
            .files
            .into_iter()
            .map(|(file, committed)| {
                let state = FileState {
                    committed,
                    inflight: BTreeMap::new(),
                };
                (file, state)
            })
            .collect();
        Ok(Arc::new(Checkpoints {
            path: path.to_owned(),
            state: Mutex::new(State {
                files,
                dirty: false,
                last_write: Instant::now(),
                interval,
            }),
        }))
    }

    /// Where to start reading `file`.
    pub(crate) fn start(&self, file: &str) -> Mark {
        self.lock()
            .files
            .get(file)
            .map(|f| f.committed)
            .unwrap_or_default()
    }

    /// Forgets progress on `file` (it was truncated or replaced).
    pub(crate) fn reset(&self, file: &str) {
        let mut state = self.lock();
        state.files.insert(file.to_owned(), FileState::default());
        state.dirty = true;
    }

    /// A token for the group of lines of `file` from `start` to `end`: the checkpoint passes `end` once
    /// every holder of it is done.
    pub(crate) fn chunk(self: &Arc<Self>, file: &Arc<str>, start: u64, end: Mark) -> AckToken {
        self.lock()
            .files
            .entry(file.to_string())
            .or_default()
            .inflight
            .insert(start, (end, false));
        let this = Arc::clone(self);
        let file = Arc::clone(file);
        AckToken::new(move |outcome| {
            if outcome.is_final() {
                this.finished(&file, start);
            } else {
                tracing::debug!(%file, start, %outcome, "chunk not finished: it will be read again");
            }
        })
    }

    fn finished(&self, file: &str, start: u64) {
        let mut state = self.lock();
        let Some(f) = state.files.get_mut(file) else {
            return;
        };
        if let Some(entry) = f.inflight.get_mut(&start) {
            entry.1 = true;
        }
        let mut moved = false;
        while let Some(first) = f.inflight.first_entry() {
            if !first.get().1 {
                break;
            }
            f.committed = first.remove().0;
            moved = true;
        }
        if moved {
            state.dirty = true;
            if state.last_write.elapsed() >= state.interval {
                self.write(&mut state);
            }
        }
    }

    /// Writes the checkpoints if anything changed.
    pub(crate) fn flush(&self) {
        let mut state = self.lock();
        self.write(&mut state);
    }

    fn write(&self, state: &mut State) {
        if !state.dirty {
            return;
        }
        let saved = Saved {
            files: state
                .files
                .iter()
                .map(|(k, f)| (k.clone(), f.committed))
                .collect(),
        };
        let tmp = self.path.with_extension("tmp");
        let result = serde_json::to_vec_pretty(&saved)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&tmp, bytes))
            .and_then(|()| std::fs::rename(&tmp, &self.path));
        match result {
            Ok(()) => {
                state.dirty = false;
                state.last_write = Instant::now();
            }
            Err(err) => {
                tracing::error!(path = %self.path.display(), %err, "cannot write checkpoint");
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for Checkpoints {
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_core::Outcome;

    #[test]
    fn commits_only_contiguous_finished_chunks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cp.json");
        let cp = Checkpoints::load(&path, Duration::from_secs(1)).expect("load");
        let file: Arc<str> = Arc::from("a.log");
        let first = cp.chunk(
            &file,
            0,
            Mark {
                offset: 10,
                line: 2,
            },
        );
        let second = cp.chunk(
            &file,
            10,
            Mark {
                offset: 25,
                line: 5,
            },
        );
        let third = cp.chunk(
            &file,
            25,
            Mark {
                offset: 40,
                line: 7,
            },
        );
        second.complete(Outcome::Delivered);
        assert_eq!(
            cp.start("a.log"),
            Mark::default(),
            "the first chunk is not finished"
        );
        first.complete(Outcome::Filtered);
        assert_eq!(
            cp.start("a.log"),
            Mark {
                offset: 25,
                line: 5
            }
        );
        drop(third);
        assert_eq!(
            cp.start("a.log"),
            Mark {
                offset: 25,
                line: 5
            },
            "unfinished chunks hold it back"
        );
        cp.flush();
        let again = Checkpoints::load(&path, Duration::from_secs(1)).expect("reload");
        assert_eq!(
            again.start("a.log"),
            Mark {
                offset: 25,
                line: 5
            }
        );
    }
}
