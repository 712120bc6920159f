-- Like claim.sql (nothing while the queue is paused; `= ANY(ARRAY(…))` for the same reason),
-- with at most $5 jobs running per partition key (counting those running anywhere): each key's
-- first jobs, found by a skip scan over the partition index, so a key with a long backlog never
-- hides the others; then jobs without a key.
WITH RECURSIVE keys(k) AS (
    (SELECT partition_key FROM sluice_jobs WHERE queue = $1 AND state = 'available'
        AND partition_key IS NOT NULL ORDER BY partition_key LIMIT 1)
    UNION ALL
    SELECT (SELECT partition_key FROM sluice_jobs WHERE queue = $1 AND state = 'available'
        AND partition_key > keys.k ORDER BY partition_key LIMIT 1)
    FROM keys WHERE keys.k IS NOT NULL),
busy(k, n) AS (
    SELECT partition_key, count(*) FROM sluice_jobs
    WHERE state = 'running' AND partition_key IN (SELECT k FROM keys) GROUP BY partition_key),
candidates AS (
    SELECT c.id, c.priority, c.run_at FROM keys LEFT JOIN busy USING (k)
    CROSS JOIN LATERAL (SELECT id, priority, run_at FROM sluice_jobs
        WHERE queue = $1 AND state = 'available' AND partition_key = keys.k
        ORDER BY priority DESC, run_at, id
        LIMIT greatest($5 - coalesce(busy.n, 0), 0)) c
    WHERE keys.k IS NOT NULL
    UNION ALL
    (SELECT id, priority, run_at FROM sluice_jobs
        WHERE queue = $1 AND state = 'available' AND partition_key IS NULL
        ORDER BY priority DESC, run_at, id LIMIT $2))
UPDATE sluice_jobs SET state = 'running', attempt = attempt + 1, worker = $3, lease_until = $4,
    unique_key = CASE WHEN unique_until = 'start' THEN NULL ELSE unique_key END
WHERE state = 'available' AND NOT EXISTS (SELECT 1 FROM sluice_paused WHERE queue = $1)
    AND id = ANY(ARRAY(
    SELECT id FROM candidates ORDER BY priority DESC, run_at, id LIMIT $2))
RETURNING *
