-- Workflow steps: the workflow (its first step's id), the step's name, the jobs it waits for
-- and those that wait for it, how many it still waits for, and what it does when one of them
-- ends dead or cancelled (`cancel` or `run`).
ALTER TABLE sluice_jobs
    ADD COLUMN IF NOT EXISTS workflow_id BIGINT,
    ADD COLUMN IF NOT EXISTS step TEXT,
    ADD COLUMN IF NOT EXISTS depends_on BIGINT[],
    ADD COLUMN IF NOT EXISTS dependents BIGINT[],
    ADD COLUMN IF NOT EXISTS waiting_on INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS on_dependency_failure TEXT;

-- Counts of blocked steps read only them.
CREATE INDEX IF NOT EXISTS sluice_jobs_blocked ON sluice_jobs (queue) WHERE state = 'blocked';

-- A workflow's steps, for the console and `sluice jobs workflow`.
CREATE INDEX IF NOT EXISTS sluice_jobs_workflows ON sluice_jobs (workflow_id)
    WHERE workflow_id IS NOT NULL;

-- Settles the steps that wait on jobs which just ended, inside the statement that ended them
-- (so no crash falls between an end and its effects). `p_kids` are the waiting steps, one entry
-- per ended dependency (a step twice if two of its dependencies ended), and `p_failed` says
-- whether that dependency ended dead or cancelled. Each blocked step counts its ended
-- dependencies off `waiting_on` under its row lock, so the end that brings it to zero is the one
-- that makes it available (or scheduled, if it was given a later time); a failed dependency
-- cancels a step that does not run on dependency failure, and that cancellation settles the
-- steps waiting on it in turn. Rows are locked in id order, so settlements never deadlock one
-- another. Wakes the workers of the queues of steps made available; returns how many steps moved.
CREATE OR REPLACE FUNCTION sluice_settle(p_kids BIGINT[], p_failed BOOLEAN[],
    p_now TIMESTAMPTZ, p_at TEXT, p_prefix TEXT) RETURNS INTEGER LANGUAGE plpgsql AS $$
DECLARE
    v_moved INTEGER := 0;
    v_count INTEGER;
BEGIN
    WHILE cardinality(p_kids) > 0 LOOP
        WITH k AS (
            SELECT id, count(*)::integer AS n, bool_or(failed) AS failed
            FROM unnest(p_kids, p_failed) AS k(id, failed) GROUP BY id),
        locked AS (
            SELECT j.id FROM sluice_jobs AS j JOIN k ON k.id = j.id
            WHERE j.state = 'blocked' ORDER BY j.id FOR UPDATE OF j),
        moved AS (
            UPDATE sluice_jobs AS j SET
                state = CASE WHEN k.failed AND j.on_dependency_failure = 'cancel' THEN 'cancelled'
                    WHEN j.waiting_on > k.n THEN 'blocked'
                    WHEN j.run_at > p_now THEN 'scheduled' ELSE 'available' END,
                waiting_on = CASE WHEN k.failed AND j.on_dependency_failure = 'cancel'
                    THEN j.waiting_on ELSE greatest(j.waiting_on - k.n, 0) END,
                run_at = CASE WHEN j.run_at > p_now THEN j.run_at ELSE p_now END,
                finished_at = CASE WHEN k.failed AND j.on_dependency_failure = 'cancel'
                    THEN p_now END,
                errors = CASE WHEN k.failed AND j.on_dependency_failure = 'cancel'
                    THEN j.errors || jsonb_build_array(jsonb_build_object('attempt', j.attempt,
                        'at', p_at, 'error', 'a job it depends on ended dead or cancelled'))
                    ELSE j.errors END
            FROM k
            WHERE j.id = k.id AND j.id IN (SELECT id FROM locked) AND j.state = 'blocked'
            RETURNING j.queue, j.state, j.dependents),
        woken AS (
            SELECT pg_notify('sluice_jobs', p_prefix || queue)
            FROM (SELECT DISTINCT queue FROM moved WHERE state = 'available') AS q),
        next AS (
            SELECT d FROM moved, unnest(moved.dependents) AS d WHERE moved.state = 'cancelled')
        SELECT coalesce((SELECT array_agg(d) FROM next), '{}'),
            (SELECT count(*) FROM moved)::integer + 0 * (SELECT count(*) FROM woken)::integer
        INTO p_kids, v_count;
        p_failed := array_fill(TRUE, ARRAY[cardinality(p_kids)]);
        v_moved := v_moved + v_count;
    END LOOP;
    RETURN v_moved;
END
$$;
