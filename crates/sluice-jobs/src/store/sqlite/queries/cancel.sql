-- Cancels job ?2 at ?1 if it is waiting.
UPDATE sluice_jobs SET state = 'cancelled', finished_at = ?1
WHERE id = ?2 AND state IN ('scheduled', 'available', 'retryable')
