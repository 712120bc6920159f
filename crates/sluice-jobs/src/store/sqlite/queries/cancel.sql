-- Cancels job ?2 at ?1 if it is waiting; returns the steps waiting on it.
UPDATE sluice_jobs SET state = 'cancelled', finished_at = ?1
WHERE id = ?2 AND state IN ('blocked', 'scheduled', 'available', 'retryable')
RETURNING dependents, batch_id
