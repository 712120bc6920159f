-- Cancels jobs $1: waiting ones at once (at $2), running ones by asking their worker.
WITH waiting AS (
    UPDATE sluice_jobs SET state = 'cancelled', finished_at = $2
    WHERE id = ANY($1) AND state IN ('scheduled', 'available', 'retryable') RETURNING id),
running AS (
    UPDATE sluice_jobs SET cancel_requested = TRUE
    WHERE id = ANY($1) AND state = 'running' RETURNING id)
SELECT id, 'cancelled' FROM waiting UNION ALL SELECT id, 'requested' FROM running
