-- Counts $2 more jobs in batch $1 if it is open (holding its row until the transaction ends,
-- so a close waits for the jobs being added); returns its id if so.
UPDATE sluice_batches SET total = total + $2 WHERE id = $1 AND open
RETURNING id
