-- Counts more starts for the kinds or keys of ?3 (a JSON object of their counts) in queue ?1's
-- window that starts at ?2 (ms).
INSERT INTO sluice_rate_scopes (queue, scope, window_start, used)
SELECT ?1, s.key, ?2, s.value FROM json_each(?3) AS s WHERE true
ON CONFLICT (queue, scope) DO UPDATE SET
    used = CASE WHEN sluice_rate_scopes.window_start = excluded.window_start
        THEN sluice_rate_scopes.used + excluded.used ELSE excluded.used END,
    window_start = excluded.window_start
