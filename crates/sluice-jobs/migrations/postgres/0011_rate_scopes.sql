-- The jobs started in the current window of each queue with a shared rate: of the whole queue
-- (scope ''), or of each kind or partition key when the rate counts them apart (`by: kind`,
-- `by: partition_key`). A claim of the queue takes its row in sluice_rates first, so that claims
-- count one at a time; that row now holds only the newest window a claim counted in (its
-- `used` is no longer read).
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
-- running jobs per key at most. One call, so one round trip. The queue's row in sluice_rates
-- is taken first, so claims of the queue count one at a time (each statement of the function
-- reads what the one before it committed). The kinds or keys whose window is used up, and the
-- keys running their most, are left out of the candidates; of the candidates, in claim order,
-- those their window and their key still allow start (ranked by window and by key, so that a
-- claim may start fewer than it could, never more), and are counted. Returns the jobs started;
-- none while the queue is paused.
CREATE OR REPLACE FUNCTION sluice_claim_rated(p_queue TEXT, p_limit INTEGER, p_worker TEXT,
    p_lease_until TIMESTAMPTZ, p_partition_limit INTEGER, p_rate INTEGER, p_by TEXT,
    p_window BIGINT) RETURNS SETOF sluice_jobs LANGUAGE plpgsql AS $$
DECLARE
    v_used JSONB;
    v_running JSONB := '{}';
    v_used_up TEXT[];
BEGIN
    -- The newest window any claim counted in: a claim whose time was read before another's
    -- (it waited for this lock) counts in the other's window, so that a window never returns.
    INSERT INTO sluice_rates AS r (queue, window_start, used) VALUES (p_queue, p_window, 0)
    ON CONFLICT (queue) DO UPDATE SET window_start = greatest(r.window_start, EXCLUDED.window_start)
    RETURNING r.window_start INTO p_window;
    IF EXISTS (SELECT 1 FROM sluice_paused WHERE queue = p_queue) THEN
        RETURN;
    END IF;
    DELETE FROM sluice_rate_scopes WHERE queue = p_queue AND window_start < p_window;
    SELECT coalesce(jsonb_object_agg(r.scope, r.used), '{}'),
        coalesce(array_agg(r.scope) FILTER (WHERE r.used >= p_rate), '{}')
    INTO v_used, v_used_up
    FROM sluice_rate_scopes AS r WHERE r.queue = p_queue AND r.window_start = p_window;
    IF p_partition_limit IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(hashtextextended('sluice.partitions.' || p_queue, 0));
        SELECT coalesce(jsonb_object_agg(b.partition_key, b.n), '{}') INTO v_running
        FROM (SELECT partition_key, count(*) AS n FROM sluice_jobs
            WHERE state = 'running' AND partition_key IS NOT NULL GROUP BY partition_key) AS b;
    END IF;
    RETURN QUERY WITH candidates AS (
        SELECT j.id, j.partition_key AS key,
            CASE p_by WHEN 'kind' THEN j.kind WHEN 'partition_key' THEN j.partition_key
                ELSE '' END AS scope,
            row_number() OVER (ORDER BY j.priority DESC, j.run_at, j.id) AS pos
        FROM (SELECT * FROM sluice_jobs AS j
            WHERE j.queue = p_queue AND j.state = 'available'
                AND NOT coalesce(CASE p_by WHEN 'kind' THEN j.kind
                    WHEN 'partition_key' THEN j.partition_key ELSE '' END = ANY(v_used_up), false)
                AND NOT coalesce((v_running -> j.partition_key)::integer >= p_partition_limit,
                    false)
            ORDER BY j.priority DESC, j.run_at, j.id
            LIMIT p_limit
            FOR UPDATE SKIP LOCKED) AS j),
    ranked AS (
        SELECT c.*,
            scope IS NOT NULL AND row_number() OVER (PARTITION BY scope ORDER BY pos)
                + coalesce((v_used ->> scope)::integer, 0) > p_rate AS rate_full,
            key IS NOT NULL AND row_number() OVER (PARTITION BY key ORDER BY pos)
                + coalesce((v_running ->> key)::integer, 0) > p_partition_limit AS key_full
        FROM candidates AS c),
    chosen AS (
        SELECT id, scope, pos FROM ranked WHERE NOT rate_full AND NOT coalesce(key_full, false)),
    started AS (
        UPDATE sluice_jobs AS j SET state = 'running', attempt = j.attempt + 1, worker = p_worker,
            lease_until = p_lease_until,
            unique_key = CASE WHEN j.unique_until = 'start' THEN NULL ELSE j.unique_key END
        FROM chosen WHERE j.id = chosen.id
        RETURNING j.*),
    counted AS (
        INSERT INTO sluice_rate_scopes AS r (queue, scope, window_start, used)
        SELECT p_queue, scope, p_window, count(*) FROM chosen WHERE scope IS NOT NULL
        GROUP BY scope ORDER BY scope
        ON CONFLICT (queue, scope) DO UPDATE SET
            used = CASE WHEN r.window_start = EXCLUDED.window_start
                THEN r.used + EXCLUDED.used ELSE EXCLUDED.used END,
            window_start = EXCLUDED.window_start)
    SELECT * FROM started;
END
$$;

-- Jobs whose unique key is held only until they start (`unique_until: start`): claims clear
-- their key.
ALTER TABLE sluice_jobs ADD COLUMN IF NOT EXISTS unique_until TEXT;
