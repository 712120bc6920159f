-- The tables of the registry (paused queues, workers, minute counts) are the same in both
-- SQL stores, times in milliseconds and JSON as text, so one set of statements serves both.

-- Queues an operator paused: their claims take nothing until they are resumed.
CREATE TABLE IF NOT EXISTS sluice_paused (
    queue TEXT PRIMARY KEY,
    since BIGINT NOT NULL
);

-- Each worker as it last reported itself (a JSON object), kept a day after it went away.
CREATE TABLE IF NOT EXISTS sluice_workers (
    name TEXT PRIMARY KEY,
    info TEXT NOT NULL,
    beat_at BIGINT NOT NULL
);

-- Jobs ended and wait times per queue, minute and worker, kept a day.
CREATE TABLE IF NOT EXISTS sluice_minutes (
    queue TEXT NOT NULL,
    minute BIGINT NOT NULL,
    worker TEXT NOT NULL,
    succeeded BIGINT NOT NULL,
    failed BIGINT NOT NULL,
    waits TEXT NOT NULL,
    PRIMARY KEY (minute, queue, worker)
);

-- Listings by unique and partition key read only those jobs (jobs without keys, most of them,
-- have no entries).
CREATE INDEX IF NOT EXISTS sluice_jobs_unique_keys
    ON sluice_jobs (unique_key) WHERE unique_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS sluice_jobs_partition_keys
    ON sluice_jobs (partition_key) WHERE partition_key IS NOT NULL;

-- Which queues, kinds and states go together (a queue without available jobs, say), so that
-- a listing of a rare combination reads the index of its state rather than every job, newest
-- first, looking for one. Taken by ANALYZE, as autovacuum runs it.
CREATE STATISTICS IF NOT EXISTS sluice_jobs_queue_kind_state (mcv) ON queue, kind, state
    FROM sluice_jobs;
