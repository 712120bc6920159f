-- The job that holds unique key $1 at $2: a pending one, or else a succeeded one that ended
-- less than its `unique_for` ago.
SELECT id FROM sluice_jobs
WHERE unique_key = $1 AND (state IN ('scheduled', 'available', 'running', 'retryable')
    OR (state = 'succeeded' AND unique_for_ms IS NOT NULL
        AND finished_at + unique_for_ms * interval '1 millisecond' > $2))
ORDER BY state = 'succeeded', finished_at DESC LIMIT 1
