-- Takes back running jobs whose lease ended before $1: retryable now, or dead after their last
-- attempt, with the error $3 ($2 is now as text). The workflow steps waiting on jobs that died
-- are settled, and their batches counted, in the same statement ($4 prefixes the
-- notifications of the queues it wakes).
WITH rescued AS (
    UPDATE sluice_jobs SET
        state = CASE WHEN attempt >= max_attempts THEN 'dead' ELSE 'retryable' END,
        finished_at = CASE WHEN attempt >= max_attempts THEN $1::timestamptz END,
        run_at = $1, lease_until = NULL,
        errors = errors || jsonb_build_array(jsonb_build_object('attempt', attempt, 'at', $2::text,
            'error', $3::text))
    WHERE state = 'running' AND lease_until < $1
    RETURNING id, state, dependents, batch_id),
kids AS (
    SELECT d FROM rescued, unnest(rescued.dependents) AS d WHERE rescued.state = 'dead'),
dead AS (
    SELECT batch_id FROM rescued WHERE state = 'dead' AND batch_id IS NOT NULL)
SELECT id, (SELECT sluice_settle(array_agg(d), array_fill(TRUE, ARRAY[count(*)::integer]), $1,
        $2, $4) FROM kids HAVING count(*) > 0),
    (SELECT sluice_batch_ended(array_agg(batch_id), array_fill(FALSE, ARRAY[count(*)::integer]),
        $1, $4) FROM dead HAVING count(*) > 0)
FROM rescued
