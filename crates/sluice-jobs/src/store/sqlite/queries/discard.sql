-- Deletes the jobs of ids ? (a JSON array) that have ended.
DELETE FROM sluice_jobs WHERE id IN (SELECT value FROM json_each(?))
    AND state IN ('succeeded', 'dead', 'cancelled')
