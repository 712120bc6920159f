//! The options every transform and sink takes besides its type's own: `workers`, `retry`,
//! `timeout`, `circuit_breaker`, `ordered_by` (transforms) and `buffer` (sinks).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use sluice_core::{Backoff, BreakerConfig, CircuitBreaker, Jitter, Retry};

/// Retry settings of a component.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RetrySpec {
    /// Attempts in all, the first included. Defaults to no limit: a transient failure (the other
    /// side away, timing out or overloaded) is retried for as long as it lasts, while
    /// backpressure holds the sources. Permanent failures are never retried.
    #[serde(default)]
    pub max_attempts: Option<u32>,
    /// The first delay. Defaults to `100ms`.
    #[serde(
        default = "default_initial",
        deserialize_with = "sluice_event::duration::deserialize"
    )]
    pub initial: Duration,
    /// The largest delay. Defaults to `10s`.
    #[serde(
        default = "default_max",
        deserialize_with = "sluice_event::duration::deserialize"
    )]
    pub max: Duration,
    /// Growth per retry. Defaults to 2.
    #[serde(default = "default_multiplier")]
    pub multiplier: f64,
    /// Randomization: `full`, `equal` or `none`. Defaults to `full`.
    #[serde(default)]
    pub jitter: JitterSpec,
    /// Give up after this long since the first attempt. Defaults to none.
    #[serde(
        default,
        deserialize_with = "sluice_event::duration::deserialize_option"
    )]
    pub max_elapsed: Option<Duration>,
}

/// Backoff randomization.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum JitterSpec {
    /// Uniform between zero and the delay.
    #[default]
    Full,
    /// Half the delay plus up to the other half.
    Equal,
    /// The exact delay.
    None,
}

impl From<JitterSpec> for Jitter {
    fn from(spec: JitterSpec) -> Jitter {
        match spec {
            JitterSpec::Full => Jitter::Full,
            JitterSpec::Equal => Jitter::Equal,
            JitterSpec::None => Jitter::None,
        }
    }
}

fn default_initial() -> Duration {
    Duration::from_millis(100)
}
fn default_max() -> Duration {
    Duration::from_secs(10)
}
fn default_multiplier() -> f64 {
    2.0
}

impl Default for RetrySpec {
    /// What a sink or `http_call` without `retry` does: transient failures retried without end.
    fn default() -> Self {
        RetrySpec {
            max_attempts: None,
            initial: default_initial(),
            max: default_max(),
            multiplier: default_multiplier(),
            jitter: JitterSpec::default(),
            max_elapsed: None,
        }
    }
}

impl RetrySpec {
    /// The core retry policy.
    pub fn to_retry(&self) -> Retry {
        let backoff = Backoff::exponential(self.initial, self.max)
            .multiplier(self.multiplier)
            .jitter(self.jitter.into());
        let retry = self
            .max_attempts
            .map_or_else(Retry::forever, Retry::attempts)
            .backoff(backoff);
        match self.max_elapsed {
            Some(limit) => retry.max_elapsed(limit),
            None => retry,
        }
    }
}

/// Circuit breaker settings of a component (`http_call` and sinks): stop calling a failing
/// service for a while. A transform's events fail fast to its error output while it is open; a
/// sink's wait, and the sink shows down on `/ready`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BreakerSpec {
    /// Share of failed calls that opens the breaker. Defaults to 0.5.
    #[serde(default = "default_ratio")]
    pub failure_ratio: f64,
    /// Calls needed before the ratio counts. Defaults to 10.
    #[serde(default = "default_min_calls", alias = "minimum_calls")]
    pub min_calls: usize,
    /// Recent calls considered. Defaults to 20.
    #[serde(default = "default_window")]
    pub window: usize,
    /// How long it stays open. Defaults to `30s`.
    #[serde(
        default = "default_open_for",
        deserialize_with = "sluice_event::duration::deserialize"
    )]
    pub open_for: Duration,
    /// Trial calls while half-open. Defaults to 3.
    #[serde(default = "default_trials")]
    pub half_open_calls: u32,
}

fn default_ratio() -> f64 {
    0.5
}
fn default_min_calls() -> usize {
    10
}
fn default_window() -> usize {
    20
}
fn default_open_for() -> Duration {
    Duration::from_secs(30)
}
fn default_trials() -> u32 {
    3
}

