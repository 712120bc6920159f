-- Inserts jobs without a unique key, in order, all at once, in batch $11 (or none); returns
-- their ids.
INSERT INTO sluice_jobs (queue, kind, args, priority, state, max_attempts, run_at, partition_key,
    traceparent, created_at, batch_id)
SELECT queue, kind, args, priority, state, max_attempts, run_at, partition_key, traceparent, $10,
    $11
FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::smallint[], $5::text[], $6::int[],
    $7::timestamptz[], $8::text[], $9::text[]) WITH ORDINALITY
    AS t(queue, kind, args, priority, state, max_attempts, run_at, partition_key, traceparent, n)
ORDER BY n
RETURNING id
