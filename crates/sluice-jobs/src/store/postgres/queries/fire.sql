-- Moves schedule $1 to tick $2 unless it is there or past it already.
INSERT INTO sluice_schedules (name, last_tick) VALUES ($1, $2)
ON CONFLICT (name) DO UPDATE SET last_tick = EXCLUDED.last_tick
WHERE sluice_schedules.last_tick < EXCLUDED.last_tick
