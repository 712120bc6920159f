-- What a job's handler returned when it succeeded, kept with the job.
ALTER TABLE sluice_jobs ADD COLUMN IF NOT EXISTS result JSONB;
