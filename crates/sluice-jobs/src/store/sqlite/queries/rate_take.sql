-- Opens, or reads, queue ?1's window that starts at ?2 (ms), in the claim's write
-- transaction; returns how many jobs were started in it so far.
INSERT INTO sluice_rates (queue, window_start, used) VALUES (?1, ?2, 0)
ON CONFLICT (queue) DO UPDATE SET
    used = CASE WHEN sluice_rates.window_start = EXCLUDED.window_start THEN sluice_rates.used
        ELSE 0 END,
    window_start = EXCLUDED.window_start
RETURNING used
