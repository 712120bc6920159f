-- The pending job that holds a unique key.
SELECT id FROM sluice_jobs
WHERE unique_key = $1 AND state IN ('scheduled', 'available', 'running', 'retryable')
