//! Per-stage measurements: one place defines every metric a stage emits.
//!
//! Each stage owns a [`StageStats`] (atomics the process can read back: the end-of-run summary,
//! `sluice top`, the web UI) and, while it runs, a [`StageMetrics`] that records into both the
//! stats and the [`metrics`] facade, so whatever recorder the application installs (Prometheus in
//! the `sluice` binary) sees the same numbers.
//!
//! # Metrics
//! All carry the labels `pipeline` and `stage`.
//!
//! | name | type | meaning |
//! |---|---|---|
//! | `sluice_stage_items_in_total` | counter | items the stage received |
//! | `sluice_stage_items_out_total` | counter | items the stage emitted |
//! | `sluice_stage_errors_total` | counter | items that failed (after retries) |
//! | `sluice_stage_retries_total` | counter | retried attempts |
//! | `sluice_stage_busy_microseconds_total` | counter | time spent processing; its rate is the busy ratio |
//! | `sluice_stage_latency_seconds` | histogram | processing time per item: one sample per batch, the batch's mean, for stages that time whole batches |
//! | `sluice_stage_queue_depth` | gauge | items waiting in the stage's input channel |
//! | `sluice_stage_queue_depth_max` | gauge | the most items that ever waited there |
//! | `sluice_stage_queue_capacity` | gauge | the input channel's bound |
//! | `sluice_stage_queue_bytes` | gauge | with a memory limit: bytes waiting in the input channel |
//! | `sluice_stage_queue_capacity_bytes` | gauge | with a memory limit: the input channel's share of it |
//! | `sluice_pipeline_memory_limit_bytes` | gauge | the pipeline's memory limit (label `pipeline` only) |
//! | `sluice_stage_in_flight` | gauge | items being processed (calls awaiting a response) |
//! | `sluice_stage_busy_ratio` | gauge | busy time over wall time in the last sampling interval |
//! | `sluice_stage_circuit_state` | gauge | a stage with a circuit breaker: 0 closed, 1 open, 2 half-open |
//!
//! A Prometheus recorder renders a histogram as a summary unless it is given buckets: give it
//! [`LATENCY_BUCKETS`] for `sluice_stage_latency_seconds` (the `sluice` binary does), so that
//! the latencies of several processes can be summed.
//!
//! Cheap per-item stages time a whole batch and record its mean per item, so the hot path reads
//! the clock twice per batch rather than per item. The stats weigh that mean by the batch's
//! items; the facade histogram gets it once (a recorder keeps every sample until it is
//! scraped, with a clock reading each, which at a million items a second costs more than the
//! stage's own work).

/// The buckets of `sluice_stage_latency_seconds`, in seconds: from 1 µs (a map over a batch) to
/// 30 s (a sink waiting for its service), about three to a decade.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.000_001, 0.000_002, 0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5,
    0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use metrics::{Counter, Gauge, Histogram as FacadeHistogram, counter, gauge, histogram};

use crate::channel::ChannelGauge;

/// Readable counters of one stage.
#[derive(Debug)]
pub struct StageStats {
    pipeline: Arc<str>,
    name: Arc<str>,
    kind: &'static str,
    items_in: AtomicU64,
    items_out: AtomicU64,
    errors: AtomicU64,
    retries: AtomicU64,
    busy_ns: AtomicU64,
    in_flight: AtomicI64,
    latency_ns: Mutex<Histogram<u64>>,
    span: Mutex<(Option<Instant>, Option<Instant>)>,
    input: OnceLock<Arc<ChannelGauge>>,
}

