//! The `stdin` source: reads standard input line by line until it closes.

use std::sync::Arc;

use serde::Deserialize;
use sluice_core::{AckToken, BoxError};
use tokio::sync::mpsc;

use crate::component::source::decoded;
use crate::component::{BuiltSource, Source, SourceContext};
use crate::file::lines::{LineReader, MAX_LINE_SIZE, to_records};
use sluice_event::codec::Codec;

/// Reads standard input.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdinSource {
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
}

fn default_max_line_size() -> usize {
    MAX_LINE_SIZE
}

impl Default for StdinSource {
    /// JSON lines of at most `1MiB`.
    fn default() -> Self {
        StdinSource {
            codec: Codec::default(),
            max_line_size: MAX_LINE_SIZE,
        }
    }
}

impl Source for StdinSource {
    /// Starts reading (on a thread of its own) when the pipeline runs.
    fn build(&self, ctx: &SourceContext) -> Result<BuiltSource, BoxError> {
        let (tx, rx) = mpsc::channel(4);
        let source: Arc<str> = Arc::from(ctx.name.as_str());
        let cancel = ctx.pipeline.cancel_token();
        let csv = self.codec == Codec::Csv;
        let max_line_size = self.max_line_size;
        let spawned = std::thread::Builder::new()
            .name(format!("sluice-{}", ctx.name))
            .spawn(move || {
                let path: Arc<str> = Arc::from("<stdin>");
                let mut stdin = std::io::stdin().lock();
                let mut reader = LineReader::new(0, 0, max_line_size);
                let mut header = None;
                let mut done = false;
                while !done && !cancel.is_cancelled() {
                    let mut lines = Vec::new();
                    match reader.read(&mut stdin, &mut lines) {
                        Ok(0) => {
                            reader.finish(&mut lines);
                            done = true;
                        }
                        Ok(_) => {}
                        Err(err) => {
                            tracing::error!(%err, "cannot read standard input");
                            done = true;
                        }
                    }
                    if csv && header.is_none() && !lines.is_empty() {
                        header = Some(crate::file::header_fields(&lines.remove(0).bytes));
                    }
                    let batch =
                        to_records(lines, &source, &path, header.as_ref(), &AckToken::none());
                    if !batch.is_empty() && tx.blocking_send(batch).is_err() {
                        break;
                    }
                }
            });
        if let Err(err) = spawned {
            tracing::error!(%err, "cannot start the stdin reader thread");
        }
        let (events, errors) = decoded(ctx, rx, self.codec, None);
        Ok(BuiltSource {
            events,
            errors,
            progress: None,
        })
    }
}
