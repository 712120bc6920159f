CREATE TABLE IF NOT EXISTS sluice_jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    kind TEXT NOT NULL,
    args TEXT NOT NULL,
    priority INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    run_at INTEGER NOT NULL,
    lease_until INTEGER,
    worker TEXT,
    errors TEXT NOT NULL DEFAULT '[]',
    unique_key TEXT,
    partition_key TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    finished_at INTEGER
);

-- Claims read only available rows: finished and waiting jobs never slow them down.
CREATE INDEX IF NOT EXISTS sluice_jobs_available
    ON sluice_jobs (queue, priority DESC, run_at, id)
    WHERE state = 'available';

-- Promotion of due scheduled and retryable jobs reads only those.
CREATE INDEX IF NOT EXISTS sluice_jobs_waiting
    ON sluice_jobs (queue, run_at)
    WHERE state IN ('scheduled', 'retryable');

-- Claims with a partition limit visit each partition's first available jobs.
CREATE INDEX IF NOT EXISTS sluice_jobs_available_partitions
    ON sluice_jobs (queue, partition_key, priority DESC, run_at, id)
    WHERE state = 'available' AND partition_key IS NOT NULL;

CREATE INDEX IF NOT EXISTS sluice_jobs_leases
    ON sluice_jobs (lease_until)
    WHERE state = 'running';

CREATE INDEX IF NOT EXISTS sluice_jobs_running_partitions
    ON sluice_jobs (partition_key)
    WHERE state = 'running' AND partition_key IS NOT NULL;

-- At most one pending job per unique key.
CREATE UNIQUE INDEX IF NOT EXISTS sluice_jobs_unique
    ON sluice_jobs (unique_key)
    WHERE unique_key IS NOT NULL AND state IN ('scheduled', 'available', 'running', 'retryable');

CREATE INDEX IF NOT EXISTS sluice_jobs_finished
    ON sluice_jobs (finished_at)
    WHERE state IN ('succeeded', 'dead', 'cancelled');

CREATE INDEX IF NOT EXISTS sluice_jobs_listing
    ON sluice_jobs (queue, state, id);

-- The last tick fired of each cron schedule: a tick fires once however many workers run.
CREATE TABLE IF NOT EXISTS sluice_schedules (
    name TEXT PRIMARY KEY,
    last_tick INTEGER NOT NULL
);
