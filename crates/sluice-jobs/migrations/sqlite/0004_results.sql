-- What a job's handler returned when it succeeded (JSON text), kept with the job.
ALTER TABLE sluice_jobs ADD COLUMN result TEXT;
