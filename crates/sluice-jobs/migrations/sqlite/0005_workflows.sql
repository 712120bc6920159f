-- Workflow steps: the workflow (its first step's id), the step's name, the jobs it waits for
-- and those that wait for it (JSON arrays of ids), how many it still waits for, and what it
-- does when one of them ends dead or cancelled (`cancel` or `run`).
ALTER TABLE sluice_jobs ADD COLUMN workflow_id INTEGER;
ALTER TABLE sluice_jobs ADD COLUMN step TEXT;
ALTER TABLE sluice_jobs ADD COLUMN depends_on TEXT;
ALTER TABLE sluice_jobs ADD COLUMN dependents TEXT;
ALTER TABLE sluice_jobs ADD COLUMN waiting_on INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sluice_jobs ADD COLUMN on_dependency_failure TEXT;

-- Counts of blocked steps read only them.
CREATE INDEX IF NOT EXISTS sluice_jobs_blocked ON sluice_jobs (queue) WHERE state = 'blocked';

-- A workflow's steps, for the console and `sluice jobs workflow`.
CREATE INDEX IF NOT EXISTS sluice_jobs_workflows ON sluice_jobs (workflow_id)
    WHERE workflow_id IS NOT NULL;