/// A point-in-time copy of a stage's counters.
#[derive(Debug, Clone, PartialEq)]
pub struct StageSnapshot {
    /// The stage's name, unique in its pipeline.
    pub name: String,
    /// The operator (`map`, `window`, `call`, …).
    pub kind: &'static str,
    /// Items received.
    pub items_in: u64,
    /// Items emitted.
    pub items_out: u64,
    /// Items failed after retries.
    pub errors: u64,
    /// Retried attempts.
    pub retries: u64,
    /// Items being processed now.
    pub in_flight: i64,
    /// Median processing time per item.
    pub p50: Duration,
    /// 99th percentile processing time per item.
    pub p99: Duration,
    /// Total time spent processing.
    pub busy: Duration,
    /// Wall time since the stage started (until it finished, once it has).
    pub elapsed: Duration,
    /// Items waiting in the input channel now.
    pub queue_depth: usize,
    /// The most items that ever waited in the input channel.
    pub queue_max: usize,
    /// The input channel's bound (0 for sources).
    pub queue_capacity: usize,
}

impl StageSnapshot {
    /// Busy time over wall time, from 0 to 1 (higher than 1 for stages with several workers).
    pub fn busy_ratio(&self) -> f64 {
        if self.elapsed.is_zero() {
            0.0
        } else {
            self.busy.as_secs_f64() / self.elapsed.as_secs_f64()
        }
    }
}

impl StageStats {
    pub(crate) fn new(pipeline: Arc<str>, name: Arc<str>, kind: &'static str) -> StageStats {
        StageStats {
            pipeline,
            name,
            kind,
            items_in: AtomicU64::new(0),
            items_out: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            busy_ns: AtomicU64::new(0),
            in_flight: AtomicI64::new(0),
            // Two significant figures from 1 ns to one hour: a few KiB per stage.
            latency_ns: Mutex::new(
                Histogram::new_with_bounds(1, 3_600_000_000_000, 2)
                    .expect("constant histogram bounds are valid"),
            ),
            span: Mutex::new((None, None)),
            input: OnceLock::new(),
        }
    }

    /// The stage's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn name_arc(&self) -> Arc<str> {
        Arc::clone(&self.name)
    }

    pub(crate) fn set_input(&self, gauge: Arc<ChannelGauge>) {
        let _ = self.input.set(gauge);
    }

    /// The channel the stage reads, if it reads one.
    pub(crate) fn input(&self) -> Option<Arc<ChannelGauge>> {
        self.input.get().cloned()
    }

    fn labels(&self) -> [(&'static str, String); 2] {
        [
            ("pipeline", self.pipeline.to_string()),
            ("stage", self.name.to_string()),
        ]
    }

    pub(crate) fn busy_ns(&self) -> u64 {
        self.busy_ns.load(Ordering::Relaxed)
    }

    /// A copy of the counters now.
    pub fn snapshot(&self) -> StageSnapshot {
        let (p50, p99) = match self.latency_ns.lock() {
            Ok(h) if !h.is_empty() => (h.value_at_quantile(0.5), h.value_at_quantile(0.99)),
            _ => (0, 0),
        };
        let elapsed = match self.span.lock().map(|s| *s) {
            Ok((Some(start), Some(end))) => end.duration_since(start),
            Ok((Some(start), None)) => start.elapsed(),
            _ => Duration::ZERO,
        };
        let input = self.input.get();
        StageSnapshot {
            name: self.name.to_string(),
            kind: self.kind,
            items_in: self.items_in.load(Ordering::Relaxed),
            items_out: self.items_out.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            p50: Duration::from_nanos(p50),
            p99: Duration::from_nanos(p99),
            busy: Duration::from_nanos(self.busy_ns()),
            elapsed,
            queue_depth: input.map_or(0, |g| g.depth()),
            queue_max: input.map_or(0, |g| g.max_depth()),
            queue_capacity: input.map_or(0, |g| g.capacity()),
        }
    }
}

/// A stage's latency over successive intervals: each [`LatencyWindow::advance`] gives the
/// median and 99th percentile of what was recorded since the one before (the live views'
/// "latency over the last minutes", where [`StageSnapshot`] has the whole run's).
#[derive(Debug, Default)]
pub struct LatencyWindow {
    seen: Option<Histogram<u64>>,
}

