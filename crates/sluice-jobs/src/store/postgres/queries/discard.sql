-- Deletes jobs $1 that have ended.
DELETE FROM sluice_jobs WHERE id = ANY($1) AND state IN ('succeeded', 'dead', 'cancelled')