impl BreakerSpec {
    /// The breaker these settings describe.
    pub fn to_breaker(&self) -> CircuitBreaker {
        CircuitBreaker::new(BreakerConfig {
            failure_ratio: self.failure_ratio,
            min_calls: self.min_calls,
            window: self.window,
            open_for: self.open_for,
            half_open_calls: self.half_open_calls,
        })
    }
}

/// Options every transform and sink takes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Common {
    /// How many events at once (threads for CPU-bound transforms, calls in flight for
    /// `http_call`). Defaults to 1.
    #[serde(default)]
    pub workers: Option<usize>,
    /// Retry failed events. For sinks and `http_call` defaults to retrying transient failures
    /// for as long as they last (the [`RetrySpec`] defaults); other components do not retry.
    #[serde(default)]
    pub retry: Option<RetrySpec>,
    /// Fail an attempt that takes longer. Defaults to none.
    #[serde(
        default,
        deserialize_with = "sluice_event::duration::deserialize_option"
    )]
    pub timeout: Option<Duration>,
    /// Stop calling a failing service for a while (`http_call` and sinks). Defaults to none.
    #[serde(default)]
    pub circuit_breaker: Option<BreakerSpec>,
    /// A buffer on disk in front of a sink. Defaults to none: the sink reads its share of the
    /// pipeline's memory.
    #[serde(default)]
    pub buffer: Option<BufferSpec>,
    /// A jq expression giving each event's key (transforms): with `workers`, events with one
    /// key keep their order and events with different keys run in parallel, so a slow key holds
    /// back only its own events. Defaults to none: events keep their order overall.
    #[serde(default)]
    pub ordered_by: Option<sluice_jq::Program>,
}

/// The options of [`Common`].
pub(crate) const COMMON_OPTIONS: [&str; 6] = [
    "workers",
    "retry",
    "timeout",
    "circuit_breaker",
    "buffer",
    "ordered_by",
];

/// The keys a component may have besides its type's options.
pub(crate) const COMMON_KEYS: [&str; 8] = [
    "type",
    "inputs",
    COMMON_OPTIONS[0],
    COMMON_OPTIONS[1],
    COMMON_OPTIONS[2],
    COMMON_OPTIONS[3],
    COMMON_OPTIONS[4],
    COMMON_OPTIONS[5],
];

/// A sink's buffer: `{ type: disk, max_size: 256MiB, when_full: block }`. Events are
/// acknowledged upstream once synced to it, so a slow or failing sink holds back nobody else
/// until it is full; a restart delivers what it holds.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BufferSpec {
    /// Where the buffer is kept: `disk`, the only kind.
    #[serde(rename = "type")]
    pub kind: BufferKind,
    /// The most bytes its files may hold. Defaults to `256MiB`; at least `1MiB`.
    #[serde(
        default = "default_max_size",
        deserialize_with = "sluice_event::bytesize::deserialize"
    )]
    pub max_size: usize,
    /// What it does when full: `block` (wait, holding back the sources) or `drop_newest`.
    /// Defaults to `block`.
    #[serde(default)]
    pub when_full: WhenFullSpec,
    /// Its directory. Defaults to `DATA_DIR/buffers/PIPELINE/SINK`, with the pipeline's
    /// `data_dir`.
    #[serde(default)]
    pub path: Option<PathBuf>,
}

fn default_max_size() -> usize {
    256 << 20
}

/// The kinds of buffer.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BufferKind {
    /// Files on disk, synced before events are acknowledged.
    Disk,
}

/// What a full buffer does.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WhenFullSpec {
    /// Wait for room.
    #[default]
    Block,
    /// Drop the events that do not fit.
    DropNewest,
}

impl BufferSpec {
    /// The disk buffer of the sink `sink` of the pipeline `pipeline`, whose data directory is
    /// `data_dir`.
    pub fn to_disk_buffer(
        &self,
        data_dir: &std::path::Path,
        pipeline: &str,
        sink: &str,
    ) -> sluice_connect::buffer::DiskBuffer {
        sluice_connect::buffer::DiskBuffer {
            path: self
                .path
                .clone()
                .unwrap_or_else(|| data_dir.join("buffers").join(pipeline).join(sink)),
            max_size: self.max_size as u64,
            when_full: match self.when_full {
                WhenFullSpec::Block => sluice_connect::buffer::WhenFull::Block,
                WhenFullSpec::DropNewest => sluice_connect::buffer::WhenFull::DropNewest,
            },
        }
    }
}
