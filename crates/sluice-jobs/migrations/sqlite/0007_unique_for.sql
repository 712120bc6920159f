-- How long a job's unique key stays held after it succeeded (milliseconds), and the index the
-- enqueue reads to find a job that holds its key so.
ALTER TABLE sluice_jobs ADD COLUMN unique_for_ms INTEGER;

CREATE INDEX IF NOT EXISTS sluice_jobs_unique_held ON sluice_jobs (unique_key, finished_at)
    WHERE unique_for_ms IS NOT NULL AND state = 'succeeded';
