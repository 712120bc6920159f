-- Leases are found by their end alone. With `state = 'running'` as its predicate, the index let
-- the planner, given statistics taken while few jobs ran, complete a batch of jobs by reading
-- every running job for each one (a nested loop over the leases) instead of looking each up by
-- its id: a batch of 100 completions took 2.7 ms instead of 0.5. A lease is set only while a
-- job runs.
DROP INDEX IF EXISTS sluice_jobs_leases;
CREATE INDEX IF NOT EXISTS sluice_jobs_leases
    ON sluice_jobs (lease_until)
    WHERE lease_until IS NOT NULL;
