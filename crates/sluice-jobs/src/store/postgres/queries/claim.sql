-- Moves up to $2 available jobs of queue $1 to running for worker $3, leased until $4, unless
-- the queue is paused. SKIP LOCKED: concurrent claimers never wait on each other's rows.
UPDATE sluice_jobs SET state = 'running', attempt = attempt + 1, worker = $3, lease_until = $4
WHERE id IN (
    SELECT id FROM sluice_jobs WHERE queue = $1 AND state = 'available'
        AND NOT EXISTS (SELECT 1 FROM sluice_paused WHERE queue = $1)
    ORDER BY priority DESC, run_at, id LIMIT $2
    FOR UPDATE SKIP LOCKED)
RETURNING *
