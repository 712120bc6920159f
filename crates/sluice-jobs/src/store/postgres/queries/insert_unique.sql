-- Inserts a job with a unique key unless a pending job holds the key; returns the new id if so.
-- The condition is the partial unique index's.
INSERT INTO sluice_jobs (queue, kind, args, priority, state, max_attempts, run_at, unique_key,
    partition_key, traceparent, created_at, unique_for_ms, unique_until)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL
    AND state IN ('scheduled', 'available', 'running', 'retryable')
DO NOTHING
RETURNING id
