-- The jobs started in the current window of each queue with a rate limit shared by every
-- worker (the window's start in milliseconds).
CREATE TABLE IF NOT EXISTS sluice_rates (
    queue TEXT PRIMARY KEY,
    window_start INTEGER NOT NULL,
    used INTEGER NOT NULL
);
