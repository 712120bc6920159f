-- Up to ?3 available jobs of queue ?1, at most ?2 running per partition key (counting those
-- running already), in claim order: each key's first jobs, found by a skip scan over the
-- partition index, so a key with a long backlog never hides the others; then jobs without a key.
WITH RECURSIVE keys(k) AS (
    SELECT min(partition_key) FROM sluice_jobs
        WHERE queue = ?1 AND state = 'available' AND partition_key IS NOT NULL
    UNION ALL
    SELECT (SELECT min(partition_key) FROM sluice_jobs
        WHERE queue = ?1 AND state = 'available' AND partition_key > keys.k)
    FROM keys WHERE keys.k IS NOT NULL),
busy(k, n) AS (
    SELECT partition_key, count(*) FROM sluice_jobs
    WHERE state = 'running' AND partition_key IN (SELECT k FROM keys) GROUP BY partition_key),
ranked AS (
    SELECT j.id, j.priority, j.run_at,
        row_number() OVER (PARTITION BY j.partition_key ORDER BY j.priority DESC, j.run_at, j.id)
            + coalesce(busy.n, 0) AS slot
    FROM keys JOIN sluice_jobs j ON j.id IN (
        SELECT id FROM sluice_jobs WHERE queue = ?1 AND state = 'available' AND partition_key = keys.k
        ORDER BY priority DESC, run_at, id LIMIT ?2)
    LEFT JOIN busy ON busy.k = keys.k
    WHERE keys.k IS NOT NULL)
SELECT id, priority, run_at FROM ranked WHERE slot <= ?2
UNION ALL
SELECT * FROM (SELECT id, priority, run_at FROM sluice_jobs
    WHERE queue = ?1 AND state = 'available' AND partition_key IS NULL
    ORDER BY priority DESC, run_at, id LIMIT ?3)
ORDER BY 2 DESC, 3, 1 LIMIT ?3
