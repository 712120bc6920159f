//! What the SQL stores share: error mapping, the reads of the admin side, the registry, when to
//! promote due jobs, the order of claims, and the migration runner.

pub(crate) mod migrate;
pub(crate) mod read;
pub(crate) mod registry;

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use super::error::StoreError;
use crate::job::Job;

/// How often claims promote a queue's due scheduled and retryable jobs, at most, per process.
const PROMOTE_EVERY: chrono::Duration = chrono::Duration::milliseconds(50);

/// When this process last promoted each queue's due jobs, so that claims under load do not
/// each pay for it.
#[derive(Default)]
pub(super) struct Promotions(Mutex<HashMap<String, DateTime<Utc>>>);

impl Promotions {
    /// Whether a claim of `queue` at `now` should promote first; if so, records it.
    pub(super) fn due(&self, queue: &str, now: DateTime<Utc>) -> bool {
        let mut last = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if last
            .get(queue)
            .is_some_and(|at| now - *at < PROMOTE_EVERY && now >= *at)
        {
            return false;
        }
        last.insert(queue.to_owned(), now);
        true
    }
}

/// Maps a database error to what a worker should do about it.
pub(super) fn error(err: sqlx::Error) -> StoreError {
    match err {
        sqlx::Error::Database(db) => {
            let message = db.message().to_owned();
            if message.contains("no such table") || message.contains("does not exist") {
                StoreError::Schema(format!("{message} (run `sluice jobs migrate`)"))
            } else if is_busy(&message) {
                StoreError::Unavailable(message)
            } else {
                StoreError::Rejected(message)
            }
        }
        sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::Decode(_) => StoreError::Schema(err.to_string()),
        other => StoreError::Unavailable(other.to_string()),
    }
}

fn is_busy(message: &str) -> bool {
    message.contains("database is locked") || message.contains("database is busy")
}

/// Parses a stored state.
#[cfg(feature = "sqlite")]
pub(super) fn state(text: &str) -> Result<crate::job::JobState, StoreError> {
    text.parse().map_err(StoreError::Schema)
}

/// Sorts claimed jobs into claim order: priority, then due time, then id.
pub(super) fn claim_order(jobs: &mut [Job]) {
    jobs.sort_by(|a, b| {
        b.priority
            .cmp(&a.priority)
            .then(a.run_at.cmp(&b.run_at))
            .then(a.id.cmp(&b.id))
    });
}
