-- A new batch of $2 jobs (open if $3), with its description and callbacks; returns its id.
INSERT INTO sluice_batches (description, total, open, on_success, on_complete, created_at)
VALUES ($1, $2, $3, $4, $5, $6)
RETURNING id
