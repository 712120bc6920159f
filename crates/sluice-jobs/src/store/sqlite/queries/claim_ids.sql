-- Moves the jobs of ids ?3 (a JSON array) to running for worker ?1, leased until ?2, unless
-- their queue is paused.
UPDATE sluice_jobs SET state = 'running', attempt = attempt + 1, worker = ?1, lease_until = ?2,
    unique_key = CASE WHEN unique_until = 'start' THEN NULL ELSE unique_key END
WHERE id IN (SELECT value FROM json_each(?3))
    AND NOT EXISTS (SELECT 1 FROM sluice_paused p WHERE p.queue = sluice_jobs.queue)
RETURNING *
