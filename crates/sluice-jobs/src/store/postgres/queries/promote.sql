-- Makes a queue's due scheduled and retryable jobs available.
UPDATE sluice_jobs SET state = 'available'
WHERE id IN (
    SELECT id FROM sluice_jobs
    WHERE queue = $1 AND state IN ('scheduled', 'retryable') AND run_at <= $2
    FOR UPDATE SKIP LOCKED)
