//! What a store keeps beside jobs, for the people who operate them: which queues are paused,
//! which workers run (and ran), their schedules and kinds, and how many jobs each queue ended
//! and how long they waited, minute by minute. Workers write it ([`Registry::beat`]); the
//! console and the CLI read it.
//!
//! [`Registry::beat`]: super::Registry::beat

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde::{Deserialize, Serialize};

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
use super::error::StoreError;
use crate::job::NewJob;

/// How long a worker that stopped beating, or stopped, stays listed as gone, and how long
/// minute counts are kept.
pub const REGISTRY_KEEP: Duration = Duration::hours(25);

/// A worker that has not beaten for this long is gone (crashed, killed or cut off).
pub const WORKER_GONE_AFTER: Duration = Duration::seconds(30);

/// The upper bounds of the wait-time buckets, in milliseconds; a last bucket holds longer
/// waits.
pub const WAIT_BOUNDS_MS: [u64; 18] = [
    1, 2, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 300_000,
    900_000, 3_600_000,
];

/// A worker as it last reported itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerInfo {
    /// Its name, unique among live workers (recorded on the jobs it runs).
    pub name: String,
    /// The machine it runs on.
    pub host: String,
    /// Its process id.
    pub pid: u32,
    /// The Sluice version it runs.
    pub version: String,
    /// The queues it serves.
    pub queues: Vec<WorkerQueue>,
    /// The kinds it has handlers for, with their own attempt limits.
    pub kinds: BTreeMap<String, KindInfo>,
    /// The cron schedules it fires.
    pub schedules: Vec<ScheduleInfo>,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it last reported (set by the store, from its clock).
    pub beat_at: DateTime<Utc>,
    /// When it stopped, if it stopped gracefully.
    pub stopped_at: Option<DateTime<Utc>>,
}

impl WorkerInfo {
    /// Whether it runs still at `now`: it has not stopped, and beat within
    /// [`WORKER_GONE_AFTER`].
    pub fn live(&self, now: DateTime<Utc>) -> bool {
        self.stopped_at.is_none() && now - self.beat_at < WORKER_GONE_AFTER
    }
}

/// One queue a worker serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerQueue {
    /// The queue.
    pub name: String,
    /// Jobs it runs at once, at most.
    pub slots: u32,
    /// Jobs it runs now.
    pub busy: u32,
}

/// What a worker says of one kind it handles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindInfo {
    /// The kind's own cap on attempts, which applies when lower than the job's.
    pub max_attempts: Option<u32>,
}

/// A cron schedule, as a worker that fires it describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleInfo {
    /// Its name.
    pub name: String,
    /// Its cron pattern.
    pub cron: String,
    /// The IANA time zone the pattern is read in.
    pub timezone: String,
    /// The job each tick enqueues.
    pub job: NewJob,
}

/// What [`Registry::beat`](super::Registry::beat) records.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerBeat {
    /// The worker (its `beat_at` is the store's to set).
    pub info: WorkerInfo,
    /// Its counts of the minutes that changed since its last beat, each the whole minute so
    /// far (a later beat replaces them).
    pub minutes: Vec<MinuteStats>,
}

/// One queue's minute: jobs ended and waits, by one worker or, once read back, all of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MinuteStats {
    /// The queue.
    pub queue: String,
    /// The minute's start.
    pub minute: DateTime<Utc>,
    /// Jobs that succeeded.
    pub succeeded: u64,
    /// Attempts that failed (retried later, or the job died).
    pub failed: u64,
    /// How long jobs started in this minute waited after they were due, as counts per bucket
    /// of [`WAIT_BOUNDS_MS`] (and one more for longer waits).
    pub waits: Vec<u64>,
}

impl MinuteStats {
    /// An empty minute of `queue`, the one `at` falls in.
    pub fn new(queue: &str, at: DateTime<Utc>) -> MinuteStats {
        MinuteStats {
            queue: queue.to_owned(),
            minute: minute_of(at),
            waits: vec![0; WAIT_BOUNDS_MS.len() + 1],
            ..MinuteStats::default()
        }
    }

    /// Counts a job that waited `wait` before it started.
    pub fn waited(&mut self, wait: std::time::Duration) {
        let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
        let bucket = WAIT_BOUNDS_MS
            .iter()
            .position(|&bound| ms <= bound)
            .unwrap_or(WAIT_BOUNDS_MS.len());
        self.waits.resize(WAIT_BOUNDS_MS.len() + 1, 0);
        self.waits[bucket] += 1;
    }

