-- The same tables as in PostgreSQL (times in milliseconds, JSON as text): one set of
-- statements serves both SQL stores.

-- Queues an operator paused: their claims take nothing until they are resumed.
CREATE TABLE IF NOT EXISTS sluice_paused (
    queue TEXT PRIMARY KEY,
    since INTEGER NOT NULL
);

-- Each worker as it last reported itself (a JSON object), kept a day after it went away.
CREATE TABLE IF NOT EXISTS sluice_workers (
    name TEXT PRIMARY KEY,
    info TEXT NOT NULL,
    beat_at INTEGER NOT NULL
);

-- Jobs ended and wait times per queue, minute and worker, kept a day.
CREATE TABLE IF NOT EXISTS sluice_minutes (
    queue TEXT NOT NULL,
    minute INTEGER NOT NULL,
    worker TEXT NOT NULL,
    succeeded INTEGER NOT NULL,
    failed INTEGER NOT NULL,
    waits TEXT NOT NULL,
    PRIMARY KEY (minute, queue, worker)
);

-- Listings by unique and partition key read only those jobs.
CREATE INDEX IF NOT EXISTS sluice_jobs_unique_keys
    ON sluice_jobs (unique_key) WHERE unique_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS sluice_jobs_partition_keys
    ON sluice_jobs (partition_key) WHERE partition_key IS NOT NULL;
