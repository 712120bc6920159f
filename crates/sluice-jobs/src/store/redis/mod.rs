//! The Redis store: shared through one Redis server (or one slot of a cluster).
//!
//! Every transition is one Lua script (`lua/*.lua`, on the helpers of `lua/lib.lua`), so it is
//! atomic. Each queue keeps a sorted set per state: available jobs by priority then due time,
//! scheduled and retryable jobs by due time (promoted when a claim finds them due), running jobs
//! by lease expiry (what the rescuer reads). Waiting workers block on a wake-up list with
//! `BLPOP` on connections of their own; an enqueue pushes one token, and a claim that leaves
//! work behind passes it on.
//!
//! Durability is the server's: run Redis with `appendonly yes` (and `appendfsync everysec` or
//! `always`) for jobs to survive a restart of Redis. Priorities beyond ±1000 order as ±1000.
//!
//! The address may name a key prefix: `redis://host:6379/0?prefix=jobs` keeps the keys under
//! `{jobs}:` (default `{sluice}:`).

mod batches;
mod registry;
mod rows;

use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Client, Script};
use serde_json::Value;

use super::error::StoreError;
use super::params::{
    ArgsMatch, Cancelled, ClaimParams, Completion, Enqueued, FireParams, Heartbeat,
    HeartbeatParams, ListParams, PruneParams, QueueStats, RetryParams,
};
use super::params::{LEASE_EXPIRED, completion_rows, group_stats};
use super::rate::RateScope;
use super::roles::{Admin, Maintenance, Queue, Store};
use crate::batch::{Batch, BatchId, BatchStatus, EnqueuedBatch};
use crate::clock::{Clock, SystemClock, after, millis, period_millis};
use crate::job::{Job, JobId, NewJob, UniqueUntil};
use crate::metrics;
use crate::workflow::Graph;
use rows::{Row, job};

/// The most jobs or ids sent to one script call.
const CHUNK: usize = 1000;

/// The fields of a job hash that make a [`Job`], in the order the scripts return them (the
/// Lua helpers receive this list as `FIELDS`). A workflow step's come last, from `workflow_id`
/// on: the scripts read them only for a step, and return a plain job without them.
const FIELDS: [&str; 25] = [
    "id",
    "queue",
    "kind",
    "args",
    "priority",
    "state",
    "attempt",
    "max_attempts",
    "run_at",
    "lease_until",
    "worker",
    "errors",
    "unique_key",
    "partition_key",
    "created_at",
    "finished_at",
    "traceparent",
    "result",
    "unique_for",
    "batch_id",
    "workflow_id",
    "step",
    "depends_on",
    "waiting_on",
    "on_dependency_failure",
];

/// The scripts, each prefixed with the shared helpers.
struct Scripts {
    enqueue: Script,
    claim: Script,
    complete: Script,
    heartbeat: Script,
    rescue: Script,
    cancel: Script,
    retry: Script,
    discard: Script,
    prune: Script,
    stats: Script,
    list: Script,
    fire: Script,
    beat: Script,
    minutes: Script,
    workflow: Script,
    batch: Script,
    batch_add: Script,
    batch_close: Script,
    batch_prune: Script,
}

impl Scripts {
    fn load() -> Scripts {
        let fields: Vec<String> = FIELDS.iter().map(|f| format!("'{f}'")).collect();
        let lib = format!(
            "local FIELDS = {{{}}}\n{}",
            fields.join(", "),
            include_str!("lua/lib.lua")
        );
        let script = |body: &str| Script::new(&format!("{lib}\n{body}"));
        Scripts {
            enqueue: script(include_str!("lua/enqueue.lua")),
            claim: script(include_str!("lua/claim.lua")),
            complete: script(include_str!("lua/complete.lua")),
            heartbeat: script(include_str!("lua/heartbeat.lua")),
            rescue: script(include_str!("lua/rescue.lua")),
            cancel: script(include_str!("lua/cancel.lua")),
            retry: script(include_str!("lua/retry.lua")),
            discard: script(include_str!("lua/discard.lua")),
            prune: script(include_str!("lua/prune.lua")),
            stats: script(include_str!("lua/stats.lua")),
            list: script(include_str!("lua/list.lua")),
            fire: script(include_str!("lua/fire.lua")),
            beat: script(include_str!("lua/beat.lua")),
            minutes: script(include_str!("lua/minutes.lua")),
            workflow: script(include_str!("lua/workflow.lua")),
            batch: script(include_str!("lua/batch.lua")),
            batch_add: script(include_str!("lua/batch_add.lua")),
            batch_close: script(include_str!("lua/batch_close.lua")),
            batch_prune: script(include_str!("lua/batch_prune.lua")),
        }
    }
}

