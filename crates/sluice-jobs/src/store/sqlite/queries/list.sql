-- Jobs of a queue, state and kind (each optional), newest first.
SELECT * FROM sluice_jobs
WHERE (?1 IS NULL OR queue = ?1) AND (?2 IS NULL OR state = ?2) AND (?3 IS NULL OR kind = ?3)
ORDER BY id DESC LIMIT ?4
