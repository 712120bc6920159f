//! Acting on every job a filter matches: the ids are read page by page (newest first), then
//! acted on in chunks, so a filter matching a million jobs never loads a million jobs at once.
//! The selection is read before the action: a job that starts to match afterwards is left
//! alone, and one that stopped matching is acted on only if the action still applies to it
//! (retry, cancel and discard each check the job's state).

use super::error::StoreError;
use super::params::ListParams;
use super::roles::Admin;
use crate::job::JobId;

/// Jobs read per page.
const PAGE: u32 = 1000;

/// The ids of every job `filter` matches (its `before` and `limit` are ignored), newest first.
pub async fn matching(admin: &dyn Admin, filter: &ListParams) -> Result<Vec<JobId>, StoreError> {
    let mut ids = Vec::new();
    let mut page = ListParams {
        before: None,
        limit: PAGE,
        ..filter.clone()
    };
    loop {
        let jobs = admin.list(page.clone()).await?;
        let full = jobs.len() == PAGE as usize;
        ids.extend(jobs.iter().map(|job| job.id));
        match (full, ids.last()) {
            (true, Some(&last)) => page.before = Some(last),
            _ => return Ok(ids),
        }
    }
}
