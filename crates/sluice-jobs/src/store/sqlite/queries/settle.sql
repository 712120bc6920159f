-- Settles the workflow steps waiting on jobs that just ended, in the transaction that ended
-- them. ?1 is a JSON array of [step id, whether the ended dependency failed] (a step twice if
-- two of its dependencies ended); ?2 is now, ?3 its text. Each blocked step counts its ended
-- dependencies off `waiting_on`; the end that brings it to zero makes it available (or
-- scheduled, if it was given a later time). A failed dependency cancels a step that does not
-- run on dependency failure. Returns each moved step's queue, new state and dependents, so the
-- caller wakes the queues and settles the dependents of cancelled steps in turn.
UPDATE sluice_jobs SET
    state = CASE WHEN k.failed AND on_dependency_failure = 'cancel' THEN 'cancelled'
        WHEN waiting_on > k.n THEN 'blocked'
        WHEN run_at > ?2 THEN 'scheduled' ELSE 'available' END,
    waiting_on = CASE WHEN k.failed AND on_dependency_failure = 'cancel' THEN waiting_on
        ELSE max(waiting_on - k.n, 0) END,
    run_at = max(run_at, ?2),
    finished_at = CASE WHEN k.failed AND on_dependency_failure = 'cancel' THEN ?2 END,
    errors = CASE WHEN k.failed AND on_dependency_failure = 'cancel'
        THEN json_insert(errors, '$[#]', json_object('attempt', attempt, 'at', ?3,
            'error', 'a job it depends on ended dead or cancelled'))
        ELSE errors END
FROM (SELECT value->>0 AS id, count(*) AS n, max(value->>1) AS failed FROM json_each(?1)
    GROUP BY 1) AS k
WHERE sluice_jobs.id = k.id AND sluice_jobs.state = 'blocked'
RETURNING queue, state, dependents
