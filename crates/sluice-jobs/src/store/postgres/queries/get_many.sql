-- The jobs of ids $1.
SELECT * FROM sluice_jobs WHERE id = ANY($1)
