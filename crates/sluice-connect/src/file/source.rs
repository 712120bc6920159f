//! The `file` source: reads files matching a path or glob, line by line; optionally follows them
//! as they grow and as new ones appear, with a checkpoint so a restart resumes where it stopped.

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use sluice_core::{AckToken, Acked, BoxError};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::checkpoint::{Checkpoints, GROUP, Mark};
use crate::component::source::decoded;
use crate::component::{BuiltSource, Progress, Source, SourceContext, SourceError};
use crate::file::lines::{Line, LineReader, MAX_LINE_SIZE, to_records};
use sluice_event::codec::{Codec, Record};

/// Reads files line by line.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSource {
    /// A path or a glob pattern such as `logs/*.jsonl`; matching files are read in name order.
    pub path: String,
    /// How each line is decoded. Defaults to `json`.
    #[serde(default)]
    pub codec: Codec,
    /// The longest line taken; a longer one goes to the error output with its first KiB,
    /// without being held in memory. Defaults to `1MiB`.
    #[serde(
        default = "default_max_line_size",
        deserialize_with = "sluice_event::bytesize::deserialize"
    )]
    pub max_line_size: usize,
    /// Keep reading as files grow and as new matching files appear, until shutdown. Defaults to
    /// false (stop at the end of the files).
    #[serde(default)]
    pub follow: bool,
    /// A file recording how far each input file has been processed (every line of it
    /// delivered, filtered or dead-lettered); on start, reading resumes from there. Defaults to
    /// none (read from the beginning).
    #[serde(default)]
    pub checkpoint: Option<PathBuf>,
    /// The least time between two writes of the checkpoint: what a killed process reads again
    /// at most, beyond the lines it had not finished. Defaults to `1s`.
    #[serde(
        default = "default_checkpoint_interval",
        deserialize_with = "sluice_event::duration::deserialize"
    )]
    pub checkpoint_interval: Duration,
    /// How often a followed file is checked for more data. Defaults to 250ms.
    #[serde(
        default = "default_poll",
        deserialize_with = "sluice_event::duration::deserialize"
    )]
    pub poll_interval: Duration,
}

fn default_max_line_size() -> usize {
    MAX_LINE_SIZE
}

fn default_checkpoint_interval() -> Duration {
    Duration::from_secs(1)
}

fn default_poll() -> Duration {
    Duration::from_millis(250)
}

impl Source for FileSource {
    /// Starts reading (on a thread of its own) when the pipeline runs.
    fn build(&self, ctx: &SourceContext) -> Result<BuiltSource, BoxError> {
        let files = matching(&self.path)?;
        if files.is_empty() && !self.follow {
            return Err(SourceError::NoFiles(self.path.clone()).into());
        }
        let checkpoints =
            match &self.checkpoint {
                Some(path) => Some(Checkpoints::load(path, self.checkpoint_interval).map_err(
                    |e| SourceError::Checkpoint {
                        path: path.display().to_string(),
                        reason: e.to_string(),
                    },
                )?),
                None => None,
            };
        let progress = (!self.follow).then(|| {
            let total = files
                .iter()
                .map(|f| {
                    let size = std::fs::metadata(f).map_or(0, |m| m.len());
                    let start = checkpoints.as_ref().map_or(0, |c| c.start(&key(f)).offset);
                    size.saturating_sub(start)
                })
                .sum();
            Progress::new(total, "bytes")
        });
        let (tx, rx) = mpsc::channel(4);
        let reader = Reader {
            pattern: self.path.clone(),
            follow: self.follow,
            poll: self.poll_interval,
            codec: self.codec,
            max_line_size: self.max_line_size,
            source: Arc::from(ctx.name.as_str()),
            checkpoints,
            progress: progress.clone(),
            cancel: ctx.pipeline.cancel_token(),
            tx,
        };
        let name = ctx.name.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("sluice-{name}"))
            .spawn(move || reader.run(files));
        if let Err(err) = spawned {
            tracing::error!(source = %name, %err, "cannot start the file reader thread");
        }
        let (events, errors) = decoded(ctx, rx, self.codec, None);
        Ok(BuiltSource {
            events,
            errors,
            progress,
        })
    }
}

