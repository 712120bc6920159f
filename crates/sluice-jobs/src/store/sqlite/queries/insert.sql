-- Inserts jobs without a unique key, in order, from a JSON array of objects (?2), in batch ?3
-- (or none); returns their ids. ?1 is now.
INSERT INTO sluice_jobs (queue, kind, args, priority, state, max_attempts, run_at, partition_key,
    traceparent, created_at, batch_id)
SELECT value->>'queue', value->>'kind', value->'args', value->>'priority', value->>'state',
    value->>'max_attempts', value->>'run_at', value->>'partition_key', value->>'traceparent', ?1,
    ?3
FROM json_each(?2) ORDER BY key
RETURNING id
