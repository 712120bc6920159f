-- The jobs started in the current window of each queue with a shared rate: of the whole queue
-- (scope ''), or of each kind or partition key when the rate counts them apart (`by: kind`,
-- `by: partition_key`). Claims count in their write transaction, one at a time. It replaces
-- sluice_rates, which counted only whole queues.
CREATE TABLE IF NOT EXISTS sluice_rate_scopes (
    queue TEXT NOT NULL,
    scope TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    used INTEGER NOT NULL,
    PRIMARY KEY (queue, scope)
);

DROP TABLE IF EXISTS sluice_rates;

-- Jobs whose unique key is held only until they start (`unique_until: start`): claims clear
-- their key.
ALTER TABLE sluice_jobs ADD COLUMN unique_until TEXT;
