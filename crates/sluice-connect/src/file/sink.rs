//! The `file` sink: appends events to a file, one per line.

use std::path::PathBuf;

use serde::Deserialize;
use sluice_core::{BoxError, Flow, WriteError};
use std::io::Write;

use crate::component::sink::attach;
use crate::component::{BuiltSink, Sink, SinkContext};
use sluice_event::Event;
use sluice_event::codec::Encoding;

/// What to do with a file that exists when the pipeline starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteMode {
    /// Add to its end. The default: a restarted pipeline keeps what it wrote before.
    #[default]
    Append,
    /// Empty it first.
    Truncate,
}

/// Writes to a file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSink {
    /// The file; missing parent directories are created.
    pub path: PathBuf,
    /// How each event is written. Defaults to JSON lines.
    #[serde(default)]
    pub encoding: Encoding,
    /// What to do with an existing file. Defaults to `append`.
    #[serde(default)]
    pub mode: WriteMode,
    /// Sync each batch to disk before acknowledging it (survives a power cut, costs a disk
    /// flush per batch). Defaults to false: acknowledged once the operating system has it.
    #[serde(default)]
    pub sync: bool,
}

/// Writes happen on tokio's blocking threads, one `write_all` per batch (tokio's own file
/// type would cut a batch into many small blocking writes).
struct Writer {
    config: FileSink,
    /// The open file, lent to the blocking thread during a write.
    file: Option<std::fs::File>,
    /// Whether the file was opened once (truncation happens only then).
    opened: bool,
    buf: Vec<u8>,
}

fn open(config: &FileSink, first: bool) -> std::io::Result<std::fs::File> {
    if let Some(dir) = config.path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.create(true);
    if config.mode == WriteMode::Truncate && first {
        options.write(true).truncate(true);
    } else {
        options.append(true);
    }
    options.open(&config.path).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot open {}: {e}", config.path.display()),
        )
    })
}

impl sluice_core::Sink<Event> for Writer {
    async fn write(&mut self, events: &[Event]) -> Result<(), WriteError> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        for event in events {
            self.config.encoding.encode(event, &mut buf);
        }
        let (config, file, first, sync) = (
            self.config.clone(),
            self.file.take(),
            !self.opened,
            self.config.sync,
        );
        let written = tokio::task::spawn_blocking(move || {
            let result = (|| {
                let mut file = match file {
                    Some(f) => f,
                    None => open(&config, first)?,
                };
                file.write_all(&buf)?;
                if sync {
                    file.sync_data()?;
                }
                Ok::<_, std::io::Error>(file)
            })();
            (result, buf)
        })
        .await;
        match written {
            Ok((Ok(file), buf)) => {
                self.file = Some(file);
                self.opened = true;
                self.buf = buf;
                Ok(())
            }
            // A failed write drops the file, so the next attempt reopens it (it may have been
            // removed, or its disk remounted).
            Ok((Err(err), buf)) => {
                self.opened = true;
                self.buf = buf;
                Err(WriteError::Batch(err.into()))
            }
            Err(join) => Err(WriteError::Batch(join.into())),
        }
    }

    async fn flush(&mut self) -> Result<(), BoxError> {
        if let Some(file) = self.file.take() {
            tokio::task::spawn_blocking(move || file.sync_all()).await??;
        }
        Ok(())
    }
}

impl Sink for FileSink {
    /// Attaches the sink; the file is opened on the first write.
    fn build(&self, input: Flow<Event>, ctx: &SinkContext) -> Result<BuiltSink, BoxError> {
        let writer = Writer {
            config: self.clone(),
            file: None,
            opened: false,
            buf: Vec::new(),
        };
        Ok(attach(input, ctx, writer))
    }
}
