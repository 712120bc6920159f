-- Records worker $1 as $2 (JSON), reporting at $3 (milliseconds).
INSERT INTO sluice_workers (name, info, beat_at) VALUES ($1, $2, $3)
ON CONFLICT (name) DO UPDATE SET info = EXCLUDED.info, beat_at = EXCLUDED.beat_at
