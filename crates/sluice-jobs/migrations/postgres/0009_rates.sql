-- The jobs started in the current window of each queue with a rate limit shared by every
-- worker (the window's start in milliseconds). A claim holds its queue's row until it commits.
CREATE TABLE IF NOT EXISTS sluice_rates (
    queue TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    used INTEGER NOT NULL
);
