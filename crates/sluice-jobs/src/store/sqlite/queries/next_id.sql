-- The id the next job inserted takes (in a write transaction, so no other writer takes it).
SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'sluice_jobs'), 0),
    coalesce((SELECT max(id) FROM sluice_jobs), 0)) + 1