/// Jobs kept in Redis. See the [module docs](self).
pub struct RedisStore {
    client: Client,
    conn: ConnectionManager,
    prefix: String,
    clock: Arc<dyn Clock>,
    scripts: Scripts,
    /// Connections for blocking waits, which would stall a shared connection.
    blocking: StdMutex<Vec<MultiplexedConnection>>,
}

#[allow(clippy::needless_pass_by_value)] // Used as `map_err(error)`.
fn error(err: redis::RedisError) -> StoreError {
    if err.is_io_error()
        || err.is_connection_dropped()
        || err.is_timeout()
        || err.is_connection_refusal()
    {
        StoreError::Unavailable(err.to_string())
    } else {
        StoreError::Rejected(err.to_string())
    }
}

impl RedisStore {
    /// Connects to the server at `url` (`redis://HOST:PORT[/DB][?prefix=NAME]`).
    pub async fn connect(url: &str) -> Result<RedisStore, StoreError> {
        let (url, prefix) = super::address::take_param(url, "prefix");
        let prefix = format!("{{{}}}", prefix.unwrap_or_else(|| "sluice".to_owned()));
        let client = Client::open(url.as_str()).map_err(|e| StoreError::Address {
            url: url.clone(),
            reason: e.to_string(),
        })?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(Duration::from_secs(30)))
            .set_connection_timeout(Some(Duration::from_secs(5)));
        let conn = ConnectionManager::new_with_config(client.clone(), config)
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot connect to Redis: {e}")))?;
        Ok(RedisStore {
            client,
            conn,
            prefix,
            clock: Arc::new(SystemClock),
            scripts: Scripts::load(),
            blocking: StdMutex::new(Vec::new()),
        })
    }

    /// Reads the time from `clock` (for tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> RedisStore {
        self.clock = clock;
        self
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Runs `script` with the prefix as its first argument and `args` after it.
    async fn run<T: redis::FromRedisValue>(
        &self,
        script: &Script,
        args: Vec<String>,
    ) -> Result<T, StoreError> {
        let mut invocation = script.key(format!("{}:seq", self.prefix));
        invocation.arg(&self.prefix);
        for arg in args {
            invocation.arg(arg);
        }
        let mut conn = self.conn.clone();
        invocation.invoke_async(&mut conn).await.map_err(error)
    }
}

#[async_trait]
impl Queue for RedisStore {
    async fn insert(&self, jobs: &[NewJob]) -> Result<Vec<Enqueued>, StoreError> {
        let now = self.now();
        let mut results = Vec::with_capacity(jobs.len());
        for chunk in jobs.chunks(CHUNK) {
            let mut args = vec![millis(now).to_string()];
            for job in chunk {
                args.extend(job_args(job, now));
            }
            let out: Vec<(i64, i64)> = self.run(&self.scripts.enqueue, args).await?;
            results.extend(out.into_iter().map(enqueued));
        }
        Ok(results)
    }

    async fn insert_workflow(&self, graph: &Graph) -> Result<Vec<JobId>, StoreError> {
        let now = self.now();
        let positions = |steps: &[usize]| {
            Value::from(steps.iter().map(|s| s + 1).collect::<Vec<_>>()).to_string()
        };
        let mut args = vec![millis(now).to_string()];
        for (i, job) in graph.jobs.iter().enumerate() {
            args.extend(job_args(job, now));
            args.extend([
                graph.names[i].clone(),
                positions(&graph.depends_on[i]),
                positions(&graph.dependents[i]),
                graph.on_failure[i].as_str().to_owned(),
            ]);
        }
        let first: i64 = self.run(&self.scripts.workflow, args).await?;
        Ok((first..).take(graph.len()).collect())
    }

    async fn insert_batch(&self, batch: &Batch) -> Result<EnqueuedBatch, StoreError> {
        batches::insert(self, batch).await
    }

    async fn insert_into_batch(
        &self,
        batch: BatchId,
        jobs: &[NewJob],
    ) -> Result<Vec<JobId>, StoreError> {
        batches::add(self, batch, jobs).await
    }

    async fn close_batch(&self, batch: BatchId) -> Result<bool, StoreError> {
        batches::close(self, batch).await
    }

    async fn claim(&self, params: ClaimParams) -> Result<Vec<Job>, StoreError> {
        let now = self.now();
        let (capped, rows): (i64, Vec<Row>) = self
            .run(
                &self.scripts.claim,
                vec![
                    params.queue.clone(),
                    millis(now).to_string(),
                    params.limit.to_string(),
                    params.worker,
                    millis(after(now, params.lease)).to_string(),
                    params
                        .partition_limit
                        .map_or_else(|| "-1".to_owned(), |n| n.to_string()),
                    params
                        .rate
                        .map_or_else(|| "-1".to_owned(), |r| r.limit.to_string()),
                    params
                        .rate
                        .map(|r| r.window(now).to_string())
                        .unwrap_or_default(),
                    params
                        .rate
                        .map_or(RateScope::Queue, |r| r.by)
                        .as_str()
                        .to_owned(),
                    params.rate.map_or(0, |r| period_millis(r.per)).to_string(),
                ],
            )
            .await?;
        if capped == 1 {
            metrics::rate_limited(&params.queue);
        }
        rows.into_iter().map(job).collect()
    }

