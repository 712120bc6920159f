-- Counts $4 more starts for each kind or key of $3 (same order) in queue $1's window that
-- starts at $2 (ms).
INSERT INTO sluice_rate_scopes (queue, scope, window_start, used)
SELECT $1, s.scope, $2, s.n FROM unnest($3::text[], $4::int[]) AS s(scope, n)
ON CONFLICT (queue, scope) DO UPDATE SET
    used = CASE WHEN sluice_rate_scopes.window_start = EXCLUDED.window_start
        THEN sluice_rate_scopes.used + EXCLUDED.used ELSE EXCLUDED.used END,
    window_start = EXCLUDED.window_start