impl LatencyWindow {
    /// The p50 and p99 of the items recorded by `stats` since the last call; `None` when none
    /// was.
    pub fn advance(&mut self, stats: &StageStats) -> Option<(Duration, Duration)> {
        let now = stats.latency_ns.lock().ok()?.clone();
        let mut interval = now.clone();
        if let Some(seen) = self.seen.replace(now) {
            interval.subtract(&seen).ok()?;
        }
        (!interval.is_empty()).then(|| {
            (
                Duration::from_nanos(interval.value_at_quantile(0.5)),
                Duration::from_nanos(interval.value_at_quantile(0.99)),
            )
        })
    }
}

/// The recording side of a running stage: stats plus facade handles, made once at start.
#[derive(Clone)]
pub(crate) struct StageMetrics {
    stats: Arc<StageStats>,
    items_in: Counter,
    items_out: Counter,
    errors: Counter,
    retries: Counter,
    busy_us: Counter,
    latency: FacadeHistogram,
    in_flight: Gauge,
}

impl StageMetrics {
    pub(crate) fn start(stats: Arc<StageStats>) -> StageMetrics {
        let labels = stats.labels();
        if let Ok(mut span) = stats.span.lock() {
            span.0.get_or_insert_with(Instant::now);
        }
        StageMetrics {
            items_in: counter!("sluice_stage_items_in_total", &labels),
            items_out: counter!("sluice_stage_items_out_total", &labels),
            errors: counter!("sluice_stage_errors_total", &labels),
            retries: counter!("sluice_stage_retries_total", &labels),
            busy_us: counter!("sluice_stage_busy_microseconds_total", &labels),
            latency: histogram!("sluice_stage_latency_seconds", &labels),
            in_flight: gauge!("sluice_stage_in_flight", &labels),
            stats,
        }
    }

    pub(crate) fn name(&self) -> Arc<str> {
        self.stats.name_arc()
    }

    /// Records the state of the stage's circuit breaker, as its gauge value (0 closed, 1 open,
    /// 2 half-open).
    pub(crate) fn circuit(&self, state: f64) {
        gauge!("sluice_stage_circuit_state", &self.stats.labels()).set(state);
    }

    /// A counter of this stage's own (for operator-specific events such as cache hits).
    pub(crate) fn counter(&self, name: &'static str) -> Counter {
        counter!(name, &self.stats.labels())
    }

    /// Records that `n` items arrived.
    #[inline]
    pub(crate) fn received(&self, n: usize) {
        self.stats.items_in.fetch_add(n as u64, Ordering::Relaxed);
        self.items_in.increment(n as u64);
    }

    /// Records that `n` items left.
    #[inline]
    pub(crate) fn emitted(&self, n: usize) {
        self.stats.items_out.fetch_add(n as u64, Ordering::Relaxed);
        self.items_out.increment(n as u64);
    }

    /// Records `n` failed items.
    pub(crate) fn failed(&self, n: usize) {
        self.stats.errors.fetch_add(n as u64, Ordering::Relaxed);
        self.errors.increment(n as u64);
    }

    /// Records one retried attempt.
    pub(crate) fn retried(&self) {
        self.stats.retries.fetch_add(1, Ordering::Relaxed);
        self.retries.increment(1);
    }

    /// Records `busy` time spent on `n` items (their mean goes to the latency histogram).
    #[inline]
    pub(crate) fn processed(&self, n: usize, busy: Duration) {
        let ns = u64::try_from(busy.as_nanos()).unwrap_or(u64::MAX);
        self.stats.busy_ns.fetch_add(ns, Ordering::Relaxed);
        self.busy_us.increment(ns / 1_000);
        if n > 0 {
            let mean = ns / n as u64;
            if let Ok(mut h) = self.stats.latency_ns.lock() {
                h.saturating_record_n(mean.max(1), n as u64);
            }
            self.latency.record(mean as f64 / 1e9);
        }
    }

    /// Records time spent on one item, busy or not (a call awaiting a response).
    pub(crate) fn latency(&self, took: Duration) {
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        if let Ok(mut h) = self.stats.latency_ns.lock() {
            h.saturating_record(ns.max(1));
        }
        self.latency.record(took.as_secs_f64());
    }