    async fn complete(&self, completions: Vec<Completion>) -> Result<u64, StoreError> {
        let now = self.now();
        let rows = completion_rows(completions);
        let mut applied = 0;
        for chunk in rows.chunks(CHUNK) {
            let mut args = vec![millis(now).to_string(), now.to_rfc3339()];
            for row in chunk {
                args.extend([
                    row.id.to_string(),
                    row.worker.clone(),
                    row.state.as_str().to_owned(),
                    if row.discard { "1" } else { "" }.to_owned(),
                    row.run_at
                        .map(|t| millis(t).to_string())
                        .unwrap_or_default(),
                    row.error.clone().unwrap_or_default(),
                    row.result.clone().unwrap_or_default(),
                ]);
            }
            applied += self.run::<u64>(&self.scripts.complete, args).await?;
        }
        Ok(applied)
    }

    async fn heartbeat(&self, params: HeartbeatParams<'_>) -> Result<Heartbeat, StoreError> {
        let HeartbeatParams { worker, ids, lease } = params;
        let mut renewed = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(CHUNK) {
            let mut args = vec![
                worker.to_owned(),
                millis(after(self.now(), lease)).to_string(),
            ];
            args.extend(chunk.iter().map(ToString::to_string));
            let out: Vec<(i64, i64)> = self.run(&self.scripts.heartbeat, args).await?;
            renewed.extend(out.into_iter().map(|(id, cancel)| (id, cancel != 0)));
        }
        Ok(renewed.into_iter().collect())
    }

    async fn wait(&self, queue: &str, timeout: Duration) {
        let pooled = self
            .blocking
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop();
        let conn = match pooled {
            Some(conn) => Ok(conn),
            None => {
                let config = AsyncConnectionConfig::new()
                    .set_response_timeout(None)
                    .set_connection_timeout(Some(Duration::from_secs(5)));
                self.client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
            }
        };
        let Ok(mut conn) = conn else {
            tokio::time::sleep(timeout.min(Duration::from_secs(1))).await;
            return;
        };
        let wake = format!("{}:q:{queue}:wake", self.prefix);
        let popped: Result<Option<(String, String)>, _> = redis::cmd("BLPOP")
            .arg(&wake)
            .arg(timeout.as_secs_f64().max(0.01))
            .query_async(&mut conn)
            .await;
        match popped {
            Ok(_) => self
                .blocking
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(conn),
            Err(_) => tokio::time::sleep(timeout.min(Duration::from_secs(1))).await,
        }
    }
}

#[async_trait]
impl Maintenance for RedisStore {
    async fn rescue(&self) -> Result<Vec<JobId>, StoreError> {
        let now = self.now();
        let mut ids: Vec<i64> = self
            .run(
                &self.scripts.rescue,
                vec![
                    millis(now).to_string(),
                    now.to_rfc3339(),
                    LEASE_EXPIRED.to_owned(),
                ],
            )
            .await?;
        ids.sort_unstable();
        Ok(ids)
    }

    async fn fire(&self, params: FireParams) -> Result<Option<Enqueued>, StoreError> {
        let FireParams { name, tick, job } = params;
        let now = self.now();
        let mut args = vec![millis(now).to_string(), name, millis(tick).to_string()];
        args.extend(job_args(&job, now));
        let out: Vec<i64> = self.run(&self.scripts.fire, args).await?;
        let [status, id] = out.as_slice() else {
            return Ok(None);
        };
        let result = enqueued((*status, *id));
        Ok(Some(result))
    }

    async fn prune(&self, params: PruneParams) -> Result<u64, StoreError> {
        let mut args = vec![
            millis(params.finished_before).to_string(),
            params.queue.clone().unwrap_or_default(),
            params.limit.to_string(),
            params.kind.clone().unwrap_or_default(),
            Value::from(params.except_kinds.clone()).to_string(),
        ];
        args.extend(params.final_states().into_iter().map(str::to_owned));
        self.run(&self.scripts.prune, args).await
    }

    async fn prune_batches(
        &self,
        finished_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<u64, StoreError> {
        let args = vec![millis(finished_before).to_string(), limit.to_string()];
        self.run(&self.scripts.batch_prune, args).await
    }
}

#[async_trait]
impl Admin for RedisStore {
    async fn get(&self, id: JobId) -> Result<Option<Job>, StoreError> {
        let mut conn = self.conn.clone();
        let row: Row = redis::cmd("HMGET")
            .arg(format!("{}:job:{id}", self.prefix))
            .arg(&FIELDS)
            .query_async(&mut conn)
            .await
            .map_err(error)?;
        if row.first().is_none_or(Option::is_none) {
            Ok(None)
        } else {
            job(row).map(Some)
        }
    }

