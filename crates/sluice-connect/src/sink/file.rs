//! The `file` sink: appends events to a file, one per line.

use std::path::PathBuf;

use serde::Deserialize;
use sluice_core::{BoxError, Flow, Sink, WriteError};
use tokio::io::AsyncWriteExt;

use super::{BuiltSink, SinkContext, attach};
use crate::codec::Encoding;
use crate::event::Event;

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

struct Writer {
    config: FileSink,
    file: Option<tokio::fs::File>,
    buf: Vec<u8>,
}

impl Writer {
    async fn open(&mut self) -> Result<&mut tokio::fs::File, BoxError> {
        if self.file.is_none() {
            if let Some(dir) = self
                .config
                .path
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
            {
                tokio::fs::create_dir_all(dir).await?;
            }
            let mut options = tokio::fs::OpenOptions::new();
            options.create(true);
            match self.config.mode {
                WriteMode::Append => options.append(true),
                WriteMode::Truncate => options.write(true).truncate(true),
            };
            let file = options
                .open(&self.config.path)
                .await
                .map_err(|e| format!("cannot open {}: {e}", self.config.path.display()))?;
            self.file = Some(file);
        }
        match self.file.as_mut() {
            Some(file) => Ok(file),
            None => unreachable!("opened above"),
        }
    }
}

impl Sink<Event> for Writer {
    async fn write(&mut self, events: &[Event]) -> Result<(), WriteError> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        for event in events {
            self.config.encoding.encode(event, &mut buf);
        }
        let sync = self.config.sync;
        let result = async {
            let file = self.open().await?;
            file.write_all(&buf).await?;
            file.flush().await?;
            if sync {
                file.sync_data().await?;
            }
            Ok::<(), BoxError>(())
        }
        .await;
        self.buf = buf;
        if result.is_err() {
            // Reopen on the next attempt: the file may have been removed or its disk remounted.
            self.file = None;
        }
        result.map_err(WriteError::Batch)
    }

    async fn flush(&mut self) -> Result<(), BoxError> {
        if let Some(file) = self.file.as_mut() {
            file.sync_all().await?;
        }
        Ok(())
    }
}

impl FileSink {
    /// Attaches the sink; the file is opened on the first write.
    pub fn build(&self, input: Flow<Event>, ctx: &SinkContext) -> BuiltSink {
        let writer = Writer {
            config: self.clone(),
            file: None,
            buf: Vec::new(),
        };
        attach(input, ctx, writer)
    }
}
