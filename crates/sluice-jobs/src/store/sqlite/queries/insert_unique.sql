-- Inserts a job with a unique key unless a pending job holds the key; returns the new id if so.
-- The condition is the partial unique index's.
INSERT INTO sluice_jobs (queue, kind, args, priority, state, max_attempts, run_at, unique_key,
    partition_key, traceparent, created_at, unique_for_ms, unique_until)
VALUES (?, ?, json(?), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL
    AND state IN ('scheduled', 'available', 'running', 'retryable')
DO NOTHING
RETURNING id
