-- Makes a queue's due scheduled and retryable jobs available.
UPDATE sluice_jobs SET state = 'available'
WHERE queue = ? AND state IN ('scheduled', 'retryable') AND run_at <= ?