    async fn list(&self, params: ListParams) -> Result<Vec<Job>, StoreError> {
        let rows: Vec<Row> = self
            .run(
                &self.scripts.list,
                vec![
                    params.queue.unwrap_or_default(),
                    params
                        .state
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                    params.kind.unwrap_or_default(),
                    params.unique_key.unwrap_or_default(),
                    params.partition_key.unwrap_or_default(),
                    params
                        .args
                        .as_ref()
                        .map(ArgsMatch::json_path)
                        .unwrap_or_default(),
                    params.args.map(|a| a.value.to_string()).unwrap_or_default(),
                    params.before.map(|id| id.to_string()).unwrap_or_default(),
                    params.after.map(|id| id.to_string()).unwrap_or_default(),
                    params.limit.to_string(),
                    params.workflow.map(|id| id.to_string()).unwrap_or_default(),
                ],
            )
            .await?;
        rows.into_iter().map(job).collect()
    }

    async fn batch(&self, id: BatchId) -> Result<Option<BatchStatus>, StoreError> {
        batches::get(self, id).await
    }

    async fn batches(&self, limit: u32) -> Result<Vec<BatchStatus>, StoreError> {
        batches::list(self, limit).await
    }

    async fn stats(&self) -> Result<Vec<QueueStats>, StoreError> {
        let rows: Vec<(String, String, u64, i64)> =
            self.run(&self.scripts.stats, Vec::new()).await?;
        Ok(group_stats(rows.into_iter().map(|(q, s, n, oldest)| {
            (q, s, n, (oldest >= 0).then_some(oldest))
        })))
    }

    async fn retry(&self, params: RetryParams) -> Result<u64, StoreError> {
        let now = millis(self.now()).to_string();
        match params {
            RetryParams::Ids(ids) => {
                let mut count = 0;
                for chunk in ids.chunks(CHUNK) {
                    let mut args = vec![now.clone(), String::new()];
                    args.extend(chunk.iter().map(ToString::to_string));
                    count += self.run::<u64>(&self.scripts.retry, args).await?;
                }
                Ok(count)
            }
            RetryParams::AllDead { queue } => {
                self.run(&self.scripts.retry, vec![now, queue.unwrap_or_default()])
                    .await
            }
        }
    }

    async fn cancel(&self, ids: &[JobId]) -> Result<Vec<(JobId, Cancelled)>, StoreError> {
        let mut results = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(CHUNK) {
            let now = self.now();
            let mut args = vec![millis(now).to_string(), now.to_rfc3339()];
            args.extend(chunk.iter().map(ToString::to_string));
            let out: Vec<String> = self.run(&self.scripts.cancel, args).await?;
            results.extend(chunk.iter().zip(out).map(|(&id, outcome)| {
                let outcome = match outcome.as_str() {
                    "cancelled" => Cancelled::Cancelled,
                    "requested" => Cancelled::Requested,
                    _ => Cancelled::NotPending,
                };
                (id, outcome)
            }));
        }
        Ok(results)
    }

    async fn discard(&self, ids: &[JobId]) -> Result<u64, StoreError> {
        let mut count = 0;
        for chunk in ids.chunks(CHUNK) {
            count += self
                .run::<u64>(
                    &self.scripts.discard,
                    chunk.iter().map(ToString::to_string).collect(),
                )
                .await?;
        }
        Ok(count)
    }
}

#[async_trait]
impl Store for RedisStore {
    fn kind(&self) -> &'static str {
        "redis"
    }

    /// Redis keeps no schema: nothing to create.
    async fn migrate(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// One job's arguments to the enqueue and fire scripts.
fn job_args(job: &NewJob, now: DateTime<Utc>) -> [String; 10] {
    [
        job.queue.clone(),
        job.kind.clone(),
        job.args.to_string(),
        job.priority.to_string(),
        job.max_attempts.to_string(),
        millis(job.run_at.unwrap_or(now)).to_string(),
        job.unique_key.clone().unwrap_or_default(),
        job.partition_key.clone().unwrap_or_default(),
        job.traceparent.clone().unwrap_or_default(),
        match (job.unique_until, job.unique_for) {
            (UniqueUntil::Start, _) => "start".to_owned(),
            (UniqueUntil::End, Some(d)) => period_millis(d).to_string(),
            (UniqueUntil::End, None) => String::new(),
        },
    ]
}

fn enqueued((status, id): (i64, i64)) -> Enqueued {
    if status == 1 {
        Enqueued::Inserted(id)
    } else {
        Enqueued::Duplicate(id)
    }
}
