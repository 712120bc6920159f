-- Applies one kind of completion (state ?3, run time ?4, error ?5, result ?8) to the jobs of
-- ids ?7 (a JSON array) still running for worker ?6. A snoozed or released job gets its
-- attempt back; an error is appended to the job's errors; a result (JSON text, given only for
-- a success) is kept. ?1 is now, ?2 its text. Returns the steps waiting on each job.
UPDATE sluice_jobs SET
    state = ?3,
    run_at = coalesce(?4, run_at),
    finished_at = CASE WHEN ?3 IN ('succeeded', 'dead', 'cancelled') THEN ?1 END,
    attempt = CASE WHEN ?3 IN ('scheduled', 'available') THEN attempt - 1 ELSE attempt END,
    worker = CASE WHEN ?3 = 'available' THEN NULL ELSE worker END,
    lease_until = NULL,
    result = coalesce(?8, result),
    errors = CASE WHEN ?5 IS NULL THEN errors ELSE json_insert(errors, '$[#]',
        json_object('attempt', attempt, 'at', ?2, 'error', ?5)) END
WHERE state = 'running' AND worker = ?6 AND id IN (SELECT value FROM json_each(?7))
RETURNING dependents, batch_id
