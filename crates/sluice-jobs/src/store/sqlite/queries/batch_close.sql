-- Closes batch ?1 if it is open; returns its id if so.
UPDATE sluice_batches SET open = 0 WHERE id = ?1 AND open
RETURNING id
