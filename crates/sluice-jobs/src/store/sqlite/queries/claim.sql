-- Moves up to ?4 available jobs of queue ?3 to running for worker ?1, leased until ?2, unless
-- the queue is paused.
UPDATE sluice_jobs SET state = 'running', attempt = attempt + 1, worker = ?1, lease_until = ?2,
    unique_key = CASE WHEN unique_until = 'start' THEN NULL ELSE unique_key END
WHERE id IN (
    SELECT id FROM sluice_jobs WHERE queue = ?3 AND state = 'available'
        AND NOT EXISTS (SELECT 1 FROM sluice_paused WHERE queue = ?3)
    ORDER BY priority DESC, run_at, id LIMIT ?4)
RETURNING *
