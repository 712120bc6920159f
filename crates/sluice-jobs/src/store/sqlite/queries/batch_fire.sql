-- Marks batch ?1 done at ?2 if it is closed, every job has ended and it has not fired; returns
-- its callbacks (JSON text) and whether every job succeeded, if so.
UPDATE sluice_batches SET finished_at = ?2
WHERE id = ?1 AND NOT open AND ended >= total AND finished_at IS NULL
RETURNING on_success, on_complete, succeeded >= total
