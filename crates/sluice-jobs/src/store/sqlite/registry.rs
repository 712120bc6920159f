//! The SQLite store's registry: the statements both SQL stores share (`sql::registry`).

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::SqliteStore;
use crate::store::error::StoreError;
use crate::store::registry::{MinuteStats, Paused, WorkerBeat, WorkerInfo};
use crate::store::roles::Registry;
use crate::store::sql::registry as shared;

#[async_trait]
impl Registry for SqliteStore {
    async fn pause(&self, queue: &str) -> Result<bool, StoreError> {
        shared::set_paused(&self.pool, queue, true, self.now()).await
    }

    /// Waiting workers of this process wake at once; those of others see the commit.
    async fn resume(&self, queue: &str) -> Result<bool, StoreError> {
        let resumed = shared::set_paused(&self.pool, queue, false, self.now()).await?;
        self.enqueued.notify_waiters();
        Ok(resumed)
    }

    async fn paused(&self) -> Result<Vec<Paused>, StoreError> {
        shared::paused(&self.pool).await
    }

    async fn beat(&self, beat: WorkerBeat) -> Result<(), StoreError> {
        shared::beat(&self.pool, beat, self.now()).await
    }

    async fn workers(&self) -> Result<Vec<WorkerInfo>, StoreError> {
        shared::workers(&self.pool).await
    }

    async fn minutes(&self, since: DateTime<Utc>) -> Result<Vec<MinuteStats>, StoreError> {
        shared::minutes(&self.pool, since).await
    }

    async fn ticks(&self) -> Result<BTreeMap<String, DateTime<Utc>>, StoreError> {
        shared::ticks(&self.pool, "SELECT name, last_tick FROM sluice_schedules").await
    }
}
