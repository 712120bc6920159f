-- The W3C trace context of each job's enqueueing: its attempts' spans continue that trace.
ALTER TABLE sluice_jobs ADD COLUMN IF NOT EXISTS traceparent TEXT;
