-- Batches done, by when: what the pruner deletes once their time is past.
CREATE INDEX IF NOT EXISTS sluice_batches_done ON sluice_batches (finished_at)
    WHERE finished_at IS NOT NULL;