    /// Adds `other`'s counts (of the same queue and minute) to these.
    pub fn add(&mut self, other: &MinuteStats) {
        self.succeeded += other.succeeded;
        self.failed += other.failed;
        if self.waits.len() < other.waits.len() {
            self.waits.resize(other.waits.len(), 0);
        }
        for (sum, n) in self.waits.iter_mut().zip(&other.waits) {
            *sum += n;
        }
    }
}

/// The start of the minute `at` falls in.
pub fn minute_of(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(Duration::minutes(1)).unwrap_or(at)
}

/// The wait that a share `q` (0..1) of the jobs counted in `waits` stayed under, as the upper
/// bound of its bucket in milliseconds; `None` with no jobs counted, or when it falls in the
/// last bucket (longer than an hour).
pub fn wait_quantile(waits: &[u64], q: f64) -> Option<u64> {
    let total: u64 = waits.iter().sum();
    if total == 0 {
        return None;
    }
    // The rank of the quantile among `total` jobs, from 1 (counts are far below 2^52).
    let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
    let mut seen = 0;
    for (bucket, n) in waits.iter().enumerate() {
        seen += n;
        if seen >= rank {
            return WAIT_BOUNDS_MS.get(bucket).copied();
        }
    }
    None
}

/// Sums rows of several workers into one per queue and minute, in order of queue then minute.
pub fn merge_minutes(rows: impl IntoIterator<Item = MinuteStats>) -> Vec<MinuteStats> {
    let mut merged: BTreeMap<(String, DateTime<Utc>), MinuteStats> = BTreeMap::new();
    for row in rows {
        merged
            .entry((row.queue.clone(), row.minute))
            .and_modify(|sum| sum.add(&row))
            .or_insert(row);
    }
    merged.into_values().collect()
}

/// The attempts a job of `kind` with its own limit `max_attempts` is allowed, given what
/// `workers` report of the kind: the lowest cap any of them sets, when lower.
pub fn attempts_allowed(kind: &str, max_attempts: u32, workers: &[WorkerInfo]) -> u32 {
    let cap = workers
        .iter()
        .filter_map(|w| w.kinds.get(kind).and_then(|k| k.max_attempts))
        .min();
    crate::job::attempt_limit(max_attempts, cap)
}

/// A registry value as the stores keep it: JSON text.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
pub(crate) fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Rejected(e.to_string()))
}

/// A registry value read back from JSON text; `what` names it in the error.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    what: &str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Schema(format!("{what}: {e}")))
}

/// A queue an operator paused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paused {
    /// The queue.
    pub queue: String,
    /// Since when.
    pub since: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_fall_in_buckets_and_quantiles_read_their_bounds() {
        let at = DateTime::from_timestamp(1_700_000_030, 0).unwrap_or_default();
        let mut minute = MinuteStats::new("q", at);
        assert_eq!(minute.minute.timestamp(), 1_699_999_980);
        for ms in [0, 1, 3, 3, 7, 40, 40, 40, 40, 7_200_000] {
            minute.waited(std::time::Duration::from_millis(ms));
        }
        assert_eq!(minute.waits[0], 2, "0 and 1 ms");
        assert_eq!(minute.waits[2], 2, "3 ms twice, in the 5 ms bucket");
        assert_eq!(
            wait_quantile(&minute.waits, 0.5),
            Some(10),
            "the 5th of 10 waited 7 ms"
        );
        assert_eq!(wait_quantile(&minute.waits, 0.6), Some(50));
        assert_eq!(wait_quantile(&minute.waits, 0.1), Some(1));
        assert_eq!(
            wait_quantile(&minute.waits, 0.99),
            None,
            "past the last bound"
        );
        assert_eq!(wait_quantile(&[0; 19], 0.5), None);
    }

    #[test]
    fn minutes_of_several_workers_merge() {
        let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        let mut a = MinuteStats::new("q", at);
        a.succeeded = 2;
        a.waited(std::time::Duration::from_millis(1));
        let mut b = a.clone();
        b.failed = 1;
        let other = MinuteStats::new("r", at);
        let merged = merge_minutes([a, other, b]);
        assert_eq!(merged.len(), 2);
        assert_eq!(
            (merged[0].succeeded, merged[0].failed, merged[0].waits[0]),
            (4, 1, 2)
        );
        assert_eq!(merged[1].queue, "r");
    }
}
