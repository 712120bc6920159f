//! Settling workflow steps when the jobs they wait on end, in the transaction that ends them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteConnection;

use super::super::error::StoreError;
use super::super::sql;
use crate::batch::BatchId;
use crate::clock::millis;
use crate::job::{JobId, JobState};

/// What jobs that ended in one transaction move: the workflow steps waiting on them, one entry
/// per ended dependency with whether it failed (ended dead or cancelled); and their batches,
/// with how many of their jobs ended and succeeded.
#[derive(Default)]
pub(super) struct Settlement {
    kids: Vec<(JobId, bool)>,
    batches: BTreeMap<BatchId, (u32, u32)>,
}

impl Settlement {
    /// Notes that a job ended in `state` (or moved to a state that is not an end, which
    /// settles nothing), with `dependents` (a JSON array of ids) waiting on it, in `batch`.
    pub(super) fn ended(
        &mut self,
        state: &str,
        dependents: Option<&str>,
        batch: Option<BatchId>,
    ) -> Result<(), StoreError> {
        let state = sql::state(state)?;
        if let (true, Some(batch)) = (state.is_final(), batch) {
            let (ended, succeeded) = self.batches.entry(batch).or_default();
            *ended += 1;
            *succeeded += u32::from(state == JobState::Succeeded);
        }
        if let (true, Some(dependents)) = (state.is_final(), dependents) {
            let failed = state != JobState::Succeeded;
            let ids: Vec<JobId> = serde_json::from_str(dependents)
                .map_err(|e| StoreError::Schema(format!("column dependents: {e}")))?;
            self.kids.extend(ids.into_iter().map(|id| (id, failed)));
        }
        Ok(())
    }

    /// Settles the steps noted (see `queries/settle.sql`), then those waiting on the steps it
    /// cancelled, and so on; then counts the batches' ended jobs and fires those done. Returns
    /// whether it made any job available.
    pub(super) async fn settle(
        mut self,
        conn: &mut SqliteConnection,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut woken = false;
        while !self.kids.is_empty() {
            let kids = serde_json::to_string(&std::mem::take(&mut self.kids))
                .map_err(|e| StoreError::Rejected(e.to_string()))?;
            let moved: Vec<(String, String, Option<String>)> =
                sqlx::query_as(include_str!("queries/settle.sql"))
                    .bind(kids)
                    .bind(millis(now))
                    .bind(now.to_rfc3339())
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(sql::error)?;
            for (_queue, state, dependents) in moved {
                woken |= state == JobState::Available.as_str();
                self.ended(&state, dependents.as_deref(), None)?;
            }
        }
        for (batch, (ended, succeeded)) in self.batches {
            sqlx::query(include_str!("queries/batch_count.sql"))
                .bind(batch)
                .bind(ended)
                .bind(succeeded)
                .execute(&mut *conn)
                .await
                .map_err(sql::error)?;
            woken |= super::batches::fire(conn, batch, now).await?;
        }
        Ok(woken)
    }
}
