-- Inserts a workflow's steps from a JSON array of objects (?2), each with the id taken for it,
-- its workflow's id, its name, the ids of the jobs it depends on and of those depending on it
-- (JSON arrays), how many it waits for and what it does when one of them fails. ?1 is now.
INSERT INTO sluice_jobs (id, queue, kind, args, priority, state, max_attempts, run_at,
    partition_key, traceparent, created_at, workflow_id, step, depends_on, dependents,
    waiting_on, on_dependency_failure)
SELECT value->>'id', value->>'queue', value->>'kind', value->'args', value->>'priority',
    value->>'state', value->>'max_attempts', value->>'run_at', value->>'partition_key',
    value->>'traceparent', ?1, value->>'workflow_id', value->>'step', value->>'depends_on',
    value->>'dependents', value->>'waiting_on', value->>'on_dependency_failure'
FROM json_each(?2) ORDER BY key
