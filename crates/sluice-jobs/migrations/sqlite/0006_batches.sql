-- Batches: their jobs counted as they end, and the callbacks enqueued once when they are done
-- (callbacks as JSON text: the jobs to enqueue, then the ids enqueued).
CREATE TABLE IF NOT EXISTS sluice_batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    description TEXT,
    total INTEGER NOT NULL DEFAULT 0,
    ended INTEGER NOT NULL DEFAULT 0,
    succeeded INTEGER NOT NULL DEFAULT 0,
    open INTEGER NOT NULL,
    on_success TEXT,
    on_complete TEXT,
    callbacks TEXT NOT NULL DEFAULT '[]',
    created_at INTEGER NOT NULL,
    finished_at INTEGER
);

ALTER TABLE sluice_jobs ADD COLUMN batch_id INTEGER;
