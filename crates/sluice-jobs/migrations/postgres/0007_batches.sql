-- Batches: their jobs counted as they end, and the callbacks enqueued once when they are done.
CREATE TABLE IF NOT EXISTS sluice_batches (
    id BIGSERIAL PRIMARY KEY,
    description TEXT,
    total INTEGER NOT NULL DEFAULT 0,
    ended INTEGER NOT NULL DEFAULT 0,
    succeeded INTEGER NOT NULL DEFAULT 0,
    open BOOLEAN NOT NULL,
    on_success JSONB,
    on_complete JSONB,
    callbacks BIGINT[] NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ
);

ALTER TABLE sluice_jobs ADD COLUMN IF NOT EXISTS batch_id BIGINT;

-- Enqueues batch `p_id`'s callbacks if it is closed, every job has ended and it has not fired:
-- `on_complete`, and `on_success` if every job succeeded, each with the batch's id in its args
-- as `batch`. The caller holds the batch's row lock (or takes it here, by the update), so it
-- fires once. Returns whether it fired.
CREATE OR REPLACE FUNCTION sluice_batch_fire(p_id BIGINT, p_now TIMESTAMPTZ, p_prefix TEXT)
    RETURNS BOOLEAN LANGUAGE plpgsql AS $$
DECLARE
    v_batch sluice_batches%ROWTYPE;
    v_ids BIGINT[];
BEGIN
    UPDATE sluice_batches SET finished_at = p_now
    WHERE id = p_id AND NOT open AND ended >= total AND finished_at IS NULL
    RETURNING * INTO v_batch;
    IF NOT FOUND THEN
        RETURN FALSE;
    END IF;
    WITH wanted AS (
        SELECT cb FROM (VALUES (v_batch.on_complete, TRUE),
            (v_batch.on_success, v_batch.succeeded >= v_batch.total)) AS w(cb, applies)
        WHERE cb IS NOT NULL AND applies),
    added AS (
        INSERT INTO sluice_jobs (queue, kind, args, priority, state, max_attempts, run_at,
            partition_key, traceparent, created_at)
        SELECT cb->>'queue', cb->>'kind',
            CASE WHEN jsonb_typeof(cb->'args') = 'object' THEN cb->'args' ELSE '{}'::jsonb END
                || jsonb_build_object('batch', p_id),
            (cb->>'priority')::smallint, 'available', (cb->>'max_attempts')::integer, p_now,
            cb->>'partition_key', cb->>'traceparent', p_now
        FROM wanted
        RETURNING id, queue),
    woken AS (
        SELECT pg_notify('sluice_jobs', p_prefix || queue) FROM (SELECT DISTINCT queue FROM added) AS q)
    SELECT coalesce(array_agg(id ORDER BY id), '{}') INTO v_ids
    FROM added, (SELECT count(*) FROM woken) AS w;
    UPDATE sluice_batches SET callbacks = v_ids WHERE id = p_id;
    RETURN TRUE;
END
$$;

-- Counts jobs of batches that ended, inside the statement that ended them: `p_batches` has one
-- entry per ended job, `p_succeeded` whether it succeeded. Batch rows are locked in id order
-- (settlements never deadlock one another); each batch done fires its callbacks. Returns how
-- many fired.
CREATE OR REPLACE FUNCTION sluice_batch_ended(p_batches BIGINT[], p_succeeded BOOLEAN[],
    p_now TIMESTAMPTZ, p_prefix TEXT) RETURNS INTEGER LANGUAGE plpgsql AS $$
DECLARE
    v_fired INTEGER := 0;
    v_id BIGINT;
BEGIN
    FOR v_id IN
        WITH k AS (
            SELECT id, count(*)::integer AS n, count(*) FILTER (WHERE ok)::integer AS ok
            FROM unnest(p_batches, p_succeeded) AS k(id, ok) GROUP BY id),
        locked AS (
            SELECT b.id FROM sluice_batches AS b JOIN k ON k.id = b.id ORDER BY b.id
            FOR UPDATE OF b),
        counted AS (
            UPDATE sluice_batches AS b SET ended = b.ended + k.n, succeeded = b.succeeded + k.ok
            FROM k WHERE b.id = k.id AND b.id IN (SELECT id FROM locked)
            RETURNING b.id)
        SELECT id FROM counted ORDER BY id
    LOOP
        IF sluice_batch_fire(v_id, p_now, p_prefix) THEN
            v_fired := v_fired + 1;
        END IF;
    END LOOP;
    RETURN v_fired;
END
$$;
