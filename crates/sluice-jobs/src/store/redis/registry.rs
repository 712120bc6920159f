//! The Redis store's registry: paused queues in a hash that the claim script reads, workers and
//! minute counts in hashes indexed by time (`lua/beat.lua`, `lua/minutes.lua`).

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{RedisStore, error};
use crate::clock::{from_millis, millis};
use crate::store::error::StoreError;
use crate::store::registry::{
    MinuteStats, Paused, REGISTRY_KEEP, WorkerBeat, WorkerInfo, from_json, merge_minutes, to_json,
};
use crate::store::roles::Registry;

#[async_trait]
impl Registry for RedisStore {
    async fn pause(&self, queue: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let set: bool = redis::cmd("HSETNX")
            .arg(format!("{}:paused", self.prefix))
            .arg(queue)
            .arg(millis(self.now()))
            .query_async(&mut conn)
            .await
            .map_err(error)?;
        Ok(set)
    }

    /// Wakes one waiting worker of the queue, which passes the wake on while work remains.
    async fn resume(&self, queue: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let wake = format!("{}:q:{queue}:wake", self.prefix);
        let (removed, ..): (u64, u64, ()) = redis::pipe()
            .atomic()
            .hdel(format!("{}:paused", self.prefix), queue)
            .rpush(&wake, 1)
            .ltrim(&wake, -1, -1)
            .query_async(&mut conn)
            .await
            .map_err(error)?;
        Ok(removed > 0)
    }

    async fn paused(&self) -> Result<Vec<Paused>, StoreError> {
        let mut conn = self.conn.clone();
        let paused: BTreeMap<String, i64> = redis::cmd("HGETALL")
            .arg(format!("{}:paused", self.prefix))
            .query_async(&mut conn)
            .await
            .map_err(error)?;
        Ok(paused
            .into_iter()
            .map(|(queue, since)| Paused {
                queue,
                since: from_millis(since),
            })
            .collect())
    }

    async fn beat(&self, beat: WorkerBeat) -> Result<(), StoreError> {
        let now = self.now();
        let WorkerBeat { mut info, minutes } = beat;
        info.beat_at = now;
        let mut args = vec![
            millis(now).to_string(),
            millis(now - REGISTRY_KEEP).to_string(),
            info.name.clone(),
            to_json(&info)?,
        ];
        for minute in minutes {
            args.push(millis(minute.minute).to_string());
            args.push(minute.queue.clone());
            args.push(to_json(&minute)?);
        }
        self.run::<i64>(&self.scripts.beat, args).await.map(drop)
    }

    async fn workers(&self) -> Result<Vec<WorkerInfo>, StoreError> {
        let mut conn = self.conn.clone();
        let workers: BTreeMap<String, String> = redis::cmd("HGETALL")
            .arg(format!("{}:workers", self.prefix))
            .query_async(&mut conn)
            .await
            .map_err(error)?;
        workers
            .values()
            .map(|info| from_json("worker report", info))
            .collect()
    }

    async fn minutes(&self, since: DateTime<Utc>) -> Result<Vec<MinuteStats>, StoreError> {
        let rows: Vec<(String, String)> = self
            .run(&self.scripts.minutes, vec![millis(since).to_string()])
            .await?;
        let rows = rows
            .iter()
            .map(|(_, counts)| from_json("minute counts", counts))
            .collect::<Result<Vec<MinuteStats>, _>>()?;
        Ok(merge_minutes(rows))
    }

    async fn ticks(&self) -> Result<BTreeMap<String, DateTime<Utc>>, StoreError> {
        let mut conn = self.conn.clone();
        let ticks: BTreeMap<String, i64> = redis::cmd("HGETALL")
            .arg(format!("{}:schedules", self.prefix))
            .query_async(&mut conn)
            .await
            .map_err(error)?;
        Ok(ticks
            .into_iter()
            .map(|(name, tick)| (name, from_millis(tick)))
            .collect())
    }
}
