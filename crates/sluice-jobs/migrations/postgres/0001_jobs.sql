CREATE TABLE IF NOT EXISTS sluice_jobs (
    id BIGSERIAL PRIMARY KEY,
    queue TEXT NOT NULL,
    kind TEXT NOT NULL,
    args JSONB NOT NULL,
    priority SMALLINT NOT NULL DEFAULT 0,
    state TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    run_at TIMESTAMPTZ NOT NULL,
    lease_until TIMESTAMPTZ,
    worker TEXT,
    errors JSONB NOT NULL DEFAULT '[]',
    unique_key TEXT,
    partition_key TEXT,
    cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ
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

-- No index covers every row by state: each claim and completion would add an entry to it
-- (a state change is never a HOT update), a quarter of a claim's cost. Listings read the
-- primary key backwards or the partial index of the state they ask for.

-- The last tick fired of each cron schedule: a tick fires once however many workers run.
CREATE TABLE IF NOT EXISTS sluice_schedules (
    name TEXT PRIMARY KEY,
    last_tick TIMESTAMPTZ NOT NULL
);
