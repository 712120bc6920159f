//! A pipeline's settings: channel bounds in items and bytes, batch size, shutdown, signals and
//! sampling.

use std::time::Duration;

/// Settings that apply to every stage of a pipeline unless a stage overrides them.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PipelineConfig {
    /// Items each channel between two stages holds before its producer waits. Defaults to 4096.
    pub capacity: usize,
    /// Most items a source or a re-batching stage puts in one batch. Defaults to 1024.
    pub batch_size: usize,
    /// How long a shutdown may take to drain before the rest is aborted. Defaults to 30 s.
    pub shutdown_timeout: Duration,
    /// Whether `run` listens for SIGINT/SIGTERM and starts a clean shutdown. Defaults to false.
    pub handle_signals: bool,
    /// How often gauges (queue depth, busy ratio, in flight) are sampled. Defaults to 1 s.
    pub sample_interval: Duration,
    /// Bytes every channel of the run may hold together, shared out equally when the run
    /// starts: a stage waits for its output channel's share as it waits for room, so the
    /// items queued weigh at most this much (each weighed by [`crate::weigh`]). Defaults to
    /// none (channels are bounded in items only).
    pub memory_limit: Option<usize>,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            capacity: 4096,
            batch_size: 1024,
            shutdown_timeout: Duration::from_secs(30),
            handle_signals: false,
            sample_interval: Duration::from_secs(1),
            memory_limit: None,
        }
    }
}

impl PipelineConfig {
    /// Sets [`capacity`](Self::capacity).
    pub fn capacity(mut self, items: usize) -> Self {
        self.capacity = items.max(1);
        self
    }

    /// Sets [`batch_size`](Self::batch_size).
    pub fn batch_size(mut self, items: usize) -> Self {
        self.batch_size = items.max(1);
        self
    }

    /// Sets [`shutdown_timeout`](Self::shutdown_timeout).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Sets [`handle_signals`](Self::handle_signals).
    pub fn handle_signals(mut self, on: bool) -> Self {
        self.handle_signals = on;
        self
    }

    /// Sets [`memory_limit`](Self::memory_limit), in bytes.
    pub fn memory_limit(mut self, bytes: usize) -> Self {
        self.memory_limit = Some(bytes.max(1));
        self
    }

    /// Sets [`sample_interval`](Self::sample_interval).
    pub fn sample_interval(mut self, every: Duration) -> Self {
        self.sample_interval = every.max(Duration::from_millis(1));
        self
    }
}
