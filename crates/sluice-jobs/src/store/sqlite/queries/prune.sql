-- Deletes up to ?4 jobs in states ?1 (a JSON array) that ended before ?2, of queue ?3 and kind
-- ?5 if given, of no kind in ?6 (a JSON array).
DELETE FROM sluice_jobs WHERE id IN (
    SELECT id FROM sluice_jobs WHERE state IN (SELECT value FROM json_each(?1))
    AND finished_at < ?2 AND (?3 IS NULL OR queue = ?3) AND (?5 IS NULL OR kind = ?5)
    AND kind NOT IN (SELECT value FROM json_each(?6)) LIMIT ?4)