fn matching(pattern: &str) -> Result<Vec<PathBuf>, SourceError> {
    let paths = glob::glob(pattern).map_err(|e| SourceError::Pattern {
        pattern: pattern.to_owned(),
        reason: e.msg.to_owned(),
    })?;
    let mut files: Vec<PathBuf> = paths
        .filter_map(Result::ok)
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

/// The checkpoint key of a file: its absolute path when it can be had.
fn key(path: &Path) -> String {
    std::fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_owned())
        .display()
        .to_string()
}

/// One open input file.
struct Input {
    path: Arc<str>,
    key: Arc<str>,
    file: File,
    lines: LineReader,
    /// The file's size when last read; a smaller size means it was truncated.
    size: u64,
    header: Option<Arc<[String]>>,
}

/// The reader thread.
struct Reader {
    pattern: String,
    follow: bool,
    poll: Duration,
    codec: Codec,
    max_line_size: usize,
    source: Arc<str>,
    checkpoints: Option<Arc<Checkpoints>>,
    progress: Option<Progress>,
    cancel: CancellationToken,
    tx: mpsc::Sender<Vec<Acked<Record>>>,
}

impl Reader {
    fn run(self, files: Vec<PathBuf>) {
        let mut inputs: Vec<Input> = Vec::new();
        let mut known: Vec<PathBuf> = Vec::new();
        self.open_new(&mut inputs, &mut known, files);
        loop {
            if self.cancel.is_cancelled() {
                break;
            }
            let mut progressed = false;
            let mut i = 0;
            // Without following, files are read one after the other, in order; followed
            // files are read round-robin, a chunk each.
            let reading = if self.follow {
                inputs.len()
            } else {
                inputs.len().min(1)
            };
            while i < reading.min(inputs.len()) {
                match self.read_chunk(&mut inputs[i]) {
                    Ok(Some(0)) if !self.follow => {
                        let mut done = inputs.remove(i);
                        if !self.finish(&mut done) {
                            return;
                        }
                        continue;
                    }
                    Ok(Some(n)) => progressed |= n > 0,
                    Ok(None) => return,
                    Err(err) => {
                        tracing::error!(source = %self.source, file = %inputs[i].path, %err, "read failed; skipping the rest of this file");
                        inputs.remove(i);
                        continue;
                    }
                }
                i += 1;
            }
            if !self.follow && inputs.is_empty() {
                break;
            }
            if self.follow && !progressed {
                if let Ok(found) = matching(&self.pattern) {
                    self.open_new(&mut inputs, &mut known, found);
                }
                self.sleep();
            }
        }
        if let Some(checkpoints) = &self.checkpoints {
            checkpoints.flush();
        }
    }

    fn sleep(&self) {
        let step = Duration::from_millis(20).min(self.poll);
        let mut waited = Duration::ZERO;
        while waited < self.poll && !self.cancel.is_cancelled() {
            std::thread::sleep(step);
            waited += step;
        }
    }

    fn open_new(&self, inputs: &mut Vec<Input>, known: &mut Vec<PathBuf>, found: Vec<PathBuf>) {
        for path in found {
            if known.contains(&path) {
                continue;
            }
            known.push(path.clone());
            match self.open(&path) {
                Ok(input) => inputs.push(input),
                Err(err) => {
                    tracing::error!(source = %self.source, file = %path.display(), %err, "cannot open");
                }
            }
        }
    }

