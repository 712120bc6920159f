-- Pauses queue $1 since $2 (milliseconds), unless it is paused already.
INSERT INTO sluice_paused (queue, since) VALUES ($1, $2) ON CONFLICT (queue) DO NOTHING
RETURNING queue
