-- Counts ?2 more jobs in batch ?1 if it is open; returns its id if so.
UPDATE sluice_batches SET total = total + ?2 WHERE id = ?1 AND open
RETURNING id
