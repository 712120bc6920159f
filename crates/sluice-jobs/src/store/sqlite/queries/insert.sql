-- Inserts jobs without a unique key, in order, from a JSON array of objects (?2); returns
-- their ids. ?1 is now.
INSERT INTO sluice_jobs (queue, kind, args, priority, state, max_attempts, run_at, partition_key,
    traceparent, created_at)
SELECT value->>'queue', value->>'kind', value->'args', value->>'priority', value->>'state',
    value->>'max_attempts', value->>'run_at', value->>'partition_key', value->>'traceparent', ?
FROM json_each(?) ORDER BY key
RETURNING id
