-- Deletes up to $4 jobs in states $1 that ended before $2 (of queue $3, if given).
DELETE FROM sluice_jobs WHERE id IN (
    SELECT id FROM sluice_jobs WHERE state = ANY($1) AND finished_at < $2
    AND ($3::text IS NULL OR queue = $3) LIMIT $4)
