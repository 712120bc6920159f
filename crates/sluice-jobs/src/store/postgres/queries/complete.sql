-- Applies a batch of completions ($3..$9, one row each), only to jobs still running for the
-- worker that reports them. A final state the queue keeps none of deletes the job instead; a
-- snoozed or released job gets its attempt back; an error is appended to the job's errors; a
-- result (JSON text, given only for a success) is kept. $1 is now, $2 its text. The workflow
-- steps waiting on jobs that ended are settled, and the batches of jobs that ended counted, in
-- the same statement ($10 prefixes the notifications of the queues it wakes). Returns how many
-- completions were applied.
WITH c AS (
    SELECT * FROM unnest($3::bigint[], $4::text[], $5::text[], $6::timestamptz[], $7::text[],
        $8::bool[], $9::text[]) AS c(id, worker, state, run_at, error, discard, result)),
discarded AS (
    DELETE FROM sluice_jobs AS j USING c
    WHERE c.discard AND j.id = c.id AND j.state = 'running' AND j.worker = c.worker
    RETURNING c.state, j.dependents, j.batch_id),
changed AS (
    UPDATE sluice_jobs AS j SET
        state = c.state,
        run_at = coalesce(c.run_at, j.run_at),
        finished_at = CASE WHEN c.state IN ('succeeded', 'dead', 'cancelled') THEN $1::timestamptz END,
        attempt = CASE WHEN c.state IN ('scheduled', 'available') THEN j.attempt - 1 ELSE j.attempt END,
        worker = CASE WHEN c.state = 'available' THEN NULL ELSE j.worker END,
        lease_until = NULL,
        result = coalesce(c.result::jsonb, j.result),
        errors = CASE WHEN c.error IS NULL THEN j.errors ELSE j.errors || jsonb_build_array(
            jsonb_build_object('attempt', j.attempt, 'at', $2::text, 'error', c.error)) END
    FROM c
    WHERE NOT c.discard AND j.id = c.id AND j.state = 'running' AND j.worker = c.worker
    RETURNING j.state, j.dependents, j.batch_id),
ended AS (
    SELECT * FROM discarded UNION ALL SELECT * FROM changed),
kids AS (
    SELECT d, ended.state <> 'succeeded' AS failed FROM ended, unnest(ended.dependents) AS d
    WHERE ended.state IN ('succeeded', 'dead', 'cancelled')),
batches AS (
    SELECT batch_id, state = 'succeeded' AS ok FROM ended
    WHERE batch_id IS NOT NULL AND state IN ('succeeded', 'dead', 'cancelled'))
SELECT (SELECT count(*) FROM ended),
    (SELECT sluice_settle(array_agg(d), array_agg(failed), $1, $2, $10) FROM kids
        HAVING count(*) > 0),
    (SELECT sluice_batch_ended(array_agg(batch_id), array_agg(ok), $1, $10) FROM batches
        HAVING count(*) > 0)