    fn open(&self, path: &Path) -> std::io::Result<Input> {
        let mut file = File::open(path)?;
        let size = file.metadata()?.len();
        let key: Arc<str> = Arc::from(key(path));
        let mut start = self
            .checkpoints
            .as_ref()
            .map_or(Mark::default(), |c| c.start(&key));
        if start.offset > size {
            tracing::warn!(source = %self.source, file = %path.display(), "file is shorter than its checkpoint: reading it from the start");
            if let Some(c) = &self.checkpoints {
                c.reset(&key);
            }
            start = Mark::default();
        }
        let header = if self.codec == Codec::Csv && start.offset > 0 {
            let header = first_line(&mut file)?;
            Some(header_fields(&header))
        } else {
            None
        };
        file.seek(SeekFrom::Start(start.offset))?;
        Ok(Input {
            path: Arc::from(path.display().to_string()),
            key,
            file,
            lines: LineReader::new(start.offset, start.line, self.max_line_size),
            size,
            header,
        })
    }

    /// Reads and sends one chunk; `None` when the pipeline no longer listens.
    fn read_chunk(&self, input: &mut Input) -> std::io::Result<Option<usize>> {
        if self.follow {
            let size = input.file.metadata()?.len();
            if size < input.size {
                tracing::warn!(source = %self.source, file = %input.path, "file was truncated: reading it from the start");
                input.file.seek(SeekFrom::Start(0))?;
                input.lines = LineReader::new(0, 0, self.max_line_size);
                input.header = None;
                if let Some(c) = &self.checkpoints {
                    c.reset(&input.key);
                }
            }
            input.size = size;
        }
        let mut lines = Vec::new();
        let n = input.lines.read(&mut input.file, &mut lines)?;
        if let Some(progress) = &self.progress {
            progress.advance(n as u64);
        }
        Ok(self.send(input, lines).then_some(n))
    }

    /// At the end of a file that is not followed: its last line, even without a line break.
    fn finish(&self, input: &mut Input) -> bool {
        let mut lines = Vec::new();
        input.lines.finish(&mut lines);
        self.send(input, lines)
    }

    fn send(&self, input: &mut Input, mut lines: Vec<Line>) -> bool {
        if self.codec == Codec::Csv
            && input.header.is_none()
            && let Some(first) = lines.first()
            && first.number == 1
        {
            input.header = Some(header_fields(&first.bytes));
            lines.remove(0);
        }
        if lines.is_empty() {
            return true;
        }
        let Some(checkpoints) = &self.checkpoints else {
            let batch = to_records(
                lines,
                &self.source,
                &input.path,
                input.header.as_ref(),
                &AckToken::none(),
            );
            return self.tx.blocking_send(batch).is_ok();
        };
        let mut batch = Vec::with_capacity(lines.len());
        let mut lines = lines.into_iter();
        loop {
            let group: Vec<Line> = lines.by_ref().take(GROUP).collect();
            let (Some(first), Some(last)) = (group.first(), group.last()) else {
                break;
            };
            let mark = Mark {
                offset: last.end,
                line: last.number,
            };
            let token = checkpoints.chunk(&input.key, first.offset, mark);
            batch.extend(to_records(
                group,
                &self.source,
                &input.path,
                input.header.as_ref(),
                &token,
            ));
            // Each record holds its own share of the group's token.
            token.complete(sluice_core::Outcome::Filtered);
        }
        self.tx.blocking_send(batch).is_ok()
    }
}

fn first_line(file: &mut File) -> std::io::Result<Vec<u8>> {
    file.seek(SeekFrom::Start(0))?;
    let mut reader = LineReader::new(0, 0, MAX_LINE_SIZE);
    let mut lines = Vec::new();
    while lines.is_empty() {
        if reader.read(&mut *file, &mut lines)? == 0 {
            reader.finish(&mut lines);
            break;
        }
    }
    Ok(lines.first().map(|l| l.bytes.to_vec()).unwrap_or_default())
}

pub(crate) fn header_fields(line: &[u8]) -> Arc<[String]> {
    let text = String::from_utf8_lossy(line);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes());
    match reader.records().next() {
        Some(Ok(row)) => row.iter().map(|f| f.trim().to_owned()).collect(),
        _ => Arc::from(Vec::new()),
    }
}
