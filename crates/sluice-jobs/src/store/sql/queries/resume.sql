-- Resumes queue $1.
DELETE FROM sluice_paused WHERE queue = $1 RETURNING queue
