-- Takes back running jobs whose lease ended before ?1: retryable now, or dead after their last
-- attempt, with the error ?3 (?2 is now as text). Returns each job's new state and the steps
-- waiting on it.
UPDATE sluice_jobs SET
    state = CASE WHEN attempt >= max_attempts THEN 'dead' ELSE 'retryable' END,
    finished_at = CASE WHEN attempt >= max_attempts THEN ?1 END,
    run_at = ?1, lease_until = NULL,
    errors = json_insert(errors, '$[#]', json_object('attempt', attempt, 'at', ?2, 'error', ?3))
WHERE state = 'running' AND lease_until < ?1
RETURNING id, state, dependents, batch_id
