//! Rate limits shared by every worker of a store: what they count apart, and the windows they
//! count in.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::clock::period_millis;

/// What a [`SharedRate`] counts apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateScope {
    /// The queue's jobs together.
    #[default]
    Queue,
    /// Each kind's jobs, in a window of its own.
    Kind,
    /// Each partition key's jobs, in a window of its own; jobs without a key are not counted.
    PartitionKey,
}

impl RateScope {
    /// Its name in worker files and scripts.
    pub fn as_str(self) -> &'static str {
        match self {
            RateScope::Queue => "queue",
            RateScope::Kind => "kind",
            RateScope::PartitionKey => "partition_key",
        }
    }
}

/// At most `limit` jobs of a queue (or of each kind or partition key in it, `by`) started in
/// each window of `per`, by all workers together: counted by the store in the claim itself, so
/// that claims at once cannot pass it. Windows are fixed, aligned on the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedRate {
    /// Jobs started per window.
    pub limit: u32,
    /// The window.
    pub per: Duration,
    /// What is counted apart. Defaults to the whole queue.
    pub by: RateScope,
}

impl SharedRate {
    /// `limit` jobs of the whole queue per window of `per` (at least 1 ms).
    pub fn new(limit: u32, per: Duration) -> SharedRate {
        SharedRate {
            limit,
            per: per.max(Duration::from_millis(1)),
            by: RateScope::Queue,
        }
    }

    /// Counts each kind or partition key apart instead (`scope`).
    pub fn by(self, scope: RateScope) -> SharedRate {
        SharedRate { by: scope, ..self }
    }

    fn per_millis(&self) -> i64 {
        period_millis(self.per).max(1)
    }

    /// The start of the window `now` falls in, in milliseconds since the epoch.
    pub fn window(&self, now: DateTime<Utc>) -> i64 {
        let per = self.per_millis();
        now.timestamp_millis().div_euclid(per) * per
    }

    /// When the window after the one `now` falls in begins.
    pub fn next_window(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.window(now).saturating_add(self.per_millis()))
            .unwrap_or(now)
    }

    /// The window a job of `kind` with `partition_key` counts in: `""` (the queue's) under a rate
    /// of the queue, else its kind or its key; none for a job without a key under a rate per key.
    pub fn scope_of<'a>(&self, kind: &'a str, partition_key: Option<&'a str>) -> Option<&'a str> {
        match self.by {
            RateScope::Queue => Some(""),
            RateScope::Kind => Some(kind),
            RateScope::PartitionKey => partition_key,
        }
    }
}
