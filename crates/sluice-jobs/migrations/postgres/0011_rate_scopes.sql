-- The jobs started in the current window of each queue with a shared rate: of the whole queue
-- (scope ''), or of each kind or partition key when the rate counts them apart (`by: kind`,
-- `by: partition_key`). A claim of the queue takes its row in sluice_rates first, so that claims
-- count one at a time: that table is now only this lock, and its counts are not read.
CREATE TABLE IF NOT EXISTS sluice_rate_scopes (
    queue TEXT NOT NULL,
    scope TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    used INTEGER NOT NULL,
    PRIMARY KEY (queue, scope)
);

-- Claims up to `p_limit` available jobs of queue `p_queue` for worker `p_worker`, leased until
-- `p_lease_until`, under a rate of `p_rate` starts per window (window `p_window`, its start in
-- ms) of the whole queue (`p_by` = 'queue'), of each kind ('kind') or of each partition key
-- ('partition_key': jobs without a key are not counted), and with `p_partition_limit` (or NULL)
-- running jobs per key at most. In one
-- statement, so one round trip: the queue's row in sluice_rates is taken first, so claims of
-- the queue count one at a time (each statement of the function reads what the one before it
-- committed); the kinds or keys whose window is used up, and the keys running their most, are
-- left out of the candidates; the candidates are taken in claim order while their windows and
-- partitions allow, moved to running, and counted. Returns the ids started and whether a window
-- held a candidate back; nothing while the queue is paused.
CREATE OR REPLACE FUNCTION sluice_claim_rated(p_queue TEXT, p_limit INTEGER, p_worker TEXT,
    p_lease_until TIMESTAMPTZ, p_partition_limit INTEGER, p_rate INTEGER, p_by TEXT,
    p_window BIGINT) RETURNS TABLE (ids BIGINT[], capped BOOLEAN) LANGUAGE plpgsql AS $$
DECLARE
    v_used JSONB;
    v_running JSONB := '{}';
    v_counted JSONB := '{}';
    v_ids BIGINT[] := '{}';
    v_capped BOOLEAN := false;
    v_scope TEXT;
    v_n INTEGER;
    c RECORD;
BEGIN
    INSERT INTO sluice_rates (queue, window_start, used) VALUES (p_queue, p_window, 0)
    ON CONFLICT (queue) DO UPDATE SET queue = EXCLUDED.queue;
    IF EXISTS (SELECT 1 FROM sluice_paused WHERE queue = p_queue) THEN
        RETURN QUERY SELECT v_ids, v_capped;
        RETURN;
    END IF;
    DELETE FROM sluice_rate_scopes WHERE queue = p_queue AND window_start < p_window;
    SELECT coalesce(jsonb_object_agg(r.scope, r.used), '{}') INTO v_used
    FROM sluice_rate_scopes AS r WHERE r.queue = p_queue AND r.window_start = p_window;
    IF p_partition_limit IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(hashtextextended('sluice.partitions.' || p_queue, 0));
        SELECT coalesce(jsonb_object_agg(b.partition_key, b.n), '{}') INTO v_running
        FROM (SELECT partition_key, count(*) AS n FROM sluice_jobs
            WHERE state = 'running' AND partition_key IS NOT NULL GROUP BY partition_key) AS b;
    END IF;
    FOR c IN
        SELECT j.id, j.kind, j.partition_key FROM sluice_jobs AS j
        WHERE j.queue = p_queue AND j.state = 'available'
            AND NOT coalesce((v_used -> (CASE p_by WHEN 'kind' THEN j.kind
                WHEN 'partition_key' THEN j.partition_key ELSE '' END))::integer >= p_rate, false)
            AND NOT coalesce((v_running -> j.partition_key)::integer >= p_partition_limit, false)
        ORDER BY j.priority DESC, j.run_at, j.id
        LIMIT p_limit
        FOR UPDATE OF j SKIP LOCKED
    LOOP
        v_scope := CASE p_by WHEN 'kind' THEN c.kind WHEN 'partition_key' THEN c.partition_key
            ELSE '' END;
        IF v_scope IS NOT NULL AND coalesce((v_used ->> v_scope)::integer, 0)
                + coalesce((v_counted ->> v_scope)::integer, 0) >= p_rate THEN
            v_capped := true;
            CONTINUE;
        END IF;
        IF p_partition_limit IS NOT NULL AND c.partition_key IS NOT NULL THEN
            v_n := coalesce((v_running ->> c.partition_key)::integer, 0);
            CONTINUE WHEN v_n >= p_partition_limit;
            v_running := jsonb_set(v_running, ARRAY[c.partition_key], to_jsonb(v_n + 1));
        END IF;
        IF v_scope IS NOT NULL THEN
            v_counted := jsonb_set(v_counted, ARRAY[v_scope],
                to_jsonb(coalesce((v_counted ->> v_scope)::integer, 0) + 1));
        END IF;
        v_ids := v_ids || c.id;
    END LOOP;
    UPDATE sluice_jobs SET state = 'running', attempt = attempt + 1, worker = p_worker,
        lease_until = p_lease_until,
        unique_key = CASE WHEN unique_until = 'start' THEN NULL ELSE unique_key END
    WHERE id = ANY(v_ids);
    INSERT INTO sluice_rate_scopes (queue, scope, window_start, used)
    SELECT p_queue, k.key, p_window, k.value::integer
    FROM jsonb_each_text(v_counted) AS k ORDER BY k.key
    ON CONFLICT (queue, scope) DO UPDATE SET
        used = CASE WHEN sluice_rate_scopes.window_start = EXCLUDED.window_start
            THEN sluice_rate_scopes.used + EXCLUDED.used ELSE EXCLUDED.used END,
        window_start = EXCLUDED.window_start;
    RETURN QUERY SELECT v_ids, v_capped;
END
$$;

-- Jobs whose unique key is held only until they start (`unique_until: start`): claims clear
-- their key.
ALTER TABLE sluice_jobs ADD COLUMN IF NOT EXISTS unique_until TEXT;
