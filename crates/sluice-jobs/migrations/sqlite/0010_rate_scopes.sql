-- The jobs started in the current window of each kind, or each partition key, of a queue whose
-- shared rate counts them apart (`by: kind`, `by: partition_key`). A claim of the queue takes
-- its row in sluice_rates first, so that claims count one at a time.
CREATE TABLE IF NOT EXISTS sluice_rate_scopes (
    queue TEXT NOT NULL,
    scope TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    used INTEGER NOT NULL,
    PRIMARY KEY (queue, scope)
);
