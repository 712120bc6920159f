-- Deletes the jobs of ids ?2 (a JSON array) still running for worker ?1: a final state their
-- queue keeps none of. Returns the steps waiting on each.
DELETE FROM sluice_jobs WHERE state = 'running' AND worker = ?1
    AND id IN (SELECT value FROM json_each(?2))
RETURNING dependents, batch_id
