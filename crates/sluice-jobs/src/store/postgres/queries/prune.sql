-- Deletes up to $4 jobs in states $1 that ended before $2, of queue $3 and kind $5 if given,
-- of no kind in $6; `= ANY(ARRAY(…))` as in claim.sql.
DELETE FROM sluice_jobs WHERE id = ANY(ARRAY(
    SELECT id FROM sluice_jobs WHERE state = ANY($1) AND finished_at < $2
    AND ($3::text IS NULL OR queue = $3) AND ($5::text IS NULL OR kind = $5)
    AND NOT (kind = ANY($6)) LIMIT $4))
