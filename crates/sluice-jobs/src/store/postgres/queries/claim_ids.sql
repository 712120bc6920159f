-- Moves the jobs of ids $1, locked by this transaction, to running for worker $2, leased until
-- $3.
UPDATE sluice_jobs SET state = 'running', attempt = attempt + 1, worker = $2, lease_until = $3
WHERE id = ANY($1) AND state = 'available'
RETURNING *
