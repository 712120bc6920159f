-- Deletes up to $2 batches done before $1.
DELETE FROM sluice_batches WHERE id = ANY(ARRAY(
    SELECT id FROM sluice_batches WHERE finished_at < $1 LIMIT $2))