    /// Adds busy time without latency samples (bookkeeping of stages that time items apart).
    pub(crate) fn busy(&self, busy: Duration) {
        let ns = u64::try_from(busy.as_nanos()).unwrap_or(u64::MAX);
        self.stats.busy_ns.fetch_add(ns, Ordering::Relaxed);
        self.busy_us.increment(ns / 1_000);
    }

    /// Moves the in-flight count by `delta`.
    pub(crate) fn in_flight(&self, delta: i64) {
        let now = self.stats.in_flight.fetch_add(delta, Ordering::Relaxed) + delta;
        self.in_flight.set(now as f64);
    }

    /// Marks the stage finished (its elapsed time stops).
    pub(crate) fn finish(&self) {
        if let Ok(mut span) = self.stats.span.lock() {
            span.1 = Some(Instant::now());
        }
    }
}

/// The gauges a pipeline samples at an interval rather than on the hot path.
pub(crate) struct SampledGauges {
    queue_depth: Gauge,
    queue_depth_max: Gauge,
    queue_bytes: Gauge,
    busy_ratio: Gauge,
}

impl SampledGauges {
    pub(crate) fn new(stats: &StageStats) -> SampledGauges {
        let labels = stats.labels();
        if let Some(input) = stats.input.get() {
            gauge!("sluice_stage_queue_capacity", &labels).set(input.capacity() as f64);
            if input.byte_capacity() > 0 {
                gauge!("sluice_stage_queue_capacity_bytes", &labels)
                    .set(input.byte_capacity() as f64);
            }
        }
        SampledGauges {
            queue_depth: gauge!("sluice_stage_queue_depth", &labels),
            queue_depth_max: gauge!("sluice_stage_queue_depth_max", &labels),
            queue_bytes: gauge!("sluice_stage_queue_bytes", &labels),
            busy_ratio: gauge!("sluice_stage_busy_ratio", &labels),
        }
    }

    /// Publishes the queue depth now and the busy ratio of the last `wall` interval.
    pub(crate) fn update(&self, stats: &StageStats, busy_ns: u64, wall: Duration) {
        if let Some(input) = stats.input.get() {
            self.queue_depth.set(input.depth() as f64);
            self.queue_depth_max.set(input.max_depth() as f64);
            if input.byte_capacity() > 0 {
                self.queue_bytes.set(input.queued_bytes() as f64);
            }
        }
        if !wall.is_zero() {
            self.busy_ratio.set(busy_ns as f64 / wall.as_nanos() as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_reads_back_what_was_recorded() {
        let stats = Arc::new(StageStats::new(Arc::from("p"), Arc::from("s"), "map"));
        let m = StageMetrics::start(Arc::clone(&stats));
        m.received(10);
        m.emitted(8);
        m.failed(2);
        m.retried();
        m.processed(10, Duration::from_micros(10));
        m.finish();
        let snap = stats.snapshot();
        assert_eq!(
            (snap.items_in, snap.items_out, snap.errors, snap.retries),
            (10, 8, 2, 1)
        );
        assert_eq!(snap.busy, Duration::from_micros(10));
        let p50 = snap.p50.as_nanos();
        assert!(
            (990..=1010).contains(&p50),
            "mean per item is 1 µs, got {p50} ns"
        );
    }

    #[test]
    fn a_latency_window_reads_only_what_came_since_the_last_one() {
        let stats = Arc::new(StageStats::new(Arc::from("p"), Arc::from("s"), "map"));
        let m = StageMetrics::start(Arc::clone(&stats));
        let mut window = LatencyWindow::default();
        assert_eq!(window.advance(&stats), None);
        m.latency(Duration::from_millis(100));
        let (p50, _) = window.advance(&stats).expect("one item");
        assert!(p50 >= Duration::from_millis(99), "{p50:?}");
        m.latency(Duration::from_micros(10));
        let (p50, p99) = window.advance(&stats).expect("one more");
        assert!(
            p99 < Duration::from_millis(1),
            "the slow item is past: {p50:?} {p99:?}"
        );
        assert_eq!(window.advance(&stats), None);
    }
}
